"""The orchestrator's one store, shared by its API and its controllers.

Desired state (kept in SQLite) and observed state (rebuilt from heartbeats), under one lock, with
in-process change notifications.

Desired: nodes, applications (with their images and VIPs once ready), instances (an instance whose
`node` is "" is not placed yet). Observed: what each node last reported. Besides, what the
controllers found and others read: each service's image progress, why an application's pending
instances are not placed, which nodes are lost, the routes the mesh holds.

Whoever changes the store says so with `changes.notify(KIND)`; every controller watching KIND wakes
and re-reads the store (level-triggered, as Kubernetes' informers: a notification carries no data,
so one lost or merged wake-up loses nothing). Code holding `lock` does no I/O but SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from .ports import IMAGE_FAILED, IMAGE_PENDING, IMAGE_READY, Route
from .store import AppRecord, InstanceRecord, NodeRecord, Store
from .vips import VipPool

# What changed (a controller watches some of these).
APPS = "apps"            # an application deployed, scaled or deleted
IMAGES = "images"        # a service's image became ready or failed
VIPS = "vips"            # an application's VIPs allocated
NODES = "nodes"          # a node registered, became ready or not, was judged lost, or reported a change
INSTANCES = "instances"  # instances placed, moved, started or removed
KINDS = (APPS, IMAGES, VIPS, NODES, INSTANCES)


class Changes:
    """Who watches what: notify(kind) calls every wake function registered for that kind."""

    def __init__(self):
        self._lock = threading.Lock()
        self._watchers: dict[str, list[Callable[[], None]]] = {kind: [] for kind in KINDS}

    def watch(self, kinds: Collection[str], wake: Callable[[], None]) -> None:
        with self._lock:
            for kind in kinds:
                self._watchers[kind].append(wake)

    def notify(self, *kinds: str) -> None:
        with self._lock:
            wakes = {id(w): w for kind in kinds for w in self._watchers[kind]}
        for wake in wakes.values():
            wake()


OOM_KILLED = "OOMKilled"  # an agent's termination reason: killed past its memory limit (Kubernetes' word)


@dataclass
class ContainerView:
    name: str
    running: bool
    ip: str
    restarts: int
    labels: dict
    ready: bool  # running and listening on its ready port: only then a service endpoint
    last_termination_reason: str = ""  # why its last process ended, as the agent says ("OOMKilled"); "" = not known


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
class ImageStatus:
    """A service's image on its way to the registry (ports.IMAGE_*)."""
    phase: str = IMAGE_PENDING
    message: str = ""
    attempts: int = 0        # tries that failed because the registry did not answer
    retry_at: float = 0.0    # clock time of the next try while pending after such a failure


PROBE_FRESH = 2.5  # s a pod's last answer to a probe counts (probes come every second)


class ClusterState:
    def __init__(self, store: Store, *, service_range: str, clock: Callable[[], float], node_timeout: float,
                 evict_after: float):
        self.store = store
        self.clock = clock
        self.node_timeout = node_timeout
        self.evict_after = evict_after
        self.lock = threading.RLock()
        self.changes = Changes()
        self.started_at = clock()
        self.nodes: dict[str, NodeRecord] = {n.name: n for n in store.nodes()}
        self.observed: dict[str, Observed] = {name: Observed() for name in self.nodes}
        self.apps: dict[str, AppRecord] = {a.spec.name: a for a in store.apps()}
        self.instances: dict[str, InstanceRecord] = {i.name: i for i in store.instances()}
        self.vips = VipPool(service_range, [vip for a in self.apps.values() for vip in a.vips.values()])
        # (app, service) -> its image's progress; a reloaded image is ready
        self.images: dict[tuple[str, str], ImageStatus] = {
            (a.spec.name, s.name): ImageStatus(IMAGE_READY if s.name in a.images else IMAGE_PENDING)
            for a in self.apps.values() for s in a.spec.services}
        self.unplaced: dict[str, str] = {}      # app -> why its pending instances are not placed
        self.no_vip: dict[str, str] = {}        # app -> why a service of it has no VIP yet
        self.lost: set[str] = set()             # nodes whose instances are moved to other nodes
        self.routes: dict[str, Route] | None = None  # what the mesh holds, as last read or pushed
        self.routes_to_remove: set[str] = set()  # routes of deleted applications
        # the data plane, for nodes whose agents are silent (controllers/dataplane.py)
        self.probed: dict[str, float] = {}         # instance -> when its pod last answered a probe
        self.node_answered: dict[str, float] = {}  # node -> when one of its pods last answered

    # -- reading (call with `lock` held) -----------------------------------------------------
    def ready(self, name: str) -> bool:
        observed = self.observed.get(name)
        return bool(observed and observed.last_heartbeat
                    and self.clock() - observed.last_heartbeat <= self.node_timeout)

    def answering(self, instance: str) -> bool:
        """Its node is silent but its pod answered a probe within the last two node timeouts' worth
        of probes (PROBE_FRESH)."""
        at = self.probed.get(instance)
        return at is not None and self.clock() - at <= PROBE_FRESH

    def pods_answer(self, node: str) -> bool:
        """A pod of the silent node answered within the last `evict_after` s: its agent is gone or cut
        off, not the node."""
        at = self.node_answered.get(node)
        return at is not None and self.clock() - at <= self.evict_after

    def condition(self, node: str) -> str:
        """What is known of a node: ready, agent-unreachable (silent, its pods answer), not-ready, lost."""
        if self.ready(node):
            return "ready"
        if node in self.lost:
            return "lost"
        return "agent-unreachable" if any(self.answering(i.name) for i in self.instances.values()
                                          if i.node == node) else "not-ready"

    def first_round_pending(self) -> float:
        """Seconds until every registered node has either sent a heartbeat since this process started
        or been silent for a whole node timeout; 0 once so. Until then what the nodes run is not
        known, and a restarted orchestrator must not judge routes by it."""
        if all(self.observed[name].last_heartbeat >= self.started_at for name in self.nodes):
            return 0.0
        return max(0.0, self.started_at + self.node_timeout - self.clock())

    def silent_for(self, name: str) -> float:
        """Seconds since the node's last heartbeat, or since we started if none came since."""
        return self.clock() - max(self.observed[name].last_heartbeat, self.started_at)

    def by_node(self) -> dict[str, list[InstanceRecord]]:
        out: dict[str, list[InstanceRecord]] = {}
        for instance in self.instances.values():
            if instance.node:
                out.setdefault(instance.node, []).append(instance)
        return out

    def allocated(self, node: str, instances: list[InstanceRecord] | None = None) -> tuple[float, float, float]:
        """CPU, bandwidth and memory requested by the instances placed on `node` (those given, or
        all of them): millicores, Mbit/s, MiB."""
        cpu = bandwidth = memory = 0.0
        for instance in instances if instances is not None else self.by_node().get(node, []):
            spec = self.apps[instance.app].spec.service(instance.service)
            cpu += spec.cpu_millicores
            bandwidth += spec.bandwidth_mbps
            memory += spec.memory_mib
        return cpu, bandwidth, memory

    def image_settled(self, app: str, service: str) -> bool:
        """Its image is ready or failed: nothing more will happen to it."""
        return self.images.get((app, service), ImageStatus()).phase in (IMAGE_READY, IMAGE_FAILED)

    def has_vips(self, app: AppRecord) -> bool:
        return all(s.group in app.vips for s in app.spec.services if not s.vnf_kind)
