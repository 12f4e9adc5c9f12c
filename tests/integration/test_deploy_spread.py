"""Spread for real on the default edge network, its servers on the constrained profile (edge-small):
a service's replicas on different nodes, another's in different zones (edge sites), each answering
on its VIP; a deploy or scale asking more replicas than max_per_node lets the nodes take refused,
the running app untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc

from api.app_messages import service_message
from client.manifests import load_manifest_text
from conftest import wait_for
from harness.stack import Stack, port_addresses
from topologies.catalog import load_topology

ROOT = Path(__file__).resolve().parents[2]
STRATA = [sys.executable, "-m", "cli"]


def workload(name: str, replicas: int, pod_rules: dict) -> str:
    """A Deployment and its Service, as a user would write them (JSON is YAML)."""
    labels = {"app": name}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                  "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels},
                                        "spec": {"containers": [{"name": name, "image": "redis",
                                                                 "resources": {"requests": {"cpu": "200m"}},
                                                                 "ports": [{"containerPort": 8080}]}],
                                                 **pod_rules}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}
    return "---\n".join(json.dumps(o) + "\n" for o in (deployment, service))


def apart(name: str) -> dict:
    """Required anti-affinity and a hard spread, both over hostname: one replica per node."""
    own = {"matchLabels": {"app": name}}
    return {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "kubernetes.io/hostname", "labelSelector": own}]}},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                           "whenUnsatisfiable": "DoNotSchedule", "labelSelector": own}]}


def zones(name: str) -> dict:
    return {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                           "whenUnsatisfiable": "DoNotSchedule",
                                           "labelSelector": {"matchLabels": {"app": name}}}]}


SHOP = workload("web", 3, apart("web")) + "---\n" + workload("cache", 3, zones("cache"))


@pytest.fixture(scope="module")
def stack():
    with Stack(load_topology("edge-tiered", profile="edge-small"), openflow_port=6689, addresses=port_addresses(21100), images=[],
               log=lambda *_: None) as running:
        yield running


def orchestrator(stack):
    return orchestrator_pb2_grpc.OrchestratorServiceStub(
        stack.channel("orchestrator"))


def deployment(stack, app: str) -> pb.Deployment:
    return orchestrator(stack).GetDeployment(pb.GetDeploymentRequest(application=app), timeout=10)


def http(stack, host: str, url: str) -> dict | None:
    out = stack.network.net.get(host).cmd(f"curl -s --max-time 5 {url}").strip()
    try:
        return json.loads(out)
    except ValueError:
        return None


@pytest.fixture(scope="module")
def shop(stack):
    spec = load_manifest_text(SHOP, "shop.yaml", name="shop", warn=lambda _: None)
    assert spec.service("web").max_per_node == 1 and spec.service("cache").spread[0].topology == "zone"
    orchestrator(stack).Deploy(pb.DeployRequest(application="shop",
                                                services=[service_message(s) for s in spec.services]), timeout=60)
    return wait_for(lambda: (lambda d: d if d.ready else None)(deployment(stack, "shop")), 180, "shop ready")


def test_replicas_apart_land_on_different_nodes_and_answer_on_their_vip(stack, shop):
    web = [i for i in shop.instances if i.service == "web"]
    assert len(web) == 3 and len({i.node for i in web}) == 3, [(i.name, i.node) for i in web]
    address = next(a for a in shop.addresses if a.service == "web")
    assert address.endpoints == 3
    answer = http(stack, "dev1", f"http://{address.vip}:{address.port}/")
    assert answer and answer["service"] == "web", answer
    for instance in web:  # each replica serves, on its own node
        direct = http(stack, "dev2", f"http://{instance.ip}:8080/")
        assert direct and (direct["instance"], direct["node"]) == (instance.name, instance.node), direct


def test_replicas_spread_over_zones_land_in_different_edge_sites(stack, shop):
    switch = {n.name: n.switch for n in orchestrator(stack).ListNodes(pb.ListNodesRequest(), timeout=10).nodes}
    cache = [i for i in shop.instances if i.service == "cache"]
    assert len({switch[i.node] for i in cache}) == 3, [(i.name, i.node, switch[i.node]) for i in cache]
    address = next(a for a in shop.addresses if a.service == "cache")
    assert address.endpoints == 3 and http(stack, "dev3", f"http://{address.vip}:{address.port}/")["service"] == "cache"


def test_more_replicas_than_nodes_one_per_node_is_refused_and_the_running_app_is_untouched(stack, shop):
    before = sorted((i.name, i.node) for i in shop.instances)
    nodes = len(stack.agents)
    crowd = load_manifest_text(workload("crowd", nodes + 1, apart("crowd")), "crowd.yaml", name="crowd",
                               warn=lambda _: None)
    with pytest.raises(grpc.RpcError) as refused:
        orchestrator(stack).Deploy(pb.DeployRequest(application="crowd",
                                                    services=[service_message(s) for s in crowd.services]), timeout=60)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert 'service "crowd"' in refused.value.details() and "max_per_node" in refused.value.details()
    with pytest.raises(grpc.RpcError) as missing:
        deployment(stack, "crowd")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # nothing recorded

    with pytest.raises(grpc.RpcError) as scaled:
        orchestrator(stack).Scale(pb.ScaleRequest(application="shop", service="web", replicas=nodes + 1), timeout=60)
    assert scaled.value.code() == grpc.StatusCode.FAILED_PRECONDITION and 'service "web"' in scaled.value.details()

    # the CLI says it and exits 2 (a request the state refuses), nothing deployed
    path = stack.workdir / "crowd.yaml"
    path.write_text(workload("crowd", nodes + 1, apart("crowd")))
    base = [*STRATA, "app", "--stack", str(stack.workdir / "stack.json")]
    result = subprocess.run([*base, "deploy", str(path), "--name", "crowd"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert "max_per_node" in result.stderr and "Traceback" not in result.stderr

    after = deployment(stack, "shop")
    assert after.ready and sorted((i.name, i.node) for i in after.instances) == before
    assert next(s for s in after.services if s.name == "web").replicas == 3
    listed = subprocess.run([*base, "ls", "-o", "json"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert [d["application"] for d in json.loads(listed.stdout)] == ["shop"]
    shown = subprocess.run([*base, "get", "shop"], capture_output=True, text=True, timeout=60, cwd=ROOT).stdout
    assert "rules of web: at most 1 per node, spread over nodes (max skew 1, required)" in shown
