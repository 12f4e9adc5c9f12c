"""PlacementService over a real gRPC channel: solving, status codes, health and reflection, CLI --remote."""

from __future__ import annotations

import json
import socket

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from strata.v1 import common_pb2, placement_pb2, placement_pb2_grpc

import cli
from controller.placement import servicer
from controller.placement.convert import problem_to_request
from controller.placement.generators import paper_problem
from component_base.rpc import create_server

from solution_checker import assert_valid


@pytest.fixture(scope="module")
def address():
    server, port = create_server("127.0.0.1:0", [(servicer.register, servicer.SERVICE_NAME)])
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture(scope="module")
def stub(address):
    with grpc.insecure_channel(address) as channel:
        yield placement_pb2_grpc.PlacementServiceStub(channel)


def request_for(problem, **kw):
    options = {"algorithm": "strata", "solver": None, "time_limit": 20.0, "seed": 0, **kw}
    return problem_to_request(problem, **options)


def tiny_request(**changes):
    request = placement_pb2.SolveRequest(
        servers=[placement_pb2.PlacementServer(name="edge1", cpu=10, storage=100, bandwidth=10),
                 placement_pb2.PlacementServer(name="edge2", cpu=10, storage=100, bandwidth=10)],
        layers=[common_pb2.Layer(digest="base", size=50), common_pb2.Layer(digest="app", size=10)],
        containers=[placement_pb2.PlacementContainer(name="web", cpu=4, bandwidth=1, layers=["base", "app"]),
                    placement_pb2.PlacementContainer(name="api", cpu=4, bandwidth=1, layers=["base"])],
        algorithm="ilp")
    for key, value in changes.items():
        setattr(request, key, value)
    return request


def test_solve_returns_a_valid_optimal_placement(stub):
    problem = paper_problem(10, seed=1)
    response = stub.Solve(request_for(problem), timeout=60)
    assert response.status == common_pb2.SOLVE_STATUS_OPTIMAL
    assert response.HasField("lower_bound")
    result = {"status": "optimal", "objective": response.objective, "lower_bound": response.lower_bound,
              "placement": dict(response.placement),
              "layers": {s: list(v.digests) for s, v in response.layers.items()}}
    assert_valid(problem, result)


def test_both_containers_share_the_base_layer(stub):
    response = stub.Solve(tiny_request(), timeout=30)
    assert response.status == common_pb2.SOLVE_STATUS_OPTIMAL
    assert response.objective == 60  # base (50) + app (10), stored once on one server
    assert response.placement["web"] == response.placement["api"]


def test_infeasible_problem_is_a_status_not_an_error(stub):
    request = tiny_request()
    request.containers[0].cpu = 9
    request.containers[1].cpu = 9
    request.servers.pop()
    response = stub.Solve(request, timeout=30)
    assert response.status == common_pb2.SOLVE_STATUS_INFEASIBLE
    assert not response.placement


@pytest.mark.parametrize("mutate, named", [
    (lambda r: r.containers[0].layers.append("sha256:missing"), "sha256:missing"),
    (lambda r: setattr(r.layers[1], "size", -3), "app"),
    (lambda r: setattr(r.containers[1], "name", "web"), "web"),
    (lambda r: setattr(r, "algorithm", "simulated-annealing"), "simulated-annealing"),
    (lambda r: setattr(r, "solver", "gurobi"), "gurobi"),
    (lambda r: setattr(r, "time_limit_seconds", -1), "time_limit_seconds"),
    (lambda r: setattr(r, "time_limit_seconds", float("nan")), "time_limit_seconds"),
    (lambda r: setattr(r, "time_limit_seconds", float("inf")), "time_limit_seconds"),
])
def test_bad_requests_are_invalid_argument_naming_the_item(stub, mutate, named):
    request = tiny_request()
    mutate(request)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Solve(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert named in caught.value.details()


def test_unknown_held_layer_is_invalid_argument_naming_server_and_digest(stub):
    request = tiny_request()
    request.servers[1].held_layers.extend(["base", "sha256:gone"])
    with pytest.raises(grpc.RpcError) as caught:
        stub.Solve(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "edge2" in caught.value.details() and "sha256:gone" in caught.value.details()


def test_held_layers_cost_nothing_over_grpc(stub):
    request = tiny_request()
    request.servers[1].held_layers.extend(["base", "app"])
    response = stub.Solve(request, timeout=30)
    assert response.status == common_pb2.SOLVE_STATUS_OPTIMAL
    assert response.objective == 0  # both containers on edge2, which holds all their layers
    assert set(response.placement.values()) == {"edge2"}
    assert not response.layers


def test_server_keeps_serving_after_a_bad_request(stub):
    with pytest.raises(grpc.RpcError):
        stub.Solve(tiny_request(algorithm="nope"), timeout=30)
    assert stub.Solve(tiny_request(), timeout=30).status == common_pb2.SOLVE_STATUS_OPTIMAL


def test_list_algorithms_names_all_seven(stub):
    names = {a.name for a in stub.ListAlgorithms(placement_pb2.ListAlgorithmsRequest(), timeout=10).algorithms}
    assert names == {"ilp", "relax-round", "no-sharing", "image-locality", "kube-default", "first-fit", "strata"}


def test_health_reports_serving(address):
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", servicer.SERVICE_NAME):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(address):
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                            timeout=10)
        names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert servicer.SERVICE_NAME in names


def test_cli_remote_matches_local(address, tmp_path, capsys):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps({
        "servers": [{"name": "edge1", "cpu": 10, "storage": 100, "bandwidth": 10}],
        "layers": [{"digest": "base", "size": 50}],
        "containers": [{"name": "web", "cpu": 1, "bandwidth": 1, "layers": ["base"]}]}))
    assert cli.main(["place", str(path), "--algorithm", "ilp", "--json", "--remote", address]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert cli.main(["place", str(path), "--algorithm", "ilp", "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    for key in ("algorithm", "status", "objective", "lower_bound", "placement", "layers"):
        assert remote[key] == local[key]


def test_cli_remote_keeps_held_layers(address, tmp_path, capsys):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps({
        "servers": [{"name": "edge1", "cpu": 10, "storage": 100, "bandwidth": 10},
                    {"name": "edge2", "cpu": 10, "storage": 0, "bandwidth": 10, "held": ["base"]}],
        "layers": [{"digest": "base", "size": 50}],
        "containers": [{"name": "web", "cpu": 1, "bandwidth": 1, "layers": ["base"]}]}))
    assert cli.main(["place", str(path), "--algorithm", "ilp", "--json", "--remote", address]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert remote["placement"] == {"web": "edge2"}
    assert remote["objective"] == 0


def test_cli_remote_unreachable_says_so(tmp_path, capsys):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps({
        "servers": [{"name": "edge1", "cpu": 10, "storage": 100, "bandwidth": 10}],
        "layers": [{"digest": "base", "size": 50}],
        "containers": [{"name": "web", "cpu": 1, "bandwidth": 1, "layers": ["base"]}]}))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert cli.main(["place", str(path), "--remote", f"127.0.0.1:{port}", "--time-limit", "2"]) == cli.EXIT_UNREACHABLE
    assert "cannot reach" in capsys.readouterr().err


def test_rules_travel_over_grpc_and_bind_the_answer(stub):
    # Without the rule both containers of service "web" share edge1 (50 + 10 stored once); with
    # at most one per server edge2 stores its own copy of the base.
    request = tiny_request()
    for container in request.containers:
        container.service = "web"
    request.rules.append(placement_pb2.PlacementRule(name="web", max_per_server=1))
    response = stub.Solve(request)
    assert response.status == common_pb2.SOLVE_STATUS_OPTIMAL
    assert sorted(response.placement.values()) == ["edge1", "edge2"]
    assert response.objective == 110
    request.rules[0].name = "nobody"
    with pytest.raises(grpc.RpcError) as error:
        stub.Solve(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "nobody" in error.value.details()
