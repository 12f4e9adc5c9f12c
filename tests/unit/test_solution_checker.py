"""The independent checker itself: it accepts a correct answer and catches each kind of wrong one."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from placement_cases import make_problem
from solution_checker import assert_valid, brute_force_optimum, find_violations

# Two servers; c1 and c2 share the 50-unit base layer.
PROBLEM = make_problem(
    servers=[("s1", 10, 100, 10), ("s2", 10, 100, 10)],
    layers=[("base", 50), ("app1", 10), ("app2", 20)],
    containers=[("c1", 4, 4, ["base", "app1"]), ("c2", 4, 4, ["base", "app2"])],
)


def together():
    """Both on s1: stored base+app1+app2 = 80, the optimum."""
    return SimpleNamespace(status="optimal", objective=80.0, lower_bound=80.0,
                           placement={"c1": "s1", "c2": "s1"},
                           layers={"s1": ["app1", "app2", "base"]}, message="")


def apart_without_sharing():
    """No-sharing answer: one copy per container, 60 + 70 = 130."""
    return SimpleNamespace(status="optimal", objective=130.0, lower_bound=None,
                           placement={"c1": "s1", "c2": "s2"},
                           layers={"s1": ["base", "app1"], "s2": ["base", "app2"]}, message="")


def kinds(problem, result, **kw):
    return {v.split(":")[0] for v in find_violations(problem, result, **kw)}


def test_accepts_correct_answers():
    assert_valid(PROBLEM, together())
    assert_valid(PROBLEM, apart_without_sharing(), sharing=False)
    assert_valid(PROBLEM, vars(together()))  # the CLI's JSON dict form


def mutate(result, **changes):
    result = copy.deepcopy(result)
    for key, value in changes.items():
        setattr(result, key, value)
    return result


@pytest.mark.parametrize("changes, kind", [
    ({"placement": {"c1": "s1"}, "layers": {"s1": ["app1", "base"]}, "objective": 60.0,
      "lower_bound": None, "status": "feasible"}, "placement"),  # c2 missing
    ({"placement": {"c1": "s1", "c2": "s9"}}, "placement"),  # no such server
    ({"placement": {"c1": "s1", "c2": "s1", "c3": "s2"}}, "placement"),  # no such container
    ({"layers": {"s1": ["app1", "base"]}}, "layers"),  # app2 not stored
    ({"layers": {"s1": ["app1", "app2", "base"], "s2": ["base"]}}, "layers"),  # stored where unused
    ({"layers": {"s1": ["app1", "app2", "base", "base"]}}, "layers"),  # shared layer stored twice
    ({"objective": 79.0, "lower_bound": 79.0}, "objective"),
    ({"lower_bound": 81.0, "status": "feasible"}, "bound"),
    ({"lower_bound": 70.0}, "status"),  # "optimal" with a gap
    ({"lower_bound": None}, "status"),  # "optimal" with no bound
    ({"status": "solved"}, "status"),
])
def test_rejects_wrong_answers(changes, kind):
    assert kind in kinds(PROBLEM, mutate(together(), **changes))


@pytest.mark.parametrize("resource, index", [("cpu", 1), ("storage", 2), ("bandwidth", 3)])
def test_rejects_capacity_overflow(resource, index):
    servers = [["s1", 10, 100, 10], ["s2", 10, 100, 10]]
    servers[0][index] = {"cpu": 7, "storage": 79, "bandwidth": 7}[resource]  # just below the need
    tight = make_problem([tuple(s) for s in servers], [("base", 50), ("app1", 10), ("app2", 20)],
                         [("c1", 4, 4, ["base", "app1"]), ("c2", 4, 4, ["base", "app2"])])
    problems = find_violations(tight, together())
    assert any(p.startswith("capacity") and resource in p for p in problems), problems


def test_without_sharing_every_copy_is_counted():
    both_on_s1 = SimpleNamespace(status="feasible", objective=130.0, lower_bound=None,
                                 placement={"c1": "s1", "c2": "s1"},
                                 layers={"s1": ["base", "base", "app1", "app2"]})
    roomy = make_problem([("s1", 10, 200, 10)], [("base", 50), ("app1", 10), ("app2", 20)],
                         [("c1", 4, 4, ["base", "app1"]), ("c2", 4, 4, ["base", "app2"])])
    assert_valid(roomy, both_on_s1, sharing=False)
    # The same copies overflow 100 units of storage, and a single copy is not enough.
    assert "capacity" in kinds(PROBLEM, both_on_s1, sharing=False)
    one_copy = mutate(both_on_s1, layers={"s1": ["base", "app1", "app2"]})
    assert "layers" in kinds(roomy, one_copy, sharing=False)


@pytest.mark.parametrize("status", ["infeasible", "error"])
def test_unsolved_answers_carry_no_placement(status):
    empty = SimpleNamespace(status=status, objective=None, lower_bound=None, placement={}, layers={})
    assert find_violations(PROBLEM, empty) == []
    leaked = mutate(together(), status=status)
    assert "unsolved" in kinds(PROBLEM, leaked)


def test_brute_force_optimum():
    assert brute_force_optimum(PROBLEM) == 80.0
    crowded = make_problem([("s1", 10, 100, 10)], [("base", 50)],
                           [("c1", 6, 1, ["base"]), ("c2", 6, 1, ["base"])])
    assert brute_force_optimum(crowded) is None
