"""Splitting a topology between servers: sites whole, every node placed, loads bounded, few links cut
(never more than Mininet's own SwitchBinPlacer on the bundled networks, the fewest possible on small
ones), deterministic."""

from __future__ import annotations

import itertools

import pytest
from mininet.examples.cluster import SwitchBinPlacer

from topologies.catalog import load_topology, topology_names
from topologies.split import load_bound, site_weights, split_topology
from topologies.spec import HostSpec, LinkSpec, TopologySpec

NETWORKS = ["edge-tiered", *(name for name in topology_names() if name.startswith("zoo:"))]


def loads(spec, split) -> dict[str, int]:
    weights = site_weights(spec)
    return {server: sum(weights[sw] for sw in spec.switches if split.server[sw] == server) for server in split.servers}


def mininet_cut(spec, servers) -> int:
    """Links cut by the cluster edition's default placer (switches in even bins, hosts with their switch)."""
    placer = SwitchBinPlacer(servers=servers, nodes=[*spec.switches, *(h.name for h in spec.hosts)],
                             hosts=[h.name for h in spec.hosts], switches=spec.switches,
                             links=[(link.a, link.b) for link in spec.links] + [(h.name, h.switch) for h in spec.hosts])
    return sum(1 for link in spec.links if placer.place(link.a) != placer.place(link.b))


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("count", [2, 3])
def test_sites_stay_whole_and_loads_stay_bounded(name, count):
    spec = load_topology(name)
    servers = [f"server{k}" for k in range(1, count + 1)]
    split = split_topology(spec, servers)
    assert set(split.server) == set(spec.switches) | {h.name for h in spec.hosts}
    assert all(split.server[h.name] == split.server[h.switch] for h in spec.hosts)  # a host is with its switch
    assert split.server[spec.switches[0]] == "server1"
    bound = load_bound(site_weights(spec), count)
    assert all(0 < load <= bound for load in loads(spec, split).values())
    assert split.cut == [link for link in spec.links if split.server[link.a] != split.server[link.b]]
    assert len(split.cut) <= mininet_cut(spec, servers)


def test_edge_tiered_on_two_servers_cuts_only_the_uplinks_of_whole_sites():
    spec = load_topology("edge-tiered")
    split = split_topology(spec, ["a", "b"])
    assert loads(spec, split) == {"a": 10, "b": 10}
    assert len(split.cut) == 4  # two dual-homed sites on b: their four uplinks
    moved = {split.server[sw] for sw in ("core", "agg1", "agg2")}
    assert moved == {"a"}
    assert split == split_topology(spec, ["a", "b"])  # deterministic


def test_a_ring_is_cut_in_two_places_into_even_halves():
    """Eight switches in a ring: two servers need at least two cut links, and get four switches each."""
    switches = [f"s{k}" for k in range(1, 9)]
    ring = [LinkSpec(a, b, 10) for a, b in zip(switches, switches[1:] + switches[:1])]
    spec = TopologySpec("ring", switches, [], ring)
    split = split_topology(spec, ["x", "y"])
    assert len(split.cut) == 2
    assert sorted(loads(spec, split).values()) == [4, 4]


def test_one_server_holds_everything():
    spec = load_topology("edge-tiered")
    split = split_topology(spec, ["only"])
    assert set(split.server.values()) == {"only"} and split.cut == []


def test_every_server_gets_a_switch_even_when_sites_are_lopsided():
    hosts = [HostSpec(f"h{k}", "big", "device", f"10.0.0.{k}", f"00:00:0a:00:00:{k:02x}") for k in range(1, 9)]
    spec = TopologySpec("lopsided", ["big", "s2", "s3"], hosts, [LinkSpec("big", "s2", 10), LinkSpec("s2", "s3", 10)])
    split = split_topology(spec, ["a", "b", "c"])
    assert sorted(split.server[sw] for sw in spec.switches) == ["a", "b", "c"]


@pytest.mark.parametrize("servers, why", [([], "at least one"), (["a", "a"], "twice"),
                                          ([f"s{k}" for k in range(7)], "too few")])
def test_impossible_splits_are_refused(servers, why):
    with pytest.raises(ValueError, match=why):
        split_topology(load_topology("edge-tiered"), servers)


def fewest_cut_links(spec, count: int) -> int:
    """By brute force: the fewest links any split keeping sites whole, servers non-empty and loads
    within the bound cuts (the first switch on the first server: the others are symmetric)."""
    weights, bound = site_weights(spec), load_bound(site_weights(spec), count)
    fewest = len(spec.links)
    for rest in itertools.product(range(count), repeat=len(spec.switches) - 1):
        part = dict(zip(spec.switches, (0, *rest)))
        loads = [sum(weights[sw] for sw in spec.switches if part[sw] == p) for p in range(count)]
        if min(loads) > 0 and max(loads) <= bound:
            fewest = min(fewest, sum(1 for link in spec.links if part[link.a] != part[link.b]))
    return fewest


@pytest.mark.parametrize("name", ["edge-tiered", "zoo:Abilene"])
@pytest.mark.parametrize("count", [2, 3])
def test_small_networks_are_split_with_the_fewest_cut_links(name, count):
    spec = load_topology(name)
    split = split_topology(spec, [f"server{k}" for k in range(1, count + 1)])
    assert len(split.cut) == fewest_cut_links(spec, count)
