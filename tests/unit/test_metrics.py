"""Prometheus metrics: the gRPC interceptor over a real server (status codes as the client gets
them, aborts included), the text endpoint, the state collectors of the SDN core, the orchestrator
and an agent, a failing collector that leaves the scrape whole, and `strata serve --metrics`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from strata.v1 import placement_pb2, placement_pb2_grpc

from component_base.errors import NotFound
from component_base.metrics import (GrpcServerMetrics, default_grpc_metrics, metrics_setting, register_collector,
                                    serve_metrics, split_method, start_metrics)
from controller.placement import servicer as placement_servicer
from component_base.rpc import abort_on_domain_error, create_server
from controller.sdn import metrics as sdn_metrics
from test_placement_service import tiny_request
from test_sdn_core import RING, VIP, eps, start

ROOT = Path(__file__).resolve().parents[2]
PROBE = "strata.test.Probe"
PLACEMENT = placement_servicer.SERVICE_NAME


# -- a real server: placement plus a probe service with aborting, failing and streaming methods ---
class Probe:
    @abort_on_domain_error
    def find(self, request, context):
        if request != b"known":
            raise NotFound(f"no {request!r}")
        return b"found"

    def fail(self, request, context):
        raise RuntimeError("a bug")

    def set_code(self, request, context):
        context.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
        return b""

    def count(self, request, context):
        for k in range(int(request)):
            yield str(k).encode()
        if int(request) > 2:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, "too many")


def register_probe(server: grpc.Server) -> None:
    probe = Probe()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(PROBE, {
        "Find": grpc.unary_unary_rpc_method_handler(probe.find),
        "Fail": grpc.unary_unary_rpc_method_handler(probe.fail),
        "SetCode": grpc.unary_unary_rpc_method_handler(probe.set_code),
        "Count": grpc.unary_stream_rpc_method_handler(probe.count),
    }),))


@pytest.fixture
def served():
    """(channel, registry): a server from create_server counting into a registry of its own."""
    registry = CollectorRegistry()
    server, port = create_server("127.0.0.1:0", [(placement_servicer.register, PLACEMENT), (register_probe, PROBE)],
                                 metrics=GrpcServerMetrics(registry))
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel, registry
    server.stop(grace=None)


def handled(registry, service, method, code):
    return registry.get_sample_value("strata_grpc_server_handled_total",
                                     {"grpc_service": service, "grpc_method": method, "grpc_code": code}) or 0.0


def timed(registry, service, method):
    return registry.get_sample_value("strata_grpc_server_handling_seconds_count",
                                     {"grpc_service": service, "grpc_method": method}) or 0.0


def call_code(call) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_ok_and_aborted_placement_calls_are_counted_with_the_code_the_client_got(served):
    channel, registry = served
    stub = placement_pb2_grpc.PlacementServiceStub(channel)
    solves = REGISTRY.get_sample_value("strata_placement_solves_total", {"algorithm": "ilp", "status": "optimal"})
    solve_seconds = REGISTRY.get_sample_value("strata_placement_solve_seconds_count", {"algorithm": "ilp"}) or 0.0
    assert stub.Solve(tiny_request(), timeout=60).objective == 60
    assert call_code(lambda: stub.Solve(tiny_request(algorithm="nope"), timeout=10)) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert call_code(lambda: stub.Solve(tiny_request(algorithm="nope"), timeout=10)) == \
        grpc.StatusCode.INVALID_ARGUMENT
    stub.ListAlgorithms(placement_pb2.ListAlgorithmsRequest(), timeout=10)
    assert handled(registry, PLACEMENT, "Solve", "OK") == 1
    assert handled(registry, PLACEMENT, "Solve", "INVALID_ARGUMENT") == 2
    assert handled(registry, PLACEMENT, "Solve", "UNKNOWN") == 0
    assert handled(registry, PLACEMENT, "ListAlgorithms", "OK") == 1
    assert timed(registry, PLACEMENT, "Solve") == 3
    assert registry.get_sample_value("strata_grpc_server_handling_seconds_sum",
                                     {"grpc_service": PLACEMENT, "grpc_method": "Solve"}) > 0
    # the servicer's own: one solve run (refused requests run none), timed
    assert REGISTRY.get_sample_value("strata_placement_solves_total",
                                     {"algorithm": "ilp", "status": "optimal"}) == solves + 1
    assert REGISTRY.get_sample_value("strata_placement_solve_seconds_count", {"algorithm": "ilp"}) == solve_seconds + 1


def test_domain_errors_exceptions_and_set_codes_are_counted_as_sent(served):
    channel, registry = served
    find = channel.unary_unary(f"/{PROBE}/Find")
    assert find(b"known", timeout=10) == b"found"
    assert call_code(lambda: find(b"other", timeout=10)) == grpc.StatusCode.NOT_FOUND  # abort_on_domain_error
    assert call_code(lambda: channel.unary_unary(f"/{PROBE}/Fail")(b"", timeout=10)) == grpc.StatusCode.UNKNOWN
    assert call_code(lambda: channel.unary_unary(f"/{PROBE}/SetCode")(b"", timeout=10)) == \
        grpc.StatusCode.RESOURCE_EXHAUSTED
    assert call_code(lambda: channel.unary_unary(f"/{PROBE}/Missing")(b"", timeout=10)) == \
        grpc.StatusCode.UNIMPLEMENTED
    assert handled(registry, PROBE, "Find", "OK") == 1
    assert handled(registry, PROBE, "Find", "NOT_FOUND") == 1
    assert handled(registry, PROBE, "Fail", "UNKNOWN") == 1
    assert handled(registry, PROBE, "SetCode", "RESOURCE_EXHAUSTED") == 1
    assert handled(registry, PROBE, "Missing", "UNIMPLEMENTED") == 0  # grpc answers; no handler ran


def test_streams_pass_through_and_are_counted_when_they_end(served):
    channel, registry = served
    count = channel.unary_stream(f"/{PROBE}/Count")
    assert list(count(b"2", timeout=10)) == [b"0", b"1"]
    responses = []
    with pytest.raises(grpc.RpcError) as failed:
        for response in count(b"3", timeout=10):
            responses.append(response)
    assert failed.value.code() == grpc.StatusCode.OUT_OF_RANGE and responses == [b"0", b"1", b"2"]
    assert handled(registry, PROBE, "Count", "OK") == 1
    assert handled(registry, PROBE, "Count", "OUT_OF_RANGE") == 1
    assert timed(registry, PROBE, "Count") == 2


def test_health_checks_of_every_server_are_counted_too(served):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channel, registry = served
    health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=PLACEMENT), timeout=10)
    assert handled(registry, "grpc.health.v1.Health", "Check", "OK") == 1


def test_method_names_split_into_service_and_method():
    assert split_method("/strata.v1.PlacementService/Solve") == ("strata.v1.PlacementService", "Solve")
    assert split_method("odd") == ("unknown", "odd")


# -- the endpoint ----------------------------------------------------------------------------------
def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def samples(text: str) -> dict[tuple, float]:
    """(name, sorted labels) -> value, from the text exposition format."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_endpoint_serves_the_text_format_and_stops(served):
    channel, registry = served
    find = channel.unary_unary(f"/{PROBE}/Find")
    for _ in range(2):
        call_code(lambda: find(b"other", timeout=10))
    port, stop = serve_metrics("127.0.0.1:0", registry)
    try:
        text = scrape(port)
    finally:
        stop()
    values = samples(text)
    key = ("strata_grpc_server_handled_total",
           (("grpc_code", "NOT_FOUND"), ("grpc_method", "Find"), ("grpc_service", PROBE)))
    assert values[key] == 2
    assert "# TYPE strata_grpc_server_handled_total counter" in text
    assert "# TYPE strata_grpc_server_handling_seconds histogram" in text
    bucket = ("strata_grpc_server_handling_seconds_bucket",
              (("grpc_method", "Find"), ("grpc_service", PROBE), ("le", "+Inf")))
    assert values[bucket] == 2
    assert "_created" not in text
    with pytest.raises(OSError):
        scrape(port)


def test_the_default_registry_holds_the_daemon_metrics():
    default_grpc_metrics()  # as create_server does without metrics=
    port, stop = serve_metrics("127.0.0.1:0")
    try:
        text = scrape(port)
    finally:
        stop()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"strata_placement_solves", "strata_placement_solve_seconds", "strata_grpc_server_handled",
            "strata_grpc_server_handling_seconds", "process_cpu_seconds"} <= names


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"metrics: cannot listen on 127.0.0.1:{port}"):
            serve_metrics(f"127.0.0.1:{port}", CollectorRegistry())
    with pytest.raises(OSError, match="expected HOST:PORT"):
        serve_metrics("localhost", CollectorRegistry())


def test_the_default_address_is_the_grpc_port_plus_1000_on_its_host():
    assert metrics_setting(None, "127.0.0.1:50051") == "127.0.0.1:51051"
    assert metrics_setting(None, "10.0.0.3:50060") == "10.0.0.3:51060"
    assert metrics_setting(None, "127.0.0.1:0") == "127.0.0.1:0"
    assert metrics_setting(None, "[::1]:50054") == "[::1]:51054"
    assert metrics_setting("127.0.0.1:9400", "127.0.0.1:50051") == "127.0.0.1:9400"
    assert metrics_setting("off", "127.0.0.1:50051") is None
    assert start_metrics("off", "127.0.0.1:50051")[0] is None
    with pytest.raises(OSError, match="no default metrics port"):
        start_metrics(None, "127.0.0.1:65000")


# -- collectors ------------------------------------------------------------------------------------
def test_a_failing_collector_leaves_the_rest_of_the_scrape_whole(caplog):
    registry = CollectorRegistry()
    register_collector("good", lambda: [GaugeMetricFamily("strata_test_good", "fine", value=7)], registry)

    def half_then_broken():
        yield GaugeMetricFamily("strata_test_half", "never seen alone", value=1)
        raise RuntimeError("state went away")

    register_collector("broken", half_then_broken, registry)
    unregister = register_collector("dividing", lambda: [1 / 0], registry)
    text = generate_latest(registry).decode()
    assert "strata_test_good 7.0" in text
    assert "strata_test_half" not in text  # all of a collector's families or none of them
    assert "reading the broken state failed" in caplog.text and "ZeroDivisionError" in caplog.text
    port, stop = serve_metrics("127.0.0.1:0", registry)  # and over HTTP: 200, the good part
    try:
        assert "strata_test_good 7.0" in scrape(port)
    finally:
        stop()
    unregister()
    caplog.clear()
    generate_latest(registry)
    assert "dividing" not in caplog.text


def test_a_collector_does_not_wait_long_for_a_held_lock(tmp_path, caplog):
    import threading

    net = start(RING, tmp_path / "sdn.db")
    registry = CollectorRegistry()
    sdn_metrics.register(net.core, registry)
    held = threading.Event()
    release = threading.Event()

    def hold():
        with net.core._lock:
            held.set()
            release.wait(10)

    threading.Thread(target=hold, daemon=True).start()
    held.wait(5)
    started = time.monotonic()
    text = generate_latest(registry).decode()
    release.set()
    assert time.monotonic() - started < 5
    assert "strata_sdn_switches" not in text and "stayed locked" in caplog.text
    assert registry.get_sample_value("strata_sdn_switches") == 4  # once it is free again
    net.store.close()


def test_the_sdn_collector_reads_the_core(tmp_path):
    net = start(RING, tmp_path / "sdn.db", connect=False)
    core, view = net.core, net.view
    dpids = sorted(view.switches)
    for dpid in dpids[:3]:  # s4 stays disconnected
        net.sb.connect(core, dpid)
    core.install_route("web", VIP, "tcp", 80, eps(("web1", 1), ("web2", 1)))
    core.install_path("h1", "h3", 10)
    core.attach_endpoint("web1/a", "10.0.128.2", "02:00:0a:00:80:02", "s3", 20, "web1")
    dpid, port = net.link_port("s1", "s2")
    core.port_changed(dpid, port, False)
    registry = CollectorRegistry()
    sdn_metrics.register(core, registry)

    def value(name, **labels):
        return registry.get_sample_value(name, labels)

    assert value("strata_sdn_switches") == 4
    assert value("strata_sdn_switches_connected") == 3
    assert value("strata_sdn_links", state="up") == 3 and value("strata_sdn_links", state="down") == 1
    assert value("strata_sdn_hosts", role="device") == 7  # the declared ones; the pod is an endpoint
    assert value("strata_sdn_endpoints_attached") == 1
    assert value("strata_sdn_service_routes") == 1
    assert value("strata_sdn_service_route_endpoints") == 2
    assert value("strata_sdn_reserved_paths") == 1
    assert value("strata_sdn_reserved_bits_per_second") == 10e6
    # what the three connected switches hold is their share of the desired rules; s4 holds nothing yet
    desired = core.desired().by_switch()
    flows = sum(len(desired[d].flows) for d in dpids[:3])
    groups = sum(len(desired[d].groups) for d in dpids[:3] if d in desired)
    assert flows > 0 and groups > 0
    assert value("strata_sdn_flows_installed") == flows
    assert value("strata_sdn_groups_installed") == groups
    net.sb.connect(core, dpids[3])
    assert value("strata_sdn_switches_connected") == 4
    assert value("strata_sdn_flows_installed") == sum(len(r.flows) for r in desired.values())
    core.remove_route("web")
    assert value("strata_sdn_service_routes") == 0
    assert value("strata_sdn_groups_installed") < groups
    net.store.close()


def test_the_orchestrator_collector_reads_nodes_deployments_and_bytes(tmp_path):
    from controller.orchestrator import metrics as orchestrator_metrics
    from test_orchestrator_core import Cluster, app

    c = Cluster(tmp_path)
    registry = CollectorRegistry()
    orchestrator_metrics.register(c.o, registry)

    def value(name, **labels):
        return registry.get_sample_value(name, labels)

    assert (value("strata_orchestrator_nodes"), value("strata_orchestrator_nodes_ready")) == (3, 3)
    assert value("strata_orchestrator_deployments") == 0
    c.o.deploy(app())
    assert value("strata_orchestrator_instances", phase="pending") == 4
    c.settle()
    assert value("strata_orchestrator_instances", phase="running") == 4
    assert value("strata_orchestrator_instances", phase="pending") == 0
    assert (value("strata_orchestrator_deployments"), value("strata_orchestrator_deployments_ready")) == (1, 1)
    # every layer stored came from the registry (the fake agents pull what a node lacks)
    stored = sum(sum(layers.values()) for layers in c.agents.layers.values())
    assert stored > 0
    assert value("strata_orchestrator_deployment_pulled_bytes", app="shop", source="registry") == stored
    assert value("strata_orchestrator_deployment_pulled_bytes", app="shop", source="peer") == 0
    assert value("strata_orchestrator_deployment_planned_bytes", app="shop") == c.o.deployment("shop").app.planned_bytes
    c.o.heartbeat("edge1", containers=[], layers={}, storage_used=5, pulled_bytes_total=1234, peer_bytes_total=56)
    assert value("strata_orchestrator_node_pulled_bytes_total", node="edge1", source="registry") == 1234
    assert value("strata_orchestrator_node_pulled_bytes_total", node="edge1", source="peer") == 56
    assert value("strata_orchestrator_node_storage_used_bytes", node="edge1") == 5
    c.clock.now += 10  # no heartbeats for longer than node_timeout
    assert value("strata_orchestrator_nodes_ready") == 0
    assert value("strata_orchestrator_instances", phase="unknown") == 4


def test_the_agent_collector_reads_the_node():
    from dataplane.agent import metrics as agent_metrics

    records = [SimpleNamespace(state=s) for s in ("running", "running", "restarting", "stopped")]
    store = SimpleNamespace(held=lambda: {"sha256:a": None, "sha256:b": None}, used_bytes=lambda: 3000,
                            capacity_bytes=10_000)
    node = SimpleNamespace(config=SimpleNamespace(name="edge1"), containers=lambda: records, store=store,
                           pulled_bytes_total=2500, peer_bytes_total=500)
    blobs = SimpleNamespace(served_bytes=700, requests=3)
    registry = CollectorRegistry()
    agent_metrics.register(node, blobs, registry)

    def value(name, **labels):
        return registry.get_sample_value(name, labels)

    assert value("strata_agent_info", node="edge1") == 1
    assert value("strata_agent_containers", state="running") == 2
    assert value("strata_agent_containers", state="restarting") == 1
    assert value("strata_agent_containers", state="stopped") == 1
    assert value("strata_agent_layer_pulled_bytes_total", source="registry") == 2500
    assert value("strata_agent_layer_pulled_bytes_total", source="peer") == 500
    assert value("strata_agent_layers_held") == 2
    assert value("strata_agent_layer_store_used_bytes") == 3000
    assert value("strata_agent_layer_store_capacity_bytes") == 10_000
    assert value("strata_agent_blob_served_bytes_total") == 700
    assert value("strata_agent_blob_requests_total") == 3


# -- strata serve ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_strata_serve_placement_has_a_metrics_endpoint():
    grpc_port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "placement",
                             "--listen", f"127.0.0.1:{grpc_port}", "--metrics", "127.0.0.1:0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("metrics on http://127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        assert "placement service listening" in proc.stdout.readline()
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            placement_pb2_grpc.PlacementServiceStub(channel).ListAlgorithms(placement_pb2.ListAlgorithmsRequest(),
                                                                           timeout=10)
        values = samples(scrape(port))
        assert values[("strata_grpc_server_handled_total", (("grpc_code", "OK"), ("grpc_method", "ListAlgorithms"),
                                                            ("grpc_service", PLACEMENT)))] == 1
        assert values[("strata_placement_solves_total", (("algorithm", "strata"), ("status", "optimal")))] == 0
    finally:
        proc.terminate()
        proc.wait(10)
