"""rules.diff: the change that takes a switch from the rules it holds to the desired ones, applied to
fake switch tables with OpenFlow's semantics (groups must exist before flows use them, ADD replaces
a flow of the same match and priority, deleting a group deletes the flows that use it)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from controller.sdn.network import NetworkView
from controller.sdn.model import ReservedPath, ServiceEndpoint, ServiceRoute
from controller.sdn.pipeline.desired import desired_rules
from controller.sdn.pipeline.ruleset import RuleSet, diff
from flow_table_sim import FakeSwitch, declared

RING = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s4"), ("s4", "s1")],
                {"h1": "s1", "h2": "s2", "h3": "s3", "h4": "s4", "h5": "s3"})


def make_view() -> NetworkView:
    return NetworkView.from_declared(RING)


def web(view, weights=(3, 1), service_id=1, vip="10.0.100.1", port=80) -> ServiceRoute:
    eps = tuple(ServiceEndpoint(h, view.hosts[h].ip, 8080, w) for h, w in zip(("h3", "h2"), weights))
    return ServiceRoute(f"svc{service_id}", vip, "tcp", port, eps, service_id)


def a_path(view, path_id=1) -> ReservedPath:
    return ReservedPath(path_id, "h1", "h3", 10.0, tuple(view.path("h1", "h3")))


def scenarios() -> dict[str, tuple[RuleSet, RuleSet]]:
    """name -> (installed, desired), over the whole network."""
    view = make_view()
    base = desired_rules(view, [], [])
    with_web = desired_rules(view, [web(view)], [])
    reweighted = desired_rules(view, [web(view, (1, 1))], [])
    one_endpoint = desired_rules(view, [web(view, (1, 0))], [])
    two = desired_rules(view, [web(view), web(view, service_id=2, vip="10.0.100.2")], [a_path(view)])
    down_view = make_view()
    dpid, port = sorted(down_view.links)[0]
    down_view.set_port_state(dpid, port, False)
    down = desired_rules(down_view, [web(down_view)], [a_path(down_view)])
    return {
        "empty->baseline": (RuleSet({}, {}), base),
        "baseline->empty": (base, RuleSet({}, {})),
        "add service": (base, with_web),
        "remove service": (with_web, base),
        "reweight": (with_web, reweighted),
        "drop an endpoint": (with_web, one_endpoint),
        "add an endpoint": (one_endpoint, with_web),
        "add service and path": (with_web, two),
        "remove service and path": (two, with_web),
        "link down": (two, down),
        "link up": (down, two),
    }


SCENARIOS = scenarios()


def switches_holding(rules: RuleSet, dpids) -> dict[int, FakeSwitch]:
    out = {}
    for dpid in dpids:
        sw = FakeSwitch(dpid)
        part = rules.on(dpid)
        sw.flows.update(part.flows)
        sw.groups.update(part.groups)
        out[dpid] = sw
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_applying_the_diff_yields_exactly_the_desired_rules(name):
    installed, desired = SCENARIOS[name]
    dpids = sorted(make_view().switches)
    switches = switches_holding(installed, dpids)
    for dpid, sw in switches.items():
        sw.apply(diff(installed.on(dpid), desired.on(dpid)))
        assert sw.errors == [], f"dpid {dpid}: {sw.errors}"
        assert sw.rules() == desired.on(dpid), f"dpid {dpid} does not hold the desired rules"


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_diff_of_the_whole_network_at_once_works_too(name):
    installed, desired = SCENARIOS[name]
    table = {"flows": dict(installed.flows), "groups": dict(installed.groups)}
    change = diff(installed, desired)
    for k in [f.key for f in change.delete_flows]:
        del table["flows"][k]
    for f in change.add_flows:
        table["flows"][f.key] = f
    for g in change.delete_groups:
        del table["groups"][g.key]
    for g in change.add_groups + change.modify_groups:
        table["groups"][g.key] = g
    assert RuleSet(table["flows"], table["groups"]) == desired


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_diff_touches_only_what_changed(name):
    installed, desired = SCENARIOS[name]
    change = diff(installed, desired)
    changed_flows = {k for k in set(installed.flows) | set(desired.flows)
                     if installed.flows.get(k) != desired.flows.get(k)}
    changed_groups = {k for k in set(installed.groups) | set(desired.groups)
                      if installed.groups.get(k) != desired.groups.get(k)}
    sent_flows = [f.key for f in change.add_flows + change.delete_flows]
    sent_groups = [g.key for g in change.add_groups + change.modify_groups + change.delete_groups]
    assert sorted(sent_flows, key=repr) == sorted(changed_flows, key=repr), "a flow sent twice, or an unchanged one sent"
    assert sorted(sent_groups) == sorted(changed_groups)


def test_a_changed_group_is_modified_in_place():
    """Re-weighting keeps the group (no delete + add, which would drop traffic in between)."""
    installed, desired = SCENARIOS["reweight"]
    change = diff(installed, desired)
    assert change.modify_groups and not change.add_groups and not change.delete_groups
    assert not change.delete_flows


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_set_against_itself_is_empty(name):
    for rules in SCENARIOS[name]:
        change = diff(rules, rules)
        assert change.empty
        assert not (change.add_flows or change.delete_flows or change.add_groups
                    or change.modify_groups or change.delete_groups)


def test_empty_means_nothing_to_send():
    installed, desired = SCENARIOS["add service"]
    assert not diff(installed, desired).empty
    assert diff(RuleSet({}, {}), RuleSet({}, {})).empty


@pytest.mark.parametrize("seed", range(30))
def test_random_installed_states_converge(seed):
    """From any mix of stale, missing, altered and foreign-but-same-key rules, one diff converges."""
    rng = random.Random(seed)
    names = list(SCENARIOS)
    _, desired = SCENARIOS[rng.choice(names)]
    _, other = SCENARIOS[rng.choice(names)]
    installed_flows = {k: f for k, f in desired.flows.items() if rng.random() < 0.6}
    installed_flows.update({k: f for k, f in other.flows.items() if rng.random() < 0.3})
    for k in rng.sample(sorted(installed_flows, key=repr), min(5, len(installed_flows))):
        f = installed_flows[k]
        installed_flows[k] = replace(f, actions=f.actions + (("output", 99),), cookie=f.cookie ^ 0x2)
    installed_groups = {k: g for k, g in desired.groups.items() if rng.random() < 0.5}
    installed_groups.update({k: g for k, g in other.groups.items() if rng.random() < 0.5})
    for k in list(installed_groups)[:1]:
        g = installed_groups[k]
        installed_groups[k] = replace(g, buckets=g.buckets[:1])
    installed = RuleSet(installed_flows, installed_groups)
    for dpid in sorted(make_view().switches):
        sw = switches_holding(installed, [dpid])[dpid]
        change = diff(installed.on(dpid), desired.on(dpid))
        sw.apply(change)
        assert sw.rules() == desired.on(dpid), f"seed {seed} dpid {dpid}"
        # a group the installed flows still use is only deleted once no flow uses it
        assert not [e for e in sw.errors if "deleted under" in e or "BAD_OUT_GROUP" in e], sw.errors
