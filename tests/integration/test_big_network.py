"""A bundled Topology Zoo network of about a hundred switches (GtsCe: 149 switches, 298 hosts)
with the daemons, as `strata up` runs it: up, a sampled check, and Ctrl-C in the middle of its
launch."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import ROOT, STRATA, leftovers, read_until, workdir_of
from topologies.catalog import load_topology

NETWORK = "zoo:GtsCe"
SWITCHES = set(load_topology(NETWORK).switches)


def start_up(*extra: str) -> subprocess.Popen:
    return subprocess.Popen([*STRATA, "up", "--topo", NETWORK, "--openflow-port", "6697", "--port-base", "20110",
                             *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen) -> str:
    """Ctrl-C; what it printed. Killed (and Mininet cleaned) if it does not stop within a minute."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            subprocess.run(["mn", "-c"], capture_output=True)
    return out


def left_behind(workdir, patience: float = 120.0) -> list[str]:
    """What the stopped launch left. Processes, namespaces and mounts must be gone at once; the
    bridges' own interfaces go when ovs-vswitchd has deleted the bridges the stop removed from its
    database (it deletes their ports one by one: about 8 s after GtsCe's stop, over a minute on a loaded machine), so those are
    given `patience`."""
    deadline = time.monotonic() + patience
    found = leftovers(SWITCHES, workdir)
    while found and all(f.startswith("interface ") for f in found) and time.monotonic() < deadline:
        time.sleep(1)
        found = leftovers(SWITCHES, workdir)
    return found


def test_a_network_of_about_a_hundred_switches_comes_up_with_the_daemons_and_passes_a_sampled_check(tmp_path):
    assert len(SWITCHES) >= 100
    proc = start_up("--state", str(tmp_path / "stack.json"), "--sample-pairs", "40")
    lines = read_until(proc, "*** Results:", 400)
    up = "".join(lines)
    assert f"all {len(SWITCHES)} switches connected to the SDN daemon and hold their rules" in up, up
    assert "*** Results: 0% dropped (43/43 received)" in lines[-1], up  # 40 pings and 3 TCP connections
    started = time.monotonic()
    out = stop(proc)
    assert proc.returncode == 130, up + out
    assert time.monotonic() - started < 45, out
    assert not left_behind(workdir_of(lines)), up + out


def test_ctrl_c_in_the_middle_of_its_launch_leaves_nothing_behind(tmp_path):
    proc = start_up("--state", str(tmp_path / "stack.json"))
    lines = read_until(proc, "run folder", 60)
    time.sleep(5)  # the network is being built (its launch takes about 15 s)
    started = time.monotonic()
    out = stop(proc)
    assert time.monotonic() - started < 45, out
    assert proc.returncode == 130 and "ready in" not in out, "".join(lines) + out
    assert not left_behind(workdir_of(lines)), "".join(lines) + out
