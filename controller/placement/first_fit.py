"""`first-fit`: first-fit decreasing, containers by image size, servers in the order given."""

from __future__ import annotations

import time
from collections.abc import Callable

from .model import Problem
from .result import PlacementResult, failed, finished
from .state import Instance, Loads


def solve_first_fit(problem: Problem, *, solver: str = "cbc", time_limit: float = 60.0, seed: int = 0,
                    clock: Callable[[], float] = time.monotonic) -> PlacementResult:
    """Each container, largest image first, goes to the first server where it fits.

    Storage is counted with layer sharing (a layer already on the server, stored for another
    container or held from before, costs nothing), but the order of servers ignores it.
    """
    del solver, time_limit, seed  # a fixed, deterministic rule
    start = clock()
    inst = Instance(problem)
    loads = Loads(inst)
    for i in sorted(range(inst.n_containers), key=lambda i: -inst.image[i]):
        target = next((n for n in range(inst.n_servers) if loads.fits(i, n)), None)
        if target is None:
            return failed("first-fit", "error",
                          f'no server has room left for container "{inst.container_names[i]}"',
                          seconds=clock() - start)
        loads.place(i, target)
    return finished(problem, "first-fit", inst.named(loads.where), status="feasible",
                    lower_bound=None, seconds=clock() - start)
