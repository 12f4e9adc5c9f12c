"""Spread and anti-affinity in the orchestrator: services' rules and nodes' zones in the placement
problem, replicas already placed, hard rules no capacity can satisfy refused at Deploy and Scale."""

from __future__ import annotations

from collections import Counter

import pytest

from api.app import AppSpec, ServiceSpec, SpreadSpec
from component_base.errors import FailedPrecondition
from controller.orchestrator.controllers.scheduling import near_rings, problem_for
from controller.orchestrator.store import NodeRecord, Store
from controller.placement.model import ServiceRule, Spread

from test_orchestrator_core import Cluster, FakeSdn

ZONES = {"edge1": "s1", "edge2": "s1", "edge3": "s3"}  # the switches FakeSdn's graph puts them on


def zoned(c: Cluster, zones: dict[str, str] = ZONES) -> Cluster:
    """The cluster's nodes registered again, each on its switch (its zone)."""
    for name, switch in zones.items():
        old = c.o.state.nodes[name]
        c.o.register_node(NodeRecord(name, old.agent_address, old.ip, switch, old.blob_address,
                                     old.cpu_millicores, old.storage_bytes, old.bandwidth_mbps))
    return c


def shop(web=3, **rules) -> AppSpec:
    return AppSpec("shop", (ServiceSpec("web", "web", replicas=web, cpu_millicores=100, dependencies=("db",), **rules),
                            ServiceSpec("db", "db", cpu_millicores=100)))


SPREAD = dict(max_per_node=1, spread=(SpreadSpec("node", 1, True), SpreadSpec("zone", 2, False)), prefer_apart=True)


def placed(c: Cluster, service: str = "web") -> dict[str, int]:
    return dict(Counter(i.record.node for i in c.o.deployment("shop").instances if i.record.service == service))


def test_the_problem_carries_the_services_rules_and_the_nodes_zones(tmp_path):
    c = zoned(Cluster(tmp_path))
    c.o.deploy(shop(**SPREAD))
    c.schedule()
    problem = c.placer.problems[0]
    assert {s.name: s.zone for s in problem.servers} == ZONES
    assert problem.rules == (ServiceRule("shop/web", 1, (Spread("server", 1, True), Spread("zone", 2, False)),
                                         True, ()),)  # db has no rule; nothing of web placed yet
    assert {c.service_name for c in problem.members("shop/web")} == {"shop/web"}
    assert len(problem.members("shop/web")) == 3


def test_a_scale_counts_the_replicas_already_running_on_ready_nodes(tmp_path):
    c = zoned(Cluster(tmp_path))
    c.o.deploy(shop(web=2, **SPREAD))
    c.settle()
    before = placed(c)
    c.o.scale("shop", "web", 3)
    c.schedule()
    [rule] = c.placer.problems[-1].rules
    assert rule.placed_on == before and sum(before.values()) == 2
    assert [x.service_name for x in c.placer.problems[-1].containers] == ["shop/web"]


def test_replicas_on_a_node_that_is_not_ready_are_not_counted(tmp_path):
    c = zoned(Cluster(tmp_path))
    c.o.deploy(shop(web=2, **SPREAD))
    c.settle()
    before = placed(c)
    down = sorted(before)[0]
    c.alive.discard(down)
    c.clock.now += 5  # silent past node_timeout: not ready, not lost yet
    c.beat()
    c.o.scale("shop", "web", 3)
    with c.o.state.lock:
        new = [(i.name, c.o.apps["shop"], i.service) for i in c.o.instances.values() if not i.node]
        problem = problem_for(c.o.state, new, 1.0)
    assert down not in {s.name for s in problem.servers}
    assert problem.rule_of["shop/web"].placed_on == {n: k for n, k in before.items() if n != down}


def test_services_without_rules_give_the_problem_none(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(shop())
    c.schedule()
    assert c.placer.problems[0].rules == ()
    assert {s.zone for s in c.placer.problems[0].servers} == {"s1"}  # Cluster puts every node on s1


def test_more_replicas_than_max_per_node_lets_the_nodes_take_are_refused_and_nothing_is_recorded(tmp_path):
    c = Cluster(tmp_path)
    with pytest.raises(FailedPrecondition, match=r'shop: service "web": at most 1 replica\(s\) per node '
                                                 r"\(max_per_node\): 4 replicas need 4 nodes, and there are 3"):
        c.o.deploy(shop(web=4, max_per_node=1))
    assert not c.o.apps and not c.o.instances and not Store(c.path).apps()
    c.o.deploy(shop(web=6, max_per_node=2))  # 2 per node x 3 nodes: allowed
    assert len(c.o.instances) == 7


def test_a_scale_past_max_per_node_is_refused_and_leaves_the_app_as_it_was(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(shop(web=3, max_per_node=1))
    c.settle()
    before = {name: i.node for name, i in c.o.instances.items()}
    with pytest.raises(FailedPrecondition, match='service "web": at most 1 replica'):
        c.o.scale("shop", "web", 4)
    assert c.o.apps["shop"].spec.service("web").replicas == 3
    assert {name: i.node for name, i in c.o.instances.items()} == before
    assert Store(c.path).apps()[0].spec.service("web").replicas == 3
    c.o.scale("shop", "web", 2)  # scaling in is always allowed
    assert c.o.apps["shop"].spec.service("web").replicas == 2


def test_lost_nodes_do_not_count_toward_max_per_node(tmp_path):
    c = Cluster(tmp_path)
    c.alive.discard("edge3")
    c.clock.now += 15  # silent past evict_after: lost
    c.settle()
    assert c.o.state.lost == {"edge3"}
    with pytest.raises(FailedPrecondition, match="3 replicas need 3 nodes, and there are 2: edge1, edge2"):
        c.o.deploy(shop(web=3, max_per_node=1))


def test_a_required_zone_spread_needs_nodes_in_zones(tmp_path):
    c = zoned(Cluster(tmp_path), {name: "" for name in ZONES})
    with pytest.raises(FailedPrecondition, match="a required spread over zones needs nodes in zones"):
        c.o.deploy(shop(spread=(SpreadSpec("zone", 1, True),)))
    c.o.deploy(shop(spread=(SpreadSpec("zone", 1, False),)))  # preferred: placed anyway


def test_a_deploy_that_fits_nowhere_says_which_rules_it_was_placed_under(tmp_path):
    c = Cluster(tmp_path, cpu=150)
    c.o.deploy(AppSpec("shop", (ServiceSpec("web", "web", replicas=2, cpu_millicores=200, max_per_node=1),)))
    c.settle()
    messages = {i.message for i in c.o.deployment("shop").instances}
    assert len(messages) == 1
    [message] = messages
    assert message.startswith("not placed: no placement fits the ready nodes")
    assert message.endswith('; under the rules: service "web": at most 1 per node')


def test_the_rules_survive_a_restart(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(shop(**SPREAD))
    c.o.stop()
    c.o = c.orchestrator()
    assert c.o.apps["shop"].spec == shop(**SPREAD)


def test_near_rings_keep_the_replicas_placed_within_each_ring_and_a_hard_spread_keeps_every_node(tmp_path):
    c = zoned(Cluster(tmp_path))
    c.o.deploy(shop(web=1, max_per_node=1))
    c.settle()
    c.o.scale("shop", "web", 2)
    with c.o.state.lock:
        new = [(i.name, c.o.apps["shop"], i.service) for i in c.o.instances.values() if not i.node]
        problem = problem_for(c.o.state, new, 1.0)
    [(holder, _)] = problem.rules[0].placed
    rings = near_rings(problem, "edge3", FakeSdn().switch_graph())
    assert [sorted(s.name for s in r.servers) for r in rings] == [["edge3"], ["edge1", "edge2", "edge3"]]
    for ring in rings:
        names = {s.name for s in ring.servers}
        assert ring.rules[0].placed_on == ({holder: 1} if holder in names else {})
    hard = problem.__class__(problem.servers, problem.layers, problem.containers,
                             rules=(ServiceRule("shop/web", spread=(Spread("server", 1, True),)),))
    assert near_rings(hard, "edge3", FakeSdn().switch_graph()) == [hard]


# ---------------------------------------------------------------- with the placement algorithms' rules

@pytest.mark.parametrize("algorithm", ["strata", "kube-default", "ilp"])
def test_replicas_one_per_node_land_on_different_nodes_and_a_scale_keeps_them_apart(tmp_path, algorithm):
    c = zoned(Cluster(tmp_path))
    spec = shop(web=2, max_per_node=1)
    c.o.deploy(spec, algorithm=algorithm)
    c.settle()
    assert placed(c) == {placed_node: 1 for placed_node in placed(c)} and len(placed(c)) == 2
    c.o.scale("shop", "web", 3)
    c.settle()
    assert placed(c) == {"edge1": 1, "edge2": 1, "edge3": 1} and c.o.deployment("shop").ready


def test_a_hard_zone_spread_puts_replicas_in_both_zones(tmp_path):
    c = zoned(Cluster(tmp_path))
    c.o.deploy(shop(web=2, spread=(SpreadSpec("zone", 1, True),)))
    c.settle()
    assert sorted(ZONES[node] for node in placed(c)) == ["s1", "s3"]


def test_what_only_the_capacities_break_stays_pending_naming_the_service_and_its_rule(tmp_path):
    c = zoned(Cluster(tmp_path, cpu=1000))
    c.o.deploy(AppSpec("big", (ServiceSpec("hog", "db", cpu_millicores=950),)))  # one node nearly full
    c.settle()
    c.o.deploy(shop(web=3, max_per_node=1))
    c.settle()
    pending = [i for i in c.o.deployment("shop").instances if i.phase == "pending"]
    assert pending and all(not i.record.node for i in pending)
    assert all('service "web": at most 1 per node' in i.message for i in pending)
    c.o.delete("big")  # room again: placed, one per node
    c.settle()
    assert placed(c) == {"edge1": 1, "edge2": 1, "edge3": 1}
