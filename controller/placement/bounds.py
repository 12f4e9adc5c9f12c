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


def cover_bound(inst: Instance) -> float:
    """Sum over layers of size times the fewest servers that can host every container needing it.

    Every server hosting a container that needs layer l stores l, and those servers together
    must have the CPU and the bandwidth of all those containers.
    """
    P = sorted(inst.P, reverse=True)
    B = sorted(inst.B, reverse=True)
    total = 0.0
    for l, users in enumerate(inst.users):
        if not users:
            continue
        k = max(_servers_needed(sum(inst.d[i] for i in users), P),
                _servers_needed(sum(inst.b[i] for i in users), B))
        total += inst.size[l] * k
    return total
