"""The two user-facing entry points of the running system: `strata demo` and `strata up`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
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


def test_up_runs_until_interrupted_then_cleans_up():
    before = bridges()
    proc = subprocess.Popen([*STRATA, "up", "--openflow-port", "6695"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "running; Ctrl-C" in line or not line:
                break
        assert "running; Ctrl-C" in lines[-1], "".join(lines)
        assert healthy("127.0.0.1:50051") and healthy("127.0.0.1:50054")
        assert {"core", "agg1", "site1"} <= bridges()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:  # it did not stop: kill it and clear what it left for the next tests
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            subprocess.run(["mn", "-c"], capture_output=True)
    assert bridges() == before
    assert not strata_processes()
    assert not healthy("127.0.0.1:50054")
