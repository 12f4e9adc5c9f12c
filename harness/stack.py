"""The running system: a topology in Mininet plus the control-layer daemons, started and torn down together."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from controller.rpc import DEFAULT_ADDRESSES
from dataplane.network import EdgeNetwork
from topologies.spec import TopologySpec

from .daemons import DaemonProcess, require_root, wait_healthy, wait_switches_connected

BUILT_COMPONENTS = ("placement", "sdn")  # orchestrator, mesh and mano are not built yet


class Stack:
    """Use as a context manager: everything it started is stopped on exit, whatever happened."""

    def __init__(self, spec: TopologySpec, *, components=BUILT_COMPONENTS, openflow_port: int = 6653,
                 addresses: dict[str, str] | None = None, all_in_one: bool = False, log=print):
        self.spec = spec
        self.components = tuple(components)
        self.openflow_port = openflow_port
        self.addresses = {**DEFAULT_ADDRESSES, **(addresses or {})}
        self.all_in_one = all_in_one
        self.log = log
        self.workdir = Path(tempfile.mkdtemp(prefix="strata-"))
        self.network = EdgeNetwork(spec, controller=("127.0.0.1", openflow_port))
        self.daemons: list[DaemonProcess] = []

    def _sdn_args(self) -> list[str]:
        return ["--topology", str(self.workdir / "topology.json"), "--db", str(self.workdir / "sdn.db"),
                "--openflow", f"127.0.0.1:{self.openflow_port}"]

    def start(self) -> "Stack":
        require_root("starting the network")
        self.network.build()
        (self.workdir / "topology.json").write_text(json.dumps(self.network.runtime_topology(), indent=1))
        if self.all_in_one:
            daemon = DaemonProcess("all", ["all", *self._sdn_args(), "--listen", self.addresses["sdn"],
                                           "--placement-listen", self.addresses["placement"]],
                                   self.workdir / "all.log").start()
            self.daemons.append(daemon)
            for name in self.components:
                wait_healthy(self.addresses[name], 30, daemon)
        else:
            for name in self.components:
                extra = self._sdn_args() if name == "sdn" else []
                daemon = DaemonProcess(name, [name, *extra, "--listen", self.addresses[name]],
                                       self.workdir / f"{name}.log").start()
                self.daemons.append(daemon)
            for name, daemon in zip(self.components, self.daemons):
                wait_healthy(self.addresses[name], 30, daemon)
        self.network.start()
        if "sdn" in self.components:
            seconds = wait_switches_connected(self.addresses["sdn"], len(self.spec.switches), 120)
            self.log(f"all {len(self.spec.switches)} switches connected to the SDN daemon in {seconds:.1f} s")
        return self

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.daemons.clear()
        self.network.stop()

    def __enter__(self) -> "Stack":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
