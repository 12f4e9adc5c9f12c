"""The SDN daemon: os-ken (native threading hub) running the Strata app, plus the SdnService gRPC server."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from component_base.rpc import create_server
from component_base.tls import Tls

from . import os_ken_runtime, servicer
from .core import SdnCore
from .network import NetworkView
from .store import SdnStore

log = logging.getLogger("strata.sdn")


@dataclass
class SdnDaemon:
    core: SdnCore
    app: object
    server: object
    grpc_port: int

    def stop(self) -> None:
        """Stop answering gRPC and close the store. os-ken's native-hub threads cannot be stopped
        (its kill is a no-op and its loops never return), so they end with the process: the
        daemon's main exits with os._exit once this returns."""
        self.server.stop(grace=1).wait()
        self.core.store.close()


def _configure_os_ken(ofp_host: str, ofp_port: int, topology: dict) -> None:
    from os_ken import cfg
    import os_ken.topology.switches  # noqa: F401  registers the observe-links option

    conf = cfg.CONF
    conf(args=[], project="os_ken")
    conf.set_override("observe_links", True)
    conf.set_override("ofp_listen_host", ofp_host)
    conf.set_override("ofp_tcp_listen_port", ofp_port)
    ports = 2 * len(topology.get("links", [])) + len(topology.get("hosts", []))
    os_ken_runtime.configure(conf, ports, len(topology.get("switches", [])))


def start(topology: dict, *, db_path: str | Path, ofp_host: str = "127.0.0.1", ofp_port: int = 6653,
          grpc_address: str = "127.0.0.1:50054", also_listen: tuple[str, ...] = (),
          tls: Tls | None = None) -> SdnDaemon:
    """Load desired state from SQLite, start the OpenFlow listener and the gRPC server (with `tls`,
    mutual TLS on every gRPC listener: component_base.rpc.create_server)."""
    from os_ken.base.app_manager import AppManager

    view = NetworkView.from_declared(topology)
    core = SdnCore(view, SdnStore(db_path))
    _configure_os_ken(ofp_host, ofp_port, topology)
    manager = AppManager.get_instance()
    manager.load_apps(["os_ken.topology.switches", "controller.sdn.app"])
    contexts = manager.create_contexts()
    manager.instantiate_apps(core=core, **contexts)
    app = next(a for a in manager.applications.values() if type(a).__name__ == "StrataSdnApp")
    server, port = create_server(grpc_address, [(servicer.registrar(core, app), servicer.SERVICE_NAME)],
                                 also_listen=also_listen, tls=tls)
    server.start()
    log.info("restored %d service route(s) and %d path(s) from %s", len(core.routes), len(core.paths), db_path)
    return SdnDaemon(core, app, server, port)


def load_topology_file(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
