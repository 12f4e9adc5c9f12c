"""Latency-aware placement: path delays from clients, the problem format's delays and clients, and the
client delay term in strata and the ILP."""

import pytest

from controller.placement.algorithms import run
from controller.placement.client_delay import client_delays, plan_delay, switch_delays
from controller.placement.model import ProblemError, problem_from_dict, problem_to_dict

from solution_checker import find_violations


def three_servers(clients=None, **web):
    """`far` at the core already holds web's 100-unit image, so the bytes-best plan puts web there
    at no cost; `near1` and `near2` are one 10 ms aggregation link away, at site1 and site2. Web's
    clients are at site1 behind 1 ms access links: 11 ms from far, 1 ms from near1, 21 ms from near2."""
    return problem_from_dict({
        "servers": [{"name": "far", "cpu": 10, "storage": 500, "bandwidth": 100, "held": ["web-image"]},
                    {"name": "near1", "cpu": 10, "storage": 500, "bandwidth": 100},
                    {"name": "near2", "cpu": 10, "storage": 500, "bandwidth": 100}],
        "layers": [{"digest": "web-image", "size": 100}, {"digest": "db-image", "size": 40}],
        "containers": [{"name": "web", "cpu": 1, "bandwidth": 1, "layers": ["web-image"],
                        "clients": [{"switch": "site1", "delay_ms": 1}] if clients is None else clients, **web},
                       {"name": "db", "cpu": 1, "bandwidth": 1, "layers": ["db-image"]}],
        "network": {"registry": {"switch": "core", "mbps": 100},
                    "servers": {"far": {"switch": "core", "mbps": 100},
                                "near1": {"switch": "site1", "mbps": 100},
                                "near2": {"switch": "site2", "mbps": 100}},
                    "links": [{"between": ["core", "site1"], "mbps": 100, "delay_ms": 10},
                              {"between": ["core", "site2"], "mbps": 100, "delay_ms": 10}]},
    })


def test_path_delay_is_the_least_delay_path_plus_both_access_links():
    problem = problem_from_dict({
        "servers": [{"name": "s", "cpu": 1, "storage": 10, "bandwidth": 1}],
        "layers": [{"digest": "l", "size": 1}],
        "containers": [{"name": "c", "cpu": 1, "bandwidth": 1, "layers": ["l"],
                        "clients": [{"switch": "a", "delay_ms": 1.5}]}],
        # a -> d: straight 30 ms, or a -> b -> c -> d: 3 + 4 + 5 = 12 ms (more hops, less delay)
        "network": {"registry": {"switch": "a"}, "servers": {"s": {"switch": "d", "delay_ms": 0.5}},
                    "links": [{"between": ["a", "d"], "mbps": 10, "delay_ms": 30},
                              {"between": ["a", "b"], "mbps": 10, "delay_ms": 3},
                              {"between": ["c", "b"], "mbps": 10, "delay_ms": 4},
                              {"between": ["c", "d"], "mbps": 10, "delay_ms": 5}]},
    })
    assert switch_delays(problem, "a") == {"a": 0, "b": 3, "c": 7, "d": 12}
    assert client_delays(problem).mean[0][0] == pytest.approx(1.5 + 12 + 0.5)


def test_weighted_mean_and_max_over_clients():
    problem = three_servers([{"switch": "site1", "delay_ms": 1, "weight": 3}, {"switch": "site2", "delay_ms": 1}])
    delays = client_delays(problem)
    # on near1: site1's clients 1 ms (weight 3), site2's 1 + 10 + 10 = 21 ms (weight 1)
    assert delays.mean[0][1] == pytest.approx((3 * 1 + 21) / 4)
    assert delays.worst[0][1] == pytest.approx(21)
    assert delays.mean[1] == (0, 0, 0)  # db declares no clients
    assert plan_delay(problem, {"web": "far", "db": "near2"}) == (pytest.approx(11), pytest.approx(11))


@pytest.mark.parametrize("algorithm", ["strata", "ilp"])
def test_a_latency_weight_moves_the_container_to_its_clients(algorithm):
    problem = three_servers()
    by_bytes = run(algorithm, problem)
    assert by_bytes.placement["web"] == "far" and by_bytes.objective == pytest.approx(40)
    assert by_bytes.client_delay_ms == pytest.approx(11) and by_bytes.client_delay_max_ms == pytest.approx(11)
    # Moving to near1 stores web's 100 units to save 10 ms: worth it above 10 units per ms.
    low = run(algorithm, problem, latency_weight=5)
    assert low.placement["web"] == "far"
    high = run(algorithm, problem, latency_weight=20)
    assert high.placement["web"] == "near1"
    assert high.client_delay_ms == pytest.approx(1)
    assert high.objective == pytest.approx(100 + 40 if high.placement["db"] != "far" else 140)
    assert not find_violations(problem, high)


def test_without_clients_or_weight_the_plans_are_todays():
    with_clients = three_servers()
    without = three_servers(clients=[])
    assert not without.has_clients
    for algorithm in ("strata", "ilp"):
        today = run(algorithm, without)
        assert run(algorithm, without, latency_weight=50).placement == today.placement
        assert run(algorithm, with_clients).placement == today.placement
        assert today.client_delay_ms is None and "client_delay_ms" not in today.to_dict()


def test_the_mean_is_over_the_containers_that_declare_clients():
    # Two replicas of web, both with clients at site1: the same weight moves both (the mean does
    # not grow with the replicas), one copy of the image serving the two.
    data = problem_to_dict(three_servers())
    data["containers"].append({**data["containers"][0], "name": "web-2"})
    problem = problem_from_dict(data)
    result = run("strata", problem, latency_weight=20)
    assert result.placement["web"] == result.placement["web-2"] == "near1"


def test_delays_and_clients_round_trip_and_old_problems_load():
    problem = three_servers([{"switch": "site1", "delay_ms": 1, "weight": 2}])
    data = problem_to_dict(problem)
    assert data["network"]["links"][0]["delay_ms"] == 10
    assert data["containers"][0]["clients"] == [{"switch": "site1", "delay_ms": 1, "weight": 2}]
    assert problem_from_dict(data) == problem
    old = problem_to_dict(three_servers(clients=[]))
    for link in old["network"]["links"]:
        del link["delay_ms"]
    loaded = problem_from_dict(old)
    assert all(link.delay_ms == 0 for link in loaded.network.links)
    assert "delay_ms" not in problem_to_dict(loaded)["network"]["registry"]


@pytest.mark.parametrize("clients, message", [
    ([{"switch": "site9"}], 'switch "site9"'),
    ([{"switch": "site1"}, {"switch": "site1"}], "listed twice"),
    ([{"switch": "site1", "weight": 0}], "weight"),
    ([{"switch": "site1", "delay_ms": -1}], "delay_ms"),
    ([{"switch": "site1", "site": "site1"}], "unknown field"),
    ("site1", "must be a list"),
])
def test_bad_clients_are_refused(clients, message):
    with pytest.raises(ProblemError, match=message):
        three_servers(clients)


def test_clients_need_the_network_section():
    data = problem_to_dict(three_servers())
    del data["network"]
    with pytest.raises(ProblemError, match="network section"):
        problem_from_dict(data)


def test_other_algorithms_report_the_delay_but_refuse_the_weight():
    problem = three_servers()
    assert run("first-fit", problem).client_delay_ms is not None
    with pytest.raises(ValueError, match="client delay objective"):
        run("first-fit", problem, latency_weight=1)


def test_a_weight_without_clients_changes_nothing_on_a_real_images_problem():
    from controller.placement.generators import dockerhub_problem

    problem = dockerhub_problem(6, 20, seed=3)
    today = run("strata", problem, time_limit=10)
    weighted = run("strata", problem, time_limit=10, latency_weight=100)
    assert weighted.placement == today.placement and weighted.objective == today.objective


def test_the_placement_service_carries_clients_delays_and_the_weight():
    import grpc
    from strata.v1 import placement_pb2_grpc

    from component_base.rpc import create_server
    from controller.placement import servicer
    from controller.placement.convert import problem_from_request, problem_to_request, result_from_response

    problem = three_servers([{"switch": "site1", "delay_ms": 1, "weight": 2}, {"switch": "site2"}])
    request = problem_to_request(problem, algorithm="strata", solver=None, time_limit=10, seed=0, latency_weight=20)
    assert problem_from_request(request) == problem
    server, port = create_server("127.0.0.1:0", [(servicer.register, servicer.SERVICE_NAME)])
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = placement_pb2_grpc.PlacementServiceStub(channel)
            result = result_from_response(stub.Solve(request, timeout=60))
            local = run("strata", problem, time_limit=10, latency_weight=20)
            assert result.placement == local.placement
            assert result.client_delay_ms == pytest.approx(local.client_delay_ms)
            assert result.client_delay_max_ms == pytest.approx(local.client_delay_max_ms)
            for algorithm, weight in (("first-fit", 20), ("strata", -1), ("strata", float("nan"))):
                request.algorithm, request.latency_weight = algorithm, weight
                with pytest.raises(grpc.RpcError) as error:
                    stub.Solve(request, timeout=60)
                assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop(grace=None)


def test_strata_place_takes_the_latency_weight_and_prints_the_client_delay(tmp_path, capsys):
    import json

    from cli import main

    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem_to_dict(three_servers())))
    assert main(["place", str(path)]) == 0
    assert "client delay 11.0 ms mean, 11.0 ms max" in capsys.readouterr().out
    assert main(["place", str(path), "--latency-weight", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["placement"]["web"] == "near1" and out["client_delay_ms"] == 1
    assert main(["place", str(path), "--latency-weight", "20", "--algorithm", "first-fit"]) == 2
    with pytest.raises(SystemExit) as usage:
        main(["place", str(path), "--latency-weight", "-1"])
    assert usage.value.code == 2


ALL_ALGORITHMS = ("strata", "ilp", "relax-round", "no-sharing", "image-locality", "kube-default", "first-fit")


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_a_client_delay_bound_filters_servers_in_every_algorithm(algorithm):
    # web's clients are 11 ms from far, 1 ms from near1, 21 ms from near2: a 5 ms bound leaves near1.
    problem = three_servers(max_client_delay_ms=5)
    result = run(algorithm, problem, time_limit=10)
    assert result.solved, result.message
    assert result.placement["web"] == "near1" and result.client_delay_max_ms <= 5
    assert not find_violations(problem, result, sharing=algorithm != "no-sharing")


def test_a_plan_breaking_the_bound_is_refused():
    from controller.placement.result import finished

    problem = three_servers(max_client_delay_ms=5)
    refused = finished(problem, "test", {"web": "far", "db": "far"}, status="feasible", lower_bound=None, seconds=0)
    assert refused.status == "error" and "max_client_delay_ms" in refused.message
    assert finished(problem, "test", {"web": "near1", "db": "far"}, status="feasible", lower_bound=None,
                    seconds=0).solved


def test_bad_bounds_are_refused():
    with pytest.raises(ProblemError, match='no server is within max_client_delay_ms 0.5 .*"near1", 1 ms'):
        three_servers(max_client_delay_ms=0.5)
    with pytest.raises(ProblemError, match="needs clients"):
        three_servers(clients=[], max_client_delay_ms=5)
    with pytest.raises(ProblemError, match="max_client_delay_ms"):
        three_servers(max_client_delay_ms=-1)


def test_the_bound_round_trips_through_json_and_the_request():
    from controller.placement.convert import problem_from_request, problem_to_request

    problem = three_servers(max_client_delay_ms=12)
    assert problem_to_dict(problem)["containers"][0]["max_client_delay_ms"] == 12
    assert problem_from_dict(problem_to_dict(problem)) == problem
    request = problem_to_request(problem, algorithm="ilp", solver=None, time_limit=10, seed=0)
    assert problem_from_request(request) == problem
