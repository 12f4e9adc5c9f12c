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
metrics (Prometheus endpoint HOST:PORT; default: listen's host, its port + 1000; "off": none).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from component_base.config import load_config
from component_base.metrics import start_metrics
from component_base.rpc import create_server
from images import IMAGE_SCALE

REQUIRED = ("db", "placement", "sdn", "mesh", "registry", "registry_host", "service_range", "listen", "socket")

log = logging.getLogger("strata.orchestrator")


def serve_orchestrator(config_path: str, stop: threading.Event, metrics: str | None = None) -> int:
    """`metrics`: the endpoint's address, "off", or None for the configuration's (or the default)."""
    from . import metrics as orchestrator_metrics
    from .adapters import AgentClients, MeshClient, PlacementClient, SdnClient
    from .core import RESYNC, Orchestrator
    from .registry_images import RegistryImages
    from .servicer import SERVICE_NAME, register
    from .store import Store

    config = load_config(config_path, REQUIRED, "orchestrator")
    # First: a port in use stops us before anything else starts.
    metrics_at, stop_metrics = start_metrics(metrics if metrics is not None else config.get("metrics"),
                                             config["listen"])
    Path(config["db"]).parent.mkdir(parents=True, exist_ok=True)
    store = Store(config["db"])
    orchestrator = Orchestrator(
        store, placer=PlacementClient(config["placement"], time_limit=float(config.get("placement_time_limit", 20))),
        sdn=SdnClient(config["sdn"]), mesh=MeshClient(config["mesh"]), agents=AgentClients(),
        images=RegistryImages(config["registry"], Path(config["image_cache"]) if config.get("image_cache") else None,
                              log=log.info),
        service_range=config["service_range"], registry_host=config["registry_host"],
        node_timeout=float(config.get("node_timeout", 4.0)), evict_after=float(config.get("evict_after", 10.0)),
        size_unit=2**20 * float(config.get("image_scale", IMAGE_SCALE)),
        resync=float(config.get("resync_period", RESYNC)))
    orchestrator_metrics.register(orchestrator)
    socket = Path(config["socket"])
    socket.unlink(missing_ok=True)
    server, port = create_server(config["listen"], [(register(orchestrator), SERVICE_NAME)],
                                 also_listen=[f"unix:{socket}"], max_workers=16)
    server.start()
    orchestrator.start()
    print(f"orchestrator listening on {config['listen'].rsplit(':', 1)[0]}:{port} and unix:{socket}; "
          f"{len(orchestrator.apps)} application(s), {len(orchestrator.instances)} instance(s), "
          f"{len(orchestrator.nodes)} node(s) reloaded; services from {config['service_range']}"
          + (f"; metrics on {metrics_at}" if metrics_at else ""),
          flush=True)
    stop.wait()
    server.stop(grace=2).wait()
    orchestrator.stop()
    stop_metrics()
    store.close()
    print("orchestrator stopped; the nodes keep their containers", flush=True)
    return 0
