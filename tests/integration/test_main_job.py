"""The two user-facing entry points of the running system: `strata demo` and `strata up`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
STRATA = [sys.executable, "-m", "controller.cli"]


def bridges() -> set[str]:
    return set(subprocess.run(["ovs-vsctl", "list-br"], capture_output=True, text=True).stdout.split())


def strata_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "controller.cli serve" in line]


def test_demo_passes_and_leaves_nothing_behind():
    before = bridges()
    result = subprocess.run([*STRATA, "demo"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    assert bridges() == before
    assert not strata_processes()


def healthy(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def leftovers(spec_switches: set[str], workdir: Path | None) -> list[str]:
    """What a stopped stack must not leave: its bridges, interfaces, processes, mounts, namespaces."""
    found = []
    found += [f"bridge {b}" for b in bridges() & spec_switches]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"interface {line.split(':')[1].strip()}" for line in links.splitlines()
              if line.split(":")[1].strip().split("@")[0].split("-eth")[0] in spec_switches]
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    found += [f"process {line.strip()}" for line in out.splitlines()
              if "controller.cli serve" in line or "docker-registry serve" in line
              or any(f"mininet:{s}" in line for s in spec_switches)]
    if workdir is not None:
        mounts = Path("/proc/self/mountinfo").read_text()
        found += [f"mount {line.split()[4]}" for line in mounts.splitlines() if str(workdir) in line]
        prefix = f"strata-{workdir.name.removeprefix('strata-')[:8]}-"
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        found += [f"netns {n}" for n in names.split() if n.startswith(prefix)]
    return found


EDGE_TIERED_SWITCHES = {"core", "agg1", "agg2", "site1", "site2", "site3"}


def start_up(*extra: str) -> subprocess.Popen:
    return subprocess.Popen([*STRATA, "up", "--openflow-port", "6695", "--port-base", "50070", *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_until(proc: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if marker in line or not line:
            break
    return lines


def workdir_of(lines: list[str]) -> Path | None:
    for line in lines:
        if line.startswith("run folder "):
            return Path(line.split()[2])
    return None


def test_up_runs_until_interrupted_then_cleans_up(tmp_path):
    state = tmp_path / "stack.json"
    proc = start_up("--state", str(state))
    workdir = None
    try:
        lines = read_until(proc, "Ctrl-C to shut", 300)
        workdir = workdir_of(lines)
        assert "Ctrl-C to shut" in lines[-1], "".join(lines)
        assert healthy("127.0.0.1:50071") and healthy("127.0.0.1:50074")
        assert EDGE_TIERED_SWITCHES <= bridges()
        described = json.loads(state.read_text())
        assert len(described["agents"]) == 6 and described["registry"]
        node = subprocess.run([*STRATA, "node", "--stack", str(state), "run", "edge1", "nginx", "-o", "json"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert node.returncode == 0, node.stderr
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert proc.wait(timeout=60) == 130
        assert time.monotonic() - started < 30
    finally:
        if proc.poll() is None:  # it did not stop: kill it and clear what it left for the next tests
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            subprocess.run(["mn", "-c"], capture_output=True)
    assert not leftovers(EDGE_TIERED_SWITCHES, workdir)
    assert not state.exists()
    assert not healthy("127.0.0.1:50074")


@pytest.mark.parametrize("signum, after", [(signal.SIGINT, 2.0), (signal.SIGTERM, 4.0), (signal.SIGINT, 8.0)])
def test_signal_at_any_moment_of_up_leaves_nothing_behind(tmp_path, signum, after):
    """Ctrl-C or SIGTERM while the network is being built, the daemons started or the agents
    launched: `strata up` stops within seconds and leaves nothing behind."""
    proc = start_up("--state", str(tmp_path / "stack.json"), "--image", "nginx")
    try:
        time.sleep(after)
        proc.send_signal(signum)
        started = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        assert time.monotonic() - started < 30, out
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            subprocess.run(["mn", "-c"], capture_output=True)
    assert not leftovers(EDGE_TIERED_SWITCHES, workdir_of(out.splitlines())), out
