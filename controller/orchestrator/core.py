"""The orchestrator's logic: node registry, layer-aware placement of applications, VIPs, and the
reconcile loop that makes what runs equal what is desired.

Everything outside is a port passed in (the placement service, the SDN, the node agents, the
image registry, the clock), so this module is tested with fakes and run with gRPC adapters.

Desired state (applications, their instances and VIPs, nodes) is in the Store; observed state
(what each node last reported) is in memory and rebuilt from heartbeats after a restart. The
reconcile pass, every half second:
  1. a node whose heartbeats stopped for `evict_after` seconds has its instances placed again on
     the ready nodes (new names; the old containers are removed if the node comes back);
  2. on every ready node, a desired instance that does not run there is started (its missing
     layers from the nearest holder when the app asks for peers; a layer another node is
     pulling right now is waited for, then fetched from there), and a container the
     orchestrator started that is no longer desired is removed;
  3. every service's SDN route points its VIP at the running instances.
"""

from __future__ import annotations

import dataclasses

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from component_base.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from controller.placement.model import Container, Layer, Problem, Server
from controller.placement.result import PlacementResult

from api.app import AppError, AppSpec, ServiceSpec, validate_app
from .sources import NetworkView, plan_sources
from .store import AppRecord, InstanceRecord, NodeRecord, ServiceImage, Store
from .vips import VipPool

log = logging.getLogger("strata.orchestrator")

OWNER_LABEL, OWNER = "strata.io/owner", "orchestrator"
APP_LABEL, SERVICE_LABEL = "strata.io/app", "strata.io/service"
PROGRAM = ["python3", "/opt/strata/program.py"]  # the service program every agent binds in
VNF_PROGRAM = ["python3", "/opt/strata/vnf.py"]  # the VNF programs, bound in the same way
CONTAINER_NAME_MAX = 40
DEFAULT_ALGORITHM = "strata"


# -- ports ---------------------------------------------------------------------------------------
class Placer(Protocol):
    def solve(self, problem: Problem, algorithm: str) -> PlacementResult: ...


@dataclass(frozen=True)
class RouteEndpoint:
    host: str  # "node/container": the SDN's name of the pod
    ip: str
    port: int
    subset: str = ""  # the version it runs


class Sdn(Protocol):
    def view(self) -> NetworkView: ...


class Mesh(Protocol):
    """The service mesh, which keeps each service's VIP routed to its endpoints (by its policy)."""

    def routes(self) -> dict[str, tuple[str, int, tuple[RouteEndpoint, ...]]]: ...

    def put_route(self, name: str, vip: str, port: int, endpoints: Sequence[RouteEndpoint]) -> None: ...

    def remove_route(self, name: str) -> None: ...


@dataclass(frozen=True)
class RunRequest:
    name: str
    image: str
    cpu_millicores: float
    env: tuple[str, ...]
    command: tuple[str, ...]
    labels: dict
    hosts: dict
    layer_sources: dict  # digest -> peer blob URL
    capabilities: tuple[str, ...] = ()  # beyond the default set (a VNF's CAP_NET_RAW)
    ready_port: int = 0  # the agent reports it ready once it listens there; 0 = once it runs


@dataclass(frozen=True)
class RunResult:
    ip: str
    ready: bool  # listening on its ready port already
    pulled_bytes: int
    peer_bytes: int


class Agents(Protocol):
    def run(self, node: NodeRecord, request: RunRequest) -> RunResult: ...

    def remove(self, node: NodeRecord, name: str) -> None: ...


class Images(Protocol):
    def prepare(self, service: ServiceSpec) -> ServiceImage: ...


# -- observed state ------------------------------------------------------------------------------
@dataclass
class ContainerView:
    name: str
    running: bool
    ip: str
    restarts: int
    labels: dict
    ready: bool  # running and listening on its ready port: only then a service endpoint


@dataclass
class Observed:
    """What a node last reported; `last_heartbeat` 0 until the first heartbeat since we started."""
    last_heartbeat: float = 0.0
    containers: dict[str, ContainerView] = field(default_factory=dict)
    layers: dict[str, int] = field(default_factory=dict)
    storage_used: int = 0
    pulled_bytes_total: int = 0
    peer_bytes_total: int = 0


@dataclass
class InstanceView:
    record: InstanceRecord
    phase: str  # pending | running | failed | unknown
    ip: str
    restarts: int
    message: str


@dataclass
class DeploymentView:
    app: AppRecord
    instances: list[InstanceView]
    endpoints: dict[str, int]  # service -> running instances its route points at
    ready: bool


@dataclass
class NodeView:
    record: NodeRecord
    observed: Observed
    ready: bool
    cpu_allocated: float
    bandwidth_allocated: float


def container_name(service: str, number: int) -> str:
    """`service-N`, N unique across the cluster: a replacement never reuses a name, so a node
    that comes back cannot confuse an old container with a new one."""
    suffix = f"-{number}"
    return service[:CONTAINER_NAME_MAX - len(suffix)].rstrip("-") + suffix


def route_name(app: str, service: str) -> str:
    return f"{service}.{app}"


class Orchestrator:
    def __init__(self, store: Store, *, placer: Placer, sdn: Sdn, mesh: Mesh, agents: Agents, images: Images,
                 service_range: str, registry_host: str, clock: Callable[[], float] = time.time,
                 node_timeout: float = 4.0, evict_after: float = 10.0, heartbeat_interval: float = 1.0,
                 workers: int = 8, size_unit: float = 1.0):
        self.store = store
        self.placer, self.sdn, self.mesh, self.agents, self.images = placer, sdn, mesh, agents, images
        self.registry_host = registry_host
        self.clock = clock
        self.node_timeout = node_timeout
        self.evict_after = evict_after
        self.heartbeat_interval = heartbeat_interval
        # Bytes per unit of size in placement problems: the daemon uses one real MiB at the
        # emulation's image scale, so size thresholds (kube's ImageLocality 23-1000 MB) keep
        # their meaning.
        self.size_unit = size_unit
        self._lock = threading.RLock()      # guards the dicts below (short holds, no I/O)
        self._placing = threading.Lock()    # one placement decision at a time
        self.started_at = clock()
        self.nodes: dict[str, NodeRecord] = {n.name: n for n in store.nodes()}
        self.observed: dict[str, Observed] = {name: Observed() for name in self.nodes}
        self.apps: dict[str, AppRecord] = {a.spec.name: a for a in store.apps()}
        self.instances: dict[str, InstanceRecord] = {i.name: i for i in store.instances()}
        self.vips = VipPool(service_range, [vip for a in self.apps.values() for vip in a.vips.values()])
        self.service_range = service_range
        self._routes: dict[str, tuple] | None = None  # what the mesh has, as last read or pushed
        self._routes_to_remove: set[str] = set()
        self._inflight: set[str] = set()            # instance or container names being started/removed
        self._retry_at: dict[str, float] = {}       # instance -> when a failed start is tried again
        self._failures: dict[str, int] = {}
        self._view: tuple[float, NetworkView] | None = None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- nodes ---------------------------------------------------------------------------------
    def register_node(self, record: NodeRecord) -> NodeView:
        if not record.name or not record.agent_address:
            raise InvalidArgument("a node needs a name and an agent address")
        for what in ("cpu_millicores", "storage_bytes", "bandwidth_mbps"):
            value = getattr(record, what)
            if not value >= 0:  # also refuses NaN
                raise InvalidArgument(f"node {record.name}: {what} must not be negative, got {value}")
        self.store.save_node(record)
        with self._lock:
            known = record.name in self.nodes
            self.nodes[record.name] = record
            self.observed.setdefault(record.name, Observed())
        log.info("node %s %sregistered (%g millicores, %d bytes of storage)", record.name,
                 "re-" if known else "", record.cpu_millicores, record.storage_bytes)
        self._wake.set()
        return self.node_view(record.name)

    def heartbeat(self, name: str, *, containers: Sequence[ContainerView], layers: dict[str, int],
                  storage_used: int, pulled_bytes_total: int, peer_bytes_total: int) -> float:
        with self._lock:
            if name not in self.nodes:
                raise NotFound(f"node {name!r} is not registered; register first")
            observed = self.observed[name]
            was_ready = self._ready(name)
            observed.last_heartbeat = self.clock()
            observed.containers = {c.name: c for c in containers}
            observed.layers = dict(layers)
            observed.storage_used = storage_used
            observed.pulled_bytes_total, observed.peer_bytes_total = pulled_bytes_total, peer_bytes_total
        if not was_ready:
            log.info("node %s is ready", name)
            self._wake.set()
        return self.heartbeat_interval

    def _ready(self, name: str) -> bool:
        observed = self.observed.get(name)
        return bool(observed and observed.last_heartbeat
                    and self.clock() - observed.last_heartbeat <= self.node_timeout)

    def _by_node(self) -> dict[str, list[InstanceRecord]]:
        out: dict[str, list[InstanceRecord]] = {}
        for instance in self.instances.values():
            out.setdefault(instance.node, []).append(instance)
        return out

    def _allocated(self, node: str, instances: list[InstanceRecord] | None = None) -> tuple[float, float]:
        """CPU and bandwidth of the instances placed on `node` (those given, or all of them)."""
        cpu = bandwidth = 0.0
        for instance in instances if instances is not None else self._by_node().get(node, []):
            spec = self.apps[instance.app].spec.service(instance.service)
            cpu += spec.cpu_millicores
            bandwidth += spec.bandwidth_mbps
        return cpu, bandwidth

    def node_view(self, name: str) -> NodeView:
        with self._lock:
            cpu, bandwidth = self._allocated(name)
            return NodeView(self.nodes[name], self.observed[name], self._ready(name), cpu, bandwidth)

    def list_nodes(self) -> list[NodeView]:
        with self._lock:
            return [self.node_view(name) for name in sorted(self.nodes)]

    # -- placement -----------------------------------------------------------------------------
    def _problem(self, new: list[tuple[str, AppRecord, str]]) -> Problem:
        """The ready nodes with what is left of them, and the new instances (name, app, service).

        A layer a node stores, or will store for an instance already placed there, is `held`:
        it costs nothing there (the incremental form of eqs. 1-9, docs/placement.md)."""
        servers, sizes = [], {}
        for app in {id(a): a for _, a, _ in new}.values():
            for image in app.images.values():
                sizes.update(dict(image.layers))
        by_node = self._by_node()
        for name in sorted(self.nodes):
            if not self._ready(name):
                continue
            node, observed, placed = self.nodes[name], self.observed[name], by_node.get(name, [])
            cpu, bandwidth = self._allocated(name, placed)
            coming: dict[str, int] = {}  # layers of placed instances not stored yet
            for instance in placed:
                for digest, size in self.apps[instance.app].images[instance.service].layers:
                    if digest not in observed.layers:
                        coming[digest] = size
            held = (set(observed.layers) | set(coming)) & set(sizes)
            free = node.storage_bytes - observed.storage_used - sum(coming.values())
            servers.append(Server(name, max(node.cpu_millicores - cpu, 0.0), max(free, 0) / self.size_unit,
                                  max(node.bandwidth_mbps - bandwidth, 0.0), frozenset(held)))
        if not servers:
            raise FailedPrecondition("no node is ready (none has sent a heartbeat recently)")
        containers = []
        for name, app, service in new:
            spec = app.spec.service(service)
            containers.append(Container(name, spec.cpu_millicores, spec.bandwidth_mbps,
                                        tuple(d for d, _ in app.images[service].layers), spec.image))
        layers = tuple(Layer(d, s / self.size_unit) for d, s in sizes.items())
        return Problem(tuple(servers), layers, tuple(containers))

    def _rings(self, new: list[tuple[str, AppRecord, str]], problem: Problem) -> list[Problem]:
        """The problem over the nodes nearest the instances' `near` host first, then one hop
        farther each time, and last over every node: placement tries them in turn (layer-aware
        within each). Instances that name different hosts, or none, get every node at once."""
        wanted = {app.spec.service(service).near for _, app, service in new}
        if len(wanted) != 1 or not next(iter(wanted)):
            return [problem]
        near = next(iter(wanted))
        view = self._network_view()
        if near not in view.host_switch:
            raise InvalidArgument(f"near: {near!r} is not a host of the network")
        reach = view.reach(view.host_switch[near])  # switch -> (hops to near's switch, bottleneck)
        far = 1 << 20
        distance = {s.name: reach.get(view.host_switch.get(s.name, ""), (far,))[0] for s in problem.servers}
        rings = []
        for limit in sorted(set(distance.values())):
            servers = tuple(s for s in problem.servers if distance[s.name] <= limit)
            rings.append(dataclasses.replace(problem, servers=servers))
        return rings

    def _place(self, new: list[tuple[str, AppRecord, str]], algorithm: str) -> PlacementResult:
        from controller.placement.model import ProblemError

        with self._lock:
            problem = self._problem(new)
        try:
            for ring in self._rings(new, problem)[:-1]:
                try:
                    result = self.placer.solve(ring, algorithm)
                except ProblemError:  # nothing fits there (a node too small for an image): farther
                    continue
                if result.solved:
                    return result
            result = self.placer.solve(problem, algorithm)
        except ProblemError as exc:  # e.g. a container larger than every node's free storage
            raise FailedPrecondition(f"cannot place: {exc}") from None
        if not result.solved:
            free = ", ".join(f"{s.name} {s.cpu:g} m CPU / {s.storage / 1e6:.1f} MB free" for s in problem.servers)
            raise FailedPrecondition(f"no placement fits the ready nodes ({result.status}: "
                                     f"{result.message or 'infeasible'}); ready: {free}")
        return result

    def _new_instances(self, app: AppRecord, counts: dict[str, int]) -> list[tuple[str, AppRecord, str]]:
        return [(container_name(service, self.store.next_number("instance")), app, service)
                for service, count in counts.items() for _ in range(count)]

    # -- applications ----------------------------------------------------------------------------
    def deploy(self, spec: AppSpec, *, algorithm: str = "", peers: bool = True) -> DeploymentView:
        try:
            spec = validate_app(spec)
        except AppError as exc:
            raise InvalidArgument(str(exc)) from None
        algorithm = algorithm or DEFAULT_ALGORITHM
        with self._placing:
            with self._lock:
                if spec.name in self.apps:
                    raise AlreadyExists(f"application {spec.name!r} exists; delete it first or scale it")
            images = {s.name: self.images.prepare(s) for s in spec.services}
            record = AppRecord(spec, algorithm, peers, self.clock(), images, {})
            new = self._new_instances(record, {s.name: s.replicas for s in spec.services})
            result = self._place(new, algorithm) if new else None
            with self._lock:
                vips = []
                try:
                    # versions share one VIP; a VNF has none
                    for group in dict.fromkeys(s.group for s in spec.services if not s.vnf_kind):
                        record.vips[group] = self.vips.allocate()
                        vips.append(record.vips[group])
                except DomainError:
                    for vip in vips:
                        self.vips.release(vip)
                    raise
                record.planned_bytes = round((result.objective or 0) * self.size_unit) if result else 0
                instances = [InstanceRecord(name, spec.name, service, result.placement[name], self.clock())
                             for name, _, service in new]
                self.store.save_app(record, instances)
                self.apps[spec.name] = record
                self.instances.update({i.name: i for i in instances})
        log.info("deployed %s: %d services, %d instances by %s (%d bytes to store anew)", spec.name,
                 len(spec.services), len(new), algorithm, record.planned_bytes)
        self._wake.set()
        return self.deployment(spec.name)

    def scale(self, app_name: str, service: str, replicas: int) -> DeploymentView:
        if replicas < 0:
            raise InvalidArgument(f"replicas must not be negative, got {replicas}")
        with self._placing:
            with self._lock:
                app = self._app(app_name)
                if service not in {s.name for s in app.spec.services}:
                    raise NotFound(f"application {app_name} has no service {service!r} "
                                   f"(services: {', '.join(s.name for s in app.spec.services)})")
                current = sorted((i for i in self.instances.values() if i.app == app_name and i.service == service),
                                 key=lambda i: (i.created, i.name))
            new, removed = [], []
            if replicas > len(current):
                new = self._new_instances(app, {service: replicas - len(current)})
                result = self._place(new, app.algorithm)
            else:
                removed = [i.name for i in current[replicas:]]
            with self._lock:
                services = tuple(
                    ServiceSpec(**{**s.__dict__, "replicas": replicas}) if s.name == service else s
                    for s in app.spec.services)
                app.spec = AppSpec(app.spec.name, services)
                instances = [InstanceRecord(name, app_name, service, result.placement[name], self.clock())
                             for name, _, _ in new]
                self.store.save_app(app, instances, removed)
                self.instances.update({i.name: i for i in instances})
                for name in removed:
                    del self.instances[name]
        log.info("scaled %s/%s to %d replicas (+%d -%d)", app_name, service, replicas, len(new), len(removed))
        self._wake.set()
        return self.deployment(app_name)

    def delete(self, app_name: str) -> None:
        with self._placing, self._lock:
            app = self._app(app_name)
            self.store.delete_app(app_name)
            del self.apps[app_name]
            for name in [n for n, i in self.instances.items() if i.app == app_name]:
                del self.instances[name]
            for service, vip in app.vips.items():
                self.vips.release(vip)
                self._routes_to_remove.add(route_name(app_name, service))
        log.info("deleted %s", app_name)
        self._wake.set()

    def _app(self, name: str) -> AppRecord:
        if name not in self.apps:
            known = ", ".join(sorted(self.apps)) or "none"
            raise NotFound(f"no application named {name!r} (applications: {known})")
        return self.apps[name]

    def deployment(self, name: str) -> DeploymentView:
        with self._lock:
            app = self._app(name)
            views = [self._instance_view(i) for i in sorted(self.instances.values(), key=lambda i: (i.service, i.name))
                     if i.app == name]
            routes = self._routes or {}
            endpoints = {}
            for service in app.spec.services:
                if service.vnf_kind:  # no route: its running instances
                    endpoints[service.name] = sum(1 for v in views if v.record.service == service.name
                                                  and v.phase == "running")
                    continue
                route = routes.get(route_name(name, service.group))
                pods = {f"{i.node}/{i.name}" for i in self.instances.values()
                        if i.app == name and i.service == service.name}
                endpoints[service.name] = sum(1 for e in route[2] if e.host in pods) if route else 0
            ready = (all(v.phase == "running" for v in views)
                     and all(endpoints[s.name] == s.replicas for s in app.spec.services))
            return DeploymentView(app, views, endpoints, ready)

    def deployments(self) -> list[DeploymentView]:
        with self._lock:
            return [self.deployment(name) for name in sorted(self.apps)]

    def _instance_view(self, instance: InstanceRecord) -> InstanceView:
        if not self._ready(instance.node):
            return InstanceView(instance, "unknown", instance.ip, 0, f"node {instance.node} is not heartbeating")
        seen = self.observed[instance.node].containers.get(instance.name)
        if seen is None:
            phase = "failed" if instance.message else "pending"
            return InstanceView(instance, phase, instance.ip, 0, instance.message)
        if seen.ready:  # the agent reports ready only a running process
            return InstanceView(instance, "running", seen.ip, seen.restarts, "")
        if seen.running:
            port = self.apps[instance.app].spec.service(instance.service).target_port
            return InstanceView(instance, "starting", seen.ip, seen.restarts,
                                f"its process runs but does not listen on port {port} yet")
        return InstanceView(instance, "failed", seen.ip, seen.restarts, "its process died; its node restarts it")

    # -- reconcile -----------------------------------------------------------------------------
    def reconcile_once(self) -> None:
        self._evict_lost_nodes()
        self._converge_nodes()
        self._converge_routes()

    def _evict_lost_nodes(self) -> None:
        now = self.clock()
        with self._lock:
            lost = [name for name in self.nodes
                    if not self._ready(name)
                    and now - max(self.observed[name].last_heartbeat, self.started_at) > self.evict_after]
            stranded = [i for i in self.instances.values() if i.node in lost]
        if not stranded:
            return
        with self._placing:
            by_app: dict[str, list[InstanceRecord]] = {}
            for instance in stranded:
                by_app.setdefault(instance.app, []).append(instance)
            for app_name, old in by_app.items():
                app = self.apps.get(app_name)
                if app is None:
                    continue
                counts: dict[str, int] = {}
                for instance in old:
                    counts[instance.service] = counts.get(instance.service, 0) + 1
                new = self._new_instances(app, counts)
                try:
                    result = self._place(new, app.algorithm)
                except DomainError as exc:
                    log.warning("cannot move %s's instances off %s yet: %s", app_name,
                                ", ".join(sorted({i.node for i in old})), exc)
                    continue
                with self._lock:
                    records = [InstanceRecord(name, app_name, service, result.placement[name], self.clock())
                               for name, _, service in new]
                    self.store.replace_instances(records, [i.name for i in old])
                    for instance in old:
                        self.instances.pop(instance.name, None)
                    self.instances.update({i.name: i for i in records})
                log.warning("node(s) %s lost: %s's %s rescheduled to %s", ", ".join(sorted({i.node for i in old})),
                            app_name, ", ".join(i.name for i in old), ", ".join(f"{r.name}@{r.node}" for r in records))

    def _missing_layers(self, instance: InstanceRecord) -> set[str]:
        held = self.observed[instance.node].layers
        return {d for d, _ in self.apps[instance.app].images[instance.service].layers if d not in held}

    def _converge_nodes(self) -> None:
        now = self.clock()
        starts, removals = [], []
        with self._lock:
            # Layers on their way to some node: with peers, another node needing one waits for that
            # pull to finish and then fetches it from there (the first pull seeds the cluster).
            arriving = {d: self.instances[n].node for n in self._inflight if n in self.instances
                        for d in self._missing_layers(self.instances[n])}
            held_somewhere = {d for name, o in self.observed.items() if self._ready(name) for d in o.layers}
            for name, node in self.nodes.items():
                if not self._ready(name):
                    continue
                seen = self.observed[name].containers
                wanted = {i.name for i in self.instances.values() if i.node == name}
                for instance_name in sorted(wanted - set(seen)):
                    if instance_name in self._inflight or self._retry_at.get(instance_name, 0) > now:
                        continue
                    instance = self.instances[instance_name]
                    missing = self._missing_layers(instance)
                    if self.apps[instance.app].peers and any(
                            arriving.get(d, name) != name and d not in held_somewhere for d in missing):
                        continue  # a peer will hold it shortly
                    arriving.update({d: name for d in missing})
                    self._inflight.add(instance_name)
                    starts.append(instance)
                for container in seen.values():
                    if (container.labels.get(OWNER_LABEL) == OWNER and container.name not in wanted
                            and container.name not in self._inflight):
                        self._inflight.add(container.name)
                        removals.append((node, container.name))
        for instance in starts:
            self._pool.submit(self._start, instance)
        for node, name in removals:
            self._pool.submit(self._remove, node, name)

    def _start(self, instance: InstanceRecord) -> None:
        try:
            with self._lock:
                app = self.apps.get(instance.app)
                node = self.nodes[instance.node]
                if app is None or self.instances.get(instance.name) is not instance:
                    return  # deleted or moved meanwhile
                request = self._run_request(app, instance)
            try:
                result = self.agents.run(node, request)
            except AlreadyExists:  # started before a restart of ours: the next heartbeat shows it
                return
            except DomainError as exc:
                with self._lock:
                    failures = self._failures[instance.name] = self._failures.get(instance.name, 0) + 1
                    self._retry_at[instance.name] = self.clock() + min(2.0 ** failures, 30.0)
                    instance.message = f"starting on {instance.node} failed: {exc}"
                    self.store.save_instance(instance)
                log.warning("%s: %s", instance.name, instance.message)
                return
            with self._lock:
                instance.ip, instance.started, instance.message = result.ip, True, ""
                instance.pulled_bytes, instance.peer_bytes = result.pulled_bytes, result.peer_bytes
                self._failures.pop(instance.name, None)
                self._retry_at.pop(instance.name, None)
                if self.instances.get(instance.name) is instance:
                    self.store.save_instance(instance)
                # seen at once, not only at the next heartbeat: the route follows sooner, and the
                # layers it pulled can seed the next node straight away
                observed = self.observed[instance.node]
                observed.containers[instance.name] = ContainerView(instance.name, True, result.ip, 0,
                                                                   dict(request.labels), result.ready)
                observed.layers.update(app.images[instance.service].layers)
            log.info("started %s on %s at %s (%d bytes from the registry, %d from peers)", instance.name,
                     instance.node, result.ip, result.pulled_bytes, result.peer_bytes)
            self._wake.set()
        except Exception:
            log.exception("starting %s failed", instance.name)
        finally:
            with self._lock:
                self._inflight.discard(instance.name)

    def _run_request(self, app: AppRecord, instance: InstanceRecord) -> RunRequest:
        spec = app.spec.service(instance.service)
        image = app.images[instance.service]
        held = self.observed[instance.node].layers
        missing = [(d, s) for d, s in image.layers if d not in held]
        sources = {}
        if app.peers and missing:
            holders: dict[str, list[str]] = {}
            for name, observed in self.observed.items():
                if name != instance.node and self._ready(name) and self.nodes[name].blob_address:
                    for digest, _ in missing:
                        if digest in observed.layers:
                            holders.setdefault(digest, []).append(name)
            if holders:
                plan = plan_sources(self._network_view(), instance.node, missing, holders, self.registry_host)
                sources = {d: self.nodes[s.host].blob_address for d, s in plan.items() if s.kind == "peer"}
        # a dependency on a version is a call to its service's VIP, by the service's name
        dependencies = ",".join(dict.fromkeys(f"{app.spec.service(d).group}:{app.spec.service(d).port}"
                                              for d in spec.dependencies))
        env = (f"STRATA_APP={app.spec.name}", f"STRATA_SERVICE={spec.name}", f"STRATA_MESH_SERVICE={spec.group}",
               f"STRATA_INSTANCE={instance.name}", f"STRATA_NODE={instance.node}", f"STRATA_PORT={spec.target_port}",
               f"STRATA_DEPENDENCIES={dependencies}")
        hosts = {**{s.name: app.vips[s.group] for s in app.spec.services if not s.vnf_kind}, **app.vips}
        labels = {OWNER_LABEL: OWNER, APP_LABEL: app.spec.name, SERVICE_LABEL: spec.name}
        if spec.vnf_kind:  # one-armed on its pod interface, on a raw socket
            env = (f"STRATA_VNF_KIND={spec.vnf_kind}", f"STRATA_VNF_CONFIG={spec.vnf_config or '{}'}",
                   f"STRATA_VNF_NAME={instance.name}", "STRATA_VNF_INTERFACE=eth0")
            return RunRequest(instance.name, image.reference, spec.cpu_millicores, env, tuple(VNF_PROGRAM), labels,
                              hosts, sources, ("CAP_NET_RAW",))
        return RunRequest(instance.name, image.reference, spec.cpu_millicores, env, tuple(PROGRAM), labels, hosts,
                          sources, ready_port=spec.target_port)

    def _network_view(self) -> NetworkView:
        now = self.clock()
        if self._view is None or now - self._view[0] > 5.0:
            self._view = (now, self.sdn.view())
        return self._view[1]

    def _remove(self, node: NodeRecord, name: str) -> None:
        try:
            self.agents.remove(node, name)
            with self._lock:
                self.observed[node.name].containers.pop(name, None)
            log.info("removed %s from %s (no longer desired)", name, node.name)
        except NotFound:
            pass
        except DomainError as exc:
            log.warning("removing %s from %s failed: %s", name, node.name, exc)
        except Exception:
            log.exception("removing %s from %s failed", name, node.name)
        finally:
            with self._lock:
                self._inflight.discard(name)

    def desired_routes(self) -> dict[str, tuple[str, int, tuple[RouteEndpoint, ...]]]:
        """mesh service name -> (VIP, port, endpoints): every service (a version's instances join
        the service it is a version of, as its subset), with the instances running now (none is
        fine: the mesh keeps the service and its policy)."""
        routes = {}
        with self._lock:
            for app in self.apps.values():
                for spec in app.spec.services:
                    if spec.vnf_kind:
                        continue  # no VIP: chains steer to VNFs
                    endpoints = []
                    for instance in self.instances.values():
                        if instance.app != app.spec.name or instance.service != spec.name:
                            continue
                        if not self._ready(instance.node):
                            continue
                        seen = self.observed[instance.node].containers.get(instance.name)
                        if seen is not None and seen.ready and seen.ip:
                            endpoints.append(RouteEndpoint(f"{instance.node}/{instance.name}", seen.ip,
                                                           spec.target_port, spec.version))
                    name = route_name(app.spec.name, spec.group)
                    _, _, before = routes.get(name, (None, None, ()))
                    routes[name] = (app.vips[spec.group], spec.port,
                                    tuple(sorted((*before, *endpoints), key=lambda e: e.host)))
        return routes

    def _converge_routes(self) -> None:
        try:
            if self._routes is None:
                self._routes = self.mesh.routes()
            desired = self.desired_routes()
            with self._lock:
                owned = {route_name(a.spec.name, s.group) for a in self.apps.values() for s in a.spec.services
                         if not s.vnf_kind}
                remove = (self._routes_to_remove | (owned - set(desired))) & set(self._routes)
                self._routes_to_remove &= set(self._routes)
            for name in sorted(remove):
                self.mesh.remove_route(name)
                self._routes.pop(name, None)
                self._routes_to_remove.discard(name)
            for name, route in sorted(desired.items()):
                if self._routes.get(name) != route:
                    self.mesh.put_route(name, *route)
                    self._routes[name] = route
                    log.info("route %s: %s:%d -> %s", name, route[0], route[1],
                             ", ".join(f"{e.host}" for e in route[2]))
        except DomainError as exc:
            self._routes = None  # read the mesh's state again next pass
            log.warning("service routes not converged yet: %s", exc)

    # -- the loop ------------------------------------------------------------------------------
    def start(self, interval: float = 0.5) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.reconcile_once()
                except Exception:
                    log.exception("reconcile pass failed")
                self._wake.wait(interval)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="reconcile", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
