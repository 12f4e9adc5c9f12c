"""Spread and anti-affinity rules in placement: every algorithm keeps the hard ones, prefers the
soft ones where they cost no bytes, fails clearly when they cannot hold; the ILP's constraints,
the bounds, the formats, kube-default's filters and scores worked by hand."""

from __future__ import annotations

import copy
import math
import random
from dataclasses import replace

import pytest

from controller.placement.algorithms import ALGORITHMS, run
from controller.placement.bounds import cover_bound
from controller.placement.convert import problem_from_request, problem_to_request
from controller.placement.generators import RULE_KINDS, dockerhub_problem
from controller.placement.ilp import build_model
from controller.placement.kube_default import (
    Cluster, constraint_score, normalize_affinity, normalize_explicit_spread)
from controller.placement.model import ProblemError, problem_from_dict, problem_to_dict
from controller.placement.result import finished
from controller.placement.rules import soft_cost
from controller.placement.state import Instance

from placement_cases import random_tiny_problem
from solution_checker import assert_unsolved, assert_valid, brute_force_optimum, rule_violations

ALL = list(ALGORITHMS)
LN5 = math.log(5)  # log(3 nodes + 2)


def server(name, zone="", held=(), cpu=100):
    return {"name": name, "cpu": cpu, "storage": 1000, "bandwidth": 100, "zone": zone, "held": list(held)}


def replicas(count, service="web", layers=("base", "app")):
    return [{"name": f"{service}{k}", "cpu": 1, "bandwidth": 1, "layers": list(layers), "service": service}
            for k in range(1, count + 1)]


# s1 holds the whole image of "web" (350): without rules all three replicas go there for free.
TEMPT = {
    "servers": [server("s1", "z1", ("base", "app")), server("s2", "z1"), server("s3", "z2"), server("s4", "z2")],
    "layers": [{"digest": "base", "size": 300}, {"digest": "app", "size": 50}],
    "containers": replicas(3),
}
# rule -> the optimum with it: one replica per server means two servers store the image anew;
# a zone spread of skew 1 allows two in z1 (both on s1) and one in z2.
HARD_RULES = {
    "max_per_server": ({"name": "web", "max_per_server": 1}, 700),
    "server_spread": ({"name": "web", "spread": [{"topology": "server", "max_skew": 1}]}, 700),
    "zone_spread": ({"name": "web", "spread": [{"topology": "zone", "max_skew": 1}]}, 350),
}


def with_rules(data, *rules):
    data = copy.deepcopy(data)
    data["rules"] = list(rules)
    return problem_from_dict(data)


@pytest.mark.parametrize("kind", HARD_RULES)
@pytest.mark.parametrize("algorithm", ALL)
def test_every_algorithm_keeps_every_hard_rule(algorithm, kind):
    rule, optimum = HARD_RULES[kind]
    problem = with_rules(TEMPT, rule)
    if algorithm != "kube-default":  # its default spreading parts the replicas with or without a rule
        unruled = run(algorithm, problem_from_dict(copy.deepcopy(TEMPT)), time_limit=10)
        assert rule_violations(problem, unruled.placement), "the instance must tempt the algorithm"
    result = run(algorithm, problem, time_limit=10)
    assert_valid(problem, result, sharing=algorithm != "no-sharing")
    if algorithm in ("ilp", "strata"):
        assert result.status == "optimal" and result.objective == pytest.approx(optimum)


@pytest.mark.parametrize("algorithm", ALL)
def test_replicas_already_running_count_and_a_domain_past_the_skew_gets_no_new_one(algorithm):
    # s1 already runs three replicas: past the server spread's skew (3 > 0 + 1), so it keeps them
    # and takes none of the two new ones, although it holds the image.
    data = copy.deepcopy(TEMPT)
    data["containers"] = replicas(2)
    problem = with_rules(data, {"name": "web", "spread": [{"topology": "server", "max_skew": 1}],
                                "placed": {"s1": 3}})
    result = run(algorithm, problem, time_limit=10)
    assert_valid(problem, result, sharing=algorithm != "no-sharing")
    assert "s1" not in result.placement.values()
    # max_per_server counts running replicas too: s1 runs one, so it takes no other
    capped = with_rules(data, {"name": "web", "max_per_server": 1, "placed": {"s1": 1}})
    result = run(algorithm, capped, time_limit=10)
    assert_valid(capped, result, sharing=algorithm != "no-sharing")
    assert "s1" not in result.placement.values()


def test_a_hard_zone_spread_keeps_the_service_off_servers_without_a_zone():
    data = copy.deepcopy(TEMPT)
    data["servers"][0]["zone"] = ""  # s1, the one holding the image, has no zone
    problem = with_rules(data, {"name": "web", "spread": [{"topology": "zone", "max_skew": 1}]})
    for algorithm in ALL:
        result = run(algorithm, problem, time_limit=10)
        assert_valid(problem, result, sharing=algorithm != "no-sharing")
        assert "s1" not in result.placement.values(), algorithm


# Zone z1 has one server, z2 three; at most one replica per server and zones within one of each
# other: z1 takes one, so z2 at most two: four replicas cannot be placed, whatever the capacities.
CONFLICT = {
    "servers": [server("a1", "z1"), server("b1", "z2"), server("b2", "z2"), server("b3", "z2")],
    "layers": [{"digest": "base", "size": 300}, {"digest": "app", "size": 50}],
    "containers": replicas(4),
    "rules": [{"name": "web", "max_per_server": 1, "spread": [{"topology": "zone", "max_skew": 1}]}],
}


@pytest.mark.parametrize("algorithm", ALL)
def test_rules_that_cannot_hold_fail_clearly_naming_the_service(algorithm):
    problem = problem_from_dict(copy.deepcopy(CONFLICT))
    result = run(algorithm, problem, time_limit=10)
    assert_unsolved(problem, result)
    assert result.status == "infeasible"
    assert '"web"' in result.message and "zone spread" in result.message


def test_rules_the_servers_cannot_take_are_refused_at_load():
    data = copy.deepcopy(CONFLICT)
    data["containers"] = replicas(5)  # five replicas, at most one on each of four servers
    with pytest.raises(ProblemError, match="web"):
        problem_from_dict(data)


def test_a_placement_breaking_a_hard_rule_is_refused_as_a_result():
    problem = with_rules(TEMPT, HARD_RULES["max_per_server"][0])
    result = finished(problem, "ilp", {"web1": "s1", "web2": "s1", "web3": "s2"}, status="feasible",
                      lower_bound=None, seconds=0.0)
    assert result.status == "error" and not result.placement
    assert '"web"' in result.message and "max_per_server" in result.message


# Soft rules: both servers hold the image, so parting the replicas costs nothing.
FREE_APART = {
    "servers": [server("s1", "z1", ("base", "app")), server("s2", "z2", ("base", "app"))],
    "layers": [{"digest": "base", "size": 300}, {"digest": "app", "size": 50}],
    "containers": replicas(2),
}


@pytest.mark.parametrize("algorithm", ["ilp", "strata", "first-fit", "no-sharing", "image-locality", "kube-default"])
@pytest.mark.parametrize("rule", [{"name": "web", "prefer_apart": True},
                                  {"name": "web", "spread": [{"topology": "zone", "max_skew": 1, "hard": False}]}])
def test_soft_rules_are_kept_where_they_cost_no_bytes(algorithm, rule):
    problem = with_rules(FREE_APART, rule)
    result = run(algorithm, problem, time_limit=10)
    assert_valid(problem, result, sharing=algorithm != "no-sharing")
    assert sorted(result.placement.values()) == ["s1", "s2"]
    assert soft_cost(problem, result.placement) == 0


@pytest.mark.parametrize("algorithm", ["ilp", "strata"])
def test_soft_rules_never_cost_a_byte(algorithm):
    # Nothing held: parting the replicas would store the image twice (700 against 350).
    data = copy.deepcopy(FREE_APART)
    for s in data["servers"]:
        s["held"] = []
    problem = with_rules(data, {"name": "web", "prefer_apart": True})
    result = run(algorithm, problem, time_limit=10)
    assert result.status == "optimal" and result.objective == pytest.approx(350)
    assert result.lower_bound == pytest.approx(350)
    assert len(set(result.placement.values())) == 1


def test_the_ilp_names_every_rule_constraint():
    data = copy.deepcopy(TEMPT)
    data["servers"][3]["zone"] = ""
    problem = with_rules(data, {"name": "web", "max_per_server": 2,
                                "spread": [{"topology": "zone", "max_skew": 1},
                                           {"topology": "server", "max_skew": 2, "hard": False}],
                                "prefer_apart": True})
    names = {c.name for c in build_model(problem).model.constraints()}
    assert {"rule_max_s0_n0", "rule_max_s0_n2", "rule_closed_s0_n3",
            "rule_spread_min_s0_h0_d0", "rule_spread_skew_s0_h0_d1",
            "soft_min_s0_h1_d0", "soft_skew_s0_h1_d3", "soft_apart_s0_n1"} <= names
    assert "rule_max_s0_n3" not in names  # the zone-less server is closed instead


def test_the_bound_counts_servers_the_rules_force():
    # One replica per server: s1 hosts one for free, two more servers store base and app anew.
    problem = with_rules(TEMPT, HARD_RULES["max_per_server"][0])
    assert cover_bound(Instance(problem)) == pytest.approx(700)
    assert cover_bound(Instance(problem_from_dict(copy.deepcopy(TEMPT)))) == 0


def random_tiny_problem_with_rules(seed: int):
    """A tiny problem whose containers form services with a random hard or soft rule each."""
    rng = random.Random(seed)
    base = random_tiny_problem(seed)
    servers = tuple(replace(s, zone=rng.choice(["z1", "z2", ""])) for s in base.servers)
    containers = tuple(replace(c, service=f"svc{rng.randrange(2)}") for c in base.containers)
    data = problem_to_dict(replace(base, servers=servers, containers=containers))
    kinds = [{"max_per_server": 1}, {"max_per_server": 2}, {"spread": [{"topology": "server", "max_skew": 1}]},
             {"spread": [{"topology": "zone", "max_skew": 1}]}, {"prefer_apart": True},
             {"spread": [{"topology": "server", "max_skew": 1}], "placed": {servers[0].name: 1}}]
    data["rules"] = [{"name": name, **rng.choice(kinds)} for name in sorted({c.service for c in containers})]
    try:
        return problem_from_dict(data)
    except ProblemError:  # rules that no servers could take
        return None


def test_the_bound_never_exceeds_the_exhaustive_optimum_with_rules():
    checked = 0
    for seed in range(60):
        problem = random_tiny_problem_with_rules(seed)
        best = brute_force_optimum(problem) if problem else None
        if best is not None:
            assert cover_bound(Instance(problem)) <= best + 1e-6, f"seed {seed}"
            result = run("ilp", problem, time_limit=10)
            assert result.status == "optimal" and result.objective == pytest.approx(best), f"seed {seed}"
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize("seed", range(3))
def test_generated_problems_with_rules_are_solved_validly(seed):
    problem = dockerhub_problem(4, 9, seed=seed, replicas=3, zones=2)
    assert {r.max_per_server for r in problem.rules} >= {0, 1} and any(r.prefer_apart for r in problem.rules)
    bound = cover_bound(Instance(problem))
    ilp = run("ilp", problem, solver="highs", time_limit=20)
    assert ilp.status == "optimal" and bound <= ilp.objective + 1e-6
    for algorithm in ALL:
        result = run(algorithm, problem, time_limit=20)
        if result.solved:
            assert_valid(problem, result, sharing=algorithm != "no-sharing")
            assert result.objective >= ilp.objective - 1e-6 or algorithm == "no-sharing"
        else:
            assert result.status == "error" and algorithm == "relax-round"


def test_generator_rules_take_turns_among_the_kinds():
    problem = dockerhub_problem(6, 18, seed=1, replicas=3, zones=3)
    assert [s.zone for s in problem.servers] == ["zone1", "zone2", "zone3"] * 2
    assert len(problem.rules) == 6 and len(RULE_KINDS) == 3
    assert problem.rules[0].max_per_server == 1
    assert [s.hard for s in problem.rules[1].spread] == [True, True]
    assert problem.rules[2].prefer_apart and not problem.rules[2].spread[0].hard
    assert dockerhub_problem(6, 18, seed=1).rules == ()


def test_rules_round_trip_through_json_and_grpc():
    problem = with_rules(TEMPT, {"name": "web", "max_per_server": 2, "prefer_apart": True, "placed": {"s2": 1},
                                 "spread": [{"topology": "zone", "max_skew": 2, "hard": False},
                                            {"topology": "server", "max_skew": 1}]})
    assert problem_from_dict(problem_to_dict(problem)) == problem
    request = problem_to_request(problem, algorithm="strata", solver=None, time_limit=5, seed=0)
    assert request.rules[0].placed == {"s2": 1} and request.rules[0].spread[0].topology == "zone"
    assert problem_from_request(request) == problem
    bad = problem_to_request(problem, algorithm="strata", solver=None, time_limit=5, seed=0)
    bad.rules[0].name = "nobody"
    with pytest.raises(ProblemError, match="nobody"):
        problem_from_request(bad)


# kube-default: the filters and the scores, from the plugins' definitions.

def three_nodes(rule, running):
    """Three nodes n1..n3 in zones za, za, zb, the service already running `running` replicas on
    each, and one new replica to score."""
    data = {"servers": [server("n1", "za"), server("n2", "za"), server("n3", "zb")],
            "layers": [{"digest": "base", "size": 300}, {"digest": "app", "size": 50}],
            "containers": replicas(1),
            "rules": [{"name": "web", **rule, "placed": dict(zip(["n1", "n2", "n3"], running))}]}
    return Cluster(problem_from_dict(data))


def test_do_not_schedule_filters_where_count_plus_one_less_the_fewest_passes_max_skew():
    # replicas 2, 1, 0 and maxSkew 1: n1 2+1-0 = 3 > 1 (past: closed), n2 1+1-0 = 2 > 1, n3 0+1-0 = 1
    assert three_nodes({"spread": [{"topology": "server", "max_skew": 1}]}, [2, 1, 0]).feasible(0) == [2]
    # maxSkew 2: n2 passes (1 + 1 - 0 = 2 <= 2), n1 does not (3 > 2)
    assert three_nodes({"spread": [{"topology": "server", "max_skew": 2}]}, [2, 1, 0]).feasible(0) == [1, 2]
    # zones: za holds 3, zb 0, maxSkew 3: za 4 - 0 > 3 is filtered, zb passes
    assert three_nodes({"spread": [{"topology": "zone", "max_skew": 3}]}, [2, 1, 0]).feasible(0) == [2]
    # required anti-affinity on the hostname: nodes with a replica are filtered
    assert three_nodes({"max_per_server": 1}, [1, 0, 0]).feasible(0) == [1, 2]


def test_pod_topology_spread_scores_the_explicit_soft_constraints():
    # ScheduleAnyway hostname maxSkew 1 over 3 nodes: weight log(3 + 2); raw = round(count * ln5 + 0):
    # 2 -> 3.22 -> 3, 1 -> 1.61 -> 2, 0 -> 0; normalised 100 * (max + min - raw) / max = 0, 33, 100
    assert [math.floor(constraint_score(c, 1, LN5) + 0.5) for c in (2, 1, 0)] == [3, 2, 0]
    assert normalize_explicit_spread([3, 2, 0]) == [0, 33, 100]
    cluster = three_nodes({"spread": [{"topology": "server", "max_skew": 1, "hard": False}]}, [2, 1, 0])
    assert [s["PodTopologySpread"] for s in cluster.scores(0, [0, 1, 2])] == [0, 33, 100]
    # zone maxSkew 2, soft: two zones among the nodes, weight log(4); za holds 3, zb 0:
    # raw = round(3 * 1.386 + 1) = 5 on n1 and n2, round(0 + 1) = 1 on n3 -> 100 * (5 + 1 - s) / 5 = 20, 20, 100
    cluster = three_nodes({"spread": [{"topology": "zone", "max_skew": 2, "hard": False}]}, [2, 1, 0])
    assert [s["PodTopologySpread"] for s in cluster.scores(0, [0, 1, 2])] == [20, 20, 100]


def test_explicit_constraints_replace_the_system_defaults_and_ignore_nodes_without_the_zone():
    # Only a hard constraint: PodTopologySpread scores nothing (the plugin is skipped), although
    # the system defaults would have scored the replicas 1, 0, 0.
    cluster = three_nodes({"spread": [{"topology": "server", "max_skew": 3}]}, [1, 0, 0])
    assert [s["PodTopologySpread"] for s in cluster.scores(0, [0, 1, 2])] == [0, 0, 0]
    # A soft zone constraint: a node without a zone is ignored and gets 0.
    data = {"servers": [server("n1", "za"), server("n2", ""), server("n3", "zb")],
            "layers": [{"digest": "base", "size": 300}, {"digest": "app", "size": 50}],
            "containers": replicas(1),
            "rules": [{"name": "web", "spread": [{"topology": "zone", "max_skew": 1, "hard": False}],
                       "placed": {"n1": 1}}]}
    scores = Cluster(problem_from_dict(data)).scores(0, [0, 1, 2])
    # raw: n1 round(1 * log(4) + 0) = 1, n3 0 -> normalised over n1, n3: 100 * (1 + 0 - s) / 1
    assert [s["PodTopologySpread"] for s in scores] == [0, 0, 100]


def test_inter_pod_affinity_scores_the_preferred_anti_affinity():
    # Replicas 2, 1, 0; the new pod's term and each running replica's term count -weight per
    # replica on a node: -400, -200, 0 (weight 100) -> 100 * (s - min) / (max - min) = 0, 50, 100.
    assert normalize_affinity([-400, -200, 0]) == [0, 50, 100]
    cluster = three_nodes({"prefer_apart": True}, [2, 1, 0])
    assert [s["InterPodAffinity"] for s in cluster.scores(0, [0, 1, 2])] == [0, 50, 100]
    # all equal: 0 everywhere; no replica anywhere: the plugin is skipped (no score)
    assert normalize_affinity([-200, -200]) == [0, 0]
    assert all("InterPodAffinity" not in s for s in three_nodes({"prefer_apart": True}, [0, 0, 0]).scores(0, [0, 1, 2]))
