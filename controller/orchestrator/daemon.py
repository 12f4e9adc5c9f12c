"""`strata serve orchestrator --config FILE`: the orchestrator daemon, at the cloud site.

It runs in the registry host's network namespace (`strata up` starts it there), so it pushes
images to the registry over the emulated network; it reaches the placement and SDN daemons and
the node agents over their management Unix sockets. The configuration file (JSON) says:
  db                 SQLite file of desired state
  placement, sdn, mesh  gRPC addresses of those daemons, e.g. unix:/run/.../placement.sock
  registry           registry base URL, e.g. http://10.0.0.1:5000
  registry_host      the registry's host name in the topology (the fallback source of layers)
  service_range      CIDR the services' VIPs come from
  listen             gRPC address (in the namespace it runs in)
  socket             gRPC Unix socket: how the CLI and the agents reach it
Optional: node_timeout (s, 4), evict_after (s, 10), placement_time_limit (s, 20), image_cache,
resync_period (s, 5: how often each controller runs when nothing it watches changes),
image_scale (placement sees sizes in real MiB: bytes / (2**20 * image_scale)),
startup_weight (0 to 1, 0: strata's apps placed by least stored bytes, ties broken by the estimated time
to ready; above, that time counts beside bytes, docs/placement.md "Start-up-aware placement"),
latency_weight (>= 0, 0: services that declare clients (strata.io/clients) are placed by bytes alone;
above, the MiB of the real images that 1 ms of their mean client delay is worth, for the apps placed
by strata or ilp, docs/placement.md "Latency-aware placement"),
metrics (Prometheus endpoint HOST:PORT; default: listen's host, its port + 1000; "off": none),
registry_credentials (the registry's push credentials file, JSON with username and password, which
`strata up` writes into the run folder with mode 0600; without it pushes go unauthenticated, which a
registry started by Strata refuses),
pki (the run's certificate folder, component_base.pki: with it every listener requires a client
certificate of the cluster and calls are authorised per caller; without, plaintext on loopback and Unix
sockets only).
"""

from __future__ import annotations

import logging
from pathlib import Path

from component_base.daemon import Component, Daemon
from component_base.errors import InvalidArgument
from component_base.pki import Identity
from component_base.tls import from_config
from images import IMAGE_SCALE, checked_image_scale
from images import credentials as registry_credentials

log = logging.getLogger("strata.orchestrator")


def build(config: dict) -> Daemon:
    from . import metrics as orchestrator_metrics
    from .adapters import AgentClients, MeshClient, PlacementClient, SdnClient, TcpProber
    from .core import RESYNC, Orchestrator
    from .registry_images import RegistryImages
    from .servicer import SERVICE_NAME, register
    from .store import Store

    try:
        scale = checked_image_scale(float(config.get("image_scale", IMAGE_SCALE)))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"orchestrator configuration: image_scale: {exc}") from None
    weight = config.get("startup_weight", 0.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
        raise InvalidArgument(f"orchestrator configuration: startup_weight must be from 0 to 1, got {weight!r}")
    latency = config.get("latency_weight", 0.0)
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not 0 <= latency < float("inf"):
        raise InvalidArgument(f"orchestrator configuration: latency_weight must be a finite number >= 0, "
                              f"got {latency!r}")
    try:
        credentials = (registry_credentials.load(Path(config["registry_credentials"]))
                       if config.get("registry_credentials") else None)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"orchestrator configuration: registry_credentials: {exc}") from None
    tls = from_config(config, Identity("orchestrator"))
    store = Store(config["db"])
    orchestrator = Orchestrator(
        store, placer=PlacementClient(config["placement"], time_limit=float(config.get("placement_time_limit", 20)),
                                      tls=tls),
        sdn=SdnClient(config["sdn"], tls=tls), mesh=MeshClient(config["mesh"], tls=tls), agents=AgentClients(tls),
        images=RegistryImages(config["registry"], Path(config["image_cache"]) if config.get("image_cache") else None,
                              log=log.info, scale=scale, credentials=credentials),
        service_range=config["service_range"], registry_host=config["registry_host"],
        node_timeout=float(config.get("node_timeout", 4.0)), evict_after=float(config.get("evict_after", 10.0)),
        size_unit=2**20 * scale,
        resync=float(config.get("resync_period", RESYNC)), startup_weight=float(weight),
        latency_weight=float(latency), prober=TcpProber())
    orchestrator_metrics.register(orchestrator)
    return Daemon(
        "orchestrator", [(register(orchestrator), SERVICE_NAME)], max_workers=16, log=log, tls=tls,
        started=[orchestrator.start],
        closing=[orchestrator.stop, store.close],
        ready=lambda: (f"{len(orchestrator.apps)} application(s), {len(orchestrator.instances)} instance(s), "
                       f"{len(orchestrator.nodes)} node(s) reloaded; services from {config['service_range']}"),
        stopped="the nodes keep their containers")


ORCHESTRATOR = Component("orchestrator", ("db", "placement", "sdn", "mesh", "registry", "registry_host",
                                          "service_range", "listen", "socket"), build)
