"""`first-fit`: first-fit decreasing, containers by image size, servers in the order given."""

from __future__ import annotations

import time
from collections.abc import Callable

from .diagnose import no_placement
from .model import Problem
from .result import PlacementResult, finished
from .state import Instance, Loads


def first_fitting(loads: Loads, i: int) -> int | None:
    """The first server where container i fits keeping its soft rules as they are, else the first
    where it fits; None if it fits nowhere."""
    fitting = [n for n in range(loads.inst.n_servers) if loads.fits(i, n)]
    return next((n for n in fitting if loads.soft_delta(i, n) <= 0), fitting[0] if fitting else None)


def solve_first_fit(problem: Problem, *, solver: str = "cbc", time_limit: float = 60.0, seed: int = 0,
                    clock: Callable[[], float] = time.monotonic) -> PlacementResult:
    """Each container, largest image first, goes to the first server where it fits.

    Storage is counted with layer sharing (a layer already on the server, stored for another
    container or held from before, costs nothing), but the order of servers ignores it. Hard
    rules filter servers (state.Loads.fits); soft rules pick the first server where the
    container fits without breaking one more of them, else the first where it fits.
    """
    del solver, time_limit, seed  # a fixed, deterministic rule
    start = clock()
    inst = Instance(problem)
    loads = Loads(inst)
    for i in sorted(range(inst.n_containers), key=lambda i: -inst.image[i]):
        target = first_fitting(loads, i)
        if target is None:
            return no_placement(problem, "first-fit",
                                f'no server has room left for container "{inst.container_names[i]}"',
                                seconds=clock() - start)
        loads.place(i, target)
    return finished(problem, "first-fit", inst.named(loads.where), status="feasible",
                    lower_bound=None, seconds=clock() - start)
