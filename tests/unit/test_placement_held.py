"""Incremental placement: layers a server already holds cost nothing there and take none of its storage."""

from __future__ import annotations

import json
import random

import pytest
from strata.v1 import placement_pb2

from cli import main
from controller.placement import mip
from controller.placement.algorithms import ALGORITHMS
from controller.placement.bounds import cover_bound
from controller.placement.convert import problem_from_request, problem_to_request
from controller.placement.generators import dockerhub_problem, paper_problem
from controller.placement.ilp import build_model
from controller.placement.model import Problem, problem_from_dict, problem_to_dict
from controller.placement.state import Instance, Loads

from placement_cases import make_problem, random_tiny_problem
from solution_checker import OBJECTIVE_TOL, assert_unsolved, assert_valid, brute_force_optimum, expected_storage

SOLVERS = ["cbc", "highs"]
SHARING = sorted(set(ALGORITHMS) - {"no-sharing"})
TINY_SEEDS = range(30)


def with_held(problem: Problem, held: dict[str, list[str]]) -> Problem:
    """The problem with servers holding the given layers, built through the loader."""
    data = problem_to_dict(problem)
    for server in data["servers"]:
        if held.get(server["name"]):
            server["held"] = held[server["name"]]
    return problem_from_dict(data)


def randomly_held(problem: Problem, seed: int, share: float = 0.3) -> Problem:
    """Each server holds each used layer with probability `share`."""
    rng = random.Random(seed)
    return with_held(problem, {s.name: [d for d in problem.used_layers if rng.random() < share]
                               for s in problem.servers})


def solve(problem: Problem, algorithm: str, solver: str = "cbc"):
    return ALGORITHMS[algorithm](problem, solver=solver, time_limit=10, seed=0)


HELD_INSTANCES = {
    "dockerhub-4s8c-seed0-held": lambda: randomly_held(dockerhub_problem(4, 8, seed=0), seed=1),
    "paper-8c-seed1-held": lambda: randomly_held(paper_problem(8, seed=1), seed=2, share=0.15),
    "tiny-seed0-held": lambda: randomly_held(random_tiny_problem(0), seed=3, share=0.4),
}


@pytest.fixture(scope="module")
def held_results():
    """(instance, algorithm) -> (problem, result), each run once."""
    problems = {name: make() for name, make in HELD_INSTANCES.items()}
    cache = {}

    def get(name: str, algorithm: str):
        if (name, algorithm) not in cache:
            cache[name, algorithm] = problems[name], solve(problems[name], algorithm)
        return cache[name, algorithm]

    return get


def test_held_instances_hold_layers_their_containers_need():
    for name, make in HELD_INSTANCES.items():
        problem = make()
        assert any(s.held & set(problem.used_layers) for s in problem.servers), name


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("name", HELD_INSTANCES)
def test_every_algorithm_answers_validly_with_held_layers(name, algorithm, held_results):
    problem, result = held_results(name, algorithm)
    if algorithm in ("relax-round", "no-sharing") and not result.solved:
        assert_unsolved(problem, result)  # Algorithm 1 may give up; full copies may fit nowhere
        return
    sharing = algorithm != "no-sharing"
    assert_valid(problem, result, sharing=sharing)  # objective = recomputed newly stored size
    held = {s.name: s.held for s in problem.servers}
    if sharing:
        assert not any(set(digests) & held[server] for server, digests in result.layers.items())


@pytest.mark.parametrize("name", HELD_INSTANCES)
def test_strata_reaches_the_ilp_optimum_with_held_layers(name, held_results):
    problem, ilp = held_results(name, "ilp")
    _, strata = held_results(name, "strata")
    assert ilp.status == strata.status == "optimal"
    assert strata.objective == pytest.approx(ilp.objective, rel=1e-6)
    for algorithm in ("first-fit", "image-locality", "relax-round"):
        _, other = held_results(name, algorithm)
        if other.solved:
            assert strata.objective <= other.objective * (1 + OBJECTIVE_TOL), algorithm


def test_held_layers_lower_the_optimum():
    problem = paper_problem(8, seed=1)
    cold = solve(problem, "ilp").objective
    warm = solve(randomly_held(problem, seed=2, share=0.15), "ilp").objective
    assert warm < cold


# A (listed last) alone holds web's layers; every server has room for it.
LOCAL = make_problem([("B", 10, 2000, 10), ("C", 10, 2000, 10), ("A", 10, 2000, 10)],
                     [("base", 600), ("app", 300)], [("web", 4, 4, ["base", "app"])])
LOCAL = with_held(LOCAL, {"A": ["base", "app"]})


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("algorithm", ["ilp", "strata", "relax-round"])
def test_container_lands_where_its_layers_are_held_for_free(algorithm, solver):
    result = solve(LOCAL, algorithm, solver)
    assert result.placement == {"web": "A"} or algorithm == "relax-round" and not result.solved
    if result.solved:
        assert result.objective == 0
        assert result.status == "optimal"
        assert result.layers == {}
        assert_valid(LOCAL, result)


def test_image_locality_scores_held_layers_as_present():
    # kube-scheduler's ImageLocality: A has 900 of web's image, held by 1 node of 3, so its score is
    # int(100 * (900 / 3 - 23) / 977) = 28, the others 0: A wins whatever the tie-break.
    for seed in range(5):
        result = ALGORITHMS["image-locality"](LOCAL, solver="cbc", time_limit=10, seed=seed)
        assert result.placement == {"web": "A"}
        assert result.objective == 0


# a holds c1's and c2's layers but has no free storage; a and b each have CPU for one container.
# So one container must go on a, which works only because held layers take no storage:
# the other on b stores base + app once, 60.
FULL = with_held(make_problem([("a", 5, 0, 10), ("b", 5, 1000, 10)], [("base", 50), ("app", 10)],
                              [("c1", 5, 1, ["base", "app"]), ("c2", 5, 1, ["base", "app"])]),
                 {"a": ["base", "app"]})


@pytest.mark.parametrize("algorithm", SHARING)
def test_held_layers_take_no_storage(algorithm):
    result = solve(FULL, algorithm)
    assert result.solved, result.message
    assert sorted(result.placement.values()) == ["a", "b"]
    assert result.objective == pytest.approx(60)
    assert result.layers == {"b": ["app", "base"]}
    assert_valid(FULL, result)


def test_no_sharing_ignores_held_layers():
    # The baseline stores each whole image in free storage: a (0 free) takes nothing, b only one.
    assert_unsolved(FULL, solve(FULL, "no-sharing"))
    roomy = with_held(make_problem([("a", 10, 60, 10), ("b", 10, 1000, 10)], [("base", 50), ("app", 10)],
                                   [("c1", 5, 1, ["base", "app"]), ("c2", 5, 1, ["base", "app"])]),
                      {"a": ["base", "app"]})
    result = solve(roomy, "no-sharing")
    assert result.objective == pytest.approx(120)  # two full copies, held or not
    assert_valid(roomy, result, sharing=False)


def test_loads_count_only_new_storage():
    """Loads' incremental storage always equals the newly stored size recomputed from scratch."""
    for seed in TINY_SEEDS:
        problem = randomly_held(random_tiny_problem(seed), seed, share=0.4)
        inst = Instance(problem)
        loads = Loads(inst)
        rng = random.Random(seed)
        for _ in range(40):
            i = rng.randrange(inst.n_containers)
            if loads.where[i] >= 0:
                loads.remove(i)
            loads.place(i, rng.randrange(inst.n_servers))
            placement = {inst.container_names[k]: inst.server_names[n]
                         for k, n in enumerate(loads.where) if n >= 0}
            stored = expected_storage(problem, placement, sharing=True)
            for n, name in enumerate(inst.server_names):
                want = sum(problem.layer_size[d] for d in stored[name])
                assert loads.sto[n] == pytest.approx(want, abs=1e-9), f"seed {seed}"


def tiny_with_held(seed: int) -> Problem:
    return randomly_held(random_tiny_problem(seed), seed, share=0.35)


@pytest.mark.parametrize("solver", SOLVERS)
def test_ilp_matches_exhaustive_search_with_held_layers(solver):
    for seed in TINY_SEEDS:
        problem = tiny_with_held(seed)
        best = brute_force_optimum(problem)
        result = solve(problem, "ilp", solver)
        if best is None:
            assert result.status == "infeasible", f"seed {seed}"
            continue
        assert result.status == "optimal", f"seed {seed}"
        assert result.objective == pytest.approx(best, rel=1e-6, abs=1e-9), f"seed {seed}"
        assert_valid(problem, result)


def test_strata_matches_exhaustive_search_with_held_layers():
    for seed in TINY_SEEDS:
        problem = tiny_with_held(seed)
        best = brute_force_optimum(problem)
        result = solve(problem, "strata", "highs")
        if best is None:
            assert not result.solved, f"seed {seed}"
            continue
        assert result.status == "optimal", f"seed {seed}"
        assert result.objective == pytest.approx(best, rel=1e-6, abs=1e-9), f"seed {seed}"
        assert_valid(problem, result)


def test_tiny_held_instances_differ_from_cold_ones():
    """Guards the comparisons above: held layers change the optimum, and some instances fit only with them."""
    lower = newly_feasible = 0
    for seed in TINY_SEEDS:
        cold, warm = brute_force_optimum(random_tiny_problem(seed)), brute_force_optimum(tiny_with_held(seed))
        if cold is None and warm is not None:
            newly_feasible += 1
        elif cold is not None and warm < cold - 1e-6:
            lower += 1
    assert lower >= 10
    assert newly_feasible >= 1


def test_cover_bound_never_exceeds_the_exhaustive_optimum_with_held_layers():
    checked = 0
    for seed in TINY_SEEDS:
        for share in (0.2, 0.5, 0.8):
            problem = randomly_held(random_tiny_problem(seed), seed, share=share)
            best = brute_force_optimum(problem)
            if best is not None:
                assert cover_bound(Instance(problem)) <= best + 1e-6, f"seed {seed} share {share}"
                checked += 1
    assert checked >= 30


def test_strengthened_lp_bound_never_exceeds_the_exhaustive_optimum_with_held_layers():
    for seed in TINY_SEEDS:
        problem = tiny_with_held(seed)
        best = brute_force_optimum(problem)
        if best is None:
            continue
        built = build_model(problem, relax=True, strengthen=True)
        outcome = mip.solve(built.model, solver="highs", time_limit=10, mip=False)
        assert outcome.status == "optimal", f"seed {seed}"
        assert cover_bound(Instance(problem)) <= outcome.objective + 1e-6, f"seed {seed}"
        assert outcome.objective <= best + 1e-6, f"seed {seed}"


LAYERS = [("base", 50), ("app1", 10), ("app2", 20)]


def test_a_layer_held_where_all_its_users_fit_adds_nothing_to_the_bound():
    # s1 holds base and can host both containers (cpu 8 <= 10): base costs 0; app1 + app2 = 30, the optimum.
    problem = with_held(make_problem([("s1", 10, 100, 10), ("s2", 10, 100, 10)], LAYERS,
                                     [("c1", 4, 4, ["base", "app1"]), ("c2", 4, 4, ["base", "app2"])]),
                        {"s1": ["base"]})
    assert cover_bound(Instance(problem)) == pytest.approx(30)
    assert brute_force_optimum(problem) == pytest.approx(30)


def test_a_layer_held_where_only_some_users_fit_counts_the_other_servers():
    # Three containers of cpu 5 need base; s1 (cpu 5) holds it and hosts one for free, the other two
    # (cpu 10) fit on one of s2, s3 (cpu 10): base is stored anew once, 50, which is the optimum.
    # Counting the servers that host base's users (two) without the holder would claim 100.
    problem = with_held(make_problem([("s1", 5, 100, 10), ("s2", 10, 100, 10), ("s3", 10, 100, 10)],
                                     [("base", 50)], [(f"c{k}", 5, 1, ["base"]) for k in range(3)]),
                        {"s1": ["base"]})
    assert cover_bound(Instance(problem)) == pytest.approx(50)
    assert brute_force_optimum(problem) == pytest.approx(50)
    result = solve(problem, "strata", "highs")
    assert (result.status, result.objective) == ("optimal", pytest.approx(50))


def test_held_survives_the_json_and_proto_round_trips():
    problem = LOCAL
    assert problem_from_dict(json.loads(json.dumps(problem_to_dict(problem)))) == problem
    request = problem_to_request(problem, algorithm="ilp", solver=None, time_limit=10, seed=0)
    parsed = placement_pb2.SolveRequest.FromString(request.SerializeToString())
    assert list(parsed.servers[2].held_layers) == ["app", "base"]
    assert problem_from_request(parsed) == problem
    assert ["held" in s for s in problem_to_dict(FULL)["servers"]] == [True, False]  # written only when non-empty


def test_cli_place_reads_held(tmp_path, capsys):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem_to_dict(FULL)))
    assert main(["place", str(path), "--algorithm", "ilp", "--time-limit", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["objective"] == pytest.approx(60)
    assert out["layers"] == {"b": ["app", "base"]}
    assert_valid(FULL, out)
