"""Latency-aware placement for real on the default edge network with its link delays: two services of
one image, whose clients (strata.io/clients) are at two different sites, run each at its clients'
site (bytes alone would keep them together, sharing the image's layers), and a device at a site
reaches the service there with a round trip well under the one to a server of another site; a
client name the network lacks fails the deploy and records nothing."""

from __future__ import annotations

import json
import re
import statistics

import grpc
import pytest
from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc

from api.app_messages import service_message
from client.manifests import load_manifest_text
from harness.daemons import wait_for
from harness.stack import Stack, port_addresses
from topologies.catalog import load_topology

CLIENT_SITE = "site3"
OTHER_SITE = "site1"
LATENCY_WEIGHT = 1000.0  # MiB of layers per ms of mean client delay: the clients' site wins over any bytes
PINGS = 40


def workload(name: str, replicas: int, annotations: dict) -> str:
    """A Deployment and its Service, as a user would write them (JSON is YAML)."""
    labels = {"app": name}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": name, "annotations": annotations},
                  "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels},
                                        "spec": {"containers": [{"name": name, "image": "redis",
                                                                 "resources": {"requests": {"cpu": "200m"}},
                                                                 "ports": [{"containerPort": 8080}]}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}
    return "---\n".join(json.dumps(o) + "\n" for o in (deployment, service))


# Two front ends of one image, their clients at two sites; the cache declares none (bytes alone place it).
SHOP = (workload("front", 2, {"strata.io/clients": CLIENT_SITE}) + "---\n"
        + workload("side", 1, {"strata.io/clients": OTHER_SITE}) + "---\n" + workload("cache", 1, {}))


@pytest.fixture(scope="module")
def stack():
    spec = load_topology("edge-tiered")
    assert any(link.delay_ms for link in spec.links), "edge-tiered declares its delays"
    with Stack(spec, openflow_port=6702, addresses=port_addresses(21300), images=[], log=lambda *_: None,
               orchestrator_options={"latency_weight": LATENCY_WEIGHT}) as running:
        yield running


def orchestrator(stack):
    return orchestrator_pb2_grpc.OrchestratorServiceStub(
        stack.channel("orchestrator"))


def deployment(stack, app: str) -> pb.Deployment:
    return orchestrator(stack).GetDeployment(pb.GetDeploymentRequest(application=app), timeout=10)


def deploy(stack, app: str, text: str) -> None:
    spec = load_manifest_text(text, f"{app}.yaml", name=app, warn=lambda _: None)
    orchestrator(stack).Deploy(pb.DeployRequest(application=app, algorithm="strata",
                                                services=[service_message(s) for s in spec.services]), timeout=60)


def median_rtt(stack, source: str, target_ip: str) -> float:
    host = stack.network.net.get(source)
    host.cmd(f"ping -c 3 -i 0.2 {target_ip}")  # ARP and the flows' set-up, not measured
    out = host.cmd(f"ping -c {PINGS} -i 0.05 -W 2 {target_ip}")
    times = [float(x) for x in re.findall(r"time=([0-9.]+)", out)]
    assert len(times) >= PINGS * 0.9, out
    return statistics.median(times)


@pytest.fixture(scope="module")
def shop(stack):
    deploy(stack, "shop", SHOP)
    return wait_for(lambda: (lambda d: d if d.ready else None)(deployment(stack, "shop")), 180, "shop ready")


def test_each_service_runs_at_its_clients_site(stack, shop):
    switch = {n.name: n.switch for n in orchestrator(stack).ListNodes(pb.ListNodesRequest(), timeout=10).nodes}
    front = [i for i in shop.instances if i.service == "front"]
    assert len(front) == 2 and all(switch[i.node] == CLIENT_SITE for i in front), \
        [(i.name, i.node, switch[i.node]) for i in front]
    side = [i for i in shop.instances if i.service == "side"]
    assert len(side) == 1 and switch[side[0].node] == OTHER_SITE, [(i.name, i.node, switch[i.node]) for i in side]
    address = next(a for a in shop.addresses if a.service == "front")
    device = next(h.name for h in stack.spec.hosts if h.role == "device" and h.switch == CLIENT_SITE)
    answer = stack.network.net.get(device).cmd(f"curl -s --max-time 5 http://{address.vip}:{address.port}/")
    assert json.loads(answer)["service"] == "front", answer


def test_a_device_at_that_site_reaches_it_sooner_than_a_server_of_another_site(stack, shop):
    device = next(h.name for h in stack.spec.hosts if h.role == "device" and h.switch == CLIENT_SITE)
    elsewhere = next(h for h in stack.spec.hosts if h.role == "edge-server" and h.switch != CLIENT_SITE)
    front = next(i for i in shop.instances if i.service == "front")
    local = median_rtt(stack, device, front.ip)
    cross = median_rtt(stack, device, stack.network.net.get(elsewhere.name).IP())
    # declared: 2 x 1 ms to a server at the device's own site, 2 x (1 + 2 + 2) ms to another site's
    assert local < cross, (local, cross)
    assert cross - local >= 5.0, (local, cross)


def test_an_unknown_client_fails_the_deploy_and_records_nothing(stack, shop):
    with pytest.raises(grpc.RpcError) as refused:
        deploy(stack, "lost", workload("lost", 1, {"strata.io/clients": "site9"}))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'service "lost"' in refused.value.details() and '"site9"' in refused.value.details()
    with pytest.raises(grpc.RpcError) as missing:
        deployment(stack, "lost")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert deployment(stack, "shop").ready
