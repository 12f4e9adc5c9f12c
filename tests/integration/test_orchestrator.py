"""The orchestrator for real: a real app deployed on the nodes, its services on VIPs, faults healed."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from strata.v1 import agent_pb2, agent_pb2_grpc
from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc

from client.manifests import load_manifest
from api.app_messages import service_message
from api.front_end import front_end
from programs.service.program import tree_services
from harness.stack import Stack, port_addresses
from conftest import wait_for
from harness.daemons import poll
from harness.request_latency import front_end_address, measure_request_latency, sampled_devices, summarize
from topologies.catalog import load_topology

ROOT = Path(__file__).resolve().parents[2]
BOUTIQUE = ROOT / "examples" / "apps" / "online-boutique-kubernetes-manifests.yaml"
STRATA = [sys.executable, "-m", "cli"]
SMALL_NODES = ("edge5", "edge6")  # storage shrunk: the big image below fits on none of them
SMALL_NODE_MIB = 100              # 100 MiB real = 1 MiB on the node at the emulation's scale
BIG_IMAGE = "golang"              # ~15 MiB on a node
EVICT_AFTER = 6.0


@pytest.fixture(scope="module")
def stack():
    spec = load_topology("edge-tiered")
    spec.hosts = [dataclasses.replace(h, storage_mib=SMALL_NODE_MIB) if h.name in SMALL_NODES else h
                  for h in spec.hosts]
    with Stack(spec, openflow_port=6698, addresses=port_addresses(20100), images=["redis"],
               orchestrator_options={"evict_after": EVICT_AFTER, "node_timeout": 3.0},
               log=lambda *_: None) as running:
        yield running


def orchestrator(stack):
    return orchestrator_pb2_grpc.OrchestratorServiceStub(
        stack.channel("orchestrator"))


def agent(stack, node):
    return agent_pb2_grpc.NodeAgentStub(stack.agent_channel(node))


def deployment(stack, app: str) -> pb.Deployment:
    return orchestrator(stack).GetDeployment(pb.GetDeploymentRequest(application=app), timeout=10)


def wait_ready(stack, app: str, timeout: float = 120) -> pb.Deployment:
    return wait_for(lambda: (lambda d: d if d.ready else None)(deployment(stack, app)), timeout, f"{app} ready")


def http(stack, host: str, url: str, timeout: float = 5) -> dict | None:
    out = stack.network.net.get(host).cmd(f"curl -s --max-time {timeout} {url}").strip()
    try:
        return json.loads(out)
    except ValueError:
        return None


def node_status(stack, node):
    return agent(stack, node).GetNode(agent_pb2.GetNodeRequest(), timeout=10)


def owned_containers(stack) -> dict[str, list[str]]:
    out = {}
    for node in stack.agents:
        out[node] = sorted(c.name for c in node_status(stack, node).containers
                           if c.labels.get("strata.io/owner") == "orchestrator")
    return out


@pytest.fixture(scope="module")
def boutique(stack):
    """online-boutique deployed, with what the nodes held and the registry sent before."""
    spec = load_manifest(BOUTIQUE, name="boutique", warn=lambda _: None)
    before = {n: {l.digest: l.size_bytes for l in node_status(stack, n).layers} for n in stack.agents}
    pulled_before = {n: node_status(stack, n).pulled_bytes_total + node_status(stack, n).peer_bytes_total
                     for n in stack.agents}
    tx_before = stack.registry_sent_bytes()
    answer = orchestrator(stack).Deploy(pb.DeployRequest(application="boutique",
                                                         services=[service_message(s) for s in spec.services]),
                                        timeout=60)
    d = wait_ready(stack, "boutique")
    return {"spec": spec, "deployment": d, "held_before": before, "pulled_before": pulled_before,
            "tx_before": tx_before, "answer": answer}


def test_deploy_answers_before_the_images_are_built_and_shows_their_progress(boutique):
    answer, d = boutique["answer"], boutique["deployment"]
    assert not answer.ready and all(i.phase == pb.INSTANCE_PHASE_PENDING for i in answer.instances)
    assert any(i.phase != pb.IMAGE_PHASE_READY for i in answer.images)  # its application images were built after
    assert {i.service for i in d.images} == {s.name for s in boutique["spec"].services}
    assert all(i.phase == pb.IMAGE_PHASE_READY and i.reference and i.layers for i in d.images)


def test_every_service_answers_on_its_vip_and_the_front_end_covers_the_call_graph(stack, boutique):
    d, spec = boutique["deployment"], boutique["spec"]
    assert len(d.instances) == sum(s.replicas for s in spec.services)
    for address in d.addresses:
        answer = http(stack, "dev1", f"http://{address.vip}:{address.port}/")
        assert answer and answer["service"] == address.service, (address, answer)
    front = spec.front_ends()[0]
    vip = next(a for a in d.addresses if a.service == front)
    tree = http(stack, "dev3", f"http://{vip.vip}:{vip.port}/call", timeout=15)
    assert tree and tree["ok"], tree
    assert tree_services(tree) == {s.name for s in spec.services}


def test_requests_from_a_device_per_site_reach_the_published_front_end_through_its_call_tree(stack, boutique):
    d, spec = boutique["deployment"], boutique["spec"]
    front = front_end(spec)
    assert (front.service, front.guessed) == ("frontend", False)  # frontend-external, not the load generator
    vip, port = front_end_address(spec, d.addresses, front)
    streams = measure_request_latency(stack.network.net, sampled_devices(stack.spec), vip, port, 20)
    assert [s.site for s in streams] == ["site1", "site2", "site3"]
    assert all(s.failed == 0 for s in streams), streams  # each answered 200: its whole call tree answered
    summary = summarize(streams)
    assert summary.requests == 60 and 0 < summary.p50_ms <= summary.p90_ms <= summary.p99_ms < 5000


def test_bytes_pulled_are_the_layers_each_node_lacked(stack, boutique):
    total_new = 0
    for node in stack.agents:
        status = node_status(stack, node)
        new = {l.digest: l.size_bytes for l in status.layers if l.digest not in boutique["held_before"][node]}
        pulled = status.pulled_bytes_total + status.peer_bytes_total - boutique["pulled_before"][node]
        assert pulled == sum(new.values()), node
        total_new += pulled
    d = deployment(stack, "boutique")
    assert d.pulled_bytes + d.peer_bytes == total_new
    sent = stack.registry_sent_bytes() - boutique["tx_before"]
    # the wire: the layers, plus HTTP/TCP headers (~5%) and retransmissions (the 20 Mbit/s access
    # links drop at their queues under concurrent pulls): about the layers, never a second copy
    assert d.pulled_bytes <= sent <= d.pulled_bytes * 1.25 + 200_000


def test_scale_up_spreads_requests_and_scale_down_removes_the_newest(stack, boutique):
    stub = orchestrator(stack)
    stub.Scale(pb.ScaleRequest(application="boutique", service="currencyservice", replicas=3), timeout=120)
    d = wait_ready(stack, "boutique")
    replicas = [i.name for i in d.instances if i.service == "currencyservice"]
    assert len(replicas) == 3
    vip = next(a for a in d.addresses if a.service == "currencyservice")
    assert vip.endpoints == 3
    seen = {http(stack, "dev2", f"http://{vip.vip}:{vip.port}/")["instance"] for _ in range(12)}
    assert len(seen) >= 2, seen
    stub.Scale(pb.ScaleRequest(application="boutique", service="currencyservice", replicas=1), timeout=120)
    d = wait_ready(stack, "boutique")
    left = [i.name for i in d.instances if i.service == "currencyservice"]
    assert left == [replicas[0]] or len(left) == 1
    wait_for(lambda: sum(n.startswith("currencyservice") for names in owned_containers(stack).values()
                         for n in names) == 1, 30, "the removed replicas gone from the nodes")


def test_a_killed_container_is_restarted(stack, boutique):
    d = deployment(stack, "boutique")
    instance = next(i for i in d.instances if i.service == "productcatalogservice")
    container = agent(stack, instance.node).GetContainer(agent_pb2.GetContainerRequest(name=instance.name), timeout=10)
    os.kill(container.pid, signal.SIGKILL)
    wait_for(lambda: agent(stack, instance.node).GetContainer(
        agent_pb2.GetContainerRequest(name=instance.name), timeout=10).restarts >= 1, 30, "the restart")
    vip = next(a for a in d.addresses if a.service == "productcatalogservice")
    wait_for(lambda: http(stack, "dev1", f"http://{vip.vip}:{vip.port}/"), 20, "the service answering again")


def test_restarted_orchestrator_neither_duplicates_nor_loses(stack, boutique):
    before = owned_containers(stack)
    d = deployment(stack, "boutique")
    front = next(a for a in d.addresses if a.service == boutique["spec"].front_ends()[0])
    # requests throughout the restart: no route may be emptied while the heartbeats come back
    stream = stack.network.net.get("dev2").popen(
        ["sh", "-c", REQUEST_STREAM.format(count=40, url=f"http://{front.vip}:{front.port}/")],
        stdout=subprocess.PIPE, text=True)
    stack.restart_orchestrator(kill=True)
    wait_for(lambda: sum(n.last_heartbeat_unix > 0 for n in orchestrator(stack).ListNodes(pb.ListNodesRequest(),
             timeout=10).nodes) == len(stack.agent_sockets), 30, "a heartbeat from every node since the restart")
    codes = stream.communicate(timeout=120)[0].split()
    assert len(codes) == 40 and set(codes) == {"200"}, codes
    d = wait_ready(stack, "boutique", 60)
    assert owned_containers(stack) == before
    assert sorted(i.name for i in d.instances) == sorted(n for names in before.values() for n in names)


@pytest.mark.parametrize("daemon", ["mesh", "sdn"])
def test_a_restarted_mesh_or_sdn_daemon_loses_no_request(stack, boutique, daemon):
    d = deployment(stack, "boutique")
    front = next(a for a in d.addresses if a.service == boutique["spec"].front_ends()[0])
    stream = stack.network.net.get("dev3").popen(
        ["sh", "-c", REQUEST_STREAM.format(count=50, url=f"http://{front.vip}:{front.port}/")],
        stdout=subprocess.PIPE, text=True)
    if daemon == "mesh":
        stack.restart_mesh(kill=True)
    else:
        stack.restart_sdn(kill=True)
    codes = stream.communicate(timeout=120)[0].split()
    assert len(codes) == 50 and set(codes) == {"200"}, codes


def test_nodes_cut_off_from_the_orchestrator_keep_serving_and_healing(stack, boutique):
    d = deployment(stack, "boutique")
    instance = next(i for i in d.instances if i.service == "cartservice")
    vip = next(a for a in d.addresses if a.service == "cartservice")
    stack.stop_orchestrator(kill=True)
    try:
        pid = agent(stack, instance.node).GetContainer(agent_pb2.GetContainerRequest(name=instance.name),
                                                       timeout=10).pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: agent(stack, instance.node).GetContainer(
            agent_pb2.GetContainerRequest(name=instance.name), timeout=10).pid not in (0, pid), 30,
            "the agent restarting the container on its own")
        wait_for(lambda: http(stack, "dev2", f"http://{vip.vip}:{vip.port}/"), 20, "the service answering")
    finally:
        stack.start_orchestrator_again()
    wait_ready(stack, "boutique", 60)


# A device asks the front end every 0.2 s; one status code per line (000: no answer within 2 s).
REQUEST_STREAM = "for i in $(seq {count}); do curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 2 {url}; " \
                 "sleep 0.2; done"


def test_an_agent_killed_loses_no_request_and_nothing_runs_twice(stack, boutique):
    d = deployment(stack, "boutique")
    front = boutique["spec"].front_ends()[0]
    vip = next(a for a in d.addresses if a.service == front)
    victim = next(i.node for i in d.instances if i.service == front)
    before = owned_containers(stack)
    stream = stack.network.net.get("dev1").popen(
        ["sh", "-c", REQUEST_STREAM.format(count=int((EVICT_AFTER + 14) / 0.25), url=f"http://{vip.vip}:{vip.port}/")],
        stdout=subprocess.PIPE, text=True)
    stack.agents[victim].kill()  # its containers run on, answering on their pod addresses
    try:
        codes = stream.communicate(timeout=120)[0].split()
        nodes = {n.name: n for n in orchestrator(stack).ListNodes(pb.ListNodesRequest(), timeout=10).nodes}
        assert nodes[victim].condition == "agent-unreachable", nodes[victim]
        d = deployment(stack, "boutique")
    finally:
        stack.restart_agent(victim, kill=True)
    assert len(codes) >= 50 and set(codes) == {"200"}, codes  # past evict_after: no request lost
    assert {i.node for i in d.instances if i.node == victim} == {victim}  # nothing moved
    assert owned_containers(stack) == before  # nothing started twice
    wait_for(lambda: {n.name: n.condition for n in orchestrator(stack).ListNodes(pb.ListNodesRequest(),
                                                                                 timeout=10).nodes}[victim]
             == "ready", 30, f"{victim} ready again")
    wait_ready(stack, "boutique", 60)


def test_a_node_that_goes_down_has_its_containers_rescheduled(stack, boutique):
    d = deployment(stack, "boutique")
    victim = max({i.node for i in d.instances}, key=lambda n: sum(i.node == n for i in d.instances))
    moved = {i.name for i in d.instances if i.node == victim}
    # the node is gone: its agent (no heartbeat, nothing started or removed there) and its containers
    # (nothing answers on the data plane)
    pids = [c.pid for c in node_status(stack, victim).containers if c.pid]
    stack.agents[victim].kill()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    try:
        d = wait_for(lambda: (lambda d: d if d.ready and victim not in {i.node for i in d.instances} else None)(
            deployment(stack, "boutique")), EVICT_AFTER + 90, "the instances rescheduled")
        assert not moved & {i.name for i in d.instances}
        front = boutique["spec"].front_ends()[0]
        vip = next(a for a in d.addresses if a.service == front)
        tree = http(stack, "dev3", f"http://{vip.vip}:{vip.port}/call", timeout=15)
        assert tree and tree["ok"] and victim not in json.dumps(tree), json.dumps(tree, indent=1)
    finally:
        stack.restart_agent(victim, kill=True)
    # back, the node's stale containers are removed
    wait_for(lambda: not owned_containers(stack)[victim], 60, f"{victim}'s stale containers removed")


def test_a_node_without_room_is_avoided(stack, boutique):
    stub = orchestrator(stack)
    spec = pb.ServiceSpec(name="big", image=BIG_IMAGE, replicas=1, cpu_millicores=100, port=8080, target_port=8080)
    # image-locality's LeastAllocated tie-break would pick the emptiest nodes: the small ones
    stub.Deploy(pb.DeployRequest(application="big", services=[spec], algorithm="image-locality"), timeout=300)
    d = wait_ready(stack, "big")
    assert d.instances[0].node not in SMALL_NODES
    stub.DeleteDeployment(pb.DeleteDeploymentRequest(application="big"), timeout=30)
    wait_for(lambda: not any(n.startswith("big-") for names in owned_containers(stack).values() for n in names),
             30, "the deleted app's container removed")


def test_more_than_the_cluster_holds_is_refused_at_once_and_changes_nothing(stack, boutique):
    stub = orchestrator(stack)
    before = owned_containers(stack)
    apps = [d.application for d in stub.ListDeployments(pb.ListDeploymentsRequest(), timeout=10).deployments]
    spec = pb.ServiceSpec(name="hog", image="redis", replicas=40, cpu_millicores=4000, port=6379, target_port=6379)
    with pytest.raises(grpc.RpcError) as refused:
        stub.Deploy(pb.DeployRequest(application="hog", services=[spec]), timeout=60)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "deploying hog needs 160,000 millicores of CPU more" in refused.value.details()
    with pytest.raises(grpc.RpcError) as refused:
        stub.Scale(pb.ScaleRequest(application="boutique", service="cartservice", replicas=1000), timeout=60)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "nothing was changed" in \
        refused.value.details()
    assert [d.application for d in stub.ListDeployments(pb.ListDeploymentsRequest(), timeout=10).deployments] == apps
    assert sum(i.service == "cartservice" for i in deployment(stack, "boutique").instances) == 1
    assert owned_containers(stack) == before


def test_a_deploy_that_fits_nowhere_stays_pending_with_the_reason_and_starts_nothing(stack, boutique):
    stub = orchestrator(stack)
    before = owned_containers(stack)
    apps = [d.application for d in stub.ListDeployments(pb.ListDeploymentsRequest(), timeout=10).deployments]
    # more CPU than any one node has, less than they have together
    largest = max(n.cpu_millicores for n in stub.ListNodes(pb.ListNodesRequest(), timeout=10).nodes)
    spec = pb.ServiceSpec(name="hog", image="redis", replicas=1, cpu_millicores=largest + 100, port=6379,
                          target_port=6379)
    stub.Deploy(pb.DeployRequest(application="hog", services=[spec]), timeout=60)
    try:
        d = wait_for(lambda: (lambda d: d if all("no placement fits" in i.message for i in d.instances) else None)(
            deployment(stack, "hog")), 60, "the reason on the deployment")
        assert not d.ready and all(i.phase == pb.INSTANCE_PHASE_PENDING and not i.node for i in d.instances)
        assert not poll(lambda: owned_containers(stack) != before, 1.5)  # and nothing starts meanwhile
    finally:
        stub.DeleteDeployment(pb.DeleteDeploymentRequest(application="hog"), timeout=30)
    assert [d.application for d in stub.ListDeployments(pb.ListDeploymentsRequest(), timeout=10).deployments] == apps


BAD_MANIFESTS = {
    "unknown image": ("services:\n  web:\n    image: 'Not An Image!'\n", "image"),
    "negative cpu": ("services:\n  web:\n    image: nginx\n    deploy:\n      resources:\n        reservations:\n"
                     "          cpus: '-1'\n", "cpus"),
    "missing dependency": ("services:\n  web:\n    image: nginx\n    depends_on: [db]\n", "db"),
    "malformed yaml": ("services:\n  web:\n    image: [nginx\n", "malformed YAML"),
    "duplicate service": ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n"
                          "    spec:\n      containers: [{name: web, image: nginx}]\n---\n"
                          "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n"
                          "    spec:\n      containers: [{name: web, image: nginx}]\n", "web"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifests_get_clear_errors_and_change_nothing(stack, boutique, tmp_path, case):
    text, named = BAD_MANIFESTS[case]
    path = tmp_path / "app.yaml"
    path.write_text(text)
    before = owned_containers(stack)
    result = subprocess.run([*STRATA, "app", "--stack", str(stack.workdir / "stack.json"), "deploy", str(path),
                             "--name", "bad"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr
    listed = subprocess.run([*STRATA, "app", "--stack", str(stack.workdir / "stack.json"), "ls", "-o", "json"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "bad" not in {d["application"] for d in json.loads(listed.stdout)}
    assert owned_containers(stack) == before


def test_app_cli_shows_the_app(stack, boutique):
    base = [*STRATA, "app", "--stack", str(stack.workdir / "stack.json")]
    shown = json.loads(subprocess.run([*base, "get", "boutique", "-o", "json"], capture_output=True, text=True,
                                      timeout=60, cwd=ROOT, check=True).stdout)
    assert shown["ready"] and {a["service"] for a in shown["addresses"]} == {s.name for s in boutique["spec"].services}
    table = subprocess.run([*base, "ls"], capture_output=True, text=True, timeout=60, cwd=ROOT, check=True).stdout
    assert "boutique" in table
    nodes = json.loads(subprocess.run([*base, "nodes", "-o", "json"], capture_output=True, text=True, timeout=60,
                                      cwd=ROOT, check=True).stdout)
    assert {n["name"] for n in nodes} == set(stack.agents) and all(n["ready"] for n in nodes)
