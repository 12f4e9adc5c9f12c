"""Every servicer refuses out-of-bound requests (NaN, infinities, huge counts, foreign addresses) as INVALID_ARGUMENT,
before any work and changing nothing; images are pulled by digest."""

from __future__ import annotations

import grpc
import pytest
from strata.v1 import agent_pb2, common_pb2, mesh_pb2, orchestrator_pb2 as opb, placement_pb2

from api import bounds
from api.app import AppSpec, ServiceSpec
from api.classifier import Classifier
from component_base.errors import InvalidArgument
from controller.mesh.servicer import MeshServicer
from controller.orchestrator.servicer import OrchestratorServicer
from controller.placement.servicer import PlacementServicer
from dataplane.agent.node import Node, NodeConfig
from dataplane.agent.layers import LayerStore
from dataplane.agent.servicer import NodeAgentServicer
from dataplane.agent.state import AgentState
from images.registry import ImageManifest

from test_mesh_core import EPS, ep, mesh  # noqa: F401 - the mesh fixture
from test_node_concurrency import FakePodNetwork, FakeRegistry, FakeRunc, FakeSdn
from test_node_concurrency import mounts  # noqa: F401 - the fixture that fakes overlay mounts (they need root)
from test_orchestrator_core import Cluster

NAN, INF = float("nan"), float("inf")
DIGEST = "sha256:" + "ab" * 32


class Aborted(Exception):
    pass


class FakeContext:
    """What a servicer sees of gRPC: abort raises, as the real one does."""

    def __init__(self):
        self.code = None

    def abort(self, code, details):
        self.code, self.details = code, details
        raise Aborted(details)


def refused(method, request) -> str:
    """Calls a servicer method expecting INVALID_ARGUMENT; returns the message."""
    context = FakeContext()
    with pytest.raises(Aborted):
        method(request, context)
    assert context.code == grpc.StatusCode.INVALID_ARGUMENT
    return context.details


# -- the shared checks ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [NAN, INF, -INF, -1, 11, True, "3"])
def test_finite_refuses_nan_infinities_and_out_of_range(value):
    with pytest.raises(InvalidArgument):
        bounds.finite("x", value, 0, 10)


def test_lists_and_maps_are_bounded_in_entries_length_and_total():
    bounds.strings("env", ["A=1"] * bounds.MAX_LIST)
    with pytest.raises(InvalidArgument, match="entries"):
        bounds.strings("env", ["A=1"] * (bounds.MAX_LIST + 1))
    with pytest.raises(InvalidArgument, match="characters long"):
        bounds.strings("env", ["A=" + "x" * bounds.MAX_TEXT])
    with pytest.raises(InvalidArgument, match="in all"):
        bounds.strings("env", ["A=" + "x" * (bounds.MAX_TEXT - 2)] * 20)
    with pytest.raises(InvalidArgument, match="NUL"):
        bounds.strings("command", ["a\x00b"])
    with pytest.raises(InvalidArgument):
        bounds.string_map("labels", {"k" * (bounds.MAX_NAME + 1): "v"})


@pytest.mark.parametrize("address, ok", [
    ("unix:/run/strata/edge1.sock", True), ("10.0.0.3:50051", True), ("10.0.0.4:50051", False),
    ("edge1:50051", False), ("http://10.0.0.3:50051", False), ("10.0.0.3:0", False), ("10.0.0.3:70000", False),
    ("unix:relative.sock", False), ("unix:/a/../../etc/x", False)])
def test_an_agent_address_is_a_local_socket_or_the_node_s_own_ip_and_port(address, ok):
    if ok:
        bounds.agent_address("agent_address", address, "10.0.0.3")
    else:
        with pytest.raises(InvalidArgument):
            bounds.agent_address("agent_address", address, "10.0.0.3")


@pytest.mark.parametrize("url, ok", [
    ("http://10.0.0.3:50061", True), ("http://10.0.0.3:50061/", True), ("https://10.0.0.3:50061", False),
    ("http://evil.example:80", False), ("http://10.0.0.3:50061/v2/x", False), ("http://u:p@10.0.0.3:50061", False),
    ("http://10.0.0.3:50061?a=b", False), ("file:///etc/passwd", False)])
def test_a_blob_url_is_plain_http_to_an_ip_and_port(url, ok):
    if ok:
        assert bounds.blob_url("blob", url) == url.rstrip("/")
    else:
        with pytest.raises(InvalidArgument):
            bounds.blob_url("blob", url)


# -- the node agent ------------------------------------------------------------------------------------------------
class DigestRegistry(FakeRegistry):
    """Also resolves "name@sha256:..." and notes the references asked for."""

    def __init__(self, images):
        super().__init__(images)
        self.asked: list[str] = []

    def manifest(self, reference: str) -> ImageManifest:
        self.asked.append(reference)
        name = reference.split("@")[0].split(":")[0]
        return ImageManifest(reference, DIGEST, "sha256:" + "1" * 64, {"config": {"Cmd": ["serve"]}},
                             self.images[name])


@pytest.fixture
def agent(tmp_path, mounts):  # noqa: F811 - the fixture
    registry, runc = DigestRegistry({"web": ["web"]}), FakeRunc()
    config = NodeConfig("edge1", "10.0.0.3", "s1", "10.0.128.0/24", 10_000, 10**7, tmp_path, "http://r:5000", 0.01)
    node = Node(config, store=LayerStore(tmp_path / "layers", 10**7), registry=registry, runc=runc,
                podnet=FakePodNetwork(), sdn=FakeSdn(), state=AgentState(tmp_path / "agent.db"))
    yield NodeAgentServicer(node), node, registry, runc
    node.close()


@pytest.mark.parametrize("timeout", [NAN, INF, -1.0, bounds.MAX_STOP_TIMEOUT_SECONDS + 1])
def test_stop_with_a_nan_or_huge_timeout_is_refused_and_the_container_keeps_running(agent, timeout):
    servicer, node, _, runc = agent
    node.run("web", "web")
    message = refused(servicer.StopContainer, agent_pb2.StopContainerRequest(name="web", timeout_seconds=timeout))
    assert "timeout_seconds" in message
    assert runc.running == {"edge1-web"} and node.get("web").state == "running"


@pytest.mark.parametrize("change, field", [
    ({"cpu_millicores": NAN}, "cpu_millicores"), ({"cpu_millicores": INF}, "cpu_millicores"),
    ({"cpu_millicores": 1e12}, "cpu_millicores"), ({"memory_limit_mib": NAN}, "memory_limit_mib"),
    ({"memory_request_mib": INF}, "memory_request_mib"),
    ({"env": ["A=1"] * (bounds.MAX_LIST + 1)}, "env"), ({"command": ["x" * (bounds.MAX_TEXT + 1)]}, "command"),
    ({"labels": {f"k{k}": "v" for k in range(bounds.MAX_LIST + 1)}}, "labels"),
    ({"layer_sources": {DIGEST: "http://evil.example:80/steal"}}, "layer_sources"),
    ({"layer_sources": {"sha256:short": "http://10.0.0.4:50061"}}, "layer_sources"),
    ({"image": "web@sha256:" + "0" * 63}, "sha256"), ({"image": "web:" + "v" * 600}, "image"),
    ({"name": "x" * 300}, "name")])
def test_run_container_out_of_bounds_is_refused_before_any_pull(agent, change, field):
    servicer, node, registry, runc = agent
    message = refused(servicer.RunContainer, agent_pb2.RunContainerRequest(**{"name": "web", "image": "web", **change}))
    assert field in message
    assert registry.asked == [] and registry.fetches == {} and runc.running == set() and node.containers() == []


def test_names_are_bounded_before_they_are_looked_up(agent):
    servicer, _, _, _ = agent
    message = refused(servicer.StopContainer, agent_pb2.StopContainerRequest(name="x" * 10_000))
    assert "name" in message and len(message) < 200


def test_pull_layer_sources_are_checked_like_run_s(agent):
    servicer, _, registry, _ = agent
    refused(servicer.PullImage, agent_pb2.PullImageRequest(image="web", layer_sources={DIGEST: "ftp://10.0.0.4:21"}))
    assert registry.asked == []


def test_an_image_is_pulled_and_run_by_digest(agent):
    servicer, node, registry, _ = agent
    reference = "web@" + DIGEST
    reply = servicer.RunContainer(agent_pb2.RunContainerRequest(image=reference), FakeContext())
    assert registry.asked == [reference]
    assert reply.container.image == reference and reply.pull.image == reference
    assert reply.container.name == "web-1"  # named after the repository, not the digest


# -- the orchestrator ------------------------------------------------------------------------------------------------
def register_request(**change):
    fields = dict(name="edge4", agent_address="unix:/x/edge4.sock", ip="10.0.0.4", switch="s1",
                  blob_address="http://10.0.0.4:50061", cpu_millicores=1000, storage_bytes=10, bandwidth_mbps=100)
    return opb.RegisterNodeRequest(**{**fields, **change})


@pytest.mark.parametrize("change, field", [
    ({"cpu_millicores": INF}, "cpu_millicores"), ({"cpu_millicores": NAN}, "cpu_millicores"),
    ({"bandwidth_mbps": INF}, "bandwidth_mbps"), ({"memory_mib": NAN}, "memory_mib"),
    ({"storage_bytes": 2**63}, "storage_bytes"),
    ({"agent_address": "evil.example:443"}, "agent_address"), ({"agent_address": "10.0.0.9:50051"}, "agent_address"),
    ({"blob_address": "http://10.0.0.9:50061"}, "blob_address"),
    ({"blob_address": "http://10.0.0.4:50061/v2/../x"}, "blob_address"),
    ({"ip": "edge4"}, "ip"), ({"name": "../edge4"}, "node name"), ({"switch": "s" * 300}, "switch")])
def test_register_node_out_of_bounds_is_refused_and_nothing_is_registered(tmp_path, change, field):
    c = Cluster(tmp_path)
    before = dict(c.o.state.nodes)
    assert field in refused(OrchestratorServicer(c.o).RegisterNode, register_request(**change))
    assert c.o.state.nodes == before and [n.name for n in c.o.store.nodes()] == sorted(before)


def test_register_node_on_the_node_s_own_addresses_is_accepted(tmp_path):
    c = Cluster(tmp_path)
    servicer = OrchestratorServicer(c.o)
    assert servicer.RegisterNode(register_request(agent_address="10.0.0.4:50051"), FakeContext()).name == "edge4"


def test_heartbeat_lists_are_bounded(tmp_path):
    c = Cluster(tmp_path)
    servicer = OrchestratorServicer(c.o)
    observed = c.o.state.observed["edge1"].last_heartbeat
    many = [opb.ContainerStatus(name=f"c{k}") for k in range(bounds.MAX_ITEMS + 1)]
    assert "containers" in refused(servicer.Heartbeat, opb.HeartbeatRequest(node="edge1", containers=many))
    labels = [opb.ContainerStatus(name="c", labels={f"k{k}": "v" for k in range(bounds.MAX_LIST + 1)})]
    assert "labels" in refused(servicer.Heartbeat, opb.HeartbeatRequest(node="edge1", containers=labels))
    layers = [opb.StoredLayer(digest="sha256:" + "x" * 500, size_bytes=1)]
    assert "digest" in refused(servicer.Heartbeat, opb.HeartbeatRequest(node="edge1", layers=layers))
    assert c.o.state.observed["edge1"].last_heartbeat == observed


def test_replicas_are_capped_on_deploy_and_scale(tmp_path):
    c = Cluster(tmp_path)
    servicer = OrchestratorServicer(c.o)
    huge = opb.DeployRequest(application="shop", services=[opb.ServiceSpec(name="api", image="api", replicas=4294967295,
                                                                           cpu_millicores=100, port=80,
                                                                           target_port=80)])
    assert "replicas" in refused(servicer.Deploy, huge)
    assert c.o.deployments() == []
    c.o.deploy(AppSpec("shop", (ServiceSpec("api", "api", cpu_millicores=100),)))
    scale = opb.ScaleRequest(application="shop", service="api", replicas=bounds.MAX_REPLICAS + 1)
    assert str(bounds.MAX_REPLICAS) in refused(servicer.Scale, scale)
    assert len(c.o.instances) == 1


# -- placement -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [NAN, INF, -1, bounds.MAX_SOLVE_SECONDS + 1, 86400])
def test_solve_time_limits_are_capped(limit):
    request = placement_pb2.SolveRequest(time_limit_seconds=limit)
    assert "time_limit_seconds" in refused(PlacementServicer().Solve, request)


def test_solve_lists_are_bounded():
    request = placement_pb2.SolveRequest(layers=[common_pb2.Layer(digest=f"d{k}", size=1)
                                                 for k in range(bounds.MAX_ITEMS + 1)])
    assert "layers" in refused(PlacementServicer().Solve, request)


# -- the mesh ---------------------------------------------------------------------------------------------------------
def test_subsets_and_endpoints_are_bounded(mesh):  # noqa: F811 - the fixture
    core, sdn, _, _ = mesh
    servicer = MeshServicer(core)
    core.register("web", "10.0.127.1", "tcp", 80)
    core.set_endpoints("web", EPS)
    before = core.get("web")
    split = {f"v{k}": 0 for k in range(bounds.MAX_SUBSETS + 1)} | {"v1": 100}
    request = mesh_pb2.SetPolicyRequest(service="web", policy=mesh_pb2.TrafficPolicy(split=split))
    assert "split" in refused(servicer.SetPolicy, request)
    endpoints = [mesh_pb2.MeshEndpoint(host=f"h{k}", ip="10.0.128.9", port=80, subset=f"s{k}")
                 for k in range(bounds.MAX_SUBSETS + 1)]
    assert "subsets" in refused(servicer.SetEndpoints, mesh_pb2.SetEndpointsRequest(service="web",
                                                                                      endpoints=endpoints))
    assert core.get("web") == before
    many = [ep(f"h{k}") for k in range(bounds.MAX_ITEMS + 1)]
    with pytest.raises(InvalidArgument, match="endpoints"):
        core.set_endpoints("web", many)



# -- the SDN controller -----------------------------------------------------------------------------------------------
def test_chain_hops_are_bounded():
    from controller.sdn.core import check_hops

    check_hops([["fw-1", "fw-2"], ["nat-1"]])
    with pytest.raises(InvalidArgument, match="hops"):
        check_hops([["fw-1"]] * (bounds.MAX_LIST + 1))
    with pytest.raises(InvalidArgument, match="hops\\[0\\]"):
        check_hops([[f"fw-{k}" for k in range(bounds.MAX_LIST + 1)]])


# -- the VNF manager --------------------------------------------------------------------------------------------------
def test_vnf_requests_are_bounded_before_anything_is_recorded(mano_manager):
    manager = mano_manager
    for near in ("h" * 300, "a host"):
        with pytest.raises(InvalidArgument, match="near"):
            manager.instantiate("fw1", "edge-fw", 1, near)
    assert manager.instances == {} and manager.list_operations() == []
    with pytest.raises(InvalidArgument, match="instances"):
        manager.create_chain("c1", Classifier("10.0.0.0/24", "", "tcp", 80), [f"fw{k}" for k in range(300)], False)
    assert manager.chains == {}


@pytest.fixture
def mano_manager(tmp_path):
    from mano.core import VnfManager
    from mano.descriptors import parse_vnfd
    from mano.store import ManoStore
    from test_mano_core import FIREWALL, FakeOrchestrator, FakeSdn

    store = ManoStore(tmp_path / "mano.db")
    manager = VnfManager(store, FakeOrchestrator(), FakeSdn(), run=lambda work: work(), ready_timeout=0.05, poll=0.001)
    manager.onboard(parse_vnfd(FIREWALL))
    yield manager
    store.close()


def test_deploy_names_a_known_placement_algorithm(tmp_path):
    c = Cluster(tmp_path)
    request = opb.DeployRequest(application="shop", algorithm="x" * 100_000,
                                services=[opb.ServiceSpec(name="api", image="api", replicas=1, cpu_millicores=100,
                                                          port=80, target_port=80)])
    assert "algorithm" in refused(OrchestratorServicer(c.o).Deploy, request)
    assert c.o.deployments() == []
