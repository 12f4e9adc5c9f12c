"""`strata serve mesh --config FILE`: the service-mesh daemon.

It runs where it can reach the services' endpoints to probe them: `strata up` starts it in the
registry host's network namespace (the cloud site, beside the orchestrator), reaching the SDN
daemon over its management Unix socket. The configuration file (JSON) says:
  db        SQLite file of desired state
  sdn       gRPC address of the SDN daemon, e.g. unix:/run/.../sdn.sock
  listen    gRPC address (in the namespace it runs in)
  socket    gRPC Unix socket: how the CLI and the orchestrator reach it
Optional: tick (s, 0.25: how often due probes run and the SDN is brought in step), probe_workers (16),
metrics (Prometheus endpoint HOST:PORT; default: listen's host, its port + 1000; "off": none),
pki (the run's certificate folder, component_base.pki: with it every listener requires a client
certificate of the cluster and calls are authorised per caller; without, plaintext on loopback and Unix
sockets only).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from component_base.daemon import Component, Daemon, Loop
from component_base.pki import Identity
from component_base.tls import from_config

log = logging.getLogger("strata.mesh")


def build(config: dict) -> Daemon:
    from . import metrics as mesh_metrics
    from .adapters import SdnRoutes, probe
    from .core import MeshCore
    from .servicer import SERVICE_NAME, registrar
    from .store import MeshStore

    tls = from_config(config, Identity("mesh"))
    store = MeshStore(config["db"])
    core = MeshCore(store, SdnRoutes(config["sdn"], tls=tls), probe=probe)
    mesh_metrics.register(core)
    pool = ThreadPoolExecutor(max_workers=int(config.get("probe_workers", 16)), thread_name_prefix="probe")
    return Daemon(
        "mesh", [(registrar(core), SERVICE_NAME)], max_workers=16, log=log, tls=tls,
        started=[core.sync],
        # probes and SDN sync
        loops=[Loop("mesh-loop", float(config.get("tick", 0.25)), lambda: core.probe_round(pool))],
        closing=[lambda: pool.shutdown(wait=False, cancel_futures=True), store.close],
        ready=lambda: f"{len(core.services)} service(s) reloaded",
        stopped="the switches keep the services' routes")


MESH = Component("mesh", ("db", "sdn", "listen", "socket"), build)
