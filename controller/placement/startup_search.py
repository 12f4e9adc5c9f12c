"""`strata`'s start-up objective: the bytes-best placement refined by local search against the start-up estimate.

The cost of a placement mixes the two objectives, each relative to the bytes-best placement's
value (so the weight reads as an exchange rate between relative bytes and relative seconds):

    cost = (1 - w) * stored / stored_0  +  w * ready / ready_0

where `stored` is eq. (9)'s total of newly stored layers and `ready` the estimated seconds
until every container is ready (startup.py). w = 0 is the bytes objective alone (the search is
not run); w = 1 counts time to ready only, bytes breaking ties. Ties of the cost go to the
smaller sum of the servers' ready times (which lets the search leave a plateau where two
servers are equally late), then to fewer bytes.

The search moves one container to any server where it fits (`Loads.fits`: every capacity and
placement rule holds, so the result keeps every constraint the bytes search kept), or, when no
move improves, swaps a container of a server that is last to be ready with one of another
server, taking the best improving change each step; it stops when no change improves, after a number of steps
counted, not timed (a seed gives one answer), or at the deadline.
"""

from __future__ import annotations

from collections.abc import Callable

from .startup import StartupModel
from .state import Loads

STEPS_PER_CONTAINER = 4


def startup_cost(loads: Loads, model: StartupModel, weight: float, stored_0: float,
                 ready_0: float) -> tuple[float, float, float]:
    """(mixed cost, sum of the servers' ready seconds, stored size) of a complete placement."""
    estimate = model.estimate(loads.where)
    stored = loads.objective()
    mixed = ((1 - weight) * (stored / stored_0 if stored_0 > 0 else stored)
             + weight * (estimate.seconds / ready_0 if ready_0 > 0 else estimate.seconds))
    return (round(mixed, 12), round(sum(estimate.server_seconds.values()), 9), stored)


def _late_servers(loads: Loads, model: StartupModel) -> list[int]:
    estimate = model.estimate(loads.where)
    index = {name: n for n, name in enumerate(model.names)}
    return sorted(index[name] for name, s in estimate.server_seconds.items() if s >= estimate.seconds * (1 - 1e-9))


def refine_for_startup(loads: Loads, weight: float, deadline: float,
                       clock: Callable[[], float]) -> tuple[Loads, dict]:
    """Improve a complete placement against the mixed cost; returns the best placement and figures."""
    model = StartupModel(loads.inst.problem)
    stored_0 = loads.objective()
    ready_0 = model.estimate(loads.where).seconds
    best = loads.copy()
    cost = startup_cost(best, model, weight, stored_0, ready_0)
    steps = 0
    while steps < STEPS_PER_CONTAINER * best.inst.n_containers and clock() < deadline:
        late = set(_late_servers(best, model))
        change, change_cost = _best_move(best, model, weight, stored_0, ready_0, _groups(best, late), cost,
                                         deadline, clock)
        if change is None:
            movable = [i for i, n in enumerate(best.where) if n in late]
            change, change_cost = _best_swap(best, model, weight, stored_0, ready_0, movable, cost, deadline, clock)
        if change is None:
            break
        group, n, j = change
        a = best.where[group[0]]
        for i in group:
            best.remove(i)
        if j is not None:
            best.remove(j)
            best.place(j, a)
        for i in group:
            best.place(i, n)
        cost = change_cost
        steps += 1
    final = model.estimate(best.where)
    return best, {"startup_weight": weight, "ready_seconds": final.seconds, "ready_seconds_bytes_first": ready_0,
                  "stored_bytes_first": stored_0, "startup_steps": steps}


def _groups(loads: Loads, late: set[int]) -> list[tuple[int, ...]]:
    """What may move at once: every container alone, and the containers of one image on one server
    together (moving a single replica leaves its image's pull where it was). Late servers' first:
    theirs, and those whose pulls the late ones share links with or wait for, may all help."""
    alike: dict[tuple, list[int]] = {}
    for i, n in enumerate(loads.where):
        alike.setdefault((n, loads.inst.need[i]), []).append(i)
    groups = [(i,) for i in range(loads.inst.n_containers)] + [tuple(g) for g in alike.values() if len(g) > 1]
    return sorted(groups, key=lambda g: (loads.where[g[0]] not in late, g))


def _best_move(loads: Loads, model: StartupModel, weight: float, stored_0: float, ready_0: float,
               groups: list[tuple[int, ...]], cost: tuple, deadline: float, clock: Callable[[], float]):
    """The best improving move of a group to another server, as ((group, server, None), cost), or (None, cost)."""
    change, change_cost = None, cost
    for group in groups:
        a = loads.where[group[0]]
        for i in group:
            loads.remove(i)
        for n in range(loads.inst.n_servers):
            if n == a:
                continue
            placed = []
            for i in group:
                if not loads.fits(i, n):
                    break
                loads.place(i, n)
                placed.append(i)
            if len(placed) == len(group):
                trial = startup_cost(loads, model, weight, stored_0, ready_0)
                if trial < change_cost:
                    change, change_cost = (group, n, None), trial
            for i in placed:
                loads.remove(i)
        for i in group:
            loads.place(i, a)
        if clock() >= deadline:
            break
    return change, change_cost


def _best_swap(loads: Loads, model: StartupModel, weight: float, stored_0: float, ready_0: float,
               movable: list[int], cost: tuple, deadline: float, clock: Callable[[], float]):
    """The best improving swap of a container of a late server with one of another server, as
    (((i,), its new server, j), cost), or (None, cost)."""
    change, change_cost = None, cost
    for i in movable:
        a = loads.where[i]
        for j, n in enumerate(list(loads.where)):
            if n == a or loads.inst.need[j] == loads.inst.need[i]:
                continue
            loads.remove(i)
            loads.remove(j)
            if loads.fits(i, n):
                loads.place(i, n)
                if loads.fits(j, a):
                    loads.place(j, a)
                    trial = startup_cost(loads, model, weight, stored_0, ready_0)
                    if trial < change_cost:
                        change, change_cost = ((i,), n, j), trial
                    loads.remove(j)
                loads.remove(i)
            loads.place(i, a)
            loads.place(j, n)
        if clock() >= deadline:
            break
    return change, change_cost
