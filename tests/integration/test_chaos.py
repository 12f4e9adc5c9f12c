"""A short chaos run for real: online-boutique on the default network under a steady request stream
while a container, an agent, a daemon, a frozen daemon, a cut link and a hung node are injected at
random: every fault healed, no request lost outside the fault windows, nothing duplicated, nothing
left over."""

from __future__ import annotations

from pathlib import Path

import pytest
from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc

from api.app_messages import service_message
from client.manifests import load_manifest
from conftest import wait_for
from harness.chaos import ChaosRun, StackHandle, plot_timeline
from harness.stack import Stack, port_addresses
from topologies.catalog import load_topology

ROOT = Path(__file__).resolve().parents[2]
BOUTIQUE = ROOT / "examples" / "apps" / "online-boutique-kubernetes-manifests.yaml"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("chaos") / "stack.json"
    with Stack(load_topology("edge-tiered"), openflow_port=6716, addresses=port_addresses(22100), images=[],
               state_file=state, supervise=True, log=lambda *_: None) as running:
        spec = load_manifest(BOUTIQUE, name="boutique", warn=lambda _: None)
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(running.channel("orchestrator"))
        stub.Deploy(pb.DeployRequest(application="boutique", services=[service_message(s) for s in spec.services]),
                    timeout=60)
        wait_for(lambda: stub.GetDeployment(pb.GetDeploymentRequest(application="boutique"), timeout=10).ready, 180,
                 "boutique ready")
        yield running


def test_a_short_chaos_run_heals_every_fault_and_loses_nothing_outside_them(stack, tmp_path):
    report = ChaosRun(StackHandle(stack.state_file), "boutique", duration=60, seed=7, say=print).run()
    summary = report.summary()
    plot_timeline(report, tmp_path / "chaos.png")
    assert summary["faults"] >= 3 and summary["requests"] > 500, summary
    assert summary["healed"] == summary["faults"], summary["fault_log"]
    assert summary["lost_outside"] == 0, [r for r in report.requests if r[2] != "200"]
    assert not summary["duplicates"] and not summary["leftovers"], summary
    assert (tmp_path / "chaos.png").stat().st_size > 10_000
