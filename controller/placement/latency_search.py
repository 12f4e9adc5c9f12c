"""`strata`'s client delay objective: the bytes-best placement refined against stored bytes plus the client delay term.

The cost of a placement is eq. (9)'s stored size plus, for each container, the constant its
server adds (client_delay.ClientDelays.cost: the latency weight times its share of the mean
client delay). From the bytes-best placement, a hill climb takes the best of: moving a container,
or the containers of one image on one server together (moving one replica alone leaves its
image's layers where they were), to another server where they fit and every hard rule of their
services holds; or swapping a container that declares clients with one on another server. It
stops when nothing lowers the cost, or at the deadline. On small instances the ILP with the delay
term (ilp.py), warm-started from that answer, then proves it optimal or improves it.
"""

from __future__ import annotations

from collections.abc import Callable

from . import mip
from .ilp import build_model, read_placement, set_start
from .startup_search import groups_of, rules_hold, swap_trial
from .state import Instance, Loads

EPS = 1e-9


def total_cost(loads: Loads, cost: list[list[float]]) -> float:
    """Stored size plus the client delay term of a complete placement."""
    return loads.objective() + sum(cost[i][n] for i, n in enumerate(loads.where))


def _moved_delta(loads: Loads, group: tuple[int, ...], n: int, cost: list[list[float]]) -> float | None:
    """The change of cost if `group` (on one server) moved to server n; None if it may not. Leaves
    `loads` as it found it."""
    a = loads.where[group[0]]
    before = loads.sto[a] + loads.sto[n]
    for i in group:
        loads.remove(i)
    placed = []
    for i in group:
        if not loads.fits(i, n):
            break
        loads.place(i, n)
        placed.append(i)
    delta = None
    if len(placed) == len(group) and rules_hold(loads, group):
        delta = loads.sto[a] + loads.sto[n] - before + sum(cost[i][n] - cost[i][a] for i in group)
    for i in placed:
        loads.remove(i)
    for i in group:
        loads.place(i, a)
    return delta


def _swapped_delta(loads: Loads, i: int, j: int, cost: list[list[float]]) -> float | None:
    """The change of cost if containers i and j (on different servers) swapped; None if they may not."""
    a, n = loads.where[i], loads.where[j]
    before = loads.sto[a] + loads.sto[n]
    return swap_trial(loads, i, j, lambda: loads.sto[a] + loads.sto[n] - before
                      + cost[i][n] + cost[j][a] - cost[i][a] - cost[j][n])


def improve_delay(loads: Loads, cost: list[list[float]], deadline: float, clock: Callable[[], float]) -> int:
    """Best-improvement moves and swaps against the cost, in place; returns the steps taken."""
    inst = loads.inst
    with_clients = [i for i in range(inst.n_containers) if any(cost[i])]
    steps = 0
    while clock() < deadline:
        tolerance = -EPS * max(1.0, total_cost(loads, cost))
        best, change = tolerance, None
        for group in groups_of(loads, set()):
            for n in range(inst.n_servers):
                if n != loads.where[group[0]]:
                    delta = _moved_delta(loads, group, n, cost)
                    if delta is not None and delta < best:
                        best, change = delta, ("move", group, n)
        for i in with_clients:
            for j in range(inst.n_containers):
                if loads.where[j] != loads.where[i] and inst.need[j] != inst.need[i]:
                    delta = _swapped_delta(loads, i, j, cost)
                    if delta is not None and delta < best:
                        best, change = delta, ("swap", i, j)
        if change is None:
            break
        if change[0] == "move":
            _, group, n = change
            for i in group:
                loads.remove(i)
            for i in group:
                loads.place(i, n)
        else:
            _, i, j = change
            a, n = loads.remove(i), loads.remove(j)
            loads.place(i, n)
            loads.place(j, a)
        steps += 1
    return steps


def refine_for_delay(inst: Instance, loads: Loads, latency_weight: float, cost: list[list[float]], *,
                     solver: str, exact_max_pairs: int, deadline: float,
                     clock: Callable[[], float]) -> tuple[Loads, dict]:
    """The placement of least stored size plus client delay term from a complete one: (placement,
    figures; figures["delay_exact"] "optimal" when the ILP proved it)."""
    best = loads.copy()
    steps = improve_delay(best, cost, deadline, clock)
    figures = {"latency_weight": latency_weight, "delay_steps": steps}
    remaining = deadline - clock()
    if remaining >= 1.0 and inst.n_containers * inst.n_servers <= exact_max_pairs:
        problem = inst.problem
        built = build_model(problem, strengthen=True, latency_weight=latency_weight)
        set_start(built, problem, inst.named(best.where))
        outcome = mip.solve(built.model, solver=solver, time_limit=remaining, warm_start=True)
        if outcome.status in ("optimal", "feasible"):
            server = {name: n for n, name in enumerate(inst.server_names)}
            placement = read_placement(built)
            exact = Loads(inst)
            for i, name in enumerate(inst.container_names):
                exact.place(i, server[placement[name]])
            if total_cost(exact, cost) <= total_cost(best, cost) + EPS * max(1.0, total_cost(best, cost)):
                best = exact
            figures["delay_exact"] = outcome.status  # "optimal": no placement costs less than `best`
    figures["objective_with_delay"] = total_cost(best, cost)
    return best, figures
