"""`strata serve agent --config FILE`: one node agent, inside its edge server's network namespace.

The configuration file (JSON, written by `strata up` for every edge server) says:
  node, ip, switch            the edge server, its address and its switch
  pod_cidr, prefixlen         the node's pod range and the prefix length of the hosts' subnet
  cpu_millicores              CPU capacity
  storage_capacity_bytes      layer store capacity (the server's storage, scaled like the images)
  state_dir                   layer store, containers' folders, runc state, SQLite
  registry                    registry base URL on the emulated network, e.g. http://10.0.0.2:5000
  sdn                         the SDN daemon's management address, e.g. unix:/run/.../sdn.sock
  listen                      gRPC address on the emulated network, e.g. 10.0.0.3:50060
  socket                      gRPC Unix socket: the management channel from the root namespace
  root_netns_pid              a process in the root network namespace (where OVS's ports live)
  netns_prefix                prefix of the pods' network namespace names (one per run)
Optional:
  blob_listen                 HOST:PORT where it serves the blobs it holds to peers (OCI blob API)
  orchestrator                the orchestrator's address: register and heartbeat there
  bandwidth_mbps              the server's access link capacity, reported to the orchestrator
  memory_mib                  memory for containers' requests, MiB: a container whose request does not fit in
                              what the others' leave is refused, and the orchestrator is told (default 0: not
                              given, no admission by memory)
  service_range, gateway      every pod gets a route to the services' VIPs through the gateway
  metrics                     Prometheus endpoint HOST:PORT (default: listen's host, its port + 1000;
                              "off": none)
  max_concurrent_downloads    layers one image pull downloads at once (default 3, containerd's
                              max_concurrent_downloads; 1: one after the other)
  max_parallel_starts         containers started at once, each with its pull (default 4; 1: one
                              after the other, as the agent did before)
  max_log_bytes               a container's log is rotated past this size, the newest kept (default 10 MiB,
                              the kubelet's containerLogMaxSize); at most twice this on disk per container
  pids_limit                  processes and threads per container (default 1024): a fork bomb stops there
  default_memory_limit_mib    memory limit of a container given none, MiB: this or its request, the larger
                              (default 512; 0: no limit)
  max_unpacked_bytes          what one layer may unpack to, bytes (default 4 GiB; also at most 100 times its
                              blob plus 1 MiB)
  pki                         the run's certificate folder (component_base.pki): the agent serves and calls
                              as spiffe://strata/agent/NODE with mutual TLS, and its listeners require a
                              client certificate of the cluster (without: plaintext, and listen must then
                              be a loopback address)
"""

from __future__ import annotations

import logging
from pathlib import Path

from component_base.daemon import Component, Daemon
from component_base.errors import InvalidArgument
from component_base.pki import Identity
from component_base.rpc import DomainClient
from component_base.tls import Tls, from_config
from images import IMAGE_SCALE

log = logging.getLogger("strata.agent")


class SdnEndpoints(DomainClient):
    """The EndpointRegistrar of a node: AttachEndpoint/DetachEndpoint on the SDN daemon over gRPC."""

    def __init__(self, address: str, timeout: float = 10.0, *, tls: Tls | None = None):
        from strata.v1 import sdn_pb2_grpc

        super().__init__(sdn_pb2_grpc.SdnServiceStub, address, "the SDN controller", timeout, server=Identity("sdn"),
                         tls=tls)

    def attach(self, *, name: str, ip: str, mac: str, switch: str, port: int, node: str) -> None:
        from strata.v1 import sdn_pb2

        self._call(self.stub.AttachEndpoint, sdn_pb2.AttachEndpointRequest(
            name=name, ip=ip, mac=mac, switch=switch, port=port, node=node))

    def detach(self, name: str) -> None:
        from strata.v1 import sdn_pb2

        self._call(self.stub.DetachEndpoint, sdn_pb2.DetachEndpointRequest(name=name))

    def close(self) -> None:
        self.channel.close()


def build_node(config: dict, tls: Tls | None = None):
    """The Node and everything it stands on, from a configuration dict; `tls`: its identity's, to call the SDN."""
    from images.registry import RegistryClient

    from .bundle import DEFAULT_MEMORY_LIMIT_MIB, DEFAULT_PIDS_LIMIT
    from .layers import DEFAULT_MAX_UNPACKED_BYTES, LayerStore
    from .logs import DEFAULT_MAX_LOG_BYTES
    from .node import DEFAULT_MAX_CONCURRENT_DOWNLOADS, DEFAULT_MAX_PARALLEL_STARTS, Node, NodeConfig
    from .podnet import PodNetwork
    from .runtime import Runc
    from .state import AgentState

    state_dir = Path(config["state_dir"])
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        node_config = NodeConfig(
            name=config["node"], ip=config["ip"], switch=config["switch"], pod_cidr=config["pod_cidr"],
            cpu_millicores=float(config["cpu_millicores"]),
            storage_capacity_bytes=int(config["storage_capacity_bytes"]), state_dir=state_dir,
            registry_url=config["registry"], image_scale=float(config.get("image_scale", IMAGE_SCALE)),
            max_concurrent_downloads=config.get("max_concurrent_downloads", DEFAULT_MAX_CONCURRENT_DOWNLOADS),
            max_parallel_starts=config.get("max_parallel_starts", DEFAULT_MAX_PARALLEL_STARTS),
            memory_mib=float(config.get("memory_mib", 0.0)),
            max_log_bytes=config.get("max_log_bytes", DEFAULT_MAX_LOG_BYTES),
            pids_limit=config.get("pids_limit", DEFAULT_PIDS_LIMIT),
            default_memory_limit_mib=float(config.get("default_memory_limit_mib", DEFAULT_MEMORY_LIMIT_MIB)))
        max_unpacked = config.get("max_unpacked_bytes", DEFAULT_MAX_UNPACKED_BYTES)
        if not isinstance(max_unpacked, int) or isinstance(max_unpacked, bool) or max_unpacked < 1:
            raise ValueError(f"max_unpacked_bytes must be a whole number >= 1, got {max_unpacked!r}")
    except ValueError as exc:  # a bound below 1, a negative memory, or not a number
        raise InvalidArgument(f"agent configuration: {exc}") from None
    return Node(node_config,
                store=LayerStore(state_dir / "layers", node_config.storage_capacity_bytes, node=config["node"],
                                 max_unpacked_bytes=max_unpacked),
                registry=RegistryClient(config["registry"], follow_redirects=False),
                runc=Runc(state_dir / "runc"),
                podnet=PodNetwork(switch=config["switch"], prefixlen=int(config["prefixlen"]),
                                  root_netns_pid=int(config["root_netns_pid"]), netns_prefix=config["netns_prefix"],
                                  service_route=((config["service_range"], config["gateway"])
                                                 if config.get("service_range") else None)),
                sdn=SdnEndpoints(config["sdn"], tls=tls),
                state=AgentState(state_dir / "agent.db"))


def build(config: dict) -> Daemon:
    """The agent's parts; it runs until stopped, and its containers keep running after it exits."""
    from . import metrics as agent_metrics
    from .runtime import become_child_subreaper
    from .servicer import SERVICE_NAME, register

    become_child_subreaper()  # containers stay our children: their exit codes are known
    tls = from_config(config, Identity.agent(config["node"]))
    node = build_node(config, tls)
    node.recover()
    blobs, blob_url = None, ""
    if config.get("blob_listen"):
        from .blobserver import BlobServer

        host, _, port_text = config["blob_listen"].rpartition(":")
        blobs = BlobServer(node.store, (host, int(port_text)))
        blobs.start()
        blob_url = f"http://{host}:{blobs.port}"
    agent_metrics.register(node, blobs)
    started, stopping = [node.start_supervisor], []
    if config.get("orchestrator"):
        from .heartbeat import OrchestratorLink

        link = OrchestratorLink(node, config["orchestrator"], agent_address=f"unix:{config['socket']}",
                                blob_address=blob_url, bandwidth_mbps=float(config.get("bandwidth_mbps", 0.0)),
                                tls=tls)
        started.append(link.start)
        stopping.append(link.stop)
    return Daemon(
        f"agent {config['node']}", [(register(node, blobs, blob_url), SERVICE_NAME)], log=log, tls=tls,
        started=started, stopping=stopping,
        closing=[*([blobs.stop] if blobs is not None else []), node.close, node.sdn.close],
        ready=lambda: f"{len(node.containers())} container(s) recovered",
        stopped="its containers keep running",
        # starts waiting for their turn hold a worker each: reads (GetNode, readiness) keep some of their own
        max_workers=node.config.max_parallel_starts + 8)


AGENT = Component("agent", ("node", "ip", "switch", "pod_cidr", "prefixlen", "cpu_millicores",
                            "storage_capacity_bytes", "state_dir", "registry", "sdn", "listen", "socket",
                            "root_netns_pid", "netns_prefix"), build, origin="strata up writes one per edge server")
