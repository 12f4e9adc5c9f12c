"""`relax-round`, the paper's Algorithm 1: seeded, feasible when it succeeds, honest when it gives up."""

from __future__ import annotations

import itertools

import pytest

from controller.placement.ilp import solve_ilp
from controller.placement.relax_round import solve_relax_round

from placement_cases import GENERATED, make_problem
from solution_checker import assert_unsolved, assert_valid


def identical_replicas(n: int):
    """n servers of cpu 10 and n containers of cpu 6 that all need one layer: one container per server.

    The LP relaxation minimises 50 * sum_n max_i x_n^i, which forces every container onto the same
    fractional distribution p with p_n <= 10 / (6n); rounding must then draw n different servers.
    """
    return make_problem([(f"s{k}", 10, 100, 10) for k in range(n)], [("base", 50)],
                        [(f"c{k}", 6, 1, ["base"]) for k in range(n)])


@pytest.mark.parametrize("name", list(GENERATED)[:4])
def test_same_seed_gives_the_same_placement(name, generated_problem):
    problem = generated_problem(name)
    first = solve_relax_round(problem, time_limit=10, seed=3)
    second = solve_relax_round(problem, time_limit=10, seed=3)
    assert (first.status, first.placement) == (second.status, second.placement)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_rounding_draws_with_the_seed_and_stays_feasible(solver):
    # Two servers, two containers: the LP gives both the distribution (p, 1-p), p in [1/6, 5/6],
    # so each success places them apart, one way round or the other, as the seed decides.
    problem = identical_replicas(2)
    placements = set()
    for seed in range(20):
        result = solve_relax_round(problem, solver=solver, time_limit=10, seed=seed)
        assert_valid(problem, result)
        placements.add(tuple(sorted(result.placement.items())))
    assert placements == {(("c0", "s0"), ("c1", "s1")), (("c0", "s1"), ("c1", "s0"))}


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_gives_up_after_max_rounds_without_borrowing_an_answer(solver):
    problem = identical_replicas(6)
    assert solve_ilp(problem, solver=solver, time_limit=10).status == "optimal"  # it is feasible
    gave_up = 0
    for seed in range(5):
        result = solve_relax_round(problem, solver=solver, time_limit=10, seed=seed, max_rounds=1)
        assert result.algorithm == "relax-round"
        if result.status == "error":
            gave_up += 1
            assert_unsolved(problem, result)
            assert result.message  # says why
        else:  # a lucky draw of six different servers must still be a valid answer
            assert_valid(problem, result)
    assert gave_up >= 1


def test_gives_up_at_the_time_limit():
    ticks = itertools.count(step=7.0)  # every reading of the clock is 7 s after the previous one
    result = solve_relax_round(identical_replicas(6), time_limit=5, seed=0, max_rounds=1000,
                               clock=lambda: next(ticks))
    assert result.status == "error"
    assert result.details["rounds"] == 1  # stopped at the deadline, not after 1000 rounds
    assert_unsolved(identical_replicas(6), result)


@pytest.mark.parametrize("name", GENERATED)
def test_success_is_feasible_with_a_valid_bound(name, generated_problem, ilp_optimum):
    problem = generated_problem(name)
    for seed in range(3):
        result = solve_relax_round(problem, time_limit=10, seed=seed)
        if result.status == "error":
            assert_unsolved(problem, result)
            continue
        assert_valid(problem, result)
        assert result.lower_bound <= ilp_optimum(name) * (1 + 1e-6)
        assert result.objective >= ilp_optimum(name) * (1 - 1e-6)


def test_infeasible_lp_is_reported_infeasible():
    # Four containers of cpu 6 on two servers of cpu 10: even the LP relaxation (24 > 20) is infeasible.
    crowded = make_problem([("s0", 10, 100, 10), ("s1", 10, 100, 10)], [("base", 50)],
                           [(f"c{k}", 6, 1, ["base"]) for k in range(4)])
    result = solve_relax_round(crowded, time_limit=10, seed=0)
    assert result.status == "infeasible"
    assert_unsolved(crowded, result)
