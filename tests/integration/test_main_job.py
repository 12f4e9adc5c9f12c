"""The two user-facing entry points of the running system: `strata demo` and `strata up`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from component_base.pki import Identity
from conftest import ROOT, STRATA, bridges, described_tls, healthy, leftovers, read_until, workdir_of


def strata_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "cli serve" in line]


def test_demo_passes_and_leaves_nothing_behind():
    before = bridges()
    result = subprocess.run([*STRATA, "demo"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    assert bridges() == before
    assert not strata_processes()


EDGE_TIERED_SWITCHES = {"core", "agg1", "agg2", "site1", "site2", "site3"}


def start_up(*extra: str) -> subprocess.Popen:
    return subprocess.Popen([*STRATA, "up", "--openflow-port", "6695", "--port-base", "20070", *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_up_runs_until_interrupted_then_cleans_up(tmp_path):
    state = tmp_path / "stack.json"
    proc = start_up("--state", str(state))
    workdir = None
    try:
        lines = read_until(proc, "Ctrl-C to shut", 300)
        workdir = workdir_of(lines)
        assert "Ctrl-C to shut" in lines[-1], "".join(lines)
        tls = described_tls(state)
        assert tls is not None and "mutual TLS on every gRPC listener" in "".join(lines)
        assert not healthy("127.0.0.1:20074")  # plaintext: refused
        assert healthy("127.0.0.1:20071", tls, Identity("placement"))
        assert healthy("127.0.0.1:20074", tls, Identity("sdn"))
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
    assert not healthy("127.0.0.1:20074", tls, Identity("sdn"))


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
