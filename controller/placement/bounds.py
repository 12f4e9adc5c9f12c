"""Lower bounds on the optimal stored size, valid for every feasible placement."""

from __future__ import annotations

from .state import Instance


def _servers_needed(demand: float, capacities_desc: list[float]) -> int:
    """Fewest servers whose capacities add up to `demand` (largest first); at least 1."""
    total, count = 0.0, 0
    for cap in capacities_desc:
        if total >= demand - 1e-9 * max(1.0, demand):
            break
        total += cap
        count += 1
    return max(1, count)


def _most_items(smallest_first: list[float], capacity: float) -> int:
    """How many of the items fit together in `capacity` at most (the smallest ones)."""
    total, count = 0.0, 0
    for size in smallest_first:
        total += size
        if total > capacity * (1 + 1e-9):
            break
        count += 1
    return count


def layer_server_minimum(inst: Instance) -> list[int]:
    """For each layer, the fewest servers that can host every container needing it.

    Every server hosting a container that needs layer l stores l. Those servers together
    must have the CPU and the bandwidth of all those containers, and, the containers being
    indivisible, enough room for their number: server n holds at most as many of them as
    its CPU and bandwidth each admit when filled with the smallest ones.
    """
    P = sorted(inst.P, reverse=True)
    B = sorted(inst.B, reverse=True)
    minimum = []
    for users in inst.users:
        cpu = sorted(inst.d[i] for i in users)
        bw = sorted(inst.b[i] for i in users)
        room = sorted((min(_most_items(cpu, inst.P[n]), _most_items(bw, inst.B[n]))
                       for n in range(inst.n_servers)), reverse=True)
        minimum.append(max(_servers_needed(sum(cpu), P), _servers_needed(sum(bw), B),
                           _servers_needed(len(users), room)))
    return minimum


def cover_bound(inst: Instance) -> float:
    """Sum over layers of size times the fewest servers that must store it."""
    return sum(size * k for size, k in zip(inst.size, layer_server_minimum(inst)))
