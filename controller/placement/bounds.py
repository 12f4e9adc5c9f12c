"""Lower bounds on the optimal newly stored size, valid for every feasible placement."""

from __future__ import annotations

from collections import Counter

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


def rule_caps(inst: Instance) -> list[list[float]]:
    """Service rule k -> server n -> the most new replicas of k the hard rules let n take, in any
    feasible placement: none on a closed server; max_per_server less those running there; for a
    hard spread over D domains of a service with T replicas in all (running and new), the domain
    with fewest holds at most floor(T / D), so n's domain at most that + max_skew, less the
    replicas already running in it."""
    caps = []
    for k in range(len(inst.rules)):
        total = len(inst.members[k]) + sum(inst.placed[k])
        row = []
        for n in range(inst.n_servers):
            if n in inst.closed[k]:
                row.append(0)
                continue
            cap = inst.max_per_server[k] - inst.placed[k][n]
            for h in inst.spreads_of[k]:
                spread = inst.spreads[h]
                if spread.hard:
                    d = spread.domain_of[n]
                    cap = min(cap, total // len(spread.placed) + spread.max_skew - spread.placed[d])
            row.append(max(0, cap))
        caps.append(row)
    return caps


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

    Hard rules cap the room too: server n hosts at most, of l's users in service k, as many as
    the rules let it take (rule_caps), so a service at most c per server spreads l over at least
    ceil(its users / c) servers.
    """
    servers = range(inst.n_servers)
    caps = rule_caps(inst)
    minimum = []
    for l, users in enumerate(inst.users):
        cpu = sorted(inst.d[i] for i in users)
        bw = sorted(inst.b[i] for i in users)
        mem = sorted(inst.m[i] for i in users)
        by_rule = Counter(inst.rule_of[i] for i in users)
        free = by_rule.pop(-1, 0)  # users without rules
        room = [min(_most_items(cpu, inst.P[n]), _most_items(bw, inst.B[n]), _most_items(mem, inst.M[n]),
                    free + sum(min(count, caps[k][n]) for k, count in by_rule.items()))
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
