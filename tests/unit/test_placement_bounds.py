"""The cover lower bound: worked examples, and never above the optimum."""

from __future__ import annotations

import pytest

from controller.placement.bounds import cover_bound
from controller.placement.state import Instance

from placement_cases import GENERATED, GENERATED_SLOW, PAPER_10x10, make_problem, random_tiny_problem
from solution_checker import brute_force_optimum

LAYERS = [("base", 50), ("app1", 10), ("app2", 20)]


def bound(problem) -> float:
    return cover_bound(Instance(problem))


def test_bound_when_everything_fits_on_one_server():
    # Users of each layer fit on one server: every layer counted once, 50 + 10 + 20 = 80 (the optimum).
    problem = make_problem([("s1", 10, 100, 10), ("s2", 10, 100, 10)], LAYERS,
                           [("c1", 4, 4, ["base", "app1"]), ("c2", 4, 4, ["base", "app2"])])
    assert bound(problem) == pytest.approx(80)


@pytest.mark.parametrize("cpu, bandwidth", [(6, 4), (4, 6)])
def test_bound_counts_servers_needed_for_cpu_or_bandwidth(cpu, bandwidth):
    # base's users need 12 of cpu (or bandwidth) and a server has 10: base is on >= 2 servers.
    # 2 * 50 + 10 + 20 = 130, which is also the optimum.
    problem = make_problem([("s1", 10, 100, 10), ("s2", 10, 100, 10)], LAYERS,
                           [("c1", cpu, bandwidth, ["base", "app1"]), ("c2", cpu, bandwidth, ["base", "app2"])])
    assert bound(problem) == pytest.approx(130)


def test_bound_takes_the_largest_servers_first():
    # Servers of cpu 3, 4 and 9 (in that order); four containers of cpu 3 need 12. The two largest
    # (9 + 4 = 13) suffice, so base counts twice: 2 * 50 = 100 -- the optimum (three containers on
    # the cpu-9 server, one on the cpu-4 one). Counting servers in the given order (3 + 4 < 12)
    # would claim three, which no valid bound may.
    problem = make_problem([("small", 3, 100, 10), ("mid", 4, 100, 10), ("large", 9, 100, 10)], [("base", 50)],
                           [(f"c{k}", 3, 1, ["base"]) for k in range(4)])
    assert bound(problem) == pytest.approx(100)
    assert brute_force_optimum(problem) == pytest.approx(100)


def test_bound_ignores_layers_no_container_uses():
    problem = make_problem([("s1", 10, 100, 10)], [*LAYERS, ("unused", 500)],
                           [("c1", 4, 4, ["base", "app1"])])
    assert bound(problem) == pytest.approx(60)


def test_bound_never_exceeds_the_exhaustive_optimum():
    checked = 0
    for seed in range(30):
        problem = random_tiny_problem(seed)
        best = brute_force_optimum(problem)
        if best is not None:
            assert bound(problem) <= best + 1e-6, f"seed {seed}"
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize("name", [*GENERATED, *(pytest.param(n, marks=pytest.mark.slow)
                                                for n in [*GENERATED_SLOW, PAPER_10x10])])
def test_bound_never_exceeds_the_ilp_optimum(name, generated_problem, ilp_optimum):
    assert bound(generated_problem(name)) <= ilp_optimum(name) * (1 + 1e-9)
