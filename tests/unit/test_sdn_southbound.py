"""The os-ken app's southbound, checked through the real bytes it sends: a fake switch parses them
(os-ken's parser) and applies OpenFlow's semantics; what the switches end up holding must be what
the controller wants, the wipe on reconnect must spare foreign rules, ARP gets the right answers."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from os_ken.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER
from os_ken.lib.packet import arp, ethernet, ether_types, packet

from controller.sdn.app import StrataSdnApp
from controller.sdn.core import SdnCore
from controller.sdn.network import NetworkView
from controller.sdn.model import ServiceEndpoint
from controller.sdn.pipeline.gateway import GATEWAY_MAC, vip_mac
from controller.sdn.pipeline.ruleset import Flow
from controller.sdn.store import SdnStore
from fake_of_table import FakeDatapath
from flow_table_sim import DELIVERED, DataPlane, answer, by_hash, declared, ip_packet

TOPO = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s1")], {"c1": "s1", "w1": "s2", "w2": "s3", "c3": "s3"})
VIP = "10.96.0.10"


@pytest.fixture
def setup(tmp_path):
    view = NetworkView.from_declared(dict(TOPO, service_range="10.96.0.0/16"))
    store = SdnStore(tmp_path / "sdn.db")
    core = SdnCore(view, store)
    app = StrataSdnApp.__new__(StrataSdnApp)  # the app's own code, without os-ken's event loop
    app.core, app.datapaths, app._pending, app._sessions = core, {}, {}, {}
    app._pending_lock, app._xid_lock = threading.Lock(), threading.Lock()
    core.southbound = app
    for dpid in sorted(view.switches):
        dp = FakeDatapath(dpid)
        dp.app = app
        app.datapaths[dpid] = dp
        core.switch_connected(dpid)
    yield SimpleNamespace(view=view, core=core, app=app, dps=app.datapaths)
    store.close()


def assert_switches_hold_what_the_controller_wants(s) -> None:
    desired = s.core.desired().by_switch()
    for dpid, dp in s.dps.items():
        want = desired[dpid]
        assert not dp.errors, dp.errors
        assert dp.flows == want.flows, f"switch {dpid}: {set(dp.flows) ^ set(want.flows)}"
        shape = lambda g: (g.group_id, g.buckets, g.kind, g.watch_ports)  # noqa: E731  (groups carry no cookie)
        assert sorted(map(shape, dp.groups.values())) == sorted(map(shape, want.groups.values()))
        meter = lambda m: (m.meter_id, m.rate_kbps, m.burst_kbits)  # noqa: E731
        assert sorted(map(meter, dp.meters.values())) == sorted(map(meter, want.meters.values()))


def test_what_the_app_sends_is_what_the_controller_wants(setup):
    s = setup
    assert_switches_hold_what_the_controller_wants(s)  # the baseline after connecting
    s.core.install_route("web", VIP, "tcp", 80, [ServiceEndpoint("w1", "", 8080, 3), ServiceEndpoint("w2", "", 80, 1)])
    s.core.install_path("c1", "c3", 10.0)
    assert_switches_hold_what_the_controller_wants(s)
    s.core.update_route("web", [ServiceEndpoint("w1", "", 8080, 1), ServiceEndpoint("w2", "", 80, 0)])
    assert_switches_hold_what_the_controller_wants(s)
    s.core.remove_route("web")
    assert_switches_hold_what_the_controller_wants(s)
    assert not any(g.group_id < 0x4000_0000 for dp in s.dps.values() for g in dp.groups.values())


def test_meters_come_change_and_go_with_the_rate_limit(setup):
    s = setup
    s.core.install_route("web", VIP, "tcp", 80, [ServiceEndpoint("w1", "", 8080, 1)], rate_limit_mbps=2.5)
    assert_switches_hold_what_the_controller_wants(s)
    assert all(m.rate_kbps == 2500 for dp in s.dps.values() for m in dp.meters.values())
    assert len({dpid for dpid, dp in s.dps.items() if dp.meters}) == len(s.dps)
    metered = [f for dp in s.dps.values() for f in dp.flows.values() if f.meter]
    assert metered and all(f.cookie == s.core.routes["web"].cookie for f in metered)
    s.core.update_route("web", None, rate_limit_mbps=10)
    assert_switches_hold_what_the_controller_wants(s)
    assert {m.rate_kbps for dp in s.dps.values() for m in dp.meters.values()} == {10000}
    s.core.update_route("web", None, rate_limit_mbps=0)  # off: flows without the meter, then no meter
    assert_switches_hold_what_the_controller_wants(s)
    assert not any(dp.meters for dp in s.dps.values())
    assert any(f.cookie == s.core.routes["web"].cookie for dp in s.dps.values() for f in dp.flows.values())
    s.core.update_route("web", None, rate_limit_mbps=1)
    s.app._clear(next(iter(s.dps.values())))  # a reconnect wipes meters too
    assert not next(iter(s.dps.values())).meters


def test_traffic_through_the_bytes_on_the_switches(setup):
    s = setup
    s.core.install_route("web", VIP, "tcp", 80, [ServiceEndpoint("w1", "", 8080, 1)])
    dp = DataPlane(_merged(s), s.view)
    c1 = s.view.hosts["c1"]
    got = dp.send_one("c1", ip_packet(c1, VIP, GATEWAY_MAC), by_hash(0.0))
    assert (got.fate, got.host, got.packet["tcp_dst"]) == (DELIVERED, "w1", 8080)
    back = dp.send_one("w1", answer(s.view, got))
    assert (back.host, back.packet["ipv4_src"]) == ("c1", VIP)


def _merged(s):
    from controller.sdn.pipeline.ruleset import RuleSet

    flows, groups = {}, {}
    for dp in s.dps.values():
        flows.update(dp.flows)
        groups.update(dp.groups)
    return RuleSet(flows, groups)


def test_the_wipe_on_reconnect_spares_rules_that_are_not_stratas(setup):
    s = setup
    s.core.install_route("web", VIP, "tcp", 80, [ServiceEndpoint("w1", "", 8080, 1)])
    dp = next(iter(s.dps.values()))
    lldp = Flow(dp.id, 0, 0xFFFF, (("eth_type", 0x88CC),), (("controller",),), None, 0)  # os-ken's own
    dp.flows[lldp.key] = lldp
    s.app._clear(dp)
    assert list(dp.flows.values()) == [lldp] and not dp.groups
    s.core.switch_connected(dp.id)  # what follows a reconnect: everything again
    assert set(dp.flows) - {lldp.key} == set(s.core.desired().on(dp.id).flows)


@pytest.mark.parametrize("target, mac", [("10.0.255.254", GATEWAY_MAC), ("10.0.0.2", "00:00:00:00:00:02"),
                                         ("10.0.100.1", vip_mac("10.0.100.1"))])
def test_arp_is_answered_for_hosts_the_gateway_and_vips(setup, target, mac):
    s = setup
    s.core.install_route("old", "10.0.100.1", "tcp", 80, [ServiceEndpoint("w1", "", 8080, 1)])  # a VIP of the subnet
    c1 = s.view.hosts["c1"]
    dp = s.dps[c1.dpid]
    request = packet.Packet()
    request.add_protocol(ethernet.ethernet(ethertype=ether_types.ETH_TYPE_ARP, dst="ff:ff:ff:ff:ff:ff", src=c1.mac))
    request.add_protocol(arp.arp(opcode=arp.ARP_REQUEST, src_mac=c1.mac, src_ip=c1.ip, dst_mac="00:00:00:00:00:00",
                                 dst_ip=target))
    request.serialize()
    msg = SimpleNamespace(datapath=dp, data=bytes(request.data), match={"in_port": c1.port})
    s.app._on_packet_in(SimpleNamespace(msg=msg))
    (out,) = dp.packet_outs
    reply = packet.Packet(out.data).get_protocol(arp.arp)
    assert (reply.opcode, reply.src_ip, reply.src_mac, reply.dst_ip) == (arp.ARP_REPLY, target, mac, c1.ip)
    assert [a.port for a in out.actions] == [c1.port]


def test_nothing_answers_for_an_address_nobody_has(setup):
    s = setup
    c1 = s.view.hosts["c1"]
    dp = s.dps[c1.dpid]
    request = packet.Packet()
    request.add_protocol(ethernet.ethernet(ethertype=ether_types.ETH_TYPE_ARP, dst="ff:ff:ff:ff:ff:ff", src=c1.mac))
    request.add_protocol(arp.arp(opcode=arp.ARP_REQUEST, src_mac=c1.mac, src_ip=c1.ip, dst_ip="10.0.77.77"))
    request.serialize()
    s.app._on_packet_in(SimpleNamespace(msg=SimpleNamespace(datapath=dp, data=bytes(request.data),
                                                            match={"in_port": c1.port})))
    assert dp.packet_outs == []


def test_a_reconnecting_switch_stays_connected_whatever_order_its_connections_events_come_in(setup):
    """Under load os-ken delivers a switch's connection events out of order: here the new
    connection's MAIN comes before the old one's, and the old one's DEAD last."""
    s = setup
    dpid = sorted(s.dps)[0]
    del s.app.datapaths[dpid]
    s.core.switch_disconnected(dpid)
    event = lambda dp: SimpleNamespace(datapath=dp, state=dp.state)  # noqa: E731
    old, new = FakeDatapath(dpid), FakeDatapath(dpid)
    for dp in (old, new):
        dp.app, dp.state = s.app, MAIN_DISPATCHER
    s.app._on_state(event(new))
    s.app._on_state(event(old))  # late: os-ken's queues reordered it
    old.state = DEAD_DISPATCHER
    s.app._on_state(event(old))
    assert s.app.datapaths[dpid] is new and s.core.synced(dpid)
    assert_switches_hold_what_the_controller_wants(s)  # the rules are on the live connection
    s.app._on_state(SimpleNamespace(datapath=old, state=MAIN_DISPATCHER))  # a closed one's late MAIN: nothing
    assert s.app.datapaths[dpid] is new
    new.state = DEAD_DISPATCHER
    s.app._on_state(event(new))
    assert dpid not in s.app.datapaths and dpid not in s.core.connected
