"""Layer extraction stays inside its folder by its own checks (even were tarfile's filter bypassed) and within its
unpacked-size limit (decompression bombs stop early and leave nothing)."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from dataplane.agent.layers import MAX_EXPANSION, LayerStore, UnusableLayer, unpacked_limit

from test_layer_store import (TAR_GZIP, Registry, assert_no_leftovers, file, folder, layer_of, link,
                              tar_bytes)

# Each builds its members from a folder outside the store (`outside`, holding the file "victim"): were a check
# to regress, a test run as root would write there, never to the host's own files.
ESCAPES = [
    lambda outside: [file("../escape", b"x")],
    lambda outside: [folder("a"), file("a/../../escape", b"x")],
    lambda outside: [link("escape", "../../outside-target")],
    lambda outside: [link("evil", "/../../etc")],
    lambda outside: [link("hard", "../escape", tarfile.LNKTYPE)],
    lambda outside: [link("up", str(outside)), file("up/victim", b"x")],                    # through an in-layer link
    lambda outside: [link("up", str(outside)), link("mine", "up/victim", tarfile.LNKTYPE)],  # hard link via a link
    lambda outside: [link("s", str(outside / "victim")), link("h", "s", tarfile.LNKTYPE)],   # to a symlink (CVE-2025-4517)
    lambda outside: [link("x", str(outside / "victim")), file("x", b"over the link")],       # a file replacing a link
    lambda outside: [link("hard", "nothing-yet", tarfile.LNKTYPE)],
]
IDS = ["dotdot-file", "dotdot-nested", "relative-symlink-out", "absolute-symlink-above-root", "hardlink-dotdot",
       "file-through-symlink", "hardlink-through-symlink", "hardlink-to-symlink", "file-over-symlink",
       "hardlink-to-missing"]


@pytest.fixture
def store(tmp_path):
    s = LayerStore(tmp_path / "store", capacity_bytes=100_000_000, node="edge1")
    yield s
    s.close()


@pytest.fixture
def trusting_tarfile(monkeypatch):
    """tarfile's data filter replaced by one that lets everything through, as a bypass would."""
    monkeypatch.setattr(tarfile, "data_filter", tarfile.fully_trusted_filter)


@pytest.mark.parametrize("members", ESCAPES, ids=IDS)
def test_escapes_are_refused_by_our_own_checks_even_with_a_bypassed_filter(store, trusting_tarfile, tmp_path,
                                                                            members):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"untouched")
    blob = tar_bytes(*members(outside))
    layer = layer_of(blob)
    with pytest.raises(UnusableLayer):
        store.ensure([layer], Registry(blob).fetch)
    assert not store.has(layer.digest) and store.used_bytes() == 0
    assert (outside / "victim").read_bytes() == b"untouched" and (outside / "victim").stat().st_nlink == 1
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert not (store.root / "escape").exists() and not (store.root / "tmp" / "escape").exists()
    assert_no_leftovers(store)


def test_ordinary_links_are_kept(store, trusting_tarfile):
    blob = tar_bytes(folder("bin"), file("bin/busybox", b"\x7fELF", 0o755), link("bin/sh", "/bin/busybox"),
                     link("bin/ash", "busybox"), link("bin/hardsh", "bin/busybox", tarfile.LNKTYPE),
                     link("lib64", "/lib"))
    layer = layer_of(blob)
    store.ensure([layer], Registry(blob).fetch)
    root = store.unpacked_dir(layer.digest)
    assert (root / "bin/hardsh").read_bytes() == b"\x7fELF"
    assert str((root / "bin/sh").readlink()) == "/bin/busybox"


def gzip_of_zeros(members: list[tuple[str, int]]) -> bytes:
    """A gzip tar of files of zeros, compressed as it is written (never all in memory)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for name, size in members:
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    return out.getvalue()


def test_a_gzip_bomb_stops_at_the_member_past_the_limit_and_leaves_nothing(store):
    blob = gzip_of_zeros([("bomb", 64 << 20)])  # about 64 KB expanding to 64 MiB
    assert len(blob) < (1 << 20) and unpacked_limit(len(blob)) < 64 << 20
    layer = layer_of(blob, TAR_GZIP)
    with pytest.raises(UnusableLayer, match="decompression bomb"):
        store.ensure([layer], Registry(blob).fetch)
    assert not store.has(layer.digest)
    assert_no_leftovers(store)


def test_many_small_members_add_up_to_the_limit(tmp_path):
    store = LayerStore(tmp_path / "store", capacity_bytes=100_000_000, max_unpacked_bytes=1 << 20)
    blob = gzip_of_zeros([(f"f{k}", 256 << 10) for k in range(8)])  # 2 MiB in files of 256 KiB
    layer = layer_of(blob, TAR_GZIP)
    with pytest.raises(UnusableLayer, match="more than 1,048,576 bytes"):
        store.ensure([layer], Registry(blob).fetch)
    assert_no_leftovers(store)
    store.close()


def test_a_layer_within_the_limit_unpacks(store):
    blob = gzip_of_zeros([("data", 1 << 20)])
    layer = layer_of(blob, TAR_GZIP)
    store.ensure([layer], Registry(blob).fetch)
    assert (store.unpacked_dir(layer.digest) / "data").stat().st_size == 1 << 20


def test_the_limit_follows_the_blob_size_and_the_cap():
    assert unpacked_limit(1000) == MAX_EXPANSION * 1000 + (1 << 20)
    assert unpacked_limit(10 << 30, max_unpacked_bytes=4 << 30) == 4 << 30


def test_a_corrupt_gzip_is_refused_cleanly(store):
    blob = gzip_of_zeros([("data", 1000)])
    broken = blob[:20] + bytes(len(blob) - 28) + blob[-8:]
    layer = layer_of(broken, TAR_GZIP)
    with pytest.raises(UnusableLayer):
        store.ensure([layer], Registry(broken).fetch)
    assert_no_leftovers(store)
