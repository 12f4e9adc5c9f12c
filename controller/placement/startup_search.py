"""`strata`'s start-up objective: the bytes-best placement refined by local search against the start-up estimate.

The cost of a placement mixes the two objectives, each relative to the bytes-best placement's
value (so the weight reads as an exchange rate between relative bytes and relative seconds):

    cost = (1 - w) * stored / stored_0  +  w * ready / ready_0

where `stored` is eq. (9)'s total of newly stored layers (plus, with a latency weight, the client
delay term: latency_search.py) and `ready` the estimated seconds until every container is ready
(startup.py). w = 0 keeps bytes first: only placements storing no
more than the bytes-best one are taken, the one estimated ready soonest among them (time breaks
the ties of bytes); w = 1 counts time to ready only, bytes breaking ties. Ties of the cost go to fewer
soft rules broken (prefer apart, soft spreads), then to the smaller sum of the servers' ready
times (which lets the search leave a plateau where two servers are equally late), then to
fewer bytes.

The search moves one container, or a server's containers of one image together, to another
server where they fit (`Loads.fits`, and `Loads.rules_hold` over their services afterwards:
every capacity and hard placement rule holds, so the result keeps every constraint the bytes
search kept), or, when no move improves, swaps a container of a server that is last to be
ready with one of another server. It takes the first improving
change, trying the late servers' containers first and the servers ready soonest first as
targets; it stops when no change improves, or after a number of estimates counted, not timed
(a seed gives one answer); the deadline is only a safety net.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .startup import Estimate, StartupModel
from .state import Loads

# Estimates the search may make: about 3 s on 24 servers and 90 containers here (1.5 ms each).
MAX_ESTIMATES = 2000


class _Search:
    def __init__(self, loads: Loads, weight: float, deadline: float, clock: Callable[[], float],
                 delay_cost: list[list[float]] | None):
        self.model = StartupModel(loads.inst.problem)
        self.weight, self.deadline, self.clock = weight, deadline, clock
        self.delay_cost = delay_cost
        self.stored_0 = self.stored(loads)
        self.bytes_0 = loads.objective()
        self.ready_0 = self.model.estimate(loads.where).seconds
        self.estimates = 0

    def stored(self, loads: Loads) -> float:
        """Stored size, plus the client delay term when there is one."""
        if self.delay_cost is None:
            return loads.objective()
        return loads.objective() + sum(self.delay_cost[i][n] for i, n in enumerate(loads.where))

    def out_of_budget(self) -> bool:
        return self.estimates >= MAX_ESTIMATES or self.clock() >= self.deadline

    def cost(self, loads: Loads) -> tuple[tuple, Estimate | None]:
        """((mixed cost, soft rules broken, sum of the servers' ready seconds, stored size), the
        estimate) of a complete placement; with weight 0, ((stored size relative, soft rules broken,
        ready seconds, sum of the servers' ready seconds, stored size), the estimate), and a
        placement storing more than the bytes-best one is refused without an estimate."""
        stored = self.stored(loads)
        if not self.weight:
            if stored > self.stored_0 * (1 + 1e-12) + 1e-9:
                return (math.inf,), None
            self.estimates += 1
            estimate = self.model.estimate(loads.where)
            return (round(stored / self.stored_0 if self.stored_0 > 0 else stored, 12), loads.soft_total(),
                    round(estimate.seconds, 9), round(sum(estimate.server_seconds.values()), 9), stored), estimate
        self.estimates += 1
        estimate = self.model.estimate(loads.where)
        mixed = ((1 - self.weight) * (stored / self.stored_0 if self.stored_0 > 0 else stored)
                 + self.weight * (estimate.seconds / self.ready_0 if self.ready_0 > 0 else estimate.seconds))
        return (round(mixed, 12), loads.soft_total(), round(sum(estimate.server_seconds.values()), 9), stored), estimate

    def first_move(self, loads: Loads, cost: tuple, groups: list[tuple[int, ...]], targets: list[int]):
        """The first move of a group to another server that lowers the cost: ((group, server), cost) or None."""
        for group in groups:
            a = loads.where[group[0]]
            for i in group:
                loads.remove(i)
            found = None
            for n in targets:
                if n == a:
                    continue
                placed = []
                for i in group:
                    if not loads.fits(i, n):
                        break
                    loads.place(i, n)
                    placed.append(i)
                if len(placed) == len(group) and rules_hold(loads, group):
                    trial, _ = self.cost(loads)
                    if trial < cost:
                        found = ((group, n), trial)
                for i in placed:
                    loads.remove(i)
                if found or self.out_of_budget():
                    break
            for i in group:
                loads.place(i, a)
            if found or self.out_of_budget():
                return found
        return None

    def first_swap(self, loads: Loads, cost: tuple, movable: list[int]):
        """The first swap of a late server's container with another server's that lowers the cost:
        ((i, j), cost) or None."""
        for i in movable:
            a = loads.where[i]
            for j, n in enumerate(list(loads.where)):
                if n == a or loads.inst.need[j] == loads.inst.need[i]:
                    continue
                trial = swap_trial(loads, i, j, lambda: self.cost(loads)[0])
                if trial is not None and trial < cost:
                    return (i, j), trial
                if self.out_of_budget():
                    return None
        return None


def rules_hold(loads: Loads, moved: tuple[int, ...]) -> bool:
    """Every hard rule of the moved containers' services holds: `fits` judged each step from a
    state where one replica was away, which can leave another domain past the skew."""
    return all(loads.rules_hold(k) for k in {loads.inst.rule_of[i] for i in moved} if k >= 0)


def groups_of(loads: Loads, late: set[int]) -> list[tuple[int, ...]]:
    """What may move at once: every container alone, and the containers of one image on one server
    together (moving a single replica leaves its image's pull where it was). Late servers' first:
    theirs, and those whose pulls the late ones share links with or wait for, may all help."""
    alike: dict[tuple, list[int]] = {}
    for i, n in enumerate(loads.where):
        alike.setdefault((n, loads.inst.need[i]), []).append(i)
    groups = [(i,) for i in range(loads.inst.n_containers)] + [tuple(g) for g in alike.values() if len(g) > 1]
    return sorted(groups, key=lambda g: (loads.where[g[0]] not in late, -len(g), g))


def refine_for_startup(loads: Loads, weight: float, deadline: float, clock: Callable[[], float],
                       delay_cost: list[list[float]] | None = None) -> tuple[Loads, dict]:
    """Improve a complete placement against the mixed cost; returns the best placement and figures.
    `delay_cost`: the client delay term per (container, server), counted with the stored size."""
    search = _Search(loads, weight, deadline, clock, delay_cost)
    best = loads.copy()
    # At w = 0 the search only rearranges the servers the bytes-best placement uses: it leaves the
    # servers that plan left empty for what comes next (bytes alone packs onto the fullest), where
    # spreading onto them could take the room a later app's placement needs.
    open_to = set(loads.where) if not weight else set(range(len(search.model.names)))
    cost, estimate = search.cost(best)
    steps = 0
    while not search.out_of_budget():
        index = {name: n for n, name in enumerate(search.model.names)}
        ready = [estimate.server_seconds.get(name, 0.0) for name in search.model.names]
        late = {index[name] for name, s in estimate.server_seconds.items() if s >= estimate.seconds * (1 - 1e-9)}
        targets = sorted((n for n in range(len(ready)) if n in open_to), key=lambda n: (ready[n], n))
        move = search.first_move(best, cost, groups_of(best, late), targets)
        if move is not None:
            (group, n), cost = move
            for i in group:
                best.remove(i)
            for i in group:
                best.place(i, n)
        else:
            swap = search.first_swap(best, cost, [i for i, n in enumerate(best.where) if n in late])
            if swap is None:
                break
            (i, j), cost = swap
            a, n = best.remove(i), best.remove(j)
            best.place(i, n)
            best.place(j, a)
        estimate = search.model.estimate(best.where)
        steps += 1
    return best, {"startup_weight": weight, "ready_seconds": estimate.seconds,
                  "ready_seconds_bytes_first": search.ready_0, "stored_bytes_first": search.bytes_0,
                  "startup_steps": steps, "startup_estimates": search.estimates}


def swap_trial(loads: Loads, i: int, j: int, evaluate: Callable[[], float]) -> float | None:
    """evaluate() in the state where containers i and j (on different servers) have swapped, or
    None if the swap does not fit or breaks a hard rule; `loads` is left as it was."""
    a, n = loads.where[i], loads.where[j]
    loads.remove(i)
    loads.remove(j)
    value = None
    if loads.fits(i, n):
        loads.place(i, n)
        if loads.fits(j, a):
            loads.place(j, a)
            if rules_hold(loads, (i, j)):
                value = evaluate()
            loads.remove(j)
        loads.remove(i)
    loads.place(i, a)
    loads.place(j, n)
    return value
