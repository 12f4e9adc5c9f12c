"""`strata serve`: one control-layer daemon (or placement + sdn in one process) in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from component_base import diagnostics
from component_base.daemon import Component, run_daemon
from component_base.errors import DomainError
from component_base.metrics import start_metrics
from component_base.pki import CertificateError, Identity
from component_base.rpc import DEFAULT_ADDRESSES, create_server
from component_base.tls import Tls
from controller.mesh.daemon import MESH
from controller.orchestrator.daemon import ORCHESTRATOR
from controller.placement import servicer as placement_servicer
from controller.placement.model import ProblemError
from dataplane.agent.daemon import AGENT
from mano.daemon import MANO

EXIT_OK, EXIT_FAILED = 0, 1

# The daemons that read a configuration file (strata up writes them); component_base.daemon runs them.
CONFIGURED = {"agent": AGENT, "orchestrator": ORCHESTRATOR, "mesh": MESH, "mano": MANO}


def serve(args: argparse.Namespace) -> int:
    """Run one daemon in the foreground until interrupted (Ctrl-C or SIGTERM)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # explicit: background shells start us with SIGINT ignored
        signal.signal(sig, lambda *_: stop.set())
    diagnostics.install(signal.SIGUSR1)  # `kill -USR1 PID`: every thread's stack to the log, grouped
    if args.exit_with_parent:
        from harness.daemons import exit_with_parent

        exit_with_parent()
    if args.component in CONFIGURED:
        return _serve_configured(CONFIGURED[args.component], args, stop)
    return _serve_placement_sdn(args, stop)


def _serve_configured(component: Component, args: argparse.Namespace, stop: threading.Event) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.config:
        raise ProblemError(f"serve {component.name}: --config FILE is required ({component.origin})")
    try:
        return run_daemon(component, args.config, stop, metrics=args.metrics)
    except (DomainError, OSError) as exc:
        print(f"strata serve {component.name}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _serve_placement_sdn(args: argparse.Namespace, stop: threading.Event) -> int:
    """placement, sdn, or both in one process (all): configured by options, not a file."""
    address = args.listen or DEFAULT_ADDRESSES["sdn" if args.component == "all" else args.component]
    also_listen = [f"unix:{args.socket}"] if args.socket else []
    host = address.rsplit(":", 1)[0]
    stop_metrics = lambda: None  # noqa: E731
    try:
        served = ("placement", "sdn") if args.component == "all" else (args.component,)
        tls = {name: Tls.from_folder(args.pki, Identity(name)) if args.pki else None for name in served}
    except (OSError, CertificateError) as exc:
        print(f"strata serve: --pki: {exc}", file=sys.stderr)
        return EXIT_FAILED
    security = "mutual TLS" if args.pki else "plaintext"
    try:
        # First: a port in use stops us before anything else starts. `all`: one endpoint for both.
        metrics_at, stop_metrics = start_metrics(args.metrics, address)
        if metrics_at:
            print(f"metrics on http://{metrics_at}/metrics", flush=True)
        if args.component in ("sdn", "all"):
            from controller.sdn import daemon as sdn_daemon
            from controller.sdn import metrics as sdn_metrics

            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
            logging.getLogger("os_ken").setLevel(logging.WARNING)
            if not args.topology:
                raise ProblemError("serve sdn: --topology FILE is required (the launcher writes it)")
            of_host, of_port = _host_port(args.openflow, "--openflow")
            Path(args.db).parent.mkdir(parents=True, exist_ok=True)
            running = sdn_daemon.start(sdn_daemon.load_topology_file(args.topology), db_path=args.db,
                                       ofp_host=of_host, ofp_port=of_port, grpc_address=address,
                                       also_listen=tuple(also_listen), tls=tls["sdn"])
            sdn_metrics.register(running.core)
            port, stopper = running.grpc_port, running.stop
            print(f"sdn service listening on {host}:{port} ({security}), OpenFlow on {of_host}:{of_port}", flush=True)
            if args.component == "all":
                server, placement_port = create_server(
                    args.placement_listen, [(placement_servicer.register, placement_servicer.SERVICE_NAME)],
                    tls=tls["placement"])
                server.start()
                sdn_stop = stopper
                stopper = lambda: (server.stop(grace=2).wait(), sdn_stop())  # noqa: E731
                print(f"placement service listening on {args.placement_listen.rsplit(':', 1)[0]}:{placement_port} "
                      f"({security})",
                      flush=True)
        else:
            server, port = create_server(address, [(placement_servicer.register, placement_servicer.SERVICE_NAME)],
                                         also_listen=also_listen, tls=tls["placement"])
            server.start()
            stopper = lambda: server.stop(grace=2).wait()  # noqa: E731
            print(f"placement service listening on {host}:{port} ({security}; health and reflection enabled)",
                  flush=True)
    except OSError as exc:
        stop_metrics()
        print(f"strata serve: {exc}", file=sys.stderr)
        return EXIT_FAILED
    stop.wait()
    stopper()
    stop_metrics()
    print(f"{args.component} service stopped", flush=True)
    if args.component in ("sdn", "all"):
        sys.stderr.flush()
        os._exit(EXIT_OK)  # os-ken's threads cannot be joined; everything durable is closed
    return EXIT_OK


def _host_port(text: str, option: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ProblemError(f"{option}: expected HOST:PORT, got {text!r}")
    return host, int(port)
