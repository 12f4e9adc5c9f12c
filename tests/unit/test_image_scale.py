"""The image scale as a run's option: checked, carried into the build (sizes, labels, cache folder),
the free space checked before anything is written, and refused where it cannot work."""

from __future__ import annotations

import math
import shutil
from collections import namedtuple

import pytest

import cli
from harness.deploy_experiment import BUNDLED_APPS, DeployRun, dataset_images_of, load_app, read_csv, write_csv
from images import IMAGE_SCALE, checked_image_scale, scaled_bytes
from images.build import SCALE_LABEL, build_images, default_cache, fingerprint
from images.oci import Layout
from test_images import TOLERANCE, dataset_layers, dataset_slice, manifest_of


@pytest.fixture
def small_dataset(tmp_path):
    return dataset_slice(tmp_path / "slice.json")


@pytest.mark.parametrize("value", [0, -0.5, 1.5, math.nan, math.inf, True, "0.5"])
def test_a_scale_outside_0_to_1_is_refused(value):
    with pytest.raises(ValueError, match="image scale"):
        checked_image_scale(value)


@pytest.mark.parametrize("value", [1, 0.5, 0.01, 1e-4])
def test_a_scale_in_range_is_taken(value):
    assert checked_image_scale(value) == value


def test_sizes_follow_the_scale():
    assert scaled_bytes(100) == round(100 * 2**20 * IMAGE_SCALE)
    assert scaled_bytes(100, 1) == 100 * 2**20
    assert scaled_bytes(100, 0.5) == 50 * 2**20


def test_each_scale_has_a_cache_of_its_own(monkeypatch, tmp_path):
    monkeypatch.setenv("STRATA_IMAGE_CACHE", str(tmp_path / "images"))
    assert default_cache() == default_cache(IMAGE_SCALE) == tmp_path / "images"
    assert default_cache(1) == tmp_path / "images-x1"
    assert default_cache(0.25) == tmp_path / "images-x0.25"


def test_a_build_at_another_scale_writes_layers_of_that_size(tmp_path, small_dataset):
    small = build_images(tmp_path / "small", dataset=small_dataset, names=["busybox"], progress=lambda _: None)
    big = build_images(tmp_path / "big", dataset=small_dataset, names=["busybox"], progress=lambda _: None,
                       scale=0.05)
    assert big.fingerprint != small.fingerprint
    layer = dataset_layers("busybox")[0]
    manifest = manifest_of(Layout(tmp_path / "big"), "busybox:latest")
    assert abs(manifest["layers"][0]["size"] - scaled_bytes(layer.size_mib, 0.05)) <= TOLERANCE
    config = Layout(tmp_path / "big").read_json(manifest["config"]["digest"])
    assert config["config"]["Labels"][SCALE_LABEL] == repr(0.05)
    assert big.layer_bytes > 4 * small.layer_bytes


def test_the_fingerprint_names_the_scale():
    assert fingerprint(b"x", None, 0.01) != fingerprint(b"x", None, 1.0)


def test_a_build_without_room_is_refused_before_anything_is_written(tmp_path, small_dataset, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(OSError, match="not enough room .* at scale 1 .*GiB"):
        build_images(tmp_path / "cache", dataset=small_dataset, names=["busybox"], progress=lambda _: None, scale=1)
    assert not (tmp_path / "cache").exists() and not list(tmp_path.glob(".cache.build-*"))


@pytest.mark.parametrize("argv", [["images", "build", "--image-scale", "0"],
                                  ["images", "build", "--image-scale", "2", "--only", "busybox"],
                                  ["images", "build", "--image-scale", "0.5"],  # the whole dataset at half size
                                  ["up", "--image-scale", "nan"],
                                  ["experiment", "deploy", "--out", "x", "--image-scale", "1.5"]])
def test_the_cli_refuses_a_bad_scale_or_a_whole_dataset_build_as_bad_input(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("STRATA_IMAGE_CACHE", str(tmp_path / "images"))
    with pytest.raises(SystemExit) as raised:
        raise SystemExit(cli.main(argv))
    assert raised.value.code == 2
    assert "image scale" in capsys.readouterr().err


def test_a_stack_at_another_scale_must_be_told_which_images_to_build():
    from harness.stack import Stack
    from topologies.catalog import load_topology

    with pytest.raises(ValueError, match="name the dataset images"):
        Stack(load_topology("edge-tiered"), image_scale=1)


def test_the_experiment_builds_only_the_bases_of_the_apps_images_and_records_its_scale(tmp_path):
    bases = dataset_images_of(load_app(BUNDLED_APPS["online-boutique"]))
    assert bases and len(bases) < 12  # the app's 12 services stand on a few dataset images
    run = DeployRun("strata", True, 1, 0, 1, 1.0, 1, 1, 12, 1, image_scale=1.0)
    write_csv([run], tmp_path / "deploy.csv")
    assert read_csv(tmp_path / "deploy.csv")[0].image_scale == 1.0
    assert "image_scale" in (tmp_path / "deploy.csv").read_text().splitlines()[0]


def test_at_the_default_scale_a_stack_builds_every_image_whatever_it_pushes():
    """The default scale's cache is shared by every run: naming the images to push must not shrink it."""
    from harness.stack import Stack
    from topologies.catalog import load_topology

    stack = Stack(load_topology("edge-tiered"), images=["redis"])
    try:
        assert stack.build_only is None
    finally:
        shutil.rmtree(stack.workdir, ignore_errors=True)
    at_scale = Stack(load_topology("edge-tiered"), images=["redis"], image_scale=0.5)
    try:
        assert at_scale.build_only == ["redis"]
    finally:
        shutil.rmtree(at_scale.workdir, ignore_errors=True)
