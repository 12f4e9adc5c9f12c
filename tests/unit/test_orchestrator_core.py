"""The orchestrator's logic with fake ports: placement with what nodes hold, VIP routes, reconcile, faults."""

from __future__ import annotations

import pytest

from component_base.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from api.app import AppSpec, ServiceSpec
from controller.orchestrator.cluster import ContainerView
from controller.orchestrator.controllers.node_sync import OWNER, OWNER_LABEL, run_request
from controller.orchestrator.controllers.scheduling import container_name
from controller.orchestrator.core import Orchestrator
from controller.orchestrator.ports import RunResult
from controller.orchestrator.sources import SwitchGraph
from controller.orchestrator.store import NodeRecord, ServiceImage, Store
from controller.placement.algorithms import run

MB = 1_000_000
BASE = ("sha256:base", 40 * MB)
IMAGES = {
    "web": ServiceImage("web:latest", [BASE, ("sha256:web", 5 * MB)]),
    "api": ServiceImage("api:latest", [BASE, ("sha256:api", 8 * MB)]),
    "db": ServiceImage("db:latest", [("sha256:dbbase", 60 * MB), ("sha256:db", 10 * MB)]),
}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakePlacer:
    def __init__(self):
        self.problems = []

    def solve(self, problem, algorithm):
        self.problems.append(problem)
        return run(algorithm, problem, time_limit=10)


class FakeSdn:
    def __init__(self):
        self.routes_now = {}
        self.calls = []

    def switch_graph(self):
        # s1 - s2 - s3 in a line; edge1 and edge2 on s1, edge3 on s3, the registry on s2
        links = [("s1", "s2", 100, 0, True), ("s2", "s1", 100, 0, True),
                 ("s2", "s3", 100, 0, True), ("s3", "s2", 100, 0, True)]
        return SwitchGraph(links, {"edge1": "s1", "edge2": "s1", "edge3": "s3", "registry": "s2"})

    def routes(self):
        return dict(self.routes_now)

    def set_policies(self, resolved):
        self.calls.append(("policies", len(resolved.rules)))
        self.policies = resolved

    def put_route(self, name, vip, port, endpoints):
        self.calls.append(("put", name))
        self.routes_now[name] = (vip, port, tuple(endpoints))

    def remove_route(self, name):
        self.calls.append(("remove", name))
        self.routes_now.pop(name, None)


class FakeAgents:
    """Nodes' containers as the agents would hold them; run() stores the image's layers."""

    def __init__(self):
        self.containers = {}  # node -> name -> ContainerView
        self.layers = {}      # node -> digest -> size
        self.requests = []
        self.fail = set()     # nodes whose RunContainer fails
        self.slow = set()     # nodes whose containers run but do not listen yet (not ready)
        self.next_ip = 10

    def run(self, node, request):
        if node.name in self.fail:
            raise FailedPrecondition(f"{node.name}: storage full")
        on_node = self.containers.setdefault(node.name, {})
        if request.name in on_node:
            raise AlreadyExists(request.name)
        self.requests.append((node.name, request))
        self.next_ip += 1
        ip = f"10.0.128.{self.next_ip}"
        ready = node.name not in self.slow
        on_node[request.name] = ContainerView(request.name, True, ip, 0, dict(request.labels), ready)
        image = next(i for i in IMAGES.values() if i.reference == request.image)
        store = self.layers.setdefault(node.name, {})
        pulled = sum(size for digest, size in image.layers if digest not in store)
        store.update(dict(image.layers))
        return RunResult(ip, ready, pulled, 0)

    def remove(self, node, name):
        if name not in self.containers.get(node.name, {}):
            raise NotFound(name)
        del self.containers[node.name][name]


class FakeImages:
    def check(self, service):
        if service.image not in IMAGES:
            raise InvalidArgument(f"unknown image {service.image}")

    def prepare(self, service, progress):
        progress("pushing", f"pushing {service.image}")
        return IMAGES[service.image]


def app(name="shop", web=2, api=1, db=1):
    return AppSpec(name, (
        ServiceSpec("web", "web", replicas=web, cpu_millicores=500, port=80, target_port=8080,
                    dependencies=("api",)),
        ServiceSpec("api", "api", replicas=api, cpu_millicores=500, dependencies=("db",)),
        ServiceSpec("db", "db", replicas=db, cpu_millicores=500),
    ))


class Cluster:
    def __init__(self, tmp_path, nodes=("edge1", "edge2", "edge3"), cpu=2000, storage=500 * MB, memory=0.0):
        self.clock = Clock()
        self.placer, self.sdn, self.agents = FakePlacer(), FakeSdn(), FakeAgents()
        self.path = tmp_path / "orchestrator.db"
        self.alive = set(nodes)
        self.nodes = nodes
        self.o = self.orchestrator()
        for k, name in enumerate(nodes, 1):
            self.o.register_node(NodeRecord(name, f"unix:/x/{name}.sock", f"10.0.0.{k}", "s1",
                                            f"http://10.0.0.{k}:50061", cpu, storage, 1000, memory))
        self.beat()

    def orchestrator(self):
        return Orchestrator(Store(self.path), placer=self.placer, sdn=self.sdn, mesh=self.sdn, agents=self.agents,
                            images=FakeImages(), service_range="10.0.127.0/24", registry_host="registry",
                            clock=self.clock, node_timeout=4, evict_after=10)

    def beat(self):
        for name in sorted(self.alive):
            containers = list(self.agents.containers.get(name, {}).values())
            layers = self.agents.layers.get(name, {})
            self.o.heartbeat(name, containers=containers, layers=dict(layers), storage_used=sum(layers.values()),
                             pulled_bytes_total=0, peer_bytes_total=0)

    def schedule(self):
        """Images prepared, VIPs allocated, pending instances placed: nothing started yet."""
        for controller in self.o.controllers:
            if controller.name in ("images", "vips", "node-lifecycle", "scheduler"):
                controller.sync()

    def settle(self, passes=3):
        """Reconcile passes with their starts finished, heartbeats in between."""
        for _ in range(passes):
            self.o.reconcile_once()
            self.drain()
            self.beat()
        self.o.reconcile_once()

    def drain(self):
        """Wait for the starts and removals a pass submitted."""
        from concurrent.futures import ThreadPoolExecutor

        self.o.node_sync.pool.shutdown(wait=True)
        self.o.node_sync.pool = ThreadPoolExecutor(max_workers=4)

    def running(self):
        return {n: sorted(c) for n, c in self.agents.containers.items() if c}


def test_deploy_starts_every_instance_and_routes_each_vip_to_its_replicas(tmp_path):
    c = Cluster(tmp_path)
    view = c.o.deploy(app())
    assert len(view.instances) == 4 and not view.ready
    assert {i.phase for i in view.instances} == {"pending"} and not any(i.record.node for i in view.instances)
    c.settle()
    view = c.o.deployment("shop")
    assert view.ready, [(i.record.name, i.phase) for i in view.instances]
    assert len(set(view.app.vips.values())) == 3
    assert all(vip.startswith("10.0.127.") for vip in view.app.vips.values())
    assert sum(len(v) for v in c.running().values()) == 4
    vip, port, endpoints = c.sdn.routes_now["web.shop"]
    assert (vip, port) == (view.app.vips["web"], 80)
    assert len(endpoints) == 2 and all(e.port == 8080 and "/" in e.host for e in endpoints)
    # every container knows every service of its app by name, and calls its dependencies on their VIP port
    node, request = c.agents.requests[0]
    assert request.hosts == view.app.vips
    env = dict(item.split("=", 1) for item in request.env)
    assert env["STRATA_SERVICE"] in ("web", "api", "db")
    web = next(r for _, r in c.agents.requests if dict(x.split("=", 1) for x in r.env)["STRATA_SERVICE"] == "web")
    assert dict(x.split("=", 1) for x in web.env)["STRATA_DEPENDENCIES"] == "api:8080"
    assert web.labels[OWNER_LABEL] == OWNER


def test_an_instance_joins_its_route_only_once_it_listens(tmp_path):
    c = Cluster(tmp_path)
    c.agents.slow = set(c.nodes)
    c.o.deploy(app())
    c.settle()
    view = c.o.deployment("shop")
    assert not view.ready
    assert {i.phase for i in view.instances} == {"starting"}
    web = next(i for i in view.instances if i.record.service == "web")
    assert "does not listen on port 8080 yet" in web.message
    assert all(not endpoints for _, _, endpoints in c.sdn.routes_now.values())
    assert {r.ready_port for _, r in c.agents.requests} == {8080}  # every service's target port

    for on_node in c.agents.containers.values():
        for container in on_node.values():
            container.ready = True
    c.settle()
    view = c.o.deployment("shop")
    assert view.ready and {i.phase for i in view.instances} == {"running"}
    assert len(c.sdn.routes_now["web.shop"][2]) == 2


def test_versions_of_a_service_share_its_vip_and_become_its_subsets(tmp_path):
    c = Cluster(tmp_path)
    spec = AppSpec("shop", (
        ServiceSpec("web", "web", replicas=1, cpu_millicores=300, dependencies=("reviews",)),
        ServiceSpec("reviews", "api", replicas=2, cpu_millicores=300, mesh_service="reviews", version="v1"),
        ServiceSpec("reviews-v2", "api", replicas=1, cpu_millicores=300, mesh_service="reviews", version="v2"),
    ))
    c.o.deploy(spec)
    c.settle()
    view = c.o.deployment("shop")
    assert set(view.app.vips) == {"web", "reviews"}  # one VIP for both versions
    assert view.ready and view.endpoints == {"web": 1, "reviews": 2, "reviews-v2": 1}
    assert "reviews-v2.shop" not in c.sdn.routes_now
    vip, _, endpoints = c.sdn.routes_now["reviews.shop"]
    assert vip == view.app.vips["reviews"]
    assert sorted(e.subset for e in endpoints) == ["v1", "v1", "v2"]
    _, request = c.agents.requests[0]
    assert request.hosts["reviews-v2"] == request.hosts["reviews"] == vip
    c.o.scale("shop", "reviews-v2", 0)  # the canary goes: the service and its route stay, with v1 only
    c.settle()
    assert sorted(e.subset for e in c.sdn.routes_now["reviews.shop"][2]) == ["v1", "v1"]
    c.o.delete("shop")
    c.settle()
    assert not c.sdn.routes_now


@pytest.mark.parametrize("services, problem", [
    ((ServiceSpec("a", "api", version="v 1"),), "version"),
    ((ServiceSpec("a", "api", mesh_service="B"),), "mesh_service"),
    ((ServiceSpec("a", "api", port=80, mesh_service="x"), ServiceSpec("b", "api", port=81, mesh_service="x")),
     "share one VIP"),
    ((ServiceSpec("a", "api", mesh_service="b"), ServiceSpec("b", "api", mesh_service="c")),
     "another service"),
])
def test_bad_versions_are_refused(tmp_path, services, problem):
    c = Cluster(tmp_path)
    with pytest.raises(InvalidArgument, match=problem):
        c.o.deploy(AppSpec("shop", services))
    assert not c.o.apps


def test_a_layer_a_node_holds_costs_nothing_there(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(AppSpec("first", (ServiceSpec("api", "api", cpu_millicores=100),)))
    c.settle()
    holder = next(n for n, names in c.running().items() if names)
    c.o.deploy(AppSpec("second", (ServiceSpec("web", "web", cpu_millicores=100),)))
    c.schedule()
    view = c.o.deployment("second")
    # web shares the 40 MB base with api: only its own 5 MB is stored anew, next to api
    assert view.app.planned_bytes == 5 * MB
    assert view.instances[0].record.node == holder
    server = next(s for s in c.placer.problems[-1].servers if s.name == holder)
    assert BASE[0] in server.held


def test_placed_but_not_yet_pulled_layers_count_as_coming(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(AppSpec("first", (ServiceSpec("api", "api", cpu_millicores=100),)))
    c.schedule()  # placed, not started
    c.o.deploy(AppSpec("second", (ServiceSpec("web", "web", cpu_millicores=100),)))
    c.schedule()
    assert c.o.deployment("second").app.planned_bytes == 5 * MB


def test_a_deploy_more_than_the_nodes_hold_in_all_is_refused_and_changes_nothing(tmp_path):
    c = Cluster(tmp_path, cpu=600)  # 1,800 millicores in all
    with pytest.raises(FailedPrecondition, match=r"deploying shop needs 3,500 millicores of CPU more.*1,800 left"):
        c.o.deploy(app(web=5))
    assert c.o.deployments() == [] and c.o.store.apps() == []
    c.o.deploy(app(web=1))  # 1,500: accepted
    with pytest.raises(FailedPrecondition, match=r"scaling shop/web to 3 replicas needs 1,000 millicores of CPU "
                                                 r"more.*300 left of 1,800 \(1,500 already requested\)"):
        c.o.scale("shop", "web", 3)
    assert c.o.deployment("shop").app.spec.service("web").replicas == 1 and len(c.o.deployment("shop").instances) == 3
    c.o.scale("shop", "web", 0)  # scaling in is never refused
    c.o.scale("shop", "web", 1)


def test_a_deploy_that_fits_nowhere_stays_pending_with_the_reason_and_starts_nothing(tmp_path):
    c = Cluster(tmp_path, cpu=700)  # 2,100 in all, but one 500-millicore instance per node
    c.o.deploy(app(web=2))
    c.settle()
    view = c.o.deployment("shop")
    assert not view.ready and {i.phase for i in view.instances} == {"pending"}
    assert all("no placement fits the ready nodes" in i.message for i in view.instances)
    assert not any(i.record.node for i in view.instances) and not c.agents.requests
    c.o.scale("shop", "web", 1)  # now it fits: placed and started
    c.settle()
    assert c.o.deployment("shop").ready


def test_bad_requests_are_refused(tmp_path):
    c = Cluster(tmp_path)
    with pytest.raises(InvalidArgument):
        c.o.deploy(AppSpec("shop", (ServiceSpec("web", "nope"),)))
    with pytest.raises(InvalidArgument):
        c.o.deploy(AppSpec("shop", (ServiceSpec("web", "web", dependencies=("missing",)),)))
    c.o.deploy(app())
    with pytest.raises(AlreadyExists):
        c.o.deploy(app())
    with pytest.raises(NotFound):
        c.o.scale("shop", "cart", 2)
    with pytest.raises(NotFound):
        c.o.delete("nothing")
    with pytest.raises(NotFound):
        c.o.heartbeat("edge9", containers=[], layers={}, storage_used=0, pulled_bytes_total=0, peer_bytes_total=0)


def test_scale_up_and_down(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app())
    c.settle()
    c.o.scale("shop", "web", 4)
    c.settle()
    assert len(c.sdn.routes_now["web.shop"][2]) == 4
    c.o.scale("shop", "web", 1)
    c.settle()
    assert len(c.sdn.routes_now["web.shop"][2]) == 1
    assert sum(len(v) for v in c.running().values()) == 3
    assert c.o.deployment("shop").ready


def test_a_scale_in_is_ready_only_once_the_surplus_is_gone(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app(web=4))
    c.settle()
    c.o.scale("shop", "web", 1)
    routes = next(x for x in c.o.controllers if x.name == "routes")
    routes.sync()  # the route already has its one endpoint; the three removed still run on their nodes
    assert len(c.sdn.routes_now["web.shop"][2]) == 1 and sum(len(v) for v in c.running().values()) == 6
    assert not c.o.deployment("shop").ready
    c.settle()
    assert sum(len(v) for v in c.running().values()) == 3 and c.o.deployment("shop").ready


def test_delete_removes_containers_and_routes(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app())
    c.settle()
    c.o.delete("shop")
    c.settle()
    assert c.running() == {}
    assert c.sdn.routes_now == {}
    assert c.o.vips.used == set()


def test_a_lost_node_has_its_instances_rescheduled_and_cleaned_when_back(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app())
    c.settle()
    victim = max(c.running(), key=lambda n: len(c.running()[n]))
    lost = set(c.running()[victim])
    c.alive.discard(victim)
    c.clock.now += 5
    c.settle()  # not ready yet past node_timeout, but not evicted before evict_after
    assert {i.record.node for i in c.o.deployment("shop").instances} >= {victim}
    assert any(i.phase == "unknown" for i in c.o.deployment("shop").instances)
    c.clock.now += 10
    c.settle()
    view = c.o.deployment("shop")
    assert victim not in {i.record.node for i in view.instances}
    assert not lost & {i.record.name for i in view.instances}  # replacements have new names
    assert view.ready
    # routes left the lost node
    assert all(not e.host.startswith(victim + "/") for r in c.sdn.routes_now.values() for e in r[2])
    # the node comes back with its old containers: they are removed, nothing else started there
    c.alive.add(victim)
    c.settle()
    assert not c.agents.containers[victim]


def test_restarted_orchestrator_neither_duplicates_nor_loses(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app())
    c.settle()
    before = c.running()
    starts = len(c.agents.requests)
    c.o.stop()
    c.o = c.orchestrator()  # a new process on the same database; it has seen no heartbeat yet
    c.clock.now += 1
    c.settle()
    assert c.running() == before
    assert len(c.agents.requests) == starts
    assert c.o.deployment("shop").ready


def test_restarted_orchestrator_does_not_evict_before_hearing_from_nodes(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app())
    c.settle()
    before = {i.record.name for i in c.o.deployment("shop").instances}
    c.o.stop()
    c.clock.now += 100  # down for long: nodes' last heartbeats are old
    c.o = c.orchestrator()
    c.o.reconcile_once()
    assert {i.record.name for i in c.o.deployment("shop").instances} == before


def test_missing_layers_come_from_the_nearest_holder(tmp_path):
    c = Cluster(tmp_path)
    c.agents.layers["edge2"] = dict(IMAGES["api"].layers)  # edge2 (same switch as edge1) holds api's layers
    c.agents.layers["edge3"] = dict(IMAGES["api"].layers)
    c.beat()
    c.o.deploy(AppSpec("solo", (ServiceSpec("api", "api", cpu_millicores=100),)))
    c.schedule()
    instance = next(iter(c.o.instances.values()))
    if instance.node != "edge1":  # placement puts it where layers are held; force the case under test
        instance.node = "edge1"
    graph = c.sdn.switch_graph()
    request = run_request(c.o.state, c.o.apps["solo"], instance, graph, "registry")
    edge2 = c.o.state.nodes["edge2"].blob_address
    assert request.layer_sources == {BASE[0]: edge2, "sha256:api": edge2}
    c.o.apps["solo"].peers = False
    assert run_request(c.o.state, c.o.apps["solo"], instance, graph, "registry").layer_sources == {}


def test_a_failed_start_is_reported_and_retried_later(tmp_path):
    c = Cluster(tmp_path, nodes=("edge1",))
    c.agents.fail.add("edge1")
    c.o.deploy(AppSpec("solo", (ServiceSpec("api", "api", cpu_millicores=100),)))
    c.settle(passes=1)
    view = c.o.deployment("solo")
    assert view.instances[0].phase == "failed" and "storage full" in view.instances[0].message
    c.agents.fail.clear()
    c.settle(passes=1)
    assert c.o.deployment("solo").instances[0].phase != "running"  # backing off
    c.clock.now += 5
    c.settle()
    assert c.o.deployment("solo").ready


def test_container_names_are_short_unique_labels():
    assert container_name("web", 7) == "web-7"
    long = container_name("a" * 63, 12345)
    assert len(long) <= 40 and long.endswith("-12345")


def _spread(c, peers):
    """Two replicas of api on two nodes (one per node by CPU)."""
    c.o.deploy(AppSpec("two", (ServiceSpec("api", "api", replicas=2, cpu_millicores=1500),)), peers=peers)
    c.schedule()
    assert len({i.node for i in c.o.instances.values()}) == 2


def test_with_peers_the_first_pull_seeds_the_second_node(tmp_path):
    c = Cluster(tmp_path, nodes=("edge1", "edge2"))  # one switch: the peer is nearer than the registry
    _spread(c, peers=True)
    c.o.reconcile_once()
    c.drain()
    assert len(c.agents.requests) == 1  # the other node waits for the layers to land somewhere
    first_node = c.agents.requests[0][0]
    c.settle()
    assert len(c.agents.requests) == 2
    second_node, second = c.agents.requests[1]
    assert second_node != first_node
    assert set(second.layer_sources) == {d for d, _ in IMAGES["api"].layers}
    assert set(second.layer_sources.values()) == {c.o.state.nodes[first_node].blob_address}


def test_with_peers_a_node_does_not_queue_behind_one_no_nearer_than_the_registry(tmp_path):
    c = Cluster(tmp_path, nodes=("edge1", "edge3"))  # two hops apart, the registry one hop from each
    _spread(c, peers=True)
    c.o.reconcile_once()
    c.drain()
    assert len(c.agents.requests) == 2  # both pull at once
    assert all(not r.layer_sources for _, r in c.agents.requests)


def test_without_peers_every_node_pulls_from_the_registry_at_once(tmp_path):
    c = Cluster(tmp_path)
    _spread(c, peers=False)
    c.o.reconcile_once()
    c.drain()
    assert len(c.agents.requests) == 2
    assert all(not r.layer_sources for _, r in c.agents.requests)


def test_a_vnf_service_runs_the_vnf_program_with_a_raw_socket_and_gets_no_vip(tmp_path):
    c = Cluster(tmp_path)
    config = '{"default": "allow", "rules": []}'
    spec = AppSpec("vnf-fw1", (ServiceSpec("fw1", "api", replicas=1, cpu_millicores=200, vnf_kind="firewall",
                                           vnf_config=config),))
    view = c.o.deploy(spec)
    assert view.app.vips == {}
    c.settle()
    view = c.o.deployment("vnf-fw1")
    assert view.ready and view.endpoints == {"fw1": 1}
    assert not c.sdn.routes_now  # nothing registered with the mesh
    _, request = c.agents.requests[-1]
    env = dict(item.split("=", 1) for item in request.env)
    assert request.command == ("python3", "/opt/strata/vnf.py") and request.capabilities == ("CAP_NET_RAW",)
    assert request.ready_port == 0  # a VNF listens on no port: ready once it runs
    assert (env["STRATA_VNF_KIND"], env["STRATA_VNF_CONFIG"], env["STRATA_VNF_INTERFACE"]) == ("firewall", config,
                                                                                              "eth0")


@pytest.mark.parametrize("kind, config, problem", [
    ("router", "{}", "vnf_kind"),
    ("firewall", '{"rules": []}', "default"),
    ("ratelimit", "[]", "JSON object"),
])
def test_bad_vnf_services_are_refused(tmp_path, kind, config, problem):
    c = Cluster(tmp_path)
    with pytest.raises(InvalidArgument, match=problem):
        c.o.deploy(AppSpec("vnf-x", (ServiceSpec("x", "api", vnf_kind=kind, vnf_config=config),)))


def test_near_puts_instances_on_the_nodes_nearest_a_host_that_fit(tmp_path):
    """edge1 and edge2 share s1, edge3 is on s3 (two hops away): a service near edge3's switch goes
    there while it fits, then to the next ring; near nothing known is refused."""
    c = Cluster(tmp_path, cpu=1000)
    spec = AppSpec("vnf-mon", (ServiceSpec("mon", "api", replicas=1, cpu_millicores=600, near="edge3",
                                           vnf_kind="monitor"),))
    c.o.deploy(spec)
    c.schedule()
    assert [i.record.node for i in c.o.deployment("vnf-mon").instances] == ["edge3"]
    c.settle()
    c.o.scale("vnf-mon", "mon", 2)  # edge3 is full: the next nearest (two hops) take it
    c.schedule()
    nodes = sorted(i.record.node for i in c.o.deployment("vnf-mon").instances)
    assert nodes[1] == "edge3" and nodes[0] in ("edge1", "edge2")
    with pytest.raises(InvalidArgument, match="near"):
        c.o.deploy(AppSpec("vnf-x", (ServiceSpec("x", "api", near="nowhere", vnf_kind="monitor"),)))


def test_at_most_starts_per_node_are_in_flight_on_a_node_and_the_others_follow(tmp_path):
    c = Cluster(tmp_path, nodes=("edge1",))
    c.o.node_sync.starts_per_node = 2
    c.o.deploy(AppSpec("many", (ServiceSpec("api", "api", replicas=5, cpu_millicores=100),)), peers=False)
    c.schedule()
    c.o.node_sync.sync()
    c.drain()
    assert len(c.agents.requests) == 2  # one pass started two; the other three waited for a slot on edge1
    c.settle()
    assert len(c.agents.requests) == 5 and c.o.deployment("many").ready
