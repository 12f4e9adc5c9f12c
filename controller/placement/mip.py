"""Solving a PuLP model with an explicit solver and time limit; reports status, objective and proven bound."""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from dataclasses import dataclass

import pulp

SOLVERS = ("cbc", "highs")


@dataclass(frozen=True)
class SolveOutcome:
    status: str  # "optimal" (proven), "feasible" (a solution, optimality not proven), "infeasible", "error"
    objective: float | None
    bound: float | None  # the solver's best proven bound on the optimum (minimisation)
    message: str = ""


def solve(model: pulp.LpProblem, *, solver: str = "cbc", time_limit: float = 60.0,
          warm_start: bool = False, mip: bool = True, abs_gap: float | None = None) -> SolveOutcome:
    """Solve in place (variable values are left on the model's variables). `abs_gap`: stop, and
    call the answer optimal, once it is within that much of the proven bound (default: the
    solver's own tolerance)."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    if solver == "cbc":
        return _solve_cbc(model, time_limit, warm_start, mip, abs_gap)
    return _solve_highs(model, time_limit, mip, warm_start, abs_gap)


def _number_after(label: str, log: str) -> float | None:
    match = re.search(rf"^{label}:\s+(-?[0-9.eE+]+)", log, re.MULTILINE)
    return float(match.group(1)) if match else None


def _solve_cbc(model, time_limit, warm_start, mip, abs_gap) -> SolveOutcome:
    # A private directory: `mn -c` deletes /tmp/*.log, which would take a log from under CBC.
    with tempfile.TemporaryDirectory(prefix="strata-cbc-") as workdir:
        log_path = os.path.join(workdir, "cbc.txt")
        try:
            cmd = pulp.PULP_CBC_CMD(msg=False, timeLimit=max(1, math.ceil(time_limit)),
                                    warmStart=warm_start, mip=mip, logPath=log_path, gapAbs=abs_gap)
            model.solve(cmd)
            with open(log_path, errors="replace") as f:
                log = f.read()
        except pulp.PulpSolverError as exc:
            return SolveOutcome("error", None, None, f"CBC failed: {exc}")
    status = model.status
    if status == pulp.LpStatusInfeasible or "Result - Linear relaxation infeasible" in log \
            or "Problem is infeasible" in log:
        return SolveOutcome("infeasible", None, None, "the solver proved the problem infeasible")
    if model.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return SolveOutcome("error", None, _number_after("Lower bound", log),
                            f"no feasible solution found within {time_limit:g} s")
    objective = pulp.value(model.objective)
    if objective is None:  # an objective without variables: PuLP adds a `__dummy` CBC leaves unset
        objective = model.objective.constant
    if model.sol_status == pulp.LpSolutionOptimal and "Stopped on" not in log:
        return SolveOutcome("optimal", objective, objective)
    return SolveOutcome("feasible", objective, _number_after("Lower bound", log),
                        f"stopped at the {time_limit:g} s time limit")


@contextlib.contextmanager
def _stdout_silenced():
    """HiGHS prints its banner from C++ to file descriptor 1 whatever its options say."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class _HighsWithStart(pulp.HiGHS):
    """pulp.HiGHS, plus the variables' initial values handed to HiGHS as a starting solution."""

    def callSolver(self, lp):
        start = [var.varValue if var.varValue is not None else 0.0 for var in lp.variables()]
        lp.solverModel.setSolution(len(start), list(range(len(start))), start)
        super().callSolver(lp)


def _solve_highs(model, time_limit, mip, warm_start, abs_gap) -> SolveOutcome:
    # A zero relative gap: HiGHS's default (1e-4) would call near-optimal answers optimal.
    highs_class = _HighsWithStart if warm_start else pulp.HiGHS
    cmd = highs_class(msg=False, timeLimit=float(time_limit), mip=mip, gapRel=1e-9, gapAbs=abs_gap)
    try:
        with _stdout_silenced():
            model.solve(cmd)
    except pulp.PulpSolverError as exc:
        return SolveOutcome("error", None, None, f"HiGHS failed: {exc}")
    highs = model.solverModel
    import highspy  # only needed here; pulp.HiGHS already imported it

    model_status = highs.getModelStatus()
    if model_status in (highspy.HighsModelStatus.kInfeasible,
                        highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return SolveOutcome("infeasible", None, None, "the solver proved the problem infeasible")
    info = highs.getInfo()
    has_integer = mip and any(v.cat == pulp.LpInteger for v in model.variables())
    bound = info.mip_dual_bound if has_integer else None
    if bound is not None and not math.isfinite(bound):
        bound = None
    if model.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return SolveOutcome("error", None, bound, f"no feasible solution found within {time_limit:g} s")
    objective = pulp.value(model.objective)
    if model_status == highspy.HighsModelStatus.kOptimal:
        return SolveOutcome("optimal", objective, objective)
    return SolveOutcome("feasible", objective, bound, f"stopped at the {time_limit:g} s time limit")
