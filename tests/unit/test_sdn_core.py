"""controller.sdn.core.SdnCore with a fake southbound (fake switch tables that apply what is sent) and a
real SdnStore: requests are validated, persisted, and turned into switch changes that make the fake
data plane forward as asked; refused requests change nothing; network events reroute."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from fractions import Fraction

import pytest

from component_base.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from controller.sdn.core import SdnCore
from controller.sdn.network import NetworkView
from controller.sdn.model import ServiceEndpoint
from controller.sdn.pipeline.gateway import vip_mac
from controller.sdn.store import SdnStore
from flow_table_sim import (DELIVERED, DROPPED, DataPlane, FakeSwitch, answer, by_hash, declared, ip_packet, shares,
                            to_host)

# ring of four 100 Mbit/s links; h1..h4 on s1..s4, web servers on s3 and s2
RING = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s4"), ("s4", "s1")],
                {"h1": "s1", "h2": "s2", "h3": "s3", "h4": "s4", "web1": "s3", "web2": "s2", "web3": "s4"})
# a triangle whose s1-s3 side is thin
THIN = declared([("s1", "s2", 100), ("s2", "s3", 100), ("s1", "s3", 10)], {"h1": "s1", "h2": "s2", "h3": "s3"})
VIP = "10.0.100.1"


class FakeSouthbound:
    """Records every change sent, applies it to a fake switch, and confirms at once."""

    def __init__(self, dpids):
        self.switches = {d: FakeSwitch(d) for d in dpids}
        self.calls: list[tuple[int, object]] = []
        self.waited: list[tuple[int, float]] = []
        self.silent: set[int] = set()  # switches that never answer a barrier (and drop what they get)
        self.cleared: list[int] = []

    def clear(self, dpid):
        self.cleared.append(dpid)
        self.switches[dpid].clear()

    def apply(self, dpid, change):
        self.calls.append((dpid, change))
        if dpid not in self.silent:
            self.switches[dpid].apply(change)

        def wait(timeout: float) -> bool:
            self.waited.append((dpid, timeout))
            return dpid not in self.silent

        return wait

    def connect(self, core: SdnCore, dpid: int) -> None:
        """What the os-ken app does when a switch connects: clear its Strata rules, tell the core."""
        self.switches[dpid].clear()
        core.switch_connected(dpid)

    def tables(self) -> dict:
        return {d: sw.rules() for d, sw in self.switches.items()}


@dataclass
class Net:
    topo: dict
    db: object
    view: NetworkView
    store: SdnStore
    sb: FakeSouthbound
    core: SdnCore

    def dp(self) -> DataPlane:
        return DataPlane.from_switches(self.sb.switches, self.view)

    def h(self, name):
        return self.view.hosts[name]

    def link_port(self, a: str, b: str) -> tuple[int, int]:
        """(dpid, port) of switch a's end of its link to switch b."""
        da, db = (next(s.dpid for s in self.view.switches.values() if s.name == n) for n in (a, b))
        return next(k for k, l in self.view.links.items() if (l.src, l.dst) == (da, db))

    def restart(self) -> "Net":
        """A new daemon over the same database: fresh view, fresh switches."""
        self.store.close()
        return start(self.topo, self.db)

    def state(self):
        """Everything a refused request must leave as it was."""
        return (len(self.sb.calls), self.core.list_routes(), self.store.routes(), self.store.paths(),
                self.sb.tables(), {k: l.reserved_mbps for k, l in self.view.links.items()})


def start(topo, db, connect=True) -> Net:
    view = NetworkView.from_declared(topo)
    store = SdnStore(db)
    sb = FakeSouthbound(view.switches)
    core = SdnCore(view, store, sb)
    if connect:
        for dpid in sorted(view.switches):
            sb.connect(core, dpid)
    return Net(topo, db, view, store, sb, core)


@pytest.fixture
def net(tmp_path):
    n = start(RING, tmp_path / "sdn.db")
    yield n
    n.store.close()


@pytest.fixture
def thin(tmp_path):
    n = start(THIN, tmp_path / "sdn.db")
    yield n
    n.store.close()


def eps(*spec) -> list[ServiceEndpoint]:
    """("web1", weight) or ("web1", weight, port): as the gRPC servicer passes them (ip and port may be empty)."""
    return [ServiceEndpoint(s[0], "", s[2] if len(s) > 2 else 0, s[1]) for s in spec]


def request(net: Net, client: str, vip=VIP, port=80, proto="tcp") -> dict:
    return ip_packet(net.h(client), vip, vip_mac(vip), proto=proto, dst_port=port)


def assert_all_pairs_delivered(net: Net) -> None:
    dp = net.dp()
    for a, b in itertools.permutations(net.view.hosts, 2):
        c = dp.send_one(a, to_host(net.h(a), net.h(b)))
        assert (c.fate, c.host) == (DELIVERED, b), f"{a} -> {b}: {c}"


def assert_switches_hold_desired(net: Net) -> None:
    desired = net.core.desired()
    for dpid, sw in net.sb.switches.items():
        assert sw.errors == [], sw.errors
        assert sw.rules() == desired.on(dpid), f"dpid {dpid} differs from the desired rules"


def install_web(net: Net, *spec, **kw):
    spec = spec or (("web1", 3, 8080), ("web2", 1))
    return net.core.install_route(kw.pop("service", "web"), kw.pop("vip", VIP), kw.pop("protocol", "tcp"),
                                  kw.pop("port", 80), eps(*spec), **kw)


# ------------------------------------------------------------------------------------------------
# switches connecting

def test_connected_switches_forward_every_pair(net):
    assert_switches_hold_desired(net)
    assert_all_pairs_delivered(net)


def test_a_connecting_switch_gets_the_full_rule_set_and_only_it(tmp_path):
    n = start(RING, tmp_path / "sdn.db", connect=False)
    install_web(n)
    assert n.sb.calls == []  # nobody connected: nothing to send
    s1 = min(n.view.switches)
    n.sb.connect(n.core, s1)
    assert [d for d, _ in n.sb.calls] == [s1]
    change = n.sb.calls[0][1]
    assert not (change.delete_flows or change.delete_groups or change.modify_groups)
    assert n.sb.switches[s1].rules() == n.core.desired().on(s1)
    assert n.sb.switches[s1].groups, "the service group is part of the full set"
    # a switch that reconnects (its rules cleared by the app) gets everything again
    n.core.switch_disconnected(s1)
    n.sb.connect(n.core, s1)
    assert [d for d, _ in n.sb.calls] == [s1, s1]
    assert n.sb.switches[s1].rules() == n.core.desired().on(s1)
    # also when the new connection is seen before the old one is declared dead
    n.sb.connect(n.core, s1)
    assert [d for d, _ in n.sb.calls] == [s1, s1, s1]
    assert n.sb.switches[s1].rules() == n.core.desired().on(s1)
    n.store.close()


def test_a_disconnected_switch_catches_up_when_it_reconnects(net):
    s3 = net.h("web1").dpid
    net.core.switch_disconnected(s3)
    before = len(net.sb.calls)
    install_web(net)
    assert s3 not in [d for d, _ in net.sb.calls[before:]]
    net.sb.connect(net.core, s3)
    assert_switches_hold_desired(net)
    assert shares(net.dp().explore("h3", request(net, "h3"))) == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}


# ------------------------------------------------------------------------------------------------
# service routes

def test_install_route_makes_the_switches_balance_the_vip(net):
    before, waited = len(net.sb.calls), len(net.sb.waited)
    route = install_web(net, wait=2.5)
    assert net.sb.calls[before:], "nothing sent"
    # the request returns once every switch it changed confirmed (a barrier), each waited for up to 2.5 s
    assert net.sb.waited[waited:] == [(d, 2.5) for d, _ in net.sb.calls[before:]]
    assert_switches_hold_desired(net)
    dp = net.dp()
    for client in ("h1", "h2", "h3", "h4", "web3"):
        branches = dp.explore(client, request(net, client))
        assert shares(branches) == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}, client
        for b in branches:
            p, host = b.only.packet, net.h(b.only.host)
            assert (p["ipv4_dst"], p["eth_dst"]) == (host.ip, host.mac)
            assert p["tcp_dst"] == (8080 if host.name == "web1" else 80)
    got = dp.send_one("h1", request(net, "h1"), by_hash(0.0))  # web1 (3 of 4)
    back = dp.send_one(got.host, answer(net.core.view, got))
    assert (got.host, back.host, back.packet["ipv4_src"], back.packet["tcp_src"]) == ("web1", "h1", VIP, 80)
    assert route.endpoints[1].port == 80 and route.endpoints[1].ip == net.h("web2").ip  # defaults filled in
    assert_all_pairs_delivered(net)


def test_update_route_changes_the_shares_and_sends_only_a_diff(net):
    install_web(net)
    tables = net.sb.tables()
    before = len(net.sb.calls)
    net.core.update_route("web", eps(("web1", 1), ("web3", 1), ("web2", 0)))
    assert_switches_hold_desired(net)
    for dpid, change in net.sb.calls[before:]:
        for f in change.add_flows:
            assert tables[dpid].flows.get(f.key) != f, "an unchanged flow was resent"
    assert shares(net.dp().explore("h1", request(net, "h1"))) == {"web1": Fraction(1, 2), "web3": Fraction(1, 2)}
    # web1 now listens on port 80 (default): a connection through the VIP reaches it there and is
    # answered as the VIP; its own traffic from another port is not touched
    h1 = net.h("h1")
    dp = net.dp()
    got = dp.send_one("h1", request(net, "h1"), by_hash(0.0))
    assert (got.host, got.packet["tcp_dst"]) == ("web1", 80)
    assert dp.send_one("web1", answer(net.core.view, got)).packet["ipv4_src"] == VIP
    assert dp.send_one("web1", ip_packet(net.h("web1"), h1.ip, h1.mac, src_port=8080,
                                         dst_port=40000)).packet["ipv4_src"] == net.h("web1").ip


def test_remove_route_stops_capturing_the_vip(net):
    route = install_web(net)
    net.core.remove_route("web")
    assert_switches_hold_desired(net)
    assert all(f.cookie != route.cookie for sw in net.sb.switches.values() for f in sw.flows.values())
    assert all(g.cookie != route.cookie for sw in net.sb.switches.values() for g in sw.groups.values())
    assert net.dp().send_one("h1", request(net, "h1")).fate == DROPPED
    assert net.core.list_routes() == []
    assert_all_pairs_delivered(net)


def test_routes_survive_a_restart_with_their_cookies(net):
    web = install_web(net)
    api = install_web(net, ("web3", 1, 9000), service="api", port=443)
    dns = install_web(net, ("web2", 1, 53), service="dns", protocol="udp", port=53)
    assert len({web.cookie, api.cookie, dns.cookie}) == 3
    assert len({web.group_id, api.group_id, dns.group_id}) == 3
    net.core.update_route("web", eps(("web1", 1), ("web2", 2)))
    net.core.remove_route("api")
    expected = net.core.list_routes()
    desired = net.core.desired()
    again = net.restart()
    try:
        assert again.core.list_routes() == expected
        assert [r.cookie for r in again.core.list_routes()] == [web.cookie, dns.cookie]
        assert again.core.desired() == desired
        assert_switches_hold_desired(again)
        assert shares(again.dp().explore("h4", request(again, "h4"))) == \
            {"web1": Fraction(1, 3), "web2": Fraction(2, 3)}
        new = install_web(again, ("web3", 1), service="new", vip="10.0.100.9")
        assert new.cookie not in (web.cookie, dns.cookie)
    finally:
        again.store.close()


def test_same_vip_on_another_port_or_protocol_is_another_service(net):
    install_web(net)
    install_web(net, ("web3", 1), service="web-tls", port=443)
    install_web(net, ("web3", 1), service="web-udp", protocol="udp")
    dp = net.dp()
    assert shares(dp.explore("h1", request(net, "h1", port=443))) == {"web3": 1}
    assert shares(dp.explore("h1", request(net, "h1", proto="udp"))) == {"web3": 1}
    assert shares(dp.explore("h1", request(net, "h1"))) == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}


BAD_INSTALLS = {
    "vip not an address": (InvalidArgument, dict(vip="web.example")),
    "vip octet too big": (InvalidArgument, dict(vip="10.0.100.300")),
    "vip too short": (InvalidArgument, dict(vip="10.0.100")),
    "vip empty": (InvalidArgument, dict(vip="")),
    "vip is a host's address": (InvalidArgument, dict(vip="10.0.0.1")),
    "port 0": (InvalidArgument, dict(port=0)),
    "port 70000": (InvalidArgument, dict(port=70000)),
    "port negative": (InvalidArgument, dict(port=-80)),
    "protocol icmp": (InvalidArgument, dict(protocol="icmp")),
    "protocol empty": (InvalidArgument, dict(protocol="")),
    "service name empty": (InvalidArgument, dict(service="")),
    "no endpoints": (InvalidArgument, dict(endpoints=[])),
    "all weights 0": (InvalidArgument, dict(endpoints=eps(("web1", 0), ("web3", 0)))),
    "negative weight": (InvalidArgument, dict(endpoints=eps(("web1", 2), ("web3", -1)))),
    "endpoint twice": (InvalidArgument, dict(endpoints=eps(("web1", 1), ("web3", 1), ("web1", 2)))),
    "endpoint port 70000": (InvalidArgument, dict(endpoints=eps(("web1", 1, 70000)))),
    "endpoint ip not the host's": (InvalidArgument, dict(endpoints=[ServiceEndpoint("web1", "10.0.0.2", 0, 1)])),
    "endpoint ip malformed": (InvalidArgument, dict(endpoints=[ServiceEndpoint("web1", "10.0.0", 0, 1)])),
    "unknown endpoint host": (NotFound, dict(endpoints=eps(("web1", 1), ("nosuchhost", 1)))),
    "service name taken": (AlreadyExists, dict(service="web", vip="10.0.100.2")),
    "vip:port/protocol taken": (AlreadyExists, dict(service="web-copy", vip=VIP)),
}


@pytest.mark.parametrize("case", BAD_INSTALLS)
def test_a_refused_install_changes_nothing(net, case):
    error, args = BAD_INSTALLS[case]
    install_web(net)
    before = net.state()
    request_args = dict(service="other", vip="10.0.100.2", protocol="tcp", port=80,
                        endpoints=eps(("web1", 1), ("web3", 1)))
    request_args.update(args)
    with pytest.raises(error):
        net.core.install_route(**request_args)
    assert net.state() == before
    assert_switches_hold_desired(net)


BAD_UPDATES = {k: v for k, v in BAD_INSTALLS.items() if list(v[1]) == ["endpoints"]}


@pytest.mark.parametrize("case", BAD_UPDATES)
def test_a_refused_update_leaves_the_route_as_it_was(net, case):
    error, args = BAD_UPDATES[case]
    install_web(net)
    before = net.state()
    with pytest.raises(error):
        net.core.update_route("web", args["endpoints"])
    assert net.state() == before
    assert shares(net.dp().explore("h1", request(net, "h1"))) == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}


def test_unknown_services_are_not_found(net):
    install_web(net)
    before = net.state()
    with pytest.raises(NotFound):
        net.core.update_route("nope", eps(("web1", 1)))
    with pytest.raises(NotFound):
        net.core.remove_route("nope")
    assert net.state() == before


def test_a_removed_route_can_be_installed_again(net):
    install_web(net)
    net.core.remove_route("web")
    with pytest.raises(NotFound):
        net.core.remove_route("web")
    install_web(net, ("web3", 1))
    assert shares(net.dp().explore("h1", request(net, "h1"))) == {"web3": 1}


def test_an_endpoint_shared_by_two_services_answers_each_as_its_vip(net):
    install_web(net, ("web1", 1))
    install_web(net, ("web1", 1), service="shop", vip="10.0.100.2")  # the same host:port serves both
    dp = net.dp()
    for vip, src_port in ((VIP, 40000), ("10.0.100.2", 40001)):
        got = dp.send_one("h1", {**request(net, "h1", vip=vip), "tcp_src": src_port})
        back = dp.send_one(got.host, answer(net.core.view, got))
        assert (got.host, back.host, back.packet["ipv4_src"], back.packet["tcp_dst"]) == ("web1", "h1", vip, src_port)


def test_weights_too_big_for_a_bucket_are_refused_or_scaled(net):
    before = net.state()
    try:
        install_web(net, ("web1", 70000), ("web2", 10000))
    except InvalidArgument:
        assert net.state() == before
        return
    assert_switches_hold_desired(net)
    assert shares(net.dp().explore("h1", request(net, "h1"))) == {"web1": Fraction(7, 8), "web2": Fraction(1, 8)}


def test_a_host_seen_at_a_new_port_is_reached_there(net):
    install_web(net)
    web2, s4 = net.h("web2"), net.h("h4").dpid
    net.core.host_seen(web2.mac, web2.ip, s4, 17)
    assert (net.h("web2").dpid, net.h("web2").port) == (s4, 17)
    assert_switches_hold_desired(net)
    assert_all_pairs_delivered(net)
    dp = net.dp()
    branches = dp.explore("h1", request(net, "h1"))
    assert shares(branches) == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}
    assert {(b.only.dpid, b.only.hops[-1].out_port) for b in branches if b.only.host == "web2"} == {(s4, 17)}
    got = dp.send_one("h1", request(net, "h1"), by_hash(0.9))
    back = dp.send_one(got.host, answer(net.core.view, got))
    assert (got.host, back.host, back.packet["ipv4_src"]) == ("web2", "h1", VIP)


# ------------------------------------------------------------------------------------------------
# link and port events

def test_a_link_going_down_sends_diffs_that_reroute(net):
    install_web(net)
    tables = copy.deepcopy(net.sb.tables())
    full = sum(len(t.flows) for t in tables.values())
    before = len(net.sb.calls)
    dpid, port = net.link_port("s1", "s2")
    net.core.port_changed(dpid, port, False)
    sent = net.sb.calls[before:]
    assert sent, "nothing sent for a link going down"
    assert sum(len(c.add_flows) for _, c in sent) < full / 2, "looks like a full resend, not a diff"
    for d, change in sent:
        for f in change.add_flows:
            assert tables[d].flows.get(f.key) != f, "an unchanged flow was resent"
    assert_switches_hold_desired(net)
    link = net.view.links[(dpid, port)]
    for d, p in ((dpid, port), (link.dst, link.dst_port)):
        sw = net.sb.switches[d]
        assert not [f for f in sw.flows.values() if ("output", p) in f.actions]
        assert not [g for g in sw.groups.values() for _, a in g.buckets if ("output", p) in a]
    assert_all_pairs_delivered(net)
    assert shares(net.dp().explore("h1", request(net, "h1"))) == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}
    # back up: the original rules return
    net.core.port_changed(dpid, port, True)
    assert net.sb.tables() == tables


def test_the_same_event_twice_sends_nothing_more(net):
    dpid, port = net.link_port("s2", "s3")
    net.core.port_changed(dpid, port, False)
    before = len(net.sb.calls)
    net.core.port_changed(dpid, port, False)
    link = net.view.links[(dpid, port)]
    net.core.port_changed(link.dst, link.dst_port, False)  # the other end reports the same cable
    assert len(net.sb.calls) == before


def test_a_host_port_event_changes_no_links(net):
    install_web(net)
    before = net.state()
    h1 = net.h("h1")
    net.core.port_changed(h1.dpid, h1.port, False)
    net.core.port_changed(h1.dpid, h1.port, True)
    assert all(l.up for l in net.view.links.values())
    assert net.state() == before


def test_a_link_rediscovered_by_lldp_is_used_again(net):
    original = net.sb.tables()
    dpid, port = net.link_port("s1", "s2")
    link = net.view.links[(dpid, port)]
    net.core.port_changed(dpid, port, False)        # EventLinkDelete s1 -> s2 (LLDP timed out)
    net.core.link_discovered(dpid, port)            # EventLinkAdd s1 -> s2 (LLDP heard again)
    net.core.link_discovered(link.dst, link.dst_port)
    assert net.sb.tables() == original


# ------------------------------------------------------------------------------------------------
# bandwidth-reserved paths

def test_a_reserved_path_carries_its_traffic_and_holds_its_bandwidth(net):
    before = len(net.sb.calls)
    path = net.core.install_path("h1", "h2", 60)
    assert sorted(d for d, _ in net.sb.calls[before:]) == sorted(d for d, _, _ in path.hops), \
        "changes go to the switches of the path, and only to them"
    assert_switches_hold_desired(net)
    copy_ = net.dp().send_one("h1", to_host(net.h("h1"), net.h("h2")))
    assert (copy_.fate, copy_.host) == (DELIVERED, "h2")
    assert [(h.dpid, h.in_port, h.out_port) for h in copy_.hops] == list(path.hops)
    for link in net.view.path_links(list(path.hops)):
        assert link.reserved_mbps == 60
    direct = net.view.path("h1", "h2")
    # 40 Mbit/s are left on the direct link: a 50 Mbit/s request goes the long way round
    long_way, free = net.core.compute_path("h1", "h2", 50)
    assert len(long_way) > len(direct) and free >= 50
    assert (net.link_port("s1", "s2")) not in [(d, o) for d, _, o in long_way]
    hops, free = net.core.compute_path("h1", "h2", 40)
    assert hops == direct and free == 40
    with pytest.raises(FailedPrecondition):
        net.core.compute_path("h1", "h2", 101)
    # web2 sits next to h2: its 50 Mbit/s path goes the long way, and so does its traffic, while the
    # baseline route from h1 to web2 is the direct link
    second = net.core.install_path("h1", "web2", 50)
    assert [d for d, _, _ in second.hops] == [d for d, _, _ in long_way]
    copy_ = net.dp().send_one("h1", to_host(net.h("h1"), net.h("web2")))
    assert copy_.host == "web2" and [(h.dpid, h.in_port, h.out_port) for h in copy_.hops] == list(second.hops)
    with pytest.raises(FailedPrecondition):
        net.core.compute_path("h1", "h2", 60)
    assert_all_pairs_delivered(net)
    # releasing the first path frees the direct link
    net.core.remove_path(path.path_id)
    assert all(l.reserved_mbps == 0 for l in net.view.path_links(direct))
    hops, free = net.core.compute_path("h1", "h2", 100)
    assert hops == direct and free == 100
    net.core.remove_path(second.path_id)
    assert all(l.reserved_mbps == 0 for l in net.view.links.values())
    assert_switches_hold_desired(net)
    assert all(f.cookie not in (path.cookie, second.cookie)
               for sw in net.sb.switches.values() for f in sw.flows.values())


def test_a_full_link_is_avoided_by_paths_that_need_bandwidth(net):
    net.core.install_path("h1", "h2", 100)
    full = net.link_port("s1", "s2")
    hops, free = net.core.compute_path("h1", "h2", 1)
    assert full not in [(d, o) for d, _, o in hops] and free == 100
    other = net.core.install_path("h1", "web2", 1)  # web2 shares h2's switch
    assert full not in [(d, o) for d, _, o in other.hops]
    with pytest.raises(FailedPrecondition):
        net.core.compute_path("h1", "web2", 100)
    assert_all_pairs_delivered(net)  # a reservation does not stop ordinary forwarding


def test_refused_path_requests_change_nothing(net):
    net.core.install_path("h1", "h2", 60)
    before = net.state()
    for error, call in [(FailedPrecondition, lambda: net.core.install_path("h1", "web2", 150)),
                        (AlreadyExists, lambda: net.core.install_path("h1", "h2", 1)),
                        (InvalidArgument, lambda: net.core.install_path("h1", "h2", -1)),
                        (InvalidArgument, lambda: net.core.compute_path("h1", "h2", -1)),
                        (NotFound, lambda: net.core.install_path("h1", "nosuchhost", 1)),
                        (NotFound, lambda: net.core.compute_path("nosuchhost", "h2")),
                        (NotFound, lambda: net.core.remove_path(99))]:
        with pytest.raises(error):
            call()
        assert net.state() == before


def test_a_path_over_a_link_that_goes_down_is_rerouted(net):
    path = net.core.install_path("h1", "h2", 60)
    dpid, port = net.link_port("s1", "s2")
    assert (dpid, port) in [(d, o) for d, _, o in path.hops]
    net.core.port_changed(dpid, port, False)
    new = net.core.paths[path.path_id]
    assert (dpid, port) not in [(d, o) for d, _, o in new.hops]
    assert new.bandwidth_mbps == 60
    assert net.view.links[(dpid, port)].reserved_mbps == 0
    for link in net.view.path_links(list(new.hops)):
        assert link.reserved_mbps == 60
    assert_switches_hold_desired(net)
    copy_ = net.dp().send_one("h1", to_host(net.h("h1"), net.h("h2")))
    assert copy_.host == "h2"
    assert [(h.dpid, h.in_port, h.out_port) for h in copy_.hops] == list(new.hops)
    assert_all_pairs_delivered(net)
    # the new hops are what a restarted daemon finds
    again = net.restart()
    try:
        assert again.core.paths[path.path_id] == new
    finally:
        again.store.close()


def test_reserved_paths_survive_a_restart(net):
    path = net.core.install_path("h1", "h3", 70)
    reserved = {k: l.reserved_mbps for k, l in net.view.links.items()}
    desired = net.core.desired()
    again = net.restart()
    try:
        assert again.core.paths == {path.path_id: path}
        assert {k: l.reserved_mbps for k, l in again.view.links.items()} == reserved
        assert again.core.desired() == desired
        # the restored reservation counts: 80 Mbit/s more must take the other of the two shortest ways
        other = again.core.install_path("h1", "web1", 80)  # web1 shares h3's switch
        assert not {(d, o) for d, _, o in path.hops[:-1]} & {(d, o) for d, _, o in other.hops[:-1]}
        with pytest.raises(FailedPrecondition):
            again.core.compute_path("h1", "h3", 80)
        again.core.remove_path(path.path_id)
        again.core.remove_path(other.path_id)
        assert all(l.reserved_mbps == 0 for l in again.view.links.values())
    finally:
        again.store.close()


def test_a_path_rerouted_onto_a_thin_link_does_not_cut_other_traffic(thin):
    thin.core.install_path("h1", "h2", 50)
    dpid, port = thin.link_port("s1", "s2")
    thin.core.port_changed(dpid, port, False)
    # the path now has to use s1-s3 (10 Mbit/s): the controller says it uses the shortest path anyway
    assert_all_pairs_delivered(thin)


def test_a_switch_that_does_not_confirm_is_an_error_and_gets_everything_again(net):
    silent = net.h("h1").dpid
    net.sb.silent.add(silent)
    with pytest.raises(Unavailable, match="did not confirm"):
        install_web(net)
    assert [r.service for r in net.core.list_routes()] == ["web"]  # recorded all the same
    net.sb.silent.clear()
    net.core.install_route("api", "10.0.100.2", "tcp", 80, eps(("web2", 1)))  # the next change
    assert silent in net.sb.cleared
    assert_switches_hold_desired(net)
    assert shares(net.dp().explore("h1", request(net, "h1"))) == {"web1": Fraction(3, 4), "web2": Fraction(1, 4)}


def test_a_switch_is_synced_once_it_confirmed_what_it_was_sent_since_it_connected(tmp_path):
    n = start(RING, tmp_path / "sdn.db", connect=False)
    try:
        dpids = sorted(n.view.switches)
        late = dpids[0]
        n.sb.silent.add(late)  # never answers a barrier
        assert not any(n.core.synced(d) for d in dpids)  # none connected yet
        for dpid in dpids:
            n.sb.connect(n.core, dpid)
        assert [n.core.synced(d) for d in dpids] == [False] + [True] * (len(dpids) - 1)
        n.sb.silent.discard(late)  # its barrier answered at last
        assert n.core.synced(late)
        n.core.switch_disconnected(late)
        assert not n.core.synced(late)
    finally:
        n.store.close()


def test_a_request_waiting_for_a_barrier_holds_no_lock(net):
    """While one request waits for a slow switch's barrier, other requests and switch events go
    on (the core's lock is released before the wait), and both requests' rules end up installed."""
    import threading

    answer_barrier = threading.Event()
    waiting = threading.Event()
    applied = net.sb.apply

    def slow_apply(dpid, change):
        confirmed = applied(dpid, change)

        def wait(timeout):
            waiting.set()
            return answer_barrier.wait(timeout) and confirmed(timeout)

        return wait

    net.sb.apply = slow_apply
    slow = threading.Thread(target=net.core.install_route, args=("web", VIP, "tcp", 80, eps(("web1", 1))),
                            kwargs={"wait": 10}, daemon=True)
    slow.start()
    assert waiting.wait(5)
    net.sb.apply = applied  # the next request's switches answer at once
    other = threading.Thread(target=net.core.install_route, args=("db", "10.0.100.2", "tcp", 5432,
                                                                  eps(("web2", 1))), daemon=True)
    other.start()
    other.join(5)
    assert not other.is_alive()  # it did not wait for the first one's barrier
    net.core.port_changed(*net.link_port("s1", "s2"), False)  # an event goes through too
    assert [r.service for r in net.core.list_routes()] == ["web", "db"]
    answer_barrier.set()
    slow.join(5)
    assert not slow.is_alive()
    assert_switches_hold_desired(net)
