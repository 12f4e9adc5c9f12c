"""Mutual TLS between the components of a real stack: plaintext and strangers refused, each caller
allowed only what is its own, the CLI and a deploy working end to end."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from strata.v1 import agent_pb2, agent_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc, sdn_pb2, sdn_pb2_grpc

from component_base.pki import Identity, Listener, make_cluster
from component_base.tls import Tls, open_channel
from conftest import wait_for
from harness.stack import Stack, port_addresses
from topologies.catalog import load_topology

ROOT = Path(__file__).resolve().parents[2]
STRATA = [sys.executable, "-m", "cli"]
NODES = ("edge1", "edge2")


@pytest.fixture(scope="module")
def stack():
    with Stack(load_topology("edge-tiered"), openflow_port=6708, addresses=port_addresses(21700), images=[],
               log=lambda *_: None) as running:
        yield running


def health(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def refused_status(call) -> grpc.StatusCode | None:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    return None


def test_the_stack_runs_tls_and_made_its_certificates_quickly(stack):
    assert stack.tls and stack.admin_tls.identity == Identity("admin")
    assert stack.timings["pki"] < 0.5, stack.timings  # well under a second for every daemon and agent
    for key in (stack.pki_dir).glob("*.key"):
        assert key.stat().st_mode & 0o777 == 0o600
    assert not list(stack.pki_dir.glob("ca.key")) and not list(stack.pki_dir.glob("ca*key*"))
    described = json.loads((stack.workdir / "stack.json").read_text())
    assert Path(described["tls"]["cert"]) == stack.pki_dir / "admin.pem"


def test_plaintext_is_refused_on_every_listener(stack):
    addresses = [stack.addresses["placement"], stack.addresses["sdn"], f"unix:{stack.sdn_socket}",
                 *(f"unix:{stack.socket(name)}" for name in ("placement", "orchestrator", "mesh", "mano")),
                 *(f"unix:{stack.agent_sockets[node]}" for node in NODES)]
    for address in addresses:
        with grpc.insecure_channel(address) as channel:
            assert refused_status(lambda: health(channel)) == grpc.StatusCode.UNAVAILABLE, address
    # the same listeners answer the operator over TLS
    with stack.channel("orchestrator") as channel:
        assert health(channel) == health_pb2.HealthCheckResponse.SERVING


def test_a_certificate_of_another_ca_is_refused(stack, tmp_path):
    other = tmp_path / "pki"
    make_cluster(other, [Listener(Identity("admin")), Listener(Identity("orchestrator"))],
                 datetime.datetime.now(datetime.timezone.utc))
    for who in (Identity("admin"), Identity("orchestrator")):
        theirs = Tls.from_folder(other, who)
        forged = Tls(stack.admin_tls.ca, theirs.cert, theirs.key, who)  # trusts our CA: only our server refuses
        for address, server in ((f"unix:{stack.agent_sockets['edge1']}", Identity.agent("edge1")),
                                (f"unix:{stack.socket('orchestrator')}", Identity("orchestrator"))):
            with open_channel(address, forged, server) as channel:
                assert refused_status(lambda: health(channel)) == grpc.StatusCode.UNAVAILABLE, (who, address)


def test_an_agent_cannot_run_containers_on_another_node_but_the_orchestrator_can_call_it(stack):
    with stack.agent_channel("edge2", identity=Identity.agent("edge1")) as channel:
        agent = agent_pb2_grpc.NodeAgentStub(channel)
        assert health(channel) == health_pb2.HealthCheckResponse.SERVING  # a cluster identity: health is open
        with pytest.raises(grpc.RpcError) as refused:
            agent.RunContainer(agent_pb2.RunContainerRequest(name="intruder", image="nginx"), timeout=30)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "spiffe://strata/agent/edge1" in refused.value.details()
        assert "RunContainer" in refused.value.details()
        for call in (lambda: agent.PruneLayers(agent_pb2.PruneLayersRequest(), timeout=10),
                     lambda: agent.RemoveContainer(agent_pb2.RemoveContainerRequest(name="x"), timeout=10)):
            assert refused_status(call) == grpc.StatusCode.PERMISSION_DENIED
    with stack.agent_channel("edge2") as channel:  # the operator: nothing was started
        listed = agent_pb2_grpc.NodeAgentStub(channel).ListContainers(agent_pb2.ListContainersRequest(), timeout=10)
        assert "intruder" not in {c.name for c in listed.containers}
    with stack.agent_channel("edge2", identity=Identity("orchestrator")) as channel:
        agent = agent_pb2_grpc.NodeAgentStub(channel)
        # allowed past the check: the agent itself answers (no such container)
        assert refused_status(lambda: agent.RemoveContainer(agent_pb2.RemoveContainerRequest(name="nothing"),
                                                            timeout=10)) == grpc.StatusCode.NOT_FOUND
        # but only what the orchestrator does: it never prunes a node's layers
        assert refused_status(lambda: agent.PruneLayers(agent_pb2.PruneLayersRequest(), timeout=10)) \
            == grpc.StatusCode.PERMISSION_DENIED


def test_an_agent_heartbeats_for_its_own_node_only(stack):
    with stack.channel("orchestrator", identity=Identity.agent("edge1")) as channel:
        orchestrator = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        orchestrator.Heartbeat(orchestrator_pb2.HeartbeatRequest(node="edge1"), timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            orchestrator.Heartbeat(orchestrator_pb2.HeartbeatRequest(node="edge2"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "edge1" in refused.value.details() and "Heartbeat" in refused.value.details()
        assert refused_status(lambda: orchestrator.ListNodes(orchestrator_pb2.ListNodesRequest(), timeout=10)) \
            == grpc.StatusCode.PERMISSION_DENIED
    with stack.channel("sdn", identity=Identity.agent("edge1")) as channel:  # nor routes, nor others' endpoints
        sdn = sdn_pb2_grpc.SdnServiceStub(channel)
        assert refused_status(lambda: sdn.DetachEndpoint(sdn_pb2.DetachEndpointRequest(name="edge2/web"),
                                                         timeout=10)) == grpc.StatusCode.PERMISSION_DENIED
        assert refused_status(lambda: sdn.ListFlows(sdn_pb2.ListFlowsRequest(), timeout=10)) \
            == grpc.StatusCode.PERMISSION_DENIED


def strata(stack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*STRATA, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={"STRATA_STACK": str(stack.workdir / "stack.json"), "PATH": "/usr/bin:/bin"})


def test_the_cli_uses_the_stacks_certificate(stack):
    nodes = strata(stack, "node", "ls", "-o", "json")
    assert nodes.returncode == 0, nodes.stderr
    assert set(stack.agents) <= {n["name"] for n in json.loads(nodes.stdout)}
    topology = strata(stack, "sdn", "--sdn", stack.addresses["sdn"], "topology")
    assert topology.returncode == 0, topology.stderr
    plain = strata(stack, "app", "ls", "--insecure")
    assert plain.returncode == 3, plain.stderr  # plaintext: refused, so unreachable


def test_a_deploy_works_end_to_end_over_mutual_tls(stack, tmp_path):
    app = tmp_path / "compose.yaml"
    app.write_text("services:\n  web:\n    image: nginx\n    deploy:\n      replicas: 2\n")
    started = time.monotonic()
    deployed = strata(stack, "app", "deploy", str(app), "--name", "tlsweb", "--wait", "240", timeout=300)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    print(f"deploy over mutual TLS, ready in {time.monotonic() - started:.1f} s")
    shown = json.loads(strata(stack, "app", "get", "tlsweb", "-o", "json").stdout)
    assert shown["ready"] and len(shown["instances"]) == 2
    vip = next(a for a in shown["addresses"] if a["service"] == "web")
    device = stack.network.net.get("dev1")
    answer = wait_for(lambda: device.cmd(f"curl -s --max-time 5 http://{vip['vip']}:{vip['port']}/").strip(), 30,
                      "the service on its VIP")
    assert json.loads(answer)["service"] == "web"
    removed = strata(stack, "app", "rm", "tlsweb")
    assert removed.returncode == 0, removed.stderr
