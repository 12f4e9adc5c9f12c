"""The VNF programs on real traffic, in a lab of network namespaces (no Mininet, no Open vSwitch).

    vnflab-cli (10.213.7.1) ─┐
    vnflab-srv (10.213.7.2) ─┼─ Linux bridge vnflab-br (in namespace vnflab-sw)
    vnflab-vnf (10.213.7.3) ─┘

The client's and the server's neighbour entries for each other name the VNF's MAC, as the SDN's
steering does; the VNF (STRATA_VNF_NEXT_MAC, a lab-only setting) writes the real peer's MAC as
destination on what it passes, where the SDN's switch would. So client -> server and the replies
both cross the VNF. The program runs as containers run it: a copy of the one file, the system
python3, isolated.

This module overrides the directory's autouse `_root_and_ovs` fixture: that one starts Open
vSwitch and runs `mn -c`, which would tear down the Mininet networks other people run on this
machine; this lab needs neither.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "vnf" / "program.py"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

PREFIX = "vnflab-"
SWITCH_NS = "vnflab-sw"
BRIDGE = "vnflab-br"
NODES = {  # role -> (namespace, IPv4, MAC)
    "cli": ("vnflab-cli", "10.213.7.1", "02:76:6e:00:07:01"),
    "srv": ("vnflab-srv", "10.213.7.2", "02:76:6e:00:07:02"),
    "vnf": ("vnflab-vnf", "10.213.7.3", "02:76:6e:00:07:03"),
}
CLI_IP, SRV_IP, VNF_IP = (NODES[r][1] for r in ("cli", "srv", "vnf"))
METRICS_PORT = 9100
UDP_FRAME_OVERHEAD = 14 + 20 + 8  # Ethernet + IPv4 + UDP headers: what the VNF counts beyond the payload

# Traffic tools run inside the namespaces with the system python (one file, written per test run).
TOOLS = r'''
import hashlib, json, socket, struct, sys, time

def udp_recv(port, seconds, idle):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", int(port)))
    print("ready", flush=True)
    deadline = time.monotonic() + float(seconds)
    count = size = 0; first = last = None; digest = hashlib.sha256()
    while time.monotonic() < deadline:
        s.settimeout(float(idle) if count else max(0.01, deadline - time.monotonic()))
        try:
            data = s.recv(65536)
        except socket.timeout:
            if count:
                break
            continue
        now = time.monotonic()
        first = first or now; last = now
        count += 1; size += len(data); digest.update(data)
    print(json.dumps({"packets": count, "bytes": size, "sha256": digest.hexdigest(),
                      "seconds": (last - first) if count > 1 else 0.0}), flush=True)

def payload(seq, size):
    head = struct.pack("!I", seq)
    return (head * (size // 4 + 1))[:size]

def udp_send(dst, port, count, size, pps):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    count, size, pps = int(count), int(size), float(pps)
    digest = hashlib.sha256(); start = time.monotonic()
    for seq in range(count):
        data = payload(seq, size); digest.update(data)
        if pps:
            delay = start + seq / pps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        s.sendto(data, (dst, int(port)))
    print(json.dumps({"sent": count, "sha256": digest.hexdigest(),
                      "seconds": time.monotonic() - start}), flush=True)

def tcp_listen(port, seconds):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port))); s.listen(16); s.settimeout(0.1)
    print("ready", flush=True)
    accepted = 0; deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            c, _ = s.accept(); accepted += 1; c.close()
        except socket.timeout:
            pass
    print(json.dumps({"accepted": accepted}), flush=True)

def tcp_echo_client(dst, port, size, timeout):
    data = bytes(range(256)) * (int(size) // 256)
    s = socket.create_connection((dst, int(port)), timeout=float(timeout))
    s.sendall(data); s.shutdown(socket.SHUT_WR)
    back = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        back += chunk
    print(json.dumps({"sent": len(data), "identical": bytes(back) == data}), flush=True)

def raw_flood(iface, dst_mac, src_mac, src, dst, port, seconds):
    mac = lambda t: bytes(int(x, 16) for x in t.split(":"))
    body = struct.pack("!HHHH", 40000, int(port), 8 + 18, 0) + bytes(18)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    total = 0
    for i in range(0, 20, 2):
        total += (ip[i] << 8) | ip[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    ip = ip[:10] + struct.pack("!H", ~total & 0xFFFF) + ip[12:]
    frame = mac(dst_mac) + mac(src_mac) + b"\x08\x00" + ip + body
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    send = s.send; sent = 0; deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        for _ in range(256):
            try:
                send(frame); sent += 1
            except OSError:
                pass
    print(json.dumps({"sent": sent, "frame_bytes": len(frame)}), flush=True)

globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
'''

ECHO_SERVER = r'''
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
def serve(c):
    with c:
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(data)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


@pytest.fixture(scope="module", autouse=True)
def _root_and_ovs():
    """Overrides the directory's fixture of the same name (which starts OVS and runs `mn -c`)."""
    if os.geteuid() != 0:
        pytest.skip("the VNF lab needs root (network namespaces, raw sockets)")
    for tool in ("ip", "ethtool", "curl", "ping"):
        if shutil.which(tool) is None:
            pytest.skip(f"the VNF lab needs {tool}")
    yield


def sh(*argv: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def in_ns(role: str, *argv: str, **kwargs) -> subprocess.CompletedProcess:
    return sh("ip", "netns", "exec", NODES[role][0], *argv, **kwargs)


def lab_namespaces() -> list[str]:
    listing = sh("ip", "netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listing if line.startswith(PREFIX)]


def teardown_lab() -> None:
    # Only what this lab names: the veths and the bridge live in these namespaces and go with them.
    for name in lab_namespaces():
        sh("ip", "netns", "del", name, check=False)


def build_lab() -> None:
    teardown_lab()  # leftovers of a run that was killed
    for namespace in [SWITCH_NS] + [ns for ns, _, _ in NODES.values()]:
        sh("ip", "netns", "add", namespace)
    sh("ip", "-n", SWITCH_NS, "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "-n", SWITCH_NS, "link", "set", BRIDGE, "up")
    for role, (namespace, ip, mac) in NODES.items():
        port = f"{PREFIX}{role}"
        sh("ip", "-n", SWITCH_NS, "link", "add", port, "type", "veth", "peer", "name", "eth0",
           "netns", namespace)
        sh("ip", "-n", SWITCH_NS, "link", "set", port, "master", BRIDGE, "up")
        sh("ip", "-n", namespace, "link", "set", "eth0", "address", mac)
        sh("ip", "-n", namespace, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", namespace, "link", "set", "lo", "up")
        sh("ip", "-n", namespace, "link", "set", "eth0", "up")
        # Checksum offload off as the project does for hosts; segmentation and GRO off too, so
        # every frame the VNF reads is one it can send back within the MTU.
        for ns, dev in ((namespace, "eth0"), (SWITCH_NS, port)):
            sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "rx", "off",
               "tso", "off", "gso", "off", "gro", "off", check=False)
    # The steering: each side's frames for the other go to the VNF's MAC.
    vnf_mac = NODES["vnf"][2]
    sh("ip", "-n", NODES["cli"][0], "neigh", "replace", SRV_IP, "lladdr", vnf_mac, "dev", "eth0",
       "nud", "permanent")
    sh("ip", "-n", NODES["srv"][0], "neigh", "replace", CLI_IP, "lladdr", vnf_mac, "dev", "eth0",
       "nud", "permanent")


class Lab:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        program = workdir / "opt" / "strata" / "vnf.py"
        program.parent.mkdir(parents=True)
        shutil.copy(PROGRAM, program)
        self.program = program
        self.tools = workdir / "tools.py"
        self.tools.write_text(TOOLS)
        self.echo = workdir / "echo.py"
        self.echo.write_text(ECHO_SERVER)
        self.vnf: subprocess.Popen | None = None

    # -- processes (each stopped by its pid)

    def spawn(self, role: str, argv: list[str], env: dict | None = None, log: str | None = None) -> subprocess.Popen:
        stderr = open(self.workdir / log, "w") if log else subprocess.DEVNULL
        process = subprocess.Popen(["ip", "netns", "exec", NODES[role][0], *argv], env=env,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 5) -> int:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def stop_all(self) -> None:
        for process in self.processes:
            self.stop(process)

    def tool(self, role: str, *args: str, timeout: float = 30) -> dict:
        result = in_ns(role, PYTHON, "-I", str(self.tools), *args, timeout=timeout)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def background_tool(self, role: str, *args: str) -> subprocess.Popen:
        process = self.spawn(role, [PYTHON, "-I", str(self.tools), *args])
        assert process.stdout.readline().strip() == "ready"
        return process

    @staticmethod
    def result_of(process: subprocess.Popen, timeout: float = 15) -> dict:
        out, _ = process.communicate(timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    # -- the VNF

    def start_vnf(self, kind: str, config: dict | None) -> subprocess.Popen:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "STRATA_VNF_KIND": kind, "STRATA_VNF_NAME": f"lab-{kind}",
               "STRATA_VNF_METRICS_PORT": str(METRICS_PORT),
               "STRATA_VNF_NEXT_MAC": f"{SRV_IP}={NODES['srv'][2]},{CLI_IP}={NODES['cli'][2]}"}
        if config is not None:
            env["STRATA_VNF_CONFIG"] = json.dumps(config)
        self.vnf = self.spawn("vnf", [PYTHON, "-I", str(self.program)], env=env, log=f"vnf-{kind}.log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.vnf.poll() is not None:
                raise AssertionError(f"the VNF exited {self.vnf.returncode}: {self.vnf_log(kind)}")
            if in_ns("vnf", "curl", "-sf", "--max-time", "1", f"http://127.0.0.1:{METRICS_PORT}/healthz",
                     check=False).returncode == 0:
                return self.vnf
            time.sleep(0.05)
        raise AssertionError(f"the VNF never answered /healthz: {self.vnf_log(kind)}")

    def stop_vnf(self) -> int:
        code = self.stop(self.vnf)
        self.vnf = None
        return code

    def vnf_log(self, kind: str) -> str:
        return (self.workdir / f"vnf-{kind}.log").read_text()

    def stats(self) -> dict:
        # From the client across the bridge to the VNF's own address: its own traffic, which the
        # program must leave to its kernel.
        result = in_ns("cli", "curl", "-sf", "--max-time", "3", f"http://{VNF_IP}:{METRICS_PORT}/stats")
        return json.loads(result.stdout)

    def metrics(self) -> str:
        return in_ns("cli", "curl", "-sf", "--max-time", "3", f"http://{VNF_IP}:{METRICS_PORT}/metrics").stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vnflab")
    lab = None
    try:
        build_lab()
        lab = Lab(workdir)
        yield lab
    finally:
        if lab is not None:
            lab.stop_all()
        teardown_lab()
        assert not lab_namespaces(), "the lab's namespaces outlived it"


@pytest.fixture
def http_server(lab):
    folder = lab.workdir / "www"
    folder.mkdir(exist_ok=True)
    blob = os.urandom(1 << 20)
    (folder / "blob").write_bytes(blob)
    server = lab.spawn("srv", [PYTHON, "-I", "-m", "http.server", "8000", "--bind", SRV_IP,
                               "--directory", str(folder)])
    for _ in range(100):  # listening once a local request is answered
        if in_ns("srv", "curl", "-sf", "--max-time", "1", "-o", "/dev/null",
                 f"http://{SRV_IP}:8000/blob", check=False).returncode == 0:
            break
        time.sleep(0.05)
    yield blob
    lab.stop(server)


def curl_blob(lab: Lab, timeout: float = 10) -> tuple[int, bytes]:
    out = lab.workdir / "downloaded"
    out.unlink(missing_ok=True)
    result = in_ns("cli", "curl", "-s", "--connect-timeout", "2", "--max-time", str(timeout), "-o", str(out),
                   f"http://{SRV_IP}:8000/blob", check=False, timeout=timeout + 5)
    return result.returncode, out.read_bytes() if out.exists() else b""


FIREWALL = {
    "default": "deny",
    "rules": [
        {"name": "web", "protocol": "tcp", "src_cidr": f"{CLI_IP}/32", "dst_port": 8000, "action": "allow"},
        {"name": "echo", "protocol": "tcp", "dst_cidr": "10.213.7.0/24", "dst_port": "7000-7010", "action": "allow"},
        {"name": "ping", "protocol": "icmp", "action": "allow"},
        {"name": "no-udp-5k", "protocol": "udp", "dst_port": "5000-5010", "action": "deny"},
        {"name": "udp", "protocol": "udp", "dst_cidr": f"{SRV_IP}/32", "action": "allow"},
    ],
    "idle_timeout": 30,
}


def test_firewall_allows_denies_and_passes_replies(lab, http_server):
    # The namespace forwards: the program must turn that off before it forwards itself.
    in_ns("vnf", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    lab.start_vnf("firewall", FIREWALL)
    assert in_ns("vnf", "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    assert "set to 0" in lab.vnf_log("firewall")

    # ICMP: allowed by rule "ping" both ways.
    ping = in_ns("cli", "ping", "-c", "3", "-i", "0.2", "-W", "2", SRV_IP, check=False)
    assert ping.returncode == 0, ping.stdout

    # TCP 8000 allowed; the server's replies match no rule (default deny) and pass as established.
    code, body = curl_blob(lab)
    assert code == 0 and hashlib.sha256(body).digest() == hashlib.sha256(http_server).digest()

    # TCP echo: the payload comes back byte-identical both ways.
    echo = lab.spawn("srv", [PYTHON, "-I", str(lab.echo), "7005"])
    assert echo.stdout.readline().strip() == "ready"
    assert lab.tool("cli", "tcp-echo-client", SRV_IP, "7005", str(256 * 1024), "5") == \
        {"sent": 256 * 1024, "identical": True}
    lab.stop(echo)

    # UDP 6000 allowed (rule "udp"): every datagram arrives, byte-identical.
    receiver = lab.background_tool("srv", "udp-recv", "6000", "5", "0.5")
    sent = lab.tool("cli", "udp-send", SRV_IP, "6000", "100", "1200", "2000")
    got = lab.result_of(receiver)
    assert got["packets"] == 100 and got["sha256"] == sent["sha256"]

    # UDP 5005 denied (rule "no-udp-5k" before "udp"): nothing arrives.
    receiver = lab.background_tool("srv", "udp-recv", "5005", "1.0", "0.5")
    lab.tool("cli", "udp-send", SRV_IP, "5005", "50", "100", "1000")
    assert lab.result_of(receiver)["packets"] == 0

    # TCP 9000 matches no rule: default deny, the listener never sees a connection.
    listener = lab.background_tool("srv", "tcp-listen", "9000", "2.5")
    refused = in_ns("cli", "curl", "-s", "--connect-timeout", "1.5", f"http://{SRV_IP}:9000/", check=False)
    assert refused.returncode == 28  # timed out: the SYN was dropped (no RST came back either)
    assert lab.result_of(listener)["accepted"] == 0

    stats = lab.stats()
    hits = {rule["name"]: rule["hits"] for rule in stats["firewall"]["rules"]}
    assert hits["ping"] >= 3 and hits["web"] > 0 and hits["echo"] > 0
    assert hits["udp"] == 100 and hits["no-udp-5k"] == 50
    assert stats["firewall"]["established_hits"] > 0   # the replies
    assert stats["firewall"]["default_hits"] >= 1      # the SYN(s) to 9000
    assert stats["packets"]["dropped"] >= 51
    assert stats["packets"]["seen"] == stats["packets"]["passed"] + stats["packets"]["dropped"]
    assert stats["ignored_frames"] > 0                 # the scrapes to the VNF's own address
    text = lab.metrics()
    assert 'strata_vnf_packets_total{kind="firewall",verdict="drop"}' in text
    assert 'strata_vnf_rule_hits_total{kind="firewall",rule="3",name="no-udp-5k",action="deny"} 50' in text
    assert lab.stop_vnf() == 0


def test_stateless_firewall_drops_replies(lab, http_server):
    lab.start_vnf("firewall", {**FIREWALL, "stateful": False})
    code, body = curl_blob(lab, timeout=3)
    assert code != 0 and not body       # the SYN passes, the SYN-ACK meets the default deny
    stats = lab.stats()
    assert stats["firewall"]["established_hits"] == 0 and stats["firewall"]["default_hits"] > 0
    assert lab.stop_vnf() == 0


def test_monitor_counts_exactly(lab):
    lab.start_vnf("monitor", {"idle_timeout": 60})
    receiver = lab.background_tool("srv", "udp-recv", "6000", "5", "0.5")
    sent = lab.tool("cli", "udp-send", SRV_IP, "6000", "200", "500", "4000")
    got = lab.result_of(receiver)
    assert got["packets"] == 200 and got["sha256"] == sent["sha256"]
    ping = in_ns("cli", "ping", "-c", "3", "-i", "0.2", "-W", "2", SRV_IP, check=False)
    assert ping.returncode == 0, ping.stdout

    stats = lab.stats()
    assert stats["packets"] == {"seen": 206, "passed": 206, "dropped": 0, "malformed": 0}
    assert stats["bytes"]["passed"] == 200 * (500 + UDP_FRAME_OVERHEAD) + 6 * (14 + 20 + 64)
    assert stats["flows"]["total"] == 2                 # the UDP flow, the ping (both ways one flow)
    assert stats["directions"]["forward"]["packets"] == 203
    assert stats["directions"]["reverse"]["packets"] == 3
    assert 'strata_vnf_packets_total{kind="monitor",verdict="pass"} 206' in lab.metrics()
    assert lab.stop_vnf() == 0


def test_ratelimit_caps_a_udp_flood(lab):
    rate_mbps = 8.0
    lab.start_vnf("ratelimit", {"rate_mbps": rate_mbps, "burst_kbytes": 16})
    receiver = lab.background_tool("srv", "udp-recv", "6000", "8", "0.5")
    # About 3 times the rate: 3000 datagrams/s of 1000 bytes (1042-byte frames) for 2.5 s.
    sent = lab.tool("cli", "udp-send", SRV_IP, "6000", "7500", "1000", "3000")
    got = lab.result_of(receiver)
    offered = sent["sent"] * (1000 + UDP_FRAME_OVERHEAD) * 8 / sent["seconds"] / 1e6
    measured = (got["packets"] - 1) * (1000 + UDP_FRAME_OVERHEAD) * 8 / got["seconds"] / 1e6
    print(f"\nratelimit {rate_mbps} Mbit/s: offered {offered:.1f} Mbit/s, arrived {measured:.2f} Mbit/s "
          f"({got['packets']} of {sent['sent']} datagrams)")
    assert offered > 2 * rate_mbps
    assert abs(measured - rate_mbps) / rate_mbps < 0.15
    stats = lab.stats()
    assert stats["packets"]["passed"] == got["packets"]
    assert stats["packets"]["dropped"] == sent["sent"] - got["packets"]
    assert lab.stop_vnf() == 0


@pytest.mark.parametrize("kind,config", [("monitor", None), ("firewall", FIREWALL)])
def test_throughput(lab, kind, config):
    """Packets per second the program forwards: a raw flood of minimum-size frames at the VNF (the
    firewall's UDP frames match its fifth rule, after four that do not)."""
    lab.start_vnf(kind, config)
    before = lab.stats()
    started = time.monotonic()
    flood = lab.tool("cli", "raw-flood", "eth0", NODES["vnf"][2], NODES["cli"][2], CLI_IP, SRV_IP, "9", "3",
                     timeout=20)
    after = lab.stats()
    elapsed = time.monotonic() - started
    passed = after["packets"]["passed"] - before["packets"]["passed"]
    pps = passed / elapsed
    print(f"\n{kind} forwarded {passed} frames of {flood['frame_bytes']} bytes in {elapsed:.2f} s: "
          f"{pps:,.0f} packets/s (offered {flood['sent'] / 3:,.0f}/s, "
          f"kernel queue drops {after['queue_drops'] - before['queue_drops']})")
    assert after["send_errors"] == 0
    assert pps > 2000
    assert lab.stop_vnf() == 0
