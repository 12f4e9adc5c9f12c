"""`strata topo launch` and `strata up`: a topology with the daemons, until interrupted (or a pingall)."""

from __future__ import annotations

import signal
import threading

from topologies.spec import TopologySpec

from .stack import BUILT_COMPONENTS, Stack


def _wait_for_interrupt() -> None:
    """Until Ctrl-C or SIGTERM. SIGINT is handled explicitly: a process started in the background
    by a non-interactive shell inherits SIGINT ignored, and Python then leaves it so."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _describe(spec: TopologySpec) -> None:
    print(f"building {spec.name}: {len(spec.switches)} switches, {len(spec.hosts)} hosts, {len(spec.links)} links",
          flush=True)
    for note in spec.notes:
        print(f"  note: {note}")
    if any(l.delay_ms or l.loss_percent for l in spec.links):
        print("  note: link delay/loss are declared but not applied: this kernel has no netem")


def launch(spec: TopologySpec, *, pingall: bool, openflow_port: int, sdn_address: str) -> int:
    _describe(spec)
    with Stack(spec, components=("sdn",), openflow_port=openflow_port, addresses={"sdn": sdn_address}) as stack:
        print(f"SDN daemon at {sdn_address}; logs in {stack.workdir}", flush=True)
        if pingall:
            return 0 if stack.network.ping_all() == 0 else 1
        print("network is up; Ctrl-C to tear it down", flush=True)
        _wait_for_interrupt()
    print("network and SDN daemon stopped", flush=True)
    return 0


def up(spec: TopologySpec, *, all_in_one: bool, openflow_port: int) -> int:
    _describe(spec)
    with Stack(spec, openflow_port=openflow_port, all_in_one=all_in_one) as stack:
        print("control layer:" + (" (one process)" if all_in_one else ""))
        for daemon in stack.daemons:
            print(f"  {daemon.name:<10} pid {daemon.pid}  log {daemon.log_path}")
        for name in BUILT_COMPONENTS:
            print(f"  {name:<10} gRPC {stack.addresses[name]}")
        print(f"  OpenFlow   127.0.0.1:{openflow_port}")
        print("  orchestrator, mesh, mano: not built yet")
        print("try: strata sdn topology | strata sdn route list | strata place PROBLEM.json --remote "
              f"{stack.addresses['placement']}")
        print("running; Ctrl-C to shut everything down", flush=True)
        _wait_for_interrupt()
    print("stopped: daemons, switches and hosts are gone", flush=True)
    return 0
