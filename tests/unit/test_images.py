"""The image builder: deterministic scaled layers, shared blobs, configs, the cache's fingerprint, application images, the CLI."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from cli import images as images_cli
from images import IMAGE_SCALE, scaled_bytes
from images.build import (APPLICATION_LABEL, SCALE_LABEL, SOURCE_LABEL, STAND_IN_CMD, build_application_image,
                          build_images, list_images)
from images.dataset import DATASET, load_dataset
from images.oci import REF_NAME, Layout, synthetic_layer, tar_archive

# Small images that share a layer (alpine's is traefik's base) and have tiny (~300-byte) layers;
# hipache lists one layer several times. Built in well under a second.
SLICE = ("alpine", "traefik", "hello-world", "eclipse-mosquitto", "busybox")
MIN_LAYER_TAR = 2560  # directory header, file header, one data block, end-of-archive blocks
TOLERANCE = 256  # half a tar block: the file length is whole blocks, so the tar is within this of the target


def dataset_slice(path: Path, names=SLICE, edit=None) -> Path:
    items = [item for item in json.loads(DATASET.read_text()) if item["name"] in names]
    if edit:
        edit(items)
    path.write_text(json.dumps(items))
    return path


@pytest.fixture
def small_dataset(tmp_path) -> Path:
    return dataset_slice(tmp_path / "slice.json")


@pytest.fixture
def built(tmp_path, small_dataset) -> Layout:
    build_images(tmp_path / "cache", dataset=small_dataset, progress=lambda line: None)
    return Layout(tmp_path / "cache")


def manifest_of(layout: Layout, reference: str) -> dict:
    return layout.read_json(layout.find(reference)["digest"])


def dataset_layers(name: str):
    images, _ = load_dataset()
    return next(image for image in images if image.name == name).layers


def tar_members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        return archive.getmembers()


def blob_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (root / "blobs" / "sha256").iterdir()}


def test_two_builds_give_byte_identical_layouts(tmp_path, small_dataset):
    for cache in ("a", "b"):
        build_images(tmp_path / cache, dataset=small_dataset, progress=lambda line: None)
    assert blob_files(tmp_path / "a") == blob_files(tmp_path / "b")
    assert (tmp_path / "a" / "index.json").read_bytes() == (tmp_path / "b" / "index.json").read_bytes()
    for root in ("a", "b"):  # every blob is stored under the hash of its bytes
        for name, data in blob_files(tmp_path / root).items():
            assert hashlib.sha256(data).hexdigest() == name


def test_index_names_every_image_with_layers(built):
    refs = sorted(entry["annotations"][REF_NAME] for entry in built.index())
    assert refs == sorted(f"{name}:latest" for name in SLICE)
    assert json.loads((built.root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


def test_a_layer_shared_by_two_images_is_one_blob(built):
    alpine, traefik = manifest_of(built, "alpine:latest"), manifest_of(built, "traefik:latest")
    assert dataset_layers("alpine")[0].digest == dataset_layers("traefik")[0].digest
    assert alpine["layers"][0] == traefik["layers"][0]
    distinct_layers = {layer["digest"] for entry in built.index()
                       for layer in built.read_json(entry["digest"])["layers"]}
    # blobs = distinct layers + one config and one manifest per image
    assert len(blob_files(built.root)) == len(distinct_layers) + 2 * len(SLICE)


def test_layer_blobs_weigh_the_scaled_size(built):
    checked = 0
    for name in SLICE:
        for source, blob in zip(dataset_layers(name), manifest_of(built, f"{name}:latest")["layers"]):
            target = max(scaled_bytes(source.size_mib), MIN_LAYER_TAR)
            assert abs(blob["size"] - target) <= TOLERANCE, (name, source, blob)
            assert built.blob_path(blob["digest"]).stat().st_size == blob["size"]
            checked += 1
    assert checked >= 8


def test_the_layer_size_follows_the_target_at_every_size():
    for target in (0, 1, 2559, 2560, 2561, 10_000, 123_456, 1_000_000):
        size = len(synthetic_layer("sha256:" + "ab" * 32, target))
        assert size % 512 == 0
        assert abs(size - max(target, MIN_LAYER_TAR)) <= TOLERANCE, (target, size)


def test_tiny_layers_are_valid_distinct_tars(built):
    tiny = [(source, blob) for name in SLICE
            for source, blob in zip(dataset_layers(name), manifest_of(built, f"{name}:latest")["layers"])
            if source.size_mib < 0.001]
    assert len(tiny) >= 2
    assert len({blob["digest"] for _, blob in tiny}) == len({source.digest for source, _ in tiny})
    for source, blob in tiny:
        directory, file = tar_members(built.read_blob(blob["digest"]))
        assert (directory.name, directory.isdir(), directory.mode) == ("layers", True, 0o755)
        assert file.name == f"layers/{source.digest[7:19]}.bin" and file.isreg() and file.mode == 0o644
        for member in (directory, file):
            assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "", "")
        with tarfile.open(fileobj=io.BytesIO(built.read_blob(blob["digest"]))) as archive:
            content = archive.extractfile(file).read()
        assert content == hashlib.shake_256(source.digest.encode()).digest(len(content))


def test_config_matches_the_layers_and_the_dataset(built):
    for name in SLICE:
        manifest = manifest_of(built, f"{name}:latest")
        config = built.read_json(manifest["config"]["digest"])
        sources = dataset_layers(name)
        assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in manifest["layers"]]
        assert [h["created_by"] for h in config["history"]] == [layer.instruction for layer in sources]
        assert config["config"]["Cmd"] == list(STAND_IN_CMD)
        assert config["config"]["Labels"] == {SOURCE_LABEL: name, SCALE_LABEL: repr(IMAGE_SCALE)}
        assert any(env.startswith("PATH=") for env in config["config"]["Env"])
        assert (config["architecture"], config["os"]) == ("amd64", "linux")
        assert all(layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar" for layer in manifest["layers"])


def test_a_repeated_layer_stays_in_the_image(tmp_path):
    dataset = dataset_slice(tmp_path / "hipache.json", names=("hipache",))
    build_images(tmp_path / "cache", dataset=dataset, progress=lambda line: None)
    manifest = manifest_of(Layout(tmp_path / "cache"), "hipache:latest")
    assert [layer["digest"] for layer in manifest["layers"]].count(manifest["layers"][-1]["digest"]) > 1
    assert len(manifest["layers"]) == len(dataset_layers("hipache"))


def test_missing_architecture_defaults_to_amd64_linux_and_imageless_entries_are_reported(tmp_path):
    def edit(items):
        for item in items:
            item["architecture"] = item["os"] = None
    dataset = dataset_slice(tmp_path / "d.json", names=("busybox", "scratch"), edit=edit)
    report = build_images(tmp_path / "cache", dataset=dataset, progress=lambda line: None)
    assert report.images == 1 and report.without_layers == ("scratch",)
    layout = Layout(tmp_path / "cache")
    config = layout.read_json(manifest_of(layout, "busybox:latest")["config"]["digest"])
    assert (config["architecture"], config["os"]) == ("amd64", "linux")


def test_an_unchanged_fingerprint_skips_the_build_and_a_changed_one_rebuilds(tmp_path, small_dataset):
    cache = tmp_path / "cache"
    first = build_images(cache, dataset=small_dataset, progress=lambda line: None)
    index_inode = (cache / "index.json").stat().st_ino
    again = build_images(cache, dataset=small_dataset, progress=lambda line: None)
    assert not first.up_to_date and again.up_to_date
    assert (again.images, again.distinct_layers, again.layer_bytes) == (first.images, first.distinct_layers,
                                                                        first.layer_bytes)
    assert (cache / "index.json").stat().st_ino == index_inode  # nothing rewritten

    def grow_busybox(items):
        next(item for item in items if item["name"] == "busybox")["layers"][0]["size"] *= 2
    dataset_slice(small_dataset, edit=grow_busybox)
    rebuilt = build_images(cache, dataset=small_dataset, progress=lambda line: None)
    assert not rebuilt.up_to_date and rebuilt.fingerprint != first.fingerprint
    busybox = manifest_of(Layout(cache), "busybox:latest")["layers"][0]
    assert abs(busybox["size"] - scaled_bytes(2 * dataset_layers("busybox")[0].size_mib)) <= TOLERANCE
    assert not list(tmp_path.glob(".cache.build-*"))


def test_a_name_filter_builds_only_those_images_and_rejects_unknown_names(tmp_path, small_dataset):
    report = build_images(tmp_path / "cache", dataset=small_dataset, names=["alpine"], progress=lambda line: None)
    assert [image.reference for image in list_images(tmp_path / "cache")] == ["alpine:latest"]
    assert report.images == 1
    with pytest.raises(ValueError, match="nosuch"):
        build_images(tmp_path / "other", dataset=small_dataset, names=["nosuch"], progress=lambda line: None)


def test_an_interrupted_build_leaves_the_previous_cache(tmp_path, small_dataset):
    cache = tmp_path / "cache"
    build_images(cache, dataset=small_dataset, names=["alpine"], progress=lambda line: None)
    before = blob_files(cache)

    def interrupt(line):
        if line.lstrip().startswith("["):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_images(cache, dataset=small_dataset, progress=interrupt)
    assert blob_files(cache) == before
    assert [image.reference for image in list_images(cache)] == ["alpine:latest"]
    assert not list(tmp_path.glob(".cache.build-*"))


def test_list_images_reports_layers_and_sizes(built):
    listed = {image.reference: image for image in list_images(built.root)}
    assert set(listed) == {f"{name}:latest" for name in SLICE}
    traefik = listed["traefik:latest"]
    assert traefik.manifest_digest == built.find("traefik:latest")["digest"]
    assert [layer.digest for layer in traefik.layers] == [l["digest"] for l in manifest_of(built, "traefik:latest")["layers"]]
    assert traefik.size_bytes == sum(l["size"] for l in manifest_of(built, "traefik:latest")["layers"])


def test_application_image_is_the_base_layers_plus_one_layer_of_files(built):
    files = {"/app/server.py": b"print('hello')\n", "app/static/index.html": b"<h1>hi</h1>"}
    app = build_application_image("alpine", "shop/web:v1", files, ["python3", "/app/server.py"], cache=built.root)
    base = manifest_of(built, "alpine:latest")
    manifest = manifest_of(built, "shop/web:v1")
    assert app.manifest_digest == built.find("shop/web:v1")["digest"]
    assert manifest["layers"][:-1] == base["layers"] and len(manifest["layers"]) == len(base["layers"]) + 1
    layer = built.read_blob(manifest["layers"][-1]["digest"])
    with tarfile.open(fileobj=io.BytesIO(layer)) as archive:
        assert sorted(m.name for m in archive.getmembers()) == ["app", "app/server.py", "app/static",
                                                               "app/static/index.html"]
        assert archive.extractfile("app/server.py").read() == files["/app/server.py"]
        assert all(m.mtime == 0 and m.uid == 0 for m in archive.getmembers())
    config = built.read_json(manifest["config"]["digest"])
    assert config["config"]["Cmd"] == ["python3", "/app/server.py"]
    assert config["rootfs"]["diff_ids"] == [l["digest"] for l in manifest["layers"]]
    assert len(config["history"]) == len(manifest["layers"])
    assert config["config"]["Labels"][APPLICATION_LABEL] == "shop/web:v1"
    assert config["config"]["Labels"][SOURCE_LABEL] == "alpine"
    # The same inputs give the same image; an image of the same name is replaced, not duplicated.
    again = build_application_image("alpine", "shop/web:v1", files, ["python3", "/app/server.py"], cache=built.root)
    assert again.manifest_digest == app.manifest_digest
    build_application_image("alpine", "shop/web:v1", {"app/server.py": b"print(2)"}, ["python3", "/app/server.py"],
                            cache=built.root)
    refs = [entry["annotations"][REF_NAME] for entry in built.index()]
    assert refs.count("shop/web:v1") == 1 and built.find("shop/web:v1")["digest"] != app.manifest_digest


def test_images_on_one_shared_base_share_its_layer_blobs_and_differ_in_the_app_layer(built):
    shared = [("COPY lib.jar /opt/lib.jar", {"/opt/lib.jar": b"jar" * 100}), ("RUN mkdir /logs", {"/logs/.keep": b""})]
    one = build_application_image("alpine", "shop/a:v1", {"/app/a.bin": b"a"}, ["true"], cache=built.root,
                                  base_layers=shared)
    two = build_application_image("alpine", "shop/b:v1", {"/app/b.bin": b"b"}, ["true"], cache=built.root,
                                  base_layers=shared)
    base = manifest_of(built, "alpine:latest")["layers"]
    first, second = manifest_of(built, "shop/a:v1"), manifest_of(built, "shop/b:v1")
    assert len(one.layers) == len(base) + 3 and first["layers"][:len(base)] == base
    assert first["layers"][:-1] == second["layers"][:-1] and first["layers"][-1] != second["layers"][-1]
    config = built.read_json(first["config"]["digest"])
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in first["layers"]]
    assert [h["created_by"] for h in config["history"]][len(base):-1] == [c for c, _ in shared]
    with tarfile.open(fileobj=io.BytesIO(built.read_blob(first["layers"][len(base)]["digest"]))) as archive:
        assert archive.extractfile("opt/lib.jar").read() == b"jar" * 100
    assert two.manifest_digest != one.manifest_digest


def test_application_image_rejects_bad_input(built):
    with pytest.raises(KeyError, match="nosuch"):
        build_application_image("nosuch", "app", {"a": b""}, ["true"], cache=built.root)
    with pytest.raises(ValueError):
        build_application_image("alpine", "App", {"a": b""}, ["true"], cache=built.root)
    with pytest.raises(ValueError, match=r"\.\."):
        build_application_image("alpine", "app", {"../etc/passwd": b""}, ["true"], cache=built.root)
    with pytest.raises(ValueError, match="command"):
        build_application_image("alpine", "app", {"a": b""}, [], cache=built.root)


def test_tar_archive_is_ordered_and_independent_of_insertion_order():
    one = tar_archive({"b/x": b"1", "a": b"2"})
    two = tar_archive({"a": b"2", "b/x": b"1"})
    assert one == two
    assert [m.name for m in tar_members(one)] == ["a", "b", "b/x"]
    with pytest.raises(ValueError):
        tar_archive({"a": b"1", "a/b": b"2"})  # "a" would be a file and a folder


def test_cache_from_the_environment(tmp_path, small_dataset, monkeypatch):
    monkeypatch.setenv("STRATA_IMAGE_CACHE", str(tmp_path / "env-cache"))
    report = build_images(dataset=small_dataset, names=["busybox"], progress=lambda line: None)
    assert report.cache == tmp_path / "env-cache" and Layout(tmp_path / "env-cache").is_layout()


# -- the CLI module


def strata_images(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="strata")
    images_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_build_then_up_to_date_then_ls(tmp_path, small_dataset, capsys):
    cache = str(tmp_path / "cache")
    assert strata_images(["images", "build", "--cache", cache, "--dataset", str(small_dataset)]) == 0
    out = capsys.readouterr().out
    assert f"{len(SLICE)} images" in out and "distinct layers" in out
    assert strata_images(["images", "build", "--cache", cache, "--dataset", str(small_dataset)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert strata_images(["images", "ls", "--cache", cache, "-o", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(item["name"] for item in listed) == sorted(f"{name}:latest" for name in SLICE)
    for item in listed:
        assert item["size_bytes"] == sum(layer["size"] for layer in item["layers"])
        assert item["manifest_digest"].startswith("sha256:")
    assert strata_images(["images", "ls", "--cache", cache]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["IMAGE", "LAYERS", "SIZE", "MANIFEST"] and len(table) == 1 + len(SLICE)


def test_cli_bad_cache_exits_2(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert strata_images(["images", "build", "--cache", str(a_file)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert strata_images(["images", "ls", "--cache", str(tmp_path / "none")]) == 2
    assert "strata images build" in capsys.readouterr().err
    assert strata_images(["images", "build", "--cache", str(tmp_path / "c"), "--dataset",
                          str(tmp_path / "missing.json")]) == 2
