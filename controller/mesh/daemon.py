"""`strata serve mesh --config FILE`: the service-mesh daemon.

It runs where it can reach the services' endpoints to probe them: `strata up` starts it in the
registry host's network namespace (the cloud site, beside the orchestrator), reaching the SDN
daemon over its management Unix socket. The configuration file (JSON) says:
  db        SQLite file of desired state
  sdn       gRPC address of the SDN daemon, e.g. unix:/run/.../sdn.sock
  listen    gRPC address (in the namespace it runs in)
  socket    gRPC Unix socket: how the CLI and the orchestrator reach it
Optional: tick (s, 0.25: how often due probes run and the SDN is brought in step), probe_workers (16),
metrics (Prometheus endpoint HOST:PORT; default: listen's host, its port + 1000; "off": none).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from component_base.config import load_config
from component_base.metrics import start_metrics
from component_base.rpc import create_server

REQUIRED = ("db", "sdn", "listen", "socket")
log = logging.getLogger("strata.mesh")


def serve_mesh(config_path: str, stop: threading.Event, metrics: str | None = None) -> int:
    from . import metrics as mesh_metrics
    from .adapters import SdnRoutes, probe
    from .core import MeshCore
    from .servicer import SERVICE_NAME, registrar
    from .store import MeshStore

    config = load_config(config_path, REQUIRED, "mesh")
    metrics_at, stop_metrics = start_metrics(metrics if metrics is not None else config.get("metrics"),
                                             config["listen"])
    Path(config["db"]).parent.mkdir(parents=True, exist_ok=True)
    store = MeshStore(config["db"])
    core = MeshCore(store, SdnRoutes(config["sdn"]), probe=probe)
    mesh_metrics.register(core)
    socket = Path(config["socket"])
    socket.unlink(missing_ok=True)
    server, port = create_server(config["listen"], [(registrar(core), SERVICE_NAME)],
                                 also_listen=[f"unix:{socket}"], max_workers=16)
    server.start()
    tick = float(config.get("tick", 0.25))
    pool = ThreadPoolExecutor(max_workers=int(config.get("probe_workers", 16)), thread_name_prefix="probe")

    def loop() -> None:  # probes and SDN sync; a failure is logged and the next tick tries again
        while not stop.wait(tick):
            try:
                core.probe_round(pool)
            except Exception:
                log.exception("mesh loop")

    worker = threading.Thread(target=loop, name="mesh-loop", daemon=True)
    core.sync()
    worker.start()
    print(f"mesh listening on {config['listen'].rsplit(':', 1)[0]}:{port} and unix:{socket}; "
          f"{len(core.services)} service(s) reloaded" + (f"; metrics on {metrics_at}" if metrics_at else ""),
          flush=True)
    stop.wait()
    server.stop(grace=2).wait()
    worker.join(timeout=5)
    pool.shutdown(wait=False, cancel_futures=True)
    stop_metrics()
    store.close()
    print("mesh stopped; the switches keep the services' routes", flush=True)
    return 0
