"""`strata`: our algorithm, layer-affinity greedy + local search + exact finish, with a proven bound.

1. Construct: containers ordered so that those sharing a base layer, then an image, come
   together, largest images first; each goes to the server where it adds the least storage
   (layers already there, stored or held from before, are free), ties to the fullest server,
   which keeps groups together.
2. Improve (hill climbing on the exact objective): move a container to another server, and swap
   two containers on different servers, whenever the total stored size drops.
3. Iterate: ruin and recreate, remove every container from a few servers that store the same
   layer and re-insert them greedily with noise, then improve again; keep the best answer.
   Stops after a number of rounds, after a run of fruitless rounds, or when the answer meets
   the bound; rounds are counted, not timed, so a seed gives one answer (a time cap is only a
   safety net).
4. Bound and exact finish: the cover bound (bounds.py) always; on small instances the ILP (HiGHS by default),
   strengthened with valid inequalities and warm-started from the best answer, either proves it
   optimal or improves it; on mid-sized ones the strengthened LP relaxation tightens the bound.
5. Start-up objective (beyond the paper), when the problem has its network section: the
   bytes-best answer is refined against the estimated time until every container is ready
   (startup_search.py): with `startup_weight` 0 among the placements of the same stored bytes
   only (bytes stay first), above 0 against a mix of bytes and time; the bound stays the bytes
   bound.

Hard spread and anti-affinity rules: the greedy only puts a container where state.Loads.fits
allows (kube-scheduler's filter semantics, which keep every spread holding), a move is made only
when the whole service's rules hold after it (Loads.movable), a swap or a ruin-and-recreate
round is kept only when they hold (Loads.rules_hold), and the exact finish is the ILP with the
rules. Soft rules never cost a byte: they break ties in the greedy (equal added storage, fewer
soft rules broken), a last pass moves replicas to servers where they add no storage and break
fewer soft rules, and the exact finish minimises bytes then the soft excess (ilp.py).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from . import mip
from .bounds import cover_bound
from .client_delay import client_delays
from .diagnose import no_placement
from .ilp import build_model, read_placement, set_start
from .latency_search import refine_for_delay
from .model import Problem
from .result import PlacementResult, finished
from .startup_search import refine_for_startup
from .state import Instance, Loads

EPS = 1e-9
EXACT_MAX_PAIRS = 1500  # containers x servers up to which the warm-started ILP runs
LP_BOUND_MAX_PAIRS = 4000  # ... and up to which the strengthened LP relaxation tightens the bound
RULED_PAIRS_PER_SECOND = 150  # with rules, the safety cap: containers x servers / this, in seconds
ROUNDS_PER_CONTAINER = 20
# Fruitless ruin-and-recreate rounds before stopping: 10 per server, and more on small
# instances, where rounds are cheap.
STALE_ROUNDS_PER_SERVER = 10
STALE_ROUNDS_SMALL = 30000  # divided by the number of servers
STARTUP_SHARE = 0.25  # of the time limit kept for the start-up refinement when it is asked for
DELAY_SHARE = 0.25  # ... and for the client delay refinement


def max_rounds(inst: Instance) -> int:
    """Ruin-and-recreate rounds: counted, not timed, so that a seed gives one answer."""
    return ROUNDS_PER_CONTAINER * inst.n_containers


def search_budget(inst: Instance, time_limit: float) -> float:
    """A safety cap in seconds on the heuristic phase; the round count normally ends it first.
    With rules a round costs more (their checks, and recreates the rules turn down), so the cap
    is larger there, at most half the time limit, the rest being the exact finish's or the LP's."""
    pairs = inst.n_containers * inst.n_servers
    if inst.rules:
        return min(time_limit / 2, max(2.0, pairs / RULED_PAIRS_PER_SECOND))
    return min(time_limit, max(2.0, pairs / 2500))


def container_order(inst: Instance, rng: random.Random | None = None) -> list[int]:
    """Families by base layer (most-shared first), then by image, largest images first."""
    base_weight = {}
    for need in inst.need:
        base_weight[need[0]] = base_weight.get(need[0], 0) + 1
    noise = (lambda: rng.random()) if rng else (lambda: 0.0)
    keys = {i: (-base_weight[inst.need[i][0]] * (1 + noise()), inst.need[i][0],
                -inst.image[i] * (1 + 0.3 * noise()), inst.need[i]) for i in range(inst.n_containers)}
    return sorted(range(inst.n_containers), key=keys.__getitem__)


def _fullness(loads: Loads, n: int) -> float:
    inst = loads.inst
    parts = [used / cap for used, cap in ((loads.cpu[n], inst.P[n]), (loads.bw[n], inst.B[n]),
                                          (loads.mem[n], inst.M[n]),
                                          (loads.sto[n], inst.S[n])) if 0 < cap < math.inf]
    return max(parts) if parts else 1.0


def insert_greedily(loads: Loads, containers: list[int], rng: random.Random | None, noise: float) -> bool:
    """Place each container where it adds least storage, ties to the fullest server."""
    inst = loads.inst
    for i in containers:
        best_key, best_n = None, -1
        for n in range(inst.n_servers):
            added = loads.added_storage(i, n)
            if not loads.fits(i, n, added):
                continue
            jitter = 1 + noise * rng.random() if rng and noise else 1.0
            key = (added * jitter, loads.soft_delta(i, n), -_fullness(loads, n))
            if best_key is None or key < best_key:
                best_key, best_n = key, n
        if best_n < 0:
            return False
        loads.place(i, best_n)
    return True


def _try_move(loads: Loads, i: int) -> bool:
    """Move container i to the server where the total drops most; True if it moved."""
    freed = loads.freed_storage(i)
    if freed <= EPS:
        return False
    a = loads.where[i]
    best_delta, best_n = -EPS * max(1.0, freed), -1
    for n in range(loads.inst.n_servers):
        if n == a:
            continue
        added = loads.added_storage(i, n)
        delta = added - freed
        if delta < best_delta and loads.movable(i, n, added):
            best_delta, best_n = delta, n
    if best_n < 0:
        return False
    loads.remove(i)
    loads.place(i, best_n)
    return True


def _try_swap(loads: Loads, i: int, on_server: list[set[int]]) -> bool:
    """Swap container i with one on a server that already stores or holds some of its layers."""
    inst = loads.inst
    a = loads.where[i]
    before_total = loads.sto[a]
    candidates = {n for n in range(inst.n_servers) if n != a
                  and any(l in loads.count[n] or l in inst.held[n] for l in inst.need[i])}
    for n in candidates:
        for j in list(on_server[n]):
            if inst.need[j] == inst.need[i]:
                continue
            old = before_total + loads.sto[n]
            loads.remove(i)
            loads.remove(j)
            ok = loads.fits(i, n)
            if ok:
                loads.place(i, n)
                ok = loads.fits(j, a)
                if ok:
                    loads.place(j, a)
                    if (loads.sto[a] + loads.sto[n] < old - EPS * max(1.0, old)
                            and _rules_hold_for(loads, i, j)):
                        on_server[a].discard(i)
                        on_server[n].discard(j)
                        on_server[n].add(i)
                        on_server[a].add(j)
                        return True
                    loads.remove(j)
                loads.remove(i)
            loads.place(i, a)
            loads.place(j, n)
    return False


def _rules_hold_for(loads: Loads, *containers: int) -> bool:
    """The hard rules of these containers' services hold (containers without rules: True)."""
    return all(loads.rules_hold(k) for k in {loads.inst.rule_of[i] for i in containers} if k >= 0)


def improve_soft(loads: Loads) -> None:
    """Move replicas of services with soft rules to servers where they add no more storage than
    they free and break fewer soft rules, until no such move is left (each lowers the soft cost,
    so it ends)."""
    inst = loads.inst
    ruled = [i for i in range(inst.n_containers) if inst.rule_of[i] >= 0]
    changed = True
    while changed:
        changed = False
        for i in ruled:
            freed, a = loads.freed_storage(i), loads.where[i]
            for n in range(inst.n_servers):
                if n == a:
                    continue
                added = loads.added_storage(i, n)
                if added <= freed + EPS * max(1.0, freed) and loads.soft_delta(i, n) < 0 \
                        and loads.movable(i, n, added):
                    loads.remove(i)
                    loads.place(i, n)
                    changed = True
                    break


def improve(loads: Loads, rng: random.Random, deadline: float, clock: Callable[[], float],
            focus: list[int] | None = None) -> None:
    """Moves, then swaps, of the `focus` containers (default all) until neither lowers the total."""
    inst = loads.inst
    order = list(range(inst.n_containers)) if focus is None else list(focus)
    while clock() < deadline:
        rng.shuffle(order)
        changed = False
        for i in order:
            changed |= _try_move(loads, i)
        on_server: list[set[int]] = [set() for _ in range(inst.n_servers)]
        for i, n in enumerate(loads.where):
            on_server[n].add(i)
        for i in order:
            if clock() >= deadline:
                return
            if loads.freed_storage(i) > EPS:
                changed |= _try_swap(loads, i, on_server)
        if not changed:
            return


def ruin_and_recreate(loads: Loads, rng: random.Random) -> list[int]:
    """Empty 2-4 servers that store a common layer and re-insert their containers with noise.

    Returns the re-inserted containers; on failure every container is left unplaced.
    """
    inst = loads.inst
    holders: dict[int, list[int]] = {}
    for n in range(inst.n_servers):
        for l in loads.count[n]:
            holders.setdefault(l, []).append(n)
    shared = [l for l, ns in holders.items() if len(ns) > 1]
    if shared:
        servers = holders[rng.choice(shared)]
        servers = rng.sample(servers, min(len(servers), rng.randint(2, 4)))
    else:
        servers = rng.sample(range(inst.n_servers), min(inst.n_servers, 2))
    # A random extra server gives the re-inserted containers somewhere new to go.
    servers = set(servers) | {rng.randrange(inst.n_servers)}
    removed = [i for i, n in enumerate(loads.where) if n in servers]
    for i in removed:
        loads.remove(i)
    rng.shuffle(removed)
    removed.sort(key=lambda i: -inst.image[i] * (0.7 + 0.6 * rng.random()))
    if not insert_greedily(loads, removed, rng, noise=0.3) or not loads.rules_hold():
        loads.where[:] = [-1] * inst.n_containers  # mark as failed; caller restores the best
    return removed


def loads_of(inst: Instance, placement: dict[str, str]) -> Loads:
    """The bookkeeping of a complete placement given by names."""
    server = {name: n for n, name in enumerate(inst.server_names)}
    loads = Loads(inst)
    for i, name in enumerate(inst.container_names):
        loads.place(i, server[placement[name]])
    return loads


def _better(a: Loads, b: Loads) -> bool:
    """a stores fewer bytes than b, or as many and breaks fewer soft rules."""
    tol = 1e-6 * max(1.0, b.objective())
    return a.objective() < b.objective() - tol or (a.objective() <= b.objective() + tol
                                                   and a.soft_total() < b.soft_total())


def solve_strata(problem: Problem, *, solver: str = "highs", time_limit: float = 60.0, seed: int = 0,
                 clock: Callable[[], float] = time.monotonic, startup_weight: float = 0.0,
                 latency_weight: float = 0.0) -> PlacementResult:
    """`startup_weight` w in [0, 1]: 0 minimises stored bytes (eq. 9), and where the problem has
    its network section, breaks ties of bytes by the estimated time to ready; above 0, the answer
    is refined against (1 - w) x bytes + w x estimated time to ready, both relative to the
    bytes-best answer (startup_search.py), which needs the network section. `latency_weight` L
    >= 0, in layer size units per ms: where containers declare clients, bytes become bytes + L x
    the mean client delay (client_delay.py); 0 leaves the clients out of the objective."""
    if not 0.0 <= startup_weight <= 1.0:  # also refuses NaN
        raise ValueError(f"startup_weight must be from 0 to 1, got {startup_weight!r}")
    if not 0.0 <= latency_weight < math.inf:
        raise ValueError(f"latency_weight must be a finite number >= 0, got {latency_weight!r}")
    if startup_weight and problem.network is None:
        raise ValueError("startup_weight > 0 needs the problem's network section (the start-up estimate's input)")
    start = clock()
    # With the start-up objective, a quarter of the time is kept for the refinement: the exact
    # finish may otherwise use all of it on an instance it cannot prove; as much again for the
    # client delay's.
    refine = problem.network is not None
    with_delay = bool(latency_weight) and problem.has_clients and refine
    bytes_share = 1 - (STARTUP_SHARE if refine else 0) - (DELAY_SHARE if with_delay else 0)
    result = _solve_bytes(problem, solver=solver, time_limit=time_limit * bytes_share, seed=seed, clock=clock)
    if not refine or not result.solved:
        return result
    inst = Instance(problem)
    loads, status, details = loads_of(inst, result.placement), result.status, dict(result.details)
    cost = None
    if with_delay:
        cost = client_delays(problem).cost(latency_weight)
        loads, figures = refine_for_delay(
            inst, loads, latency_weight, cost, solver=solver, exact_max_pairs=EXACT_MAX_PAIRS,
            deadline=start + time_limit * (1 - STARTUP_SHARE), clock=clock)
        details.update(figures)
        status = "feasible"  # said of bytes, which may have grown; figures["delay_exact"]: the trade-off's proof
    refined, figures = refine_for_startup(loads, startup_weight, start + time_limit, clock, cost)
    # w = 0 keeps the bytes (plus delay term) of the answer refined (a proven optimum stays one);
    # above, they may grow
    status = status if not startup_weight else "feasible"
    return finished(problem, "strata", inst.named(refined.where), status=status, lower_bound=result.lower_bound,
                    seconds=clock() - start, details={**details, **figures})


def _solve_bytes(problem: Problem, *, solver: str, time_limit: float, seed: int,
                 clock: Callable[[], float]) -> PlacementResult:
    """Steps 1-4: the placement of least stored bytes."""
    start = clock()
    inst = Instance(problem)
    rng = random.Random(seed)
    bound = cover_bound(inst)
    deadline = start + search_budget(inst, time_limit)

    best: Loads | None = None
    for attempt in range(20):
        loads = Loads(inst)
        order = container_order(inst, rng if attempt else None)
        if insert_greedily(loads, order, rng, noise=0.2 if attempt else 0.0):
            best = loads
            break
    details = {"cover_bound": bound}
    if best is not None:
        improve(best, rng, deadline, clock)
        stale, rounds = 0, 0
        patience = max(STALE_ROUNDS_PER_SERVER * inst.n_servers, STALE_ROUNDS_SMALL // inst.n_servers)
        while (rounds < max_rounds(inst) and stale < patience and clock() < deadline
               and best.objective() > bound + EPS):
            rounds += 1
            trial = best.copy()
            moved = ruin_and_recreate(trial, rng)
            if not trial.complete():
                stale += 1
                continue
            improve(trial, rng, deadline, clock, focus=moved)
            if trial.objective() < best.objective() - EPS * max(1.0, best.objective()):
                best, stale = trial, 0
            else:
                stale += 1
        if inst.has_soft_rules:
            improve_soft(best)
            details["soft_cost"] = best.soft_total()
        details["heuristic"] = best.objective()
        details["rounds"] = rounds

    pairs = inst.n_containers * inst.n_servers
    remaining = start + time_limit - clock()
    status = "feasible"
    if best is not None and best.objective() <= bound + EPS:
        return finished(problem, "strata", inst.named(best.where), status="optimal", lower_bound=bound,
                        seconds=clock() - start, details=details)
    has_time = remaining >= 1.0  # the solvers' time limits are whole seconds
    if has_time and pairs <= EXACT_MAX_PAIRS:
        built = build_model(problem, strengthen=True)
        if best is not None:
            set_start(built, problem, inst.named(best.where))
        outcome = mip.solve(built.model, solver=solver, time_limit=remaining, warm_start=best is not None,
                            abs_gap=built.abs_gap)
        if outcome.status == "infeasible":
            return no_placement(problem, "strata", "the solver proved the problem infeasible",
                                status="infeasible", seconds=clock() - start)
        if outcome.bound is not None:
            bound = max(bound, built.bytes_bound(outcome.bound))
        if outcome.status in ("optimal", "feasible"):
            exact = loads_of(inst, read_placement(built))
            if best is None or _better(exact, best):
                details["exact"] = outcome.status
                if inst.has_soft_rules:
                    details["soft_cost"] = exact.soft_total()
                return finished(problem, "strata", inst.named(exact.where), status=outcome.status,
                                lower_bound=bound, seconds=clock() - start, details=details)
        if outcome.status == "optimal":
            status = "optimal"
    elif has_time and pairs <= LP_BOUND_MAX_PAIRS:
        built = build_model(problem, relax=True, strengthen=True)
        outcome = mip.solve(built.model, solver=solver, time_limit=remaining, mip=False)
        if outcome.status == "infeasible":
            return no_placement(problem, "strata", "the LP relaxation is infeasible, so the problem is",
                                status="infeasible", seconds=clock() - start)
        if outcome.status == "optimal":
            bound = max(bound, built.bytes_bound(outcome.objective))
    if best is None:
        return no_placement(problem, "strata", "no feasible placement found within the time limit",
                            seconds=clock() - start, lower_bound=bound)
    return finished(problem, "strata", inst.named(best.where), status=status, lower_bound=bound,
                    seconds=clock() - start, details=details)
