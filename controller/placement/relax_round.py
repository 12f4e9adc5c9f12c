"""`relax-round`: the paper's Algorithm 1, LP relaxation then weighted random rounding.

As the paper gives it: solve the LP relaxation of eqs. (4)-(9) for fractional X and Y; then,
until every constraint holds, draw for each container i one server j with probability
w_j / sum(w), where w_j = X_j^i * (P_j / sum P + S_j / sum S + B_j / sum B); derive the stored
layers y from the drawn placement and check storage, CPU and bandwidth (and memory, on servers
that give one; the weights stay the paper's), and the hard spread and anti-affinity rules, which
the LP relaxation carries too (ilp.add_rules; its soft term is in the LP's objective, the
rounding draws by X alone). Each round redraws all containers. After `max_rounds` failed rounds (or the time limit) it gives up and says so; it
never borrows another algorithm's answer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from . import mip
from .diagnose import no_placement
from .ilp import build_model
from .model import Problem
from .result import PlacementResult, failed, finished
from .state import Instance, Loads

MAX_ROUNDS = 1000


def rounding_weights(inst: Instance, X: list[list[float]]) -> list[list[float]]:
    """w[i][n] = X[i][n] * (P_n / sum P + S_n / sum S + B_n / sum B)."""
    sp, ss, sb = sum(inst.P) or 1.0, sum(inst.S) or 1.0, sum(inst.B) or 1.0
    resource = [inst.P[n] / sp + inst.S[n] / ss + inst.B[n] / sb for n in range(inst.n_servers)]
    return [[max(0.0, X[i][n]) * resource[n] for n in range(inst.n_servers)] for i in range(len(X))]


def feasible(inst: Instance, where: list[int]) -> bool:
    """Every capacity holds, every client delay bound, and every hard rule on the whole drawn placement."""
    loads = Loads(inst)
    for i, n in enumerate(where):
        if not loads.fits_resources(i, n) or n in inst.banned[i]:
            return False
        loads.place(i, n)
    return loads.rules_hold()


def solve_relax_round(problem: Problem, *, solver: str = "cbc", time_limit: float = 60.0, seed: int = 0,
                      clock: Callable[[], float] = time.monotonic,
                      max_rounds: int = MAX_ROUNDS) -> PlacementResult:
    start = clock()
    inst = Instance(problem)
    built = build_model(problem, relax=True)
    outcome = mip.solve(built.model, solver=solver, time_limit=time_limit, mip=False)
    if outcome.status == "infeasible":
        return no_placement(problem, "relax-round", "the LP relaxation is infeasible, so the problem is",
                            status="infeasible", seconds=clock() - start)
    if outcome.status != "optimal":
        return failed("relax-round", "error", f"the LP relaxation was not solved: {outcome.message}",
                      seconds=clock() - start)
    lp_bound = built.bytes_bound(outcome.objective)
    X = [[built.x[c, s].varValue or 0.0 for s in inst.server_names] for c in inst.container_names]
    weights = rounding_weights(inst, X)
    servers = range(inst.n_servers)
    rng = random.Random(seed)
    deadline = start + time_limit
    for round_number in range(1, max_rounds + 1):
        where = [rng.choices(servers, weights=w)[0] for w in weights]
        if feasible(inst, where):
            return finished(problem, "relax-round", inst.named(where), status="feasible",
                            lower_bound=lp_bound, seconds=clock() - start,
                            details={"rounds": round_number, "lp_bound": lp_bound})
        if clock() > deadline:
            break
    return no_placement(problem, "relax-round",
                        f"gave up: no feasible rounding in {round_number} rounds "
                        f"({'time limit' if round_number < max_rounds else 'round limit'} reached)",
                        seconds=clock() - start, lower_bound=lp_bound, details={"rounds": round_number})
