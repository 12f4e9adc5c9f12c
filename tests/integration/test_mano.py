"""The VNF manager for real: descriptors onboarded, a firewall and a monitor instantiated as
containers through the orchestrator, a chain between devices and a server steered through them
by the SDN (blocked traffic never arrives, the monitor counts exactly what passes, both ways), a
killed VNF process healed, a heal that moves the chain, terminate refused while chained, the
manager restarted without losing anything, bad input refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from strata.v1 import agent_pb2, agent_pb2_grpc
from strata.v1 import mano_pb2 as pb
from strata.v1 import mano_pb2_grpc

from conftest import udp_delivered, wait_for
from harness.stack import Stack, port_addresses
from topologies.catalog import load_topology

ROOT = Path(__file__).resolve().parents[2]
VNFD = ROOT / "examples" / "vnfd"
STRATA = [sys.executable, "-m", "cli"]

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("mano") / "stack.json"
    with Stack(load_topology("edge-tiered"), openflow_port=6692, addresses=port_addresses(20700), images=[],
               state_file=state, log=lambda *_: None) as running:
        root = running.workdir / "www"
        root.mkdir()
        (root / "whoami").write_text("edge4")
        server = running.network.net.get("edge4")
        proc = server.popen(["python3", "-m", "http.server", "8080", "--bind", server.IP(), "--directory", str(root)])
        yield running
        proc.terminate()


def strata(stack, *args, timeout=200) -> subprocess.CompletedProcess:
    return subprocess.run([*STRATA, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={"STRATA_STACK": str(stack.state_file), "PATH": "/usr/bin:/bin"})


def mano(stack):
    return mano_pb2_grpc.VnfManagerServiceStub(stack.channel("mano"))


def instance(stack, name) -> pb.VnfInstance:
    return next(i for i in mano(stack).ListInstances(pb.ListInstancesRequest(), timeout=30).instances if i.name == name)


def pod_stats(stack, name) -> dict:
    """The VNF's counters, asked from a device over the emulated network (the pod's own address)."""
    from strata.v1 import orchestrator_pb2 as opb
    from strata.v1 import orchestrator_pb2_grpc

    o = orchestrator_pb2_grpc.OrchestratorServiceStub(stack.channel("orchestrator"))
    d = o.GetDeployment(opb.GetDeploymentRequest(application=f"vnf-{name}"), timeout=10)
    ip = next(i.ip for i in d.instances if i.phase == opb.INSTANCE_PHASE_RUNNING)
    return json.loads(stack.network.net.get("dev2").cmd(f"curl -s --max-time 3 http://{ip}:9100/stats"))


def udp(stack, port: int, count: int) -> int:
    net = stack.network.net
    return udp_delivered(net.get("dev1"), net.get("edge4"), port, count)


def curl(stack, client="dev1") -> str:
    net = stack.network.net
    return net.get(client).cmd(f"curl -s --max-time 5 http://{net.get('edge4').IP()}:8080/whoami").strip()


@pytest.fixture(scope="module")
def vnfs(stack):
    for name in ("firewall", "monitor"):
        done = strata(stack, "vnf", "onboard", str(VNFD / f"{name}.yaml"))
        assert done.returncode == 0, done.stderr
    for name, vnfd in (("fw1", "edge-firewall"), ("mon1", "edge-monitor")):
        # near the server whose traffic they serve: on its site (edge3 or edge4)
        done = strata(stack, "vnf", "instantiate", name, "--vnfd", vnfd, "--near", "edge4")
        assert done.returncode == 0 and "COMPLETED" in done.stdout, done.stdout + done.stderr
    done = strata(stack, "chain", "create", "guard", "--instances", "fw1,mon1", "--symmetric",
                  "--dst", f"{stack.network.net.get('edge4').IP()}/32")
    assert done.returncode == 0, done.stderr
    return stack


def counted(stack, name: str, passed: int) -> dict | None:
    """The VNF's stats once it has counted `passed` packets (its counters trail the traffic a little)."""
    stats = pod_stats(stack, name)
    return stats if stats["packets"]["passed"] >= passed else None


def test_a_chain_of_vnf_containers_filters_and_counts_both_ways(vnfs):
    stack = vnfs
    # placed on the served server's site (layer-aware among its nodes)
    assert {c.node for n in ("fw1", "mon1") for c in instance(stack, n).containers} <= {"edge3", "edge4"}
    assert curl(stack) == "edge4"
    before = pod_stats(stack, "mon1")
    assert udp(stack, 9998, 40) == 40
    assert udp(stack, 9999, 40) == 0  # the firewall's deny rule
    after = wait_for(lambda: counted(stack, "mon1", before["packets"]["passed"] + 40), 10, "the monitor's count")
    assert after["packets"]["passed"] - before["packets"]["passed"] == 40  # exactly what passed the firewall
    assert pod_stats(stack, "fw1")["firewall"]["rules"][1]["hits"] >= 40
    assert before["directions"]["reverse"]["packets"] > 0  # the HTTP answers came back through it


def test_a_killed_vnf_process_is_restarted_and_traffic_flows_through_the_chain_again(vnfs):
    stack = vnfs
    vnf = instance(stack, "fw1")
    pod = vnf.containers[0]
    agent = agent_pb2_grpc.NodeAgentStub(stack.agent_channel(pod.node))
    pid = agent.GetContainer(agent_pb2.GetContainerRequest(name=pod.name), timeout=10).pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: curl(stack) == "edge4", 30, "traffic through the chain again")
    assert udp(stack, 9999, 20) == 0  # still filtered: through the restarted firewall


def test_a_heal_replaces_the_containers_and_the_chain_follows(vnfs):
    stack = vnfs
    old = {c.name for c in instance(stack, "mon1").containers}
    done = strata(stack, "vnf", "heal", "mon1")
    assert done.returncode == 0 and "COMPLETED" in done.stdout, done.stdout + done.stderr
    new = instance(stack, "mon1").containers
    assert new and not old & {c.name for c in new}
    wait_for(lambda: json.loads(strata(stack, "chain", "ls", "-o", "json").stdout)[0]["hops"][1]
             == f"{new[0].node}/{new[0].name}", 10, "the chain on the new container")
    before = pod_stats(stack, "mon1")["packets"]["passed"]
    assert udp(stack, 9998, 30) == 30
    assert wait_for(lambda: counted(stack, "mon1", before + 30), 10, "the monitor's count")["packets"]["passed"] \
        == before + 30


def all_pod_stats(stack, name) -> list[dict]:
    from strata.v1 import orchestrator_pb2 as opb
    from strata.v1 import orchestrator_pb2_grpc

    o = orchestrator_pb2_grpc.OrchestratorServiceStub(stack.channel("orchestrator"))
    d = o.GetDeployment(opb.GetDeploymentRequest(application=f"vnf-{name}"), timeout=10)
    dev = stack.network.net.get("dev2")
    return [json.loads(dev.cmd(f"curl -s --max-time 3 http://{i.ip}:9100/stats")) for i in d.instances]


def test_scale_out_spreads_the_chains_flows_and_each_flow_stays_on_its_instance(vnfs):
    stack = vnfs
    done = strata(stack, "vnf", "scale", "mon1", "2")
    assert done.returncode == 0 and "COMPLETED" in done.stdout, done.stdout + done.stderr
    from strata.v1 import sdn_pb2, sdn_pb2_grpc

    sdn = sdn_pb2_grpc.SdnServiceStub(stack.channel("sdn"))
    wait_for(lambda: len(sdn.ListChains(sdn_pb2.ListInstalledChainsRequest(), timeout=10).chains[0].hops[1].hosts)
             == 2, 10, "the switches steering over both monitors")
    # twelve TCP connections (Open vSwitch's symmetric hash counts TCP ports, not UDP's: UDP between
    # two hosts stays on one instance)
    before = [s["flows"]["total"] for s in all_pod_stats(stack, "mon1")]
    for _ in range(12):
        assert curl(stack) == "edge4"

    def new_flows():
        got = [s["flows"]["total"] - b for s, b in zip(all_pod_stats(stack, "mon1"), before)]
        return got if sum(got) >= 12 else None

    got = wait_for(new_flows, 10, "the monitors' counts")
    # spread over both, and each connection seen by one monitor only (both ways: one flow)
    assert sum(got) == 12 and all(g > 0 for g in got), got
    done = strata(stack, "vnf", "scale", "mon1", "1")
    assert done.returncode == 0, done.stderr


def test_terminate_is_refused_while_chained_and_the_chain_goes_cleanly(vnfs):
    stack = vnfs
    done = strata(stack, "vnf", "terminate", "fw1")
    assert done.returncode == 2 and "guard" in done.stderr
    done = strata(stack, "chain", "del", "guard")
    assert done.returncode == 0, done.stderr
    assert udp(stack, 9999, 20) == 20  # no firewall in the path any more
    done = strata(stack, "vnf", "terminate", "fw1")
    assert done.returncode == 0 and "COMPLETED" in done.stdout, done.stdout + done.stderr
    assert instance(stack, "fw1").instantiation_state == "NOT_INSTANTIATED" and not instance(stack, "fw1").containers


def test_the_manager_restarted_loses_no_instance_and_no_occurrence(vnfs):
    stack = vnfs
    ops = mano(stack).ListOperations(pb.ListOperationsRequest(), timeout=10).operations
    instances = {i.name: i.instantiation_state for i in mano(stack).ListInstances(pb.ListInstancesRequest()).instances}
    stack.restart_mano(kill=True)
    assert list(mano(stack).ListOperations(pb.ListOperationsRequest(), timeout=10).operations) == list(ops)
    assert {i.name: i.instantiation_state for i in mano(stack).ListInstances(pb.ListInstancesRequest()).instances} \
        == instances
    listed = strata(stack, "vnf", "ops")
    assert listed.returncode == 0 and "INSTANTIATE" in listed.stdout and "HEAL" in listed.stdout


def test_bad_descriptors_and_requests_get_clear_errors_and_change_nothing(vnfs, tmp_path):
    stack = vnfs
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: fw9\nkind: firewall\nimage: alpine\nconfig: {rules: []}\n")
    done = strata(stack, "vnf", "onboard", str(bad))
    assert done.returncode == 2 and "config: default" in done.stderr
    done = strata(stack, "vnf", "instantiate", "x1", "--vnfd", "nope")
    assert done.returncode == 2 and "nope" in done.stderr
    done = strata(stack, "chain", "create", "c2", "--instances", "ghost", "--dst", "10.0.0.8/32")
    assert done.returncode == 2 and "ghost" in done.stderr
    names = {v.name for v in mano(stack).ListVnfds(pb.ListVnfdsRequest(), timeout=10).vnfds}
    assert names == {"edge-firewall", "edge-monitor"}
    assert "x1" not in {i.name for i in mano(stack).ListInstances(pb.ListInstancesRequest()).instances}


AUTOSCALING = """
name: auto-monitor
kind: monitor
image: alpine:3.18
scaling: {metric: packets_per_second, scale_out_above: 60, scale_in_below: 5, threshold_seconds: 4,
          cooldown_seconds: 10, min_instances: 1, max_instances: 2}
healing: {restarts: 2, window_seconds: 60}
"""
# Sends UDP datagrams at a steady rate for a while (from a device, through the chain).
SENDER = """
import socket, sys, time
target, rate, seconds = (sys.argv[1], 7000), float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.monotonic()
n = 0
while time.monotonic() - start < seconds:
    s.sendto(b"x" * 64, target)
    n += 1
    time.sleep(max(0.0, start + n / rate - time.monotonic()))
"""


def auto_scalings(stack) -> list[str]:
    return [op.detail for op in mano(stack).ListOperations(pb.ListOperationsRequest(instance="auto1"), timeout=10)
            .operations if op.operation == "SCALE"]


def test_a_vnf_scales_out_under_load_in_after_its_cool_down_without_flapping_and_heals_itself(vnfs, tmp_path):
    stack = vnfs
    descriptor = tmp_path / "auto.yaml"
    descriptor.write_text(AUTOSCALING)
    assert strata(stack, "vnf", "onboard", str(descriptor)).returncode == 0
    done = strata(stack, "vnf", "instantiate", "auto1", "--vnfd", "auto-monitor", "--near", "edge3")
    assert done.returncode == 0 and "COMPLETED" in done.stdout, done.stdout + done.stderr
    target = stack.network.net.get("edge3").IP()
    done = strata(stack, "chain", "create", "busy", "--instances", "auto1", "--dst", f"{target}/32",
                  "--protocol", "udp", "--port", "7000")
    assert done.returncode == 0, done.stderr
    # 200 datagrams/s for 20 s: above 60 per container from the first samples
    sender = stack.network.net.get("dev1").popen([sys.executable, "-c", SENDER, target, "200", "20"])
    try:
        started = time.monotonic()
        wait_for(lambda: instance(stack, "auto1").scale_level == 2 and auto_scalings(stack), 45,
                 "the scale-out under load")
        took = time.monotonic() - started
        assert auto_scalings(stack)[0].startswith("to 2 (auto: packets_per_second"), auto_scalings(stack)
        assert took < 45
        sender.wait(timeout=60)
    finally:
        if sender.poll() is None:
            sender.kill()
    # load gone: in after the cool-down and the threshold time, once, and then nothing more
    wait_for(lambda: instance(stack, "auto1").scale_level == 1, 60, "the scale-in once the load is gone")
    time.sleep(12)  # a little longer than the cool-down plus the threshold time: a flap would show
    details = auto_scalings(stack)
    assert [d.split(" (")[0] for d in details] == ["to 2", "to 1"], details
    assert "below 5" in details[1]
    # two restarts of its container within the window: healed by the manager, new containers
    old = instance(stack, "auto1").containers[0]
    agent = agent_pb2_grpc.NodeAgentStub(stack.agent_channel(old.node))
    for restarts in (1, 2):
        pid = agent.GetContainer(agent_pb2.GetContainerRequest(name=old.name), timeout=10).pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: agent.GetContainer(agent_pb2.GetContainerRequest(name=old.name), timeout=10).restarts
                 >= restarts and agent.GetContainer(agent_pb2.GetContainerRequest(name=old.name), timeout=10).pid,
                 30, f"restart {restarts}")
    healed = wait_for(lambda: [op for op in mano(stack).ListOperations(pb.ListOperationsRequest(instance="auto1"),
                                                                         timeout=10).operations
                               if op.operation == "HEAL" and op.state == "COMPLETED"], 90, "the automatic heal")
    assert healed[0].detail.startswith("auto: 2 container restarts"), healed[0].detail
    assert old.name not in {c.name for c in instance(stack, "auto1").containers}
    assert strata(stack, "chain", "del", "busy").returncode == 0
    assert strata(stack, "vnf", "terminate", "auto1").returncode == 0
