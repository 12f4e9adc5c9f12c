"""The start-up estimate on hand-worked networks, and the network section's checks."""

import pytest

from controller.placement.model import ProblemError, problem_from_dict, problem_to_dict
from controller.placement.startup import estimate, ready_seconds

# 8 Mbit/s carries 1 MB (size unit 1e6 bytes) a second: times below are sizes over rates in MB/s.


def problem(*, servers=("e1", "e2"), layers=None, containers=None, held=None, network=None):
    layers = layers or {"a": 10, "b": 10}
    containers = containers or {"x": ["a"], "y": ["b"]}
    held = held or {}
    return problem_from_dict({
        "servers": [{"name": n, "cpu": 100, "storage": 1000, "bandwidth": 100,
                     **({"held": held[n]} if n in held else {})} for n in servers],
        "layers": [{"digest": d, "size": s} for d, s in layers.items()],
        "containers": [{"name": c, "cpu": 1, "bandwidth": 1, "layers": ls} for c, ls in containers.items()],
        "network": {"start_seconds": 0, **(network or {})},
    })


def star(access=8.0, uplink=80.0, registry=0.0, **extra):
    """Registry on `core`; e1 and e2 on `site`, each behind its own access link."""
    return {"registry": {"switch": "core", "mbps": registry},
            "servers": {"e1": {"switch": "site", "mbps": access}, "e2": {"switch": "site", "mbps": access}},
            "links": [{"between": ["core", "site"], "mbps": uplink}], **extra}


def test_one_pull_takes_its_size_over_the_bottleneck():
    p = problem(containers={"x": ["a"]}, network=star())
    assert ready_seconds(p, {"x": "e1"}) == pytest.approx(10.0)  # 10 MB over the 1 MB/s access link


def test_one_link_shared_by_two_pulls_takes_twice_as_long():
    # The site's uplink (1 MB/s) is the bottleneck of both pulls.
    p = problem(network=star(access=80.0, uplink=8.0))
    alone = ready_seconds(problem(containers={"x": ["a"]}, network=star(access=80.0, uplink=8.0)), {"x": "e1"})
    assert alone == pytest.approx(10.0)
    assert ready_seconds(p, {"x": "e1", "y": "e2"}) == pytest.approx(20.0)


def test_two_access_links_pull_in_parallel_where_one_server_pulls_in_series():
    p = problem(network=star(access=8.0, uplink=80.0))
    assert ready_seconds(p, {"x": "e1", "y": "e1"}) == pytest.approx(20.0)
    assert ready_seconds(p, {"x": "e1", "y": "e2"}) == pytest.approx(10.0)


def test_a_pull_speeds_up_when_the_one_sharing_its_link_ends():
    p = problem(layers={"a": 10, "b": 30}, network=star(access=80.0, uplink=8.0))
    result = estimate(p, {"x": "e1", "y": "e2"})
    # Both at 0.5 MB/s until a's 10 MB are in (20 s), then b alone at 1 MB/s: 20 MB more.
    assert result.server_seconds == {"e1": pytest.approx(20.0), "e2": pytest.approx(40.0)}


def test_pulls_share_by_their_connections():
    # e1 pulls three layers (three connections), e2 one: e1 gets 3/4 of the uplink.
    p = problem(layers={"a": 3, "b": 3, "c": 3, "d": 3}, containers={"x": ["a", "b", "c"], "y": ["d"]},
                network=star(access=80.0, uplink=8.0))
    result = estimate(p, {"x": "e1", "y": "e2"})
    assert result.server_seconds["e2"] == pytest.approx(12.0)  # 3 MB at 0.25 MB/s
    assert result.server_seconds["e1"] == pytest.approx(12.0)  # 9 MB at 0.75 MB/s


def test_a_peer_nearer_than_the_registry_serves_the_layer():
    # e2 holds a; e1 fetches it from e2 over their site switch (two 80 Mbit/s access links),
    # not from the registry behind the 8 Mbit/s uplink.
    p = problem(containers={"x": ["a"], "y": ["b"]}, held={"e2": ["a"]}, network=star(access=80.0, uplink=8.0))
    result = estimate(p, {"x": "e1", "y": "e2"})
    assert result.server_seconds["e1"] == pytest.approx(1.0)  # 10 MB at 10 MB/s
    assert result.server_seconds["e2"] == pytest.approx(10.0)  # b from the registry, alone on the uplink
    assert result.registry_bytes == pytest.approx(10e6)


def test_the_registry_when_strictly_nearer_than_every_holder():
    network = {"registry": {"switch": "site", "mbps": 8.0},
               "servers": {"e1": {"switch": "site", "mbps": 80.0}, "e2": {"switch": "far", "mbps": 80.0}},
               "links": [{"between": ["site", "far"], "mbps": 800.0}]}
    p = problem(containers={"x": ["a"]}, held={"e2": ["a"]}, network=network)
    assert estimate(p, {"x": "e1"}).registry_bytes == pytest.approx(10e6)
    assert ready_seconds(p, {"x": "e1"}) == pytest.approx(10.0)


def test_a_layer_nobody_holds_is_seeded_once_then_fetched_from_the_seed():
    # e1 and e2 both need a: one pulls it from the registry (10 s over the uplink), the other
    # then fetches it from that peer at 10 MB/s (1 s more).
    p = problem(containers={"x": ["a"], "y": ["a"]}, network=star(access=80.0, uplink=8.0))
    result = estimate(p, {"x": "e1", "y": "e2"})
    assert result.registry_bytes == pytest.approx(10e6)
    assert sorted(result.server_seconds.values()) == [pytest.approx(10.0), pytest.approx(11.0)]


def test_servers_no_nearer_to_each_other_than_the_registry_both_pull_at_once():
    # e1 and e2 on two sites, each site one hop from the registry's core and two from the other:
    # neither waits for the other; both pull a from the registry, sharing its 8 Mbit/s link.
    network = {"registry": {"switch": "core", "mbps": 8.0},
               "servers": {"e1": {"switch": "s1", "mbps": 80.0}, "e2": {"switch": "s2", "mbps": 80.0}},
               "links": [{"between": ["core", "s1"], "mbps": 800.0}, {"between": ["core", "s2"], "mbps": 800.0}]}
    p = problem(containers={"x": ["a"], "y": ["a"]}, network=network)
    result = estimate(p, {"x": "e1", "y": "e2"})
    assert result.registry_bytes == pytest.approx(20e6)
    assert result.server_seconds == {"e1": pytest.approx(20.0), "e2": pytest.approx(20.0)}


def test_held_layers_are_not_fetched():
    p = problem(containers={"x": ["a"]}, held={"e1": ["a"]}, network=star(start_seconds=0.5))
    assert estimate(p, {"x": "e1"}) == estimate(p, {"x": "e1"})
    assert ready_seconds(p, {"x": "e1"}) == pytest.approx(0.5)


@pytest.mark.parametrize(("parallel", "expected"), [(4, 2.0), (2, 3.0), (1, 5.0)])
def test_start_cost_with_the_parallel_bound(parallel, expected):
    containers = {f"c{k}": ["a"] for k in range(5)}
    p = problem(servers=("e1", "e2"), containers=containers, held={"e1": ["a"]},
                network=star(start_seconds=1.0, parallel_starts=parallel))
    assert ready_seconds(p, {c: "e1" for c in containers}) == pytest.approx(expected)


def test_starts_wait_for_their_layers():
    # x's layer is held (startable at 0), y's takes 10 s: y starts after its pull, x at once.
    p = problem(held={"e1": ["a"]}, network=star(start_seconds=1.0, parallel_starts=1))
    assert ready_seconds(p, {"x": "e1", "y": "e1"}) == pytest.approx(11.0)


def test_network_round_trips_through_json():
    p = problem(network=star(start_seconds=0.3, parallel_starts=2, parallel_downloads=5, size_bytes=1048576))
    assert problem_from_dict(problem_to_dict(p)).network == p.network


@pytest.mark.parametrize("change", [
    lambda n: n["servers"].pop("e2"),                                       # a server not attached
    lambda n: n["servers"].update(e9={"switch": "site"}),                   # not a server
    lambda n: n["links"].append({"between": ["site", "site"], "mbps": 1}),  # a link to itself
    lambda n: n["links"].append({"between": ["site", "core"], "mbps": 1}),  # a second cable
    lambda n: n["links"][0].update(mbps=0),                                  # no bandwidth
    lambda n: n["servers"]["e2"].update(switch="elsewhere"),                # no path from the registry
    lambda n: n.update(parallel_starts=0),
    lambda n: n.update(start_seconds=-1),
    lambda n: n["registry"].pop("switch"),
])
def test_bad_network_sections_are_refused(change):
    network = star()
    change(network)
    with pytest.raises(ProblemError, match="network"):
        problem(network=network)


def test_a_container_waits_for_a_layer_another_server_brings_in():
    # x on e1 claims a and b; y on e2 needs b too: it waits until b is on e1 (b has a pull of its
    # own, sharing e1's access link with a), then fetches b from e1 and c from the registry.
    p = problem(layers={"a": 10, "b": 2, "c": 4}, containers={"x": ["a", "b"], "y": ["b", "c"]},
                network=star(access=8.0, uplink=800.0))
    result = estimate(p, {"x": "e1", "y": "e2"})
    # b: 2 MB at 0.5 MB/s = 4 s; then on e2 b (2 MB) and c (4 MB) share 1 MB/s: b at 8 s, c at 10 s.
    assert result.server_seconds == {"e1": pytest.approx(12.0), "e2": pytest.approx(10.0)}
    assert result.registry_bytes == pytest.approx(16e6)  # a, b once, c
