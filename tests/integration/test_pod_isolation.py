"""Pods and the control plane, for real: from inside a container's network namespace, agents, blob servers, the registry
and the daemons' metrics are out of reach; other pods, a service VIP and devices are not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from strata.v1 import agent_pb2, agent_pb2_grpc, common_pb2, sdn_pb2, sdn_pb2_grpc

from conftest import wait_for
from dataplane.agent.node import endpoint_name
from harness.stack import AGENT_PORT, BLOB_PORT, ORCHESTRATOR_PORT, REGISTRY_PORT, Stack, port_addresses
from images.build import build_images, list_images
from component_base.metrics import METRICS_PORT_OFFSET
from topologies.catalog import load_topology

NETNS_DIR = Path("/var/run/netns")
VIP = "10.96.0.77"
ATTACKER_NODE, WEB_NODE = "edge1", "edge3"  # edge1 shares its switch with edge2; edge3 is another site's


@pytest.fixture(scope="module")
def image():
    build_images(progress=lambda *_: None)
    return min(list_images(), key=lambda im: im.size_bytes).name


@pytest.fixture(scope="module")
def stack(image):
    with Stack(load_topology("edge-tiered"), openflow_port=6704, addresses=port_addresses(21500), images=[image],
               log=lambda *_: None) as running:
        yield running


def agent(stack, node):
    return agent_pb2_grpc.NodeAgentStub(stack.agent_channel(node))


@pytest.fixture(scope="module")
def pods(stack, image):
    """(the attacker's network namespace, the web pod's IP): a pod on edge1, and one on edge3
    behind the service VIP."""
    agent(stack, ATTACKER_NODE).RunContainer(agent_pb2.RunContainerRequest(name="probe", image=image), timeout=120)
    web = agent(stack, WEB_NODE).RunContainer(
        agent_pb2.RunContainerRequest(name="web", image=image), timeout=120).container
    sdn = sdn_pb2_grpc.SdnServiceStub(stack.channel("sdn"))
    sdn.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
        service="isolation-web", vip=VIP, protocol=common_pb2.PROTOCOL_TCP, port=80,
        endpoints=[common_pb2.Endpoint(host=endpoint_name(WEB_NODE, "web"), port=80, weight=1)]), timeout=20)
    netns = NETNS_DIR / f"{stack.netns_prefix}{ATTACKER_NODE}-probe"
    assert netns.exists(), netns
    return netns, web.ip


def connect_command(address: str, port: int, timeout: float) -> str:
    """A shell command printing "open" once a TCP connection to address:port is made (within the timeout)."""
    return f"timeout {timeout} bash -c 'exec 3<>/dev/tcp/{address}/{port}' 2>/dev/null && echo open"


def pod_connects(netns: Path, address: str, port: int, timeout: float = 3) -> bool:
    """Whether a TCP connection opened from inside the pod's network namespace is made."""
    result = subprocess.run(["nsenter", f"--net={netns}", "sh", "-c", connect_command(address, port, timeout)],
                            capture_output=True, text=True, timeout=timeout + 10)
    return result.stdout.strip() == "open"


def host_connects(stack, host: str, address: str, port: int, timeout: float = 3) -> bool:
    return stack.network.net.get(host).cmd(connect_command(address, port, timeout)).strip() == "open"


def pod_fetches(netns: Path, url: str, timeout: float = 3) -> bool:
    result = subprocess.run(["nsenter", f"--net={netns}", "curl", "-sf", "-o", "/dev/null", "--max-time", str(timeout),
                             url], capture_output=True, timeout=timeout + 10)
    return result.returncode == 0


def ip(stack, name: str) -> str:
    return stack.spec.host(name).ip


def control_endpoints(stack) -> dict[str, tuple[str, int]]:
    registry = ip(stack, "registry")
    return {
        "own node's agent gRPC": (ip(stack, ATTACKER_NODE), AGENT_PORT),
        "a neighbour's agent gRPC": (ip(stack, "edge2"), AGENT_PORT),
        "a far node's agent metrics": (ip(stack, "edge5"), AGENT_PORT + METRICS_PORT_OFFSET),
        "a far node's blob server": (ip(stack, WEB_NODE), BLOB_PORT),
        "the registry": (registry, REGISTRY_PORT),
        "the orchestrator's metrics": (registry, ORCHESTRATOR_PORT + METRICS_PORT_OFFSET),
    }


def test_a_pod_reaches_another_pod_and_a_service_vip(stack, pods):
    netns, web_ip = pods
    assert wait_for(lambda: pod_fetches(netns, f"http://{web_ip}/"), 20, "the web pod from the probe pod")
    assert wait_for(lambda: pod_fetches(netns, f"http://{VIP}/"), 20, "the service VIP from the probe pod")


def test_a_pod_cannot_open_a_connection_to_the_control_plane(stack, pods):
    netns, _ = pods
    endpoints = control_endpoints(stack)
    # each endpoint listens and a device reaches it, so a refusal below is the switches' doing
    for what, (address, port) in endpoints.items():
        assert wait_for(lambda: host_connects(stack, "dev1", address, port), 20, f"{what} from dev1")
    reached = [what for what, (address, port) in endpoints.items() if pod_connects(netns, address, port)]
    assert not reached, f"a pod opened connections to {reached}"


def test_a_node_still_reaches_another_nodes_blob_server(stack, pods):
    address = ip(stack, WEB_NODE)
    assert wait_for(lambda: host_connects(stack, ATTACKER_NODE, address, BLOB_PORT), 20,
                    "edge3's blob server from edge1's namespace (where its agent runs)")
