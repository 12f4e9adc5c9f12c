"""Delays in the topology model: their validation, edge-tiered's tiers, Topology Zoo delays from
coordinates (checked against independent geodesic distances), the summary along paths, turning
delays off, and how `strata topo show`, `up`, `experiment deploy` and `demo` take them."""

from __future__ import annotations

import dataclasses
import json
import math

import networkx as nx
import pytest

import cli
from cli import build_parser
from topologies.catalog import as_dict, describe, load_topology
from topologies.delays import (EARTH_RADIUS_KM, GREAT_CIRCLE, NO_COORDINATES, delay_summary, great_circle_km,
                               path_delays_ms, propagation_delay_ms)
from topologies.spec import DELAYS_OFF, HostSpec, LinkSpec, TopologySpec
from topologies.tiered import AGGREGATION_DELAY_MS, CORE_DELAY_MS, DEVICE_DELAY_MS, edge_tiered
from topologies.zoo import ZOO_DIR, load_zoo

# WGS84 geodesic distances (GeographicLib, Karney's algorithm, on the ellipsoid) between the
# coordinates Abilene.graphml gives its cities: an independent reference for the sphere's haversine.
GEODESIC_KM = {("New York", "Chicago"): 1148.7, ("Seattle", "Denver"): 1643.9, ("Los Angeles", "Houston"): 2210.8}


def spec_of(hosts: list[HostSpec], links: list[LinkSpec], switches=("s1", "s2", "s3")) -> TopologySpec:
    return TopologySpec("t", list(switches), hosts, links)


def host(name: str, switch: str, role: str, n: int, **fields) -> HostSpec:
    return HostSpec(name, switch, role, f"10.0.0.{n}", f"00:00:0a:00:00:{n:02x}", **fields)


def all_delays(spec: TopologySpec) -> list[float]:
    return ([l.delay_ms for l in spec.links] + [l.loss_percent for l in spec.links]
            + [h.access_delay_ms for h in spec.hosts] + [h.access_loss_percent for h in spec.hosts])


def strata(*argv: str) -> int:
    return cli.main([str(a) for a in argv])


# ---------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("bad", [{"delay_ms": -0.1}, {"delay_ms": math.nan}, {"delay_ms": math.inf},
                                 {"loss_percent": -1.0}, {"loss_percent": 100.0}, {"loss_percent": math.nan}],
                         ids=["negative-delay", "nan-delay", "infinite-delay", "negative-loss", "total-loss",
                              "nan-loss"])
def test_a_bad_link_delay_or_loss_is_refused_naming_the_link(bad):
    spec = spec_of([host("h1", "s1", "edge-server", 1)], [LinkSpec("s1", "s2", 10.0, **bad)])
    with pytest.raises(ValueError) as err:
        spec.validate()
    assert "s1-s2" in str(err.value)


@pytest.mark.parametrize("bad", [{"access_delay_ms": -1.0}, {"access_delay_ms": math.inf},
                                 {"access_loss_percent": 100.0}, {"access_loss_percent": -0.5}],
                         ids=["negative-delay", "infinite-delay", "total-loss", "negative-loss"])
def test_a_bad_access_delay_or_loss_is_refused_naming_the_host(bad):
    spec = spec_of([host("dev9", "s1", "device", 1, **bad)], [LinkSpec("s1", "s2", 10.0)])
    with pytest.raises(ValueError) as err:
        spec.validate()
    assert "dev9" in str(err.value)


def test_delays_and_losses_inside_their_ranges_are_accepted():
    spec_of([host("h1", "s1", "device", 1, access_delay_ms=0.5, access_loss_percent=99.9)],
            [LinkSpec("s1", "s2", 10.0, delay_ms=120.0, loss_percent=0.0),
             LinkSpec("s2", "s3", 10.0, delay_ms=0.0, loss_percent=12.5)]).validate()


def test_delays_default_to_none():
    assert (HostSpec("h", "s", "device", "10.0.0.1", "m").access_delay_ms,
            HostSpec("h", "s", "device", "10.0.0.1", "m").access_loss_percent) == (0.0, 0.0)
    assert (LinkSpec("a", "b", 1.0).delay_ms, LinkSpec("a", "b", 1.0).loss_percent) == (0.0, 0.0)


# ---------------------------------------------------------------------------------------------
# without_delays


@pytest.mark.parametrize("make", [edge_tiered, lambda: load_zoo("Geant2012"),
                                  lambda: spec_of([host("h", "s1", "device", 1, access_delay_ms=3.0,
                                                        access_loss_percent=2.0)],
                                                  [LinkSpec("s1", "s2", 5.0, 7.0, 1.5, "x", "y")])],
                         ids=["edge-tiered", "Geant2012", "hand-made"])
def test_without_delays_zeroes_every_delay_and_loss_and_keeps_everything_else(make):
    spec = make()
    before = dataclasses.replace(spec, hosts=list(spec.hosts), links=list(spec.links), notes=list(spec.notes))
    off = spec.without_delays()
    assert any(all_delays(spec)) and not any(all_delays(off))
    assert spec == before  # the original is untouched
    assert off.switches == spec.switches and off.positions == spec.positions and off.name == spec.name
    assert [dataclasses.replace(h, access_delay_ms=0.0, access_loss_percent=0.0) for h in spec.hosts] == off.hosts
    assert [(l.a, l.b, l.bandwidth_mbps, l.source) for l in off.links] == \
        [(l.a, l.b, l.bandwidth_mbps, l.source) for l in spec.links]
    assert {l.delay_source for l in off.links} == {DELAYS_OFF}
    assert off.notes[:len(spec.notes)] == spec.notes and len(off.notes) == len(spec.notes) + 1
    off.validate()
    assert delay_summary(off).links_without_coordinates == 0


def test_a_spec_without_delays_is_the_network_of_before_delays():
    """Off, edge-tiered is the network it was before delays were declared: same hosts, links, rates."""
    off = edge_tiered().without_delays()
    plain = edge_tiered(device_delay_ms=0.0, aggregation_delay_ms=0.0, core_delay_ms=0.0)
    assert off.hosts == plain.hosts
    assert [(l.a, l.b, l.bandwidth_mbps, l.delay_ms, l.loss_percent) for l in off.links] == \
        [(l.a, l.b, l.bandwidth_mbps, l.delay_ms, l.loss_percent) for l in plain.links]


# ---------------------------------------------------------------------------------------------
# edge-tiered


def test_edge_tiered_declares_its_tier_delays():
    spec = edge_tiered()
    by_role = {role: {h.access_delay_ms for h in spec.hosts_with_role(role)}
               for role in ("device", "edge-server", "cloud", "registry")}
    assert by_role == {"device": {DEVICE_DELAY_MS}, "edge-server": {0.0}, "cloud": {0.0}, "registry": {0.0}}
    for link in spec.links:
        assert link.delay_ms == (CORE_DELAY_MS if "core" in (link.a, link.b) else AGGREGATION_DELAY_MS), link
        assert link.loss_percent == 0.0 and link.delay_source
    assert not any(h.access_loss_percent for h in spec.hosts)


def test_edge_tiered_puts_the_edge_a_few_ms_away_and_the_cloud_tens():
    spec = edge_tiered()
    from_dev1 = path_delays_ms(spec, "dev1")  # dev1 is at site1 with edge1 and edge2
    own_site, other_site = from_dev1["edge1"], from_dev1["edge3"]
    assert 2 <= 2 * own_site <= 4                       # round trip to a server at its own site
    assert own_site < other_site < from_dev1["cloud"]
    assert 20 <= 2 * from_dev1["cloud"] <= 60           # round trip to the cloud: tens of ms
    assert from_dev1["registry"] == from_dev1["cloud"]  # both behind the core
    assert from_dev1["cloud"] >= 5 * own_site
    assert from_dev1["cloud"] == DEVICE_DELAY_MS + AGGREGATION_DELAY_MS + CORE_DELAY_MS


def test_edge_tiered_delay_parameters_reach_the_network():
    spec = edge_tiered(device_delay_ms=4.0, server_delay_ms=0.25, aggregation_delay_ms=3.0, core_delay_ms=30.0)
    assert {h.access_delay_ms for h in spec.hosts_with_role("device")} == {4.0}
    assert {h.access_delay_ms for h in spec.hosts_with_role("edge-server")} == {0.25}
    assert sorted({l.delay_ms for l in spec.links}) == [3.0, 30.0]
    assert path_delays_ms(spec, "dev1")["edge1"] == 4.25
    assert path_delays_ms(spec, "dev1")["cloud"] == 37.0


@pytest.mark.parametrize("kwargs, named", [({"core_delay_ms": -1.0}, "core-agg1"),
                                           ({"device_delay_ms": math.nan}, "dev1"),
                                           ({"server_delay_ms": -2.0}, "edge1")])
def test_edge_tiered_refuses_a_bad_delay_naming_where(kwargs, named):
    with pytest.raises(ValueError) as err:
        edge_tiered(**kwargs)
    assert named in str(err.value)


# ---------------------------------------------------------------------------------------------
# great-circle distance and propagation delay


@pytest.mark.parametrize("pair", list(GEODESIC_KM), ids=lambda p: "-".join(p))
def test_great_circle_distance_of_real_city_pairs_is_within_half_a_percent_of_the_geodesic(pair):
    graph = nx.read_graphml(ZOO_DIR / "Abilene.graphml")
    city = {d["label"]: (float(d["Latitude"]), float(d["Longitude"])) for _, d in graph.nodes(data=True)}
    (lat1, lon1), (lat2, lon2) = city[pair[0]], city[pair[1]]
    km = great_circle_km(lat1, lon1, lat2, lon2)
    assert km == pytest.approx(GEODESIC_KM[pair], rel=0.005)
    assert great_circle_km(lat2, lon2, lat1, lon1) == pytest.approx(km)


def test_great_circle_distance_matches_a_published_haversine_example():
    # Nashville (BNA) to Los Angeles (LAX), Rosetta Code's haversine task: 2887.26 km on a
    # 6372.8 km sphere, so 2887.26 * 6371 / 6372.8 on ours.
    assert great_circle_km(36.12, -86.67, 33.94, -118.40) == pytest.approx(2887.26 * 6371 / 6372.8, rel=1e-4)


def test_great_circle_distance_edge_cases():
    assert great_circle_km(10.0, 20.0, 10.0, 20.0) == 0.0
    assert great_circle_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert great_circle_km(90.0, 0.0, -90.0, 0.0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert great_circle_km(0.0, 179.5, 0.0, -179.5) == pytest.approx(great_circle_km(0.0, 0.0, 0.0, 1.0))


def test_propagation_is_two_thirds_of_the_speed_of_light():
    assert propagation_delay_ms(0.0) == 0.0
    assert propagation_delay_ms(1000.0) == pytest.approx(5.0, rel=0.002)      # about 5 us per km
    assert propagation_delay_ms(299_792.458 * 2 / 3) == pytest.approx(1000.0)  # a second of light in fibre


# ---------------------------------------------------------------------------------------------
# Topology Zoo delays


def zoo_link(spec: TopologySpec, graph, a: str, b: str) -> LinkSpec:
    switch = {d["label"]: spec.switches[k] for k, (_, d) in
              enumerate(sorted(graph.nodes(data=True), key=lambda nd: (len(nd[0]), nd[0])))}
    return next(l for l in spec.links if {l.a, l.b} == {switch[a], switch[b]})


@pytest.mark.parametrize("pair", list(GEODESIC_KM), ids=lambda p: "-".join(p))
def test_abilene_links_carry_their_propagation_delay(pair):
    spec, graph = load_zoo("Abilene"), nx.read_graphml(ZOO_DIR / "Abilene.graphml")
    link = zoo_link(spec, graph, *pair)
    assert link.delay_source == GREAT_CIRCLE
    assert link.delay_ms == pytest.approx(GEODESIC_KM[pair] / 199.86, rel=0.005)


def test_every_abilene_link_has_a_delay_and_hosts_none():
    spec = load_zoo("Abilene")
    assert all(l.delay_ms > 0 and l.delay_source == GREAT_CIRCLE for l in spec.links)
    assert not any(h.access_delay_ms or h.access_loss_percent for h in spec.hosts)
    summary = delay_summary(spec)
    assert summary.links_without_coordinates == 0
    assert summary.device_to_cloud_ms is None  # no cloud host in a Zoo network
    # Chicago-Indianapolis is Abilene's shortest span (about 263 km)
    assert 1.2 < summary.link_min_ms < 1.4 and summary.link_max_ms == max(l.delay_ms for l in spec.links)


@pytest.mark.parametrize("name", ["Geant2012", "Internet2", "Esnet"])
def test_links_with_an_end_without_coordinates_get_no_delay_and_are_counted(name):
    graph = nx.read_graphml(ZOO_DIR / f"{name}.graphml")
    lacking = {n for n, d in graph.nodes(data=True) if "Latitude" not in d or "Longitude" not in d}
    spec = load_zoo(name)
    order = sorted(graph.nodes, key=lambda n: (len(n), n))
    lacking_switches = {spec.switches[order.index(n)] for n in lacking}
    expected = [l for l in spec.links if {l.a, l.b} & lacking_switches]
    assert expected  # each of these networks has such nodes
    assert [l for l in spec.links if l.delay_source == NO_COORDINATES] == expected
    assert all(l.delay_ms == 0.0 for l in expected)
    assert all(l.delay_source == GREAT_CIRCLE for l in spec.links if l not in expected)  # co-located nodes: 0
    assert delay_summary(spec).links_without_coordinates == len(expected)
    assert any(f"{len(expected)} of {len(spec.links)} link(s)" in note for note in spec.notes)


def graphml(tmp_path, nodes: dict, edges: list, name="net.graphml") -> str:
    graph = nx.Graph()
    for node, coords in nodes.items():
        graph.add_node(node, **({} if coords is None else {"Latitude": coords[0], "Longitude": coords[1]}))
    graph.add_edges_from(edges)
    path = tmp_path / name
    nx.write_graphml(graph, path)
    return str(path)


def test_a_hand_made_network_gets_its_delays_from_coordinates(tmp_path):
    # one degree of longitude at the equator: 111.19 km, 0.556 ms
    spec = load_zoo(graphml(tmp_path, {"a": (0.0, 0.0), "b": (0.0, 1.0), "c": None}, [("a", "b"), ("b", "c")]))
    ab, bc = spec.links
    assert ab.delay_ms == pytest.approx(111.19 / 199.86, abs=0.001) and ab.delay_source == GREAT_CIRCLE
    assert (bc.delay_ms, bc.delay_source) == (0.0, NO_COORDINATES)


def test_non_finite_coordinates_count_as_missing(tmp_path):
    spec = load_zoo(graphml(tmp_path, {"a": (0.0, 0.0), "b": (math.nan, 1.0)}, [("a", "b")]))
    assert (spec.links[0].delay_ms, spec.links[0].delay_source) == (0.0, NO_COORDINATES)


def test_a_link_that_joins_components_gets_the_delay_of_its_distance(tmp_path):
    spec = load_zoo(graphml(tmp_path, {"a": (0.0, 0.0), "b": (0.0, 1.0), "c": (0.0, 3.0), "d": (0.0, 4.0)},
                            [("a", "b"), ("c", "d")]))
    joining = next(l for l in spec.links if l.source == "joins components")
    assert joining.delay_source == GREAT_CIRCLE
    assert joining.delay_ms == pytest.approx(2 * 111.19 / 199.86, abs=0.002)  # b to c: two degrees


# ---------------------------------------------------------------------------------------------
# paths and the summary


def triangle() -> TopologySpec:
    """dev on s1, cloud on s3; s1-s3 direct is slower (50 ms) than s1-s2-s3 (10 + 5 ms)."""
    return spec_of([host("dev", "s1", "device", 1, access_delay_ms=1.0),
                    host("dev2", "s2", "device", 2),
                    host("cloud", "s3", "cloud", 3, access_delay_ms=0.5)],
                   [LinkSpec("s1", "s3", 10.0, 50.0), LinkSpec("s1", "s2", 10.0, 10.0), LinkSpec("s2", "s3", 10.0, 5.0)])


def test_path_delay_is_the_least_delay_path_with_both_access_links():
    assert path_delays_ms(triangle(), "dev") == {"dev2": 11.0, "cloud": 16.5}
    assert path_delays_ms(triangle(), "cloud")["dev"] == 16.5


def test_summary_of_link_delays_and_the_farthest_device():
    summary = delay_summary(triangle())
    assert (summary.link_min_ms, summary.link_median_ms, summary.link_max_ms) == (5.0, 10.0, 50.0)
    assert (summary.device_to_cloud_ms, summary.farthest_device) == (16.5, "dev")
    assert summary.links_without_coordinates == 0


def test_summary_takes_each_device_to_its_nearest_cloud():
    spec = triangle()
    spec.hosts.append(host("cloud2", "s1", "cloud", 4))
    summary = delay_summary(spec)
    assert (summary.device_to_cloud_ms, summary.farthest_device) == (5.5, "dev2")  # dev is 1 ms from cloud2


def test_summary_without_links_or_cloud():
    spec = TopologySpec("one", ["s1"], [host("dev", "s1", "device", 1)], [])
    summary = delay_summary(spec)
    assert (summary.link_min_ms, summary.link_max_ms, summary.device_to_cloud_ms, summary.farthest_device) == \
        (0.0, 0.0, None, None)


# ---------------------------------------------------------------------------------------------
# the catalogue and its descriptions


@pytest.mark.parametrize("name", ["edge-tiered", "zoo:Geant2012"])
def test_load_topology_with_delays_off_is_the_spec_without_delays(name):
    assert load_topology(name, delays=False) == load_topology(name).without_delays()
    small = load_topology(name, profile="edge-small", delays=False)
    assert not any(all_delays(small))
    assert {h.storage_mib for h in small.hosts_with_role("edge-server")} == {1024}


def test_describe_shows_every_delay_and_the_summary():
    spec = edge_tiered()
    lines = describe(spec).splitlines()
    for link in spec.links:
        row = next(line.split() for line in lines if line.split()[:1] == [f"{link.a}-{link.b}"])
        assert (float(row[1]), float(row[2]), float(row[3])) == (link.bandwidth_mbps, link.delay_ms,
                                                                link.loss_percent)
    for h in spec.hosts:
        row = next(line.split() for line in lines if line.split()[:1] == [h.name])
        assert (float(row[9]), float(row[10])) == (h.access_delay_ms, h.access_loss_percent)
    summary = delay_summary(spec)
    assert any(line.startswith("link delay") and f"max {summary.link_max_ms:g} ms" in line for line in lines)
    assert any(line.startswith("device to cloud") and f"{summary.device_to_cloud_ms:g} ms" in line for line in lines)


def test_as_dict_is_json_with_every_delay_and_the_summary():
    spec = load_zoo("Geant2012")
    data = json.loads(json.dumps(as_dict(spec)))
    assert [l["delay_ms"] for l in data["links"]] == [l.delay_ms for l in spec.links]
    assert [h["access_delay_ms"] for h in data["hosts"]] == [h.access_delay_ms for h in spec.hosts]
    assert data["delays"] == dataclasses.asdict(delay_summary(spec))
    assert data["delays"]["links_without_coordinates"] == 3


# ---------------------------------------------------------------------------------------------
# the CLI


@pytest.mark.parametrize("argv", [["up"], ["topo", "show", "edge-tiered"], ["experiment", "deploy", "--out", "x"],
                                  ["demo"]], ids=lambda argv: argv[0])
def test_cli_delays_option(argv, capsys):
    parser = build_parser()
    assert parser.parse_args(argv).delays == "on"
    assert parser.parse_args([*argv, "--delays", "off"]).delays == "off"
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args([*argv, "--delays", "maybe"])
    assert exit_.value.code == 2 and "invalid choice: 'maybe'" in capsys.readouterr().err


@pytest.mark.parametrize("delays, dev_ms, core_ms", [("on", DEVICE_DELAY_MS, CORE_DELAY_MS), ("off", 0.0, 0.0)])
def test_topo_show_json_follows_the_delays_option(capsys, delays, dev_ms, core_ms):
    assert strata("topo", "show", "edge-tiered", "-o", "json", "--delays", delays) == 0
    data = json.loads(capsys.readouterr().out)
    assert {h["access_delay_ms"] for h in data["hosts"] if h["role"] == "device"} == {dev_ms}
    assert data["delays"]["link_max_ms"] == core_ms


def test_topo_show_text_with_delays_off_says_so(capsys):
    assert strata("topo", "show", "zoo:Abilene", "--delays", "off") == 0
    out = capsys.readouterr().out
    assert "delays off" in out and "max 0 ms" in out


@pytest.mark.parametrize("action", ["list", "launch"])
def test_only_topo_show_prints_json(action, capsys):
    assert strata("topo", action, "edge-tiered", "-o", "json") == 2
    assert "-o json" in capsys.readouterr().err


@pytest.mark.parametrize("delays", ["on", "off"])
def test_up_builds_the_network_with_the_delays_option(monkeypatch, delays):
    import harness.up

    seen = {}

    def up(spec, **_):
        seen["spec"] = spec
        return 0

    monkeypatch.setattr(harness.up, "up", up)
    assert strata("up", "--delays", delays, "--no-nodes") == 0
    assert seen["spec"] == (load_topology("edge-tiered") if delays == "on" else load_topology("edge-tiered",
                                                                                              delays=False))


@pytest.mark.parametrize("delays", ["on", "off"])
def test_experiment_deploy_and_demo_pass_the_delays_option(monkeypatch, tmp_path, delays):
    import harness.demo
    import harness.deploy_experiment

    seen = {}

    def deploy(*args, **kwargs):
        seen["deploy"] = kwargs["delays"]
        return []

    def demo(**kwargs):
        seen["demo"] = kwargs["delays"]
        return 0

    monkeypatch.setattr(harness.deploy_experiment, "run_deploy_experiment", deploy)
    monkeypatch.setattr(harness.demo, "run_demo", demo)
    assert strata("experiment", "deploy", "--out", tmp_path, "--delays", delays) == 0
    assert strata("demo", "--delays", delays) == 0
    assert seen == {"deploy": delays == "on", "demo": delays == "on"}
