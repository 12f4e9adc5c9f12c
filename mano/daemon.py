"""`strata serve mano --config FILE`: the VNF manager daemon.

`strata up` starts it in the registry host's network namespace (the cloud site, beside the
orchestrator and the mesh); it reaches the orchestrator and the SDN daemon over their management
Unix sockets. The configuration file (JSON) says:
  db            SQLite file of its state (descriptors, instances, operation history, chains)
  orchestrator  gRPC address of the orchestrator, e.g. unix:/run/.../orchestrator.sock
  sdn           gRPC address of the SDN daemon
  listen        gRPC address (in the namespace it runs in)
  socket        gRPC Unix socket: how the CLI reaches it
Optional: tick (s, 1: how often chains are brought in step with their VNFs), ready_timeout (s, 120),
metrics (Prometheus endpoint HOST:PORT; default: listen's host, its port + 1000; "off": none).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from component_base.config import load_config
from component_base.metrics import start_metrics
from component_base.rpc import create_server

REQUIRED = ("db", "orchestrator", "sdn", "listen", "socket")
log = logging.getLogger("strata.mano")


def serve_mano(config_path: str, stop: threading.Event, metrics: str | None = None) -> int:
    from .adapters import OrchestratorApps, SdnChains
    from .core import VnfManager
    from .servicer import SERVICE_NAME, registrar
    from .store import ManoStore

    config = load_config(config_path, REQUIRED, "mano")
    metrics_at, stop_metrics = start_metrics(metrics if metrics is not None else config.get("metrics"),
                                             config["listen"])
    Path(config["db"]).parent.mkdir(parents=True, exist_ok=True)
    store = ManoStore(config["db"])
    manager = VnfManager(store, OrchestratorApps(config["orchestrator"]), SdnChains(config["sdn"]),
                         ready_timeout=float(config.get("ready_timeout", 120)))
    socket = Path(config["socket"])
    socket.unlink(missing_ok=True)
    server, port = create_server(config["listen"], [(registrar(manager), SERVICE_NAME)],
                                 also_listen=[f"unix:{socket}"], max_workers=16)
    server.start()
    tick = float(config.get("tick", 1.0))

    def loop() -> None:  # chains follow their VNFs' containers
        while not stop.wait(tick):
            try:
                manager.sync_chains()
            except Exception:
                log.exception("mano loop")

    worker = threading.Thread(target=loop, name="mano-loop", daemon=True)
    worker.start()
    print(f"VNF manager listening on {config['listen'].rsplit(':', 1)[0]}:{port} and unix:{socket}; "
          f"{len(manager.vnfds)} descriptor(s), {len(manager.instances)} instance(s), {len(manager.chains)} chain(s)"
          " reloaded" + (f"; metrics on {metrics_at}" if metrics_at else ""), flush=True)
    stop.wait()
    server.stop(grace=2).wait()
    worker.join(timeout=5)
    stop_metrics()
    store.close()
    print("VNF manager stopped; VNF containers keep running", flush=True)
    return 0
