"""Problem instances shared by the placement tests: hand-made ones and generated ones, by name."""

from __future__ import annotations

import random
from collections.abc import Callable

from controller.placement.generators import dockerhub_problem, paper_problem
from controller.placement.model import Problem, ProblemError, problem_from_dict


def make_problem(servers: list[tuple], layers: list[tuple], containers: list[tuple]) -> Problem:
    """Build through the loader: servers (name, cpu, storage, bandwidth), layers (digest, size),
    containers (name, cpu, bandwidth, [digests])."""
    return problem_from_dict({
        "servers": [{"name": n, "cpu": c, "storage": s, "bandwidth": b} for n, c, s, b in servers],
        "layers": [{"digest": d, "size": z} for d, z in layers],
        "containers": [{"name": n, "cpu": c, "bandwidth": b, "layers": list(ls)} for n, c, b, ls in containers],
    })


# Generated instances small enough for the ILP to prove its optimum in a second or two
# (paper setting: 10 servers; Docker Hub setting: real image layers).
GENERATED: dict[str, Callable[[], Problem]] = {
    "paper-8c-seed1": lambda: paper_problem(8, seed=1),
    "paper-8c-seed3": lambda: paper_problem(8, seed=3),
    "paper-12c-seed5": lambda: paper_problem(12, seed=5),
    "dockerhub-3s6c-seed2": lambda: dockerhub_problem(3, 6, seed=2),
    "dockerhub-4s8c-seed0": lambda: dockerhub_problem(4, 8, seed=0),
    "dockerhub-5s12c-seed1": lambda: dockerhub_problem(5, 12, seed=1),
    "dockerhub-6s10c-seed2": lambda: dockerhub_problem(6, 10, seed=2),
}
# Slower for the ILP (several seconds): run, but marked slow.
GENERATED_SLOW: dict[str, Callable[[], Problem]] = {
    "paper-15c-seed4": lambda: paper_problem(15, seed=4),
}
# A 10-server, 10-container paper instance whose optimum the cover bound alone does not prove,
# so strata has to reach it by search and its exact finish.
PAPER_10x10 = "paper-10c-seed9"
ALL_GENERATED = {**GENERATED, **GENERATED_SLOW, PAPER_10x10: lambda: paper_problem(10, seed=9)}


def random_tiny_problem(seed: int) -> Problem:
    """2-3 servers, 3-5 containers built from 2 base layers and 4 app layers, capacities that bind.

    Small enough for solution_checker.brute_force_optimum. Draws again until the loader accepts it.
    """
    rng = random.Random(seed)
    while True:
        try:
            return _draw_tiny(rng)
        except ProblemError:
            continue


def _draw_tiny(rng: random.Random) -> Problem:
    n_servers, n_containers = rng.randint(2, 3), rng.randint(3, 5)
    layers = [(f"base{k}", rng.randint(40, 120)) for k in range(2)]
    layers += [(f"app{k}", round(rng.uniform(1, 40), 2)) for k in range(4)]
    servers = [(f"s{k}", rng.randint(6, 14), rng.randint(130, 260), rng.randint(6, 14))
               for k in range(n_servers)]
    containers = []
    for k in range(n_containers):
        own = [f"app{a}" for a in rng.sample(range(4), rng.randint(1, 2))]
        containers.append((f"c{k}", rng.randint(1, 8), rng.randint(1, 8), [f"base{rng.randrange(2)}", *own]))
    return make_problem(servers, layers, containers)
