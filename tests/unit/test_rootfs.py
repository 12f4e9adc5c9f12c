"""overlayfs root folders without mounting: the option string, reading mountinfo, refusals (real mounts:
tests/integration/test_rootfs_mounts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from component_base.errors import NotFound
from dataplane.agent.rootfs import (MOUNT_OPTIONS_LIMIT, is_mounted, mount_points, mount_rootfs,
                                    mounts_under, overlay_options, unmount_rootfs)

# -- option string (pure) ----------------------------------------------------------------------

def test_lower_dirs_are_given_top_most_first():
    options = overlay_options([Path("/l/base"), Path("/l/mid"), Path("/l/top")], Path("/c/upper"), Path("/c/work"))
    assert options == "lowerdir=/l/top:/l/mid:/l/base,upperdir=/c/upper,workdir=/c/work"


def test_a_repeated_layer_is_kept_at_its_top_most_place():
    options = overlay_options([Path("/l/a"), Path("/l/b"), Path("/l/a")], Path("/c/u"), Path("/c/w"))
    assert options.startswith("lowerdir=/l/a:/l/b,")


def test_options_beyond_the_kernel_page_are_refused():
    lowers = [Path(f"/var/lib/strata/layers/unpacked/{i:064x}") for i in range(60)]
    with pytest.raises(ValueError, match="layer store at a shorter path"):
        overlay_options(lowers, Path("/c/u"), Path("/c/w"))
    fitting = overlay_options(lowers[:40], Path("/c/u"), Path("/c/w"))
    assert len(fitting.encode()) < MOUNT_OPTIONS_LIMIT


@pytest.mark.parametrize("lowers, upper", [
    ([], Path("/c/u")),
    ([Path("relative/layer")], Path("/c/u")),
    ([Path("/l/with:colon")], Path("/c/u")),
    ([Path("/l/a")], Path("/c/with,comma")),
])
def test_options_that_cannot_be_expressed_are_refused(lowers, upper):
    with pytest.raises(ValueError):
        overlay_options(lowers, upper, Path("/c/w"))


def test_mount_points_are_read_from_mountinfo_with_escapes():
    mountinfo = ("22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
                 "98 22 0:45 / /srv/c1/rootfs rw - overlay overlay rw,lowerdir=/l\n"
                 "99 22 0:46 / /srv/with\\040space/rootfs rw - overlay overlay rw\n")
    assert mount_points(mountinfo) == [Path("/"), Path("/srv/c1/rootfs"), Path("/srv/with space/rootfs")]


def test_nothing_is_mounted_in_a_fresh_folder(tmp_path):
    assert not is_mounted(tmp_path)
    assert mounts_under(tmp_path) == []
    assert is_mounted(Path("/"))


def test_unmounting_what_was_never_mounted_does_nothing(tmp_path):
    (tmp_path / "bundle.json").write_text("{}")
    unmount_rootfs(tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / "bundle.json"]


def test_a_missing_layer_folder_is_not_found_and_creates_nothing(tmp_path):
    with pytest.raises(NotFound):
        mount_rootfs([tmp_path / "no-such-layer"], tmp_path / "c1")
    assert not (tmp_path / "c1").exists()
