"""The placement algorithms by name, all with one signature: (problem, solver, time_limit, seed) -> result."""

from __future__ import annotations

from collections.abc import Callable

from .first_fit import solve_first_fit
from .ilp import solve_ilp
from .image_locality import solve_image_locality
from .kube_default import solve_kube_default
from .model import Problem
from .no_sharing import solve_no_sharing
from .relax_round import solve_relax_round
from .result import PlacementResult
from .strata_search import solve_strata

Algorithm = Callable[..., PlacementResult]

ALGORITHMS: dict[str, Algorithm] = {
    "ilp": solve_ilp,
    "relax-round": solve_relax_round,
    "no-sharing": solve_no_sharing,
    "image-locality": solve_image_locality,
    "kube-default": solve_kube_default,
    "first-fit": solve_first_fit,
    "strata": solve_strata,
}

DESCRIPTIONS = {
    "ilp": "the paper's ILP (eqs. 1-9) solved by CBC or HiGHS",
    "relax-round": "the paper's Algorithm 1: LP relaxation + weighted random rounding",
    "no-sharing": "the paper's baseline: every container stores its whole image",
    "image-locality": "ImageLocality applied per layer, LeastAllocated to break ties (layer-level variant)",
    "kube-default": "kube-scheduler's default profile: filters, then weighted normalised plugin scores",
    "first-fit": "first-fit decreasing by image size",
    "strata": "ours: layer-affinity greedy + local search + warm-started exact finish",
}


# The paper's models default to CBC; ours proves optimality much faster with HiGHS.
DEFAULT_SOLVER = {"strata": "highs"}


# Algorithms with the start-up objective (a weight on the estimated time to ready, beside bytes).
STARTUP_AWARE = ("strata",)
# Algorithms with the client delay objective (a weight on the mean delay from declared clients).
LATENCY_AWARE = ("strata", "ilp")


def run(name: str, problem: Problem, *, solver: str | None = None, time_limit: float = 60.0,
        seed: int = 0, startup_weight: float = 0.0, latency_weight: float = 0.0) -> PlacementResult:
    """Run one algorithm; `solver` None means the algorithm's default (CBC, HiGHS for strata).
    `startup_weight` (0 to 1, strata only): how much the estimated time to ready counts beside
    bytes (docs/placement.md, "Start-up-aware placement"); `latency_weight` (>= 0, layer size
    units per ms of mean client delay; strata and ilp): how much the delay from the containers'
    declared clients counts beside bytes ("Latency-aware placement"); ValueError when either
    cannot apply."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
    solver = solver or DEFAULT_SOLVER.get(name, "cbc")
    weights = {}
    if startup_weight:
        if name not in STARTUP_AWARE:
            raise ValueError(f"only {', '.join(STARTUP_AWARE)} has a start-up objective, not {name}")
        weights["startup_weight"] = startup_weight
    if latency_weight:
        if name not in LATENCY_AWARE:
            raise ValueError(f"only {', '.join(LATENCY_AWARE)} have a client delay objective, not {name}")
        weights["latency_weight"] = latency_weight
    return ALGORITHMS[name](problem, solver=solver, time_limit=time_limit, seed=seed, **weights)
