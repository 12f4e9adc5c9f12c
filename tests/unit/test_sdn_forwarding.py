"""Baseline forwarding computed by controller.sdn.pipeline, checked by what a fake data plane does with
packets: every host reaches every other over looped topologies without loops or floods, ARP goes
to the controller, other traffic is dropped, and links going down and up again reroute."""

from __future__ import annotations

import itertools
import random

import pytest

from controller.sdn.network import NetworkView
from controller.sdn.pipeline.desired import desired_rules
from flow_table_sim import (CONTROLLER, DELIVERED, DROPPED, ETH_IPV6, ETH_LLDP, DataPlane, arp_request,
                            declared, ip_packet, to_host)

TRIANGLE = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s1")],
                    {"h1": "s1", "h2": "s1", "h3": "s2", "h4": "s3"})
RING4 = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s4"), ("s4", "s1")],
                 {"h1": "s1", "h2": "s2", "h3": "s3", "h4": "s4", "h5": "s3"})
RING5_CHORD = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s4"), ("s4", "s5"), ("s5", "s1"), ("s2", "s5")],
                       {f"h{k}": f"s{k}" for k in range(1, 6)})
LINE3 = declared([("s1", "s2"), ("s2", "s3")], {"h1": "s1", "h2": "s2", "h3": "s3", "h4": "s3"})
PARALLEL = declared([("s1", "s2"), ("s1", "s2"), ("s2", "s3"), ("s3", "s1")], {"h1": "s1", "h2": "s2", "h3": "s3"})

# every one of these stays connected with any single link down
LOOPED = {"triangle": TRIANGLE, "ring4": RING4, "ring5+chord": RING5_CHORD, "parallel": PARALLEL}
ALL = {**LOOPED, "line3": LINE3}


def random_topology(seed: int) -> dict:
    """A connected switch graph (random tree plus random extra links) with 0-2 hosts per switch."""
    rng = random.Random(seed)
    n = rng.randint(4, 8)
    sws = [f"s{k}" for k in range(n)]
    links = {tuple(sorted((sws[k], sws[rng.randrange(k)]))) for k in range(1, n)}
    for _ in range(rng.randint(1, n)):
        a, b = rng.sample(sws, 2)
        links.add(tuple(sorted((a, b))))
    hosts, k = {}, 0
    for sw in sws:
        for _ in range(rng.choice((0, 1, 1, 2))):
            k += 1
            hosts[f"h{k}"] = sw
    if len(hosts) < 2:
        hosts.update({"ha": sws[0], "hb": sws[-1]})
    return declared(sorted(links), hosts)


def view_of(topo: dict) -> NetworkView:
    return NetworkView.from_declared(topo)


def plane(view: NetworkView) -> DataPlane:
    return DataPlane(desired_rules(view, [], []), view)


def switch_links(view: NetworkView) -> list[tuple[int, int]]:
    """One (dpid, port) end per cable."""
    seen, out = set(), []
    for (dpid, port), link in sorted(view.links.items()):
        if (link.dst, link.dst_port) not in seen:
            seen.add((dpid, port))
            out.append((dpid, port))
    return out


def assert_all_pairs_delivered(view: NetworkView, dp: DataPlane, pairs=None) -> None:
    hosts = view.hosts
    for a, b in pairs or itertools.permutations(hosts, 2):
        packet = to_host(hosts[a], hosts[b])
        copy = dp.send_one(a, packet)
        assert copy.fate == DELIVERED and copy.host == b, f"{a} -> {b}: {copy}"
        assert {k: v for k, v in copy.packet.items() if k != "in_port"} == packet, \
            f"{a} -> {b}: baseline forwarding rewrote the packet"
        assert len(set(copy.switches)) == len(copy.switches), f"{a} -> {b} visits a switch twice: {copy}"


def shortest_switch_hops(view: NetworkView, a: str, b: str) -> int:
    import networkx as nx

    return nx.shortest_path_length(view.graph(), view.hosts[a].dpid, view.hosts[b].dpid) + 1


def outputs_onto(rules, dpid: int, port: int) -> list:
    """Flows and group buckets on `dpid` that output to `port`."""
    found = [f for f in rules.flows.values() if f.dpid == dpid and ("output", port) in f.actions]
    found += [g for g in rules.groups.values() if g.dpid == dpid
              for _, actions in g.buckets if ("output", port) in actions]
    return found


# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_every_host_reaches_every_other_on_a_shortest_path(name):
    view = view_of(ALL[name])
    dp = plane(view)
    assert_all_pairs_delivered(view, dp)
    for a, b in itertools.permutations(view.hosts, 2):
        copy = dp.send_one(a, to_host(view.hosts[a], view.hosts[b]))
        assert len(copy.hops) == shortest_switch_hops(view, a, b), f"{a} -> {b} not shortest: {copy}"


@pytest.mark.parametrize("seed", range(25))
def test_random_looped_topologies_deliver_every_pair(seed):
    view = view_of(random_topology(seed))
    assert_all_pairs_delivered(view, plane(view))


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_delivery_does_not_depend_on_protocol_or_ports(proto):
    view = view_of(RING4)
    dp = plane(view)
    h1, h3 = view.hosts["h1"], view.hosts["h3"]
    for sport, dport in [(1, 1), (40000, 80), (65535, 443)]:
        copy = dp.send_one("h1", ip_packet(h1, h3.ip, h3.mac, proto=proto, src_port=sport, dst_port=dport))
        assert (copy.fate, copy.host) == (DELIVERED, "h3")


@pytest.mark.parametrize("name", ALL)
def test_no_rule_floods_or_duplicates(name):
    """Each flow and bucket outputs at most once, so a packet never multiplies in a looped network."""
    rules = desired_rules(view_of(ALL[name]), [], [])
    for flow in rules.flows.values():
        assert sum(1 for a in flow.actions if a[0] in ("output", "controller", "group")) <= 1, flow


@pytest.mark.parametrize("name", ALL)
def test_arp_goes_to_the_controller_at_the_first_switch(name):
    view = view_of(ALL[name])
    dp = plane(view)
    for a, b in itertools.permutations(view.hosts, 2):
        copy = dp.send_one(a, arp_request(view.hosts[a], view.hosts[b].ip))
        assert copy.fate == CONTROLLER and copy.dpid == view.hosts[a].dpid, f"ARP from {a}: {copy}"
    # also for an address nobody has: the controller decides, nothing is flooded
    copy = dp.send_one("h1", arp_request(view.hosts["h1"], "10.9.9.9"))
    assert copy.fate == CONTROLLER and len(copy.hops) == 1


@pytest.mark.parametrize("eth_type", [ETH_IPV6, ETH_LLDP, 0x9000])
def test_non_ip_traffic_is_dropped_at_the_first_switch(eth_type):
    view = view_of(RING4)
    dp = plane(view)
    h1, h3 = view.hosts["h1"], view.hosts["h3"]
    packet = {"eth_type": eth_type, "eth_src": h1.mac, "eth_dst": h3.mac}
    copy = dp.send_one("h1", packet)
    assert copy.fate == DROPPED and len(copy.hops) == 1, copy


def test_ipv4_to_an_unknown_address_is_dropped_not_flooded():
    view = view_of(RING4)
    copy = plane(view).send_one("h1", ip_packet(view.hosts["h1"], "10.9.9.9", "00:00:00:00:99:99"))
    assert copy.fate == DROPPED and len(copy.hops) == 1, copy


def test_rules_do_not_depend_on_declaration_order():
    """Equal-cost paths (ring of 4) are chosen the same way whatever order the topology lists things."""
    topo = RING4
    shuffled = {"switches": list(reversed(topo["switches"])), "links": list(reversed(topo["links"])),
                "hosts": list(reversed(topo["hosts"]))}
    assert desired_rules(view_of(topo), [], []) == desired_rules(view_of(shuffled), [], [])


# ------------------------------------------------------------------------------------------------
# links going down and up

@pytest.mark.parametrize("name", LOOPED)
def test_each_link_down_reroutes_all_pairs_and_up_restores(name):
    base_view = view_of(LOOPED[name])
    original = desired_rules(base_view, [], [])
    for dpid, port in switch_links(base_view):
        for end in (0, 1):  # report the cut from either end of the cable
            view = view_of(LOOPED[name])
            link = view.links[(dpid, port)]
            at = (dpid, port) if end == 0 else (link.dst, link.dst_port)
            assert view.set_port_state(*at, False) is True
            rules = desired_rules(view, [], [])
            assert not outputs_onto(rules, dpid, port), f"output onto down link {(dpid, port)}"
            assert not outputs_onto(rules, link.dst, link.dst_port), "output onto down link (far end)"
            assert_all_pairs_delivered(view, DataPlane(rules, view))
            assert view.set_port_state(*at, True) is True
            assert desired_rules(view, [], []) == original, "rules did not return with the link"


@pytest.mark.parametrize("seed", range(10))
def test_random_link_down_partitions_cleanly(seed):
    """With a random link down, pairs still connected are delivered; the others are dropped, never looped."""
    import networkx as nx

    view = view_of(random_topology(seed))
    dpid, port = random.Random(seed).choice(switch_links(view))
    view.set_port_state(dpid, port, False)
    rules = desired_rules(view, [], [])
    assert not outputs_onto(rules, dpid, port)
    g = view.graph()
    dp = DataPlane(rules, view)
    for a, b in itertools.permutations(view.hosts, 2):
        ha, hb = view.hosts[a], view.hosts[b]
        copy = dp.send_one(a, to_host(ha, hb))
        if nx.has_path(g, ha.dpid, hb.dpid):
            assert (copy.fate, copy.host) == (DELIVERED, b), f"{a} -> {b}: {copy}"
        else:
            assert copy.fate == DROPPED and len(copy.hops) == 1, f"{a} -> {b}: {copy}"


def test_cut_line_drops_across_and_delivers_within():
    view = view_of(LINE3)
    s2, s3 = view.hosts["h2"].dpid, view.hosts["h3"].dpid
    port = next(l.src_port for l in view.links.values() if (l.src, l.dst) == (s2, s3))
    assert view.set_port_state(s2, port, False)
    rules = desired_rules(view, [], [])
    assert not outputs_onto(rules, s2, port)
    dp = DataPlane(rules, view)
    assert_all_pairs_delivered(view, dp, [("h1", "h2"), ("h2", "h1"), ("h3", "h4"), ("h4", "h3")])
    for a, b in [("h1", "h3"), ("h2", "h4"), ("h3", "h1"), ("h4", "h2")]:
        copy = dp.send_one(a, to_host(view.hosts[a], view.hosts[b]))
        assert copy.fate == DROPPED and len(copy.hops) == 1, f"{a} -> {b}: {copy}"


def test_port_state_events_report_only_link_changes():
    view = view_of(RING4)
    before = desired_rules(view, [], [])
    h1 = view.hosts["h1"]
    assert view.set_port_state(h1.dpid, h1.port, False) is False  # a host port: no link changes
    assert view.set_port_state(h1.dpid, 99, False) is False       # a port nobody declared
    assert all(l.up for l in view.links.values())
    assert desired_rules(view, [], []) == before
    dpid, port = switch_links(view)[0]
    assert view.set_port_state(dpid, port, False) is True
    assert view.set_port_state(dpid, port, False) is False        # already down
    assert view.set_port_state(dpid, port, True) is True
    assert view.set_port_state(dpid, port, True) is False
