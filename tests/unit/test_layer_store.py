"""Behaviour of the node's layer store: reuse, accounting, verification, crash safety, concurrency, prune."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from component_base.errors import InvalidArgument, NotFound
from harness.daemons import wait_for
from dataplane.agent.layers import (LayerCorrupt, LayerStore, StorageFull, UnusableLayer,
                                    WhiteoutsNeedRoot)

TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    media_type: str


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file(name: str, data: bytes = b"", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def folder(name: str, mode: int = 0o755) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info, None


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def char_device(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info, None


def tar_bytes(*members) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def layer_of(blob: bytes, media_type: str = TAR) -> Layer:
    return Layer(sha256(blob), len(blob), media_type)


class Registry:
    """A fake registry: serves blobs by digest, counts fetches, and can misbehave per digest."""

    def __init__(self, *blobs: bytes):
        self.blobs = {sha256(b): b for b in blobs}
        self.calls: list[str] = []
        self.corrupt: set[str] = set()
        self.fail_midway: set[str] = set()
        self.gates: dict[str, threading.Event] = {}   # fetch of digest blocks until set
        self.started: dict[str, threading.Event] = {}  # set when fetch of digest begins
        self.on_fetch = None                           # called (digest) inside every fetch
        self._lock = threading.Lock()

    def fetch(self, digest: str, dest: Path) -> int:
        with self._lock:
            self.calls.append(digest)
        self.started.setdefault(digest, threading.Event()).set()
        if digest in self.gates:
            assert self.gates[digest].wait(10), "test gate never opened"
        if self.on_fetch:
            self.on_fetch(digest)
        data = self.blobs[digest]
        if digest in self.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        with open(dest, "wb") as out:
            if digest in self.fail_midway:
                out.write(data[: len(data) // 2])
                raise ConnectionError(f"connection to registry lost while fetching {digest}")
            out.write(data)
        return len(self.blobs[digest])  # claims success whatever it wrote

    def count(self, digest: str) -> int:
        return self.calls.count(digest)


BASE = tar_bytes(folder("etc"), file("etc/os-release", b"ID=strata\n"), folder("tmp", 0o1777),
                 folder("bin"), file("bin/busybox", b"\x7fELF...", 0o755), link("bin/sh", "/bin/busybox"))
APP = tar_bytes(folder("app"), file("app/main.py", b"print('hi')\n"), file("etc/os-release", b"ID=app\n"))
CONFIG = tar_bytes(file("app/config.json", b"{}\n"))
EXTRA = tar_bytes(file("extra.bin", os.urandom(4096)))


@pytest.fixture
def store(tmp_path):
    s = LayerStore(tmp_path / "store", capacity_bytes=1_000_000, node="edge1")
    yield s
    s.close()


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_no_leftovers(store: LayerStore) -> None:
    assert files_in(store.root / "tmp") == []
    held_hex = {d.removeprefix("sha256:") for d in store.held()}
    assert {p.name for p in (store.root / "blobs" / "sha256").iterdir()} == held_hex
    assert {p.name for p in (store.root / "unpacked").iterdir()} == held_hex


# -- pulling and reuse -------------------------------------------------------------------------

def test_fetches_only_missing_layers_and_reports_reuse(store):
    base, app, config = layer_of(BASE), layer_of(APP), layer_of(CONFIG)
    registry = Registry(BASE, APP, CONFIG)

    first = store.ensure([base, app], registry.fetch, label="app:v1")
    second = store.ensure([base, app, config], registry.fetch, label="app:v2")

    assert (first.pulled, first.reused) == ([base.digest, app.digest], [])
    assert first.pulled_bytes == base.size + app.size
    assert (second.pulled, second.reused) == ([config.digest], [base.digest, app.digest])
    assert (second.pulled_bytes, second.reused_bytes) == (config.size, base.size + app.size)
    assert all(registry.count(d) == 1 for d in (base.digest, app.digest, config.digest))
    assert store.used_bytes() == base.size + app.size + config.size
    assert set(store.held()) == {base.digest, app.digest, config.digest}
    assert_no_leftovers(store)


def test_a_digest_listed_twice_counts_once(store):
    base, app = layer_of(BASE), layer_of(APP)
    registry = Registry(BASE, APP)

    result = store.ensure([base, app, base], registry.fetch)

    assert result.pulled == [base.digest, app.digest]
    assert result.pulled_bytes == base.size + app.size
    assert registry.count(base.digest) == 1
    assert store.used_bytes() == base.size + app.size


def test_parallel_fetches_keep_base_first_order(store):
    blobs = [tar_bytes(file(f"f{i}", bytes([i]) * (100 * (10 - i)))) for i in range(8)]
    layers = [layer_of(b) for b in blobs]
    registry = Registry(*blobs)
    in_flight, peak, lock = 0, 0, threading.Lock()

    def fetch(digest, dest):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            threading.Event().wait(0.02)
            return registry.fetch(digest, dest)
        finally:
            with lock:
                in_flight -= 1

    result = store.ensure(layers, fetch, parallel=3)

    assert result.pulled == [layer.digest for layer in layers]
    assert 1 < peak <= 3


def test_unpacked_folder_holds_the_layer_content(store):
    base = layer_of(BASE)
    store.ensure([base], Registry(BASE).fetch)

    root = store.unpacked_dir(base.digest)
    assert root == store.held()[base.digest].path
    assert (root / "etc/os-release").read_bytes() == b"ID=strata\n"
    assert os.readlink(root / "bin/sh") == "/bin/busybox"  # absolute: resolved in the container's root
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    assert (root / "bin/busybox").stat().st_mode & 0o111
    assert store.blob_path(base.digest).read_bytes() == BASE


def test_gzip_layers_are_unpacked(store):
    blob = gzip.compress(APP)
    layer = layer_of(blob, TAR_GZIP)

    result = store.ensure([layer], Registry(blob).fetch)

    assert result.pulled_bytes == len(blob)  # accounted as fetched, compressed
    assert (store.unpacked_dir(layer.digest) / "app/main.py").read_bytes() == b"print('hi')\n"


def test_docker_gzip_media_type_is_understood(store):
    blob = gzip.compress(CONFIG)
    layer = layer_of(blob, "application/vnd.docker.image.rootfs.diff.tar.gzip")
    store.ensure([layer], Registry(blob).fetch)
    assert (store.unpacked_dir(layer.digest) / "app/config.json").exists()


def test_an_empty_blob_is_an_empty_layer(store):
    layer = layer_of(b"")
    store.ensure([layer], Registry(b"").fetch)
    assert files_in(store.unpacked_dir(layer.digest)) == []
    assert store.used_bytes() == 0


def test_layers_survive_reopening(tmp_path):
    base, app = layer_of(BASE), layer_of(APP)
    first = LayerStore(tmp_path / "s", 1_000_000)
    first.ensure([base, app], Registry(BASE, APP).fetch)
    first.close()

    reopened = LayerStore(tmp_path / "s", 1_000_000)
    registry = Registry(BASE, APP)
    result = reopened.ensure([base, app], registry.fetch)

    assert result.reused == [base.digest, app.digest] and registry.calls == []
    assert reopened.used_bytes() == base.size + app.size
    assert (reopened.unpacked_dir(app.digest) / "app/main.py").exists()
    reopened.close()


def test_unknown_layer_is_not_found(store):
    with pytest.raises(NotFound):
        store.unpacked_dir(sha256(b"nothing"))
    assert not store.has(sha256(b"nothing"))


def test_bad_requests_are_refused_before_fetching(store):
    registry = Registry(APP)
    app = layer_of(APP)
    for bad in ([Layer("md5:abc", 3, TAR)],
                [Layer(app.digest, -1, TAR)],
                [app, Layer(app.digest, app.size + 1, TAR)],
                [Layer(app.digest, app.size, "application/vnd.oci.image.layer.v1.tar+zstd")]):
        with pytest.raises(InvalidArgument):
            store.ensure(bad, registry.fetch)
    with pytest.raises(InvalidArgument):
        store.ensure([app], registry.fetch, parallel=0)
    assert registry.calls == [] and store.used_bytes() == 0


# -- capacity ----------------------------------------------------------------------------------

def test_storage_full_changes_nothing(tmp_path):
    base, app, extra = layer_of(BASE), layer_of(APP), layer_of(EXTRA)
    store = LayerStore(tmp_path / "s", capacity_bytes=base.size + app.size + extra.size - 1, node="edge1")
    registry = Registry(BASE, APP, EXTRA)
    store.ensure([base], registry.fetch)

    with pytest.raises(StorageFull) as full:
        store.ensure([base, app, extra], registry.fetch, label="big:latest")

    assert full.value.needed_bytes == app.size + extra.size
    assert full.value.free_bytes == store.capacity_bytes - base.size
    assert registry.calls == [base.digest]
    assert set(store.held()) == {base.digest} and store.used_bytes() == base.size
    assert_no_leftovers(store)
    # what fits still goes through
    assert store.ensure([base, app], registry.fetch).pulled == [app.digest]
    store.close()


def test_exactly_full_is_allowed(tmp_path):
    base = layer_of(BASE)
    store = LayerStore(tmp_path / "s", capacity_bytes=base.size)
    store.ensure([base], Registry(BASE).fetch)
    assert store.used_bytes() == store.capacity_bytes
    store.close()


# -- verification and failures -----------------------------------------------------------------

def test_blob_not_matching_its_digest_is_discarded(store):
    base, app = layer_of(BASE), layer_of(APP)
    registry = Registry(BASE, APP)
    registry.corrupt.add(app.digest)

    with pytest.raises(LayerCorrupt) as corrupt:
        store.ensure([base, app], registry.fetch, parallel=1)

    wrong = sha256(APP[:-1] + bytes([APP[-1] ^ 0xFF]))
    assert app.digest in str(corrupt.value) and wrong in str(corrupt.value)
    assert set(store.held()) == {base.digest}  # completed before the failure: whole, kept
    assert store.used_bytes() == base.size      # the failed layer's reservation is released
    assert_no_leftovers(store)


def test_blob_size_differing_from_the_manifest_is_refused(store):
    app = layer_of(APP)
    with pytest.raises(LayerCorrupt):
        store.ensure([Layer(app.digest, app.size - 1, TAR)], Registry(APP).fetch)
    assert store.held() == {} and store.used_bytes() == 0
    assert_no_leftovers(store)


def test_fetch_failing_midway_keeps_earlier_layers_and_skips_later(store):
    base, app, config = layer_of(BASE), layer_of(APP), layer_of(CONFIG)
    registry = Registry(BASE, APP, CONFIG)
    registry.fail_midway.add(app.digest)

    with pytest.raises(ConnectionError):
        store.ensure([base, app, config], registry.fetch, parallel=1)

    assert set(store.held()) == {base.digest}
    assert registry.count(config.digest) == 0
    assert store.used_bytes() == base.size
    assert_no_leftovers(store)
    registry.fail_midway.clear()
    assert store.ensure([base, app, config], registry.fetch).pulled == [app.digest, config.digest]


# -- crash recovery ----------------------------------------------------------------------------

def test_reopening_after_a_crash_keeps_only_whole_recorded_layers(tmp_path):
    base, app, config = layer_of(BASE), layer_of(APP), layer_of(CONFIG)
    root = tmp_path / "s"
    store = LayerStore(root, 1_000_000)
    store.ensure([base, app], Registry(BASE, APP).fetch)
    store.close()
    # what a kill at various points leaves: partial work, a row whose folder is gone,
    # and files put in place whose row was never written
    config_hex = config.digest.removeprefix("sha256:")
    (root / "tmp" / f"{config_hex}.blob.partial").write_bytes(CONFIG[:10])
    (root / "tmp" / f"{config_hex}.dir.partial" / "app").mkdir(parents=True)
    shutil.rmtree(root / "unpacked" / app.digest.removeprefix("sha256:"))
    (root / "blobs" / "sha256" / config_hex).write_bytes(CONFIG)
    (root / "unpacked" / config_hex).mkdir()

    reopened = LayerStore(root, 1_000_000)

    assert set(reopened.held()) == {base.digest}
    assert reopened.used_bytes() == base.size
    assert_no_leftovers(reopened)
    registry = Registry(BASE, APP, CONFIG)
    assert reopened.ensure([base, app, config], registry.fetch).pulled == [app.digest, config.digest]
    reopened.close()


def test_a_killed_pull_leaves_no_half_layer(tmp_path):
    base, app = layer_of(BASE), layer_of(APP)
    root = tmp_path / "s"
    script = f"""
import os, sys
from pathlib import Path
sys.path.insert(0, {str(REPO_ROOT)!r})
from dataplane.agent.layers import LayerStore
from tests.unit.test_layer_store import Registry, BASE, APP, layer_of
registry = Registry(BASE, APP)
def fetch(digest, dest):
    if digest == layer_of(APP).digest:
        dest.write_bytes(APP[:100])
        os._exit(9)  # killed mid-transfer
    return registry.fetch(digest, dest)
LayerStore(Path({str(root)!r}), 1_000_000).ensure([layer_of(BASE), layer_of(APP)], fetch, parallel=1)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    assert any((root / "tmp").iterdir())  # it really died mid-pull

    store = LayerStore(root, 1_000_000)

    assert set(store.held()) == {base.digest}
    assert_no_leftovers(store)
    assert store.ensure([base, app], Registry(BASE, APP).fetch).pulled == [app.digest]
    store.close()


# -- concurrency -------------------------------------------------------------------------------

def run_in_thread(fn, *args, **kwargs):
    outcome = {}

    def target():
        try:
            outcome["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_concurrent_pulls_fetch_a_shared_layer_once_and_reserve_capacity(tmp_path):
    base, app, config, extra = layer_of(BASE), layer_of(APP), layer_of(CONFIG), layer_of(EXTRA)
    store = LayerStore(tmp_path / "s", capacity_bytes=base.size + app.size + config.size + extra.size - 1)
    registry = Registry(BASE, APP, CONFIG, EXTRA)
    gate = threading.Event()
    registry.gates = {base.digest: gate, app.digest: gate}

    first, first_out = run_in_thread(store.ensure, [base, app], registry.fetch, parallel=2)
    assert registry.started.setdefault(app.digest, threading.Event()).wait(5)
    second, second_out = run_in_thread(store.ensure, [app, config], registry.fetch)
    wait_for(lambda: store.has(config.digest), 5, "the first pull to hold the shared layer", 0.01)

    # app and base are reserved though not yet on disk: a third pull cannot overcommit
    assert store.used_bytes() == base.size + app.size + config.size
    with pytest.raises(StorageFull):
        store.ensure([extra], registry.fetch)
    assert second.is_alive()  # waiting for the first pull's app layer, not fetching its own

    gate.set()
    first.join(5), second.join(5)

    assert "error" not in first_out and "error" not in second_out
    assert first_out["result"].pulled == [base.digest, app.digest]
    assert (second_out["result"].pulled, second_out["result"].reused) == ([config.digest], [app.digest])
    assert registry.count(app.digest) == 1
    assert store.used_bytes() == base.size + app.size + config.size
    store.close()


def test_a_waiting_pull_takes_over_when_the_first_fetch_fails(store):
    app = layer_of(APP)
    registry = Registry(APP)
    gate = threading.Event()
    registry.gates = {app.digest: gate}
    registry.fail_midway.add(app.digest)

    first, first_out = run_in_thread(store.ensure, [app], registry.fetch)
    assert registry.started.setdefault(app.digest, threading.Event()).wait(5)
    second, second_out = run_in_thread(store.ensure, [app], lambda d, p: Registry(APP).fetch(d, p))
    threading.Event().wait(0.05)
    gate.set()
    first.join(5), second.join(5)

    assert isinstance(first_out.get("error"), ConnectionError)
    assert second_out["result"].pulled == [app.digest]
    assert store.has(app.digest)
    assert_no_leftovers(store)


def test_many_concurrent_pulls_never_overcommit_storage(tmp_path):
    blobs = [tar_bytes(file(f"layer{i}", os.urandom(1000 + 300 * i))) for i in range(10)]
    layers = [layer_of(b) for b in blobs]
    capacity = sum(layer.size for layer in layers) // 2
    store = LayerStore(tmp_path / "s", capacity_bytes=capacity)
    registry = Registry(*blobs)
    on_disk_peaks = []

    def measure(_digest):
        blob_bytes = sum(p.stat().st_size for p in (tmp_path / "s" / "blobs" / "sha256").iterdir())
        on_disk_peaks.append(blob_bytes)
        assert store.used_bytes() <= capacity

    registry.on_fetch = measure
    rng = random.Random(7)
    requests = [rng.sample(layers, rng.randint(1, 4)) for _ in range(16)]
    threads = [run_in_thread(store.ensure, req, registry.fetch, parallel=2) for req in requests]
    for thread, _ in threads:
        thread.join(10)

    outcomes = [out for _, out in threads]
    assert all("result" in out or isinstance(out["error"], StorageFull) for out in outcomes)
    assert any("result" in out for out in outcomes)
    assert max(on_disk_peaks) <= capacity
    assert store.used_bytes() <= capacity
    assert all(registry.count(layer.digest) <= 1 for layer in layers)
    assert_no_leftovers(store)
    store.close()


# -- prune -------------------------------------------------------------------------------------

def test_prune_frees_layers_no_container_uses(store):
    base, app, config = layer_of(BASE), layer_of(APP), layer_of(CONFIG)
    store.ensure([base, app, config], Registry(BASE, APP, CONFIG).fetch)

    removed, freed = store.prune(in_use={app.digest})

    assert sorted(removed) == sorted([base.digest, config.digest])
    assert freed == base.size + config.size
    assert set(store.held()) == {app.digest} and store.used_bytes() == app.size
    assert_no_leftovers(store)
    assert store.prune(in_use={app.digest}) == ([], 0)
    registry = Registry(BASE)
    assert store.ensure([base], registry.fetch).pulled == [base.digest]


def test_prune_removes_read_only_folders(store):
    blob = tar_bytes(folder("ro", 0o555), file("ro/file", b"x", 0o444))
    layer = layer_of(blob)
    store.ensure([layer], Registry(blob).fetch)
    assert store.prune(set()) == ([layer.digest], layer.size)
    assert_no_leftovers(store)


# -- safe unpacking ----------------------------------------------------------------------------

@pytest.mark.parametrize("members", [
    [file("../escape", b"x")],
    [folder("a"), file("a/../../escape", b"x")],
    [link("escape", "../../outside-target")],
    [link("evil", "/../../etc")],
    [link("hard", "../../outside-target", tarfile.LNKTYPE)],
    [char_device("dev/null")],
], ids=["dotdot-file", "dotdot-nested", "relative-symlink-out", "absolute-symlink-above-root",
        "hardlink-out", "device"])
def test_unsafe_layers_are_refused(store, members):
    blob = tar_bytes(*members)
    layer = layer_of(blob)
    with pytest.raises(UnusableLayer):
        store.ensure([layer], Registry(blob).fetch)
    assert not store.has(layer.digest) and store.used_bytes() == 0
    assert not (store.root.parent / "escape").exists()
    assert_no_leftovers(store)


def test_writing_through_an_absolute_symlink_is_refused(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    # a symlink to a host folder is legal inside the container, but extracting through it is not
    blob = tar_bytes(link("sneaky", str(outside)), file("sneaky/planted", b"x"))
    layer = layer_of(blob)
    with pytest.raises(UnusableLayer):
        store.ensure([layer], Registry(blob).fetch)
    assert list(outside.iterdir()) == []
    assert_no_leftovers(store)


def test_absolute_member_names_stay_inside_the_layer(store):
    blob = tar_bytes(file("/etc/absolute", b"inside"))
    layer = layer_of(blob)
    store.ensure([layer], Registry(blob).fetch)
    assert (store.unpacked_dir(layer.digest) / "etc/absolute").read_bytes() == b"inside"


def test_a_non_tar_blob_is_refused(store):
    blob = b"this is not a tar archive" * 40
    layer = layer_of(blob)
    with pytest.raises(UnusableLayer):
        store.ensure([layer], Registry(blob).fetch)
    assert_no_leftovers(store)


WHITEOUT_LAYER = tar_bytes(folder("etc"), file("etc/.wh.os-release"), folder("app"),
                           file("app/.wh..wh..opq"), file("app/new.py", b"new"))


def test_whiteouts_without_root_are_refused_clearly(store, monkeypatch):
    if os.geteuid() == 0:  # as root, make mknod/setxattr fail as they do for other users
        def refuse(*_args):
            raise PermissionError(1, "Operation not permitted")
        monkeypatch.setattr(os, "mknod", refuse)
        monkeypatch.setattr(os, "setxattr", refuse)
    layer = layer_of(WHITEOUT_LAYER)

    with pytest.raises(WhiteoutsNeedRoot):
        store.ensure([layer], Registry(WHITEOUT_LAYER).fetch)

    assert not store.has(layer.digest) and store.used_bytes() == 0
    assert_no_leftovers(store)
