"""The `strata` command: its entry point; each command group lives in a module of its own, with its parser and handlers."""

from __future__ import annotations

import argparse
import sys

from . import app, chaos, cluster, extender, images, mesh, node, placement, policy, sdn, stack, status, topo, vnf
from .common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, label

__all__ = ["build_parser", "main", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_UNREACHABLE"]

# in the order `strata --help` lists them
GROUPS = (placement, stack, status, chaos, topo, cluster, sdn, images, node, app, policy, mesh, vnf, extender)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strata", description="Strata's command line: placement, experiments, daemons, topologies, the "
                                   "running stack's components (node, app, mesh, vnf, chain, sdn), up and demo, "
                                   "and a kube-scheduler extender.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (README, "CLI": 0 done, 1 failed, 2 bad input, 3 unreachable)."""
    args = build_parser().parse_args(argv)  # bad usage: argparse prints it and exits 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{label(args)}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK
