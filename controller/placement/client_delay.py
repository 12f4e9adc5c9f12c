"""Client delay (pure logic): the one-way delay from a container's declared clients to each server, over the network section.

A path's delay is the client's access delay, the sum of the switch links' delays along the path of
least delay from the client's switch to the server's, and the server's access delay. A container's
delay on a server is the weighted mean over its clients; the client delay of a placement is the
mean over the containers that declare clients of their delay where they run (a service's
replicas share its clients' requests, so each replica counts), and its maximum is the largest
delay from any one client to a container it is a client of.

The latency term of the objective: `latency_weight` L, in units of layer size per millisecond,
prices 1 ms of a placement's mean client delay like L units of stored layers, so

    cost = stored size (eq. 9) + L * mean client delay
         = stored size + sum over (container i with clients, server n) of x_n^i * L * D(i, n) / K

with D(i, n) container i's delay on server n and K the number of containers with clients: linear
in x, one constant per (container, server) pair.

A container's `max_client_delay_ms` is a hard bound, a filter in every algorithm: it may not run on
a server where one of its clients is farther than that (`banned_servers`).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from .model import Problem
from .validation import ProblemError


def switch_delays(problem: Problem, start: str) -> dict[str, float]:
    """One-way delay, ms, from switch `start` to every switch the network section's links reach
    (Dijkstra; a link's delay is the same both ways)."""
    neighbours: dict[str, list[tuple[str, float]]] = {}
    for link in problem.network.links:
        neighbours.setdefault(link.a, []).append((link.b, link.delay_ms))
        neighbours.setdefault(link.b, []).append((link.a, link.delay_ms))
    best = {start: 0.0}
    queue = [(0.0, start)]
    while queue:
        delay, here = heapq.heappop(queue)
        if delay > best[here]:
            continue
        for there, step in neighbours.get(here, ()):
            if delay + step < best.get(there, math.inf):
                best[there] = delay + step
                heapq.heappush(queue, (delay + step, there))
    return best


@dataclass(frozen=True)
class ClientDelays:
    """Every container's delays from its clients, by index (containers and servers in problem order)."""

    mean: tuple[tuple[float, ...], ...]  # [i][n]: container i's weighted mean client delay on server n, ms
    worst: tuple[tuple[float, ...], ...]  # [i][n]: its largest delay from one client on server n, ms
    with_clients: tuple[int, ...]  # the containers that declare clients

    def cost(self, latency_weight: float) -> list[list[float]]:
        """[i][n]: what placing container i on server n adds to the objective, in layer size units
        (L * D(i, n) / K; 0 for containers without clients)."""
        share = latency_weight / len(self.with_clients) if self.with_clients else 0.0
        return [[share * d for d in row] for row in self.mean]


def client_delays(problem: Problem) -> ClientDelays:
    """The delays of every container of a problem with its network section (containers without
    clients get rows of 0)."""
    network = problem.network
    attachment = network.attachment
    servers = [attachment[s.name] for s in problem.servers]
    from_switch = {c.switch: switch_delays(problem, c.switch)
                   for container in problem.containers for c in container.clients}
    mean, worst = [], []
    for container in problem.containers:
        total = sum(c.weight for c in container.clients)
        mean_row, worst_row = [], []
        for at in servers:
            paths = [(c.weight, c.delay_ms + from_switch[c.switch].get(at.switch, math.inf) + at.delay_ms)
                     for c in container.clients]
            mean_row.append(sum(w * d for w, d in paths) / total if paths else 0.0)
            worst_row.append(max((d for _, d in paths), default=0.0))
        mean.append(tuple(mean_row))
        worst.append(tuple(worst_row))
    with_clients = tuple(i for i, c in enumerate(problem.containers) if c.clients)
    return ClientDelays(tuple(mean), tuple(worst), with_clients)


def plan_delay(problem: Problem, placement: dict[str, str]) -> tuple[float, float] | None:
    """(mean, max) client delay of a complete placement, ms; None when no container declares clients."""
    if not problem.has_clients or problem.network is None:
        return None
    delays = client_delays(problem)
    server = {s.name: n for n, s in enumerate(problem.servers)}
    where = [server[placement[c.name]] for c in problem.containers]
    mean = sum(delays.mean[i][where[i]] for i in delays.with_clients) / len(delays.with_clients)
    return mean, max(delays.worst[i][where[i]] for i in delays.with_clients)


def banned_servers(problem: Problem, delays: ClientDelays | None = None) -> list[frozenset[int]]:
    """[i]: the servers container i may not run on, where a client of it is farther than its
    max_client_delay_ms (empty without a bound)."""
    if not any(c.max_client_delay_ms for c in problem.containers) or problem.network is None:
        return [frozenset() for _ in problem.containers]
    delays = delays or client_delays(problem)
    return [frozenset(n for n, d in enumerate(delays.worst[i]) if d > c.max_client_delay_ms * (1 + 1e-9))
            if c.max_client_delay_ms else frozenset() for i, c in enumerate(problem.containers)]


def check_delay_bounds(problem: Problem) -> None:
    """Raise ProblemError naming a container whose bound no server meets, and the nearest server."""
    if not any(c.max_client_delay_ms for c in problem.containers):
        return
    delays = client_delays(problem)
    for i, banned in enumerate(banned_servers(problem, delays)):
        if len(banned) == len(problem.servers):
            container = problem.containers[i]
            n = min(range(len(problem.servers)), key=lambda n: delays.worst[i][n])
            raise ProblemError(f'containers[{i}] ("{container.name}"): no server is within max_client_delay_ms '
                               f"{container.max_client_delay_ms:g} of its clients (nearest: "
                               f'"{problem.servers[n].name}", {delays.worst[i][n]:g} ms)')


def bound_violations(problem: Problem, placement: dict[str, str]) -> list[str]:
    """Each container of the placement farther from a client than its max_client_delay_ms."""
    banned = banned_servers(problem)
    names = [s.name for s in problem.servers]
    return [f'container "{c.name}": a client farther than max_client_delay_ms {c.max_client_delay_ms:g} from '
            f'server "{placement[c.name]}"' for i, c in enumerate(problem.containers)
            if c.name in placement and names.index(placement[c.name]) in banned[i]]
