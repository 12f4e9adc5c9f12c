"""The scheduler: pending instances and lost nodes' instances placed through the placement service.

Layer-aware: a layer a node holds, or will hold for an instance already placed there, costs nothing
there (the incremental form of eqs. 1-9, docs/placement.md).

An application's pending instances are placed together, in one Solve, once none of their images is
still on its way (instances of a failed image stay pending). A lost node's instances get new names
and are placed again; only once placed do they replace the old ones (until then the old ones stay
where they are, and come back if their node does). What does not fit is said on the deployment and
tried again when nodes or applications change. All placement happens on this controller's thread,
so two decisions never see the same free capacity; no lock is held while the placer is asked.

A service's spread and anti-affinity rules go into the problem as its rules (named app/service, as
its containers' service), with the replicas it already runs on ready nodes; each node's zone is its
edge site, the switch it hangs off (service_rules.py). A placement that fails says the rules it
was tried under.

A service that declares its clients (strata.io/clients) gets them on its containers, with the
network section their delays are over (client_sites.py), whatever the algorithm, so every plan says
its client delay; the latency weight is asked of the algorithms with a client delay objective.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter

from component_base.errors import DomainError, FailedPrecondition, InvalidArgument
from controller.placement.algorithms import LATENCY_AWARE, STARTUP_AWARE
from controller.placement.model import Container, Layer, Problem, ProblemError, Server
from controller.placement.result import PlacementResult

from ..cluster import APPS, IMAGES, INSTANCES, NODES, ClusterState
from ..ports import Placer
from ..sources import SwitchGraph
from ..store import AppRecord, InstanceRecord
from .client_sites import with_clients
from .startup_network import with_network
from .switch_graph import SwitchGraphCache
from .service_rules import rules_note, service_rule, zone_of

log = logging.getLogger("strata.orchestrator")

CONTAINER_NAME_MAX = 40

NewInstance = tuple[str, AppRecord, str]  # (name, app, service)


def container_name(service: str, number: int) -> str:
    """`service-N`, N unique across the cluster: a replacement never reuses a name, so a node
    that comes back cannot confuse an old container with a new one."""
    suffix = f"-{number}"
    return service[:CONTAINER_NAME_MAX - len(suffix)].rstrip("-") + suffix


# MiB: what a node of known memory has left when its containers request all of it. The problem
# format reads a memory of 0 as "no memory limit", so a full node must keep a tiny positive one.
NO_MEMORY_LEFT = 1e-6


def free_memory(capacity_mib: float, requested_mib: float) -> float:
    """The node's memory in the placement problem, MiB: 0 (no limit) when the agent did not
    report a capacity, else what the placed containers' requests leave, never 0."""
    if capacity_mib <= 0:
        return 0.0
    return max(capacity_mib - requested_mib, NO_MEMORY_LEFT)


def problem_for(state: ClusterState, new: list[NewInstance], size_unit: float) -> Problem:
    """The ready nodes with what is left of them, and the new instances with their services'
    rules (call with the lock held). `size_unit`: bytes per unit of size in the problem."""
    servers, sizes = [], {}
    for app in {id(a): a for _, a, _ in new}.values():
        for image in app.images.values():
            sizes.update(dict(image.layers))
    by_node = state.by_node()
    for name in sorted(state.nodes):
        if not state.ready(name):
            continue
        node, observed, placed = state.nodes[name], state.observed[name], by_node.get(name, [])
        cpu, bandwidth, memory = state.allocated(name, placed)
        coming: dict[str, int] = {}  # layers of placed instances not stored yet
        for instance in placed:
            image = state.apps[instance.app].images.get(instance.service)
            for digest, size in image.layers if image else ():
                if digest not in observed.layers:
                    coming[digest] = size
        held = (set(observed.layers) | set(coming)) & set(sizes)
        free = node.storage_bytes - observed.storage_used - sum(coming.values())
        servers.append(Server(name, max(node.cpu_millicores - cpu, 0.0), max(free, 0) / size_unit,
                              max(node.bandwidth_mbps - bandwidth, 0.0), frozenset(held), zone_of(node),
                              memory=free_memory(node.memory_mib, memory)))
    if not servers:
        raise FailedPrecondition("no node is ready (none has sent a heartbeat recently)")
    containers = []
    for name, app, service in new:
        spec = app.spec.service(service)
        # The image reference and the app's service: kube-default scores whole images by name and
        # spreads a service's replicas.
        containers.append(Container(name, spec.cpu_millicores, spec.bandwidth_mbps,
                                    tuple(d for d, _ in app.images[service].layers), spec.image,
                                    f"{app.spec.name}/{service}", spec.memory_mib))
    layers = tuple(Layer(d, s / size_unit) for d, s in sizes.items())
    rules = []
    ready = {s.name for s in servers}
    running = Counter((i.app, i.service, i.node) for i in state.instances.values() if i.node in ready)
    for app, service in {(app.spec.name, service): (app, service) for _, app, service in new}.values():
        placed = {node: count for (a, s, node), count in running.items() if (a, s) == (app.spec.name, service)}
        rule = service_rule(f"{app.spec.name}/{service}", app.spec.service(service), placed)
        if rule is not None:
            rules.append(rule)
    return Problem(tuple(servers), layers, tuple(containers), rules=tuple(rules))


def near_rings(problem: Problem, near: str, graph: SwitchGraph) -> list[Problem]:
    """The problem over the nodes nearest the host `near` first, then one hop farther each time,
    and last over every node: placement tries them in turn (layer-aware within each). A required
    spread is over every node, so a problem with one is not cut into rings."""
    if near not in graph.host_switch:
        raise InvalidArgument(f"near: {near!r} is not a host of the network")
    if any(s.hard for rule in problem.rules for s in rule.spread):
        return [problem]
    reach = graph.reach(graph.host_switch[near])  # switch -> (hops to near's switch, bottleneck)
    far = 1 << 20
    distance = {s.name: reach.get(graph.host_switch.get(s.name, ""), (far,))[0] for s in problem.servers}
    return [_within(problem, {s.name for s in problem.servers if distance[s.name] <= limit})
            for limit in sorted(set(distance.values()))]


def _within(problem: Problem, names: set[str]) -> Problem:
    """The problem over the servers named, the rules' replicas placed elsewhere left out."""
    rules = tuple(dataclasses.replace(r, placed=tuple((s, n) for s, n in r.placed if s in names))
                  for r in problem.rules)
    return dataclasses.replace(problem, servers=tuple(s for s in problem.servers if s.name in names), rules=rules)


class Scheduler:
    name = "scheduler"
    watches = (APPS, IMAGES, NODES)

    def __init__(self, state: ClusterState, placer: Placer, graph: SwitchGraphCache, *, size_unit: float = 1.0,
                 startup_weight: float = 0.0, latency_weight: float = 0.0, registry_host: str = ""):
        self.state = state
        self.placer = placer
        self.graph = graph
        # How much the estimated time to ready counts beside bytes, for the apps placed by an
        # algorithm that has the start-up objective (docs/placement.md); 0 = bytes alone.
        self.startup_weight = startup_weight
        # Units of size (real MiB) that 1 ms of mean client delay is worth, for the services that
        # declare clients placed by an algorithm with the client delay objective; 0 = bytes alone.
        self.latency_weight = latency_weight
        self.registry_host = registry_host
        # Bytes per unit of size in placement problems: the daemon uses one real MiB at the
        # emulation's image scale, so size thresholds (kube's ImageLocality 23-1000 MB) keep
        # their meaning.
        self.size_unit = size_unit

    def sync(self) -> None:
        with self.state.lock:
            work = []  # (app name, pending instance names, stranded instance names)
            for app in sorted(self.state.apps.values(), key=lambda a: (a.created, a.spec.name)):
                mine = [i for i in self.state.instances.values() if i.app == app.spec.name]
                pending = [i for i in mine if not i.node]
                if pending and not all(self.state.image_settled(app.spec.name, i.service) for i in pending):
                    pending = []  # wait: its instances are placed together, with every image known
                pending = [i.name for i in pending if i.service in app.images]
                stranded = [i.name for i in mine if i.node in self.state.lost]
                if pending or stranded:
                    work.append((app.spec.name, pending, stranded))
        for app_name, pending, stranded in work:
            if pending:
                self._place_pending(app_name, pending)
            if stranded:
                self._move(app_name, stranded)

    def _place_pending(self, app_name: str, names: list[str]) -> None:
        with self.state.lock:
            app = self.state.apps.get(app_name)
            new = [(n, app, self.state.instances[n].service) for n in names
                   if app and n in self.state.instances and not self.state.instances[n].node]
        if not new:
            return
        result = self._solve(app, new)
        if result is None:
            return
        with self.state.lock:
            if self.state.apps.get(app_name) is not app:
                return  # deleted meanwhile
            placed = []
            for name, _, _ in new:
                instance = self.state.instances.get(name)
                if instance is not None and not instance.node:  # not scaled away meanwhile
                    instance.node = result.placement[name]
                    placed.append(instance)
            app.planned_bytes += round((result.objective or 0) * self.size_unit)
            self.state.store.save_app(app, placed)
        delay = (f", mean client delay {result.client_delay_ms:.1f} ms, max {result.client_delay_max_ms:.1f} ms"
                 if result.client_delay_ms is not None else "")
        log.info("placed %s's %s by %s (%d bytes to store anew%s)", app_name,
                 ", ".join(f"{i.name}@{i.node}" for i in placed), app.algorithm,
                 round((result.objective or 0) * self.size_unit), delay)
        self.state.changes.notify(INSTANCES)

    def _move(self, app_name: str, names: list[str]) -> None:
        with self.state.lock:
            app = self.state.apps.get(app_name)
            old = [self.state.instances[n] for n in names
                   if app and n in self.state.instances and self.state.instances[n].node in self.state.lost]
            if not old or any(i.service not in app.images for i in old):
                return
            new = [(container_name(i.service, self.state.store.next_number("instance")), app, i.service)
                   for i in old]
        lost_nodes = ", ".join(sorted({i.node for i in old}))
        result = self._solve(app, new, moving=f"cannot move {app_name}'s instances off {lost_nodes} yet")
        if result is None:
            return
        with self.state.lock:
            if self.state.apps.get(app_name) is not app:
                return
            kept = [(i, n) for i, n in zip(old, new)
                    if self.state.instances.get(i.name) is i and i.node in self.state.lost]
            records = [InstanceRecord(name, app_name, service, result.placement[name], self.state.clock())
                       for _, (name, _, service) in kept]
            self.state.store.replace_instances(records, [i.name for i, _ in kept])
            for instance, _ in kept:
                del self.state.instances[instance.name]
            self.state.instances.update({r.name: r for r in records})
        log.warning("node(s) %s lost: %s's %s rescheduled to %s", lost_nodes, app_name,
                    ", ".join(i.name for i, _ in kept), ", ".join(f"{r.name}@{r.node}" for r in records))
        self.state.changes.notify(INSTANCES)

    def _solve(self, app: AppRecord, new: list[NewInstance], moving: str = "") -> PlacementResult | None:
        """The placement of `new`, or None with the reason recorded (pending instances) or logged
        (instances being moved)."""
        app_name = app.spec.name
        try:
            wanted = {app.spec.service(service).near for _, _, service in new}
            # the graph first: it may ask the SDN, which is never done under the lock
            graph = self.graph.get() if len(wanted) == 1 and next(iter(wanted)) else None
            with self.state.lock:
                problem = problem_for(self.state, new, self.size_unit)
            rings = near_rings(problem, next(iter(wanted)), graph) if graph is not None else [problem]
            weight = self.startup_weight if app.algorithm in STARTUP_AWARE else 0.0
            specs = {f"{app_name}/{service}": app.spec.service(service) for _, _, service in new}
            clients = {name: spec.clients for name, spec in specs.items() if spec.clients}
            bounds = {name: spec.max_client_delay_ms for name, spec in specs.items() if spec.max_client_delay_ms}
            if app.algorithm in STARTUP_AWARE or clients:  # w = 0 too: ties of bytes go to the plan ready soonest
                rings = self._with_network(rings, graph, clients, bounds)
            latency = self.latency_weight if clients and app.algorithm in LATENCY_AWARE else 0.0
            result = self._place(rings, app.algorithm, weight, latency)
        except DomainError as exc:
            reason = f"{exc}{rules_note(app.spec, (service for _, _, service in new))}"
            if moving:
                log.warning("%s: %s", moving, reason)
            else:
                with self.state.lock:
                    if self.state.apps.get(app_name) is app:
                        self.state.unplaced[app_name] = reason
                log.warning("%s: %d instance(s) not placed: %s", app_name, len(new), reason)
            return None
        if not moving:
            with self.state.lock:
                self.state.unplaced.pop(app_name, None)
        return result

    def _with_network(self, rings: list[Problem], graph: SwitchGraph | None,
                      clients: dict[str, tuple[tuple[str, float], ...]], bounds: dict[str, float]) -> list[Problem]:
        """Each ring with the network section the start-up estimate and the client delays need,
        and the services' clients and client delay bounds; unchanged without the graph, unless a
        service has a bound (then the SDN's error, and the instances stay pending)."""
        try:
            graph = graph or self.graph.get()
        except DomainError as exc:  # the SDN does not answer: bytes alone this time
            if bounds:  # a required client delay bound cannot be checked: not placed yet, with the reason
                raise
            log.warning("placing without the start-up estimate and client delays: %s", exc)
            return rings
        return [with_clients(with_network(ring, graph, self.registry_host, self.size_unit), graph, clients, bounds)
                for ring in rings]

    def _solve_one(self, problem: Problem, algorithm: str, weight: float, latency: float) -> PlacementResult:
        weights = {}
        if weight and problem.network is not None:
            weights["startup_weight"] = weight
        if latency and problem.has_clients:
            weights["latency_weight"] = latency
        return self.placer.solve(problem, algorithm, **weights)

    def _place(self, rings: list[Problem], algorithm: str, weight: float = 0.0, latency: float = 0.0) -> PlacementResult:
        problem = rings[-1]
        try:
            for ring in rings[:-1]:
                try:
                    result = self._solve_one(ring, algorithm, weight, latency)
                except ProblemError:  # nothing fits there (a node too small for an image): farther
                    continue
                if result.solved:
                    return result
            result = self._solve_one(problem, algorithm, weight, latency)
        except ProblemError as exc:  # e.g. a container larger than every node's free storage
            raise FailedPrecondition(f"cannot place: {exc}") from None
        if not result.solved:
            free = ", ".join(f"{s.name} {s.cpu:g} m CPU / "
                             + (f"{s.memory:.0f} MiB memory / " if s.memory else "")
                             + f"{s.storage * self.size_unit / 1e6:.1f} MB free"
                             for s in problem.servers)
            raise FailedPrecondition(f"no placement fits the ready nodes ({result.status}: "
                                     f"{result.message or 'infeasible'}); ready: {free}")
        return result
