"""Why an algorithm found no placement: a service's hard rules that no servers could keep, or not."""

from __future__ import annotations

import pulp

from . import mip
from .ilp import add_rules
from .model import Problem
from .result import PlacementResult, failed
from .rules import describe
from .state import Instance


def rules_conflict(problem: Problem, *, solver: str = "cbc") -> str | None:
    """A message naming the first service whose hard rules cannot hold on these servers whatever
    their capacities (its replicas placed by the rules alone), or None when every service's can."""
    inst = Instance(problem)
    for k, rule in enumerate(inst.rules):
        members = inst.members[k]
        if not members or not (rule.max_per_server or any(s.hard for s in rule.spread)):
            continue
        model = pulp.LpProblem("rules_only", pulp.LpMinimize)
        x = {(i, n): model.add_variable(f"x_i{i}_n{n}", 0, 1, pulp.LpBinary)
             for i in members for n in range(inst.n_servers)}
        model += pulp.lpSum(x.values()), "placed_replicas"
        for i in members:
            model += pulp.lpSum(x[i, n] for n in range(inst.n_servers)) == 1, f"assign_i{i}"
        add_rules(model, inst, x, services=[k])
        if mip.solve(model, solver=solver, time_limit=10).status == "infeasible":
            return (f'service "{rule.name}": its {len(members)} new replica(s) cannot keep '
                    f"{describe(rule)} on these servers, whatever their capacities")
    return None


def no_placement(problem: Problem, algorithm: str, message: str, *, seconds: float,
                 status: str = "error", lower_bound: float | None = None,
                 details: dict | None = None) -> PlacementResult:
    """The result of a run that found no placement: infeasible, naming the service and its rule,
    when the hard rules alone cannot hold; otherwise `status` with the algorithm's `message`."""
    conflict = rules_conflict(problem) if problem.rules else None
    if conflict:
        return failed(algorithm, "infeasible", conflict, seconds=seconds, lower_bound=lower_bound,
                      details=details)
    return failed(algorithm, status, message, seconds=seconds, lower_bound=lower_bound, details=details)
