"""runc containers on pods of a userspace OVS bridge, for real (root, runc, Open vSwitch, nsenter, ethtool, iproute2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.daemons import wait_for
from dataplane.agent.bundle import cpu_shares, runtime_config
from dataplane.agent.podnet import NETNS_DIR, PodAddresses, PodNetwork, PodNetworkError, pod_interface_names
from dataplane.agent.runtime import Runc, process_alive

REPO = Path(__file__).resolve().parents[2]

# Everything created here starts with strt, so it cannot touch anyone else's bridges or namespaces.
BRIDGE = "strt-br0"
AGENT_NETNS = "strt-host"      # stands in for the edge server's Mininet host
NETNS_PREFIX = "strt-"
POD_KEYS = ("strta", "strtb")
POD_CIDR = "10.251.0.0/24"
PAGE = "hello from pod a\n"


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60, **kwargs)


def in_agent_netns(code: str) -> dict:
    """Runs Python code in the agent's namespace (same mounts and PIDs, other network); its last
    printed line is JSON."""
    result = subprocess.run(["nsenter", f"--net={NETNS_DIR / AGENT_NETNS}", sys.executable, "-c", code],
                            capture_output=True, text=True, timeout=60, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def root_netns_pid() -> int:
    """A process of the root network namespace: ovs-vswitchd itself."""
    return int(Path("/var/run/openvswitch/ovs-vswitchd.pid").read_text())


@pytest.fixture(scope="module")
def bridge():
    from dataplane.network import ensure_ovs
    ensure_ovs()
    run("ovs-vsctl", "--may-exist", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev")
    try:
        run("ovs-ofctl", "add-flow", BRIDGE, "actions=normal")
        yield BRIDGE
    finally:
        subprocess.run(["ovs-vsctl", "--if-exists", "del-br", BRIDGE], capture_output=True)


@pytest.fixture(scope="module")
def agent_netns():
    run("ip", "netns", "add", AGENT_NETNS)
    try:
        yield AGENT_NETNS
    finally:
        subprocess.run(["ip", "netns", "delete", AGENT_NETNS], capture_output=True)


@pytest.fixture(scope="module")
def pod_network(bridge):
    return PodNetwork(switch=bridge, prefixlen=24, root_netns_pid=root_netns_pid(), netns_prefix=NETNS_PREFIX)


@pytest.fixture(scope="module")
def pods(pod_network, agent_netns):
    """key -> PodInterface, created by the agent from its own network namespace."""
    addresses = PodAddresses(POD_CIDR)
    created = {}
    try:
        for key in POD_KEYS:
            ip, mac = addresses.allocate()
            created[key] = in_agent_netns(
                "import dataclasses, json\n"
                "from dataplane.agent.podnet import PodNetwork\n"
                f"network = PodNetwork(switch={pod_network.switch!r}, prefixlen=24, "
                f"root_netns_pid={pod_network.root_netns_pid}, netns_prefix={NETNS_PREFIX!r})\n"
                f"print(json.dumps(dataclasses.asdict(network.create({key!r}, {ip!r}, {mac!r}))))\n")
        yield created
    finally:
        for key in POD_KEYS:
            pod_network.delete(key)


@pytest.fixture
def runc_root(tmp_path):
    """A runc state folder of the test's own; whatever the test leaves running is deleted."""
    runc = Runc(tmp_path / "runc-state")
    try:
        yield runc
    finally:
        for container in runc.list():
            runc.delete(container["id"], force=True)


def make_bundle(folder: Path, netns_path: str, args: list[str]) -> Path:
    """A bundle with an empty root folder, a site folder bound at /srv and a hosts file at /etc/hosts."""
    (folder / "rootfs").mkdir(parents=True)
    (folder / "site").mkdir()
    (folder / "site" / "index.html").write_text(PAGE)
    (folder / "hosts").write_text("127.0.0.1 localhost\n10.251.0.1 web\n")
    config = runtime_config(args=args, env=[], cwd="/", hostname="web", netns_path=netns_path,
                            cpu_millicores=250, binds=[(str(folder / "site"), "/srv")],
                            files=[(str(folder / "hosts"), "/etc/hosts")], rootfs=str(folder / "rootfs"))
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def fetch_from_pod(netns: str, url: str, timeout: float = 10) -> str:
    """The body at url, fetched from inside a pod's namespace (retried while the server starts)."""
    def fetch():
        result = subprocess.run(["nsenter", f"--net={NETNS_DIR / netns}", "curl", "-sf", "--max-time", "2", url],
                                capture_output=True, text=True)
        return result.stdout if result.returncode == 0 else None

    return wait_for(fetch, timeout, f"{url} from {netns}", 0.1)


def test_pods_are_numbered_ports_of_the_switch(pods, pod_network, bridge):
    a, b = (pods[key] for key in POD_KEYS)
    assert a["ofport"] > 0 and b["ofport"] > 0 and a["ofport"] != b["ofport"]
    assert pod_network.exists("strta") and not pod_network.exists("strtz")
    assert a["host_veth"] in run("ovs-vsctl", "list-ports", bridge).stdout.split()
    link = run("ip", "-n", a["netns"], "-j", "addr", "show", "eth0").stdout
    [eth0] = json.loads(link)
    assert eth0["address"] == a["mac"]
    ipv4 = {(info["local"], info["prefixlen"]) for info in eth0["addr_info"] if info["family"] == "inet"}
    assert ipv4 == {(a["ip"], 24)}


def test_a_second_create_of_the_same_pod_is_refused(pods, pod_network):
    with pytest.raises(PodNetworkError):
        pod_network.create("strta", "10.251.0.99", "02:00:0a:fb:00:63")
    assert pod_network.exists("strta")


def test_a_failed_create_leaves_nothing(pod_network):
    broken = PodNetwork(switch="strt-missing-br", prefixlen=24, root_netns_pid=pod_network.root_netns_pid,
                        netns_prefix=NETNS_PREFIX)
    with pytest.raises(PodNetworkError, match="strt-missing-br"):
        broken.create("strtc", "10.251.0.50", "02:00:0a:fb:00:32")
    assert not (NETNS_DIR / f"{NETNS_PREFIX}strtc").exists()
    assert subprocess.run(["ip", "link", "show", pod_interface_names("strtc")[0]], capture_output=True).returncode != 0
    broken.delete("strtc")  # nothing left to delete: still fine


def test_a_container_serves_another_pod_and_its_death_is_seen(pods, runc_root, tmp_path):
    a, b = (pods[key] for key in POD_KEYS)
    bundle = make_bundle(tmp_path / "web", a["netns_path"], ["python3", "-m", "http.server", "80"])
    log = tmp_path / "web.log"
    container_id = f"strt-web-{os.getpid()}"
    # Started by a process in the agent's namespace that exits at once: the container outlives it.
    pid = in_agent_netns(
        "import json\nfrom pathlib import Path\nfrom dataplane.agent.runtime import Runc\n"
        f"pid = Runc(Path({str(runc_root.state_root)!r})).run_detached({container_id!r}, "
        f"Path({str(bundle)!r}), Path({str(log)!r}))\n"
        "print(json.dumps(pid))\n")
    assert process_alive(pid)
    assert runc_root.state(container_id)["status"] == "running"
    assert [c["id"] for c in runc_root.list()] == [container_id]

    assert fetch_from_pod(b["netns"], f"http://{a['ip']}/srv/index.html") == PAGE
    assert "10.251.0.1 web" in fetch_from_pod(b["netns"], f"http://{a['ip']}/etc/hosts")
    shares = Path(f"/sys/fs/cgroup/cpu/{container_id}/cpu.shares")
    if shares.exists():  # cgroup v1 cpu controller
        assert int(shares.read_text()) == cpu_shares(250)

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(pid), 5, "the container's process to end", 0.05)
    assert runc_root.state(container_id)["status"] == "stopped"
    assert runc_root.stop(container_id, timeout=1) is None  # not our child: the exit code is unknown
    assert runc_root.state(container_id) is None
    assert runc_root.stop(container_id, timeout=1) is None
    runc_root.delete(container_id)
    assert runc_root.list() == []
    assert "GET /srv/index.html" in log.read_text()


def test_a_subreaper_learns_exit_codes_and_stop_kills_what_ignores_sigterm(pods, runc_root, tmp_path):
    a = pods["strta"]
    exits = make_bundle(tmp_path / "exits", a["netns_path"], ["/bin/sh", "-c", "echo bye; exit 7"])
    serves = make_bundle(tmp_path / "serves", a["netns_path"], ["python3", "-m", "http.server", "80"])
    tag = os.getpid()
    # In a process of its own, so that this test process does not become a subreaper.
    result = in_agent_netns(
        "import json, time\nfrom pathlib import Path\n"
        "from dataplane.agent.runtime import Runc, become_child_subreaper, process_alive, reaped_exit_code\n"
        "become_child_subreaper()\n"
        f"runc = Runc(Path({str(runc_root.state_root)!r}))\n"
        f"pid = runc.run_detached('strt-exits-{tag}', Path({str(exits)!r}), Path({str(tmp_path / 'exits.log')!r}))\n"
        "deadline = time.monotonic() + 5\n"
        f"while runc.state('strt-exits-{tag}')['status'] != 'stopped' and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        f"exited = [runc.stop('strt-exits-{tag}'), reaped_exit_code(pid), process_alive(pid)]\n"
        f"pid = runc.run_detached('strt-serves-{tag}', Path({str(serves)!r}), Path({str(tmp_path / 'serves.log')!r}))\n"
        "time.sleep(0.3)\n"
        "started = time.monotonic()\n"
        f"stopped = runc.stop('strt-serves-{tag}', timeout=0.5)\n"
        f"print(json.dumps([exited, stopped, time.monotonic() - started, runc.state('strt-serves-{tag}')]))\n")
    exited, stopped, seconds, state_after = result
    assert exited == [7, 7, False]  # stopped after it had exited: reaped by stop
    assert stopped == 128 + signal.SIGKILL  # PID 1 of its namespace ignores SIGTERM
    assert 0.5 <= seconds < 5
    assert state_after is None
    assert (tmp_path / "exits.log").read_text() == "bye\n"


def test_a_running_container_s_log_rotates_and_its_writes_carry_on_at_the_start(pods, runc_root, tmp_path):
    """The agent hands runc its log opened for appending, so a log emptied by rotation is written from its
    start again (not from the old offset, which would leave a hole of NULs as large as the old log)."""
    from dataplane.agent.logs import read_tail, rotate, rotated_path

    a = pods["strta"]
    chatty = make_bundle(tmp_path / "chatty", a["netns_path"],
                         ["/bin/sh", "-c", "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.001; done"])
    log = tmp_path / "chatty.log"
    runc_root.run_detached(f"strt-chatty-{os.getpid()}", chatty, log)
    wait_for(lambda: log.stat().st_size > 50_000, 30, "the container to write 50 kB", 0.05)
    assert rotate(log, 10_000)
    assert rotated_path(log).stat().st_size == 10_000
    wait_for(lambda: log.stat().st_size > 1_000, 30, "the container to write again", 0.05)
    data = log.read_bytes()
    assert data.startswith(b"line ") and b"\0" not in data
    assert log.stat().st_size < 50_000
    assert read_tail(log, tail_lines=1).startswith("line ")
