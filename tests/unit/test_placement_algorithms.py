"""Every placement algorithm on generated instances: answers pass the independent checker, strata
is never worse than a baseline and reaches the ILP optimum, reported bounds are valid."""

from __future__ import annotations

import pytest

from controller.placement.algorithms import ALGORITHMS
from controller.placement.bounds import cover_bound
from controller.placement.state import Instance

from placement_cases import GENERATED, GENERATED_SLOW, PAPER_10x10, make_problem, random_tiny_problem
from solution_checker import OBJECTIVE_TOL, assert_unsolved, assert_valid, brute_force_optimum

INSTANCES = [*GENERATED, *(pytest.param(name, marks=pytest.mark.slow) for name in GENERATED_SLOW)]
BASELINES = ["no-sharing", "image-locality", "kube-default", "first-fit", "relax-round"]
SHARING_AWARE = ["ilp", "relax-round", "strata"]  # their lower bounds bound the layer-sharing optimum


def at_most(a: float, b: float) -> bool:
    return a <= b + OBJECTIVE_TOL * max(1.0, abs(b))


def test_instances_have_the_intended_sizes(generated_problem):
    for name in [*GENERATED, *GENERATED_SLOW]:
        problem = generated_problem(name)
        assert 6 <= len(problem.containers) <= 15, name
    problem = generated_problem(PAPER_10x10)
    assert (len(problem.servers), len(problem.containers)) == (10, 10)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("name", INSTANCES)
def test_answer_passes_the_checker(name, algorithm, solved, generated_problem):
    problem = generated_problem(name)
    result = solved(name, algorithm)
    assert result.algorithm == algorithm
    if algorithm == "relax-round" and result.status == "error":
        assert_unsolved(problem, result)  # Algorithm 1 may give up, but then says so and places nothing
        return
    assert_valid(problem, result, sharing=algorithm != "no-sharing")


@pytest.mark.parametrize("name", GENERATED)
def test_both_solvers_prove_the_same_optimum(name, solved, generated_problem, ilp_optimum):
    result = solved(name, "ilp", "highs")
    assert result.status == "optimal"
    assert result.objective == pytest.approx(ilp_optimum(name), rel=1e-6)
    assert_valid(generated_problem(name), result)


@pytest.mark.parametrize("name", INSTANCES)
def test_strata_is_optimal_and_no_worse_than_any_baseline(name, solved, ilp_optimum):
    strata = solved(name, "strata")
    assert strata.status == "optimal"
    assert strata.objective == pytest.approx(ilp_optimum(name), rel=1e-6)
    for baseline in BASELINES:
        other = solved(name, baseline)
        if other.solved:
            assert at_most(strata.objective, other.objective), (baseline, strata.objective, other.objective)


@pytest.mark.parametrize("name", INSTANCES)
def test_no_sharing_stores_every_image_in_full(name, solved, generated_problem, ilp_optimum):
    problem = generated_problem(name)
    size = {l.digest: l.size for l in problem.layers}
    images = sum(size[d] for c in problem.containers for d in c.layers)
    result = solved(name, "no-sharing")
    assert result.objective == pytest.approx(images, rel=1e-9)
    assert at_most(ilp_optimum(name), result.objective)


@pytest.mark.parametrize("algorithm", SHARING_AWARE)
@pytest.mark.parametrize("name", INSTANCES)
def test_reported_lower_bounds_do_not_exceed_the_optimum(name, algorithm, solved, ilp_optimum):
    result = solved(name, algorithm)
    assert result.lower_bound is not None or algorithm == "relax-round"
    if result.lower_bound is not None:
        assert at_most(result.lower_bound, ilp_optimum(name))


@pytest.mark.slow
def test_strata_reaches_the_ilp_optimum_on_a_10x10_paper_instance(solved, generated_problem, ilp_optimum):
    problem = generated_problem(PAPER_10x10)
    optimum = ilp_optimum(PAPER_10x10)
    # The cover bound alone does not prove this optimum: strata has to find and prove it.
    assert cover_bound(Instance(problem)) < optimum - 1
    result = solved(PAPER_10x10, "strata")
    assert result.status == "optimal"
    assert result.objective == pytest.approx(optimum, rel=1e-9)
    assert_valid(problem, result)
    for baseline in BASELINES:
        other = solved(PAPER_10x10, baseline)
        if other.solved:
            assert at_most(result.objective, other.objective), baseline


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_strata_proves_an_optimum_the_cover_bound_misses(solver):
    # Storage binds, which the cover bound ignores: together c1 and c2 need 50+10+20 = 80 > 75,
    # so they run apart and store (50+10) + (50+20) = 130, while the cover bound is 80.
    problem = make_problem([("s1", 10, 75, 10), ("s2", 10, 75, 10)], [("base", 50), ("app1", 10), ("app2", 20)],
                           [("c1", 4, 4, ["base", "app1"]), ("c2", 4, 4, ["base", "app2"])])
    assert cover_bound(Instance(problem)) == pytest.approx(80)
    result = ALGORITHMS["strata"](problem, solver=solver, time_limit=10, seed=0)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(130)
    assert_valid(problem, result)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_answers_on_tiny_instances_against_exhaustive_search(algorithm):
    """Valid when solved, never below the optimum (no-sharing: never below the sum of images);
    ilp and strata reach it; nothing is solved when exhaustive search finds no placement."""
    for seed in range(30):
        problem = random_tiny_problem(seed)
        best = brute_force_optimum(problem)
        result = ALGORITHMS[algorithm](problem, solver="cbc", time_limit=10, seed=seed)
        if best is None or not result.solved:
            assert_unsolved(problem, result)
            if algorithm in ("ilp", "strata") and best is None:  # both run the exact ILP here
                assert result.status == "infeasible", f"seed {seed}"
            assert best is None or algorithm in ("relax-round", "image-locality", "kube-default", "first-fit", "no-sharing"), \
                f"seed {seed}: {algorithm} found no answer to a feasible instance"
            continue
        assert_valid(problem, result, sharing=algorithm != "no-sharing")
        assert result.objective >= best - 1e-6, f"seed {seed}"
        if algorithm in ("ilp", "strata"):
            assert result.status == "optimal", f"seed {seed}"
            assert result.objective == pytest.approx(best, rel=1e-9), f"seed {seed}"
