"""The paper's ILP (eqs. 1-9) as a PuLP model, and the `ilp` algorithm that solves it.

Eq. (4) as printed, x_n^i * z_i^l = y_n^l, would force y_n^l = 0 on a server that hosts
any container not needing layer l, which makes almost every instance infeasible. The
intended meaning is "a container's layers are stored where it runs", which is
y_n^l >= x_n^i for every (i, l) with z_i^l = 1; minimising eq. (9) then keeps y_n^l = 0
wherever no container needs l.

Incremental placement: H_n, the layers server n already holds (Server.held), cost nothing on n
and take none of its storage, whose capacity S_n is then the free storage. So eq. (9) and
eq. (6) sum only over l not in H_n:

    minimise   sum_n sum_{l not in H_n} C_l y_n^l                       (9)
               sum_{l not in H_n} C_l y_n^l <= S_n     for every n      (6)

and eqs. (4), (5), (7), (8) are unchanged.

Memory, beyond the paper: a server n with a memory capacity M_n (Server.memory > 0) gets

    sum_i m_i x_n^i <= M_n                                            (mem_memory_n{n})

like eq. (7) for CPU; a server without one gets no such constraint (no memory limit), so a
problem without memory is the paper's model. y_n^l for l in H_n stays a variable ("n has l"),
free of cost, so eq. (4) and the cover cuts keep their form; no constraint is added. With
every H_n empty this is the paper's model.

Spread and anti-affinity, beyond the paper (Problem.rules; docs/placement.md). For service k with
members I_k, p_k(n) of its replicas already running on server n, and new_k(n) = sum_{i in I_k} x_n^i:

    new_k(n) + p_k(n) <= max_per_server_k                      (rule_max_s{k}_n{n})
    new_k(n) = 0   on a server closed to k                      (rule_closed_s{k}_n{n})

(closed: outside a hard spread's domains, i.e. without a zone for a zone spread; in a domain
already past the skew with its running replicas; or full with them). Each hard spread h of k,
with count(d) = sum_{n in d} (p_k(n) + new_k(n)) and a continuous variable mn_h:

    mn_h <= count(d)                  for every domain d        (rule_spread_min_s{k}_h{h}_d{d})
    count(d) <= mn_h + max_skew       for every domain d open   (rule_spread_skew_s{k}_h{h}_d{d})

so every open domain holds at most max_skew more than the domain with fewest (mn_h can be at most
that fewest count; domains with none count). Soft rules add to the objective, never to the
constraints: a prefer_apart service the excess e_k(n) >= p_k(n) + new_k(n) - 1 on each server
(soft_apart_s{k}_n{n}), a soft spread the excess e_h(d) >= count(d) - mn_h - max_skew
(soft_skew_s{k}_h{h}_d{d}, with soft_min_s{k}_h{h}_d{d} for mn_h), all e >= 0, and the
objective becomes eq. (9) + w * sum(e) with w = q / (2 (E + 1)): q the resolution of the layer
sizes (the largest power of ten, from 1 down to 1e-6, of which every size is a multiple, so two
stored totals that differ differ by at least q) and E an upper bound on sum(e)
(rules.soft_cost_ceiling). The soft term is then worth less than q / 2 in all: a placement
storing fewer bytes always wins, and among those storing the same the one keeping more soft
rules does; the bound the solver proves, less w * E, is a bound on the bytes. The `ilp`
algorithm solves this to the solver's tolerance; strata's exact finish lets the solver stop at an
absolute gap of q / 2 (PlacementModel.abs_gap): the bytes are then proven optimal (within q of
the bound, so equal to it), whatever is left of the soft term unproven.

Client delay, beyond the paper (client_delay.py): with a latency weight L > 0 and containers that
declare clients, the objective gains L times the mean client delay,

    + sum_{i with clients} sum_n c_i^n x_n^i,   c_i^n = L * D(i, n) / K        (in eq9_stored_size_and_delay)

D(i, n) the weighted mean delay, ms, from container i's clients to server n and K the number of
containers with clients; a constant per (i, n) pair, so the model stays linear. The objective is
then no longer bytes alone: the solver's bound is a bound on bytes plus delay, not on bytes, so the
result gives no bound and says "feasible" (the status and bound of a result are said of bytes);
its details say whether the solver proved the trade-off optimal (`delay_exact`). A container's
client delay bound (max_client_delay_ms) fixes x_n^i = 0 on every server n where a client of it is
farther (client_delay_bound_i{i}_n{n}).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import pulp

from . import mip
from .model import Problem
from .result import PlacementResult, finished
from .bounds import new_copies_minimum, rule_caps
from .client_delay import client_delays
from .rules import soft_cost_ceiling
from .state import Instance

MIN_RESOLUTION = 1e-6


@dataclass
class PlacementModel:
    """A built model with its variables keyed by domain names."""

    model: pulp.LpProblem
    x: dict[tuple[str, str], pulp.LpVariable]  # (container, server) -> x_n^i
    y: dict[tuple[str, str], pulp.LpVariable]  # (server, layer digest) -> y_n^l
    soft_slack: float = 0.0  # w * E: the most the soft term adds to the objective (0 without soft rules)
    resolution: float = 1.0  # q: every stored total is a multiple of it
    with_delay: bool = False  # the objective has the client delay term: its bound is not a bound on bytes

    @property
    def abs_gap(self) -> float | None:
        """The solver's absolute gap: q / 2 with a soft term (the bytes are proven at that gap), else
        the solver's default."""
        return self.resolution / 2 if self.soft_slack else None

    def bytes_bound(self, bound: float | None) -> float | None:
        """A bound on eq. (9) alone from a bound on the model's objective: less the soft term at
        its largest, rounded up to the resolution of the sizes (stored totals are multiples of it);
        None with the client delay term."""
        if self.with_delay:
            return None
        if bound is None or not self.soft_slack:
            return bound
        q = self.resolution
        return max(0.0, math.ceil((bound - self.soft_slack) / q) * q)


def size_resolution(sizes: list[float]) -> float:
    """The largest power of ten from 1 down to MIN_RESOLUTION of which every size is a multiple."""
    q = 1.0
    while q > MIN_RESOLUTION * 1.5:
        if all(abs(size / q - round(size / q)) <= 1e-6 for size in sizes):
            return q
        q /= 10
    return MIN_RESOLUTION


def add_rules(model: pulp.LpProblem, inst: Instance, x: dict[tuple[int, int], pulp.LpVariable],
              services: list[int] | None = None) -> list:
    """The hard rules of the `services` (rule indices; default all) as named constraints on x
    (keyed (container, server) by index); returns the excess variables of their soft rules,
    whose sum is the soft cost (module docstring)."""
    N = range(inst.n_servers)
    soft = []
    for k in range(len(inst.rules)) if services is None else services:
        members, placed = inst.members[k], inst.placed[k]
        new = {n: pulp.lpSum(x[i, n] for i in members) for n in N}
        for n in N:
            if n in inst.closed[k]:
                model += new[n] == 0, f"rule_closed_s{k}_n{n}"
            elif math.isfinite(inst.max_per_server[k]):
                model += new[n] <= inst.max_per_server[k] - placed[n], f"rule_max_s{k}_n{n}"
        for h in inst.spreads_of[k]:
            spread = inst.spreads[h]
            low = model.add_variable(f"spread_min_s{k}_h{h}", 0, None, pulp.LpContinuous)
            for d, already in enumerate(spread.placed):
                count = already + pulp.lpSum(new[n] for n in N if spread.domain_of[n] == d)
                if spread.hard:
                    model += low - count <= 0, f"rule_spread_min_s{k}_h{h}_d{d}"
                    if d not in spread.past:
                        model += count - low <= spread.max_skew, f"rule_spread_skew_s{k}_h{h}_d{d}"
                else:
                    model += low - count <= 0, f"soft_min_s{k}_h{h}_d{d}"
                    excess = model.add_variable(f"excess_s{k}_h{h}_d{d}", 0, None, pulp.LpContinuous)
                    model += excess - count + low >= -spread.max_skew, f"soft_skew_s{k}_h{h}_d{d}"
                    soft.append(excess)
        if inst.rules[k].prefer_apart:
            for n in N:
                excess = model.add_variable(f"together_s{k}_n{n}", 0, None, pulp.LpContinuous)
                model += excess - new[n] >= placed[n] - 1, f"soft_apart_s{k}_n{n}"
                soft.append(excess)
    return soft


def add_delay_bounds(model: pulp.LpProblem, inst: Instance, x: dict[tuple[int, int], pulp.LpVariable]) -> None:
    """Client delay bounds, beyond the paper: container i is not on a server n where a client of it
    is farther than its max_client_delay_ms (x keyed (container, server) by index)."""
    for i, banned in enumerate(inst.banned):
        for n in sorted(banned):
            model += x[i, n] == 0, f"client_delay_bound_i{i}_n{n}"


def build_model(problem: Problem, *, relax: bool = False, strengthen: bool = False,
                latency_weight: float = 0.0) -> PlacementModel:
    """Eqs. (4)-(9) with every constraint named; `relax` makes x and y continuous in [0, 1];
    `latency_weight` > 0 adds the client delay term where containers declare clients.

    `strengthen` adds valid inequalities that cut off fractional points but no integer
    solution: layer l is newly stored on at least as many servers not holding it as hosting
    all its users takes (bounds.new_copies_minimum), which lifts the LP bound to at least the
    cover bound; and, for a service whose hard rules let server n take at most c of its new
    replicas (bounds.rule_caps), its replicas needing layer l number at most c * y_n^l on n,
    which is eq. (4) summed and much tighter when c is small (c = 1: anti-affinity).
    """
    inst = Instance(problem)
    cat = pulp.LpContinuous if relax else pulp.LpBinary
    model = pulp.LpProblem("layer_sharing_placement", pulp.LpMinimize)
    N, I, L = range(inst.n_servers), range(inst.n_containers), range(len(inst.digests))
    xv = {(i, n): model.add_variable(f"x_i{i}_n{n}", 0, 1, cat) for i in I for n in N}
    yv = {(n, l): model.add_variable(f"y_n{n}_l{l}", 0, 1, cat) for n in N for l in L}

    new = {n: [l for l in L if l not in inst.held[n]] for n in N}  # layers n would store anew
    soft = add_rules(model, inst, xv)
    add_delay_bounds(model, inst, xv)
    resolution = size_resolution(inst.size)
    weight = resolution / (2 * (soft_cost_ceiling(problem) + 1)) if soft else 0.0
    with_delay = latency_weight > 0 and problem.has_clients and problem.network is not None
    cost = client_delays(problem).cost(latency_weight) if with_delay else None
    delay = pulp.lpSum(cost[i][n] * xv[i, n] for i in I for n in N if cost[i][n]) if cost else 0
    # (9) minimise the total size of the layers newly stored on all servers (+ the soft rules' term,
    # + the client delay term)
    model += (pulp.lpSum(inst.size[l] * yv[n, l] for n in N for l in new[n])
              + weight * pulp.lpSum(soft) + delay), "eq9_stored_size_and_delay" if with_delay else "eq9_stored_size"
    for i in I:  # (5) each container on exactly one server
        model += pulp.lpSum(xv[i, n] for n in N) == 1, f"eq5_assign_i{i}"
    for i in I:  # (4), corrected: a container's layers are stored where it runs
        for l in inst.need[i]:
            for n in N:
                model += yv[n, l] - xv[i, n] >= 0, f"eq4_layer_i{i}_l{l}_n{n}"
    for n in N:
        # (6) storage, (7) compute, (8) communication capacities
        model += pulp.lpSum(inst.size[l] * yv[n, l] for l in new[n]) <= inst.S[n], f"eq6_storage_n{n}"
        model += pulp.lpSum(inst.d[i] * xv[i, n] for i in I) <= inst.P[n], f"eq7_cpu_n{n}"
        model += pulp.lpSum(inst.b[i] * xv[i, n] for i in I) <= inst.B[n], f"eq8_bandwidth_n{n}"
        if math.isfinite(inst.M[n]):  # memory, beyond the paper: only on servers that give it
            model += pulp.lpSum(inst.m[i] * xv[i, n] for i in I) <= inst.M[n], f"mem_memory_n{n}"
    if strengthen:
        # Each layer is newly stored on at least as many servers as it takes to host its users
        # beyond what the servers holding it can host.
        for l, k in enumerate(new_copies_minimum(inst)):
            if k > 0:
                model += pulp.lpSum(yv[n, l] for n in N if l not in inst.held[n]) >= k, f"cut_layer_cover_l{l}"
        for k, caps in enumerate(rule_caps(inst)):
            for l in {l for i in inst.members[k] for l in inst.need[i]}:
                users = [i for i in inst.members[k] if l in inst.need[i]]
                for n in N:
                    if 0 < caps[n] < len(users):
                        model += (pulp.lpSum(xv[i, n] for i in users) - caps[n] * yv[n, l] <= 0,
                                  f"cut_rule_layer_s{k}_l{l}_n{n}")

    x = {(inst.container_names[i], inst.server_names[n]): v for (i, n), v in xv.items()}
    y = {(inst.server_names[n], inst.digests[l]): v for (n, l), v in yv.items()}
    return PlacementModel(model, x, y, weight * soft_cost_ceiling(problem), resolution, with_delay)


def set_start(built: PlacementModel, problem: Problem, placement: dict[str, str]) -> None:
    """Give the solver an incumbent (warm start, CBC or HiGHS) from a complete placement."""
    stored = {(placement[c.name], d) for c in problem.containers for d in c.layers}
    for (container, server), var in built.x.items():
        var.setInitialValue(1 if placement[container] == server else 0)
    for key, var in built.y.items():
        var.setInitialValue(1 if key in stored else 0)


def read_placement(built: PlacementModel) -> dict[str, str]:
    """The container -> server map of an integer solution (x rounded at 0.5)."""
    placement = {}
    for (container, server), var in built.x.items():
        if (var.varValue or 0.0) > 0.5:
            placement[container] = server
    return placement


def solve_ilp(problem: Problem, *, solver: str = "cbc", time_limit: float = 60.0, seed: int = 0,
              clock: Callable[[], float] = time.monotonic, latency_weight: float = 0.0) -> PlacementResult:
    """The `ilp` algorithm: the paper's model solved by a MIP solver within the time limit;
    `latency_weight` (layer size units per ms of mean client delay) adds the client delay term."""
    del seed  # the solvers run deterministically
    if not latency_weight >= 0 or math.isinf(latency_weight):  # also refuses NaN
        raise ValueError(f"latency_weight must be a finite number >= 0, got {latency_weight!r}")
    start = clock()
    built = build_model(problem, latency_weight=latency_weight)
    outcome = mip.solve(built.model, solver=solver, time_limit=time_limit)  # bytes, then the soft term
    seconds = clock() - start
    if outcome.status in ("infeasible", "error"):
        from .diagnose import no_placement  # diagnose builds on this module

        return no_placement(problem, "ilp", outcome.message, status=outcome.status, seconds=seconds,
                            lower_bound=built.bytes_bound(outcome.bound))
    details, status = {"solver": solver}, outcome.status
    if built.with_delay:  # "optimal" is said of bytes; the trade-off's own proof goes in the details
        details.update(latency_weight=latency_weight, objective_with_delay=outcome.objective,
                       delay_exact=outcome.status)
        status = "feasible"
    return finished(problem, "ilp", read_placement(built), status=status,
                    lower_bound=built.bytes_bound(outcome.bound), seconds=seconds, message=outcome.message,
                    details=details)
