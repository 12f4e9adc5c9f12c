"""Where a node pulls each missing layer from: the nearest peer holding it, or the registry (pure logic).

The orchestrator knows the switch graph and where every host hangs (the SDN's GetTopology) and,
from the agents' heartbeats, which node holds which layer. Distances are switch hops over links
that are up, counted in the direction the bytes flow (source -> requester); the requests and
acknowledgements need a way back, so a source must be reachable from the requester too. Ties go
to the path with the most free bandwidth at its bottleneck, then to the source with the fewest
bytes already assigned in the plan, then to the name. No gRPC, no clock: same inputs, same plan.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Collection, Literal, Mapping, Sequence

from component_base.errors import InvalidArgument

# (src switch, dst switch, capacity Mbit/s, reserved Mbit/s, up): one direction of a cable
SwitchLink = tuple[str, str, float, float, bool]

UNKNOWN_HOPS = -1  # a registry Source's hops when the graph has no up path from it to the requester


@dataclass(frozen=True)
class Source:
    kind: Literal["peer", "registry"]
    host: str  # the peer node, or the registry host
    hops: int  # switch-to-switch links from the source's switch to the requester's (0: same switch);
    #            UNKNOWN_HOPS for the registry when the graph does not place it or has no path from it


@dataclass
class SwitchGraph:
    """The switch graph as the source planner and `near` placement need it: directed switch links (with
    their free bandwidth and whether they are up) and the switch each host hangs off. Not the SDN
    controller's network view: this one is built from its GetTopology answer."""

    switch_links: list[SwitchLink] = field(default_factory=list)
    host_switch: dict[str, str] = field(default_factory=dict)
    host_access: dict[str, float] = field(default_factory=dict)  # host -> its access link, Mbit/s (0: not known)
    link_delay: dict[tuple[str, str], float] = field(default_factory=dict)  # (src, dst switch) -> declared one-way ms
    host_delay: dict[str, float] = field(default_factory=dict)  # host -> its access link's declared one-way ms
    host_role: dict[str, str] = field(default_factory=dict)  # host -> edge-server | device | registry | cloud | pod

    @classmethod
    def from_topology(cls, topology) -> "SwitchGraph":
        """From the SDN's GetTopology answer (strata.v1.Topology); hosts without a switch are left out."""
        links = [(link.src_switch, link.dst_switch, link.capacity_mbps, link.reserved_mbps, link.up)
                 for link in topology.links]
        placed = [host for host in topology.hosts if host.switch]
        return cls(switch_links=links, host_switch={host.name: host.switch for host in placed},
                   host_access={host.name: host.access_mbps for host in placed},
                   link_delay={(link.src_switch, link.dst_switch): link.delay_ms for link in topology.links},
                   host_delay={host.name: host.access_delay_ms for host in placed},
                   host_role={host.name: host.role for host in placed})

    def reach(self, target_switch: str) -> dict[str, tuple[int, float]]:
        """For every switch with a path of up links to target_switch: (hops, bottleneck free Mbit/s),
        the bottleneck being the widest among the shortest paths (inf for target_switch itself)."""
        incoming: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for src, dst, capacity, reserved, up in self.switch_links:
            if up and src != dst:
                incoming[dst].append((src, capacity - reserved))
        return _widest_shortest(incoming, target_switch)

    def reachable_from(self, source_switch: str) -> set[str]:
        """The switches a path of up links leads to from source_switch (itself included)."""
        outgoing: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for src, dst, capacity, reserved, up in self.switch_links:
            if up and src != dst:
                outgoing[src].append((dst, capacity - reserved))
        return set(_widest_shortest(outgoing, source_switch))


def _widest_shortest(neighbours: Mapping[str, list[tuple[str, float]]], start: str) -> dict[str, tuple[int, float]]:
    """Breadth first from start over neighbours (switch -> [(switch, free Mbit/s)]): every switch met,
    with its hops and the widest bottleneck among its shortest paths."""
    best: dict[str, tuple[int, float]] = {start: (0, float("inf"))}
    queue = deque([start])
    while queue:  # a switch's width is final before any switch one hop further is expanded
        here = queue.popleft()
        hops, width = best[here]
        for there, free in neighbours.get(here, ()):
            through = min(width, free)
            known = best.get(there)
            if known is None:
                best[there] = (hops + 1, through)
                queue.append(there)
            elif known[0] == hops + 1 and through > known[1]:
                best[there] = (hops + 1, through)
    return best


class Hops:
    """Switch hops from a source host to a requester over up links, both ways up (None: cut or not
    placed), memoised per requester: one pass over many layers asks the same few questions."""

    def __init__(self, graph: SwitchGraph):
        self.graph = graph
        self._reach: dict[str, tuple[dict[str, tuple[int, float]], set[str]]] = {}

    def __call__(self, source: str, requester: str) -> int | None:
        switch = self.graph.host_switch.get(requester)
        if switch is None:
            return None
        if switch not in self._reach:
            self._reach[switch] = (self.graph.reach(switch), self.graph.reachable_from(switch))
        reach, back = self._reach[switch]
        at = self.graph.host_switch.get(source)
        return reach[at][0] if at in reach and at in back else None


def worth_waiting_for(hops: Hops | None, requester: str, puller: str, registry_host: str,
                      holders: Collection[str] = ()) -> bool:
    """Whether `requester` should wait for a layer `puller` is pulling now rather than fetch it at
    once (from the registry or a node already holding it, `holders`): only when `puller` will be a
    strictly nearer source than all of those, as a node at the requester's own site is. So a layer
    crosses into each site once and is shared inside it, while sites do not queue behind one
    another's access links (a node one site over is no nearer than the registry, and its access
    link would serve every site waiting on it). Without a graph (`hops` None) nothing is known of
    distances: wait when no node holds it yet, so that the first pull seeds the cluster."""
    if hops is None:
        return not holders
    near = hops(puller, requester)
    if near is None:
        return False
    others = [h for h in (hops(registry_host, requester), *(hops(n, requester) for n in holders if n != requester))
              if h is not None]
    return all(near < h for h in others)


def plan_sources(graph: SwitchGraph, requester: str, layers: Sequence[tuple[str, int]],
                 holders: Mapping[str, Collection[str]], registry_host: str, *,
                 peers: bool = True) -> dict[str, Source]:
    """The source of every layer (digest -> Source, in the order of `layers`, each digest once).

    A layer comes from the nearest peer node holding it that has paths of up links to and from the
    requester, or from the registry when no such peer holds it or the registry is strictly fewer
    hops away than every such holder. The requester is never its own source. Among equally near
    holders: the widest bottleneck, then the fewest bytes already assigned to the holder by this
    plan (layers are assigned largest first, so the load spreads evenly), then the name.
    With peers=False every layer comes from the registry.
    """
    sizes: dict[str, int] = {}
    for digest, size in layers:
        if size < 0:
            raise InvalidArgument(f"layer {digest} has a negative size ({size})")
        if sizes.setdefault(digest, size) != size:
            raise InvalidArgument(f"layer {digest} is listed with two sizes: {sizes[digest]} and {size}")

    requester_switch = graph.host_switch.get(requester)
    reach = graph.reach(requester_switch) if requester_switch is not None else {}
    back = graph.reachable_from(requester_switch) if requester_switch is not None else set()

    def distance(host: str) -> tuple[int, float] | None:
        """(hops, bottleneck) of the bytes from host to the requester; None if either way is cut."""
        switch = graph.host_switch.get(host)
        return reach.get(switch) if switch in back else None

    registry_at = distance(registry_host)
    registry = Source("registry", registry_host, registry_at[0] if registry_at else UNKNOWN_HOPS)
    if not peers:
        return {digest: registry for digest in sizes}

    position = {digest: k for k, digest in enumerate(sizes)}
    assigned: dict[str, int] = defaultdict(int)
    plan: dict[str, Source] = {}
    for digest in sorted(sizes, key=lambda d: (-sizes[d], position[d])):
        best: tuple[tuple, Source] | None = None
        for node in holders.get(digest, ()):
            at = None if node == requester else distance(node)
            if at is None:
                continue
            hops, width = at
            key = (hops, -width, assigned[node], node)
            if best is None or key < best[0]:
                best = (key, Source("peer", node, hops))
        if best is None or (registry_at is not None and registry_at[0] < best[1].hops):
            plan[digest] = registry
        else:
            plan[digest] = best[1]
            assigned[best[1].host] += sizes[digest]
    return {digest: plan[digest] for digest in sizes}
