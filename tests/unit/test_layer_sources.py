"""The orchestrator's choice of where each missing layer is pulled from: nearest peer, or the registry."""

from __future__ import annotations

import hashlib

import pytest

from component_base.errors import InvalidArgument
from controller.orchestrator.sources import UNKNOWN_HOPS, Hops, SwitchGraph, Source, plan_sources, worth_waiting_for
from strata.v1 import sdn_pb2


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


A, B, C, D = digest("a"), digest("b"), digest("c"), digest("d")


def cable(a: str, b: str, capacity: float = 1000.0, reserved: float = 0.0) -> list[tuple]:
    return [(a, b, capacity, reserved, True), (b, a, capacity, reserved, True)]


def tiered() -> SwitchGraph:
    """Cloud switch c1 (the registry) - aggregation a1, a2 - access e1, e2 (under a1), e3, e4 (under a2);
    two edge nodes per access switch: edge1, edge2 on e1, edge3, edge4 on e2, and so on."""
    links = [*cable("c1", "a1"), *cable("c1", "a2"),
             *cable("a1", "e1", 100), *cable("a1", "e2", 100), *cable("a2", "e3", 100), *cable("a2", "e4", 100)]
    hosts = {"registry": "c1", "cloud1": "c1"}
    for k in range(8):
        hosts[f"edge{k + 1}"] = f"e{k // 2 + 1}"
    return SwitchGraph(switch_links=links, host_switch=hosts)


def set_link(view: SwitchGraph, src: str, dst: str, *, up: bool | None = None, reserved: float | None = None) -> None:
    for k, (a, b, capacity, was_reserved, was_up) in enumerate(view.switch_links):
        if (a, b) == (src, dst):
            view.switch_links[k] = (a, b, capacity, was_reserved if reserved is None else reserved,
                                    was_up if up is None else up)
            return
    raise AssertionError(f"no link {src} -> {dst}")


def plan(view, requester, layers, holders, registry="registry", **options):
    return plan_sources(view, requester, layers, holders, registry, **options)


# -- nearest -----------------------------------------------------------------------------------

def test_a_holder_on_the_same_access_switch_beats_far_holders_and_the_registry():
    view = tiered()
    sources = plan(view, "edge1", [(A, 1000)], {A: ["edge5", "edge3", "edge2", "cloud1"]})
    assert sources == {A: Source("peer", "edge2", 0)}


def test_hops_count_switch_links_between_source_and_requester():
    view = tiered()
    far = {A: ["edge3"], B: ["edge5"], C: ["cloud1"], D: ["edge2"]}
    sources = plan(view, "edge1", [(A, 10), (B, 10), (C, 10), (D, 10)], far, registry="nowhere")
    assert {d: s.hops for d, s in sources.items()} == {A: 2, B: 4, C: 2, D: 0}


def test_the_registry_serves_what_no_peer_holds():
    sources = plan(tiered(), "edge1", [(A, 10)], {})
    assert sources == {A: Source("registry", "registry", 2)}


def test_the_registry_wins_only_when_strictly_nearer():
    view = tiered()
    sources = plan(view, "edge1", [(A, 10), (B, 10)], {A: ["edge5"], B: ["edge3"]})
    assert sources[A] == Source("registry", "registry", 2)  # edge5 is 4 hops away
    assert sources[B] == Source("peer", "edge3", 2)  # as near as the registry: the peer offloads it


def test_the_result_follows_the_order_of_the_layers_each_digest_once():
    view = tiered()
    sources = plan(view, "edge1", [(C, 5), (A, 50), (C, 5), (B, 500)], {A: ["edge2"]})
    assert list(sources) == [C, A, B]


# -- ties -----------------------------------------------------------------------------------------

def test_equidistant_holders_share_the_load():
    view = tiered()
    layers = [(A, 100), (B, 100), (C, 100), (D, 100)]
    holders = {d: ["edge3", "edge4"] for d, _ in layers}

    sources = plan(view, "edge1", layers, holders)

    per_holder = {}
    for d, size in layers:
        assert sources[d].kind == "peer" and sources[d].hops == 2
        per_holder[sources[d].host] = per_holder.get(sources[d].host, 0) + size
    assert per_holder == {"edge3": 200, "edge4": 200}


def test_load_is_spread_by_bytes_largest_layer_first():
    view = tiered()
    layers = [(A, 100), (B, 100), (C, 300), (D, 100)]
    holders = {d: ["edge4", "edge3"] for d, _ in layers}

    sources = plan(view, "edge1", layers, holders)

    assert sources[C].host == "edge3"  # the big one first, to the first name
    assert {sources[d].host for d in (A, B, D)} == {"edge4"}


def test_the_path_with_more_free_bandwidth_wins_a_tie():
    # requester on s0, cabled to s1 and s2; a holder on each; s1 -> s0 mostly reserved
    links = [*cable("s0", "s1", 100, 90), *cable("s0", "s2", 100, 10)]
    view = SwitchGraph(links, {"req": "s0", "alpha": "s1", "beta": "s2"})

    sources = plan(view, "req", [(A, 10), (B, 10)], {A: ["alpha", "beta"], B: ["alpha", "beta"]}, registry="none")

    assert sources == {A: Source("peer", "beta", 1), B: Source("peer", "beta", 1)}


def test_bandwidth_is_counted_in_the_direction_the_bytes_flow():
    links = [*cable("s0", "s1", 100), *cable("s0", "s2", 100)]
    view = SwitchGraph(links, {"req": "s0", "alpha": "s1", "beta": "s2"})
    set_link(view, "s0", "s1", reserved=95)  # requests towards alpha: they are small
    set_link(view, "s2", "s0", reserved=50)  # beta's bytes towards the requester

    sources = plan(view, "req", [(A, 10)], {A: ["beta", "alpha"]}, registry="none")

    assert sources[A].host == "alpha"


def test_the_widest_of_several_shortest_paths_counts():
    # two two-hop paths from s3 to s0: through s1 (narrow) and s2 (wide); alpha on s3, beta on s4 behind a
    # single path as long but narrower than the wide one
    links = [*cable("s0", "s1", 10), *cable("s1", "s3", 1000), *cable("s0", "s2", 1000), *cable("s2", "s3", 1000),
             *cable("s0", "s5", 500), *cable("s5", "s4", 500)]
    view = SwitchGraph(links, {"req": "s0", "alpha": "s3", "beta": "s4"})
    assert view.reach("s0")["s3"] == (2, 1000)
    sources = plan(view, "req", [(A, 10)], {A: ["beta", "alpha"]}, registry="none")
    assert sources[A] == Source("peer", "alpha", 2)


# -- what cannot be a source -----------------------------------------------------------------------

def test_a_down_link_makes_a_holder_unreachable_and_the_next_nearest_is_chosen():
    view = tiered()
    set_link(view, "e2", "a1", up=False)  # edge3 and edge4 can no longer send towards edge1

    sources = plan(view, "edge1", [(A, 10)], {A: ["edge3", "edge5"]}, registry="mirror")  # no registry in view

    assert sources == {A: Source("peer", "edge5", 4)}


def test_a_down_link_falls_back_to_the_registry_when_it_is_nearer():
    view = tiered()
    set_link(view, "e2", "a1", up=False)
    sources = plan(view, "edge1", [(A, 10)], {A: ["edge3", "edge5"]})
    assert sources == {A: Source("registry", "registry", 2)}


def test_a_holder_that_cannot_be_reached_by_requests_is_not_chosen_either():
    view = tiered()
    set_link(view, "a1", "e2", up=False)  # edge3's bytes could flow, the requests could not get there
    sources = plan(view, "edge1", [(A, 10)], {A: ["edge3"]})
    assert sources == {A: Source("registry", "registry", 2)}


def test_holders_the_view_does_not_place_are_skipped():
    sources = plan(tiered(), "edge1", [(A, 10)], {A: ["ghost", "edge3"]})
    assert sources == {A: Source("peer", "edge3", 2)}


def test_the_requester_is_never_its_own_source():
    view = tiered()
    sources = plan(view, "edge1", [(A, 10), (B, 10)], {A: ["edge1"], B: ["edge1", "edge3"]})
    assert sources == {A: Source("registry", "registry", 2), B: Source("peer", "edge3", 2)}


def test_an_unplaced_requester_pulls_everything_from_the_registry():
    sources = plan(tiered(), "newcomer", [(A, 10)], {A: ["edge1"]})
    assert sources == {A: Source("registry", "registry", UNKNOWN_HOPS)}


def test_a_registry_the_view_cannot_reach_is_still_the_fallback():
    view = tiered()
    set_link(view, "c1", "a1", up=False)
    sources = plan(view, "edge1", [(A, 10), (B, 10)], {A: ["edge2"]})
    assert sources == {A: Source("peer", "edge2", 0), B: Source("registry", "registry", UNKNOWN_HOPS)}


def test_without_peers_everything_comes_from_the_registry():
    view = tiered()
    sources = plan(view, "edge1", [(A, 10), (B, 20)], {A: ["edge2"], B: ["edge2", "edge3"]}, peers=False)
    assert sources == {A: Source("registry", "registry", 2), B: Source("registry", "registry", 2)}


def test_inconsistent_sizes_are_refused():
    with pytest.raises(InvalidArgument, match="two sizes"):
        plan(tiered(), "edge1", [(A, 10), (A, 11)], {})
    with pytest.raises(InvalidArgument, match="negative"):
        plan(tiered(), "edge1", [(A, -1)], {})


def test_the_plan_does_not_depend_on_the_order_of_holders():
    view = tiered()
    layers = [(A, 100), (B, 100), (C, 300)]
    one = plan(view, "edge1", layers, {d: ["edge3", "edge4"] for d, _ in layers})
    other = plan(view, "edge1", layers, {d: {"edge4", "edge3"} for d, _ in layers})
    assert one == other


# -- from the SDN's topology ---------------------------------------------------------------------

def test_from_topology_reads_the_sdn_answer():
    def link(src, dst, up=True, reserved=0.0):
        return sdn_pb2.Link(src_switch=src, src_port=1, dst_switch=dst, dst_port=2,
                            capacity_mbps=100.0, reserved_mbps=reserved, up=up)

    topology = sdn_pb2.Topology(
        switches=[sdn_pb2.Switch(name=n, dpid=k + 1, connected=True) for k, n in enumerate(["s1", "s2", "s3"])],
        links=[link("s1", "s2"), link("s2", "s1", reserved=40.0), link("s2", "s3", up=False), link("s3", "s2")],
        hosts=[sdn_pb2.Host(name="registry", ip="10.0.0.1", switch="s1", role="registry"),
               sdn_pb2.Host(name="edge1", ip="10.0.0.2", switch="s2", role="edge-server"),
               sdn_pb2.Host(name="edge2", ip="10.0.0.3", switch="s3", role="edge-server"),
               sdn_pb2.Host(name="lost", ip="10.0.0.9", switch="")])

    view = SwitchGraph.from_topology(topology)

    assert view.switch_links == [("s1", "s2", 100.0, 0.0, True), ("s2", "s1", 100.0, 40.0, True),
                                 ("s2", "s3", 100.0, 0.0, False), ("s3", "s2", 100.0, 0.0, True)]
    assert view.host_switch == {"registry": "s1", "edge1": "s2", "edge2": "s3"}
    assert view.reach("s1") == {"s1": (0, float("inf")), "s2": (1, 60.0), "s3": (2, 60.0)}
    # edge2 cannot be reached from edge1 (s2 -> s3 is down): edge1 pulls from the registry
    assert plan(view, "edge1", [(A, 10)], {A: ["edge2"]}) == {A: Source("registry", "registry", 1)}
    assert plan(view, "edge2", [(A, 10)], {A: ["edge1"]}) == {A: Source("registry", "registry", UNKNOWN_HOPS)}


# Waiting for a layer another node is pulling now, or fetching it at once.

def test_a_node_waits_for_a_layer_arriving_at_its_own_site():
    hops = Hops(tiered())
    assert worth_waiting_for(hops, "edge2", "edge1", "registry")  # same access switch: 0 hops against 2


def test_a_node_does_not_wait_for_a_pull_no_nearer_than_the_registry():
    hops = Hops(tiered())
    # edge3 (e2) is two hops from edge1 (e1), as is the registry: waiting would only queue edge1
    # behind edge3's access link
    assert not worth_waiting_for(hops, "edge1", "edge3", "registry")
    assert not worth_waiting_for(hops, "edge1", "edge5", "registry")  # another aggregation: 4 hops


def test_a_node_does_not_wait_when_a_holder_is_as_near_as_the_puller():
    hops = Hops(tiered())
    assert worth_waiting_for(hops, "edge2", "edge1", "registry", holders=["edge3"])
    assert not worth_waiting_for(hops, "edge2", "edge1", "registry", holders=["edge2", "edge1"])


def test_a_node_does_not_wait_for_a_puller_cut_off_from_it():
    view = tiered()
    set_link(view, "e1", "a1", up=False)
    set_link(view, "a1", "e1", up=False)
    assert not worth_waiting_for(Hops(view), "edge3", "edge1", "registry")


def test_without_a_graph_a_node_waits_only_when_nobody_holds_the_layer():
    assert worth_waiting_for(None, "edge2", "edge1", "registry")
    assert not worth_waiting_for(None, "edge2", "edge1", "registry", holders=["edge5"])
