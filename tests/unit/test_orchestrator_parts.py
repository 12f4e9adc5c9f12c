"""Pure parts around the orchestrator: the VIP pool, container /etc/hosts, experiment records."""

from __future__ import annotations


import pytest

from component_base.errors import FailedPrecondition, InvalidArgument
from controller.orchestrator.vips import VipPool
from dataplane.agent.node import check_hosts, hosts_file
from harness.deploy_experiment import DeployRun, app_file, read_csv, write_csv


def test_vip_pool_hands_out_the_lowest_free_address_and_reuses_released_ones():
    pool = VipPool("10.0.127.0/30", used=["10.0.127.1"])
    assert pool.allocate() == "10.0.127.2"
    with pytest.raises(FailedPrecondition):
        pool.allocate()
    pool.release("10.0.127.1")
    assert pool.allocate() == "10.0.127.1"


def test_container_hosts_file_maps_service_names_to_vips():
    text = hosts_file("web-3", "10.0.128.4", {"cart": "10.0.127.2", "api": "10.0.127.1"})
    lines = text.splitlines()
    assert lines[:2] == ["127.0.0.1\tlocalhost", "10.0.128.4\tweb-3"]
    assert lines[2:] == ["10.0.127.1\tapi", "10.0.127.2\tcart"]


@pytest.mark.parametrize("hosts", [{"bad name": "10.0.0.1"}, {"ok": "not-an-ip"}, {"x\ny": "10.0.0.1"},
                                   {"a" * 300: "10.0.0.1"}])
def test_bad_hosts_entries_are_refused(hosts):
    with pytest.raises(InvalidArgument):
        check_hosts(hosts)


def test_deploy_records_round_trip_through_csv(tmp_path):
    runs = [DeployRun("strata", True, 100, 5, 90, 1.234, 80, 90, 12, 1),
            DeployRun("first-fit", False, 200, 0, 180, 2.0, 160, 180, 12, 2)]
    write_csv(runs, tmp_path / "deploy.csv")
    header = (tmp_path / "deploy.csv").read_text().splitlines()[0]
    assert header.startswith("algorithm,peers,pulled_bytes,peer_bytes,stored_bytes,ready_seconds")
    back = read_csv(tmp_path / "deploy.csv")
    assert back[1] == runs[1] and back[0].ready_seconds == 1.23


def test_experiment_apps_are_bundled_names_or_files(tmp_path):
    assert all(app_file(name).is_file() for name in ("socialNetwork", "online-boutique", "teastore"))
    with pytest.raises(ValueError):
        app_file(str(tmp_path / "missing.yml"))


def test_images_on_a_shared_base_are_built_with_the_same_shared_layers():
    from controller.orchestrator.registry_images import shared_base_payloads
    from images import scaled_bytes
    from images.catalogue import resolve_image

    auth, webui = resolve_image("descartesresearch/teastore-auth"), resolve_image("descartesresearch/teastore-webui")
    layers = shared_base_payloads(auth, 0.01)
    assert layers == shared_base_payloads(webui, 0.01) and len(layers) == 16
    assert [instruction for instruction, _ in layers] == [layer.instruction for layer in auth.shared_layers]
    jar = next(files for instruction, files in layers if "kieker-2.0.0-aspectj.jar" in instruction)
    [(path, content)] = jar.items()
    assert path.startswith("/opt/teastore-base/") and len(content) == scaled_bytes(3.85, 0.01)
    assert all(len(content) >= 1 for _, files in layers for content in files.values())
    assert shared_base_payloads(resolve_image("redis"), 0.01) == []
    assert shared_base_payloads(resolve_image("gcr.io/google-samples/microservices-demo/frontend"), 0.01) == []
