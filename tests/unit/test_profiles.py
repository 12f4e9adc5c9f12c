"""Server profiles: roomy leaves a topology as generated, edge-small constrains only its edge servers."""

from __future__ import annotations

import pytest

from cli import build_parser
from harness.deploy_experiment import BUNDLED_APPS, load_app
from images.catalogue import app_images
from topologies.catalog import describe, load_topology
from topologies.profiles import DEFAULT_PROFILE, EDGE_SMALL, PROFILES, apply_profile, server_profile
from topologies.tiered import edge_tiered


def test_roomy_is_the_default_and_changes_nothing():
    assert DEFAULT_PROFILE == "roomy"
    spec = edge_tiered()
    assert apply_profile(spec, "roomy") is spec
    assert load_topology("edge-tiered") == edge_tiered()
    assert load_topology("zoo:Abilene", profile="roomy") == load_topology("zoo:Abilene")


@pytest.mark.parametrize("name", ["edge-tiered", "zoo:Abilene"])
def test_edge_small_sets_the_edge_servers_only(name):
    roomy, small = load_topology(name), load_topology(name, profile="edge-small")
    assert [h.name for h in small.hosts] == [h.name for h in roomy.hosts] and small.links == roomy.links
    servers = 0
    for before, after in zip(roomy.hosts, small.hosts):
        if before.role == "edge-server":
            servers += 1
            assert (after.cpu_millicores, after.memory_mib, after.storage_mib) == (4000, 4096, 1024)
            assert (after.bandwidth_mbps, after.access_mbps, after.ip, after.switch) == (
                before.bandwidth_mbps, before.access_mbps, before.ip, before.switch)
        else:
            assert after == before  # the cloud host, the registry and the devices keep theirs
    assert servers >= 6
    assert any("edge-small" in note for note in small.notes)
    assert roomy.notes == load_topology(name).notes  # the profile did not edit the original spec


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match="unknown server profile 'huge'; choose from roomy, edge-small"):
        server_profile("huge")
    with pytest.raises(ValueError, match="huge"):
        load_topology("edge-tiered", profile="huge")


def test_edge_small_disk_holds_the_largest_image_but_not_two_apps():
    per_app = {}
    largest = 0.0
    for name in ("online-boutique", "teastore"):
        images = app_images(load_app(BUNDLED_APPS[name])).values()
        per_app[name] = {digest: size for image in images for digest, size in image.layers}
        largest = max(largest, *(image.size_mib for image in images))
        # Without layer sharing (every image whole), one app does not fit on a server.
        assert sum(image.size_mib for image in images) > 1.5 * EDGE_SMALL.storage_mib
    both = {**per_app["online-boutique"], **per_app["teastore"]}
    assert largest < EDGE_SMALL.storage_mib < sum(both.values())
    # Six servers hold every layer of both apps three times (three replicas spread over nodes).
    assert 3 * sum(both.values()) < 6 * EDGE_SMALL.storage_mib


def test_describe_shows_the_memory_of_the_profile():
    text = describe(load_topology("edge-tiered", profile="edge-small"))
    edge1 = next(line for line in text.splitlines() if line.startswith("edge1 "))
    assert edge1.split()[4:7] == ["4000", "4096", "1024"]


@pytest.mark.parametrize("argv", [["up"], ["topo", "show", "edge-tiered"]])
def test_cli_profile_option(argv, capsys):
    parser = build_parser()
    assert parser.parse_args(argv).profile == "roomy"
    assert parser.parse_args([*argv, "--profile", "edge-small"]).profile == "edge-small"
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args([*argv, "--profile", "huge"])
    assert exit_.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err
    assert set(PROFILES) == {"roomy", "edge-small"}
