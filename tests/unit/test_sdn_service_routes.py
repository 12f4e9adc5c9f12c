"""Service routes (VIP -> weighted endpoints) computed by controller.sdn.pipeline, checked by what a fake
data plane (with connection tracking) does with packets: requests to vip:port reach an endpoint
rewritten to it, in shares equal to the weights, the answers of those connections come back as the
VIP, connections keep their endpoint, direct traffic and hairpin work, nothing else is captured."""

from __future__ import annotations

from fractions import Fraction

import pytest

from controller.sdn.network import NetworkView
from controller.sdn.model import ServiceEndpoint, ServiceRoute
from controller.sdn.pipeline.desired import desired_rules
from controller.sdn.pipeline.gateway import vip_mac
from flow_table_sim import DELIVERED, DROPPED, DataPlane, answer, by_hash, declared, ip_packet, shares, to_host

# ring of four switches (equal-cost paths) with a chord-free loop; clients and servers spread out
RING = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s4"), ("s4", "s1")],
                {"c1": "s1", "c2": "s2", "c3": "s3", "c4": "s4", "web1": "s3", "web2": "s2", "web3": "s4",
                 "c5": "s3"})
LINE = declared([("s1", "s2"), ("s2", "s3")], {"c1": "s1", "c2": "s2", "c3": "s3", "web1": "s1", "web2": "s3"})
VIP = "10.0.100.1"


def route(view: NetworkView, eps: list[tuple[str, int, int]], *, vip=VIP, protocol="tcp", port=80,
          service="web", service_id=7) -> ServiceRoute:
    return ServiceRoute(service, vip, protocol, port,
                        tuple(ServiceEndpoint(h, view.hosts[h].ip, p, w) for h, p, w in eps), service_id)


def clients(view: NetworkView, r: ServiceRoute) -> list[str]:
    eps = {e.host for e in r.endpoints}
    return [h for h in view.hosts if h not in eps]


def request(view, client, r: ServiceRoute, **kw) -> dict:
    kw.setdefault("dst_port", r.port)
    return ip_packet(view.hosts[client], r.vip, vip_mac(r.vip), proto=r.protocol, **kw)


@pytest.fixture
def ring():
    view = NetworkView.from_declared(RING)
    r = route(view, [("web1", 8080, 3), ("web2", 80, 1), ("web3", 80, 0)])
    return view, r, DataPlane(desired_rules(view, [r], []), view)


def assert_reaches_endpoint(view, r, client, copy):
    assert copy.fate == DELIVERED, f"{client} -> vip: {copy}"
    ep = next((e for e in r.endpoints if e.host == copy.host), None)
    assert ep is not None, f"{client} -> vip delivered to {copy.host}, not an endpoint"
    host = view.hosts[ep.host]
    p = copy.packet
    assert (p["eth_dst"], p["ipv4_dst"], p[f"{r.protocol}_dst"]) == (host.mac, ep.ip, ep.port), copy
    c = view.hosts[client]
    assert (p["eth_src"], p["ipv4_src"], p[f"{r.protocol}_src"]) == (c.mac, c.ip, 40000), "source changed"
    assert len(set(copy.switches)) == len(copy.switches), f"loop: {copy}"


def test_requests_reach_endpoints_in_shares_equal_to_the_weights(ring):
    view, r, dp = ring
    for client in clients(view, r):
        branches = dp.explore(client, request(view, client, r))
        for b in branches:
            assert_reaches_endpoint(view, r, client, b.only)
        assert shares(branches) == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}, client


def test_each_endpoints_buckets_weigh_what_it_weighs(ring):
    """Per switch, chosen at the client's own switch: an endpoint's buckets sum to its share of
    the weights (weight 0: no bucket), and Open vSwitch's datapath gets 256 hash values to share
    out (the power of two above total / least weight), so the split is kept to 1/256."""
    view, r, dp = ring
    for client in clients(view, r):
        for b in dp.explore(client, request(view, client, r)):
            (dpid, gid, k), = b.choices
            assert dpid == view.hosts[client].dpid
        group = dp.groups[(view.hosts[client].dpid, r.group_id)]
        per_host: dict[str, int] = {}
        for w, actions in group.buckets:
            slot = next(a[2] for a in actions if a[:2] == ("set_field", "reg1"))
            host = next(e.host for e in r.endpoints if e.slot == slot)
            per_host[host] = per_host.get(host, 0) + w
        total = sum(per_host.values())
        assert "web3" not in per_host  # weight 0
        assert {h: Fraction(w, total) for h, w in per_host.items()} == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}
        least = min(w for w, _ in group.buckets)
        assert 128 < -(-total // least) <= 256 and max(w for w, _ in group.buckets) <= 0xFFFF


@pytest.mark.parametrize("x, expected", [(0.0, "web1"), (0.74, "web1"), (0.75, "web2"), (0.99, "web2")])
def test_a_hash_picks_the_endpoint_by_weight(ring, x, expected):
    view, r, dp = ring
    copy = dp.send_one("c1", request(view, "c1", r), by_hash(x))
    assert copy.host == expected
    assert_reaches_endpoint(view, r, "c1", copy)


def test_a_weight_zero_endpoint_gets_no_traffic(ring):
    view, r, dp = ring
    for client in clients(view, r):
        assert all(b.only.host != "web3" for b in dp.explore(client, request(view, client, r)))


def test_equal_ports_are_not_rewritten_and_different_ones_are(ring):
    view, r, dp = ring
    got = {b.only.host: b.only.packet["tcp_dst"] for b in dp.explore("c1", request(view, "c1", r))}
    assert got == {"web1": 8080, "web2": 80}


@pytest.mark.parametrize("x, server", [(0.0, "web1"), (0.9, "web2")])
def test_answers_come_back_as_the_vip(ring, x, server):
    view, r, dp = ring
    for client in clients(view, r):
        c = view.hosts[client]
        got = dp.send_one(client, request(view, client, r), by_hash(x))
        assert got.host == server
        back = dp.send_one(server, answer(view, got))
        assert (back.fate, back.host) == (DELIVERED, client), f"{server} -> {client}: {back}"
        p = back.packet
        assert (p["ipv4_src"], p["tcp_src"]) == (VIP, 80), back
        assert (p["ipv4_dst"], p["eth_dst"], p["tcp_dst"]) == (c.ip, c.mac, 40000), back


def test_a_connection_keeps_its_endpoint_when_the_weights_change(ring):
    """web1 is drained after the connection started: its packets still reach web1, answered as the VIP."""
    view, r, dp = ring
    got = dp.send_one("c1", request(view, "c1", r), by_hash(0.0))
    assert got.host == "web1"
    drained = route(view, [("web1", 8080, 0), ("web2", 80, 1), ("web3", 80, 0)])
    dp.load(desired_rules(view, [drained], []))
    again = dp.send_one("c1", request(view, "c1", r))  # the same connection's next packet
    assert (again.host, again.packet["ipv4_dst"], again.packet["tcp_dst"]) == ("web1", view.hosts["web1"].ip, 8080)
    back = dp.send_one("web1", answer(view, again))
    assert (back.host, back.packet["ipv4_src"]) == ("c1", VIP)
    new = dp.send_one("c1", request(view, "c1", r, src_port=40001))  # a new connection goes to web2
    assert new.host == "web2"


def test_a_full_exchange_round_trips(ring):
    """Client -> VIP -> endpoint, then the endpoint answers the request it got: the client sees the VIP."""
    view, r, dp = ring
    for x, port in ((0.0, 40000), (0.9, 40001)):
        got = dp.send_one("c4", request(view, "c4", r, src_port=port), by_hash(x))
        back = dp.send_one(got.host, answer(view, got))
        assert back.host == "c4"
        assert (back.packet["ipv4_src"], back.packet["tcp_src"], back.packet["tcp_dst"]) == (VIP, 80, port)


def test_direct_access_to_an_endpoint_keeps_its_address(ring):
    """A client talking to web1's own address gets web1's answers from web1, not from the VIP."""
    view, r, dp = ring
    web1, c1 = view.hosts["web1"], view.hosts["c1"]
    got = dp.send_one("c1", to_host(c1, web1, dst_port=8080))
    assert (got.host, got.packet["ipv4_dst"], got.packet["tcp_dst"]) == ("web1", web1.ip, 8080)
    back = dp.send_one("web1", answer(view, got))
    assert (back.host, back.packet["ipv4_src"], back.packet["tcp_src"]) == ("c1", web1.ip, 8080)


def test_an_endpoint_can_call_its_own_service(ring):
    """Hairpin: web2 calls the VIP and gets itself; it sees the gateway as the client, and the
    answer comes back to it as the VIP."""
    view, r, dp = ring
    web2 = view.hosts["web2"]
    got = dp.send_one("web2", request(view, "web2", r), by_hash(0.9))
    assert got.host == "web2", got
    assert (got.packet["ipv4_src"], got.packet["ipv4_dst"], got.packet["tcp_dst"]) == (view.gateway, web2.ip, 80)
    back = dp.send_one("web2", answer(view, got))
    assert back.host == "web2", back
    assert (back.packet["ipv4_src"], back.packet["tcp_src"]) == (VIP, 80)
    assert (back.packet["ipv4_dst"], back.packet["tcp_dst"]) == (web2.ip, 40000)
    # the connection's next packet follows the same translations
    again = dp.send_one("web2", request(view, "web2", r))
    assert (again.host, again.packet["ipv4_src"]) == ("web2", view.gateway)


@pytest.mark.parametrize("proto, port", [("tcp", 443), ("tcp", 8080), ("udp", 80)])
def test_other_traffic_to_the_vip_is_not_captured(ring, proto, port):
    view, r, dp = ring
    for client in clients(view, r):
        copy = dp.send_one(client, ip_packet(view.hosts[client], VIP, vip_mac(VIP), proto=proto, dst_port=port))
        assert copy.fate == DROPPED, f"{proto}/{port} from {client}: {copy}"


def test_endpoint_traffic_that_is_not_a_reply_is_left_alone(ring):
    """An endpoint talking from another source port (as a client itself) keeps its own address."""
    view, r, dp = ring
    web1, c1 = view.hosts["web1"], view.hosts["c1"]
    copy = dp.send_one("web1", to_host(web1, c1, src_port=40001, dst_port=8080))
    assert (copy.host, copy.packet["ipv4_src"], copy.packet["tcp_src"]) == ("c1", web1.ip, 40001)
    # even from the service port: only the answers of connections through the VIP are translated
    copy = dp.send_one("web1", to_host(web1, c1, src_port=8080, dst_port=40000))
    assert (copy.host, copy.packet["ipv4_src"], copy.packet["tcp_src"]) == ("c1", web1.ip, 8080)


def test_udp_service():
    view = NetworkView.from_declared(RING)
    r = route(view, [("web1", 5353, 1), ("web2", 53, 1)], protocol="udp", port=53)
    dp = DataPlane(desired_rules(view, [r], []), view)
    for client in clients(view, r):
        branches = dp.explore(client, request(view, client, r))
        for b in branches:
            assert_reaches_endpoint(view, r, client, b.only)
        assert shares(branches) == {"web1": Fraction(1, 2), "web2": Fraction(1, 2)}
    c = view.hosts["c1"]
    got = dp.send_one("c1", request(view, "c1", r), by_hash(0.0))
    copy = dp.send_one(got.host, answer(view, got))
    assert (copy.host, copy.packet["ipv4_src"], copy.packet["udp_src"]) == ("c1", VIP, 53)
    # TCP to the same vip:port is not this service
    assert DataPlane(desired_rules(view, [r], []), view).send_one(
        "c1", ip_packet(c, VIP, vip_mac(VIP), proto="tcp", dst_port=53)).fate == DROPPED


def test_two_services_on_one_vip_are_kept_apart():
    view = NetworkView.from_declared(RING)
    web = route(view, [("web1", 80, 1)], port=80, service="web", service_id=1)
    api = route(view, [("web2", 9000, 1)], port=443, service="api", service_id=2)
    dp = DataPlane(desired_rules(view, [web, api], []), view)
    assert dp.send_one("c1", request(view, "c1", web)).host == "web1"
    assert dp.send_one("c1", request(view, "c1", api)).host == "web2"
    assert dp.send_one("c1", request(view, "c1", api)).packet["tcp_dst"] == 9000


def test_a_cut_off_endpoint_gets_no_traffic_from_the_other_side():
    view = NetworkView.from_declared(LINE)
    r = route(view, [("web1", 80, 1), ("web2", 80, 3)])
    s2, s3 = view.hosts["c2"].dpid, view.hosts["c3"].dpid
    port = next(l.src_port for l in view.links.values() if (l.src, l.dst) == (s2, s3))
    view.set_port_state(s2, port, False)
    dp = DataPlane(desired_rules(view, [r], []), view)
    for client in ("c1", "c2"):
        branches = dp.explore(client, request(view, client, r))
        assert shares(branches) == {"web1": 1}, client
        for b in branches:
            assert_reaches_endpoint(view, r, client, b.only)
    assert shares(dp.explore("c3", request(view, "c3", r))) == {"web2": 1}


def test_service_traffic_avoids_a_down_link(ring):
    view, r, _ = ring
    for (dpid, port), link in sorted(view.links.items()):
        view.set_port_state(dpid, port, False)
        dp = DataPlane(desired_rules(view, [r], []), view)
        for client in clients(view, r):
            branches = dp.explore(client, request(view, client, r))
            for b in branches:
                assert_reaches_endpoint(view, r, client, b.only)
            assert shares(branches) == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}
        view.set_port_state(dpid, port, True)


