"""Supervision for real: with `strata up`'s supervisor, a killed SDN daemon, orchestrator, mesh, node
agent and registry are each started again within seconds, healthy, and `strata status` shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import wait_for
from harness.stack import Stack, port_addresses
from topologies.catalog import load_topology

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("supervision") / "stack.json"
    with Stack(load_topology("edge-tiered"), openflow_port=6714, addresses=port_addresses(21900), images=[],
               state_file=state, supervise=True, log=lambda *_: None) as running:
        yield running


def status(stack) -> dict:
    done = subprocess.run([sys.executable, "-m", "cli", "status", "--stack", str(stack.state_file), "-o", "json"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    return {"code": done.returncode, **json.loads(done.stdout)} if done.stdout.strip() else {"code": done.returncode,
                                                                                             "error": done.stderr}


def components(stack) -> dict[str, dict]:
    return {c["name"]: c for c in status(stack)["components"]}


def test_every_component_is_supervised_and_healthy(stack):
    answer = status(stack)
    assert "components" in answer, answer
    names = {c["name"] for c in answer["components"]}
    assert {"placement", "sdn", "orchestrator", "mesh", "mano", "registry"} <= names
    assert {f"agent/{node}" for node in stack.agents} <= names
    assert answer["code"] == 0 and all(c["status"] in ("SERVING", "running") for c in answer["components"])
    assert answer["supervisor_pid"] == os.getpid()


@pytest.mark.parametrize("name", ["sdn", "orchestrator", "mesh", "agent/edge2", "registry"])
def test_a_killed_component_is_started_again_and_serves(stack, name):
    process = {"sdn": lambda: stack.daemons[list(stack.components).index("sdn")],
               "orchestrator": lambda: stack.orchestrator, "mesh": lambda: stack.mesh,
               "agent/edge2": lambda: stack.agents["edge2"], "registry": lambda: stack.registry.gate}[name]()
    before = components(stack)[name]
    os.kill(process.pid, 9)  # a crash
    after = wait_for(lambda: (lambda c: c if c["restarts"] == before["restarts"] + 1 and c["status"] in
                              ("SERVING", "running") else None)(components(stack)[name]), 30,
                     f"{name} started again and healthy")
    assert after["pid"] != before["pid"] or name == "registry"
    assert after["last_exit"] == -9
    assert status(stack)["code"] == 0
