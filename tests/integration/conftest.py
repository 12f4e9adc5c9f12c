"""Fixtures that run the real thing: Mininet on userspace Open vSwitch, the SDN daemon as a process."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from strata.v1 import sdn_pb2_grpc

from component_base.pki import Identity
from component_base.tls import Tls, open_channel
from harness.daemons import DaemonProcess, start_sdn_daemon, wait_for, wait_switches_connected
from topologies.catalog import load_topology
from controller.sdn.network import default_gateway
from dataplane.network import HOST_PREFIX_LEN, EdgeNetwork, ensure_ovs
from harness.stack import SERVICE_RANGE
from dataplane.agent.rootfs import mounts_under

ROOT = Path(__file__).resolve().parents[2]
STRATA = [sys.executable, "-m", "cli"]
OPENFLOW_PORT = 6693  # not the default, so a user's `strata up` on this machine does not clash
# The tests' loopback daemons listen below Linux's ephemeral range (32768-60999): a port in that
# range can be held at that moment as the local end of some client connection, and the bind fails.
SDN_ADDRESS = "127.0.0.1:20094"


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.integration)


def _run_folders() -> set[Path]:
    """The run folders (`strata-*` in the temporary folder) that stacks and `strata up` create; not
    the MIP solver's scratch folders (`strata-cbc-*`), which their solve removes itself and which a
    solve running elsewhere at the end of this session may still be using."""
    return {p for p in Path(tempfile.gettempdir()).glob("strata-*") if not p.name.startswith("strata-cbc-")}


RUN_FOLDERS_BEFORE = _run_folders()  # at collection, before any test ran: not ours to delete


def pytest_sessionfinish(session, exitstatus):
    """A green run leaves no run folders behind; after a failure they stay, with the daemons'
    logs, for a look. A folder with anything still mounted below it is never deleted."""
    if exitstatus != 0:
        return
    for folder in sorted(_run_folders() - RUN_FOLDERS_BEFORE):
        if not mounts_under(folder):
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _root_and_ovs():
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (Mininet namespaces, OVS bridges)")
    ensure_ovs()
    subprocess.run(["mn", "-c"], capture_output=True)  # leftovers of an earlier run that died
    yield
    subprocess.run(["mn", "-c"], capture_output=True)


# -- the `strata` command as a process, and what a stopped one must not leave ------------------

def bridges() -> set[str]:
    return set(subprocess.run(["ovs-vsctl", "list-br"], capture_output=True, text=True).stdout.split())


def described_tls(state: Path) -> Tls | None:
    """The operator's certificate a stack description names (None: a plaintext stack)."""
    files = json.loads(state.read_text()).get("tls")
    return Tls.load(Path(files["ca"]), Path(files["cert"]), Path(files["key"])) if files else None


def healthy(address: str, tls: Tls | None = None, server: Identity | None = None) -> bool:
    """Whether a daemon answers SERVING; with `tls` (the caller's), over mutual TLS to `server`."""
    with (open_channel(address, tls, server) if tls is not None else grpc.insecure_channel(address)) as channel:
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
    # a registry serves its configuration in the run folder; one serving another folder (a unit
    # test's, run meanwhile elsewhere on the machine) is not this stack's
    ours = (lambda line: str(workdir) in line) if workdir is not None else (lambda line: True)
    found += [f"process {line.strip()}" for line in out.splitlines()
              if "cli serve" in line or ("docker-registry serve" in line and ours(line))
              or "dataplane.registry.gate" in line
              or any(f"mininet:{s}" in line for s in spec_switches)]
    if workdir is not None:
        mounts = Path("/proc/self/mountinfo").read_text()
        found += [f"mount {line.split()[4]}" for line in mounts.splitlines() if str(workdir) in line]
        prefix = f"strata-{workdir.name.removeprefix('strata-')[:8]}-"
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        found += [f"netns {n}" for n in names.split() if n.startswith(prefix)]
    return found


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



class Running:
    """A launched topology with its SDN daemon, and helpers the tests share."""

    def __init__(self, spec, network: EdgeNetwork, workdir: Path):
        self.spec = spec
        self.network = network
        self.workdir = workdir
        self.sdn: DaemonProcess | None = None
        self.channel = grpc.insecure_channel(SDN_ADDRESS)
        self.stub = sdn_pb2_grpc.SdnServiceStub(self.channel)

    def start_sdn(self) -> None:
        self.sdn = start_sdn_daemon(self.workdir, OPENFLOW_PORT, SDN_ADDRESS)

    def wait_connected(self, timeout: float = 60) -> float:
        return wait_switches_connected(SDN_ADDRESS, len(self.spec.switches), timeout)

    def host(self, name: str):
        return self.network.net.get(name)

    def stop(self) -> None:
        self.channel.close()
        if self.sdn is not None:
            self.sdn.stop()
        self.network.stop()


def launch(name: str, tmp_path_factory, spec=None) -> Running:
    """The topology of that name from the catalogue (or `spec`, named `name`), with its SDN daemon."""
    spec = spec or load_topology(name)
    workdir = tmp_path_factory.mktemp(name.replace(":", "-"))
    try:
        network = EdgeNetwork(spec, controller=("127.0.0.1", OPENFLOW_PORT)).build()
    except Exception:  # leftovers of a test that died: clear them once and retry
        subprocess.run(["mn", "-c"], capture_output=True)
        network = EdgeNetwork(spec, controller=("127.0.0.1", OPENFLOW_PORT)).build()
    running = Running(spec, network, workdir)
    try:
        topology = network.runtime_topology()
        topology["service_range"] = SERVICE_RANGE  # the gateway: the hosts' subnet's last usable address
        (workdir / "topology.json").write_text(json.dumps(topology))
        running.start_sdn()
        network.start()
        gateway = default_gateway(ipaddress.ip_network(f"{spec.hosts[0].ip}/{HOST_PREFIX_LEN}", strict=False))
        for host in network.net.hosts:  # inside the hosts' namespaces only
            host.cmd(f"ip route replace {SERVICE_RANGE} via {gateway}")
        running.wait_connected()  # every switch connected and holding the rules it was sent
    except BaseException:
        running.stop()
        raise
    return running


@pytest.fixture(scope="module")
def tiered(tmp_path_factory):
    running = launch("edge-tiered", tmp_path_factory)
    yield running
    running.stop()


UDP_SINK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
got = 0
try:
    while True:
        s.recv(2048)
        got += 1
except socket.timeout:
    pass
print(got)
"""

UDP_SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for k in range(int(sys.argv[3])):
    s.sendto(b"x" * 200, (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.002)
"""


def wait_bound(host, port: int, protocol: str = "udp", timeout: float = 10) -> None:
    """Until a socket in the Mininet host's namespace is bound to `port`: a sink or server started
    there is ready."""
    flags = "-Hlun" if protocol == "udp" else "-Hltn"
    wait_for(lambda: host.cmd(f"ss {flags} 'sport = :{port}'").strip(), timeout,
             f"{protocol} port {port} bound on {host.name}")


def udp_delivered(sender, receiver, port: int, count: int) -> int:
    """Datagrams that reached receiver:port out of `count` sent by sender (Mininet hosts), from one
    socket (one flow)."""
    import shlex
    import sys

    sink = receiver.popen([sys.executable, "-c", UDP_SINK, str(port), "1.5"], stdout=subprocess.PIPE, text=True)
    wait_bound(receiver, port)
    sender.cmd(f"{sys.executable} -c {shlex.quote(UDP_SEND)} {receiver.IP()} {port} {count}")
    return int(sink.communicate(timeout=20)[0])
