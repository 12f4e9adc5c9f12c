"""The orchestrator's API over one store, and the controllers it runs.

What the servicer, the daemon and the metrics call; the controllers make what runs equal what is
desired, as Kubernetes' API server and controller manager do.

The API validates and records desired state, says what changed, and returns at once: Deploy
stores the application with its instances pending (placed nowhere yet), Scale adds pending
instances or removes the newest, Delete forgets the application. Heartbeats record what nodes run.
The controllers (controllers/), each a thread woken by the changes it watches and at least every
`resync` seconds, do the rest:
  images          each service's image resolved, built, pushed to the registry (its progress shown)
  vips            a VIP per service from the service range; deleted applications' VIPs freed
  dataplane-probe a silent node's pods probed on their addresses: those that answer keep serving
  node-lifecycle  nodes not ready after `node_timeout` s of silence, lost after `evict_after` s
                  (unless their pods still answer)
  scheduler       pending instances placed once their images are ready; lost nodes' instances moved
  node-sync       placed instances started on their nodes, undesired containers removed
  routes          each service's VIP routed through the mesh to its ready instances
  policies        every application's network policies resolved against the pods, enforced by the SDN

Everything outside is a port passed in (the placement service, the SDN, the mesh, the node agents,
the image registry, the clock), so this is tested with fakes and run with gRPC adapters.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from component_base.errors import AlreadyExists, InvalidArgument, NotFound

from api import bounds
from controller.placement.algorithms import ALGORITHMS
from api.app import AppError, AppSpec, validate_app
from api.network_policy import NetworkPolicy, check_policies
from .capacity import Requests, check_capacity, requests_of, total
from .cluster import APPS, INSTANCES, NODES, OOM_KILLED, ClusterState, ContainerView, ImageStatus, Observed
from .controllers.base import ControllerLoop
from .controllers.client_sites import unknown_clients
from .controllers.dataplane import DataPlaneProbe
from .controllers.images import ImageController
from .controllers.node_sync import APP_LABEL, OWNER, OWNER_LABEL, WORKERS, NodeSyncController
from .controllers.nodes import NodeLifecycleController
from .controllers.policies import PolicyController
from .controllers.routes import RouteController, route_name
from .controllers.scheduling import Scheduler, container_name
from .controllers.service_rules import check_rules
from .controllers.switch_graph import SwitchGraphCache
from .controllers.vips import VipController
from .ports import IMAGE_FAILED, IMAGE_READY, Agents, Images, Mesh, Placer, Prober, Sdn
from .store import AppRecord, InstanceRecord, NodeRecord, Store

log = logging.getLogger("strata.orchestrator")

DEFAULT_ALGORITHM = "strata"
MAX_DIGEST = 135  # characters: "sha512:" and 128 hex digits
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")  # a host name of the emulated network
RESYNC = 5.0  # s between a controller's passes when nothing it watches changes (the safety net)


def check_node(record: NodeRecord) -> None:
    """A registration's fields, bounded (docs/security.md): the addresses must be the node's own."""
    if not record.name or not record.agent_address:
        raise InvalidArgument("a node needs a name and an agent address")
    if not NODE_NAME.fullmatch(record.name):
        raise InvalidArgument(f"node name {record.name[:80]!r}: use 1-63 letters, digits, '.', '_' and '-', "
                              "starting with a letter or digit")
    try:
        ipaddress.IPv4Address(record.ip)
    except ValueError:
        raise InvalidArgument(f"node {record.name}: ip must be an IPv4 address, got {record.ip[:80]!r}") from None
    bounds.text("switch", record.switch, bounds.MAX_NAME)
    bounds.agent_address("agent_address", record.agent_address, record.ip)
    if record.blob_address:
        bounds.blob_url("blob_address", record.blob_address, record.ip)
    for what, high in (("cpu_millicores", bounds.MAX_MILLICORES), ("storage_bytes", bounds.MAX_BYTES),
                       ("bandwidth_mbps", bounds.MAX_MBPS), ("memory_mib", bounds.MAX_MEMORY_MIB)):
        bounds.finite(f"node {record.name}: {what}", getattr(record, what), 0, high)


def check_heartbeat(containers: Sequence[ContainerView], layers: dict[str, int]) -> None:
    """A heartbeat's lists, bounded: at most MAX_ITEMS containers and layers, each entry well formed."""
    bounds.count("containers", containers)
    bounds.count("layers", layers)
    for k, c in enumerate(containers):
        bounds.text(f"containers[{k}].name", c.name, bounds.MAX_NAME)
        bounds.text(f"containers[{k}].ip", c.ip, 64)
        bounds.text(f"containers[{k}].last_termination_reason", c.last_termination_reason, bounds.MAX_NAME)
        bounds.string_map(f"containers[{k}].labels", c.labels)
    for digest, size in layers.items():
        bounds.text("layers: a digest", digest, MAX_DIGEST)
        bounds.whole(f"layers[{digest[:19]}]", size, 0, bounds.MAX_BYTES)


@dataclass
class InstanceView:
    record: InstanceRecord
    phase: str  # pending | starting | running | failed | unknown
    ip: str
    restarts: int
    message: str
    last_termination_reason: str = ""  # why its last process ended, as its node reports ("OOMKilled"); "" = not known


@dataclass
class ImageView:
    phase: str       # ports.IMAGE_*
    message: str     # what it is doing, or why it failed
    reference: str   # where the registry keeps it, once ready
    layers: int
    size_bytes: int


@dataclass
class DeploymentView:
    app: AppRecord
    instances: list[InstanceView]
    endpoints: dict[str, int]  # service -> running instances its route points at
    ready: bool
    images: dict[str, ImageView]  # service -> its image's progress


@dataclass
class NodeView:
    record: NodeRecord
    observed: Observed
    ready: bool
    cpu_allocated: float
    bandwidth_allocated: float
    memory_allocated: float = 0.0  # MiB requested by the containers placed there
    condition: str = "ready"  # ready | agent-unreachable | not-ready | lost (ClusterState.condition)


class Orchestrator:
    def __init__(self, store: Store, *, placer: Placer, sdn: Sdn, mesh: Mesh, agents: Agents, images: Images,
                 service_range: str, registry_host: str, clock: Callable[[], float] = time.time,
                 node_timeout: float = 4.0, evict_after: float = 10.0, heartbeat_interval: float = 1.0,
                 workers: int = WORKERS, size_unit: float = 1.0, resync: float = RESYNC, startup_weight: float = 0.0,
                 latency_weight: float = 0.0, prober: Prober | None = None):
        self.state = ClusterState(store, service_range=service_range, clock=clock, node_timeout=node_timeout,
                                  evict_after=evict_after)
        self.store = store
        self.clock = clock
        self.images = images
        self.heartbeat_interval = heartbeat_interval
        self.graph = SwitchGraphCache(sdn, clock)
        self.node_sync = NodeSyncController(self.state, agents, self.graph, registry_host=registry_host,
                                            workers=workers)
        # in the order one pass of each takes a deploy forward (reconcile_once)
        self.controllers = [ImageController(self.state, images), VipController(self.state),
                            NodeLifecycleController(self.state),
                            Scheduler(self.state, placer, self.graph, size_unit=size_unit,
                                      startup_weight=startup_weight, latency_weight=latency_weight,
                                      registry_host=registry_host),
                            self.node_sync, RouteController(self.state, mesh), PolicyController(self.state, sdn)]
        if prober is not None:  # silent nodes' pods probed on the data plane (controllers/dataplane.py)
            self.controllers.insert(2, DataPlaneProbe(self.state, prober))
        self.resync = resync
        self._loops: list[ControllerLoop] = []

    # what the daemon prints and the tests read
    @property
    def nodes(self) -> dict[str, NodeRecord]:
        return self.state.nodes

    @property
    def apps(self) -> dict[str, AppRecord]:
        return self.state.apps

    @property
    def instances(self) -> dict[str, InstanceRecord]:
        return self.state.instances

    @property
    def vips(self):
        return self.state.vips

    # -- nodes ---------------------------------------------------------------------------------
    def register_node(self, record: NodeRecord) -> NodeView:
        check_node(record)
        with self.state.lock:
            self.store.save_node(record)
            known = record.name in self.state.nodes
            self.state.nodes[record.name] = record
            self.state.observed.setdefault(record.name, Observed())
        log.info("node %s %sregistered (%g millicores, %d bytes of storage)", record.name,
                 "re-" if known else "", record.cpu_millicores, record.storage_bytes)
        self.state.changes.notify(NODES)
        return self.node_view(record.name)

    def heartbeat(self, name: str, *, containers: Sequence[ContainerView], layers: dict[str, int],
                  storage_used: int, pulled_bytes_total: int, peer_bytes_total: int) -> float:
        check_heartbeat(containers, layers)
        with self.state.lock:
            if name not in self.state.nodes:
                raise NotFound(f"node {name!r} is not registered; register first")
            observed = self.state.observed[name]
            was_ready = self.state.ready(name)
            seen = {c.name: c for c in containers}
            changed = not was_ready or seen != observed.containers or set(layers) != set(observed.layers)
            observed.last_heartbeat = self.clock()
            observed.containers = seen
            observed.layers = dict(layers)
            observed.storage_used = storage_used
            observed.pulled_bytes_total, observed.peer_bytes_total = pulled_bytes_total, peer_bytes_total
        if not was_ready:
            log.info("node %s is ready", name)
        if changed:  # a node reporting the same again wakes nobody
            self.state.changes.notify(NODES)
        return self.heartbeat_interval

    def node_view(self, name: str) -> NodeView:
        with self.state.lock:
            cpu, bandwidth, memory = self.state.allocated(name)
            return NodeView(self.state.nodes[name], self.state.observed[name], self.state.ready(name), cpu,
                            bandwidth, memory, self.state.condition(name))

    def list_nodes(self) -> list[NodeView]:
        with self.state.lock:
            return [self.node_view(name) for name in sorted(self.state.nodes)]

    # -- applications ----------------------------------------------------------------------------
    def deploy(self, spec: AppSpec, *, algorithm: str = "", peers: bool = True) -> DeploymentView:
        """Records the application with its instances pending and returns: its images are built, its
        VIPs allocated and its instances placed and started by the controllers. Refuses at once what
        can be told at once: a bad spec or image reference, a `near` host or a client site or host
        (strata.io/clients) the network lacks, a hard
        rule no capacity can satisfy (check_rules), more than the usable nodes hold in all (check_capacity)."""
        if algorithm and algorithm not in ALGORITHMS:
            raise InvalidArgument(f"algorithm {algorithm[:60]!r} is not one of {', '.join(ALGORITHMS)}")
        try:
            spec = validate_app(spec)
        except AppError as exc:
            raise InvalidArgument(str(exc)) from None
        for service in spec.services:
            self.images.check(service)
        near = {s.near for s in spec.services if s.near}
        clients = {s.name: s.clients for s in spec.services if s.clients}
        if near or clients:
            graph = self.graph.get()  # may ask the SDN: before taking the lock
            for host in sorted(near):
                if host not in graph.host_switch:
                    raise InvalidArgument(f"near: {host!r} is not a host of the network")
            for service, name in unknown_clients(graph, clients):
                raise InvalidArgument(f'service "{service}": clients: "{name}" is neither a site (a switch) nor a '
                                      "host of the network")
        state = self.state
        with state.lock:
            if spec.name in state.apps:
                raise AlreadyExists(f"application {spec.name!r} exists; delete it first or scale it")
            for service in spec.services:
                check_rules(spec.name, service, service.replicas, self._usable_nodes())
            check_capacity(f"deploying {spec.name}", self._usable_nodes(), self._requested(),
                           total(requests_of(s, s.replicas) for s in spec.services))
            record = AppRecord(spec, algorithm or DEFAULT_ALGORITHM, peers, self.clock(), {}, {})
            instances = self._new_instances(record, {s.name: s.replicas for s in spec.services})
            self.store.save_app(record, instances)
            state.apps[spec.name] = record
            state.instances.update({i.name: i for i in instances})
            for service in spec.services:
                state.images[(spec.name, service.name)] = ImageStatus()
            state.unplaced.pop(spec.name, None)
            state.no_vip.pop(spec.name, None)
        log.info("deployed %s: %d services, %d instances to place by %s", spec.name, len(spec.services),
                 len(instances), record.algorithm)
        state.changes.notify(APPS, INSTANCES)
        return self.deployment(spec.name)

    def _new_instances(self, app: AppRecord, counts: dict[str, int]) -> list[InstanceRecord]:
        """Pending instances (placed nowhere yet) with names never used before."""
        return [InstanceRecord(container_name(service, self.store.next_number("instance")), app.spec.name, service,
                               "", self.clock())
                for service, count in counts.items() for _ in range(count)]

    def _usable_nodes(self) -> list[NodeRecord]:
        """The nodes placement may use, now or once they heartbeat again: those not lost (call with
        the lock held)."""
        return [node for name, node in sorted(self.state.nodes.items()) if name not in self.state.lost]

    def _requested(self) -> Requests:
        """What every instance of every application requests, placed or pending (lock held)."""
        return total(requests_of(self.state.apps[i.app].spec.service(i.service)) for i in self.state.instances.values())

    def scale(self, app_name: str, service: str, replicas: int) -> DeploymentView:
        """New replicas are pending (the scheduler places them); removed ones are the newest. More
        replicas than the service's hard rules allow on the nodes (check_rules), or than the usable
        nodes' CPU, memory and bandwidth hold in all (check_capacity), are refused, changing nothing."""
        bounds.whole("replicas", replicas, 0, bounds.MAX_REPLICAS)
        state = self.state
        with state.lock:
            app = self._app(app_name)
            if service not in {s.name for s in app.spec.services}:
                raise NotFound(f"application {app_name} has no service {service!r} "
                               f"(services: {', '.join(s.name for s in app.spec.services)})")
            current = sorted((i for i in state.instances.values() if i.app == app_name and i.service == service),
                             key=lambda i: (i.created, i.name))
            if replicas > len(current):
                check_rules(app_name, app.spec.service(service), replicas, self._usable_nodes())
                check_capacity(f"scaling {app_name}/{service} to {replicas} replicas", self._usable_nodes(),
                               self._requested(), requests_of(app.spec.service(service), replicas - len(current)))
            new = self._new_instances(app, {service: replicas - len(current)}) if replicas > len(current) else []
            removed = [i.name for i in current[replicas:]]
            app.spec = dataclasses.replace(app.spec, services=tuple(
                dataclasses.replace(s, replicas=replicas) if s.name == service else s for s in app.spec.services))
            self.store.save_app(app, new, removed)
            state.instances.update({i.name: i for i in new})
            for name in removed:
                del state.instances[name]
        log.info("scaled %s/%s to %d replicas (+%d -%d)", app_name, service, replicas, len(new), len(removed))
        state.changes.notify(APPS, INSTANCES)
        return self.deployment(app_name)

    def delete(self, app_name: str) -> None:
        state = self.state
        with state.lock:
            app = self._app(app_name)
            self.store.delete_app(app_name)
            del state.apps[app_name]
            for name in [n for n, i in state.instances.items() if i.app == app_name]:
                del state.instances[name]
            for key in [k for k in state.images if k[0] == app_name]:
                del state.images[key]
            state.unplaced.pop(app_name, None)
            state.no_vip.pop(app_name, None)
            state.routes_to_remove.update(route_name(app_name, group) for group in app.vips)
        log.info("deleted %s", app_name)
        state.changes.notify(APPS, INSTANCES)

    # -- network policies -----------------------------------------------------------------------
    def apply_policies(self, app_name: str, policies: Sequence[NetworkPolicy]) -> list[NetworkPolicy]:
        """Adds the policies to the application, each replacing its namesake; the application's
        policies after. The policy controller has them enforced."""
        state = self.state
        with state.lock:
            app = self._app(app_name)
            kept = {p.name: p for p in app.spec.policies}
            kept.update((p.name, p) for p in check_policies(app_name, policies))
            spec = dataclasses.replace(app.spec, policies=check_policies(app_name, kept.values()))
            app.spec = spec
            self.store.save_app(app)
        log.info("%s: network policies %s applied", app_name, ", ".join(p.name for p in policies))
        state.changes.notify(APPS)
        return list(spec.policies)

    def list_policies(self, app_name: str = "") -> list[NetworkPolicy]:
        with self.state.lock:
            apps = [self._app(app_name)] if app_name else sorted(self.state.apps.values(), key=lambda a: a.spec.name)
            return [p for app in apps for p in sorted(app.spec.policies, key=lambda p: p.name)]

    def delete_policy(self, app_name: str, name: str) -> None:
        state = self.state
        with state.lock:
            app = self._app(app_name)
            if name not in {p.name for p in app.spec.policies}:
                known = ", ".join(p.name for p in app.spec.policies) or "none"
                raise NotFound(f"application {app_name} has no network policy {name!r} (policies: {known})")
            app.spec = dataclasses.replace(app.spec, policies=tuple(p for p in app.spec.policies if p.name != name))
            self.store.save_app(app)
        log.info("%s: network policy %s removed", app_name, name)
        state.changes.notify(APPS)

    def _app(self, name: str) -> AppRecord:
        if name not in self.state.apps:
            known = ", ".join(sorted(self.state.apps)) or "none"
            raise NotFound(f"no application named {name!r} (applications: {known})")
        return self.state.apps[name]

    def deployment(self, name: str) -> DeploymentView:
        state = self.state
        with state.lock:
            app = self._app(name)
            mine = sorted((i for i in state.instances.values() if i.app == name), key=lambda i: (i.service, i.name))
            views = [self._instance_view(app, i) for i in mine]
            routes = state.routes or {}
            endpoints = {}
            for service in app.spec.services:
                if service.vnf_kind:  # no route: its running instances
                    endpoints[service.name] = sum(1 for v in views if v.record.service == service.name
                                                  and v.phase == "running")
                    continue
                route = routes.get(route_name(name, service.group))
                pods = {f"{i.node}/{i.name}" for i in mine if i.service == service.name and i.node}
                endpoints[service.name] = sum(1 for e in route[2] if e.host in pods) if route else 0
            # ready: exactly the desired instances, so none of a scale-in's surplus may still run
            ready = (all(v.phase == "running" for v in views)
                     and all(endpoints[s.name] == s.replicas for s in app.spec.services)
                     and not self._leaving(name))
            return DeploymentView(app, views, endpoints, ready,
                                  {s.name: self._image_view(app, s.name) for s in app.spec.services})

    def _leaving(self, app_name: str) -> list[str]:
        """Containers of the application that ready nodes still report and that are no longer its
        instances: removed ones not gone yet (lock held). A silent node's are judged when it is back."""
        return sorted(c.name for node, observed in self.state.observed.items() if self.state.ready(node)
                      for c in observed.containers.values()
                      if c.labels.get(OWNER_LABEL) == OWNER and c.labels.get(APP_LABEL) == app_name
                      and c.name not in self.state.instances)

    def deployments(self) -> list[DeploymentView]:
        with self.state.lock:
            return [self.deployment(name) for name in sorted(self.state.apps)]

    def _image_view(self, app: AppRecord, service: str) -> ImageView:
        image = app.images.get(service)
        if image is not None:
            return ImageView(IMAGE_READY, "", image.reference, len(image.layers), sum(s for _, s in image.layers))
        status = self.state.images.get((app.spec.name, service), ImageStatus())
        return ImageView(status.phase, status.message, "", 0, 0)

    def _instance_view(self, app: AppRecord, instance: InstanceRecord) -> InstanceView:
        state = self.state
        if not instance.node:
            return InstanceView(instance, "pending", "", 0, self._pending_reason(app, instance.service))
        if not state.ready(instance.node):
            return InstanceView(instance, "unknown", instance.ip, 0, f"node {instance.node} is not heartbeating")
        seen = state.observed[instance.node].containers.get(instance.name)
        if seen is None:
            phase = "failed" if instance.message else "pending"
            message = instance.message
            if not message and not state.has_vips(app):
                message = f"waiting for its VIPs: {state.no_vip.get(app.spec.name, 'being allocated')}"
            return InstanceView(instance, phase, instance.ip, 0, message)
        spec, reason = app.spec.service(instance.service), seen.last_termination_reason
        if seen.ready:  # the agent reports ready only a running process
            return InstanceView(instance, "running", seen.ip, seen.restarts, "", reason)
        if seen.running:
            return InstanceView(instance, "starting", seen.ip, seen.restarts,
                                f"its process runs but does not listen on port {spec.target_port} yet", reason)
        death = (f"its process went over its memory limit ({spec.memory_limit_mib:g} MiB) and was killed"
                 if reason == OOM_KILLED else "its process died")
        return InstanceView(instance, "failed", seen.ip, seen.restarts, f"{death}; its node restarts it", reason)

    def _pending_reason(self, app: AppRecord, service: str) -> str:
        """Why an instance is not placed yet (call with the lock held)."""
        image = self._image_view(app, service)
        if image.phase == IMAGE_FAILED:
            return f"its image failed: {image.message}"
        if image.phase != IMAGE_READY:
            return f"waiting for its image ({image.phase}{': ' + image.message if image.message else ''})"
        if app.spec.name in self.state.unplaced:
            return f"not placed: {self.state.unplaced[app.spec.name]}"
        return "waiting to be placed"

    # -- the controllers -----------------------------------------------------------------------
    def reconcile_once(self) -> None:
        """One pass of every controller in turn, on the caller's thread (when their loops do not run)."""
        for controller in self.controllers:
            controller.sync()

    def start(self) -> None:
        self._loops = [ControllerLoop(c, self.state.changes, self.resync) for c in self.controllers]
        for loop in self._loops:
            loop.start()

    def stop(self) -> None:
        for loop in self._loops:
            loop.stop()
        self.node_sync.stop()
        for controller in self.controllers:
            if isinstance(controller, DataPlaneProbe):
                controller.close()
