"""VNF chains for real: the SDN steers classified traffic through real VNF programs (a firewall
and a monitor, one-armed on their hosts' interfaces) on the default edge network, to a host and
to a service VIP, replies back through them; blocked traffic never arrives; removing the chain
restores direct forwarding."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from strata.v1 import common_pb2, sdn_pb2

from conftest import launch, udp_delivered, wait_for

ROOT = Path(__file__).resolve().parents[2]
VNF = ROOT / "programs" / "vnf" / "program.py"
FIREWALL = {"default": "allow", "rules": [{"protocol": "udp", "dst_port": 9999, "action": "deny"}]}
VIP = "10.96.0.50"

@pytest.fixture(scope="module")
def net(tmp_path_factory):
    running = launch("edge-tiered", tmp_path_factory)
    procs = []
    try:
        root = running.workdir / "www"
        root.mkdir()
        (root / "whoami").write_text("edge4")
        server = running.host("edge4")
        procs.append(server.popen(["python3", "-m", "http.server", "8080", "--bind", server.IP(),
                                   "--directory", str(root)]))
        running.vnfs = {}

        def start_vnf(host, kind, config):
            old = running.vnfs.pop(host, None)
            if old is not None:
                old.terminate()
                old.wait(timeout=10)
            h = running.host(host)
            running.vnfs[host] = h.popen([sys.executable, str(VNF)], env={
                "STRATA_VNF_KIND": kind, "STRATA_VNF_CONFIG": json.dumps(config), "STRATA_VNF_NAME": host,
                "STRATA_VNF_INTERFACE": h.defaultIntf().name, "PATH": "/usr/bin:/bin"})
            wait_for(lambda: h.cmd(f"curl -s --max-time 1 http://{h.IP()}:9100/healthz").strip(), 10,
                     f"the {kind} on {host}")

        running.start_vnf = start_vnf
        start_vnf("edge3", "firewall", FIREWALL)
        start_vnf("edge5", "monitor", {})
        wait_for(lambda: server.cmd(f"curl -s --max-time 1 http://{server.IP()}:8080/whoami").strip() == "edge4", 10,
                 "the HTTP server")
        yield running
    finally:
        for proc in procs + list(getattr(running, "vnfs", {}).values()):
            proc.terminate()
        running.stop()


def stats(net, host: str) -> dict:
    h = net.host(host)
    return json.loads(h.cmd(f"curl -s --max-time 3 http://{h.IP()}:9100/stats"))


def chain(net, name, dst_cidr, **classifier):
    return net.stub.InstallChain(sdn_pb2.InstallChainRequest(
        chain=name, classifier=sdn_pb2.Classifier(dst_cidr=dst_cidr, **classifier),
        hops=[sdn_pb2.ChainHop(host="edge3"), sdn_pb2.ChainHop(host="edge5")], symmetric=True), timeout=20)


def settled(read, what: str):
    """The counters once they stopped moving (a VNF's loop counts as the packets pass)."""
    last = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        now = read()
        if now == last:
            return now
        last = now
        time.sleep(0.3)
    raise AssertionError(f"{what} kept changing")


def udp(net, dst_host: str, port: int, count: int) -> int:
    """Datagrams that reached dst_host:port out of `count` sent from dev1."""
    return udp_delivered(net.host("dev1"), net.host(dst_host), port, count)


def test_traffic_goes_through_the_chain_both_ways_and_blocked_traffic_never_arrives(net):
    chain(net, "guard", f"{net.host('edge4').IP()}/32")
    before = settled(lambda: stats(net, "edge5")["directions"], "the monitor")
    out = net.host("dev1").cmd(f"curl -s --max-time 5 http://{net.host('edge4').IP()}:8080/whoami").strip()
    assert out == "edge4"
    after = settled(lambda: stats(net, "edge5")["directions"], "the monitor")
    assert after["forward"]["packets"] > before["forward"]["packets"]   # the request's packets
    assert after["reverse"]["packets"] > before["reverse"]["packets"]   # and the answer's: symmetric
    fw = stats(net, "edge3")
    assert fw["packets"]["passed"] >= after["forward"]["packets"] - before["forward"]["packets"]
    # UDP: 9998 passes the firewall, 9999 is dropped by it and never arrives
    mon_before = settled(lambda: stats(net, "edge5")["packets"]["passed"], "the monitor")
    assert udp(net, "edge4", 9998, 50) == 50
    assert udp(net, "edge4", 9999, 50) == 0
    mon_after = settled(lambda: stats(net, "edge5")["packets"]["passed"], "the monitor")
    assert mon_after - mon_before == 50  # the monitor counted exactly what passed the firewall
    assert stats(net, "edge3")["packets"]["dropped"] >= 50
    net.stub.RemoveChain(sdn_pb2.RemoveChainRequest(chain="guard"), timeout=20)


def test_a_service_behind_the_chain_answers_as_its_vip_through_the_vnfs(net):
    # a stateful firewall that denies by default and allows the service's instances' port: the
    # answers pass because the chain shows it one connection both ways (client and instance)
    net.start_vnf("edge3", "firewall", {"default": "deny", "stateful": True,
                                        "rules": [{"protocol": "tcp", "dst_port": 8080, "action": "allow"}]})
    net.stub.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
        service="shop", vip=VIP, protocol=common_pb2.PROTOCOL_TCP, port=80,
        endpoints=[common_pb2.Endpoint(host="edge4", port=8080, weight=1)]), timeout=20)
    chain(net, "shop-guard", f"{VIP}/32", dst_port=80)
    before = settled(lambda: stats(net, "edge5")["directions"], "the monitor")
    for client in ("dev1", "dev3", "dev6"):
        assert net.host(client).cmd(f"curl -s --max-time 5 http://{VIP}/whoami").strip() == "edge4", client
    after = settled(lambda: stats(net, "edge5")["directions"], "the monitor")
    # the monitor saw each connection as one flow, both ways (the client and the instance)
    assert after["forward"]["packets"] - before["forward"]["packets"] >= 3 * 3  # at least SYN, request, ACKs
    assert after["reverse"]["packets"] - before["reverse"]["packets"] >= 3 * 2  # SYN-ACK, answer
    assert net.host("dev1").cmd(f"curl -s --max-time 3 http://{net.host('edge4').IP()}:8080/whoami").strip() \
        == "edge4"  # not through the chain: the classifier names the VIP
    net.stub.RemoveChain(sdn_pb2.RemoveChainRequest(chain="shop-guard"), timeout=20)
    net.stub.RemoveServiceRoute(sdn_pb2.RemoveServiceRouteRequest(service="shop"), timeout=20)
    net.start_vnf("edge3", "firewall", FIREWALL)


def test_without_the_chain_traffic_flows_directly(net):
    before = settled(lambda: stats(net, "edge5")["packets"]["seen"], "the monitor")
    assert net.host("dev1").cmd(f"curl -s --max-time 5 http://{net.host('edge4').IP()}:8080/whoami").strip() == "edge4"
    assert udp(net, "edge4", 9999, 20) == 20  # the firewall is out of the path
    assert settled(lambda: stats(net, "edge5")["packets"]["seen"], "the monitor") == before
    listed = net.stub.ListChains(sdn_pb2.ListInstalledChainsRequest(), timeout=10)
    assert not listed.chains
