"""Memory for real: runc puts a container's limit in its memory cgroup, the kernel OOM-kills a process past it,
the agent restarts it and reports OOMKilled up to `strata app get`; a node given a memory capacity admits by it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from strata.v1 import agent_pb2, agent_pb2_grpc
from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc

from conftest import wait_for
from dataplane.agent.runtime import oom_kills
from harness.stack import Stack, port_addresses
from images.build import build_images, list_images
from topologies.catalog import load_topology

ROOT = Path(__file__).resolve().parents[2]
HOG = "b = bytearray(64 * 2**20); import time; time.sleep(60)"
SLEEP = ["python3", "-c", "import time; time.sleep(600)"]
MEMORY_NODE, NODE_MIB = "edge2", 512  # the one node given a memory capacity (edge1: none, as by default)
# MiB: runc starts the service program's container, and the program (python3 and its HTTP server) needs
# more than this, so the kernel kills it at start-up, again after each restart
TOO_LITTLE_MIB = 8


@pytest.fixture(scope="module")
def image():
    build_images(progress=lambda *_: None)
    return min(list_images(), key=lambda im: im.size_bytes).name


@pytest.fixture(scope="module")
def stack(image):
    spec = load_topology("edge-tiered")
    spec.hosts = [dataclasses.replace(h, memory_mib=NODE_MIB) if h.name == MEMORY_NODE else h for h in spec.hosts]
    with Stack(spec, openflow_port=6698, addresses=port_addresses(20380), images=[image],
               log=lambda *_: None) as running:
        yield running


def test_a_container_past_its_memory_limit_is_oom_killed_restarted_and_reported(stack, image):
    node = agent_pb2_grpc.NodeAgentStub(stack.agent_channel('edge1'))
    get = lambda name: node.GetContainer(agent_pb2.GetContainerRequest(name=name), timeout=10)  # noqa: E731
    hog = node.RunContainer(agent_pb2.RunContainerRequest(
        name="hog", image=image, command=["python3", "-c", HOG], memory_limit_mib=16), timeout=120).container
    free = node.RunContainer(agent_pb2.RunContainerRequest(
        name="free", image=image, command=["python3", "-c", HOG]), timeout=120).container
    assert hog.memory_limit_mib == 16 and free.memory_limit_mib == 0
    restarted = wait_for(lambda: (c := get("hog")) and c.restarts >= 1 and c, 60, "the OOM-killed container's restart")
    assert restarted.last_termination_reason == "OOMKilled"
    assert restarted.last_exit_code == 128 + 9  # SIGKILL
    # runc made its memory cgroup under the agent's. Each restart's `runc delete` makes it anew
    # (its counter back at 0), and the restarted hog runs out again: wait for a killed incarnation.
    def killed_cgroup_limit():
        cgroups = list(Path("/sys/fs/cgroup/memory").glob("**/edge1-hog"))
        assert len(cgroups) <= 1, cgroups
        try:  # read both before a restart can remove the folder
            limit = int((cgroups[0] / "memory.limit_in_bytes").read_text()) if cgroups else None
        except OSError:
            return None
        return limit is not None and oom_kills(cgroups[0]) >= 1 and limit
    assert wait_for(killed_cgroup_limit, 60, "an OOM kill counted in the hog's memory cgroup") == 16 * 2**20
    untouched = get("free")
    assert untouched.restarts == 0 and untouched.pid == free.pid and untouched.last_termination_reason == ""
    for name in ("hog", "free"):
        node.RemoveContainer(agent_pb2.RemoveContainerRequest(name=name), timeout=60)


def test_a_node_given_memory_reports_it_and_refuses_a_container_past_what_is_left(stack, image):
    node = agent_pb2_grpc.NodeAgentStub(stack.agent_channel(MEMORY_NODE))
    node.RunContainer(agent_pb2.RunContainerRequest(name="big", image=image, command=SLEEP, memory_request_mib=400),
                      timeout=120)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            node.RunContainer(agent_pb2.RunContainerRequest(name="more", image=image, command=SLEEP,
                                                            memory_request_mib=200), timeout=120)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "leaving 112 MiB" in refused.value.details()
        status = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
        assert [c.name for c in status.containers] == ["big"]  # nothing of the refused one left
        assert (status.memory_mib, status.memory_requested_mib) == (NODE_MIB, 400)
    finally:
        node.RemoveContainer(agent_pb2.RemoveContainerRequest(name="big"), timeout=60)
    # the agent registered its memory: the orchestrator places by it
    orchestrator = orchestrator_pb2_grpc.OrchestratorServiceStub(
        stack.channel("orchestrator"))
    nodes = {n.name: n for n in orchestrator.ListNodes(pb.ListNodesRequest(), timeout=10).nodes}
    assert nodes[MEMORY_NODE].memory_mib == NODE_MIB and nodes["edge1"].memory_mib == 0


def test_an_app_past_its_memory_limit_shows_oom_killed_in_strata_app_get(stack, image):
    orchestrator = orchestrator_pb2_grpc.OrchestratorServiceStub(
        stack.channel("orchestrator"))
    service = pb.ServiceSpec(name="tight", image=image, replicas=1, cpu_millicores=100, port=8080, target_port=8080,
                             memory_mib=TOO_LITTLE_MIB, memory_limit_mib=TOO_LITTLE_MIB)
    orchestrator.Deploy(pb.DeployRequest(application="tight", services=[service]), timeout=60)
    app = [sys.executable, "-m", "cli", "app", "--stack", str(stack.workdir / "stack.json")]

    def killed():
        shown = subprocess.run([*app, "get", "tight", "-o", "json"], capture_output=True, text=True, timeout=60,
                               cwd=ROOT, check=True)
        [instance] = json.loads(shown.stdout)["instances"]
        return instance if instance["restarts"] >= 1 and instance["last_termination_reason"] == "OOMKilled" else None

    try:
        instance = wait_for(killed, 120, "the instance's OOM kill in strata app get")
        assert instance["phase"] in ("failed", "starting", "running")
        table = subprocess.run([*app, "get", "tight"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                               check=True).stdout
        assert "OOMKilled" in table
    finally:
        orchestrator.DeleteDeployment(pb.DeleteDeploymentRequest(application="tight"), timeout=30)
