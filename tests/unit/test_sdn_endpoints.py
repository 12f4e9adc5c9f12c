"""Attached endpoints (pods) through controller.sdn.core.SdnCore, a real SdnStore and fake switches:
every host reaches an attached pod and the controller answers ARP for it; refused attachments change
nothing; re-attaching is idempotent or replaces; detaching stops the forwarding; pods survive a
restart; service routes and reserved paths over pods follow them. Then the rpcs over a real gRPC
channel, and `strata sdn endpoints`."""

from __future__ import annotations

import json
from fractions import Fraction

import grpc
import pytest
from strata.v1 import common_pb2, sdn_pb2, sdn_pb2_grpc

import cli
from component_base.errors import AlreadyExists, InvalidArgument, NotFound
from component_base.rpc import create_server
from controller.sdn import servicer
from controller.sdn.core import SdnCore
from controller.sdn.model import AttachedEndpoint
from controller.sdn.network import POD, NetworkView, hosts_subnet
from controller.sdn.store import SdnStore
from flow_table_sim import (CONTROLLER, DELIVERED, DROPPED, answer, arp_request, by_hash, ip_packet, shares,
                            to_host)
from test_sdn_core import (RING, THIN, VIP, assert_all_pairs_delivered, assert_switches_hold_desired, eps,
                           request, start)

# two pods on s3 (whose host ports are 3 and 4: h3 and web1), one on s4
POD_A = AttachedEndpoint("web1/a", "10.0.128.2", "02:00:0a:00:80:02", "s3", 20, "web1")
POD_B = AttachedEndpoint("web1/b", "10.0.128.3", "02:00:0a:00:80:03", "s3", 21, "web1")
POD_C = AttachedEndpoint("web3/c", "10.0.129.2", "02:00:0a:00:81:02", "s4", 20, "web3")


def attach(net, endpoint: AttachedEndpoint, **changes):
    fields = {**endpoint.__dict__, **changes}
    return net.core.attach_endpoint(**fields)


def dpid(net, switch: str) -> int:
    return net.view.switch_dpid(switch)


@pytest.fixture
def net(tmp_path):
    n = start(RING, tmp_path / "sdn.db")
    yield n
    n.store.close()


def everyone_reaches(net, target: str) -> None:
    dp = net.dp()
    for src in net.view.hosts:
        if src != target:
            c = dp.send_one(src, to_host(net.h(src), net.h(target)))
            assert (c.fate, c.host) == (DELIVERED, target), f"{src} -> {target}: {c}"


def nobody_reaches(net, ip: str, mac: str) -> None:
    dp = net.dp()
    for src in net.view.hosts:
        c = dp.send_one(src, ip_packet(net.h(src), ip, mac))
        assert c.fate == DROPPED, f"{src} -> {ip}: {c}"


# ------------------------------------------------------------------------------------------------
# forwarding and ARP

def test_an_attached_pod_is_reached_from_every_host_and_reaches_them(net):
    before = len(net.sb.calls)
    got = attach(net, POD_A)
    assert got == POD_A
    assert net.sb.calls[before:], "nothing sent to the switches"
    pod = net.h("web1/a")
    assert (pod.ip, pod.mac, pod.dpid, pod.port, pod.role, pod.node) == \
        (POD_A.ip, POD_A.mac, dpid(net, "s3"), 20, POD, "web1")
    assert_switches_hold_desired(net)
    assert_all_pairs_delivered(net)  # every host to the pod, the pod to every host, and the rest as before
    c = net.dp().send_one("h1", to_host(net.h("h1"), pod))
    assert (c.hops[-1].dpid, c.hops[-1].out_port) == (dpid(net, "s3"), 20)  # out of the pod's veth


def test_pods_reach_each_other_on_the_same_switch_and_across(net):
    for p in (POD_A, POD_B, POD_C):
        attach(net, p)
    assert_switches_hold_desired(net)
    assert_all_pairs_delivered(net)
    c = net.dp().send_one("web1/a", to_host(net.h("web1/a"), net.h("web1/b")))
    assert c.switches == [dpid(net, "s3")]


def test_arp_for_a_pod_goes_to_the_controller_which_answers_until_it_is_detached(tmp_path):
    view = NetworkView.from_declared(RING)
    core = SdnCore(view, SdnStore(tmp_path / "sdn.db"))  # its ARP answer; no switch is connected
    core.attach_endpoint(**POD_A.__dict__)
    assert core.arp_answer(POD_A.ip) == POD_A.mac
    assert core.arp_answer(view.hosts["h1"].ip) == view.hosts["h1"].mac  # declared hosts as before
    core.detach_endpoint(POD_A.name)
    assert core.arp_answer(POD_A.ip) is None
    core.store.close()


def test_arp_from_and_to_a_pod_is_punted_at_the_first_switch(net):
    attach(net, POD_A)
    dp = net.dp()
    for src in ("h1", "h4", "web1/a"):
        target = POD_A.ip if src != "web1/a" else net.h("h1").ip
        c = dp.send_one(src, arp_request(net.h(src), target))
        assert (c.fate, c.dpid) == (CONTROLLER, net.h(src).dpid), f"ARP from {src}: {c}"


def test_a_pod_is_seen_from_its_own_traffic_but_not_moved_by_it(net):
    attach(net, POD_A)
    assert not net.h("web1/a").seen
    net.core.host_seen(POD_A.mac, POD_A.ip, dpid(net, "s3"), 20)
    assert net.h("web1/a").seen
    before = len(net.sb.calls)
    net.core.host_seen(POD_A.mac, POD_A.ip, dpid(net, "s1"), 30)  # a stale or forged source elsewhere
    assert (net.h("web1/a").dpid, net.h("web1/a").port) == (dpid(net, "s3"), 20)
    assert len(net.sb.calls) == before
    everyone_reaches(net, "web1/a")


# ------------------------------------------------------------------------------------------------
# validation

BAD_ATTACHES = {
    "name empty": (InvalidArgument, dict(name="")),
    "node empty": (InvalidArgument, dict(node="")),
    "ip malformed": (InvalidArgument, dict(ip="10.0.128")),
    "ip empty": (InvalidArgument, dict(ip="")),
    "ip outside the hosts' subnet": (InvalidArgument, dict(ip="10.1.0.5")),
    "ip the subnet's network address": (InvalidArgument, dict(ip="10.0.0.0")),
    "ip the subnet's broadcast address": (InvalidArgument, dict(ip="10.0.255.255")),
    "ip a service VIP": (InvalidArgument, dict(ip=VIP)),
    "mac malformed": (InvalidArgument, dict(mac="02:00:0a:00:80")),
    "mac not hex": (InvalidArgument, dict(mac="02:00:0a:00:80:zz")),
    "mac multicast": (InvalidArgument, dict(mac="01:00:5e:00:00:01")),
    "mac broadcast": (InvalidArgument, dict(mac="ff:ff:ff:ff:ff:ff")),
    "mac zero": (InvalidArgument, dict(mac="00:00:00:00:00:00")),
    "port 0": (InvalidArgument, dict(port=0)),
    "port beyond OpenFlow's": (InvalidArgument, dict(port=0xFFFFFFFF)),
    "unknown switch": (NotFound, dict(switch="s9")),
    "unknown node": (NotFound, dict(node="nosuchhost")),
    "node is a pod": (NotFound, dict(node="web1/a")),
    "name of a declared host": (AlreadyExists, dict(name="h1")),
    "ip of a declared host": (AlreadyExists, dict(ip="10.0.0.1")),
    "ip of another pod": (AlreadyExists, dict(ip=POD_A.ip)),
    "mac of a declared host": (AlreadyExists, dict(mac="00:00:00:00:00:03")),
    "mac of another pod (other case)": (AlreadyExists, dict(mac=POD_A.mac.upper())),
    "port of a switch-to-switch link": (AlreadyExists, dict(switch="s3", port=1)),
    "port of a declared host": (AlreadyExists, dict(switch="s3", port=3)),
    "port of another pod": (AlreadyExists, dict(switch="s3", port=20)),
}


@pytest.mark.parametrize("case", BAD_ATTACHES)
def test_a_refused_attachment_changes_nothing(net, case):
    error, changes = BAD_ATTACHES[case]
    attach(net, POD_A)
    net.core.install_route("web", VIP, "tcp", 80, eps(("web1/a", 1)))
    before = (net.state(), net.core.list_endpoints(), net.store.endpoints(), dict(net.view.hosts))
    with pytest.raises(error):
        attach(net, POD_B, **changes)
    assert (net.state(), net.core.list_endpoints(), net.store.endpoints(), dict(net.view.hosts)) == before
    assert_switches_hold_desired(net)


def test_a_declared_subnet_bounds_the_pod_addresses(tmp_path):
    topo = {**RING, "subnet": "10.0.0.0/24"}
    n = start(topo, tmp_path / "sdn.db")
    try:
        with pytest.raises(InvalidArgument):
            attach(n, POD_A)  # 10.0.128.2 is in the /16 but not in the declared /24
        attach(n, POD_A, ip="10.0.0.200")
        everyone_reaches(n, "web1/a")
    finally:
        n.store.close()


@pytest.mark.parametrize("ips, subnet", [
    (["10.0.0.1", "10.0.0.7"], "10.0.0.0/16"),     # at least the /16 the launcher configures
    (["10.0.0.1", "10.0.3.250"], "10.0.0.0/16"),
    (["10.0.0.1", "10.1.0.1"], "10.0.0.0/15"),     # wider when the hosts span more
    (["192.168.7.9"], "192.168.0.0/16"),
])
def test_without_a_declared_subnet_the_hosts_give_it(ips, subnet):
    assert str(hosts_subnet(ips)) == subnet


def test_the_fallback_subnet_is_used_when_none_is_declared():
    assert "subnet" not in RING
    assert str(NetworkView.from_declared(RING).subnet) == "10.0.0.0/16"


# ------------------------------------------------------------------------------------------------
# re-attaching and detaching

def test_the_same_attachment_again_changes_nothing(net):
    attach(net, POD_A)
    before = (net.state(), net.store.endpoints(), net.view.version)
    assert attach(net, POD_A) == POD_A
    assert attach(net, POD_A, mac=POD_A.mac.upper()) == POD_A  # the same MAC written otherwise
    assert (net.state(), net.store.endpoints(), net.view.version) == before


def test_another_attachment_under_the_same_name_replaces_the_pod(net):
    attach(net, POD_A)
    moved = attach(net, POD_A, ip="10.0.128.9", mac="02:00:0a:00:80:09", switch="s1", port=22)
    assert net.core.list_endpoints() == [moved]
    assert net.store.endpoints() == [moved]
    assert (net.h("web1/a").dpid, net.h("web1/a").port) == (dpid(net, "s1"), 22)
    assert_switches_hold_desired(net)
    everyone_reaches(net, "web1/a")
    nobody_reaches(net, POD_A.ip, POD_A.mac)  # the old address leads nowhere now
    attach(net, POD_B, switch="s3", port=20, ip=POD_A.ip, mac=POD_A.mac)  # the old port and address are free
    assert_all_pairs_delivered(net)


def test_detach_stops_the_forwarding_and_frees_the_name(net):
    attach(net, POD_A)
    attach(net, POD_C)
    net.core.detach_endpoint(POD_A.name)
    assert [e.name for e in net.core.list_endpoints()] == [POD_C.name]
    assert [e.name for e in net.store.endpoints()] == [POD_C.name]
    assert "web1/a" not in net.view.hosts
    assert_switches_hold_desired(net)
    assert all(f.match != (("eth_type", 0x0800), ("ipv4_dst", POD_A.ip))
               for sw in net.sb.switches.values() for f in sw.flows.values())
    nobody_reaches(net, POD_A.ip, POD_A.mac)
    assert_all_pairs_delivered(net)  # the rest, POD_C included, as before
    with pytest.raises(NotFound):
        net.core.detach_endpoint(POD_A.name)
    with pytest.raises(NotFound):
        net.core.detach_endpoint("h1")  # a declared host is not an attached endpoint
    attach(net, POD_A)
    everyone_reaches(net, "web1/a")


# ------------------------------------------------------------------------------------------------
# restarts

def test_attached_pods_survive_a_restart(net):
    for p in (POD_A, POD_B, POD_C):
        attach(net, p)
    net.core.detach_endpoint(POD_B.name)
    desired = net.core.desired()
    again = net.restart()
    try:
        assert again.core.list_endpoints() == [POD_A, POD_C]
        assert again.h("web3/c").role == POD
        assert again.core.desired() == desired
        assert_switches_hold_desired(again)
        everyone_reaches(again, "web1/a")
        everyone_reaches(again, "web3/c")
        nobody_reaches(again, POD_B.ip, POD_B.mac)
        assert attach(again, POD_A) == POD_A  # the agent retrying after the restart
    finally:
        again.store.close()


def test_a_restart_on_another_topology_drops_the_pods_that_no_longer_fit(net):
    attach(net, POD_A)                                           # on s3: THIN has s3
    attach(net, POD_C)                                           # on s4: THIN has none
    attach(net, AttachedEndpoint("h2/d", "10.0.130.2", "02:00:0a:00:82:02", "s2", 20, "h2"))
    net.store.close()
    other = start(THIN, net.db)
    try:
        assert [e.name for e in other.core.list_endpoints()] == ["h2/d"]  # web1 (POD_A's node) is gone too
        assert [e.name for e in other.store.endpoints()] == ["h2/d"]
        everyone_reaches(other, "h2/d")
    finally:
        other.store.close()


# ------------------------------------------------------------------------------------------------
# service routes and paths over pods

def test_a_service_route_over_pod_endpoints(net):
    for p in (POD_A, POD_C):
        attach(net, p)
    route = net.core.install_route("web", VIP, "tcp", 80, eps(("web1/a", 1, 8080), ("web3/c", 3)))
    assert [e.ip for e in route.endpoints] == [POD_A.ip, POD_C.ip]
    assert_switches_hold_desired(net)
    dp = net.dp()
    for client in ("h1", "h2", "h3", "h4", "web1"):
        branches = dp.explore(client, request(net, client))
        assert shares(branches) == {"web1/a": Fraction(1, 4), "web3/c": Fraction(3, 4)}, client
        for b in branches:
            pod = net.h(b.only.host)
            assert (b.only.packet["ipv4_dst"], b.only.packet["eth_dst"]) == (pod.ip, pod.mac)
    got = dp.send_one("h1", request(net, "h1"), by_hash(0.0))
    back = dp.send_one(got.host, answer(net.core.view, got))
    assert (got.host, back.host, back.packet["ipv4_src"], back.packet["tcp_src"]) == ("web1/a", "h1", VIP, 80)


def test_a_service_route_follows_its_pods_when_they_go_and_come_back(net):
    for p in (POD_A, POD_C):
        attach(net, p)
    net.core.install_route("web", VIP, "tcp", 80, eps(("web1/a", 1), ("web3/c", 1)))
    net.core.detach_endpoint(POD_A.name)  # the pod died: the route sends it nothing
    assert_switches_hold_desired(net)
    assert shares(net.dp().explore("h1", request(net, "h1"))) == {"web3/c": 1}
    attach(net, POD_A, ip="10.0.128.77", port=23)  # recreated with another address
    assert_switches_hold_desired(net)
    (route,) = net.core.list_routes()
    assert {e.host: e.ip for e in route.endpoints} == {"web1/a": "10.0.128.77", "web3/c": POD_C.ip}
    assert net.store.routes() == [route]
    branches = net.dp().explore("h1", request(net, "h1"))
    assert shares(branches) == {"web1/a": Fraction(1, 2), "web3/c": Fraction(1, 2)}
    assert {b.only.packet["ipv4_dst"] for b in branches if b.only.host == "web1/a"} == {"10.0.128.77"}
    dp = net.dp()
    got = dp.send_one("h1", request(net, "h1"), by_hash(0.0))
    back = dp.send_one(got.host, answer(net.core.view, got))
    assert (got.host, back.host, back.packet["ipv4_src"]) == ("web1/a", "h1", VIP)


def test_a_vip_cannot_take_a_pods_address(net):
    attach(net, POD_A)
    with pytest.raises(InvalidArgument):
        net.core.install_route("web", POD_A.ip, "tcp", 80, eps(("web1", 1)))


def test_a_reserved_path_to_a_pod_follows_it_and_goes_when_it_is_detached(net):
    attach(net, POD_A)
    path = net.core.install_path("h1", "web1/a", 30)
    assert path.hops[-1][0] == dpid(net, "s3") and path.hops[-1][2] == 20
    attach(net, POD_A, switch="s2", port=24)  # recreated on another switch
    (moved,) = net.core.paths.values()
    assert (moved.hops[-1][0], moved.hops[-1][2]) == (dpid(net, "s2"), 24)
    assert net.store.paths() == [moved]
    reserved = {k: l.reserved_mbps for k, l in net.view.links.items() if l.reserved_mbps}
    assert sum(reserved.values()) == 30 * (len(moved.hops) - 1)
    assert_switches_hold_desired(net)
    everyone_reaches(net, "web1/a")
    net.core.detach_endpoint(POD_A.name)
    assert net.core.paths == {} and net.store.paths() == []
    assert all(l.reserved_mbps == 0 for l in net.view.links.values())
    assert_switches_hold_desired(net)
    assert_all_pairs_delivered(net)


# ------------------------------------------------------------------------------------------------
# over gRPC, and the CLI

@pytest.fixture
def rpc(tmp_path):
    n = start(RING, tmp_path / "sdn.db")
    server, port = create_server("127.0.0.1:0", [(servicer.registrar(n.core), servicer.SERVICE_NAME)])
    server.start()
    address = f"127.0.0.1:{port}"
    with grpc.insecure_channel(address) as channel:
        yield n, sdn_pb2_grpc.SdnServiceStub(channel), address
    server.stop(grace=None)
    n.store.close()


def attach_request(endpoint: AttachedEndpoint, **changes) -> sdn_pb2.AttachEndpointRequest:
    return sdn_pb2.AttachEndpointRequest(**{**endpoint.__dict__, **changes})


def test_the_endpoint_rpcs_over_grpc(rpc):
    net, stub, _ = rpc
    got = stub.AttachEndpoint(attach_request(POD_A), timeout=10)
    assert (got.name, got.ip, got.mac, got.switch, got.port, got.node) == tuple(POD_A.__dict__.values())
    assert stub.AttachEndpoint(attach_request(POD_A, mac=POD_A.mac.upper()), timeout=10) == got
    stub.AttachEndpoint(attach_request(POD_C), timeout=10)
    listed = stub.ListEndpoints(sdn_pb2.ListEndpointsRequest(), timeout=10).endpoints
    assert [e.name for e in listed] == [POD_A.name, POD_C.name]
    hosts = {h.name: h for h in stub.GetTopology(sdn_pb2.GetTopologyRequest(), timeout=10).hosts}
    assert (hosts["web1/a"].role, hosts["web1/a"].switch, hosts["web1/a"].port) == (POD, "s3", 20)
    assert hosts["h1"].role == "device"
    route = stub.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
        service="web", vip=VIP, protocol=common_pb2.PROTOCOL_TCP, port=80,
        endpoints=[common_pb2.Endpoint(host="web1/a", weight=1)]), timeout=10)
    assert route.endpoints[0].ip == POD_A.ip
    stub.DetachEndpoint(sdn_pb2.DetachEndpointRequest(name=POD_A.name), timeout=10)
    assert [e.name for e in stub.ListEndpoints(sdn_pb2.ListEndpointsRequest(), timeout=10).endpoints] == [POD_C.name]
    nobody_reaches(net, POD_A.ip, POD_A.mac)


@pytest.mark.parametrize("changes, code", [
    (dict(ip="10.1.0.5"), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(mac="01:00:5e:00:00:01"), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(switch="s9"), grpc.StatusCode.NOT_FOUND),
    (dict(name="h1"), grpc.StatusCode.ALREADY_EXISTS),
    (dict(port=1), grpc.StatusCode.ALREADY_EXISTS),
])
def test_refused_attachments_have_their_status_codes(rpc, changes, code):
    _, stub, _ = rpc
    with pytest.raises(grpc.RpcError) as caught:
        stub.AttachEndpoint(attach_request(POD_A, **changes), timeout=10)
    assert caught.value.code() == code
    assert caught.value.details()


def test_detaching_an_unknown_endpoint_is_not_found(rpc):
    _, stub, _ = rpc
    with pytest.raises(grpc.RpcError) as caught:
        stub.DetachEndpoint(sdn_pb2.DetachEndpointRequest(name="nope"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_strata_sdn_endpoints_lists_them(rpc, capsys):
    _, stub, address = rpc
    assert cli.main(["sdn", "--sdn", address, "endpoints"]) == 0
    assert capsys.readouterr().out.strip() == "no attached endpoints"
    for p in (POD_A, POD_C):
        stub.AttachEndpoint(attach_request(p), timeout=10)
    assert cli.main(["sdn", "--sdn", address, "endpoints", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [POD_A.__dict__, POD_C.__dict__]
    assert cli.main(["sdn", "--sdn", address, "endpoints"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["name", "ip", "mac", "switch", "port", "node"]
    assert [r.split() for r in rows] == [[str(v) for v in p.__dict__.values()] for p in (POD_A, POD_C)]
