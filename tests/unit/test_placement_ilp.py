"""The `ilp` algorithm (the paper's eqs. 4-9) on instances whose optimum is worked out by hand,
and against exhaustive search on random tiny instances."""

from __future__ import annotations

import pytest

from controller.placement.algorithms import ALGORITHMS
from controller.placement.ilp import solve_ilp
from controller.placement.no_sharing import solve_no_sharing

from placement_cases import make_problem, random_tiny_problem
from solution_checker import assert_unsolved, assert_valid, brute_force_optimum

SOLVERS = ["cbc", "highs"]
LAYERS = [("base", 50), ("app1", 10), ("app2", 20)]


def ilp(problem, solver):
    return solve_ilp(problem, solver=solver, time_limit=10)


@pytest.mark.parametrize("solver", SOLVERS)
def test_sharing_puts_containers_with_a_common_base_together(solver):
    # s1, s2: cpu 10, storage 100, bandwidth 10.  c1 = base(50)+app1(10), c2 = base(50)+app2(20),
    # each cpu 4, bandwidth 4.
    #   together on one server: cpu 8 <= 10, bandwidth 8 <= 10, storage 50+10+20 = 80 <= 100 -> 80
    #   apart:                  (50+10) + (50+20) = 130
    # Optimum 80, both on the same server, although spreading them is feasible too.
    problem = make_problem([("s1", 10, 100, 10), ("s2", 10, 100, 10)], LAYERS,
                           [("c1", 4, 4, ["base", "app1"]), ("c2", 4, 4, ["base", "app2"])])
    result = ilp(problem, solver)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(80)
    assert result.placement["c1"] == result.placement["c2"]
    assert_valid(problem, result)
    # Without sharing every container keeps its own copy: 60 + 70 = 130 whatever the placement
    # (and together they would need 130 > 100 of storage, so no-sharing must split them).
    alone = solve_no_sharing(problem, solver=solver, time_limit=10)
    assert alone.objective == pytest.approx(130)
    assert alone.placement["c1"] != alone.placement["c2"]
    assert_valid(problem, alone, sharing=False)


@pytest.mark.parametrize("solver", SOLVERS)
def test_sharing_decides_which_containers_pair_up(solver):
    # s1, s2: cpu 10, storage 200, bandwidth 100; four containers of cpu 5, so exactly two per server.
    # a1, a2 run image A = X(100)+appA(10); b1, b2 run image B = Y(80)+appB(5).
    #   {a1,a2} {b1,b2}: 110 + 85 = 195
    #   {a,b}   {a,b}:   (100+10+80+5) * 2 = 390 (fits: 195 <= 200)
    # Optimum 195: replicas of the same image share a server.
    problem = make_problem(
        [("s1", 10, 200, 100), ("s2", 10, 200, 100)],
        [("X", 100), ("appA", 10), ("Y", 80), ("appB", 5)],
        [("a1", 5, 1, ["X", "appA"]), ("b1", 5, 1, ["Y", "appB"]),
         ("a2", 5, 1, ["X", "appA"]), ("b2", 5, 1, ["Y", "appB"])])
    result = ilp(problem, solver)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(195)
    assert result.placement["a1"] == result.placement["a2"] != result.placement["b1"] == result.placement["b2"]
    assert_valid(problem, result)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("binding", ["cpu", "bandwidth", "storage"])
def test_a_capacity_forces_the_shared_layer_onto_two_servers(solver, binding):
    # The instance of the first test, with one capacity too small for both containers:
    #   cpu:       demands 6 + 6 = 12 > 10          (each alone: 6 <= 10)
    #   bandwidth: demands 6 + 6 = 12 > 10          (each alone: 6 <= 10)
    #   storage:   together 80 > 75                  (alone: 60 and 70 <= 75)
    # So they run apart and base is stored twice: (50+10) + (50+20) = 130.
    cpu, bandwidth, storage = {"cpu": (6, 4, 100), "bandwidth": (4, 6, 100), "storage": (4, 4, 75)}[binding]
    problem = make_problem([("s1", 10, storage, 10), ("s2", 10, storage, 10)], LAYERS,
                           [("c1", cpu, bandwidth, ["base", "app1"]), ("c2", cpu, bandwidth, ["base", "app2"])])
    result = ilp(problem, solver)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(130)
    assert result.placement["c1"] != result.placement["c2"]
    assert sorted(result.layers[result.placement["c1"]]) == ["app1", "base"]
    assert_valid(problem, result)


@pytest.mark.parametrize("solver", SOLVERS)
def test_split_keeps_the_best_pair_together(solver):
    # s1, s2: cpu 10, storage 200; c1, c2, c3 of cpu 5 each, so one server gets two, the other one.
    # base 50, x 30, y 10; c1 = c2 = base+x, c3 = base+y.
    #   {c1,c2} {c3}: (50+30) + (50+10) = 140
    #   {c1,c3} {c2}: (50+30+10) + (50+30) = 170, and likewise {c2,c3} {c1}
    # Optimum 140: base is stored twice, x only once.
    problem = make_problem([("s1", 10, 200, 10), ("s2", 10, 200, 10)], [("base", 50), ("x", 30), ("y", 10)],
                           [("c1", 5, 1, ["base", "x"]), ("c2", 5, 1, ["base", "x"]), ("c3", 5, 1, ["base", "y"])])
    result = ilp(problem, solver)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(140)
    assert result.placement["c1"] == result.placement["c2"] != result.placement["c3"]
    assert_valid(problem, result)


# Four containers of cpu 6 on two servers of cpu 10: demand 24 > capacity 20, so no placement
# exists (at most one container fits per server).
CROWDED = make_problem([("s1", 10, 100, 10), ("s2", 10, 100, 10)], [("base", 50)],
                       [(f"c{k}", 6, 1, ["base"]) for k in range(1, 5)])


@pytest.mark.parametrize("solver", SOLVERS)
def test_infeasible_instance_is_reported_infeasible(solver):
    result = ilp(CROWDED, solver)
    assert result.status == "infeasible"
    assert_unsolved(CROWDED, result)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_no_algorithm_answers_an_infeasible_instance(algorithm):
    result = ALGORITHMS[algorithm](CROWDED, solver="cbc", time_limit=10, seed=0)
    assert_unsolved(CROWDED, result)
    assert result.algorithm == algorithm


TINY_SEEDS = range(30)


@pytest.mark.parametrize("solver", SOLVERS)
def test_ilp_matches_exhaustive_search(solver):
    for seed in TINY_SEEDS:
        problem = random_tiny_problem(seed)
        best = brute_force_optimum(problem)
        result = ilp(problem, solver)
        if best is None:
            assert result.status == "infeasible", f"seed {seed}"
            continue
        assert result.status == "optimal", f"seed {seed}"
        assert result.objective == pytest.approx(best, rel=1e-6), f"seed {seed}"
        assert_valid(problem, result)


def test_tiny_instances_exercise_both_outcomes():
    """Guards the exhaustive comparison above: the drawn instances include infeasible ones and
    feasible ones whose capacities bind (the optimum stores some layer more than once)."""
    problems = [random_tiny_problem(seed) for seed in TINY_SEEDS]
    optima = [brute_force_optimum(p) for p in problems]
    union = [sum(l.size for l in p.layers if any(l.digest in c.layers for c in p.containers)) for p in problems]
    assert sum(o is None for o in optima) >= 5
    assert sum(o is not None and o > u + 1e-6 for o, u in zip(optima, union)) >= 8
