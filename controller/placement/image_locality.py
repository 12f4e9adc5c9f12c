"""`image-locality`: what kube-scheduler would do, containers placed one at a time.

Score of node n for container i (kube-scheduler's ImageLocality plugin, applied per layer
since the problem knows layers rather than whole images):

    sum      = sum over layers l of i already on n of  C_l * (nodes having l / all nodes)
    clamped  = min(max(sum, MIN_THRESHOLD), MAX_THRESHOLD)        # 23 and 1000, kube's MB values
    score    = int(100 * (clamped - MIN_THRESHOLD) / (MAX_THRESHOLD - MIN_THRESHOLD))

A layer is on a node when the node held it before (Server.held) or stores it for a container
placed earlier: kube-scheduler scores the images a node already has, whatever put them there.
The thresholds are read in the problem's size unit. Ties on that integer score are broken by
kube's NodeResourcesFit LeastAllocated score, int(mean over CPU and bandwidth of
100 * (capacity - requested) / capacity) after placing i, and remaining ties at random
(kube-scheduler also picks among equal nodes at random; here seeded). Nodes where i does not
fit (CPU, memory, bandwidth, or storage of the layers it would add) or where its hard spread
and anti-affinity rules forbid it (state.Loads.fits) are filtered out first. Soft rules break
ties on the ImageLocality score before LeastAllocated does: among nodes of equal locality, those
where the container breaks fewer soft rules win.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from .diagnose import no_placement
from .model import Problem
from .result import PlacementResult, finished
from .state import Instance, Loads

MIN_THRESHOLD = 23.0
MAX_THRESHOLD = 1000.0
MAX_NODE_SCORE = 100


def image_locality_score(sum_scores: float) -> int:
    clamped = min(max(sum_scores, MIN_THRESHOLD), MAX_THRESHOLD)
    return int(MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) / (MAX_THRESHOLD - MIN_THRESHOLD))


def least_allocated_score(requested: list[float], capacity: list[float]) -> int:
    parts = [(cap - req) * MAX_NODE_SCORE / cap if cap > 0 else 0.0
             for req, cap in zip(requested, capacity)]
    return int(sum(parts) / len(parts))


def solve_image_locality(problem: Problem, *, solver: str = "cbc", time_limit: float = 60.0, seed: int = 0,
                         clock: Callable[[], float] = time.monotonic) -> PlacementResult:
    del solver, time_limit
    start = clock()
    rng = random.Random(seed)
    inst = Instance(problem)
    loads = Loads(inst)
    n_nodes = inst.n_servers
    holders = [sum(l in held for held in inst.held) for l in range(len(inst.digests))]  # nodes having l
    for i in range(inst.n_containers):  # kube's queue: arrival order
        best_key, best = None, []
        for n in range(n_nodes):
            if not loads.fits(i, n):
                continue
            present, held = loads.count[n], inst.held[n]
            total = sum(inst.size[l] * holders[l] / n_nodes for l in inst.need[i]
                        if l in present or l in held)
            key = (image_locality_score(total), -loads.soft_delta(i, n),
                   least_allocated_score([loads.cpu[n] + inst.d[i], loads.bw[n] + inst.b[i]],
                                         [inst.P[n], inst.B[n]]))
            if best_key is None or key > best_key:
                best_key, best = key, [n]
            elif key == best_key:
                best.append(n)
        if not best:
            return no_placement(problem, "image-locality",
                                f'no node passes the filters for container "{inst.container_names[i]}"',
                                seconds=clock() - start)
        n = rng.choice(best)
        for l in inst.need[i]:
            if l not in loads.count[n] and l not in inst.held[n]:
                holders[l] += 1
        loads.place(i, n)
    return finished(problem, "image-locality", inst.named(loads.where), status="feasible",
                    lower_bound=None, seconds=clock() - start)
