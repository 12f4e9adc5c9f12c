"""The start-up estimate: seconds until a placement's containers are all ready, from the network (pure logic).

The model, after what the orchestrator and the node agents really do (controller/orchestrator/
sources.py, controllers/node_sync.py, dataplane/agent/node.py), with peers on (the default):

1. **Sources.** Each server fetches the layers its new containers need and it does not hold,
   as node-sync starts them (containers by server, then by name). A container one of whose
   missing layers another server is bringing in, from where it is strictly fewer hops away than
   the registry and every holder (a server at its own site), waits until that layer is there;
   one that starts claims its missing layers (several servers may bring one in). A layer comes from
   the nearest server holding it (held before, or brought in by the one a waiting container
   waited for), in switch hops from the holder's switch to the requester's (ties: the widest
   bottleneck, then the name), or from the registry when it is strictly fewer hops away or
   nobody holds it.
2. **Paths.** Bytes follow one path: fewest switch hops, ties to the widest bottleneck, then to
   names; a path crosses the source's access link upwards, switch links in the direction of the
   bytes, and the requester's access link downwards. Links are full duplex: each direction is a
   resource of its own, of the link's rate.
3. **Sharing.** All that a server fetches from one source at once (or once the same layers
   have arrived) is one *pull*; a layer others wait for is a pull of its own, so its arrival is
   known. Pulls share every resource they cross max-min fairly, weighted by their TCP
   connections: min(layers in the pull, parallel_downloads x parallel_starts), since the agent
   fetches up to `parallel_downloads` layers per image and starts up to `parallel_starts`
   containers at once. Rates are recomputed whenever a pull ends or a waiting one begins (a
   fluid simulation), so a link shared by two equal pulls takes twice as long, and once one
   ends the other speeds up.
4. **Starts.** A container can start once every layer it needs is on its server; it takes
   `start_seconds`, and a server runs at most `parallel_starts` starts at once (list scheduling in
   the order the containers become startable, then by name). A server is ready when its last
   container is; the placement is ready when its last server is.

Simplifications: a pull ends all its layers together (a container waits for its whole pull, not
just its own layers); a server's pulls all begin at once, where the agent pulls each
container's image inside one of its `parallel_starts` start slots (the links carry the same
bytes, but starts then cannot overlap later pulls); node-sync's later passes (a waiting
container, once started, claims layers for others) are folded into the first; TCP's ramp-up,
protocol overheads, disk and CPU speed are not modelled (the start cost measured on a node
includes what it spends on them at small sizes); the registry serves at its link's rate; the
tie between two holders equally near goes by name, where the orchestrator balances the bytes it
assigns them.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import NamedTuple

from .model import Problem
from .network import Network

REGISTRY = -1  # the registry as a source, beside server indexes 0..N-1
BITS_PER_BYTE = 8


class Pull(NamedTuple):
    """What a server fetches from one source in one go."""

    target: int  # the server fetching
    source: int  # REGISTRY or the server it fetches from
    after: tuple[tuple[str, int], ...] = ()  # (layer, server) it waits for: the layer there, before it starts
    alone: str = ""  # a layer others wait for, in a pull of its own so that its arrival is known


@dataclass(frozen=True)
class Route:
    hops: int  # switch-to-switch links crossed
    width: float  # narrowest switch link, Mbit/s (inf on one switch)
    resources: tuple[int, ...]  # the directed link and access resources crossed


@dataclass(frozen=True)
class Estimate:
    seconds: float  # until the last container is ready
    server_seconds: dict[str, float]  # server -> until its last new container is ready (servers with one)
    registry_bytes: float  # bytes pulled from the registry, in bytes (not in layer size units)


class StartupModel:
    """A problem's network made ready for estimates: resources and routes are computed once, so
    estimating many placements of one problem (a search) costs only the simulation."""

    def __init__(self, problem: Problem):
        if problem.network is None:
            raise ValueError("the start-up estimate needs the problem's network section")
        self.problem = problem
        network: Network = problem.network
        self.network = network
        self.names = [s.name for s in problem.servers]
        self.layer_bytes = {d: size * network.size_bytes for d, size in problem.layer_size.items()}
        self.held = [s.held for s in problem.servers]
        self.holders: dict[str, list[int]] = defaultdict(list)  # layer -> the servers holding it before
        for n, held in enumerate(self.held):
            for digest in held:
                self.holders[digest].append(n)
        self.connections_cap = network.parallel_downloads * network.parallel_starts

        self.capacity: list[float] = []  # resource (a direction of a link or access link) -> bytes/s

        def resource(mbps: float) -> int:
            self.capacity.append(mbps * 1e6 / BITS_PER_BYTE)
            return len(self.capacity) - 1

        outgoing: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
        for link in network.links:
            for a, b in ((link.a, link.b), (link.b, link.a)):
                outgoing[a].append((b, link.mbps, resource(link.mbps)))
        for a in outgoing:
            outgoing[a].sort()
        attachment = network.attachment
        hosts = {REGISTRY: network.registry, **{n: attachment[name] for n, name in enumerate(self.names)}}
        self.switch = {host: at.switch for host, at in hosts.items()}
        self.up = {host: (resource(at.mbps),) if at.mbps > 0 else () for host, at in hosts.items()}
        self.down = {host: (resource(at.mbps),) if at.mbps > 0 else () for host, at in hosts.items()}
        self._trees = {switch: _widest_shortest_tree(outgoing, switch) for switch in set(self.switch.values())}
        self._routes: dict[tuple[int, int], Route | None] = {}

    def route(self, source: int, target: int) -> Route | None:
        """The path of bytes from host `source` (REGISTRY or a server) to server `target`; None if cut."""
        key = (source, target)
        if key not in self._routes:
            tree = self._trees[self.switch[source]]
            at = self.switch[target]
            if at not in tree:
                self._routes[key] = None
            else:
                hops, width, _ = tree[at]
                links: list[int] = []
                while tree[at][2] is not None:
                    at, resource_id = tree[at][2]
                    links.append(resource_id)
                self._routes[key] = Route(hops, width, self.up[source] + tuple(reversed(links)) + self.down[target])
        return self._routes[key]

    def _nearest(self, target: int, holders: list[int]) -> int:
        """The source of a layer for `target`: the nearest holder, or the registry when strictly nearer."""
        best_key, best = None, REGISTRY
        for holder in holders:
            route = self.route(holder, target) if holder != target else None
            if route is None:
                continue
            key = (route.hops, -route.width, self.names[holder])
            if best_key is None or key < best_key:
                best_key, best = key, holder
        registry = self.route(REGISTRY, target)
        if best_key is None or (registry is not None and registry.hops < best_key[0]):
            return REGISTRY
        return best

    def estimate(self, where: list[int]) -> Estimate:
        """`where[i]`: the server index of container i (every container of the problem)."""
        problem = self.problem
        n_servers = len(self.names)
        # Node-sync's pass: containers by server, then name; one whose missing layers include one
        # another server is bringing in, from where it is strictly nearer than the registry and
        # every holder (a server at its own site), waits; one that starts claims its missing layers.
        order = sorted(range(len(where)), key=lambda i: (where[i], problem.containers[i].name))
        claimed: dict[str, list[int]] = defaultdict(list)  # layer -> the servers bringing it in
        coming: list[dict[str, Pull]] = [{} for _ in range(n_servers)]  # server -> layer -> its pull
        pulls: dict[Pull, list[str]] = defaultdict(list)  # pull -> its layers
        deferred: list[tuple[int, list[str], dict[str, int]]] = []
        for i in order:
            n = where[i]
            missing = [d for d in problem.containers[i].layers if d not in self.held[n]]
            blocked = {d: c for d in missing for c in [self._worth_waiting(n, d, claimed[d])] if c is not None}
            if blocked:
                deferred.append((n, missing, blocked))
                continue
            for d in missing:
                if d not in coming[n]:
                    claimed[d].append(n)
                    coming[n][d] = self._add(n, d, (), pulls)
        waited = {(d, c) for _, _, blocked in deferred for d, c in blocked.items()}
        for n, missing, blocked in deferred:
            after = tuple(sorted(blocked.items()))
            for d in missing:
                if d not in coming[n]:
                    coming[n][d] = self._add(n, d, after, pulls, [blocked[d]] if d in blocked else claimed[d])
        # A layer others wait for travels to its claimer in a pull of its own, so that its arrival is known.
        for d, c in sorted(waited):
            key = coming[c][d]
            pulls[key].remove(d)
            if not pulls[key]:
                del pulls[key]
            coming[c][d] = Pull(c, key.source, alone=d)
            pulls[coming[c][d]] = [d]

        finish = self._simulate(pulls, {(d, c): coming[c][d] for d, c in waited})
        registry_bytes = sum(self.layer_bytes[d] for pull, digests in pulls.items()
                             if pull.source == REGISTRY for d in digests)
        server_seconds: dict[str, float] = {}
        starts, cost = self.network.parallel_starts, self.network.start_seconds
        for n in range(n_servers):
            mine = [i for i in order if where[i] == n]
            if not mine:
                continue
            startable = sorted((max((finish[coming[n][d]] for d in problem.containers[i].layers if d in coming[n]),
                                    default=0.0), problem.containers[i].name) for i in mine)
            slots = [0.0] * starts  # when each start slot is free
            done = 0.0
            for ready_at, _ in startable:
                k = min(range(starts), key=slots.__getitem__)
                slots[k] = max(slots[k], ready_at) + cost
                done = max(done, slots[k])
            server_seconds[self.names[n]] = done
        return Estimate(max(server_seconds.values(), default=0.0), server_seconds, registry_bytes)

    def _worth_waiting(self, n: int, digest: str, claimers: list[int]) -> int | None:
        """The server bringing `digest` in that server n waits for (the nearest), as node-sync does:
        one strictly nearer to n than the registry and every server holding it; else None."""
        sources = [REGISTRY, *self.holders.get(digest, ())]
        others = [r.hops for r in (self.route(h, n) for h in sources if h != n) if r is not None]
        best = None
        for c in claimers:
            route = self.route(c, n) if c != n else None
            if route is not None and all(route.hops < h for h in others) and (best is None or route.hops < best[0]):
                best = (route.hops, c)
        return best[1] if best else None

    def _add(self, n: int, digest: str, after: tuple[tuple[str, int], ...], pulls: dict[Pull, list[str]],
             extra: list[int] = ()) -> Pull:
        """Add `digest` to server n's pull from its source, among those starting after the layers
        `after` have arrived where they were claimed; `extra`: holders by then beside those of before."""
        holders = [*self.holders.get(digest, ()), *extra]
        pull = Pull(n, self._nearest(n, holders), after)
        pulls[pull].append(digest)
        return pull

    def _simulate(self, pulls: dict[Pull, list[str]], first_of: dict[tuple[str, int], Pull]) -> dict[Pull, float]:
        """When each pull ends, s: a fluid simulation with weighted max-min fair rates. A pull
        waiting for layers starts when the pulls bringing them ((layer, server) -> pull: `first_of`) have all ended."""
        left = {pull: sum(self.layer_bytes[d] for d in digests) for pull, digests in pulls.items()}
        weight = {pull: float(min(len(digests), self.connections_cap)) for pull, digests in pulls.items()}
        crosses = {}
        for pull in pulls:
            route = self.route(pull.source, pull.target)
            if route is None:
                raise ValueError(f"no path to {self.names[pull.target]} from its layers' source")
            crosses[pull] = route.resources
        waiting = {pull: {first_of[key] for key in pull.after} for pull in pulls if pull.after}
        active = {pull for pull in pulls if pull not in waiting}
        finish: dict[Pull, float] = {}
        now = 0.0
        while active:
            rate = self._rates(active, weight, crosses)
            time_left = {k: 0.0 if rate[k] == math.inf else left[k] / rate[k] for k in active}
            step = min(time_left.values())
            now += step
            ended = []
            for k in active:
                if time_left[k] <= step * (1 + 1e-9):
                    ended.append(k)
                else:
                    left[k] -= rate[k] * step
            for k in ended:
                active.discard(k)
                finish[k] = now
            for key, needs in list(waiting.items()):
                if needs.issubset(finish):
                    del waiting[key]
                    active.add(key)
        return finish

    def _rates(self, active: set[Pull], weight: dict, crosses: dict) -> dict[Pull, float]:
        """Weighted max-min fair rates (bytes/s) by progressive filling; inf for a pull crossing nothing."""
        remaining = list(self.capacity)
        load = defaultdict(float)  # resource -> weight of the unfrozen pulls crossing it
        users = defaultdict(list)
        rate: dict[Pull, float] = {}
        for k in active:
            if not crosses[k]:
                rate[k] = math.inf
            for r in crosses[k]:
                load[r] += weight[k]
                users[r].append(k)
        while len(rate) < len(active):
            bottleneck = min((r for r in load if load[r] > 1e-12), key=lambda r: (remaining[r] / load[r], r))
            share = max(remaining[bottleneck], 0.0) / load[bottleneck]
            for k in users[bottleneck]:
                if k in rate:
                    continue
                rate[k] = weight[k] * share
                for r in crosses[k]:
                    remaining[r] -= rate[k]
                    load[r] -= weight[k]
        return rate


def _widest_shortest_tree(outgoing: dict[str, list[tuple[str, float, int]]],
                          start: str) -> dict[str, tuple[int, float, tuple[str, int] | None]]:
    """Breadth first from `start`: every switch reached -> (hops, bottleneck Mbit/s, (previous switch,
    resource of the link from it) or None at the start), the widest among the shortest paths,
    ties to the first met (links are visited in name order)."""
    best: dict[str, tuple[int, float, tuple[str, int] | None]] = {start: (0, math.inf, None)}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        hops, width, _ = best[here]
        for there, mbps, resource_id in outgoing.get(here, ()):
            through = min(width, mbps)
            known = best.get(there)
            if known is None:
                best[there] = (hops + 1, through, (here, resource_id))
                queue.append(there)
            elif known[0] == hops + 1 and through > known[1]:
                best[there] = (hops + 1, through, (here, resource_id))
    return best


def estimate(problem: Problem, placement: dict[str, str]) -> Estimate:
    """The start-up estimate of a placement (container -> server) of every container of the problem."""
    model = StartupModel(problem)
    server_index = {name: n for n, name in enumerate(model.names)}
    where = [server_index[placement[c.name]] for c in problem.containers]
    return model.estimate(where)


def ready_seconds(problem: Problem, placement: dict[str, str]) -> float:
    """Seconds until every container of the placement is ready, by the model above."""
    return estimate(problem, placement).seconds
