"""kube-default: each plugin's score against hand-worked examples from the plugin definitions, the
weighted combination, spreading, whole images by name, the filter, and valid placements."""

from __future__ import annotations

from dataclasses import replace

import pytest

from api.app import AppSpec, ServiceSpec
from controller.placement.algorithms import ALGORITHMS
from controller.placement.convert import problem_from_request, problem_to_request
from controller.placement.kube_default import (
    WEIGHTS, Cluster, balanced_allocation, default_normalize, least_allocated, normalize_spread,
    normalized_image_name, scaled_image_score, solve_kube_default, spread_score, weighted_total)
from controller.placement.image_locality import image_locality_score, solve_image_locality
from controller.placement.model import ProblemError, problem_from_dict, problem_to_dict

from placement_cases import GENERATED, random_tiny_problem
from solution_checker import assert_unsolved, assert_valid
from test_orchestrator_core import Cluster as OrchestratorCluster

LN5 = 1.6094379124341003  # log(3 feasible nodes + 2): hostname weight with three nodes
LN4 = 1.3862943611198906  # log(2 + 2)


def problem(servers, layers, containers, memory=None):
    """servers: (name, cpu, storage, bandwidth, held, zone); containers: (name, cpu, bandwidth,
    layers, image, service); memory: server or container name -> its memory (others: none)."""
    memory = memory or {}
    return problem_from_dict({
        "servers": [{"name": n, "cpu": c, "storage": s, "bandwidth": b, "held": list(h), "zone": z,
                     "memory": memory.get(n, 0)}
                    for n, c, s, b, h, z in servers],
        "layers": [{"digest": d, "size": z} for d, z in layers],
        "containers": [{"name": n, "cpu": c, "bandwidth": b, "layers": list(ls), "image": im, "service": sv,
                        "memory": memory.get(n, 0)}
                       for n, c, b, ls, im, sv in containers],
    })


def test_weights_are_the_default_profile():
    # default_plugins.go: TaintToleration 3, NodeAffinity 2, NodeResourcesFit 1, PodTopologySpread 2,
    # InterPodAffinity 2, NodeResourcesBalancedAllocation 1, ImageLocality 1
    assert WEIGHTS == {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "PodTopologySpread": 2,
                       "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}


def test_least_allocated():
    # cpu: (4000 - 3000) * 100 / 4000 = 25; bandwidth: (1000 - 200) * 100 / 1000 = 80; (25 + 80) / 2 = 52.5 -> 52
    assert least_allocated([3000, 200], [4000, 1000]) == 52
    # an overfull resource scores 0: (0 + (100 - 0) * 100 / 100) / 2 = 50
    assert least_allocated([5000, 0], [4000, 100]) == 50
    # floor per resource: (3 - 1) * 100 / 3 = 66.67 -> 66; (7 - 0) * 100 / 7 = 100; 166 / 2 = 83
    assert least_allocated([1, 0], [3, 7]) == 83
    # a resource of capacity 0 is left out: only bandwidth, (10 - 5) * 100 / 10 = 50
    assert least_allocated([10, 5], [0, 10]) == 50
    assert least_allocated([1, 1], [0, 0]) == 0


def test_balanced_allocation():
    # fractions 3000/4000 = 0.75 and 200/1000 = 0.2: std = |0.75 - 0.2| / 2 = 0.275, (1 - 0.275) * 100 = 72.5 -> 72
    assert balanced_allocation([3000, 200], [4000, 1000]) == 72
    # equal fractions: std 0 -> 100
    assert balanced_allocation([2000, 500], [4000, 1000]) == 100
    # a fraction above 1 counts as 1: fractions 1 and 0, std 0.5 -> 50
    assert balanced_allocation([5000, 0], [4000, 100]) == 50
    # one resource with capacity: nothing to balance, std 0 -> 100
    assert balanced_allocation([3000, 5], [4000, 0]) == 100


def test_image_locality_score():
    # 500 MB on 2 of 4 nodes: 500 * 2/4 = 250; 100 * (250 - 23) / (1000 - 23) = 22700 / 977 = 23.2 -> 23
    assert scaled_image_score(500, 2, 4) == 250
    assert image_locality_score(250) == 23
    # below the 23 MB threshold: 0; above 1000 MB (one container): 100
    assert image_locality_score(scaled_image_score(40, 1, 2)) == 0  # 20 < 23
    assert image_locality_score(scaled_image_score(3000, 1, 2)) == 100  # 1500 clamped to 1000


def test_image_names_are_normalised_as_kube_does():
    # normalizedImageName: no tag after the last "/" means ":latest"
    assert normalized_image_name("nginx") == "nginx:latest"
    assert normalized_image_name("nginx:1.25") == "nginx:1.25"
    assert normalized_image_name("registry:5000/shop/web") == "registry:5000/shop/web:latest"


def test_spread_raw_score_and_normalisation_hostname_only():
    # three feasible nodes without zones: hostname weight log(3 + 2) = 1.609
    # node with 2 replicas: 2 * 1.609 + (3 - 1) = 5.219 -> 5; nodes with none: 0 + 2 = 2
    raw = [spread_score(2, None, LN5, 0.0), spread_score(0, None, LN5, 0.0), spread_score(0, None, LN5, 0.0)]
    assert raw == [5, 2, 2]
    # NormalizeScore: 100 * (max + min - s) / max: 100 * (7 - 5) / 5 = 40; 100 * (7 - 2) / 5 = 100
    assert normalize_spread(raw) == [40, 100, 100]
    # all equal: every node 100 * (2 + 2 - 2) / 2 = 100
    assert normalize_spread([2, 2]) == [100, 100]


def test_spread_counts_zones_and_prefers_the_other_zone():
    # a, b in zone z1, c in z2; one replica on a. Zone weight log(2 zones + 2) = 1.386.
    # a: 1 * 1.609 + 2 + 1 * 1.386 + (5 - 1) = 8.996 -> 9
    # b: 0 + 2 + 1 * 1.386 + 4 = 7.386 -> 7
    # c: 0 + 2 + 0 + 4 = 6
    raw = [spread_score(1, 1, LN5, LN4), spread_score(0, 1, LN5, LN4), spread_score(0, 0, LN5, LN4)]
    assert raw == [9, 7, 6]
    # 100 * (15 - 9) / 9 = 66; 100 * (15 - 7) / 9 = 88; 100 * (15 - 6) / 9 = 100
    assert normalize_spread(raw) == [66, 88, 100]


def test_spread_through_the_cluster_state_with_zones():
    servers = [(n, 4000, 1000, 1000, (), z) for n, z in (("a", "z1"), ("b", "z1"), ("c", "z2"))]
    p = problem(servers, [("l", 10)], [(f"web-{k}", 100, 10, ["l"], "web", "shop/web") for k in (1, 2)])
    cluster = Cluster(p)
    cluster.bind(0, 0)
    assert [s["PodTopologySpread"] for s in cluster.scores(1, [0, 1, 2])] == [66, 88, 100]


def test_default_normalize():
    # TaintToleration (reverse) with no intolerable taints anywhere: every node 100; NodeAffinity: 0
    assert default_normalize([0, 0], reverse=True) == [100, 100]
    assert default_normalize([0, 0], reverse=False) == [0, 0]
    # 100 * 2 / 4 = 50, 100 * 4 / 4 = 100; reversed: 50, 0
    assert default_normalize([2, 4], reverse=False) == [50, 100]
    assert default_normalize([2, 4], reverse=True) == [50, 0]


def test_weighted_combination():
    # 1 * 52 + 1 * 72 + 1 * 23 + 2 * 40 + 3 * 100 + 2 * 0 = 527
    assert weighted_total({"NodeResourcesFit": 52, "NodeResourcesBalancedAllocation": 72, "ImageLocality": 23,
                           "PodTopologySpread": 40, "TaintToleration": 100, "NodeAffinity": 0}) == 527


def test_scores_of_one_container_worked_by_hand():
    # s1 holds both layers of image "web" (400 + 100 MB), s2 none; c: 1000 CPU, 2000 memory
    # of 4000 on each node, 500 bandwidth (filtered, not scored)
    servers = [("s1", 4000, 1000, 1000, ("base", "app"), ""), ("s2", 4000, 1000, 1000, (), "")]
    p = problem(servers, [("base", 400), ("app", 100)], [("c", 1000, 500, ["base", "app"], "web", "")],
                memory={"s1": 4000, "s2": 4000, "c": 2000})
    s1, s2 = Cluster(p).scores(0, [0, 1])
    # fit: cpu 3000 * 100 / 4000 = 75, memory 2000 * 100 / 4000 = 50, (75 + 50) / 2 = 62
    # balanced: fractions 0.25 and 0.5, std 0.125, 87.5 -> 87
    # image: on 1 of 2 nodes, 500 * 1/2 = 250 -> 23 on s1, 0 on s2
    # spread: no replica anywhere, raw 2 and 2 -> 100 each; taints 100; node affinity 0
    assert s1 == {"NodeResourcesFit": 62, "NodeResourcesBalancedAllocation": 87, "ImageLocality": 23,
                  "PodTopologySpread": 100, "TaintToleration": 100, "NodeAffinity": 0}
    assert s2 == {**s1, "ImageLocality": 0}
    # 62 + 87 + 23 + 200 + 300 = 672 against 649
    assert (weighted_total(s1), weighted_total(s2)) == (672, 649)
    assert solve_kube_default(p).placement == {"c": "s1"}


def test_the_weighted_sum_is_not_lexicographic():
    # Image "api" (500 + 100 MB) held on s1; two replicas of one service, 1000 CPU and 200 memory
    # each, of 4000 CPU and 1000 memory per node.
    servers = [("s1", 4000, 2000, 1000, ("base", "app"), ""), ("s2", 4000, 2000, 1000, (), "")]
    p = problem(servers, [("base", 500), ("app", 100)],
                [(f"api-{k}", 1000, 200, ["base", "app"], "api", "shop/api") for k in (1, 2)],
                memory={"s1": 1000, "s2": 1000, "api-1": 200, "api-2": 200})
    # api-1: equal resources on both; ImageLocality 600 * 1/2 = 300 -> 28 on s1 -> s1.
    # api-2: s1: fit (50 + 60) / 2 = 55, balanced 0.5, 0.4 -> 95, image 28, spread raw
    #   1 * log(4) + 2 = 3.39 -> 3 against 2 on s2, normalised 100 * (5 - 3) / 3 = 66 and 100:
    #   s1 = 55 + 95 + 28 + 2 * 66 + 300 = 610; s2 = 77 + 97 + 0 + 2 * 100 + 300 = 674 -> s2.
    cluster = Cluster(p)
    cluster.bind(0, 0)
    s1, s2 = cluster.scores(1, [0, 1])
    assert (weighted_total(s1), weighted_total(s2)) == (610, 674)
    assert solve_kube_default(p).placement == {"api-1": "s1", "api-2": "s2"}
    # the layer-level variant ranks ImageLocality first and keeps both on s1
    assert solve_image_locality(p).placement == {"api-1": "s1", "api-2": "s1"}


def test_a_service_s_replicas_are_spread_even_against_a_large_image():
    # 800 MB image held on s1 of three nodes: 800/3 = 266.7 -> 24 there; web-1 goes there. Then
    # the spread score there falls to 100 * (6 - 4) / 4 = 50 (raw 1 * log(5) + 2 = 3.6 -> 4
    # against 2), which at weight 2 costs 100: the other replicas go elsewhere.
    servers = [("s1", 8000, 5000, 1000, ("big",), ""), *((f"s{k}", 8000, 5000, 1000, (), "") for k in (2, 3))]
    p = problem(servers, [("big", 800)], [(f"web-{k}", 500, 50, ["big"], "web", "shop/web") for k in (1, 2, 3)])
    for seed in range(5):
        result = solve_kube_default(p, seed=seed)
        assert_valid(p, result)
        assert result.placement["web-1"] == "s1"
        assert sorted(result.placement.values()) == ["s1", "s2", "s3"]


def test_whole_images_by_name_not_shared_layers():
    # alpha and beta share a 900 MB base; s1 has alpha (holds base and a). beta is on no node.
    servers = [("s1", 4000, 5000, 1000, ("base", "a"), ""), *((f"s{k}", 4000, 5000, 1000, (), "") for k in (2, 3))]
    layers = [("base", 900), ("a", 50), ("b", 50)]
    p = problem(servers, layers, [("x", 100, 10, ["base", "a"], "alpha", ""), ("y", 100, 10, ["base", "b"], "beta", "")])
    cluster = Cluster(p)
    # alpha: 950 * 1/3 = 316.7 -> 100 * (316.7 - 23) / 977 = 30 on s1
    assert [s["ImageLocality"] for s in cluster.scores(0, [0, 1, 2])] == [30, 0, 0]
    # beta: its 900 MB base on s1 counts for nothing (the layer-level variant would score it)
    assert [s["ImageLocality"] for s in cluster.scores(1, [0, 1, 2])] == [0, 0, 0]


def test_binding_a_pod_does_not_add_its_image_to_the_node():
    # the scheduler learns images from node status, after the kubelet pulled them: within a run
    # a node has only the images it held before. x goes to s2; y (same image) still scores 0 there.
    servers = [(f"s{k}", 4000, 5000, 1000, (), "") for k in (1, 2)]
    p = problem(servers, [("base", 900)], [("x", 100, 10, ["base"], "alpha", ""), ("y", 100, 10, ["base"], "alpha", "")])
    cluster = Cluster(p)
    cluster.bind(0, 1)
    assert [s["ImageLocality"] for s in cluster.scores(1, [0, 1])] == [0, 0]


def test_a_node_holding_every_layer_of_an_image_has_it_and_default_names_follow_layer_lists():
    servers = [("s1", 4000, 5000, 1000, ("base", "a"), ""), ("s2", 4000, 5000, 1000, ("base",), "")]
    layers = [("base", 900), ("a", 50), ("b", 50)]
    p = problem(servers, layers, [("x", 100, 10, ["base", "a"], "", ""), ("y", 100, 10, ["base", "b"], "", ""),
                                  ("w", 100, 10, ["base", "a"], "", "")])
    x, y, w = p.containers
    assert x.image_name == w.image_name != y.image_name
    cluster = Cluster(p)
    # x's image: s1 holds all its layers (950 * 1/2 = 475 -> 46); s2 only the base: not the image
    assert [s["ImageLocality"] for s in cluster.scores(0, [0, 1])] == [46, 0]
    assert [s["ImageLocality"] for s in cluster.scores(1, [0, 1])] == [0, 0]


def test_nodes_that_do_not_fit_are_filtered_out():
    # s1: too little bandwidth; s2: too little storage for the 300 MB it would add; s3 fits
    servers = [("s1", 4000, 5000, 50, ("l",), ""), ("s2", 4000, 200, 1000, (), ""), ("s3", 4000, 300, 1000, (), "")]
    p = problem(servers, [("l", 300)], [("c", 100, 100, ["l"], "", "")])
    assert Cluster(p).feasible(0) == [2]
    for seed in range(5):
        assert solve_kube_default(p, seed=seed).placement == {"c": "s3"}


def test_a_container_that_fits_nowhere_fails_the_run():
    # the first takes s1's only 1000 CPU; the second fits nowhere then
    servers = [("s1", 1000, 5000, 1000, (), "")]
    p = problem(servers, [("l", 10)], [("c1", 1000, 10, ["l"], "", ""), ("c2", 1, 10, ["l"], "", "")])
    result = solve_kube_default(p)
    assert result.status == "error" and "c2" in result.message
    assert_unsolved(p, result)


def test_ties_are_broken_at_random_with_the_seed():
    servers = [(f"s{k}", 4000, 5000, 1000, (), "") for k in range(4)]
    p = problem(servers, [("l", 10)], [("c", 100, 10, ["l"], "", "")])
    chosen = {solve_kube_default(p, seed=seed).placement["c"] for seed in range(30)}
    assert len(chosen) > 1
    assert all(solve_kube_default(p, seed=s).placement == solve_kube_default(p, seed=s).placement for s in range(5))


@pytest.mark.parametrize("name", list(GENERATED))
def test_placements_are_valid_on_generated_instances(name, generated_problem):
    p = generated_problem(name)
    result = ALGORITHMS["kube-default"](p, solver="cbc", time_limit=10, seed=3)
    if result.solved:
        assert_valid(p, result)
    else:
        assert_unsolved(p, result)


def test_placements_are_valid_on_tiny_instances():
    for seed in range(30):
        p = random_tiny_problem(seed)
        result = solve_kube_default(p, seed=seed)
        if result.solved:
            assert_valid(p, result)
        else:
            assert_unsolved(p, result)


def test_the_orchestrator_names_the_image_and_the_app_s_service(tmp_path):
    c = OrchestratorCluster(tmp_path)
    c.o.deploy(AppSpec("shop", (ServiceSpec("web", "web", replicas=2, cpu_millicores=100),)))
    c.schedule()
    containers = c.placer.problems[-1].containers
    assert [(x.image, x.service) for x in containers] == [("web", "shop/web")] * 2


BASIC = {"servers": [{"name": "s1", "cpu": 10, "storage": 100, "bandwidth": 10}],
         "layers": [{"digest": "l", "size": 5}],
         "containers": [{"name": "c", "cpu": 1, "bandwidth": 1, "layers": ["l"]}]}


def with_fields(server: dict, container: dict) -> dict:
    return {**BASIC, "servers": [{**BASIC["servers"][0], **server}],
            "containers": [{**BASIC["containers"][0], **container}]}


def test_new_fields_are_optional_and_round_trip_through_json_and_grpc():
    plain = problem_from_dict(BASIC)
    assert (plain.servers[0].zone, plain.containers[0].image, plain.containers[0].service) == ("", "", "")
    assert plain.containers[0].service_name == "c"
    assert problem_to_dict(plain) == BASIC  # unchanged format when the fields are not used
    full = problem_from_dict(with_fields({"zone": "z1"}, {"image": "web:1", "service": "shop/web"}))
    assert problem_from_dict(problem_to_dict(full)) == full
    assert problem_from_request(problem_to_request(full, algorithm="kube-default", solver=None,
                                                   time_limit=1, seed=0)) == full


@pytest.mark.parametrize("data, named", [
    (with_fields({"zone": 3}, {}), "zone"),
    (with_fields({}, {"service": ["web"]}), "service"),
    (with_fields({}, {"image": None}), "image"),
])
def test_bad_new_fields_are_rejected_naming_the_item(data, named):
    with pytest.raises(ProblemError, match=named):
        problem_from_dict(data)


@pytest.mark.parametrize("algorithm", ["first-fit", "image-locality", "strata"])
def test_other_algorithms_ignore_the_new_fields(algorithm, generated_problem):
    p = generated_problem(list(GENERATED)[0])
    marked = replace(p, servers=tuple(replace(s, zone=f"z{k % 2}") for k, s in enumerate(p.servers)),
                     containers=tuple(replace(c, image=f"img{k}", service="one") for k, c in enumerate(p.containers)))
    runs = [ALGORITHMS[algorithm](q, solver="highs", time_limit=10, seed=1) for q in (p, marked)]
    assert runs[0].placement == runs[1].placement


def test_cpu_and_memory_are_scored_and_bandwidth_is_only_filtered():
    # Equal CPU; s1 has 8000 memory, s2 2000; c asks 1000 CPU, 1000 memory, 900 of s2's 1000 bandwidth.
    servers = [("s1", 4000, 1000, 1000, (), ""), ("s2", 4000, 1000, 1000, (), "")]
    p = problem(servers, [("l", 100)], [("c", 1000, 900, ["l"], "", "")],
                memory={"s1": 8000, "s2": 2000, "c": 1000})
    s1, s2 = Cluster(p).scores(0, [0, 1])
    # fit: s1 (75 + 7000 * 100 / 8000 = 87) / 2 = 81; s2 (75 + 50) / 2 = 62; bandwidth plays no part
    assert (s1["NodeResourcesFit"], s2["NodeResourcesFit"]) == (81, 62)
    # balanced: s1 fractions 0.25, 0.125, std 0.0625 -> 93; s2 0.25, 0.5 -> 87
    assert (s1["NodeResourcesBalancedAllocation"], s2["NodeResourcesBalancedAllocation"]) == (93, 87)
    assert solve_kube_default(p).placement == {"c": "s1"}


def test_a_server_without_memory_scores_cpu_alone():
    # No memory given: allocatable 0, which both plugins leave out (least_allocated.go, balanced_allocation.go).
    p = problem([("s1", 4000, 1000, 1000, (), "")], [("l", 100)], [("c", 1000, 900, ["l"], "", "")],
                memory={"c": 1000})
    (s1,) = Cluster(p).scores(0, [0])
    assert (s1["NodeResourcesFit"], s1["NodeResourcesBalancedAllocation"]) == (75, 100)


def test_memory_is_a_filter():
    # s1 has room for c's CPU but not its memory
    servers = [("s1", 4000, 1000, 1000, (), ""), ("s2", 4000, 1000, 1000, (), "")]
    p = problem(servers, [("l", 100)], [("c", 1000, 100, ["l"], "", "")], memory={"s1": 500, "s2": 4000, "c": 1000})
    assert Cluster(p).feasible(0) == [1]
    assert_valid(p, solve_kube_default(p))
