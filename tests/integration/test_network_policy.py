"""Network policies for real: an app deployed through the orchestrator, a deny-all-but-friends policy on one service,
enforced by the switches for direct connections and through the service's VIP, replies passing, traced table by table,
and lifted again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from strata.v1 import common_pb2
from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc, sdn_pb2, sdn_pb2_grpc

from api.app_messages import policy_message, service_message
from api.network_policy import parse_network_policy
from client.manifests import load_manifest_text
from conftest import wait_for
from dataplane.agent.node import endpoint_name
from harness.stack import Stack, port_addresses
from topologies.catalog import load_topology

NETNS_DIR = Path("/var/run/netns")
APP = """
services:
  a: {image: redis}
  b: {image: redis}
  c: {image: redis, labels: {role: friend}}
"""
FRIENDS_ONLY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "b-friends-only"},
                "spec": {"podSelector": {"matchLabels": {"strata.io/service": "b"}}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "friend"}}}],
                                      "ports": [{"protocol": "TCP", "port": 8080}]}]}}


@pytest.fixture(scope="module")
def stack():
    with Stack(load_topology("edge-tiered"), openflow_port=6706, addresses=port_addresses(21700), images=["redis"],
               log=lambda *_: None) as running:
        yield running


def orchestrator(stack):
    return orchestrator_pb2_grpc.OrchestratorServiceStub(stack.channel("orchestrator"))


def sdn(stack):
    return sdn_pb2_grpc.SdnServiceStub(stack.channel("sdn"))


@pytest.fixture(scope="module")
def shop(stack):
    """The app deployed and ready: service -> (its pod's network namespace, its address, its SDN name), and B's VIP."""
    spec = load_manifest_text(APP, "shop.yml", name="shop", warn=lambda _: None)
    stub = orchestrator(stack)
    stub.Deploy(pb.DeployRequest(application="shop", services=[service_message(s) for s in spec.services]),
                timeout=60)
    d = wait_for(lambda: (lambda d: d if d.ready else None)(
        stub.GetDeployment(pb.GetDeploymentRequest(application="shop"), timeout=10)), 180, "shop ready")
    pods = {}
    for i in d.instances:
        netns = NETNS_DIR / f"{stack.netns_prefix}{i.node}-{i.name}"
        assert netns.exists(), netns
        pods[i.service] = (netns, i.ip, endpoint_name(i.node, i.name))
    vip = next(a for a in d.addresses if a.service == "b")
    return pods, f"{vip.vip}:{vip.port}"


def fetch(netns: Path, url: str, timeout: float = 3) -> str | None:
    """The body of an HTTP GET made from inside a pod's network namespace (a real TCP connection), or None."""
    result = subprocess.run(["nsenter", f"--net={netns}", "curl", "-sf", "--max-time", str(timeout), url],
                            capture_output=True, text=True, timeout=timeout + 10)
    return result.stdout if result.returncode == 0 else None


def b_answers(netns: Path, address: str) -> bool:
    body = fetch(netns, f"http://{address}/")
    try:
        return body is not None and json.loads(body)["service"] == "b"  # the reply came back, from B
    except (ValueError, KeyError):
        return False


def trace(stack, source: str, destination: str, port: int) -> sdn_pb2.TracePolicyResponse:
    return sdn(stack).TracePolicy(sdn_pb2.TracePolicyRequest(source=source, destination=destination, port=port,
                                                             protocol=common_pb2.PROTOCOL_TCP), timeout=60)


def test_a_policy_admits_only_its_peers_directly_and_through_the_vip_and_is_lifted(stack, shop):
    pods, vip = shop
    (a_ns, _, a_name), (b_ns, b_ip, b_name), (c_ns, _, c_name) = pods["a"], pods["b"], pods["c"]
    b = f"{b_ip}:8080"
    assert wait_for(lambda: b_answers(a_ns, b), 30, "B from A before any policy")
    assert wait_for(lambda: b_answers(a_ns, vip), 30, "B's VIP from A before any policy")

    policy = parse_network_policy(FRIENDS_ONLY, "shop")
    orchestrator(stack).ApplyNetworkPolicies(pb.ApplyNetworkPoliciesRequest(
        application="shop", policies=[policy_message(policy)]), timeout=30)
    assert wait_for(lambda: not b_answers(a_ns, b), 30, "A refused by B's policy")
    assert b_answers(c_ns, b), "C, a friend, gets through and its replies come back"
    assert not b_answers(a_ns, vip), "the VIP in front of B obeys the same policy"
    assert wait_for(lambda: b_answers(c_ns, vip), 30, "C through B's VIP")
    assert fetch(b_ns, f"http://{pods['a'][1]}:8080/") is not None, "B itself still opens connections (ingress only)"

    refused = trace(stack, a_name, b_ip, 8080)
    assert refused.verdict == "dropped by policy" and refused.decided_by == "policy_ingress", refused
    assert any(s.table == 11 for s in refused.steps)
    admitted = trace(stack, c_name, b_ip, 8080)
    assert admitted.verdict == f"delivered to {b_name}", admitted
    assert admitted.policy == "shop/b-friends-only"

    orchestrator(stack).DeleteNetworkPolicy(pb.DeleteNetworkPolicyRequest(application="shop", name="b-friends-only"),
                                            timeout=30)
    assert wait_for(lambda: b_answers(a_ns, b), 30, "A reaching B once the policy is removed")
    assert b_answers(a_ns, vip)


def a_answers(netns: Path, address: str) -> bool:
    body = fetch(netns, f"http://{address}/")
    try:
        return body is not None and json.loads(body)["service"] == "a"
    except (ValueError, KeyError):
        return False


def test_an_egress_policy_stops_what_a_pod_opens_not_the_answers_to_what_it_is_asked(stack, shop):
    pods, _ = shop
    (a_ns, a_ip, _), (b_ns, b_ip, _) = pods["a"], pods["b"]
    closed = parse_network_policy({"metadata": {"name": "a-closed"}, "spec": {
        "podSelector": {"matchLabels": {"strata.io/service": "a"}}, "policyTypes": ["Egress"]}}, "shop")
    orchestrator(stack).ApplyNetworkPolicies(pb.ApplyNetworkPoliciesRequest(
        application="shop", policies=[policy_message(closed)]), timeout=30)
    assert wait_for(lambda: not b_answers(a_ns, f"{b_ip}:8080"), 30, "A's own connections refused")
    assert a_answers(b_ns, f"{a_ip}:8080"), "B opens a connection to A, and A's answers come back"
    orchestrator(stack).DeleteNetworkPolicy(pb.DeleteNetworkPolicyRequest(application="shop", name="a-closed"),
                                            timeout=30)
    assert wait_for(lambda: b_answers(a_ns, f"{b_ip}:8080"), 30, "A opening connections again")
