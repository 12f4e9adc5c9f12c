"""Latency-aware placement on the orchestrator's side: the strata.io/clients label, declared delays from the
launcher through the SDN's topology into the network section, client names resolved to where they reach the
network, and the deploy and the scheduler using them."""

from __future__ import annotations

import grpc
import pytest
from strata.v1 import sdn_pb2, sdn_pb2_grpc
from test_orchestrator_core import MB, Cluster, FakeSdn, app
from test_sdn_core import start

from api.app import AppError, AppSpec, ServiceSpec, app_from_dict, app_to_dict, parse_clients, validate_app
from api.app_messages import service_message, service_spec
from component_base.errors import InvalidArgument
from component_base.rpc import create_server
from controller.orchestrator.controllers.client_sites import client_at, unknown_clients, with_clients
from controller.orchestrator.controllers.startup_network import network_section, with_network
from controller.orchestrator.core import Orchestrator
from controller.orchestrator.daemon import build
from controller.orchestrator.sources import SwitchGraph
from controller.orchestrator.store import NodeRecord, Store
from controller.placement.algorithms import run
from controller.placement.model import problem_from_dict
from controller.placement.network import Client
from controller.sdn import servicer
from flow_table_sim import declared
from test_manifests import error_of, load

# ---------------------------------------------------------------- the label


@pytest.mark.parametrize("text, clients", [
    ("site1", (("site1", 1.0),)),
    (" site3 = 2.5 , site1 ", (("site1", 1.0), ("site3", 2.5))),
    ("dev4,Amsterdam-dev1=3", (("Amsterdam-dev1", 3.0), ("dev4", 1.0))),
])
def test_clients_are_sites_or_hosts_with_optional_weights(text, clients):
    assert parse_clients(text) == clients


@pytest.mark.parametrize("text", ["", " ", "site1,,site2", "site1=", "site1=0", "site1=-2", "site1=x",
                                  "site1=inf", "site1,site1=2", "site 1", "=3", 7])
def test_bad_client_lists_are_refused(text):
    with pytest.raises(AppError):
        parse_clients(text)


def test_compose_label_and_kubernetes_annotation_or_label():
    compose, _ = load("services:\n  web:\n    image: nginx\n    labels: {strata.io/clients: 'site1=3,site2'}\n")
    assert compose.service("web").clients == (("site1", 3.0), ("site2", 1.0))
    deployment = ("kind: Deployment\nmetadata: {name: web%s}\nspec:\n  template:\n"
                  "    metadata: {labels: {app: web%s}}\n    spec: {containers: [{name: web, image: nginx}]}\n")
    annotated, _ = load(deployment % (", annotations: {strata.io/clients: 'dev1,dev4=2'}", ""))
    assert annotated.service("web").clients == (("dev1", 1.0), ("dev4", 2.0))
    labelled, _ = load(deployment % ("", ", strata.io/clients: site2"))
    assert labelled.service("web").clients == (("site2", 1.0),)
    unsaid, warnings = load(deployment % ("", ""))
    assert unsaid.service("web").clients == () and not warnings


def test_a_bad_label_names_the_service_and_the_label():
    text = "services:\n  web:\n    image: nginx\n    labels: {strata.io/clients: 'site1=0'}\n"
    assert error_of(text).startswith('service "web": labels["strata.io/clients"]: ')


def test_clients_round_trip_through_json_and_the_proto():
    shop = AppSpec("shop", (ServiceSpec("web", "nginx", clients=(("dev4", 2.0), ("site1", 1.0))),))
    assert app_to_dict(shop)["services"][0]["clients"] == {"dev4": 2.0, "site1": 1.0}
    assert app_from_dict(app_to_dict(shop)) == shop
    assert service_spec(service_message(shop.services[0])) == shop.services[0]
    with pytest.raises(AppError, match="clients"):
        validate_app(AppSpec("shop", (ServiceSpec("web", "nginx", clients=(("site1", 0.0),)),)))


# ---------------------------------------------------------------- delays from the launcher to the network section


def test_the_sdn_serves_the_declared_delays(tmp_path):
    topology = declared([("s1", "s2")], {"dev1": "s1", "edge1": "s2"})
    topology["links"][0]["delay_ms"] = 10.0
    topology["hosts"][0]["access_delay_ms"] = 1.0
    n = start(topology, tmp_path / "sdn.db")
    server, port = create_server("127.0.0.1:0", [(servicer.registrar(n.core), servicer.SERVICE_NAME)])
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = sdn_pb2_grpc.SdnServiceStub(channel).GetTopology(sdn_pb2.GetTopologyRequest(), timeout=10)
    finally:
        server.stop(grace=None)
        n.store.close()
    assert sorted(link.delay_ms for link in answer.links) == [10.0, 10.0]  # both directions
    assert {h.name: h.access_delay_ms for h in answer.hosts} == {"dev1": 1.0, "edge1": 0.0}
    graph = SwitchGraph.from_topology(answer)
    assert graph.link_delay == {("s1", "s2"): 10.0, ("s2", "s1"): 10.0}
    assert graph.host_delay["dev1"] == 1.0 and graph.host_role["dev1"] == "device"


def tiered() -> SwitchGraph:
    """core - agg (10 ms) - site1 and site2 (2 ms each); edge1 on site1, edge2 on site2, the registry on
    core; devices dev1 (1 ms) and dev2 (3 ms) on site1, dev3 (1 ms) on site2."""
    cables = [("core", "agg", 10.0), ("agg", "site1", 2.0), ("agg", "site2", 2.0)]
    links = [(a, b, 100, 0, True) for x, y, _ in cables for a, b in ((x, y), (y, x))]
    delay = {(a, b): d for x, y, d in cables for a, b in ((x, y), (y, x))}
    hosts = {"edge1": "site1", "edge2": "site2", "registry": "core", "dev1": "site1", "dev2": "site1", "dev3": "site2"}
    roles = {"edge1": "edge-server", "edge2": "edge-server", "registry": "registry",
             "dev1": "device", "dev2": "device", "dev3": "device"}
    return SwitchGraph(links, hosts, {h: 20.0 for h in hosts}, delay, {"dev1": 1.0, "dev2": 3.0, "dev3": 1.0}, roles)


def test_the_network_section_carries_the_delays():
    section = network_section(tiered(), ["edge1", "edge2"], "registry", 2**20)
    assert {tuple(link["between"]): link["delay_ms"] for link in section["links"]} == {
        ("agg", "core"): 10.0, ("agg", "site1"): 2.0, ("agg", "site2"): 2.0}
    assert "delay_ms" not in section["servers"]["edge1"]


def test_a_site_stands_for_its_devices_and_a_host_for_itself():
    graph = tiered()
    assert client_at(graph, "site1") == Client("site1", 2.0)  # the mean of its devices' 1 and 3 ms
    assert (client_at(graph, "dev3").switch, client_at(graph, "dev3").delay_ms) == ("site2", 1.0)
    assert client_at(graph, "core").delay_ms == 0.0  # no device hangs there
    assert client_at(graph, "site9") is None
    assert unknown_clients(graph, {"web": (("site1", 1.0), ("site9", 1.0)), "api": (("dev7", 1.0),)}) == [
        ("web", "site9"), ("api", "dev7")]


def test_the_problem_gets_each_services_clients_merged_per_switch():
    problem = problem_from_dict({
        "servers": [{"name": n, "cpu": 10, "storage": 100, "bandwidth": 10} for n in ("edge1", "edge2")],
        "layers": [{"digest": "a", "size": 1}],
        "containers": [{"name": "web-1", "cpu": 1, "bandwidth": 1, "layers": ["a"], "service": "shop/web"},
                       {"name": "db-1", "cpu": 1, "bandwidth": 1, "layers": ["a"], "service": "shop/db"}]})
    graph = tiered()
    assert with_clients(problem, graph, {"shop/web": (("site1", 1.0),)}) == problem  # no network section
    networked = with_network(problem, graph, "registry", 2**20)
    placed = with_clients(networked, graph, {"shop/web": (("dev1", 1.0), ("site1", 3.0), ("site9", 1.0))})
    web, db = placed.containers
    assert [(c.switch, c.weight) for c in web.clients] == [("site1", 4.0)]
    assert web.clients[0].delay_ms == pytest.approx((1.0 * 1 + 2.0 * 3) / 4)
    assert db.clients == ()
    result = run("strata", placed, time_limit=5, latency_weight=1)
    assert result.client_delay_ms is not None


# ---------------------------------------------------------------- deploy and scheduling


class TieredSdn(FakeSdn):
    def switch_graph(self):
        return tiered()


class WeighingPlacer:
    def __init__(self):
        self.calls = []

    def solve(self, problem, algorithm, startup_weight=0.0, latency_weight=0.0):
        self.calls.append((problem, algorithm, latency_weight))
        return run(algorithm, problem, time_limit=10, startup_weight=startup_weight, latency_weight=latency_weight)


def cluster(tmp_path, latency_weight):
    c = Cluster(tmp_path)
    c.sdn, c.placer = TieredSdn(), WeighingPlacer()
    c.o = Orchestrator(Store(tmp_path / "latency.db"), placer=c.placer, sdn=c.sdn, mesh=c.sdn, agents=c.agents,
                       images=c.o.images, service_range="10.0.127.0/24", registry_host="registry", clock=c.clock,
                       latency_weight=latency_weight)
    for name in ("edge1", "edge2"):
        c.o.register_node(NodeRecord(name, f"unix:/x/{name}.sock", f"10.0.0.{name[-1]}", "s1", f"http://10.0.0.{name[-1]}:50061",
                                     2000, 500 * MB, 1000, 0.0))
    c.alive = {"edge1", "edge2"}
    c.beat()
    return c


def shop_with_clients(at: str):
    shop = app(web=1, api=1, db=1)
    web = shop.service("web")
    return AppSpec(shop.name, tuple(s if s is not web else ServiceSpec(
        web.name, web.image, replicas=2, cpu_millicores=web.cpu_millicores, port=web.port,
        target_port=web.target_port, dependencies=web.dependencies, clients=((at, 1.0),)) for s in shop.services))


def test_an_unknown_client_fails_the_deploy_and_records_nothing(tmp_path):
    c = cluster(tmp_path, 100.0)
    with pytest.raises(InvalidArgument, match='service "web": clients: "site9"'):
        c.o.deploy(shop_with_clients("site9"), algorithm="strata")
    assert "shop" not in c.o.state.apps and not c.o.state.instances


@pytest.mark.parametrize("site, server", [("site1", "edge1"), ("site2", "edge2")])
def test_the_scheduler_places_a_service_at_its_clients_site(tmp_path, site, server):
    c = cluster(tmp_path, 1000.0)
    c.o.deploy(shop_with_clients(site), algorithm="strata")
    c.schedule()
    problem, algorithm, latency = c.placer.calls[0]
    assert (algorithm, latency) == ("strata", 1000.0)
    assert {x.switch for container in problem.containers for x in container.clients} == {site}
    placed = {i.record.name: i.record.node for i in c.o.deployment("shop").instances}
    assert all(node == server for name, node in placed.items() if name.startswith("web"))


def test_without_a_latency_weight_the_clients_are_only_reported(tmp_path):
    c = cluster(tmp_path, 0.0)
    c.o.deploy(shop_with_clients("site2"), algorithm="kube-default")
    c.schedule()
    problem, _, latency = c.placer.calls[0]
    assert latency == 0.0 and problem.has_clients and problem.network is not None


@pytest.mark.parametrize("weight", [-1, float("inf"), "5", True, float("nan")])
def test_the_daemon_refuses_a_bad_latency_weight(weight):
    with pytest.raises(InvalidArgument, match="latency_weight"):
        build({"latency_weight": weight})


def test_the_client_delay_bound_label():
    text = ("services:\n  web:\n    image: nginx\n    labels: {strata.io/clients: site1, "
            "strata.io/max-client-delay-ms: '%s'}\n")
    app_, _ = load(text % "3.5")
    assert app_.service("web").max_client_delay_ms == 3.5
    assert service_spec(service_message(app_.service("web"))) == app_.service("web")
    for bad in ("0", "-1", "soon", "inf"):
        assert 'labels["strata.io/max-client-delay-ms"]' in error_of(text % bad)
    assert "needs clients" in error_of("services:\n  web:\n    image: nginx\n"
                                       "    labels: {strata.io/max-client-delay-ms: '3'}\n")


def test_the_scheduler_keeps_a_bounded_service_within_its_bound(tmp_path):
    # no latency weight: bytes alone would pack, the bound still keeps web's replicas at site2
    c = cluster(tmp_path, 0.0)
    shop = shop_with_clients("site2")
    bounded = AppSpec(shop.name, tuple(
        s if s.name != "web" else ServiceSpec(**{**s.__dict__, "max_client_delay_ms": 2.0}) for s in shop.services))
    c.o.deploy(bounded, algorithm="first-fit")
    c.schedule()
    problem, _, _ = c.placer.calls[0]
    assert {x.max_client_delay_ms for x in problem.containers if x.clients} == {2.0}
    placed = {i.record.name: i.record.node for i in c.o.deployment("shop").instances}
    assert all(node == "edge2" for name, node in placed.items() if name.startswith("web")), placed


def test_the_bound_is_said_among_the_services_rules():
    from api.app import describe_rules

    web = ServiceSpec("web", "nginx", clients=(("dev4", 1.0), ("site1", 3.0)), max_client_delay_ms=3.0)
    assert describe_rules(web) == "within 3 ms of its clients (dev4, site1)"
    assert describe_rules(ServiceSpec("web", "nginx", clients=(("site1", 1.0),))) == ""


def test_two_services_of_one_image_split_to_their_clients_sites_only_with_a_weight(tmp_path):
    def shop():
        base = app(web=1, api=1, db=1)
        web, api = base.service("web"), base.service("api")
        return AppSpec(base.name, (ServiceSpec(**{**web.__dict__, "image": "api", "clients": (("site1", 1.0),)}),
                                   ServiceSpec(**{**api.__dict__, "clients": (("site2", 1.0),)}),
                                   base.service("db")))

    nodes = {}
    for weight in (0.0, 1e9):  # sizes in bytes here (the cluster's size unit is 1): 1 GB per ms
        (tmp_path / str(weight)).mkdir()
        c = cluster(tmp_path / str(weight), weight)
        c.o.deploy(shop(), algorithm="strata")
        c.schedule()
        placed = {i.record.service: i.record.node for i in c.o.deployment("shop").instances}
        nodes[weight] = (placed["web"], placed["api"])
    assert nodes[0.0][0] == nodes[0.0][1]  # bytes alone: one copy of the image
    assert nodes[1e9] == ("edge1", "edge2")  # each at its clients' site


def test_app_get_shows_a_services_clients(capsys):
    from strata.v1 import orchestrator_pb2 as pb

    from cli.app import _print_deployment, deployment_dict

    front = pb.ServiceSpec(name="front", image="nginx", clients={"site1": 3.0, "dev4": 1.0}, max_client_delay_ms=4)
    shop = pb.Deployment(application="shop", services=[front, pb.ServiceSpec(name="db", image="redis")])
    _print_deployment(shop)
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert "clients of front: dev4, site1 x3" in lines
    assert "rules of front: within 4 ms of its clients (dev4, site1)" in lines
    assert not any(line.startswith("clients of db") for line in lines)
    front_json, db_json = deployment_dict(shop)["services"]
    assert (front_json["clients"], front_json["max_client_delay_ms"]) == ({"dev4": 1.0, "site1": 3.0}, 4)
    assert db_json["clients"] == {}


def test_a_bound_that_cannot_be_checked_leaves_the_instances_pending(tmp_path):
    from component_base.errors import FailedPrecondition, Unavailable

    problem = problem_from_dict({
        "servers": [{"name": "edge1", "cpu": 10, "storage": 100, "bandwidth": 10}],
        "layers": [{"digest": "a", "size": 1}],
        "containers": [{"name": "web-1", "cpu": 1, "bandwidth": 1, "layers": ["a"], "service": "shop/web"}]})
    with pytest.raises(FailedPrecondition, match="network is not known"):
        with_clients(problem, tiered(), {"shop/web": (("site1", 1.0),)}, {"shop/web": 2.0})
    networked = with_network(problem, tiered(), "registry", 2**20)
    with pytest.raises(FailedPrecondition, match="no client of it is reachable"):
        with_clients(networked, tiered(), {"shop/web": (("site9", 1.0),)}, {"shop/web": 2.0})

    class SilentSdn(TieredSdn):
        def switch_graph(self):
            raise Unavailable("the SDN controller did not answer")

    c = cluster(tmp_path, 0.0)
    shop = shop_with_clients("site2")
    bounded = AppSpec(shop.name, tuple(
        s if s.name != "web" else ServiceSpec(**{**s.__dict__, "max_client_delay_ms": 2.0}) for s in shop.services))
    c.o.deploy(bounded, algorithm="strata")  # checked against the graph while the SDN answers
    c.o.graph._cached = None
    c.o.graph.sdn = SilentSdn()
    c.schedule()
    assert not any(i.record.node for i in c.o.deployment("shop").instances)
    assert "did not answer" in c.o.state.unplaced["shop"]
