"""overlayfs root folders for real: layer folders stacked, written, whited out and unmounted (root)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from component_base.errors import FailedPrecondition
from dataplane.agent.layers import LayerStore
from dataplane.agent.rootfs import is_mounted, mount_rootfs, mounts_under, unmount_rootfs


@pytest.fixture
def containers(tmp_path):
    """Container folders under tmp_path; whatever a test leaves mounted is unmounted afterwards."""
    made: list[Path] = []

    def new(name: str) -> Path:
        made.append(tmp_path / "containers" / name)
        return made[-1]

    yield new
    for container_dir in made:
        unmount_rootfs(container_dir)
    assert mounts_under(tmp_path) == []


def layer_folder(root: Path, name: str, files: dict[str, bytes]) -> Path:
    folder = root / "layers" / name
    for relative, data in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def test_layers_stack_with_the_upper_layer_winning(tmp_path, containers):
    base = layer_folder(tmp_path, "base", {"etc/os-release": b"base", "bin/tool": b"tool"})
    top = layer_folder(tmp_path, "top", {"etc/os-release": b"top", "app/main": b"main"})

    rootfs = mount_rootfs([base, top], containers("c1"))

    assert rootfs == (tmp_path / "containers/c1/rootfs").resolve() and is_mounted(rootfs)
    assert (rootfs / "etc/os-release").read_bytes() == b"top"
    assert (rootfs / "bin/tool").read_bytes() == b"tool"
    assert (rootfs / "app/main").read_bytes() == b"main"
    assert mounts_under(tmp_path) == [rootfs]


def test_writes_go_to_the_upper_folder_and_leave_layers_untouched(tmp_path, containers):
    base = layer_folder(tmp_path, "base", {"etc/config": b"original", "var/log/old": b"old"})
    before = snapshot(base)

    container_dir = containers("c1")
    rootfs = mount_rootfs([base], container_dir)
    (rootfs / "etc/config").write_bytes(b"changed")
    (rootfs / "new-file").write_bytes(b"new")
    (rootfs / "var/log/old").unlink()

    assert snapshot(base) == before
    assert (container_dir / "upper/etc/config").read_bytes() == b"changed"
    assert (container_dir / "upper/new-file").read_bytes() == b"new"
    assert not (rootfs / "var/log/old").exists()


def test_whiteouts_and_opaque_folders_hide_lower_files(tmp_path, containers):
    base = layer_folder(tmp_path, "base", {"etc/gone": b"x", "etc/kept": b"y", "cache/a": b"a", "cache/b": b"b"})
    top = layer_folder(tmp_path, "top", {"cache/fresh": b"f"})
    (top / "etc").mkdir()
    os.mknod(top / "etc/gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    os.setxattr(top / "cache", "trusted.overlay.opaque", b"y")

    rootfs = mount_rootfs([base, top], containers("c1"))

    assert sorted(p.name for p in (rootfs / "etc").iterdir()) == ["kept"]
    assert sorted(p.name for p in (rootfs / "cache").iterdir()) == ["fresh"]


def test_unmount_cleans_up_and_is_idempotent(tmp_path, containers):
    base = layer_folder(tmp_path, "base", {"file": b"x"})
    container_dir = containers("c1")
    rootfs = mount_rootfs([base], container_dir)
    (rootfs / "written").write_bytes(b"w")
    (container_dir / "config.json").write_text("{}")  # the launcher's bundle file: not ours to remove

    unmount_rootfs(container_dir)
    unmount_rootfs(container_dir)

    assert not is_mounted(rootfs)
    assert sorted(p.name for p in container_dir.iterdir()) == ["config.json"]
    assert snapshot(base) == {"file": b"x"}


def test_a_busy_root_folder_is_detached_lazily(tmp_path, containers):
    base = layer_folder(tmp_path, "base", {"file": b"x"})
    container_dir = containers("c1")
    rootfs = mount_rootfs([base], container_dir)

    with open(rootfs / "file", "rb") as busy:  # like a process still running in the container
        unmount_rootfs(container_dir)
        assert busy.read() == b"x"

    assert not is_mounted(rootfs) and not (container_dir / "rootfs").exists()
    assert snapshot(base) == {"file": b"x"}


def test_containers_over_the_same_layers_see_only_their_own_writes(tmp_path, containers):
    base = layer_folder(tmp_path, "base", {"shared": b"base"})
    top = layer_folder(tmp_path, "top", {"app": b"app"})

    one = mount_rootfs([base, top], containers("one"))
    two = mount_rootfs([base, top], containers("two"))
    (one / "shared").write_bytes(b"one")
    (two / "only-two").write_bytes(b"two")

    assert (one / "shared").read_bytes() == b"one" and (two / "shared").read_bytes() == b"base"
    assert not (one / "only-two").exists() and (two / "only-two").read_bytes() == b"two"
    assert snapshot(base) == {"shared": b"base"}


def test_an_image_without_layers_gets_an_empty_writable_root(containers):
    container_dir = containers("c1")
    rootfs = mount_rootfs([], container_dir)
    assert list(rootfs.iterdir()) == []
    (rootfs / "hello").write_bytes(b"hi")
    unmount_rootfs(container_dir)
    assert list(container_dir.iterdir()) == []


def test_the_upper_folder_survives_a_remount(tmp_path, containers):
    base = layer_folder(tmp_path, "base", {"file": b"x"})
    container_dir = containers("c1")
    rootfs = mount_rootfs([base], container_dir)
    (rootfs / "state").write_bytes(b"kept")
    with pytest.raises(FailedPrecondition):
        mount_rootfs([base], container_dir)  # mounted already

    subprocess.run(["umount", str(rootfs)], check=True)  # as after a reboot: the upper folder stays
    rootfs = mount_rootfs([base], container_dir)

    assert (rootfs / "state").read_bytes() == b"kept"


# -- with the layer store: OCI layers pulled, unpacked and stacked --------------------------------

@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    media_type: str = "application/vnd.oci.image.layer.v1.tar"


def oci_layer(files: dict[str, bytes]) -> tuple[Layer, bytes]:
    """A layer of these files (a name ending in / is a folder)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            if name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = out.getvalue()
    return Layer("sha256:" + hashlib.sha256(blob).hexdigest(), len(blob)), blob


def test_an_oci_whiteout_pulled_into_the_store_hides_the_lower_file(tmp_path, containers):
    base, base_blob = oci_layer({"etc/secret": b"s", "etc/motd": b"hello"})
    top, top_blob = oci_layer({"etc/.wh.secret": b""})
    blobs = {base.digest: base_blob, top.digest: top_blob}
    store = LayerStore(tmp_path / "store", 1_000_000)
    store.ensure([base, top], lambda digest, dest: dest.write_bytes(blobs[digest]))

    rootfs = mount_rootfs([store.unpacked_dir(base.digest), store.unpacked_dir(top.digest)], containers("c1"))

    assert sorted(p.name for p in (rootfs / "etc").iterdir()) == ["motd"]
    store.close()


def test_oci_whiteouts_become_overlayfs_whiteouts_in_the_store(tmp_path):
    layer, blob = oci_layer({"etc/": b"", "etc/.wh.os-release": b"", "app/": b"", "app/.wh..wh..opq": b"",
                             "app/new.py": b"new"})
    store = LayerStore(tmp_path / "store", 1_000_000)
    store.ensure([layer], lambda digest, dest: dest.write_bytes(blob))

    root = store.unpacked_dir(layer.digest)
    hidden = (root / "etc/os-release").lstat()
    assert stat.S_ISCHR(hidden.st_mode) and hidden.st_rdev == os.makedev(0, 0)
    assert os.getxattr(root / "app", "trusted.overlay.opaque") == b"y"
    assert (root / "app/new.py").read_bytes() == b"new"
    assert not any(p.name.startswith(".wh.") for p in root.rglob("*"))
    store.close()
