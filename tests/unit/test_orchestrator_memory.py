"""Memory in the orchestrator: nodes' registered capacity, services' requests in placement problems, the node view."""

from __future__ import annotations

import json

import pytest
from strata.v1 import orchestrator_pb2 as pb

from component_base.errors import InvalidArgument
from api.app import AppSpec, ServiceSpec
from controller.orchestrator.controllers.scheduling import NO_MEMORY_LEFT, free_memory
from controller.orchestrator.servicer import OrchestratorServicer, node_message
from controller.orchestrator.store import NodeRecord, Store

from test_orchestrator_core import Cluster


def api(replicas=2, memory=600.0):
    return AppSpec("shop", (ServiceSpec("api", "api", replicas=replicas, cpu_millicores=100, memory_mib=memory),))


def test_free_memory_of_a_node():
    assert free_memory(0, 500) == 0  # the agent gave no capacity: no memory limit
    assert free_memory(1000, 300) == 700
    assert free_memory(1000, 1000) == NO_MEMORY_LEFT > 0  # full, and not read as "no limit"
    assert free_memory(1000, 1500) == NO_MEMORY_LEFT


def test_replicas_go_where_memory_is_left_although_cpu_would_fit_on_one_node(tmp_path):
    c = Cluster(tmp_path, memory=1000)
    c.o.deploy(api())
    c.settle()
    view = c.o.deployment("shop")
    assert view.ready
    assert len({i.record.node for i in view.instances}) == 2  # 2 x 600 MiB > 1000 MiB per node
    problem = c.placer.problems[0]
    assert [s.memory for s in problem.servers] == [1000, 1000, 1000]
    assert [c.memory for c in problem.containers] == [600, 600]
    # what is placed is taken from the node's memory in the next problem
    c.o.deploy(AppSpec("more", (ServiceSpec("web", "web", cpu_millicores=100, memory_mib=300),)))
    c.schedule()
    used = {i.record.node for i in view.instances}
    assert {s.name: s.memory for s in c.placer.problems[-1].servers} == {
        name: 400 if name in used else 1000 for name in ("edge1", "edge2", "edge3")}
    placed = [(i.record.node, 600) for i in view.instances]
    placed += [(i.record.node, 300) for i in c.o.deployment("more").instances]
    assert {v.record.name: v.memory_allocated for v in c.o.list_nodes()} == {
        name: sum(mib for node, mib in placed if node == name) for name in ("edge1", "edge2", "edge3")}

def test_nodes_without_a_memory_capacity_put_no_limit(tmp_path):
    c = Cluster(tmp_path)  # agents that do not report memory
    c.o.deploy(api(replicas=3, memory=1e6))
    c.settle()
    assert c.o.deployment("shop").ready
    assert {s.memory for s in c.placer.problems[0].servers} == {0.0}


def test_a_deploy_whose_memory_fits_nowhere_stays_pending_with_the_reason(tmp_path):
    c = Cluster(tmp_path, memory=500)
    c.o.deploy(api(replicas=1))
    c.settle()
    [instance] = c.o.deployment("shop").instances
    assert instance.phase == "pending" and not instance.record.node and not c.agents.requests
    assert "no placement fits the ready nodes" in instance.message and "500 MiB memory" in instance.message


def test_the_node_view_and_message_carry_memory(tmp_path):
    c = Cluster(tmp_path, memory=2048)
    c.o.deploy(api(replicas=1, memory=512))
    c.settle()
    messages = {m.name: m for m in (node_message(v) for v in c.o.list_nodes())}
    assert {m.memory_mib for m in messages.values()} == {2048}
    assert sorted(m.memory_allocated_mib for m in messages.values()) == [0, 0, 512]


def test_negative_memory_is_refused_at_registration(tmp_path):
    c = Cluster(tmp_path)
    with pytest.raises(InvalidArgument, match="memory_mib must be a finite number from 0"):
        c.o.register_node(NodeRecord("edge4", "unix:/x/edge4.sock", "10.0.0.4", "s1", "http://10.0.0.4:50061",
                                     1000, 10, 100, -1))


def test_a_node_stored_before_memory_existed_loads_without_a_limit(tmp_path):
    store = Store(tmp_path / "o.db")
    old = {"name": "edge1", "agent_address": "unix:/x", "ip": "10.0.0.1", "switch": "s1",
           "blob_address": "http://10.0.0.1:50061", "cpu_millicores": 1000, "storage_bytes": 10, "bandwidth_mbps": 100}
    with store._lock:
        store._db.execute("INSERT INTO nodes (name, record) VALUES (?, ?)", ("edge1", json.dumps(old)))
    [node] = store.nodes()
    assert node.memory_mib == 0


def test_register_node_takes_the_agent_s_memory_and_defaults_to_none(tmp_path):
    c = Cluster(tmp_path)
    servicer = OrchestratorServicer(c.o)
    request = pb.RegisterNodeRequest(name="edge4", agent_address="unix:/x/edge4.sock", ip="10.0.0.4", switch="s1",
                                     blob_address="http://10.0.0.4:50061", cpu_millicores=1000, storage_bytes=10,
                                     bandwidth_mbps=100, memory_mib=4096)
    assert servicer.RegisterNode(pb.RegisterNodeRequest.FromString(request.SerializeToString()), None).memory_mib == 4096
    assert c.o.state.nodes["edge4"].memory_mib == 4096
    request.ClearField("memory_mib")  # an agent that does not know the field
    request.name = "edge5"
    assert servicer.RegisterNode(request, None).memory_mib == 0
    assert Store(c.path).nodes()[-1].memory_mib == 0


def test_the_memory_limit_is_sent_to_the_agent(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(AppSpec("shop", (
        ServiceSpec("api", "api", cpu_millicores=100, memory_mib=32, memory_limit_mib=64),
        ServiceSpec("web", "web", cpu_millicores=100))))
    c.settle()
    assert {r.image.split(":")[0]: r.memory_limit_mib for _, r in c.agents.requests} == {"api": 64, "web": 0}
    # the request goes too: the agent admits by it against its node's memory
    assert {r.image.split(":")[0]: r.memory_request_mib for _, r in c.agents.requests} == {"api": 32, "web": 0}


def test_the_pids_limit_is_sent_to_the_agent(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(AppSpec("shop", (ServiceSpec("api", "api", cpu_millicores=100, pids_limit=64),
                                ServiceSpec("web", "web", cpu_millicores=100))))
    c.settle()
    assert {r.image.split(":")[0]: r.pids_limit for _, r in c.agents.requests} == {"api": 64, "web": 0}


def test_an_oom_kill_a_heartbeat_reports_reaches_the_deployment(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(AppSpec("shop", (ServiceSpec("api", "api", replicas=2, cpu_millicores=100, memory_mib=32,
                                            memory_limit_mib=64),)))
    c.settle()
    [hog, other] = c.o.deployment("shop").instances
    servicer = OrchestratorServicer(c.o)

    def beat(running):
        containers = [pb.ContainerStatus(name=name, running=running or name != hog.record.name, ip=view.ip,
                                         restarts=3 if name == hog.record.name else 0, labels=view.labels,
                                         ready=running or name != hog.record.name,
                                         last_termination_reason="OOMKilled" if name == hog.record.name else "")
                      for name, view in c.agents.containers[hog.record.node].items()]
        servicer.Heartbeat(pb.HeartbeatRequest(node=hog.record.node, containers=containers), None)
        return {i.name: i for i in servicer.GetDeployment(pb.GetDeploymentRequest(application="shop"), None).instances}

    dead = beat(running=False)[hog.record.name]  # killed, its node restarting it after a back-off
    assert (dead.phase, dead.restarts, dead.last_termination_reason) == (pb.INSTANCE_PHASE_FAILED, 3, "OOMKilled")
    assert "memory limit (64 MiB)" in dead.message
    instances = beat(running=True)  # restarted: running again, the reason of its last end kept
    again = instances[hog.record.name]
    assert (again.phase, again.restarts, again.last_termination_reason) == (pb.INSTANCE_PHASE_RUNNING, 3, "OOMKilled")
    assert instances[other.record.name].last_termination_reason == ""
