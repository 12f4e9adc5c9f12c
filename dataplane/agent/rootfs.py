"""Container root folders stacked with overlayfs from the layer store's folders (containerd's overlay snapshotter)."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path
from typing import Sequence

from component_base.errors import FailedPrecondition, NotFound

# mount(2) copies its data argument into one page: the whole option string, NUL included, must
# fit. 4096 is the smallest page size Linux runs on, so a string within it mounts everywhere.
MOUNT_OPTIONS_LIMIT = 4096
OVERLAY_MAX_LOWER_DIRS = 500  # the kernel's OVL_MAX_STACK
MNT_DETACH = 2                # umount2 flag: detach now, finish when no longer busy
MAX_STACKED_MOUNTS = 16       # unmount attempts before giving up on a mount point

UPPER, WORK, ROOTFS, EMPTY_LOWER = "upper", "work", "rootfs", "lower-empty"

# mount(2) through ctypes rather than the mount command: the option string reaches the kernel
# exactly as built and checked here (the page limit above is the kernel's, not util-linux's), the
# errno comes back as is, and an agent starting many containers spawns no process per mount.
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def overlay_options(lower_dirs: Sequence[Path], upper: Path, work: Path) -> str:
    """The overlay mount option string for layer folders listed base first.

    overlayfs wants the top-most layer first, so the list is reversed. A folder listed twice (an
    image repeating a layer) is kept at its top-most place only: the kernel refuses repeats, and
    applying the same layer again lower down changes nothing.
    """
    if not lower_dirs:
        raise ValueError("overlayfs needs at least one lower folder")
    paths = [Path(p) for p in [*lower_dirs, upper, work]]
    for path in paths:
        if not path.is_absolute():
            raise ValueError(f"overlay folders must be absolute paths, got {str(path)!r}")
        if any(c in str(path) for c in ":,\\\n"):
            raise ValueError(f"overlay folder {str(path)!r} contains ':', ',', '\\' or a newline, "
                             f"which the mount options cannot carry")
    top_first: list[str] = []
    for folder in reversed([str(p) for p in lower_dirs]):
        if folder not in top_first:
            top_first.append(folder)
    if len(top_first) > OVERLAY_MAX_LOWER_DIRS:
        raise ValueError(f"{len(top_first)} layers exceed overlayfs's limit of {OVERLAY_MAX_LOWER_DIRS}")
    options = f"lowerdir={':'.join(top_first)},upperdir={upper},workdir={work}"
    if len(options.encode()) + 1 > MOUNT_OPTIONS_LIMIT:
        raise ValueError(
            f"overlay options for {len(top_first)} layers are {len(options.encode()):,} bytes; the kernel "
            f"takes at most {MOUNT_OPTIONS_LIMIT - 1:,}: put the layer store at a shorter path "
            f"or use an image with fewer layers")
    return options


def mount_rootfs(lower_dirs: Sequence[Path], container_dir: Path) -> Path:
    """Mounts the container's root folder at container_dir/rootfs: the layers, base first, below
    a writable container_dir/upper. An existing upper is kept (the container's writes survive a
    remount). Returns the root folder."""
    container_dir = Path(container_dir).resolve()
    for folder in lower_dirs:
        if not Path(folder).is_dir():
            raise NotFound(f"layer folder {folder} does not exist; is the layer still in the store?")
    rootfs = container_dir / ROOTFS
    if is_mounted(rootfs):
        raise FailedPrecondition(f"{rootfs} is mounted already; unmount it first")
    created = [p for p in (container_dir / UPPER, container_dir / WORK, rootfs) if not p.exists()]
    lowers = [Path(folder).resolve() for folder in lower_dirs]
    if not lowers:
        lowers = [container_dir / EMPTY_LOWER]  # an image without layers: overlayfs still wants a lower
        created += [] if lowers[0].exists() else lowers
    try:
        options = overlay_options(lowers, container_dir / UPPER, container_dir / WORK)
        for folder in created:
            folder.mkdir(parents=True)
        _mount("overlay", rootfs, "overlay", options)
    except BaseException:
        for folder in reversed(created):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return rootfs


def unmount_rootfs(container_dir: Path) -> None:
    """Unmounts the container's root folder (lazily if busy) and removes rootfs, upper and work.

    Idempotent. Nothing is deleted while anything is still mounted on or below those folders,
    since deleting through a mount would delete the layers' own files.
    """
    container_dir = Path(container_dir).resolve()
    rootfs = container_dir / ROOTFS
    for _ in range(MAX_STACKED_MOUNTS):
        if not is_mounted(rootfs):
            break
        _unmount(rootfs)
    ours = [container_dir / name for name in (ROOTFS, UPPER, WORK, EMPTY_LOWER)]
    still_mounted = [p for p in mounts_under(container_dir) if any(p == f or f in p.parents for f in ours)]
    if still_mounted:
        raise FailedPrecondition(f"cannot clean {container_dir}: still mounted: "
                                 f"{', '.join(str(p) for p in still_mounted)}")
    for folder in ours:
        if folder.exists():
            shutil.rmtree(folder)


def mount_points(mountinfo: str) -> list[Path]:
    """The mount points listed in /proc/<pid>/mountinfo text, in its order (stacked ones repeat)."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.append(Path(_unescape_mountinfo(fields[4])))
    return points


def is_mounted(path: Path) -> bool:
    """Whether path is a mount point in this process's mount namespace."""
    return Path(os.path.realpath(path)) in set(_current_mount_points())


def mounts_under(folder: Path) -> list[Path]:
    """Every mount point strictly below folder, each once, deepest first (the order to unmount in)."""
    folder = Path(os.path.realpath(folder))
    below = {p for p in _current_mount_points() if folder in p.parents}
    return sorted(below, key=lambda p: (-len(p.parts), str(p)))


def _current_mount_points() -> list[Path]:
    return mount_points(Path("/proc/self/mountinfo").read_text())


def _unescape_mountinfo(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as 3-digit octal escapes (\\040...)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mount(source: str, target: Path, fstype: str, options: str) -> None:
    if _libc.mount(source.encode(), str(target).encode(), fstype.encode(), 0, options.encode()) != 0:
        code = ctypes.get_errno()
        hint = {errno.EPERM: "the node agent must run as root",
                errno.ENODEV: "this kernel has no overlayfs",
                errno.EINVAL: "the kernel refused the options (its log, dmesg, says why; an upper folder "
                              "on a filesystem overlayfs cannot write to, such as another overlay, does this)",
                errno.ELOOP: "a layer folder overlaps another or the upper/work folders"}.get(code, "")
        raise OSError(code, f"mounting overlay at {target} failed: {os.strerror(code)}"
                            + (f"; {hint}" if hint else ""))


def _unmount(target: Path) -> None:
    """Unmounts target; if it is busy, detaches it (it goes once its last user leaves)."""
    if _libc.umount2(str(target).encode(), 0) == 0:
        return
    code = ctypes.get_errno()
    if code == errno.EBUSY and _libc.umount2(str(target).encode(), MNT_DETACH) == 0:
        return
    code = ctypes.get_errno() if code == errno.EBUSY else code
    if code == errno.EINVAL:
        return  # no longer a mount point: someone unmounted it meanwhile
    raise OSError(code, f"unmounting {target} failed: {os.strerror(code)}")
