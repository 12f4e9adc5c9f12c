"""The fake data plane (flow_table_sim) that the other SDN tests trust: it must report loops, floods,
drops, punts, ambiguous matches and bad group handling, or those tests could not fail."""

from __future__ import annotations

from fractions import Fraction

import pytest

from controller.sdn.network import NetworkView
from controller.sdn.pipeline.ruleset import Flow, Group, RuleDiff, RuleSet
from controller.sdn.pipeline.tables import ETH_IPV4
from flow_table_sim import (CONTROLLER, DROPPED, LOOP, AmbiguousMatch, DataPlane, FakeSwitch,
                            NeedsChoice, by_hash, declared, shares, to_host)

TRIANGLE = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s1")], {"h1": "s1", "h2": "s2", "h3": "s3"})


@pytest.fixture
def view():
    return NetworkView.from_declared(TRIANGLE)


def dpid(view, sw):
    return next(s.dpid for s in view.switches.values() if s.name == sw)


def port_to(view, a, b):
    return next(l.src_port for l in view.links.values() if (l.src, l.dst) == (dpid(view, a), dpid(view, b)))


def flow(dp, match=(), actions=(), table=0, priority=10, goto=None):
    return Flow(dp, table, priority, tuple(sorted(match)), tuple(actions), goto, 1)


def rules(flows=(), groups=()):
    return RuleSet({f.key: f for f in flows}, {g.key: g for g in groups})


def test_a_forwarding_cycle_is_reported_as_a_loop(view):
    ring = [flow(dpid(view, a), actions=[("output", port_to(view, a, b))])
            for a, b in [("s1", "s2"), ("s2", "s3"), ("s3", "s1")]]
    copy = DataPlane(rules(ring), view).send_one("h1", to_host(view.hosts["h1"], view.hosts["h2"]))
    assert copy.fate == LOOP


def test_two_outputs_make_two_copies(view):
    s1 = dpid(view, "s1")
    flood = [flow(s1, actions=[("output", port_to(view, "s1", "s2")), ("output", port_to(view, "s1", "s3"))])]
    dp = DataPlane(rules(flood), view)
    copies = dp.send("h1", to_host(view.hosts["h1"], view.hosts["h2"]))
    assert len(copies) == 2
    with pytest.raises(AssertionError):
        dp.send_one("h1", to_host(view.hosts["h1"], view.hosts["h2"]))


def test_rewrites_then_goto_then_delivery(view):
    s1, h1 = dpid(view, "s1"), view.hosts["h1"]
    flows = [flow(s1, actions=[("set_field", "ipv4_dst", "10.0.0.2")], goto=1),
             flow(s1, [("ipv4_dst", "10.0.0.2")], [("output", 99)], table=1),
             flow(s1, [("ipv4_dst", "10.0.0.3")], [("output", h1.port)], table=1)]
    copy = DataPlane(rules(flows), view).send_one("h1", to_host(h1, view.hosts["h3"]))
    assert copy.fate == DROPPED and "nowhere" in copy.reason and copy.packet["ipv4_dst"] == "10.0.0.2"


def test_highest_priority_wins_and_equal_priorities_overlapping_are_an_error(view):
    s1, h1, h2 = dpid(view, "s1"), view.hosts["h1"], view.hosts["h2"]
    to_s2 = port_to(view, "s1", "s2")
    s2 = dpid(view, "s2")
    deliver = flow(s2, actions=[("output", h2.port)])
    dp = DataPlane(rules([flow(s1, [], [("controller",)], priority=5), flow(s1, [("eth_type", ETH_IPV4)],
                                                                            [("output", to_s2)], priority=6),
                          deliver]), view)
    assert dp.send_one("h1", to_host(h1, h2)).host == "h2"
    dp = DataPlane(rules([flow(s1, [], [("controller",)], priority=7), flow(s1, [("eth_type", ETH_IPV4)],
                                                                            [("output", to_s2)], priority=6),
                          deliver]), view)
    assert dp.send_one("h1", to_host(h1, h2)).fate == CONTROLLER
    dp = DataPlane(rules([flow(s1, [], [("controller",)], priority=6), flow(s1, [("eth_type", ETH_IPV4)],
                                                                            [("output", to_s2)], priority=6)]), view)
    with pytest.raises(AmbiguousMatch):
        dp.send("h1", to_host(h1, h2))


def test_output_to_ingress_down_links_and_table_misses_drop(view):
    s1, h1, h2 = dpid(view, "s1"), view.hosts["h1"], view.hosts["h2"]
    pkt = to_host(h1, h2)
    assert "ingress" in DataPlane(rules([flow(s1, actions=[("output", h1.port)])]), view).send_one("h1", pkt).reason
    assert DataPlane(rules([]), view).send_one("h1", pkt).fate == DROPPED
    view.set_port_state(s1, port_to(view, "s1", "s2"), False)
    copy = DataPlane(rules([flow(s1, actions=[("output", port_to(view, "s1", "s2"))])]), view).send_one("h1", pkt)
    assert copy.fate == DROPPED and "down" in copy.reason


def test_select_groups_branch_by_weight(view):
    s1, h1 = dpid(view, "s1"), view.hosts["h1"]
    s2, s3 = dpid(view, "s2"), dpid(view, "s3")
    group = Group(s1, 5, ((3, (("output", port_to(view, "s1", "s2")),)),
                          (0, (("output", 77),)),
                          (1, (("set_field", "ipv4_dst", "10.0.0.3"), ("output", port_to(view, "s1", "s3"))))), 1)
    flows = [flow(s1, actions=[("group", 5)]), flow(s2, actions=[("output", view.hosts["h2"].port)]),
             flow(s3, actions=[("output", view.hosts["h3"].port)])]
    dp = DataPlane(rules(flows, [group]), view)
    pkt = to_host(h1, view.hosts["h2"])
    branches = dp.explore("h1", pkt)
    assert len(branches) == 3  # the weight-0 bucket is explored too, with probability 0
    assert shares(branches) == {"h2": Fraction(3, 4), "h3": Fraction(1, 4)}
    assert [b.only.fate for b in branches if b.probability == 0] == [DROPPED]
    assert pkt["ipv4_dst"] == "10.0.0.2"  # the caller's packet is not changed
    assert dp.send_one("h1", pkt, by_hash(0.5)).host == "h2"
    assert dp.send_one("h1", pkt, by_hash(0.8)).host == "h3"
    with pytest.raises(NeedsChoice):
        dp.send("h1", pkt)


def test_fake_switch_enforces_openflow_group_rules():
    sw = FakeSwitch(1)
    g = Group(1, 9, ((1, (("output", 2),)),), 5)
    f = Flow(1, 0, 10, (), (("group", 9),), None, 5)
    sw.apply(RuleDiff([], [], [], [f], []))
    assert sw.errors and not sw.flows  # a flow may not use a group that does not exist
    sw = FakeSwitch(1)
    sw.apply(RuleDiff([g], [], [], [f], []))
    assert not sw.errors and sw.flows
    sw.apply(RuleDiff([g], [], [], [], []))
    assert sw.errors  # adding it twice
    sw = FakeSwitch(1)
    sw.apply(RuleDiff([g], [], [], [f], []))
    sw.apply(RuleDiff([], [], [g], [], []))
    assert sw.errors and not sw.flows  # deleting a group takes its flows with it
    sw = FakeSwitch(1)
    sw.apply(RuleDiff([], [g], [], [], []))
    assert sw.errors  # modifying one that does not exist
    sw = FakeSwitch(1)
    sw.apply(RuleDiff([Group(1, 9, ((70000, (("output", 2),)),), 5)], [], [], [], []))
    assert sw.errors  # a bucket weight is 16 bits
