"""Lower bounds on the optimal newly stored size, valid for every feasible placement."""

from __future__ import annotations

from .state import Instance


def _servers_needed(demand: float, capacities_desc: list[float], covered: float = 0.0) -> int:
    """Fewest servers (largest first) whose capacities, added to `covered`, reach `demand`; 0 if covered does."""
    total, count = covered, 0
    for cap in capacities_desc:
        if total >= demand - 1e-9 * max(1.0, demand):
            break
        total += cap
        count += 1
    return count


def _most_items(smallest_first: list[float], capacity: float) -> int:
    """How many of the items fit together in `capacity` at most (the smallest ones)."""
    total, count = 0.0, 0
    for size in smallest_first:
        total += size
        if total > capacity * (1 + 1e-9):
            break
        count += 1
    return count


def new_copies_minimum(inst: Instance) -> list[int]:
    """For each layer, the fewest servers not holding it that must store it anew.

    Every server hosting a container that needs layer l has l. Those servers together must
    have the CPU, the bandwidth and the memory of all those containers, and, the containers
    being indivisible, enough room for their number: server n hosts at most as many of them as
    its CPU, bandwidth and memory each admit when filled with the smallest ones (a server
    without a memory capacity, M_n infinite, admits any memory). Servers already holding l
    take at most their whole capacity of l's users at no cost; servers storing l anew must
    cover the rest, and so many of them are needed at least. With no layer held this is the
    fewest servers that can host all of l's users (at least 1).
    """
    servers = range(inst.n_servers)
    minimum = []
    for l, users in enumerate(inst.users):
        cpu = sorted(inst.d[i] for i in users)
        bw = sorted(inst.b[i] for i in users)
        mem = sorted(inst.m[i] for i in users)
        room = [min(_most_items(cpu, inst.P[n]), _most_items(bw, inst.B[n]), _most_items(mem, inst.M[n]))
                for n in servers]
        holders = [n for n in servers if l in inst.held[n]]
        others = [n for n in servers if l not in inst.held[n]]
        minimum.append(max(
            _servers_needed(demand, sorted((cap[n] for n in others), reverse=True),
                            covered=sum(cap[n] for n in holders))
            for demand, cap in ((sum(cpu), inst.P), (sum(bw), inst.B), (sum(mem), inst.M),
                                (len(users), room))))
    return minimum


def cover_bound(inst: Instance) -> float:
    """Sum over layers of size times the fewest servers that must newly store it."""
    return sum(size * k for size, k in zip(inst.size, new_copies_minimum(inst)))
