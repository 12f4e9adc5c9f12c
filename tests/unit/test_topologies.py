"""The pure topology code (no Mininet, no root): the declared model and its validation, the
edge-tiered generator, the Topology Zoo importer (bundled networks and hand-made GraphML files),
rate parsing, and the text and PNG descriptions."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter

import networkx as nx
import pytest

from topologies import catalog, zoo
from topologies.catalog import describe, draw, load_topology, topology_names
from topologies.spec import ROLES, HostSpec, LinkSpec, TopologySpec
from topologies.tiered import SERVER_BANDWIDTH, SERVER_CPU, SERVER_STORAGE, edge_tiered
from topologies.zoo import (DEFAULT_LINK_BPS, MAX_MBPS, MIN_MBPS, RATE_SCALE, emulated_mbps, link_rate_bps,
                            load_zoo, zoo_names)

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


# ---------------------------------------------------------------------------------------------
# helpers

def switch_graph(spec: TopologySpec) -> nx.MultiGraph:
    """Switches and switch-to-switch links; a MultiGraph so that a duplicated link is not hidden."""
    graph = nx.MultiGraph()
    graph.add_nodes_from(spec.switches)
    for link in spec.links:
        graph.add_edge(link.a, link.b)
    return graph


def links_between(spec: TopologySpec, a: str, b: str) -> list[LinkSpec]:
    return [l for l in spec.links if {l.a, l.b} == {a, b}]


def write(tmp_path, graph, name="net.graphml") -> str:
    path = tmp_path / name
    nx.write_graphml(graph, path)
    return str(path)


def node(graph, name, lat=None, lon=None):
    attrs = {} if lat is None else {"Latitude": float(lat), "Longitude": float(lon)}
    graph.add_node(name, **attrs)


def line_graph(cls=nx.Graph, rate=10e9):
    """a - b - c in a line, every node with coordinates, every edge with LinkSpeedRaw."""
    graph = cls()
    for name, (lat, lon) in {"a": (0, 0), "b": (0, 1), "c": (0, 2)}.items():
        node(graph, name, lat, lon)
    graph.add_edge("a", "b", LinkSpeedRaw=rate)
    graph.add_edge("b", "c", LinkSpeedRaw=rate)
    return graph


def switch_of(spec: TopologySpec, graph, graph_node: str) -> str:
    """The switch a GraphML node became: the importer numbers nodes z1, z2, ... in (len(id), id) order."""
    order = sorted((str(n) for n in graph.nodes), key=lambda n: (len(n), n))
    return spec.switches[order.index(graph_node)]


def load(tmp_path, graph, name="net.graphml") -> TopologySpec:
    return load_zoo(write(tmp_path, graph, name))


def new_notes(tmp_path, baseline_graph, graph) -> list[str]:
    """Notes the variant has that the baseline (the same network without the feature) lacks."""
    before = load(tmp_path, baseline_graph, "baseline.graphml").notes
    after = load(tmp_path, graph, "variant.graphml").notes
    return [n for n in after if n not in before]


# ---------------------------------------------------------------------------------------------
# TopologySpec.validate

def small_spec() -> TopologySpec:
    return TopologySpec(
        "small", ["s1", "s2"],
        [HostSpec("h1", "s1", "edge-server", "10.0.0.1", "00:00:0a:00:00:01", 1000, 100, 100),
         HostSpec("h2", "s2", "device", "10.0.0.2", "00:00:0a:00:00:02")],
        [LinkSpec("s1", "s2", 10.0)])


def test_validate_accepts_a_consistent_spec():
    small_spec().validate()


@pytest.mark.parametrize("change, words", [
    (lambda s: s.hosts.__setitem__(1, dataclasses.replace(s.hosts[1], switch="s9")), ["h2", "s9"]),
    (lambda s: s.hosts.__setitem__(1, dataclasses.replace(s.hosts[1], ip="10.0.0.1")), ["IP"]),
    (lambda s: s.links.append(LinkSpec("s1", "s9", 10.0)), ["s9"]),
    (lambda s: s.links.__setitem__(0, dataclasses.replace(s.links[0], bandwidth_mbps=0.0)), ["s1-s2"]),
    (lambda s: s.links.__setitem__(0, dataclasses.replace(s.links[0], bandwidth_mbps=-1.0)), ["s1-s2"]),
    (lambda s: s.hosts.__setitem__(1, dataclasses.replace(s.hosts[1], role="router")), ["router"]),
    (lambda s: s.hosts.__setitem__(1, dataclasses.replace(s.hosts[1], name="h1")), ["h1"]),
    (lambda s: s.hosts.__setitem__(1, dataclasses.replace(s.hosts[1], name="s1")), ["s1"]),
    (lambda s: s.switches.append("s1"), ["switch"]),
], ids=["host-on-unknown-switch", "duplicate-ip", "link-to-unknown-switch", "zero-bandwidth-link",
        "negative-bandwidth-link", "unknown-role", "duplicate-host-name", "host-named-like-switch",
        "duplicate-switch"])
def test_validate_rejects(change, words):
    spec = small_spec()
    change(spec)
    with pytest.raises(ValueError) as err:
        spec.validate()
    for word in words:
        assert word in str(err.value)


def test_spec_lookups():
    spec = small_spec()
    assert spec.host("h2").role == "device"
    assert [h.name for h in spec.hosts_with_role("edge-server")] == ["h1"]
    assert spec.dpid("s1") == 1 and spec.dpid("s2") == 2
    with pytest.raises(KeyError):
        spec.host("nobody")


# ---------------------------------------------------------------------------------------------
# edge-tiered

def test_edge_tiered_default_is_valid_and_is_the_default_topology():
    spec = edge_tiered()
    spec.validate()
    assert catalog.DEFAULT == "edge-tiered"
    assert load_topology("edge-tiered") == spec
    assert topology_names()[0] == "edge-tiered"


def test_edge_tiered_default_roles_and_placement():
    spec = edge_tiered()
    by_role = Counter(h.role for h in spec.hosts)
    assert by_role == {"cloud": 1, "registry": 1, "edge-server": 6, "device": 6}
    assert set(by_role) <= set(ROLES)
    assert spec.host("cloud").switch == "core"
    assert spec.host("registry").switch == "core"
    sites = [s for s in spec.switches if s.startswith("site")]
    assert sites == ["site1", "site2", "site3"]
    for h in spec.hosts_with_role("edge-server") + spec.hosts_with_role("device"):
        assert h.switch in sites, h
    for h in spec.hosts_with_role("edge-server"):
        assert h.cpu_millicores > 0 and h.storage_mib > 0 and h.bandwidth_mbps > 0, h
        assert SERVER_CPU[0] <= h.cpu_millicores <= SERVER_CPU[1]
        assert SERVER_STORAGE[0] <= h.storage_mib <= SERVER_STORAGE[1]
        assert SERVER_BANDWIDTH[0] <= h.bandwidth_mbps <= SERVER_BANDWIDTH[1]
    cloud = spec.host("cloud")
    assert cloud.cpu_millicores > 0 and cloud.storage_mib > 0 and cloud.bandwidth_mbps > 0
    assert all(l.bandwidth_mbps > 0 for l in spec.links)


def test_edge_tiered_unique_addresses():
    spec = edge_tiered(sites=6, servers_per_site=4, devices_per_site=5)
    ips = [h.ip for h in spec.hosts]
    macs = [h.mac for h in spec.hosts]
    assert len(set(ips)) == len(ips) == len(spec.hosts)
    assert len(set(macs)) == len(macs)
    assert all(MAC.match(m) for m in macs), macs
    assert all(ip.startswith("10.0.") for ip in ips)
    assert len({h.name for h in spec.hosts}) == len(spec.hosts)


@pytest.mark.parametrize("sites, aggregations", [(3, 2), (1, 2), (2, 3), (5, 2), (5, 3), (4, 4)])
def test_edge_tiered_sites_are_dual_homed(sites, aggregations):
    spec = edge_tiered(sites=sites, aggregations=aggregations)
    aggs = [s for s in spec.switches if s.startswith("agg")]
    assert len(aggs) == aggregations
    for k in range(1, sites + 1):
        uplinks = [l for l in spec.links if f"site{k}" in (l.a, l.b)]
        homes = {l.a if l.b == f"site{k}" else l.b for l in uplinks}
        assert len(uplinks) == 2 and len(homes) == 2, (f"site{k}", uplinks)
        assert homes <= set(aggs)


@pytest.mark.parametrize("sites, aggregations", [(3, 2), (1, 2), (2, 3), (5, 2), (5, 3), (4, 4)])
def test_edge_tiered_survives_any_single_link_cut(sites, aggregations):
    spec = edge_tiered(sites=sites, aggregations=aggregations)
    graph = switch_graph(spec)
    assert nx.is_connected(graph)
    edges = list(graph.edges(keys=True))
    assert len(edges) == len(spec.links) == aggregations + 2 * sites
    for u, v, key in edges:
        cut = graph.copy()
        cut.remove_edge(u, v, key)
        assert nx.is_connected(cut), f"cutting {u}-{v} disconnects {sorted(nx.connected_components(cut), key=len)}"


@pytest.mark.parametrize("sites, aggregations", [(1, 3), (2, 5), (3, 2)])
def test_edge_tiered_every_site_keeps_a_path_to_the_core_after_one_cut(sites, aggregations):
    # With more aggregation switches than sites need, some are leaves; hosts only hang off
    # the core and the sites, so what must survive a cut is each site's path to the core.
    spec = edge_tiered(sites=sites, aggregations=aggregations)
    graph = switch_graph(spec)
    for u, v, key in list(graph.edges(keys=True)):
        cut = graph.copy()
        cut.remove_edge(u, v, key)
        for k in range(1, sites + 1):
            assert nx.has_path(cut, "core", f"site{k}"), (u, v, k)


def test_edge_tiered_single_aggregation_is_single_homed():
    spec = edge_tiered(sites=3, aggregations=1)
    spec.validate()
    for k in (1, 2, 3):
        assert len(links_between(spec, "agg1", f"site{k}")) == 1
    assert len(spec.links) == 1 + 3


@pytest.mark.parametrize("sites, servers, devices", [(4, 3, 1), (1, 1, 0), (2, 1, 5)])
def test_edge_tiered_parameters_change_counts(sites, servers, devices):
    spec = edge_tiered(sites=sites, servers_per_site=servers, devices_per_site=devices)
    spec.validate()
    assert spec.switches == ["core", "agg1", "agg2", *(f"site{k}" for k in range(1, sites + 1))]
    assert len(spec.hosts_with_role("edge-server")) == sites * servers
    assert len(spec.hosts_with_role("device")) == sites * devices
    assert len(spec.hosts) == 2 + sites * (servers + devices)
    for k in range(1, sites + 1):
        on_site = Counter(h.role for h in spec.hosts if h.switch == f"site{k}")
        assert on_site["edge-server"] == servers and on_site["device"] == devices


def test_edge_tiered_bandwidth_parameters_reach_the_links():
    spec = edge_tiered(core_mbps=400, aggregation_mbps=70, access_mbps=9)
    assert {l.bandwidth_mbps for l in spec.links if "core" in (l.a, l.b)} == {400}
    assert {l.bandwidth_mbps for l in spec.links if "core" not in (l.a, l.b)} == {70}
    assert {h.access_mbps for h in spec.hosts if h.switch != "core"} == {9}


def test_edge_tiered_is_deterministic_per_seed():
    assert edge_tiered(seed=7) == edge_tiered(seed=7)
    capacities = lambda s: [(h.cpu_millicores, h.storage_mib, h.bandwidth_mbps) for h in s.hosts]
    assert capacities(edge_tiered(seed=1)) != capacities(edge_tiered(seed=2))


@pytest.mark.parametrize("kwargs", [dict(sites=0), dict(aggregations=0), dict(servers_per_site=0),
                                    dict(devices_per_site=-1), dict(sites=-2)])
def test_edge_tiered_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        edge_tiered(**kwargs)


# ---------------------------------------------------------------------------------------------
# bundled Topology Zoo networks

def test_the_zoo_is_bundled():
    names = zoo_names()
    assert len(names) == 15 and "Abilene" in names and "Cogentco" in names
    assert topology_names()[1:] == [f"zoo:{n}" for n in names]


@pytest.mark.parametrize("name", zoo_names())
def test_bundled_network_loads(name):
    spec = load_topology(f"zoo:{name}")
    spec.validate()
    assert spec.name == f"zoo:{name}"
    assert len(spec.switches) >= 2 and spec.links
    for switch in spec.switches:
        roles = Counter(h.role for h in spec.hosts if h.switch == switch)
        assert roles == {"edge-server": 1, "device": 1}, (switch, roles)
    assert len(spec.hosts) == 2 * len(spec.switches)
    for h in spec.hosts_with_role("edge-server"):
        assert h.cpu_millicores > 0 and h.storage_mib > 0 and h.bandwidth_mbps > 0
    assert nx.is_connected(switch_graph(spec))
    assert all(MIN_MBPS <= l.bandwidth_mbps <= MAX_MBPS for l in spec.links)
    assert all(l.a != l.b for l in spec.links)
    pairs = [frozenset((l.a, l.b)) for l in spec.links]
    assert len(set(pairs)) == len(pairs), "parallel edges should have been merged"
    assert set(spec.positions) == set(spec.switches)
    assert all(math.isfinite(c) for p in spec.positions.values() for c in p)
    assert len({h.ip for h in spec.hosts}) == len(spec.hosts)
    assert len({h.mac for h in spec.hosts}) == len(spec.hosts)
    # the GraphML file itself: as many switches as nodes
    assert len(spec.switches) == nx.read_graphml(zoo.resolve(name)).number_of_nodes()


@pytest.mark.parametrize("count", [1, 3, 16])
def test_hosts_per_zoo_node_gives_a_server_then_devices_on_every_switch(count):
    default = load_zoo("Abilene")
    spec = load_topology("zoo:Abilene", hosts_per_node=count)
    spec.validate()
    for switch in spec.switches:
        on = [h for h in spec.hosts if h.switch == switch]
        assert [h.role for h in on] == ["edge-server"] + ["device"] * (count - 1)
    assert len({h.name for h in spec.hosts}) == len({h.ip for h in spec.hosts}) == len(spec.hosts) == 11 * count
    assert max(len(f"{h.name}-eth0") for h in spec.hosts) <= 15  # Linux interface names
    # the network and its servers are the default's: only the devices change
    assert spec.links == default.links and spec.switches == default.switches
    servers = lambda s: [(h.name, h.switch, h.cpu_millicores, h.storage_mib) for h in s.hosts_with_role("edge-server")]
    assert servers(spec) == servers(default)
    assert any(str(count) in note for note in spec.notes)


def test_two_hosts_per_zoo_node_is_the_default():
    assert load_topology("zoo:Abilene", hosts_per_node=2) == load_zoo("Abilene")


@pytest.mark.parametrize("bad", [0, 17, -1, 2.5, True, "2"])
def test_a_bad_hosts_per_node_is_refused_naming_the_range(bad):
    with pytest.raises(ValueError, match="1 to 16"):
        load_zoo("Abilene", hosts_per_node=bad)


def test_hosts_per_node_is_refused_for_a_network_that_is_not_from_the_zoo():
    with pytest.raises(ValueError, match="zoo"):
        load_topology("edge-tiered", hosts_per_node=2)


def test_abilene_rates_come_from_oc192():
    spec = load_zoo("Abilene")
    assert len(spec.switches) == 11
    assert {l.source for l in spec.links} == {"LinkType"}
    assert {l.bandwidth_mbps for l in spec.links} == {round(192 * 51.84 / RATE_SCALE, 2)}


@pytest.mark.parametrize("name", ["zoo:abilene", "zoo:ABILENE", "zoo:Abilene"])
def test_zoo_names_are_case_insensitive(name):
    spec = load_topology(name)
    assert spec.name == "zoo:Abilene"
    assert len(spec.switches) == 11


def test_load_zoo_by_name_matches_load_topology():
    assert load_zoo("abilene") == load_topology("zoo:Abilene")


def test_unknown_zoo_name_raises_value_error_naming_the_choices():
    with pytest.raises(ValueError) as err:
        load_topology("zoo:Atlantis")
    message = str(err.value)
    assert "Atlantis" in message
    for name in zoo_names():
        assert name in message


def test_load_zoo_unknown_name_raises_file_not_found():
    # load_zoo itself raises FileNotFoundError; load_topology turns it into ValueError.
    with pytest.raises(FileNotFoundError):
        load_zoo("Atlantis")


def test_unknown_topology_name_raises_value_error():
    with pytest.raises(ValueError) as err:
        load_topology("fat-tree")
    assert "edge-tiered" in str(err.value) and "Abilene" in str(err.value)


def test_missing_graphml_path_raises_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_topology(f"zoo:{tmp_path / 'nowhere.graphml'}")


def test_graphml_path_works(tmp_path):
    path = write(tmp_path, line_graph(), "mynet.graphml")
    spec = load_topology(f"zoo:{path}")
    assert spec.name == "zoo:mynet"
    assert spec.switches == ["z1", "z2", "z3"]
    assert len(spec.links) == 2
    assert [h.name for h in spec.hosts] == ["srv1", "dev1", "srv2", "dev2", "srv3", "dev3"]
    assert load_zoo(path) == spec


def test_bundled_file_by_path_equals_by_name():
    assert load_zoo(str(zoo.ZOO_DIR / "Abilene.graphml")) == load_zoo("Abilene")


# ---------------------------------------------------------------------------------------------
# GraphML import decisions, on small hand-made files

def test_plain_rates_are_scaled(tmp_path):
    spec = load(tmp_path, line_graph(rate=10e9))
    assert [l.bandwidth_mbps for l in spec.links] == [10e9 / 1e6 / RATE_SCALE] * 2
    assert {l.source for l in spec.links} == {"LinkSpeedRaw"}


def test_parallel_edges_become_one_link_with_the_summed_rate(tmp_path):
    graph = line_graph(nx.MultiGraph)
    graph.add_edge("a", "b", LinkSpeedRaw=2.5e9)       # a-b: 10 + 2.5 Gbit/s
    spec = load(tmp_path, graph)
    ab = links_between(spec, switch_of(spec, graph, "a"), switch_of(spec, graph, "b"))
    assert len(ab) == 1
    assert ab[0].bandwidth_mbps == pytest.approx((10e9 + 2.5e9) / 1e6 / RATE_SCALE)
    bc = links_between(spec, switch_of(spec, graph, "b"), switch_of(spec, graph, "c"))
    assert [l.bandwidth_mbps for l in bc] == [10e9 / 1e6 / RATE_SCALE]
    assert len(spec.links) == 2
    assert new_notes(tmp_path, line_graph(nx.MultiGraph), graph), spec.notes


def test_parallel_edges_sum_is_clamped(tmp_path):
    graph = line_graph(nx.MultiGraph)
    for _ in range(3):
        graph.add_edge("a", "b", LinkSpeedRaw=40e9)     # 10 + 120 Gbit/s -> 1300 emulated
    spec = load(tmp_path, graph)
    ab = links_between(spec, switch_of(spec, graph, "a"), switch_of(spec, graph, "b"))
    assert [l.bandwidth_mbps for l in ab] == [MAX_MBPS]


def test_parallel_edge_without_rate_adds_the_default(tmp_path):
    graph = line_graph(nx.MultiGraph)
    graph.add_edge("a", "b")                            # no rate at all
    spec = load(tmp_path, graph)
    (ab,) = links_between(spec, switch_of(spec, graph, "a"), switch_of(spec, graph, "b"))
    assert ab.bandwidth_mbps == pytest.approx((10e9 + DEFAULT_LINK_BPS) / 1e6 / RATE_SCALE)


@pytest.mark.parametrize("attrs, expected_mbps, source", [
    ({"LinkType": "OC-48"}, 48 * 51.84 / RATE_SCALE, "LinkType"),
    ({"LinkLabel": "10 Gbps"}, 10e3 / RATE_SCALE, "LinkLabel"),
    ({"LinkType": "OC-3", "LinkLabel": "10 Gbps"}, 3 * 51.84 / RATE_SCALE, "LinkType"),
    ({"LinkSpeedRaw": 2.5e9, "LinkType": "OC-192"}, 2.5e3 / RATE_SCALE, "LinkSpeedRaw"),
    ({"LinkSpeedRaw": 0.0, "LinkLabel": "10 Gbps"}, 10e3 / RATE_SCALE, "LinkLabel"),
    ({"LinkType": "Fiber", "LinkLabel": "Leased line"}, DEFAULT_LINK_BPS / 1e6 / RATE_SCALE, "default"),
    ({}, DEFAULT_LINK_BPS / 1e6 / RATE_SCALE, "default"),
], ids=["OC-48", "10-Gbps-label", "type-before-label", "raw-first", "zero-raw-ignored", "no-rate-text",
        "nothing"])
def test_rate_fallbacks(tmp_path, attrs, expected_mbps, source):
    graph = nx.Graph()
    node(graph, "a", 0, 0)
    node(graph, "b", 0, 1)
    graph.add_edge("a", "b", **attrs)
    spec = load(tmp_path, graph)
    (link,) = spec.links
    assert link.bandwidth_mbps == pytest.approx(round(expected_mbps, 2))
    assert link.source == source


def test_missing_rate_is_noted(tmp_path):
    graph = line_graph()
    del graph.edges["a", "b"]["LinkSpeedRaw"]
    assert new_notes(tmp_path, line_graph(), graph)


def test_self_loop_is_dropped_and_noted(tmp_path):
    graph = line_graph(nx.MultiGraph)
    graph.add_edge("b", "b", LinkSpeedRaw=10e9)
    spec = load(tmp_path, graph)
    assert all(l.a != l.b for l in spec.links)
    assert len(spec.links) == 2
    spec.validate()
    assert new_notes(tmp_path, line_graph(nx.MultiGraph), graph)


def two_components():
    """a - b and c - d, far apart; the nearest pair across them is b, c."""
    graph = nx.Graph()
    for name, (lat, lon) in {"a": (0, 0), "b": (0, 1), "c": (0, 5), "d": (0, 10)}.items():
        node(graph, name, lat, lon)
    graph.add_edge("a", "b", LinkSpeedRaw=10e9)
    graph.add_edge("c", "d", LinkSpeedRaw=10e9)
    return graph


def test_two_components_are_joined_by_one_link(tmp_path):
    graph = two_components()
    spec = load(tmp_path, graph)
    assert len(spec.links) == 3
    assert nx.is_connected(switch_graph(spec))
    a, b, c, d = (switch_of(spec, graph, n) for n in "abcd")
    original = {frozenset((a, b)), frozenset((c, d))}
    added = [l for l in spec.links if frozenset((l.a, l.b)) not in original]
    assert len(added) == 1
    # the geographically nearest pair
    assert frozenset((added[0].a, added[0].b)) == frozenset((b, c))
    assert added[0].bandwidth_mbps == emulated_mbps(DEFAULT_LINK_BPS)
    # noted: compare with the same network already connected
    connected = two_components()
    connected.add_edge("b", "c", LinkSpeedRaw=10e9)
    assert new_notes(tmp_path, connected, graph)


def test_isolated_node_is_joined(tmp_path):
    graph = line_graph()
    node(graph, "z")                                    # no edges, no coordinates
    spec = load(tmp_path, graph)
    assert len(spec.switches) == 4 and len(spec.links) == 3
    assert nx.is_connected(switch_graph(spec))
    spec.validate()


def test_nodes_without_coordinates_get_positions(tmp_path):
    graph = line_graph()
    node(graph, "d")                                    # no coordinates, neighbour of c
    graph.add_edge("c", "d", LinkSpeedRaw=10e9)
    spec = load(tmp_path, graph)
    assert set(spec.positions) == set(spec.switches)
    a, c, d = (switch_of(spec, graph, n) for n in "acd")
    assert spec.positions[a] == (0.0, 0.0)              # (longitude, latitude) as given
    assert spec.positions[c] == (2.0, 0.0)
    x, y = spec.positions[d]                            # beside its neighbour c
    assert abs(x - 2.0) <= 0.5 and abs(y - 0.0) <= 0.5
    baseline = line_graph()
    node(baseline, "d", 0, 3)
    baseline.add_edge("c", "d", LinkSpeedRaw=10e9)
    assert new_notes(tmp_path, baseline, graph)


def test_no_coordinates_at_all_still_gives_positions(tmp_path):
    graph = nx.Graph()
    graph.add_edge("a", "b", LinkSpeedRaw=1e9)
    graph.add_edge("b", "c", LinkSpeedRaw=1e9)
    spec = load(tmp_path, graph)
    assert set(spec.positions) == set(spec.switches)
    assert len(set(spec.positions.values())) == 3
    assert all(math.isfinite(v) for p in spec.positions.values() for v in p)


def test_empty_graph_raises_value_error(tmp_path):
    path = write(tmp_path, nx.Graph(), "empty.graphml")
    with pytest.raises(ValueError):
        load_zoo(path)
    with pytest.raises(ValueError):
        load_topology(f"zoo:{path}")


@pytest.mark.parametrize("filename, content", [
    ("notes.graphml", "this is not xml\n"),
    ("notes.txt", "this is not xml\n"),
    ("other.xml", "<?xml version='1.0'?><root><child/></root>\n"),
    ("truncated.graphml", "<?xml version='1.0'?><graphml xmlns='http://graphml.graphdrawing.org/xmlns'><graph"),
])
def test_non_graphml_file_raises_value_error(tmp_path, filename, content):
    path = tmp_path / filename
    path.write_text(content)
    with pytest.raises(ValueError):
        load_zoo(str(path))
    with pytest.raises(ValueError):
        load_topology(f"zoo:{path}")


def test_single_node_network(tmp_path):
    graph = nx.Graph()
    node(graph, "only", 1, 2)
    spec = load(tmp_path, graph)
    assert spec.switches == ["z1"] and spec.links == []
    assert Counter(h.role for h in spec.hosts) == {"edge-server": 1, "device": 1}


# ---------------------------------------------------------------------------------------------
# rate parsing and scaling on direct inputs

@pytest.mark.parametrize("data, bps, source", [
    ({"LinkSpeedRaw": 1e10}, 1e10, "LinkSpeedRaw"),
    ({"LinkSpeedRaw": "2500000000"}, 2.5e9, "LinkSpeedRaw"),
    ({"LinkSpeedRaw": "", "LinkType": "OC-192"}, 192 * 51.84e6, "LinkType"),
    ({"LinkSpeedRaw": "n/a", "LinkType": "OC-3"}, 3 * 51.84e6, "LinkType"),
    ({"LinkSpeedRaw": -5, "LinkLabel": "1 Gbps"}, 1e9, "LinkLabel"),
    ({"LinkType": "oc12"}, 12 * 51.84e6, "LinkType"),
    ({"LinkLabel": "10GE"}, 1e10, "LinkLabel"),
    ({"LinkLabel": "2.5 Gbps"}, 2.5e9, "LinkLabel"),
    ({"LinkLabel": "155 Mbps"}, 155e6, "LinkLabel"),
    ({"LinkLabel": "100 Mb/s"}, 100e6, "LinkLabel"),
    ({"LinkLabel": "1 Gbit/s"}, 1e9, "LinkLabel"),
    ({"LinkLabel": "512 Kbps"}, 512e3, "LinkLabel"),
    ({"LinkType": "Fiber", "LinkLabel": "< 10 Gbps"}, 1e10, "LinkLabel"),
    ({"LinkSpeed": "40G"}, 40e9, "LinkSpeed"),
    ({"LinkType": "SDH", "LinkLabel": "Optic Fiber"}, None, "missing"),
    ({"LinkLabel": "MPLS 2 Main"}, None, "missing"),
    ({}, None, "missing"),
])
def test_link_rate_bps(data, bps, source):
    got, where = link_rate_bps(data)
    assert where == source
    if bps is None:
        assert got is None
    else:
        assert got == pytest.approx(bps)


@pytest.mark.parametrize("bps, mbps", [
    (1e9, 10.0),
    (10e9, 100.0),
    (2.5e9, 25.0),
    (48 * 51.84e6, 24.88),         # rounded to 2 decimals
    (50e9, 500.0),
    (100e9, MAX_MBPS),             # exactly the top
    (400e9, MAX_MBPS),             # clamped down
    (1e8, MIN_MBPS),               # 1.0 exactly
    (34e6, MIN_MBPS),              # 0.34 clamped up
    (0.0, MIN_MBPS),
    (math.inf, MAX_MBPS),
])
def test_emulated_mbps(bps, mbps):
    assert emulated_mbps(bps) == pytest.approx(mbps)


def test_emulated_mbps_bounds_are_sane():
    assert 0 < MIN_MBPS < MAX_MBPS
    assert emulated_mbps(DEFAULT_LINK_BPS) == DEFAULT_LINK_BPS / 1e6 / RATE_SCALE


# ---------------------------------------------------------------------------------------------
# catalog: text and PNG

@pytest.mark.parametrize("make", [edge_tiered, lambda: load_zoo("Esnet")], ids=["edge-tiered", "Esnet"])
def test_describe_mentions_every_host_and_link(make):
    spec = make()
    text = describe(spec)
    lines = text.splitlines()
    assert spec.name in lines[0]
    assert f"{len(spec.switches)} switches" in lines[0] and f"{len(spec.hosts)} hosts" in lines[0]
    for h in spec.hosts:
        assert any(line.split()[:4] == [h.name, h.role, h.switch, h.ip] for line in lines), h
    for link in spec.links:
        assert any(line.split()[:1] == [f"{link.a}-{link.b}"] and link.source in line for line in lines), link
    for note in spec.notes:
        assert note in text


@pytest.mark.parametrize("make", [edge_tiered, lambda: load_zoo("Abilene")], ids=["edge-tiered", "Abilene"])
def test_draw_writes_a_png(tmp_path, make):
    path = tmp_path / "topology.png"
    draw(make(), str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 1000


@pytest.mark.parametrize("label, bps", [("10 Gbit", 10e9), ("100 Mbit", 100e6), ("10GbE", 10e9),
                                        ("10 Gigabit Ethernet", 10e9), ("1GE", 1e9)])
def test_common_rate_labels_are_read(label, bps):
    assert link_rate_bps({"LinkLabel": label})[0] == pytest.approx(bps)


def test_text_coordinates_are_read_as_numbers(tmp_path):
    graph = nx.Graph()
    for name, lat in (("a", "1.0"), ("b", "2.0"), ("c", "9.0")):
        graph.add_node(name, Latitude=lat, Longitude="0.5")
    graph.add_edge("a", "b", LinkSpeedRaw=1e9)  # c is a second component
    spec = load(tmp_path, graph)
    assert nx.is_connected(switch_graph(spec))
    assert switch_of(spec, graph, "c") in {l.a for l in spec.links} | {l.b for l in spec.links}


def test_directed_reciprocal_arcs_are_one_link(tmp_path):
    graph = nx.DiGraph()
    node(graph, "a", 0, 0)
    node(graph, "b", 0, 1)
    graph.add_edge("a", "b", LinkSpeedRaw=10e9)
    graph.add_edge("b", "a", LinkSpeedRaw=10e9)
    spec = load(tmp_path, graph)
    assert len(spec.links) == 1
    assert spec.links[0].bandwidth_mbps == emulated_mbps(10e9)
