"""Splitting a topology between servers: each switch with all its hosts on one server, load balanced, few links cut.

A site (a switch and the hosts hanging off it) is never split: only switch-to-switch links
may cross servers, and each one that does becomes a tunnel. The split is computed from plain
data, deterministically: a first assignment fills the servers in breadth-first order of the
switches (so each server gets a connected region), then single switches move between servers
while a move cuts fewer links, or as many and evens the load, without any server going over
its bound or empty.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from .spec import LinkSpec, TopologySpec

STARTS = 32  # starting switches tried for the first assignment


@dataclass(frozen=True)
class Split:
    """Where each node runs: `server` maps every switch and host to a server name; `cut` lists the
    links between switches on different servers (the tunnels)."""

    servers: list[str]
    server: dict[str, str]
    cut: list[LinkSpec]

    def nodes_on(self, server: str) -> list[str]:
        return [node for node, where in self.server.items() if where == server]


def site_weights(spec: TopologySpec) -> dict[str, int]:
    """What each switch brings to its server: itself and its hosts (each a shell, a namespace)."""
    weights = {sw: 1 for sw in spec.switches}
    for h in spec.hosts:
        weights[h.switch] += 1
    return weights


def load_bound(weights: dict[str, int], servers: int) -> int:
    """The most a server may carry: an even share, plus room for the largest site less one (a
    site cannot be divided, so an even split may not exist)."""
    total = sum(weights.values())
    return math.ceil(total / servers) + max(weights.values()) - 1


def _breadth_first(spec: TopologySpec, first: str) -> list[str]:
    """The switches, breadth first from `first` (then each unconnected part in turn, in spec order)."""
    neighbours: dict[str, list[str]] = {sw: [] for sw in spec.switches}
    for link in spec.links:
        neighbours[link.a].append(link.b)
        neighbours[link.b].append(link.a)
    order: list[str] = []
    seen: set[str] = set()
    for start in [first, *spec.switches]:
        if start in seen:
            continue
        seen.add(start)
        queue = deque([start])
        while queue:
            sw = queue.popleft()
            order.append(sw)
            for nb in neighbours[sw]:
                if nb not in seen:
                    seen.add(nb)
                    queue.append(nb)
    return order


def _score(spec: TopologySpec, weights: dict[str, int]):
    """Sort key of a partition (switch -> part): links cut, then the sum of the squared loads."""
    def score(part: dict[str, int]) -> tuple[int, int]:
        loads: dict[int, int] = {}
        for sw, p in part.items():
            loads[p] = loads.get(p, 0) + weights[sw]
        return sum(1 for link in spec.links if part[link.a] != part[link.b]), sum(v * v for v in loads.values())
    return score


def _refined(spec: TopologySpec, weights: dict[str, int], links: dict[str, list[str]], start: str,
             k: int) -> dict[str, int]:
    """Switch -> part (0..k-1): filled breadth first from `start`, then improved by single moves."""
    bound = load_bound(weights, k)
    share = sum(weights.values()) / k
    part: dict[str, int] = {}
    done = 0.0
    for sw in _breadth_first(spec, start):
        part[sw] = min(k - 1, int((done + weights[sw] / 2) / share))
        done += weights[sw]
    loads = [0] * k
    counts = [0] * k
    for sw, p in part.items():
        loads[p] += weights[sw]
        counts[p] += 1
    for p in range(k):  # an empty server (tiny networks with big sites): give it the last switch of a fuller one
        if not counts[p]:
            donor = max(range(k), key=lambda q: (counts[q] > 1, loads[q]))
            sw = next(s for s in reversed(list(part)) if part[s] == donor)
            part[sw] = p
            loads[donor] -= weights[sw]
            loads[p] += weights[sw]
            counts[donor] -= 1
            counts[p] += 1
    improved = True
    while improved:  # each move lowers (cut links, sum of squared loads): this ends
        improved = False
        for sw in spec.switches:
            here = part[sw]
            if counts[here] == 1:
                continue
            ties = [0] * k
            for nb in links[sw]:
                ties[part[nb]] += 1
            best, best_key = here, (0, 0)
            for there in range(k):
                if there == here or loads[there] + weights[sw] > bound:
                    continue
                gain = ties[there] - ties[here]  # links no longer cut, less links newly cut
                evening = loads[here] - (loads[there] + weights[sw])  # > 0: the loads come closer
                key = (gain, evening)
                if (gain > 0 or (gain == 0 and evening > 0)) and key > best_key:
                    best, best_key = there, key
            if best != here:
                part[sw] = best
                loads[here] -= weights[sw]
                loads[best] += weights[sw]
                counts[here] -= 1
                counts[best] += 1
                improved = True
    return part


def split_topology(spec: TopologySpec, servers: list[str]) -> Split:
    """Each node of the spec on one of `servers` (the first gets the spec's first switch).
    ValueError if there are more servers than switches, or a server is named twice."""
    if not servers:
        raise ValueError("name at least one server")
    if len(set(servers)) != len(servers):
        raise ValueError(f"a server is named twice in {','.join(servers)}")
    if len(servers) > len(spec.switches):
        raise ValueError(f"{spec.name} has {len(spec.switches)} switches: too few for {len(servers)} servers "
                         "(a switch and its hosts stay on one server)")
    weights = site_weights(spec)
    links: dict[str, list[str]] = {sw: [] for sw in spec.switches}
    for link in spec.links:
        if link.a != link.b:
            links[link.a].append(link.b)
            links[link.b].append(link.a)
    # several starting points (at most STARTS, spread over the spec's switches); the fewest cut
    # links, then the most even loads, win; ties go to the earliest start
    starts = spec.switches[::max(1, len(spec.switches) // STARTS)][:STARTS]
    part = min((_refined(spec, weights, links, start, len(servers)) for start in starts), key=_score(spec, weights))
    first_switch: dict[int, int] = {}  # servers in the order of their first switch in the spec
    for index, sw in enumerate(spec.switches):
        first_switch.setdefault(part[sw], index)
    name = {p: servers[rank] for rank, p in enumerate(sorted(first_switch, key=first_switch.get))}
    server = {sw: name[p] for sw, p in part.items()}
    server.update({h.name: server[h.switch] for h in spec.hosts})
    cut = [link for link in spec.links if server[link.a] != server[link.b]]
    return Split(list(servers), server, cut)
