"""Hardened containers for real (root, runc): a fork bomb and a memory hog stay in their containers, denied syscalls fail."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from dataplane.agent.bundle import runtime_config
from dataplane.agent.runtime import Runc

BOMB_PIDS = 64  # the fork bomb's container: its limit, far below the machine's
HOG_MIB = 32


def own_cgroup(controller: str) -> Path:
    """This process's cgroup folder of a v1 controller, where runc puts its containers' ones."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup") / controller / path.lstrip("/")
    pytest.skip(f"no cgroup v1 {controller} controller here")


@pytest.fixture
def netns():
    """A network namespace of the test's own, held by a sleeping process: the containers join it
    by its /proc path (nothing is named or mounted on the host for it)."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    try:
        path = Path(f"/proc/{holder.pid}/ns/net")
        deadline = time.monotonic() + 5
        while os.readlink(path) == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare --net did not make a namespace"
            time.sleep(0.02)
        yield str(path)
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def runc(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("runc needs root")
    runc = Runc(tmp_path / "runc-state")
    try:
        yield runc
    finally:
        for container in runc.list():
            runc.delete(container["id"], force=True)


def bundle(folder: Path, netns: str, script: str, **limits) -> dict:
    """A bundle with an empty root folder (writable: the container's only way to report back) and
    the host's programs read-only; config.json written, its config returned."""
    (folder / "rootfs").mkdir(parents=True)
    (folder / "go").mkdir()
    config = runtime_config(args=["sh", "-c", script], env=[], cwd="/", hostname=folder.name, netns_path=netns,
                            cpu_millicores=100, binds=[(str(folder / "go"), "/go")], rootfs=str(folder / "rootfs"),
                            **limits)
    (folder / "config.json").write_text(json.dumps(config))
    return config


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def start_ticker(runc: Runc, tmp_path: Path, netns: str) -> Path:
    """A container that forks a process every 0.2 s and writes a count: the neighbour that must keep working."""
    folder = tmp_path / "ticker"
    bundle(folder, netns, "i=0; while true; do i=$((i+1)); echo $i > /tick.new; mv /tick.new /tick; sleep 0.2; done")
    runc.run_detached("ticker", folder, folder / "log")
    tick = folder / "rootfs" / "tick"
    wait_until(tick.exists, 10, "the ticker container did not start")
    return tick


def refused_forks(cgroup: Path) -> int:
    """How many forks the pids controller refused in a cgroup (pids.events: "max N")."""
    events = dict(line.split() for line in (cgroup / "pids.events").read_text().splitlines())
    return int(events.get("max", 0))


def ticks(tick: Path) -> int:
    try:
        return int(tick.read_text() or 0)
    except (FileNotFoundError, ValueError):  # between the write and the rename
        return 0


def test_a_fork_bomb_stays_inside_its_pids_limit(runc, tmp_path, netns):
    tick = start_ticker(runc, tmp_path, netns)
    folder = tmp_path / "bomb"
    # The bomb waits for /go/start, which the test creates only once the limit is seen in force;
    # it runs under timeout, and the container is deleted (every process of its PID namespace
    # killed) at the end whatever happens.
    config = bundle(folder, netns, "while [ ! -e /go/start ]; do sleep 0.05; done; "
                                   "timeout -s KILL 15 sh -c 'f() { f | f & }; f; wait'; sleep 600",
                    pids_limit=BOMB_PIDS)
    assert config["linux"]["resources"]["pids"] == {"limit": BOMB_PIDS}
    runc.run_detached("bomb", folder, folder / "log")
    pids = own_cgroup("pids") / "bomb"
    assert (pids / "pids.max").read_text().strip() == str(BOMB_PIDS)
    (folder / "go" / "start").touch()
    wait_until(lambda: refused_forks(pids) > 0, 15, "the bomb never reached its limit")
    # At its limit (forks refused there, as its log's "Cannot fork" says): the node and the
    # neighbour still make processes.
    before = ticks(tick)
    for _ in range(5):
        assert subprocess.run(["true"], timeout=5).returncode == 0
        time.sleep(0.3)
    assert ticks(tick) >= before + 3, "the neighbour container stopped making processes"
    assert refused_forks(pids) > 0 and "Cannot fork" in (folder / "log").read_text()
    runc.delete("bomb", force=True)
    assert runc.state("ticker")["status"] == "running"


def test_a_memory_hog_is_killed_in_its_container_and_the_neighbour_lives(runc, tmp_path, netns):
    tick = start_ticker(runc, tmp_path, netns)
    folder = tmp_path / "hog"
    config = bundle(folder, netns, "exec python3 -c 'b = []\nwhile True: b.append(bytearray(1 << 20))'",
                    memory_limit_mib=HOG_MIB)
    assert config["linux"]["resources"]["memory"]["limit"] == HOG_MIB * 2**20
    pid = runc.run_detached("hog", folder, folder / "log")
    wait_until(lambda: runc.state("hog") is None or runc.state("hog")["status"] == "stopped", 20,
               "the memory hog was not stopped")
    assert runc.oom_killed("hog"), f"not OOM-killed (pid {pid}): {(folder / 'log').read_text()[-500:]}"
    before = ticks(tick)
    time.sleep(1.0)
    assert ticks(tick) >= before + 3
    assert runc.state("ticker")["status"] == "running"


def test_seccomp_denies_a_new_namespace_that_the_container_could_otherwise_make(runc, tmp_path, netns):
    """`unshare --user` needs no capability: only the seccomp profile refuses it. Run once with the
    profile, once with it removed, so the refusal is known to be the profile's."""
    script = "unshare --user true; echo $? > /result"
    for name, keep in (("confined", True), ("unconfined", False)):
        folder = tmp_path / name
        config = bundle(folder, netns, script)
        if not keep:
            del config["linux"]["seccomp"]
            (folder / "config.json").write_text(json.dumps(config))
        runc.run_detached(name, folder, folder / "log")
        result = folder / "rootfs" / "result"
        wait_until(result.exists, 10, f"{name}: no result; log: {(folder / 'log').read_text()[-500:]}")
        code = int(result.read_text())
        if keep:
            assert code != 0
            assert "Operation not permitted" in (folder / "log").read_text()
        else:
            assert code == 0, (folder / "log").read_text()[-500:]


def test_seccomp_denies_mount(runc, tmp_path, netns):
    folder = tmp_path / "mount"
    bundle(folder, netns, "mkdir -p /m; mount -t tmpfs none /m; echo $? > /result")
    runc.run_detached("mount", folder, folder / "log")
    result = folder / "rootfs" / "result"
    wait_until(result.exists, 10, "no result")
    assert int(result.read_text()) != 0
