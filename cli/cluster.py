"""`strata cluster`: servers emulated on this machine for a multi-server run, and running commands inside one."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from harness.emulated_cluster import DEFAULT_FOLDER, DEFAULT_SUBNET, EmulatedCluster, enter_command, find_server

from .common import EXIT_INTERRUPTED, EXIT_OK, BadInput, IntermixedParser, guarded, positive_int


def add_parser(sub) -> None:
    cluster = sub.add_parser("cluster", help="emulated servers for `strata up --cluster` (needs root)")
    # intermixed: `exec` takes its options anywhere and the command after `--`
    actions = cluster.add_subparsers(dest="action", required=True, parser_class=IntermixedParser)
    emulate = actions.add_parser("emulate", help="start N emulated servers (namespaces, Open vSwitch, sshd) and "
                                                 "keep them until Ctrl-C or SIGTERM")
    emulate.add_argument("--servers", type=positive_int, default=2, metavar="N", help="how many (default: 2)")
    emulate.add_argument("--dir", type=Path, default=DEFAULT_FOLDER, metavar="DIR",
                         help=f"their private state, removed at the end (default: {DEFAULT_FOLDER})")
    emulate.add_argument("--subnet", default=DEFAULT_SUBNET, metavar="CIDR",
                         help=f"the servers' private segment (default: {DEFAULT_SUBNET})")
    emulate.set_defaults(func=guarded(cmd_emulate, bad_input=(ValueError,), failed=(RuntimeError, OSError)))
    run = actions.add_parser("exec", help="run a command inside an emulated server: strata cluster exec SERVER "
                                          "-- COMMAND ... (its exit code; SIGTERM is passed on to it)")
    run.add_argument("server", help="e.g. server1")
    run.add_argument("argv", nargs="*", metavar="COMMAND", help="after --: the command and its arguments (`strata` "
                     "stands for this same strata)")
    run.add_argument("--dir", type=Path, default=DEFAULT_FOLDER, metavar="DIR",
                     help=f"the emulation's folder (default: {DEFAULT_FOLDER})")
    run.set_defaults(func=guarded(cmd_exec))


def cmd_emulate(args: argparse.Namespace) -> int:
    from harness.signals import interrupt_on_signals

    interrupt_on_signals()
    cluster = EmulatedCluster(args.servers, args.dir, args.subnet)
    try:
        with cluster:
            names = [s.name for s in cluster.servers]
            print(f"{len(names)} emulated server(s) on segment {cluster.subnet}, state in {cluster.folder}:")
            for server in cluster.servers:
                print(f"  {server.name:<10} {server.address:<15} Open vSwitch (userspace datapath), sshd; "
                      f"init pid {server.pid}")
            here = f" --dir {args.dir}" if args.dir != DEFAULT_FOLDER else ""
            print("each has its own network, mount, PID and UTS namespaces; root logs in to every one by key "
                  "(ssh SERVER from inside any of them)")
            print(f"try: strata cluster exec {names[0]}{here} -- strata up --cluster {','.join(names)} "
                  "--sample-pairs 20")
            print("Ctrl-C to tear them down", flush=True)
            _forever()
    except KeyboardInterrupt:
        print("interrupted: every emulated server and what ran in it is gone", flush=True)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _forever() -> None:
    import threading

    threading.Event().wait()


def cmd_exec(args: argparse.Namespace) -> int:
    argv = args.argv
    if not argv:
        raise BadInput("name the command to run after --")
    try:
        server = find_server(args.dir, args.server)
    except LookupError as exc:
        raise BadInput(str(exc)) from None
    if argv[0] == "strata":  # this very command, as installed or run from a checkout
        argv = [sys.executable, "-m", "cli", *argv[1:]]
    # nsenter forks the command into the server's PID namespace and waits for it, passing on no
    # signal: SIGTERM and SIGHUP sent here are passed on to the command. Ctrl-C reaches it from the
    # terminal directly (same process group), so SIGINT is left to it.
    entered = subprocess.Popen(enter_command(server["pid"], argv, os.getcwd()))

    def forward(signum, _frame):
        for pid in _children(entered.pid) or [entered.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    code = entered.wait()
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
