"""Spread and anti-affinity rules of a placement problem: domains, hard-rule violations, soft cost.

Pure functions of a Problem and a placement (container -> server), shared by the algorithms'
bookkeeping (state.Loads), the ILP, the bounds and the check every result goes through
(result.finished). The meaning of each rule is in model.Spread and model.ServiceRule.
"""

from __future__ import annotations

from collections import Counter

from .client_delay import bound_violations
from .model import Problem, ServiceRule, Spread


def domains(problem: Problem, topology: str) -> tuple[list[int], list[str]]:
    """(server index -> domain index, or -1 for a server in no domain; domain names).

    "server": every server is a domain of its own; "zone": one domain per zone name, in sorted
    order, and a server without a zone is in none."""
    if topology == "server":
        return list(range(len(problem.servers))), [s.name for s in problem.servers]
    names = sorted({s.zone for s in problem.servers if s.zone})
    index = {name: k for k, name in enumerate(names)}
    return [index.get(s.zone, -1) for s in problem.servers], names


def domain_counts(domain_of: list[int], n_domains: int, per_server: list[int]) -> list[int]:
    """Replicas per domain from replicas per server (servers in no domain count nowhere)."""
    counts = [0] * n_domains
    for n, count in enumerate(per_server):
        if domain_of[n] >= 0:
            counts[domain_of[n]] += count
    return counts


def past_domains(placed: list[int], max_skew: int) -> frozenset[int]:
    """Domains whose replicas already running (`placed`) alone exceed the fewest of any domain by
    more than max_skew: a hard spread lets them keep those replicas but gives them no new one."""
    if not placed:
        return frozenset()
    low = min(placed)
    return frozenset(d for d, count in enumerate(placed) if count > low + max_skew)


def skew_excess(counts: list[int], max_skew: int, exempt: frozenset[int] = frozenset()) -> int:
    """Replicas above the fewest + max_skew, summed over the domains not exempt (0 when the
    spread holds). The fewest is taken over every domain, those with none included."""
    if not counts:
        return 0
    low = min(counts)
    return sum(max(0, c - low - max_skew) for d, c in enumerate(counts) if d not in exempt)


def describe(rule: ServiceRule) -> str:
    """The service's hard rules in words, for messages."""
    parts = [f"at most {rule.max_per_server} per server"] if rule.max_per_server else []
    parts += [f"{s.topology} spread max_skew {s.max_skew}" for s in rule.spread if s.hard]
    return ", ".join(parts) or "no hard rule"


def per_server(problem: Problem, rule: ServiceRule, placement: dict[str, str]) -> list[int]:
    """The service's replicas on each server: those already running (`placed`) and those placed."""
    members = {c.name for c in problem.members(rule.name)}
    on = Counter(server for container, server in placement.items() if container in members)
    placed = rule.placed_on
    return [placed.get(s.name, 0) + on[s.name] for s in problem.servers]


def new_per_server(problem: Problem, rule: ServiceRule, placement: dict[str, str]) -> list[int]:
    members = {c.name for c in problem.members(rule.name)}
    on = Counter(server for container, server in placement.items() if container in members)
    return [on[s.name] for s in problem.servers]


def spread_violations(problem: Problem, rule: ServiceRule, spread: Spread, placement: dict[str, str]) -> list[str]:
    """What breaks one hard spread of a service under `placement`."""
    where = f'service "{rule.name}": {spread.topology} spread max_skew {spread.max_skew}'
    domain_of, names = domains(problem, spread.topology)
    new = new_per_server(problem, rule, placement)
    out = [f'{where}: {new[n]} on server "{s.name}", which has no zone'
           for n, s in enumerate(problem.servers) if domain_of[n] < 0 and new[n]]
    placed = domain_counts(domain_of, len(names), [rule.placed_on.get(s.name, 0) for s in problem.servers])
    past = past_domains(placed, spread.max_skew)
    new_counts = domain_counts(domain_of, len(names), new)
    out += [f'{where}: {new_counts[d]} new in {spread.topology} "{names[d]}", already past the skew '
            f"with {placed[d]} running" for d in sorted(past) if new_counts[d]]
    counts = domain_counts(domain_of, len(names), per_server(problem, rule, placement))
    if counts and skew_excess(counts, spread.max_skew, past):
        low = min(counts)
        out += [f'{where}: {c} in {spread.topology} "{names[d]}" against {low} in the domain with fewest'
                for d, c in enumerate(counts) if d not in past and c > low + spread.max_skew]
    return out


def violations(problem: Problem, placement: dict[str, str]) -> list[str]:
    """Every hard rule the placement breaks, each naming the service and the rule (or the
    container, for a client delay bound); [] if none."""
    out = bound_violations(problem, placement)
    for rule in problem.rules:
        if rule.max_per_server:
            counts = per_server(problem, rule, placement)
            out += [f'service "{rule.name}": {count} on server "{s.name}", more than max_per_server '
                    f"{rule.max_per_server}" for s, count in zip(problem.servers, counts)
                    if count > rule.max_per_server]
        for spread in rule.spread:
            if spread.hard:
                out += spread_violations(problem, rule, spread, placement)
    return out


def soft_cost(problem: Problem, placement: dict[str, str]) -> int:
    """How far the placement is from the soft rules: for each prefer_apart service, the replicas
    sharing a server with another of theirs beyond the first (sum over servers of count - 1); for
    each soft spread, the replicas above the fewest + max_skew (skew_excess). 0 = all kept."""
    cost = 0
    for rule in problem.rules:
        counts = per_server(problem, rule, placement)
        if rule.prefer_apart:
            cost += sum(max(0, c - 1) for c in counts)
        for spread in rule.spread:
            if not spread.hard:
                domain_of, names = domains(problem, spread.topology)
                cost += skew_excess(domain_counts(domain_of, len(names), counts), spread.max_skew)
    return cost


def soft_cost_ceiling(problem: Problem) -> int:
    """An upper bound on soft_cost over every placement: each soft part of a rule costs at most
    the service's replicas, placed and new."""
    total = 0
    for rule in problem.rules:
        parts = rule.prefer_apart + sum(not s.hard for s in rule.spread)
        total += parts * (len(problem.members(rule.name)) + sum(rule.placed_on.values()))
    return total
