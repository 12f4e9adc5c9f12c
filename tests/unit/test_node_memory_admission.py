"""Memory on the node agent: admission by the containers' requests against the node's memory, its report to the
orchestrator, and the termination reason its heartbeat carries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from strata.v1 import agent_pb2

from component_base.errors import FailedPrecondition, InvalidArgument
from dataplane.agent.daemon import build_node
from dataplane.agent.heartbeat import OrchestratorLink
from dataplane.agent.layers import LayerStore
from dataplane.agent.node import Node, NodeConfig
from dataplane.agent.servicer import NodeAgentServicer
from dataplane.agent.state import OOM_KILLED, AgentState

from test_node_concurrency import FakePodNetwork, FakeRegistry, FakeRunc, FakeSdn, Gate
from test_node_concurrency import mounts  # noqa: F401 - the fixture that fakes overlay mounts (they need root)

pytestmark = pytest.mark.usefixtures("mounts")


def memory_node(tmp_path, registry, *, memory=1000.0, runc=None) -> Node:
    config = NodeConfig("edge1", "10.0.0.3", "s1", "10.0.128.0/24", 10_000, 10**7, tmp_path, "http://r:5000", 0.01,
                        memory_mib=memory)
    return Node(config, store=LayerStore(tmp_path / "layers", 10**7), registry=registry, runc=runc or FakeRunc(),
                podnet=FakePodNetwork(), sdn=FakeSdn(), state=AgentState(tmp_path / "agent.db"))


def test_a_container_whose_request_does_not_fit_what_the_others_leave_is_refused_before_any_pull(tmp_path):
    registry = FakeRegistry({"api": ["api"], "db": ["db"]})
    node = memory_node(tmp_path, registry)
    node.run("api", "api", memory_request_mib=600, memory_limit_mib=800)
    with pytest.raises(FailedPrecondition) as refused:
        node.run("db", "db", memory_request_mib=500)
    # it names the container, its request and what is left
    assert all(part in str(refused.value) for part in ("db", "500 MiB", "leaving 400 MiB"))
    assert [r.name for r in node.containers()] == ["api"]
    assert registry.digest("db") not in registry.fetches  # refused before anything was pulled
    assert node.memory_requested() == 600 and node.memory_left() == 400
    node.run("db", "db", memory_request_mib=400)  # exactly what is left
    assert node.memory_left() == 0
    node.remove("api")  # a removed container's request is free again
    assert node.memory_left() == 600


def test_a_stopped_container_keeps_its_request(tmp_path):
    node = memory_node(tmp_path, FakeRegistry({"api": ["api"], "db": ["db"]}))
    node.run("api", "api", memory_request_mib=700)
    node.stop("api")
    with pytest.raises(FailedPrecondition):
        node.run("db", "db", memory_request_mib=400)  # it may be started again: its memory stays set aside


def test_a_node_whose_memory_is_not_given_admits_any_request(tmp_path):
    node = memory_node(tmp_path, FakeRegistry({"api": ["api"], "db": ["db"]}), memory=0)
    node.run("api", "api", memory_request_mib=10**6)
    node.run("db", "db", memory_request_mib=10**6)
    assert node.memory_left() is None and node.memory_requested() == 2 * 10**6


def test_parallel_starts_racing_for_the_last_memory_get_exactly_what_fits(tmp_path):
    node = memory_node(tmp_path, FakeRegistry({"app": ["base"]}), runc=FakeRunc(Gate(3, expected=3)), memory=1000)

    def start(name):
        try:
            return node.run(name, "app", memory_request_mib=300)
        except FailedPrecondition as exc:
            return exc

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(start, [f"c{k}" for k in range(8)]))
    assert sum(isinstance(o, tuple) for o in outcomes) == 3 and len(node.containers()) == 3
    assert node.memory_requested() == 900


@pytest.mark.parametrize("request_mib, limit_mib", [(-1, 0), (float("nan"), 0), (float("inf"), 0), (65, 64)])
def test_a_request_that_is_not_a_number_or_exceeds_the_limit_is_refused(tmp_path, request_mib, limit_mib):
    node = memory_node(tmp_path, FakeRegistry({"web": ["web"]}))
    with pytest.raises(InvalidArgument, match="memory_request_mib"):
        node.run("web", "web", memory_request_mib=request_mib, memory_limit_mib=limit_mib)
    assert node.records == {} and node.memory_requested() == 0


def test_the_request_is_kept_across_an_agent_restart(tmp_path):
    node = memory_node(tmp_path, FakeRegistry({"web": ["web"]}))
    node.run("web", "web", memory_request_mib=250, memory_limit_mib=300)
    node.state.close()
    again = memory_node(tmp_path, FakeRegistry({"web": ["web"]}))
    assert again.get("web").memory_request_mib == 250 and again.memory_left() == 750


def test_the_configuration_gives_the_node_its_memory_and_refuses_a_negative_one(tmp_path):
    config = {"node": "edge1", "ip": "10.0.0.3", "switch": "s1", "pod_cidr": "10.0.128.0/24", "prefixlen": 16,
              "cpu_millicores": 1000, "storage_capacity_bytes": 10**7, "state_dir": str(tmp_path),
              "registry": "http://r:5000", "sdn": "unix:/nonexistent.sock", "root_netns_pid": 1,
              "netns_prefix": "t-"}
    node = build_node(config)
    assert node.config.memory_mib == 0  # not given: no admission by memory
    node.close()
    node = build_node({**config, "memory_mib": 2048})
    assert node.config.memory_mib == 2048
    node.close()
    with pytest.raises(InvalidArgument, match="memory_mib"):
        build_node({**config, "memory_mib": -1})


def test_the_servicer_passes_the_request_and_reports_the_node_s_memory(tmp_path):
    node = memory_node(tmp_path, FakeRegistry({"web": ["web"]}), memory=512)
    servicer = NodeAgentServicer(node)
    reply = servicer.RunContainer(agent_pb2.RunContainerRequest(name="web", image="web", memory_request_mib=128,
                                                                memory_limit_mib=256), None)
    assert (reply.container.memory_request_mib, reply.container.memory_limit_mib) == (128, 256)
    status = servicer.GetNode(agent_pb2.GetNodeRequest(), None)
    assert (status.memory_mib, status.memory_requested_mib) == (512, 128)


def test_registration_reports_the_memory_and_heartbeats_the_termination_reason(tmp_path):
    node = memory_node(tmp_path, FakeRegistry({"web": ["web"], "api": ["api"]}), memory=1536)
    node.run("web", "web")
    node.run("api", "api")
    hog = node.get("web")
    hog.restarts, hog.last_termination_reason = 3, OOM_KILLED  # as the supervisor records an OOM kill
    link = OrchestratorLink(node, "unix:/nonexistent.sock", agent_address="unix:/a.sock", blob_address="",
                            bandwidth_mbps=20)
    try:
        assert link.register_request().memory_mib == 1536
        statuses = {c.name: c for c in link.heartbeat_request().containers}
    finally:
        link.stop()
    assert (statuses["web"].restarts, statuses["web"].last_termination_reason) == (3, "OOMKilled")
    assert statuses["api"].last_termination_reason == ""
