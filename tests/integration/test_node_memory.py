"""Memory limits for real: runc puts the limit in the container's memory cgroup, the kernel OOM-kills a
process past it, and the agent restarts it and reports OOMKilled."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from strata.v1 import agent_pb2, agent_pb2_grpc

from conftest import wait_for
from dataplane.agent.runtime import oom_kills
from harness.stack import Stack, port_addresses
from images.build import build_images, list_images
from topologies.catalog import load_topology

HOG = "b = bytearray(64 * 2**20); import time; time.sleep(60)"


@pytest.fixture(scope="module")
def image():
    build_images(progress=lambda *_: None)
    return min(list_images(), key=lambda im: im.size_bytes).name


@pytest.fixture(scope="module")
def stack(image):
    with Stack(load_topology("edge-tiered"), openflow_port=6698, addresses=port_addresses(20380), images=[image],
               log=lambda *_: None) as running:
        yield running


def test_a_container_past_its_memory_limit_is_oom_killed_restarted_and_reported(stack, image):
    node = agent_pb2_grpc.NodeAgentStub(grpc.insecure_channel(f"unix:{stack.agent_sockets['edge1']}"))
    get = lambda name: node.GetContainer(agent_pb2.GetContainerRequest(name=name), timeout=10)  # noqa: E731
    hog = node.RunContainer(agent_pb2.RunContainerRequest(
        name="hog", image=image, command=["python3", "-c", HOG], memory_limit_mib=16), timeout=120).container
    free = node.RunContainer(agent_pb2.RunContainerRequest(
        name="free", image=image, command=["python3", "-c", HOG]), timeout=120).container
    assert hog.memory_limit_mib == 16 and free.memory_limit_mib == 0
    restarted = wait_for(lambda: (c := get("hog")) and c.restarts >= 1 and c, 60, "the OOM-killed container's restart")
    assert restarted.last_termination_reason == "OOMKilled"
    assert restarted.last_exit_code == 128 + 9  # SIGKILL
    # runc made its memory cgroup under the agent's (it stays until the next start's runc delete)
    cgroups = list(Path("/sys/fs/cgroup/memory").glob("**/edge1-hog"))
    assert len(cgroups) == 1, cgroups
    assert int((cgroups[0] / "memory.limit_in_bytes").read_text()) == 16 * 2**20
    assert oom_kills(cgroups[0]) >= 1
    untouched = get("free")
    assert untouched.restarts == 0 and untouched.pid == free.pid and untouched.last_termination_reason == ""
    for name in ("hog", "free"):
        node.RemoveContainer(agent_pb2.RemoveContainerRequest(name=name), timeout=60)
