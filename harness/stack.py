"""The running system: a topology in Mininet, the control-layer daemons, the registry and a node agent
on every edge server, started and torn down together.

Control traffic: the daemons listen on loopback in the machine's own network namespace; the
node agents and the registry run inside their Mininet hosts' network namespaces and listen on
the emulated network. Between the two, a management channel through the filesystem: every
daemon that an agent calls, and every agent, also listens on a Unix socket in the run's
folder (out-of-band control, as OpenFlow's channel already is). Data traffic (layer pulls,
container traffic) crosses the emulated, SDN-controlled network.

Every gRPC listener, TCP and Unix socket alike, runs mutual TLS by default: the run's CA and a
certificate per daemon, agent and the operator are made at start in the run folder's `pki/`
(component_base.pki), and each daemon authorises its callers (component_base.authz). The harness
and the CLI call as the operator (`admin`). `tls=False` runs plaintext, which the daemons allow on
loopback and Unix sockets only (the agents then listen on their namespace's loopback).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from component_base.metrics import METRICS_PORT_OFFSET, derived_address
from component_base.pki import Identity, Listener, make_cluster
from component_base.rpc import DEFAULT_ADDRESSES
from component_base.tls import Tls, open_channel
from controller.sdn.network import default_gateway
from images import IMAGE_SCALE, checked_image_scale, scaled_bytes
from images.build import default_cache
from dataplane.network import HOST_PREFIX_LEN, EdgeNetwork, interrupts_after
from topologies.spec import TopologySpec

from . import cleanup
from .daemons import DaemonProcess, in_host, require_root, wait_healthy, wait_switches_connected
from .supervisor import SUPERVISION_FILE, Supervisor, Target

BUILT_COMPONENTS = ("placement", "sdn")  # loopback daemons; the orchestrator runs at the cloud site with the nodes
AGENT_PORT = 50060   # each agent's gRPC port on its edge server's address
BLOB_PORT = 50061    # each agent's blob server (layers to its peers) on its edge server's address
REGISTRY_PORT = 5000
ORCHESTRATOR_PORT = 50052  # on loopback inside the registry host's namespace
MESH_PORT = 50053          # likewise
MANO_PORT = 50055          # likewise
DAEMON_PORTS = ((50050, 50070), (51050, 51070))  # gRPC and metrics ports of the daemons in hosts' namespaces
SERVICE_RANGE = "10.96.0.0/16"  # the services' VIPs (Kubernetes' default range starts here too)
# Host role -> the TCP ports its hosts serve the control plane on, for the SDN's topology: pods may
# not open connections to them (docs/sdn.md, "Pods and the control plane").
CONTROL_PORTS = {
    "edge-server": [AGENT_PORT, BLOB_PORT, AGENT_PORT + METRICS_PORT_OFFSET],
    "registry": [REGISTRY_PORT, *(port + offset for port in (ORCHESTRATOR_PORT, MESH_PORT, MANO_PORT)
                                  for offset in (0, METRICS_PORT_OFFSET))],
}


def _ips(address: str) -> tuple[str, ...]:
    """The IP address of a HOST:PORT listen address, for its certificate (none for a name)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        return ()


def port_addresses(base: int) -> dict[str, str]:
    """Loopback gRPC addresses from a base port: placement base+1 ... mano base+5."""
    return {name: f"127.0.0.1:{base + k}" for k, name in enumerate(DEFAULT_ADDRESSES, start=1)}


class Stack:
    """Use as a context manager: everything it started is stopped on exit, whatever happened.

    `nodes`: start the registry, the orchestrator and the node agents (needs the images; built
    once into the cache). `images`: which images to push to the registry up front (None = every
    image built, [] = none: the orchestrator pushes an app's images when it is deployed).
    `cluster`: server names or addresses to spread the network over (this machine first; see
    EdgeNetwork), without nodes. `tls`: mutual TLS between every component (False: plaintext, on
    loopback and Unix sockets only)."""

    def __init__(self, spec: TopologySpec, *, components=BUILT_COMPONENTS, openflow_port: int = 6653,
                 addresses: dict[str, str] | None = None, all_in_one: bool = False, nodes: bool = True,
                 images: list[str] | None = None, state_file: Path | None = None, log=print,
                 orchestrator_options: dict | None = None, fast_failover: bool = True,
                 image_scale: float = IMAGE_SCALE, build_only: list[str] | None = None,
                 cluster: list[str] | None = None, tls: bool = True, supervise: bool = False):
        self.spec = spec
        self.components = tuple(components)
        self.openflow_port = openflow_port
        self.addresses = {**DEFAULT_ADDRESSES, **(addresses or {})}
        self.all_in_one = all_in_one
        # the nodes need the orchestrator, which needs both loopback daemons; on a cluster they are
        # not run (the agents would run on other servers, whose run folder this one does not share)
        self.nodes = (nodes and {"sdn", "placement"} <= set(self.components)
                      and bool(spec.hosts_with_role("registry")) and not cluster)
        # Spread over servers: the first is this one; the switches there and on every other server
        # connect to the SDN daemon at this server's address on the network joining them.
        self.split = None
        self.openflow_host = "127.0.0.1"
        if cluster:
            from dataplane.cluster import server_address
            from topologies.split import split_topology

            self.split = split_topology(spec, cluster)
            self.openflow_host = server_address(cluster[0])
        self.images = images
        # The image scale of the whole run (images, node storage, placement's sizes). At the default
        # scale every dataset image is built (it is small); at another, only the images named
        # (`build_only`, else `images`): real sizes of all 158 would not fit a disk.
        self.image_scale = checked_image_scale(image_scale)
        self.build_only = build_only
        if self.build_only is None and self.image_scale != IMAGE_SCALE:
            self.build_only = images or None  # the default scale's cache stays whole: other runs share it
        if self.nodes and self.image_scale != IMAGE_SCALE and not self.build_only:
            raise ValueError(f"at image scale {self.image_scale:g} name the dataset images to build (--image NAME): "
                             "at real sizes the whole dataset would not fit on a disk")
        self.state_file = state_file
        self.log = log
        self.orchestrator_options = dict(orchestrator_options or {})  # e.g. evict_after for tests
        self.fast_failover = fast_failover
        self.workdir = Path(tempfile.mkdtemp(prefix="strata-"))
        self.tls = tls
        # supervise: every daemon, agent and the registry started again when it dies (harness.supervisor)
        self.supervise = supervise
        self.supervisor: Supervisor | None = None
        self._held: set[str] = set()  # components stopped on purpose: not started again meanwhile
        self.pki_dir = self.workdir / "pki"
        self.admin_tls: Tls | None = None  # the operator's certificate, once made (tls only)
        self.run_id = self.workdir.name.removeprefix("strata-")[:8]
        self.network = EdgeNetwork(spec, controller=(self.openflow_host, openflow_port), progress=log, split=self.split)
        self.daemons: list[DaemonProcess] = []
        self.agents: dict[str, DaemonProcess] = {}
        self.agent_sockets: dict[str, Path] = {}
        self.registry = None  # a RegistryServer once started
        self.registry_url = ""
        self.orchestrator: DaemonProcess | None = None
        self.mesh: DaemonProcess | None = None
        self.mano: DaemonProcess | None = None
        self.service_range = SERVICE_RANGE
        self.gateway = default_gateway(ipaddress.ip_network(self._subnet()))
        if ipaddress.ip_network(self.service_range).overlaps(ipaddress.ip_network(self._subnet())):
            raise ValueError(f"{spec.name}: the hosts' subnet {self._subnet()} overlaps the service range "
                             f"{self.service_range}")
        self.timings: dict[str, float] = {}
        # Prometheus endpoints (docs/metrics.md): loopback daemons at their gRPC port + 1000; the
        # orchestrator and the agents on their host's address, inside its network namespace.
        self.metrics: dict[str, str] = {}        # daemon -> host:port
        self.agent_metrics: dict[str, str] = {}  # edge server -> its agent's host:port

    # -- names and paths ----------------------------------------------------------------------
    @property
    def netns_prefix(self) -> str:
        return f"strata-{self.run_id}-"

    @property
    def sdn_socket(self) -> Path:
        return self.workdir / "sdn.sock"

    def socket(self, component: str) -> Path:
        """A daemon's management Unix socket (placement, sdn, orchestrator)."""
        return self.workdir / f"{component}.sock"

    def _sdn_args(self) -> list[str]:
        return ["--topology", str(self.workdir / "topology.json"), "--db", str(self.workdir / "sdn.db"),
                "--openflow", f"{self.openflow_host}:{self.openflow_port}", "--socket", str(self.sdn_socket)]

    def _pki_args(self) -> list[str]:
        return ["--pki", str(self.pki_dir)] if self.tls else []

    def _pki_config(self) -> dict:
        """What a configured daemon's file says about its certificates."""
        return {"pki": str(self.pki_dir)} if self.tls else {}

    # -- calling the components (as the operator) ------------------------------------------------
    def channel(self, component: str, identity: Identity | None = None) -> grpc.Channel:
        """A channel to a daemon: placement and sdn on their loopback address, the orchestrator, mesh
        and VNF manager on their Unix socket; with mutual TLS as the operator (or as `identity`, one
        of the run's) when the stack runs TLS, else plaintext."""
        address = (self.addresses[component] if component in ("placement", "sdn")
                   else f"unix:{self.socket(component)}")
        return open_channel(address, self._caller(identity), Identity(component))

    def agent_channel(self, node: str, identity: Identity | None = None) -> grpc.Channel:
        """A channel to a node's agent on its Unix socket (TLS as for channel())."""
        return open_channel(f"unix:{self.agent_sockets[node]}", self._caller(identity), Identity.agent(node))

    def _caller(self, identity: Identity | None) -> Tls | None:
        if not self.tls or identity is None:
            return self.admin_tls
        return Tls.from_folder(self.pki_dir, identity)

    def _wait_healthy(self, address: str, timeout: float, daemon: DaemonProcess, server: Identity) -> None:
        wait_healthy(address, timeout, daemon, tls=self.admin_tls, server=server)

    def _make_pki(self) -> None:
        """The run's CA and a certificate for each daemon, each agent and the operator, with the
        addresses each listens on (docs/security.md, "Certificates and who may call what")."""
        started = time.monotonic()
        listeners = [Listener(Identity(name), _ips(self.addresses.get(name, "127.0.0.1:0")))
                     for name in ("placement", "sdn", "orchestrator", "mesh", "mano")]
        listeners.append(Listener(Identity("admin")))
        if self.nodes:
            listeners += [Listener(Identity.agent(host.name), (host.ip,))
                          for host in self.spec.hosts_with_role("edge-server")]
        make_cluster(self.pki_dir, listeners, datetime.datetime.now(datetime.timezone.utc))
        self.admin_tls = Tls.from_folder(self.pki_dir, Identity("admin"))
        self.timings["pki"] = time.monotonic() - started

    def host_pid(self, name: str) -> int:
        return self.network.net.get(name).pid

    # -- start -----------------------------------------------------------------------------------
    def start(self) -> "Stack":
        require_root("starting the network")
        started = time.monotonic()
        if self.nodes:
            self._build_images()
        self.network.build()
        topology = self.network.runtime_topology()
        topology["subnet"] = self._subnet()
        topology["service_range"], topology["gateway"] = self.service_range, self.gateway
        topology["fast_failover"] = self.fast_failover
        topology["control_ports"] = CONTROL_PORTS
        (self.workdir / "topology.json").write_text(json.dumps(topology, indent=1))
        if self.tls:
            self._make_pki()
        self._start_daemons()
        self.network.start()
        self._route_services()
        if "sdn" in self.components:
            seconds = wait_switches_connected(self.addresses["sdn"], len(self.spec.switches),
                                              120 + len(self.spec.switches), progress=self.log, tls=self.admin_tls)
            self.log(f"all {len(self.spec.switches)} switches connected to the SDN daemon and hold their rules "
                     f"({seconds:.1f} s)")
        if self.nodes:
            self._start_registry()
            self._start_mesh()
            self._start_orchestrator()
            self._start_agents()
            self._start_mano()
        self.timings["start"] = time.monotonic() - started
        if self.supervise:
            self.supervisor = Supervisor(self._supervised, self.workdir / SUPERVISION_FILE, say=self.log).start()
        self._write_state()
        return self

    def _supervised(self) -> dict[str, Target]:
        """What the supervisor watches, looked up anew each time (a restart on purpose replaces a process)."""
        held = lambda name, get: (lambda: None if name in self._held else get())  # noqa: E731
        targets = {}
        if self.all_in_one and self.daemons:
            targets["all"] = Target(held("all", lambda: self.daemons[0]), "daemon", self.addresses["sdn"],
                                    Identity("sdn").uri)
        else:
            for name, daemon in zip(self.components, list(self.daemons)):
                targets[name] = Target(held(name, lambda d=daemon: d), "daemon", self.addresses[name],
                                       Identity(name).uri)
        for name in ("orchestrator", "mesh", "mano"):
            if getattr(self, name) is not None:
                targets[name] = Target(held(name, lambda n=name: getattr(self, n)), "daemon",
                                       f"unix:{self.socket(name)}", Identity(name).uri)
        for node in list(self.agents):
            targets[f"agent/{node}"] = Target(held(f"agent/{node}", lambda n=node: self.agents.get(n)), "agent",
                                              f"unix:{self.agent_sockets[node]}", Identity.agent(node).uri)
        if self.registry is not None:
            targets["registry"] = Target(held("registry", lambda: _RegistryProcess(self.registry)), "registry")
        return targets

    def _paused(self):
        """While a component is replaced on purpose, the supervisor looks away."""
        return self.supervisor.paused() if self.supervisor is not None else contextlib.nullcontext()

    def _subnet(self) -> str:
        """The hosts' subnet (the launcher configures every host's address with HOST_PREFIX_LEN)."""
        return str(ipaddress.ip_network(f"{self.spec.hosts[0].ip}/{HOST_PREFIX_LEN}", strict=False))

    def _start_daemons(self) -> None:
        if self.all_in_one:
            metrics = derived_address(self.addresses["sdn"])  # one process, one endpoint
            self.metrics.update({name: metrics for name in self.components})
            daemon = DaemonProcess("all", ["all", *self._sdn_args(), "--listen", self.addresses["sdn"],
                                           "--placement-listen", self.addresses["placement"], "--metrics", metrics,
                                           *self._pki_args()],
                                   self.workdir / "all.log").start()
            self.daemons.append(daemon)
            for name in self.components:
                self._wait_healthy(self.addresses[name], 30, daemon, Identity(name))
            return
        for name in self.components:
            extra = self._sdn_args() if name == "sdn" else ["--socket", str(self.socket(name))]
            self.metrics[name] = derived_address(self.addresses[name])
            daemon = DaemonProcess(name, [name, *extra, "--listen", self.addresses[name],
                                          "--metrics", self.metrics[name], *self._pki_args()],
                                   self.workdir / f"{name}.log").start()
            self.daemons.append(daemon)
        for name, daemon in zip(self.components, self.daemons):
            self._wait_healthy(self.addresses[name], 30, daemon, Identity(name))

    def _build_images(self) -> None:
        from images.build import build_images, require_free_space

        started = time.monotonic()
        report = build_images(default_cache(self.image_scale), progress=self.log, names=self.build_only,
                              scale=self.image_scale)
        self.timings["images"] = time.monotonic() - started
        # The registry holds a copy of every layer, each node at most its storage of them.
        stores = sum(min(report.layer_bytes, scaled_bytes(host.storage_mib, self.image_scale))
                     for host in self.spec.hosts_with_role("edge-server"))
        require_free_space(self.workdir, report.layer_bytes + stores,
                           f"the registry and the nodes' layer stores at image scale {self.image_scale:g}")

    def _start_registry(self) -> None:
        from dataplane.registry.server import RegistryServer

        host = self.spec.hosts_with_role("registry")[0]
        pid = self.host_pid(host.name)
        self.registry_url = f"http://{host.ip}:{REGISTRY_PORT}"

        def popen(argv, **kwargs):  # in the registry host's network namespace
            return subprocess.Popen([*in_host(pid), *argv], **kwargs)

        def ready() -> bool:  # asked from inside that namespace: the registry is not on loopback here
            return subprocess.run([*in_host(pid), "curl", "-sf", "-o", "/dev/null", f"{self.registry_url}/v2/"],
                                  capture_output=True).returncode == 0

        self.registry = RegistryServer(self.workdir / "registry", f"{host.ip}:{REGISTRY_PORT}", popen=popen,
                                       ready=ready)
        self.registry.start(timeout=30)  # known to stop() before it starts: an interrupt leaves no registry
        if self.images == []:  # nothing up front: the orchestrator pushes what a deploy needs
            return
        started = time.monotonic()
        push = [*in_host(pid), sys.executable, "-m", "cli", "images", "push", self.registry_url,
                "--cache", str(default_cache(self.image_scale)), "--credentials", str(self.registry.credentials_path)]
        for name in self.images or []:
            push += ["--image", name]
        result = subprocess.run(push, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"pushing the images to the registry failed:\n{result.stderr.strip()[-2000:]}")
        self.timings["push"] = time.monotonic() - started
        self.log(f"registry on {host.name} at {self.registry_url}: {result.stdout.strip().splitlines()[-1]}")

    def _start_agents(self) -> None:
        from dataplane.agent.node import DEFAULT_MAX_CONCURRENT_DOWNLOADS, DEFAULT_MAX_PARALLEL_STARTS
        from dataplane.agent.podnet import pod_ranges

        servers = self.spec.hosts_with_role("edge-server")
        subnet = self._subnet()
        ranges = pod_ranges(subnet, [h.name for h in servers], [h.ip for h in self.spec.hosts] + [self.gateway])
        for host in servers:
            socket = self.workdir / "agents" / f"{host.name}.sock"
            socket.parent.mkdir(exist_ok=True)
            config = {
                "node": host.name, "ip": host.ip, "switch": host.switch, "pod_cidr": ranges[host.name],
                "prefixlen": ipaddress.ip_network(subnet).prefixlen, "cpu_millicores": host.cpu_millicores,
                "storage_capacity_bytes": scaled_bytes(host.storage_mib, self.image_scale),
                "image_scale": self.image_scale,
                "state_dir": str(self.workdir / "nodes" / host.name), "registry": self.registry_url,
                # plaintext is served on loopback only: then the agent listens on its namespace's
                "sdn": f"unix:{self.sdn_socket}", "listen": f"{host.ip if self.tls else '127.0.0.1'}:{AGENT_PORT}",
                "socket": str(socket),
                "root_netns_pid": os.getpid(), "netns_prefix": self.netns_prefix,
                "blob_listen": f"{host.ip}:{BLOB_PORT}", "orchestrator": f"unix:{self.socket('orchestrator')}",
                "bandwidth_mbps": host.bandwidth_mbps or host.access_mbps, "memory_mib": host.memory_mib,
                "service_range": self.service_range, "gateway": self.gateway,
                "metrics": f"{host.ip}:{AGENT_PORT + METRICS_PORT_OFFSET}",
                "max_concurrent_downloads": DEFAULT_MAX_CONCURRENT_DOWNLOADS,
                "max_parallel_starts": DEFAULT_MAX_PARALLEL_STARTS, **self._pki_config()}
            self.agent_metrics[host.name] = config["metrics"]
            path = self.workdir / "agents" / f"{host.name}.json"
            path.write_text(json.dumps(config, indent=1))
            self.agent_sockets[host.name] = socket
            self.agents[host.name] = self._agent_process(host.name).start()
        for name, agent in self.agents.items():
            self._wait_healthy(f"unix:{self.agent_sockets[name]}", 60, agent, Identity.agent(name))
        self.log(f"node agents on {len(self.agents)} edge servers: {', '.join(self.agents)}")

    def registry_sent_bytes(self) -> int:
        """Bytes the registry host has sent, counted on its interface (layer pulls on the wire)."""
        host = self.network.net.get(self.spec.hosts_with_role("registry")[0].name)
        return int(host.cmd(f"cat /sys/class/net/{host.defaultIntf().name}/statistics/tx_bytes").strip())

    def _route_services(self) -> None:
        """Every host reaches the service range through the gateway (routes inside the hosts'
        namespaces only, never the machine's own), and keeps the daemons' ports out of its
        ephemeral range: a layer push or pull from a host could otherwise hold one as the local
        port of a connection just when a daemon there binds it (settings of the hosts' own
        namespaces)."""
        reserved = ",".join(f"{low}-{high}" for low, high in DAEMON_PORTS)
        for host in self.network.net.hosts:
            host.cmd(f"ip route replace {self.service_range} via {self.gateway}; "
                     f"sysctl -qw net.ipv4.ip_local_reserved_ports={reserved}")

    def _start_orchestrator(self) -> None:
        registry = self.spec.hosts_with_role("registry")[0]
        config = {"db": str(self.workdir / "orchestrator.db"), "placement": f"unix:{self.socket('placement')}",
                  "sdn": f"unix:{self.sdn_socket}", "mesh": f"unix:{self.socket('mesh')}",
                  "registry": self.registry_url, "registry_host": registry.name,
                  "registry_credentials": str(self.registry.credentials_path),
                  "service_range": self.service_range, "listen": f"127.0.0.1:{ORCHESTRATOR_PORT}",
                  "socket": str(self.socket("orchestrator")),
                  "image_scale": self.image_scale, "image_cache": str(default_cache(self.image_scale)),
                  "metrics": f"{registry.ip}:{ORCHESTRATOR_PORT + METRICS_PORT_OFFSET}", **self._pki_config(),
                  **self.orchestrator_options}
        self.metrics["orchestrator"] = config["metrics"]
        (self.workdir / "orchestrator.json").write_text(json.dumps(config, indent=1))
        self.orchestrator = self._orchestrator_process().start()
        self._wait_healthy(f"unix:{self.socket('orchestrator')}", 30, self.orchestrator, Identity("orchestrator"))
        self.log(f"orchestrator on {registry.name} (the cloud site); service VIPs from {self.service_range}")

    def _start_mesh(self) -> None:
        """The mesh, beside the orchestrator at the cloud site: it probes the services' endpoints
        over the emulated network and drives the SDN daemon over its socket."""
        registry = self.spec.hosts_with_role("registry")[0]
        config = {"db": str(self.workdir / "mesh.db"), "sdn": f"unix:{self.sdn_socket}",
                  "listen": f"127.0.0.1:{MESH_PORT}", "socket": str(self.socket("mesh")),
                  "metrics": f"{registry.ip}:{MESH_PORT + METRICS_PORT_OFFSET}", **self._pki_config()}
        self.metrics["mesh"] = config["metrics"]
        (self.workdir / "mesh.json").write_text(json.dumps(config, indent=1))
        self.mesh = self._mesh_process().start()
        self._wait_healthy(f"unix:{self.socket('mesh')}", 30, self.mesh, Identity("mesh"))
        self.log(f"service mesh on {registry.name}: traffic policies in the switches")

    def _mesh_process(self) -> DaemonProcess:
        registry = self.spec.hosts_with_role("registry")[0]
        return DaemonProcess("mesh", ["mesh", "--config", str(self.workdir / "mesh.json")],
                             self.workdir / "mesh.log", prefix=in_host(self.host_pid(registry.name)))

    def restart_sdn(self, *, kill: bool = True) -> None:
        """Kill (or stop) the SDN daemon and start it again (the same command): it must reload its
        routes, chains and policies and bring every reconnecting switch in step."""
        daemon = next(d for d in self.daemons if d.name in ("sdn", "all"))
        with self._paused():
            daemon.kill() if kill else daemon.stop()
            daemon.start()
        self._wait_healthy(self.addresses["sdn"], 30, daemon, Identity("sdn"))
        wait_switches_connected(self.addresses["sdn"], len(self.spec.switches), 60, progress=lambda *_: None,
                                tls=self.admin_tls)

    def restart_mesh(self, *, kill: bool = True) -> None:
        """Kill (or stop) the mesh and start it again: it must reload its services and policies."""
        with self._paused():
            self.mesh.kill() if kill else self.mesh.stop()
            self.mesh = self._mesh_process().start()
        self._wait_healthy(f"unix:{self.socket('mesh')}", 30, self.mesh, Identity("mesh"))

    def _start_mano(self) -> None:
        """The VNF manager, at the cloud site too: VNFs through the orchestrator, chains through the SDN."""
        registry = self.spec.hosts_with_role("registry")[0]
        config = {"db": str(self.workdir / "mano.db"), "orchestrator": f"unix:{self.socket('orchestrator')}",
                  "sdn": f"unix:{self.sdn_socket}", "listen": f"127.0.0.1:{MANO_PORT}",
                  "socket": str(self.socket("mano")), "metrics": f"{registry.ip}:{MANO_PORT + METRICS_PORT_OFFSET}",
                  **self._pki_config()}
        self.metrics["mano"] = config["metrics"]
        (self.workdir / "mano.json").write_text(json.dumps(config, indent=1))
        self.mano = self._mano_process().start()
        self._wait_healthy(f"unix:{self.socket('mano')}", 30, self.mano, Identity("mano"))
        self.log(f"VNF manager on {registry.name}: VNFs through the orchestrator, chains through the SDN")

    def _mano_process(self) -> DaemonProcess:
        registry = self.spec.hosts_with_role("registry")[0]
        return DaemonProcess("mano", ["mano", "--config", str(self.workdir / "mano.json")],
                             self.workdir / "mano.log", prefix=in_host(self.host_pid(registry.name)))

    def restart_mano(self, *, kill: bool = True) -> None:
        """Kill (or stop) the VNF manager and start it again: it must lose no instance, no occurrence."""
        with self._paused():
            self.mano.kill() if kill else self.mano.stop()
            self.mano = self._mano_process().start()
        self._wait_healthy(f"unix:{self.socket('mano')}", 30, self.mano, Identity("mano"))

    def _orchestrator_process(self) -> DaemonProcess:
        registry = self.spec.hosts_with_role("registry")[0]
        return DaemonProcess("orchestrator", ["orchestrator", "--config", str(self.workdir / "orchestrator.json")],
                             self.workdir / "orchestrator.log", prefix=in_host(self.host_pid(registry.name)))

    def restart_orchestrator(self, *, kill: bool = True) -> None:
        """Kill (or stop) the orchestrator and start it again: it must reload its desired state."""
        self.stop_orchestrator(kill=kill)
        self.start_orchestrator_again()

    def stop_orchestrator(self, *, kill: bool = True) -> None:
        """Until start_orchestrator_again, the supervisor leaves it down."""
        with self._paused():
            self._held.add("orchestrator")
            self.orchestrator.kill() if kill else self.orchestrator.stop()

    def start_orchestrator_again(self) -> None:
        with self._paused():
            self.orchestrator = self._orchestrator_process().start()
            self._held.discard("orchestrator")
        self._wait_healthy(f"unix:{self.socket('orchestrator')}", 30, self.orchestrator, Identity("orchestrator"))

    def _agent_process(self, node: str) -> DaemonProcess:
        return DaemonProcess(f"agent-{node}", ["agent", "--config", str(self.workdir / "agents" / f"{node}.json")],
                             self.workdir / "agents" / f"{node}.log", prefix=in_host(self.host_pid(node)))

    def restart_agent(self, node: str, *, kill: bool = True) -> None:
        """Kill (or stop) a node's agent and start it again: it must find its store and containers."""
        with self._paused():
            agent = self.agents[node]
            agent.kill() if kill else agent.stop()
            self.agents[node] = self._agent_process(node).start()
        self._wait_healthy(f"unix:{self.agent_sockets[node]}", 60, self.agents[node], Identity.agent(node))

    def _write_state(self) -> None:
        state = {"pid": os.getpid(), "topology": self.spec.name, "workdir": str(self.workdir),
                 "addresses": {**{k: v for k, v in self.addresses.items() if k in self.components},
                               **({"orchestrator": f"unix:{self.socket('orchestrator')}"} if self.orchestrator else {}),
                               **({"mesh": f"unix:{self.socket('mesh')}"} if self.mesh else {}),
                               **({"mano": f"unix:{self.socket('mano')}"} if self.mano else {})},
                 "service_range": self.service_range,
                 "openflow": f"{self.openflow_host}:{self.openflow_port}", "registry": self.registry_url,
                 "agents": {name: f"unix:{path}" for name, path in self.agent_sockets.items()},
                 # the operator's certificate: the CLI calls with it (none: a plaintext stack)
                 **({"tls": {"ca": str(self.pki_dir / "ca.pem"), "cert": str(self.pki_dir / "admin.pem"),
                             "key": str(self.pki_dir / "admin.key")}} if self.tls else {}),
                 **self._metrics_state(), **self._network_state()}
        (self.workdir / "stack.json").write_text(json.dumps(state, indent=1))
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.state_file.write_text(json.dumps(state, indent=1))

    def _network_state(self) -> dict:
        """Hosts (their shell's pid: a command runs in a host's namespace with nsenter) and the links
        between switches with their switch-side interfaces (a link is cut by taking those down): what
        a fault injector outside this process needs (harness.chaos). None on a cluster."""
        if self.split is not None or self.network.net is None:
            return {}
        switches = set(self.spec.switches)
        hosts = {h.name: {"pid": self.host_pid(h.name), "ip": h.ip, "role": h.role, "switch": h.switch}
                 for h in self.spec.hosts}
        links = [{"a": link.intf1.node.name, "b": link.intf2.node.name,
                  "interfaces": [link.intf1.name, link.intf2.name]}
                 for link in self.network.net.links
                 if link.intf1.node.name in switches and link.intf2.node.name in switches]
        return {"hosts": hosts, "switch_links": links}

    def _metrics_state(self) -> dict:
        """Where to scrape each daemon. "metrics_netns": the pid whose network namespace an endpoint
        is in (the orchestrator and the agents listen on the emulated network, not the machine's):
        nsenter --net=/proc/PID/ns/net curl -s ADDRESS/metrics."""
        netns = {"agents": {name: self.host_pid(name) for name in self.agent_metrics}}
        for name in ("orchestrator", "mesh", "mano"):
            if getattr(self, name) is not None:
                netns[name] = self.host_pid(self.spec.hosts_with_role("registry")[0].name)
        return {"metrics": {**self.metrics, "agents": dict(self.agent_metrics)}, "metrics_netns": netns}

    # -- stop ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Everything this stack started goes, within seconds, even if parts are gone already."""
        with interrupts_after(None):  # a further Ctrl-C takes effect once everything is gone
            started = time.monotonic()
            if self.supervisor is not None:  # before anything goes: nothing may be started again
                self.supervisor.stop()
                self.supervisor = None
            if self.mano is not None:  # first: it must not heal what the others take down
                self.mano.stop(timeout=5)
                self.mano = None
            if self.orchestrator is not None:  # first: it must not reschedule what the agents leave
                self.orchestrator.stop(timeout=5)
                self.orchestrator = None
            if self.mesh is not None:
                self.mesh.stop(timeout=5)
                self.mesh = None
            for agent in self.agents.values():
                agent.stop(timeout=5)
            self.agents.clear()
            cleanup.remove_containers(self.workdir / "nodes", self.netns_prefix)
            if self.registry is not None:
                self.registry.stop(timeout=5)
                self.registry = None
            for daemon in reversed(self.daemons):
                daemon.stop(timeout=5)
            self.daemons.clear()
            self.network.stop()
            # The bulky data goes; logs and configurations stay for a look afterwards.
            for folder in [*(self.workdir / "nodes").glob("*/layers"), self.workdir / "registry"]:
                shutil.rmtree(folder, ignore_errors=True)
            if self.state_file is not None and self.state_file.exists():
                try:
                    if json.loads(self.state_file.read_text()).get("pid") == os.getpid():
                        self.state_file.unlink()
                except (OSError, ValueError):
                    pass
            self.timings["stop"] = time.monotonic() - started

    def __enter__(self) -> "Stack":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


class _RegistryProcess:
    """The registry (docker-registry and its gate) as the supervisor sees a process: started again
    whole when either dies."""

    def __init__(self, registry):
        self.registry = registry

    @property
    def pid(self) -> int | None:
        return self.registry.pid

    def alive(self) -> bool:
        return self.registry.running()

    def exit_code(self) -> int | None:
        for process in (self.registry.process, self.registry.gate):
            if process is not None and process.poll() is not None:
                return process.returncode
        return None

    def start(self) -> None:
        self.registry.stop()
        self.registry.start(timeout=30)
