"""`no-sharing`: the paper's comparison, every container stores its whole image, no layer shared.

The total stored size is then the sum of the image sizes whatever the assignment, so every
feasible assignment is a minimum-cost one: the work is finding one where each server's
storage holds full copies of its containers' images. First-fit decreasing is tried first;
when it fails, a feasibility ILP decides.

Layers a server already holds (Server.held) do not help here: each container still stores its
whole image in the server's free storage S_n, and the objective counts every copy. That is the
baseline's point, the cost of placement that knows nothing of layers; the layer-aware
algorithms are the ones that reuse what nodes hold.

Hard rules filter servers in first-fit decreasing (state.Loads.fits) and are constraints of
the feasibility ILP (ilp.add_rules). Soft rules never cost bytes here, the total being fixed:
first-fit takes the first server that keeps them if there is one, and the ILP minimises their
excess.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pulp

from . import mip
from .diagnose import no_placement
from .first_fit import first_fitting
from .ilp import add_delay_bounds, add_rules
from .model import Problem
from .result import PlacementResult, finished
from .state import Instance, Loads


def _first_fit_decreasing(inst: Instance) -> list[int] | None:
    loads = Loads(inst, sharing=False)
    for i in sorted(range(inst.n_containers), key=lambda i: -inst.image[i]):
        target = first_fitting(loads, i)
        if target is None:
            return None
        loads.place(i, target)
    return loads.where


def build_feasibility_model(inst: Instance) -> tuple[pulp.LpProblem, dict[tuple[int, int], pulp.LpVariable]]:
    """Assignment with full-image storage and the hard rules; the stored size is the same for every
    feasible point, so the objective adds the soft rules' excess, which then costs no bytes."""
    N, I = range(inst.n_servers), range(inst.n_containers)
    model = pulp.LpProblem("no_sharing_placement", pulp.LpMinimize)
    x = {(i, n): model.add_variable(f"x_i{i}_n{n}", 0, 1, pulp.LpBinary) for i in I for n in N}
    soft = add_rules(model, inst, x)
    add_delay_bounds(model, inst, x)
    model += (pulp.lpSum(inst.image[i] * x[i, n] for i in I for n in N)
              + pulp.lpSum(soft)), "stored_copies_size_and_soft_excess"
    for i in I:
        model += pulp.lpSum(x[i, n] for n in N) == 1, f"assign_i{i}"
    for n in N:
        model += pulp.lpSum(inst.image[i] * x[i, n] for i in I) <= inst.S[n], f"storage_n{n}"
        model += pulp.lpSum(inst.d[i] * x[i, n] for i in I) <= inst.P[n], f"cpu_n{n}"
        model += pulp.lpSum(inst.b[i] * x[i, n] for i in I) <= inst.B[n], f"bandwidth_n{n}"
        if math.isfinite(inst.M[n]):  # a server without a memory capacity has no memory limit
            model += pulp.lpSum(inst.m[i] * x[i, n] for i in I) <= inst.M[n], f"memory_n{n}"
    return model, x


def solve_no_sharing(problem: Problem, *, solver: str = "cbc", time_limit: float = 60.0, seed: int = 0,
                     clock: Callable[[], float] = time.monotonic) -> PlacementResult:
    del seed
    start = clock()
    inst = Instance(problem)
    where = _first_fit_decreasing(inst)
    if where is None:
        model, x = build_feasibility_model(inst)
        outcome = mip.solve(model, solver=solver, time_limit=time_limit)
        if outcome.status in ("infeasible", "error"):
            message = ("no assignment fits when every container stores its whole image"
                       if outcome.status == "infeasible" else outcome.message)
            return no_placement(problem, "no-sharing", message, status=outcome.status,
                                seconds=clock() - start)
        where = [next(n for n in range(inst.n_servers) if (x[i, n].varValue or 0) > 0.5)
                 for i in range(inst.n_containers)]
    # Optimal for the no-sharing problem; its total is no bound on the layer-sharing optimum.
    return finished(problem, "no-sharing", inst.named(where), status="optimal", lower_bound=None,
                    seconds=clock() - start, sharing=False,
                    message="without sharing the stored size is the same for every feasible assignment")
