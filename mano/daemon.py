"""`strata serve mano --config FILE`: the VNF manager daemon.

`strata up` starts it in the registry host's network namespace (the cloud site, beside the
orchestrator and the mesh); it reaches the orchestrator and the SDN daemon over their management
Unix sockets. The configuration file (JSON) says:
  db            SQLite file of its state (descriptors, instances, operation history, chains)
  orchestrator  gRPC address of the orchestrator, e.g. unix:/run/.../orchestrator.sock
  sdn           gRPC address of the SDN daemon
  listen        gRPC address (in the namespace it runs in)
  socket        gRPC Unix socket: how the CLI reaches it
Optional: tick (s, 1: how often chains are brought in step with their VNFs), autoscale_tick (s, 2: how
often VNFs with a scaling or healing policy are judged), ready_timeout (s, 120),
metrics (Prometheus endpoint HOST:PORT; default: listen's host, its port + 1000; "off": none),
pki (the run's certificate folder, component_base.pki: with it every listener requires a client
certificate of the cluster and calls are authorised per caller; without, plaintext on loopback and Unix
sockets only).
"""

from __future__ import annotations

import logging

from component_base.daemon import Component, Daemon, Loop
from component_base.pki import Identity
from component_base.tls import from_config

log = logging.getLogger("strata.mano")


def build(config: dict) -> Daemon:
    from .adapters import OrchestratorApps, SdnChains, VnfStats
    from .core import VnfManager
    from .servicer import SERVICE_NAME, registrar
    from .store import ManoStore

    tls = from_config(config, Identity("mano"))
    store = ManoStore(config["db"])
    manager = VnfManager(store, OrchestratorApps(config["orchestrator"], tls=tls), SdnChains(config["sdn"], tls=tls),
                         ready_timeout=float(config.get("ready_timeout", 120)), stats=VnfStats())
    return Daemon(
        "VNF manager", [(registrar(manager), SERVICE_NAME)], max_workers=16, log=log, tls=tls,
        # chains follow their VNFs' containers
        loops=[Loop("mano-loop", float(config.get("tick", 1.0)), manager.sync_chains),
               # VNFs with a scaling or healing policy judged on their counters and restarts
               Loop("mano-autoscale", float(config.get("autoscale_tick", 2.0)), manager.autoscale_once)],
        closing=[store.close],
        ready=lambda: (f"{len(manager.vnfds)} descriptor(s), {len(manager.instances)} instance(s), "
                       f"{len(manager.chains)} chain(s) reloaded"),
        stopped="VNF containers keep running")


MANO = Component("mano", ("db", "orchestrator", "sdn", "listen", "socket"), build)
