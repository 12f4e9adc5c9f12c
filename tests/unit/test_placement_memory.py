"""Memory in placement problems: the format, every algorithm respecting it, the ILP's constraint, the bounds."""

from __future__ import annotations

import copy
import math
import random
from dataclasses import replace

import pytest

from controller.placement.algorithms import ALGORITHMS, run
from controller.placement.bounds import cover_bound, new_copies_minimum
from controller.placement.convert import problem_from_request, problem_to_request
from controller.placement.ilp import build_model
from controller.placement.model import ProblemError, problem_from_dict, problem_to_dict
from controller.placement.state import Instance

from placement_cases import random_tiny_problem
from solution_checker import OBJECTIVE_TOL, assert_unsolved, assert_valid, brute_force_optimum, find_violations

# s1 holds the 50 MB base both containers need, and has CPU for both but memory (4) for one
# (3 each): without memory both go on s1 and store only b's app layer (5); with it, at most one
# stays on s1 and s2 stores the base anew (50), 55 in all.
MEMORY_BINDS = {
    "servers": [{"name": "s1", "cpu": 10, "storage": 100, "bandwidth": 10, "memory": 4, "held": ["base"]},
                {"name": "s2", "cpu": 10, "storage": 100, "bandwidth": 10, "memory": 16}],
    "layers": [{"digest": "base", "size": 50}, {"digest": "app", "size": 5}],
    "containers": [{"name": "a", "cpu": 2, "bandwidth": 2, "memory": 3, "layers": ["base"]},
                   {"name": "b", "cpu": 2, "bandwidth": 2, "memory": 3, "layers": ["base", "app"]}],
}


def memory_binds():
    return problem_from_dict(copy.deepcopy(MEMORY_BINDS))


def without_memory(data):
    data = copy.deepcopy(data)
    for item in data["servers"] + data["containers"]:
        item.pop("memory", None)
    return problem_from_dict(data)


def test_memory_is_optional_and_zero_means_unconstrained():
    problem = without_memory(MEMORY_BINDS)
    assert [s.memory for s in problem.servers] == [0.0, 0.0]
    assert [c.memory for c in problem.containers] == [0.0, 0.0]
    assert [s.memory_limit for s in problem.servers] == [math.inf, math.inf]
    assert "memory" not in problem_to_dict(problem)["servers"][0]
    # a container requesting memory fits on a server that gives none: no memory limit there
    data = copy.deepcopy(MEMORY_BINDS)
    del data["servers"][0]["memory"]
    data["containers"][0]["memory"] = 1e9
    assert_valid(problem_from_dict(data), run("ilp", problem_from_dict(data)))


def test_memory_round_trips_through_the_json_and_the_proto_forms():
    problem = memory_binds()
    assert [s.memory for s in problem.servers] == [4, 16]
    assert [c.memory for c in problem.containers] == [3, 3]
    assert problem_from_dict(problem_to_dict(problem)) == problem
    request = problem_to_request(problem, algorithm="ilp", solver=None, time_limit=5, seed=0)
    assert [s.memory for s in request.servers] == [4, 16]
    assert [c.memory for c in request.containers] == [3, 3]
    assert problem_from_request(request) == problem
    assert problem_from_request(problem_to_request(without_memory(MEMORY_BINDS), algorithm="", solver=None,
                                                   time_limit=5, seed=0)) == without_memory(MEMORY_BINDS)


@pytest.mark.parametrize("where, value, words", [
    ("servers", -1, ["s1", "memory", "must not be negative"]),
    ("servers", float("nan"), ["s1", "memory", "finite number"]),
    ("servers", "4Gi", ["s1", "memory", "finite number"]),
    ("servers", True, ["s1", "memory", "finite number"]),
    ("containers", -0.5, ["a", "memory", "must not be negative"]),
    ("containers", float("inf"), ["a", "memory", "finite number"]),
    ("containers", None, ["a", "memory", "finite number"]),
])
def test_bad_memory_is_refused_naming_the_item(where, value, words):
    data = copy.deepcopy(MEMORY_BINDS)
    data[where][0]["memory"] = value
    with pytest.raises(ProblemError) as error:
        problem_from_dict(data)
    for word in words:
        assert word in str(error.value)


def test_the_checker_counts_memory():
    problem = memory_binds()
    answer = {"status": "feasible", "placement": {"a": "s1", "b": "s1"}, "layers": {"s1": ["app"]},
              "objective": 5.0, "lower_bound": None}
    assert find_violations(problem, answer) == ["capacity: s1 memory 6 > 4"]
    assert find_violations(without_memory(MEMORY_BINDS), answer) == []
    assert brute_force_optimum(problem) == 55
    assert brute_force_optimum(without_memory(MEMORY_BINDS)) == 5


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_respects_memory_where_cpu_would_fit(algorithm):
    problem = memory_binds()
    result = run(algorithm, problem)
    assert_valid(problem, result, sharing=algorithm != "no-sharing")
    assert list(result.placement.values()).count("s1") <= 1  # by CPU both would fit on s1


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_fails_clearly_when_memory_fits_nowhere(algorithm):
    data = copy.deepcopy(MEMORY_BINDS)
    data["servers"][1]["memory"] = 2  # b needs 3 and a 3: one server of 4 cannot take both
    problem = problem_from_dict(data)
    assert brute_force_optimum(problem) is None
    assert_unsolved(problem, run(algorithm, problem, time_limit=5))


def test_the_ilp_has_a_named_memory_constraint_per_server_that_gives_memory():
    data = copy.deepcopy(MEMORY_BINDS)
    del data["servers"][1]["memory"]
    built = build_model(problem_from_dict(data))
    constraints = {c.name: c for c in built.model.constraints()}
    constraint = constraints["mem_memory_n0"]
    assert {v.name: c for v, c in constraint.items()} == {"x_i0_n0": 3, "x_i1_n0": 3}
    assert constraint.constant == -4  # 3 x_a + 3 x_b <= 4
    assert "mem_memory_n1" not in constraints  # no memory given: no limit
    unconstrained = build_model(without_memory(MEMORY_BINDS)).model.constraints()
    assert not any(c.name.startswith("mem_") for c in unconstrained)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_the_ilp_optimum_with_memory_is_the_brute_force_one(solver):
    result = run("ilp", memory_binds(), solver=solver)
    assert result.status == "optimal" and result.objective == pytest.approx(55)
    assert run("ilp", without_memory(MEMORY_BINDS), solver=solver).objective == pytest.approx(5)


def test_the_cover_bound_counts_memory():
    # Both users of "base" fit one server by CPU, but by memory need two: s1 holds base, so one
    # new copy at least; without s1 holding it, two.
    inst = Instance(memory_binds())
    assert new_copies_minimum(inst)[0] == 1
    assert cover_bound(Instance(without_memory(MEMORY_BINDS))) == 5  # "app" only
    assert cover_bound(inst) == 55 == brute_force_optimum(memory_binds())
    data = copy.deepcopy(MEMORY_BINDS)
    data["servers"][0]["held"] = []
    data["servers"][0]["memory"] = 3
    data["servers"][1]["memory"] = 3
    problem = problem_from_dict(data)
    assert new_copies_minimum(Instance(problem)) == [2, 1]
    assert cover_bound(Instance(problem)) == 105 == brute_force_optimum(problem)


def with_random_memory(problem, seed):
    rng = random.Random(seed)
    servers = tuple(replace(s, memory=rng.choice([0, rng.randint(4, 12)])) for s in problem.servers)
    containers = tuple(replace(c, memory=rng.randint(0, 6)) for c in problem.containers)
    return replace(problem, servers=servers, containers=containers)


@pytest.mark.parametrize("seed", range(12))
def test_bounds_stay_below_the_optimum_and_algorithms_stay_feasible_with_memory(seed):
    problem = with_random_memory(random_tiny_problem(seed), seed)
    optimum = brute_force_optimum(problem)
    bound = cover_bound(Instance(problem))
    ilp = run("ilp", problem)
    if optimum is None:
        assert ilp.status == "infeasible"
        return
    assert bound <= optimum + OBJECTIVE_TOL * max(1.0, optimum)
    assert ilp.status == "optimal" and ilp.objective == pytest.approx(optimum)
    for algorithm in ("strata", "relax-round"):
        result = run(algorithm, problem, seed=seed)
        if result.solved:
            assert_valid(problem, result)
            assert result.lower_bound <= optimum + OBJECTIVE_TOL * max(1.0, optimum)
        else:
            assert algorithm == "relax-round"  # Algorithm 1 may give up, and says so
    assert run("strata", problem).objective == pytest.approx(optimum)
