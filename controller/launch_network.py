"""`strata topo launch`: a topology in Mininet with the SDN daemon controlling it, torn down on exit."""

from __future__ import annotations

import json
import signal
import tempfile
import threading
from pathlib import Path

from topologies.launcher import EdgeNetwork
from topologies.spec import TopologySpec

from .launch import DaemonProcess, require_root, wait_healthy, wait_switches_connected


def launch(spec: TopologySpec, *, pingall: bool, openflow_port: int, sdn_address: str) -> int:
    require_root("strata topo launch")
    workdir = Path(tempfile.mkdtemp(prefix="strata-launch-"))
    print(f"building {spec.name}: {len(spec.switches)} switches, {len(spec.hosts)} hosts, {len(spec.links)} links",
          flush=True)
    for note in spec.notes:
        print(f"  note: {note}")
    if any(l.delay_ms or l.loss_percent for l in spec.links):
        print("  note: link delay/loss are declared but not applied: this kernel has no netem")
    with EdgeNetwork(spec, controller=("127.0.0.1", openflow_port)) as network:
        topology_file = workdir / "topology.json"
        topology_file.write_text(json.dumps(network.runtime_topology(), indent=1))
        sdn = DaemonProcess("sdn", ["sdn", "--topology", str(topology_file), "--db", str(workdir / "sdn.db"),
                                    "--openflow", f"127.0.0.1:{openflow_port}", "--listen", sdn_address],
                            workdir / "sdn.log").start()
        try:
            wait_healthy(sdn_address, 30, sdn)
            network.start()
            seconds = wait_switches_connected(sdn_address, len(spec.switches), 120)
            print(f"SDN daemon (pid {sdn.pid}) at {sdn_address} controls all {len(spec.switches)} switches "
                  f"({seconds:.1f} s); log: {sdn.log_path}", flush=True)
            if pingall:
                return 0 if network.ping_all() == 0 else 1
            print("network is up; Ctrl-C to tear it down", flush=True)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
            return 0
        finally:
            sdn.stop()
            print("network and SDN daemon stopped", flush=True)
