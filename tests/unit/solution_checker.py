"""An independent checker of placement answers, written from the problem statement alone.

It recomputes everything from the problem's plain data (servers, layer sizes, containers) and the
answer's placement; it deliberately uses none of controller.placement.result / state.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

SOLVED = ("optimal", "feasible")
UNSOLVED = ("infeasible", "error")
CAPACITY_TOL = 1e-9  # relative slack for float sums of demands
OBJECTIVE_TOL = 1e-6  # relative slack for objectives and bounds


def _get(result: Any, key: str) -> Any:
    return result[key] if isinstance(result, dict) else getattr(result, key)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= OBJECTIVE_TOL * max(1.0, abs(a), abs(b))


def _within(used: float, capacity: float) -> bool:
    return used <= capacity + CAPACITY_TOL * max(1.0, abs(capacity))


def _memory_capacity(server) -> float:
    """The problem format: a server's memory of 0 (not given) means no memory limit."""
    return server.memory if server.memory > 0 else float("inf")


def expected_storage(problem, placement: dict[str, str], *, sharing: bool) -> dict[str, Counter]:
    """server -> Counter of newly stored digests: with sharing a set (counts 1) of the layers its
    containers need and it does not hold; without, every copy (held layers spare none)."""
    layers_of = {c.name: list(c.layers) for c in problem.containers}
    stored: dict[str, Counter] = {s.name: Counter() for s in problem.servers}
    for container, server in placement.items():
        if server not in stored or container not in layers_of:
            continue  # reported separately
        stored[server].update(layers_of[container])
    if sharing:
        held = {s.name: s.held for s in problem.servers}
        stored = {server: Counter(set(digests) - held[server]) for server, digests in stored.items()}
    return stored


def rule_violations(problem, placement: dict[str, str]) -> list[str]:
    """The hard spread and anti-affinity rules the placement breaks, from the problem format's
    definitions (model.Spread, model.ServiceRule)."""
    out = []
    for rule in problem.rules:
        members = {c.name for c in problem.containers if (c.service or c.name) == rule.name}
        placed = dict(rule.placed)
        new = Counter(server for name, server in placement.items() if name in members)
        total = {s.name: placed.get(s.name, 0) + new[s.name] for s in problem.servers}
        if rule.max_per_server:
            out += [f"rule: {rule.name} has {n} on {server}" for server, n in total.items()
                    if n > rule.max_per_server]
        for spread in rule.spread:
            if not spread.hard:
                continue
            domain = {s.name: (s.name if spread.topology == "server" else s.zone) for s in problem.servers}
            out += [f"rule: {rule.name} on {server}, which has no zone" for server, n in new.items()
                    if not domain[server]]
            names = {d for d in domain.values() if d}
            before = {d: sum(placed.get(s, 0) for s in domain if domain[s] == d) for d in names}
            after = {d: sum(total[s] for s in domain if domain[s] == d) for d in names}
            closed = {d for d in names if before[d] > min(before.values()) + spread.max_skew}
            out += [f"rule: {rule.name} gets new replicas in {d}, past the skew" for d in closed
                    if after[d] > before[d]]
            low = min(after.values())
            out += [f"rule: {rule.name} has {after[d]} in {d}, fewest {low}" for d in names - closed
                    if after[d] > low + spread.max_skew]
    return out


def find_violations(problem, result: Any, *, sharing: bool = True) -> list[str]:
    """Everything wrong with `result` (an object or its JSON dict); each entry starts with its kind."""
    out: list[str] = []
    status = _get(result, "status")
    placement = _get(result, "placement")
    layers = _get(result, "layers")
    objective = _get(result, "objective")
    lower_bound = _get(result, "lower_bound")

    if status not in SOLVED + UNSOLVED:
        return [f"status: unknown status {status!r}"]
    if status in UNSOLVED:
        if placement:
            out.append(f"unsolved: status {status} but a placement is given")
        if layers:
            out.append(f"unsolved: status {status} but stored layers are given")
        if objective is not None:
            out.append(f"unsolved: status {status} but objective {objective}")
        return out

    servers = {s.name: s for s in problem.servers}
    containers = {c.name: c for c in problem.containers}
    size = {l.digest: l.size for l in problem.layers}

    # Each container on exactly one existing server.
    for name in containers:
        if name not in placement:
            out.append(f"placement: container {name} is not placed")
    for name, server in placement.items():
        if name not in containers:
            out.append(f"placement: unknown container {name}")
        if server not in servers:
            out.append(f"placement: container {name} on unknown server {server}")

    # Stored layers are exactly the union (or, without sharing, the multiset of copies).
    expected = expected_storage(problem, placement, sharing=sharing)
    for server, digests in layers.items():
        if server not in servers:
            out.append(f"layers: unknown server {server}")
        for d in digests:
            if d not in size:
                out.append(f"layers: unknown digest {d} on {server}")
    for server in servers:
        reported = Counter(layers.get(server, []))
        if sharing and any(n > 1 for n in reported.values()):
            out.append(f"layers: {server} lists a layer twice although layers are shared")
        if reported != expected[server]:
            out.append(f"layers: {server} stores {sorted(reported.elements())}, "
                       f"its containers need {sorted(expected[server].elements())}")

    # Capacities.
    for name, s in servers.items():
        mine = [containers[c] for c, where in placement.items() if where == name and c in containers]
        cpu = sum(c.cpu for c in mine)
        bandwidth = sum(c.bandwidth for c in mine)
        memory = sum(c.memory for c in mine)
        storage = sum(size[d] * n for d, n in expected[name].items())
        for what, used, cap in (("cpu", cpu, s.cpu), ("bandwidth", bandwidth, s.bandwidth),
                                ("memory", memory, _memory_capacity(s)), ("storage", storage, s.storage)):
            if not _within(used, cap):
                out.append(f"capacity: {name} {what} {used:g} > {cap:g}")

    out += rule_violations(problem, placement)

    # Objective, bound and status.
    total = sum(size[d] * n for stored in expected.values() for d, n in stored.items())
    if objective is None or not _close(objective, total):
        out.append(f"objective: reported {objective}, recomputed {total}")
    if lower_bound is not None and objective is not None \
            and lower_bound > objective + OBJECTIVE_TOL * max(1.0, abs(objective)):
        out.append(f"bound: lower bound {lower_bound} above objective {objective}")
    if not sharing:
        # Without sharing every assignment stores the same total, so any answer is optimal for
        # that problem, and that total is no bound on the layer-sharing optimum.
        if lower_bound is not None:
            out.append(f"bound: no-sharing reports lower bound {lower_bound}; it bounds nothing")
    elif status == "optimal" and (lower_bound is None or objective is None or not _close(lower_bound, objective)):
        out.append(f"status: optimal but lower bound {lower_bound} != objective {objective}")
    return out


def assert_valid(problem, result: Any, *, sharing: bool = True) -> None:
    """Fails unless `result` is a solved, feasible answer consistent with itself."""
    status = _get(result, "status")
    assert status in SOLVED, f"not solved: {status} ({_get(result, 'message') if not isinstance(result, dict) else ''})"
    problems = find_violations(problem, result, sharing=sharing)
    assert not problems, "\n".join(problems)


def assert_unsolved(problem, result: Any) -> None:
    """Fails unless `result` reports no answer (infeasible or error) and carries no placement."""
    assert _get(result, "status") in UNSOLVED, f"expected no answer, got {_get(result, 'status')}"
    problems = find_violations(problem, result)
    assert not problems, "\n".join(problems)


def brute_force_optimum(problem) -> float | None:
    """Minimum total newly stored size over every assignment (tiny instances only); None if none fits."""
    from itertools import product

    servers = list(problem.servers)
    containers = list(problem.containers)
    size = {l.digest: l.size for l in problem.layers}
    held = [s.held for s in servers]  # held layers cost nothing and take no storage
    best = None
    for choice in product(range(len(servers)), repeat=len(containers)):
        cpu = [0.0] * len(servers)
        bandwidth = [0.0] * len(servers)
        memory = [0.0] * len(servers)
        stored: list[set[str]] = [set() for _ in servers]
        for c, n in zip(containers, choice):
            cpu[n] += c.cpu
            bandwidth[n] += c.bandwidth
            memory[n] += c.memory
            stored[n].update(set(c.layers) - held[n])
        ok = all(_within(cpu[n], s.cpu) and _within(bandwidth[n], s.bandwidth)
                 and _within(memory[n], _memory_capacity(s))
                 and _within(sum(size[d] for d in stored[n]), s.storage)
                 for n, s in enumerate(servers)) and not rule_violations(
                     problem, {c.name: servers[n].name for c, n in zip(containers, choice)})
        if ok:
            total = sum(size[d] for st in stored for d in st)
            if best is None or total < best:
                best = total
    return best
