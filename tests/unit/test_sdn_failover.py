"""Fast failover: with the rules computed before a link failed, the switches themselves move traffic
to a loop-free alternate the moment the link is down (before the controller recomputes)."""

from __future__ import annotations

from controller.sdn.network import NetworkView
from controller.sdn.pipeline.desired import desired_rules
from flow_table_sim import DELIVERED, DataPlane, declared, to_host

TIERED = declared([("core", "agg1"), ("core", "agg2"), ("agg1", "site1"), ("agg2", "site1"), ("agg1", "site2"),
                   ("agg2", "site2")], {"a1": "site1", "a2": "site1", "b1": "site2", "c": "core"})


def cut(view: NetworkView, a: str, b: str) -> None:
    da, db = view.switch_dpid(a), view.switch_dpid(b)
    port = next(l.src_port for l in view.links.values() if (l.src, l.dst) == (da, db))
    view.set_port_state(da, port, False)


def test_a_site_uplink_cut_is_repaired_by_the_switch_itself():
    view = NetworkView.from_declared(TIERED)
    rules = desired_rules(view, [], [])  # computed while every link is up
    dp = DataPlane(rules, view)
    b1, a1 = view.hosts["b1"], view.hosts["a1"]
    before = dp.send_one("b1", to_host(b1, a1))
    first_agg = view.switch_name(before.switches[1])
    cut(view, "site2", first_agg)          # the switch sees its port go down; no new rules yet
    after = dp.send_one("b1", to_host(b1, a1))
    assert (after.fate, after.host) == (DELIVERED, "a1"), after
    assert view.switch_name(after.switches[1]) != first_agg
    # the way back crosses the cut link at its far end, where the aggregation switch has no loop-free
    # alternate (its other neighbours route through it): that waits for the controller's new rules
    assert dp.send_one("a1", to_host(a1, b1)).fate == "dropped"
    dp.load(desired_rules(view, [], []))
    back = dp.send_one("a1", to_host(a1, b1))
    assert (back.fate, back.host) == (DELIVERED, "b1"), back


def test_every_backup_is_loop_free_whichever_link_fails():
    view = NetworkView.from_declared(TIERED)
    dp = DataPlane(desired_rules(view, [], []), view)
    for (dpid, port), link in sorted(view.links.items()):
        view.set_port_state(dpid, port, False)
        for src in view.hosts:
            for dst in view.hosts:
                if src != dst:
                    copy = dp.send_one(src, to_host(view.hosts[src], view.hosts[dst]))
                    assert copy.fate != "loop", f"{src}->{dst} with {link} down: {copy}"
        view.set_port_state(dpid, port, True)


def test_backups_are_only_where_a_loop_free_alternate_exists():
    view = NetworkView.from_declared(TIERED)
    site1, site2, agg1 = (view.switch_dpid(n) for n in ("site1", "site2", "agg1"))
    assert site2 in view.backup_next_hops(site1)   # two aggregation switches: two ways up
    assert agg1 not in view.backup_next_hops(site1)  # its only way down is the link itself
