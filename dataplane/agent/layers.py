"""The node's content-addressed layer store: each layer fetched once, verified, unpacked once, counted against capacity."""

from __future__ import annotations

import errno
import gzip
import hashlib
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Protocol, Sequence

from component_base.errors import DataLoss, FailedPrecondition, InvalidArgument, NotFound
from component_base.sqlite import open_database

log = logging.getLogger(__name__)

DIGEST_PREFIX = "sha256:"
HASH_CHUNK = 1 << 20  # bytes read at a time when hashing a blob

UNCOMPRESSED_LAYER_TYPES = frozenset({
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
})
GZIP_LAYER_TYPES = frozenset({
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
})

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"

# Unpacked size of one layer: at most this, and at most MAX_EXPANSION times its blob (plus 1 MiB for small
# layers): a decompression bomb stops at the first member past either, and nothing of it is left.
DEFAULT_MAX_UNPACKED_BYTES = 4 << 30
MAX_EXPANSION = 100
MAX_LAYER_MEMBERS = 200_000  # files, folders and links in one layer

SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    digest TEXT PRIMARY KEY, size INTEGER NOT NULL, media_type TEXT NOT NULL);
"""


class StorageFull(FailedPrecondition):
    """The missing layers do not fit in the node's free storage; nothing was changed."""

    def __init__(self, message: str, *, needed_bytes: int, free_bytes: int, capacity_bytes: int):
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes
        self.capacity_bytes = capacity_bytes


class LayerCorrupt(DataLoss):
    """A fetched blob is not the one the manifest names (digest or size differ); it was discarded."""


class UnusableLayer(InvalidArgument):
    """A layer the store refuses to unpack: unsupported media type, not a tar, or unsafe members."""


class WhiteoutsNeedRoot(FailedPrecondition):
    """The layer deletes lower-layer files, which overlayfs marks in ways only root can create."""


class LayerDescriptor(Protocol):
    """What the store needs to know of a layer: a manifest's layer entry (e.g. the registry's LayerRef)."""

    @property
    def digest(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def media_type(self) -> str: ...


BlobFetcher = Callable[[str, Path], int]  # (digest, destination file) -> bytes written


@dataclass(frozen=True)
class HeldLayer:
    digest: str
    size: int   # blob bytes
    path: Path  # unpacked folder, usable as an overlay lower dir


@dataclass
class EnsureResult:
    pulled: list[str]   # digests fetched by this call, base first
    reused: list[str]   # digests already held (or fetched meanwhile by a concurrent call), base first
    pulled_bytes: int
    reused_bytes: int


@dataclass
class _Flight:
    """A layer being fetched: its bytes are reserved until it is committed or abandoned."""
    size: int
    done: threading.Event = field(default_factory=threading.Event)
    failed: BaseException | None = None


class _Cancelled(Exception):
    """A queued fetch skipped because another fetch of the same ensure() failed."""


def _hex_of(digest: str) -> str:
    return digest[len(DIGEST_PREFIX):]


def _valid_digest(digest: str) -> bool:
    hex_part = _hex_of(digest)
    return (digest.startswith(DIGEST_PREFIX) and len(hex_part) == 64
            and all(c in "0123456789abcdef" for c in hex_part))


def _tar_mode(media_type: str) -> str:
    if media_type in UNCOMPRESSED_LAYER_TYPES:
        return "r:"
    if media_type in GZIP_LAYER_TYPES:
        return "r:gz"
    raise UnusableLayer(
        f"layer media type {media_type!r} is not supported; use an uncompressed or gzip tar layer "
        f"(application/vnd.oci.image.layer.v1.tar or ...tar+gzip)")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as blob:
        while chunk := blob.read(HASH_CHUNK):
            digest.update(chunk)
    return DIGEST_PREFIX + digest.hexdigest()


def _make_writable_and_retry(remove, path, _exc_info) -> None:
    """rmtree's error handler: layers may hold read-only folders, which stop a non-root agent."""
    os.chmod(os.path.dirname(path), 0o700)
    remove(path)


def _remove(path: Path) -> None:
    """Deletes a file or folder tree if it is there (a symlink is removed, never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=_make_writable_and_retry)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _layer_member_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """tarfile's "data" filter, adapted to root file systems without loosening its safety.

    Real images are full of absolute symlinks (/bin/sh -> /bin/busybox); in the container they
    resolve against its own root, so they are checked as if relative to the layer folder. Writing
    through one during extraction stays impossible: the data filter resolves every later member's
    path on the host and refuses those landing outside the folder. Ownership and folder modes are
    kept (a service user's folders, a sticky world-writable /tmp): neither lets a layer escape.
    """
    if member.issym() and member.linkname.startswith("/"):
        parent = os.path.dirname(member.name.lstrip("/")) or "."
        as_relative = os.path.relpath(member.linkname.lstrip("/") or ".", start=parent)
        checked = tarfile.data_filter(member.replace(linkname=as_relative, deep=False), dest)
        checked = checked.replace(linkname=member.linkname, deep=False)
    else:
        checked = tarfile.data_filter(member, dest)
    folder_mode = member.mode & 0o1777 if member.isdir() else checked.mode  # no setuid/setgid folders
    return checked.replace(uid=member.uid, gid=member.gid, mode=folder_mode, deep=False)


def _inside(root: Path, relative: PurePosixPath) -> Path:
    """root/relative, refusing a symlink on the way or at the end: nothing is ever written through a link."""
    path = root
    for part in relative.parts:
        path = path / part
        if path.is_symlink():
            raise UnusableLayer(f"{relative} goes through or replaces the symlink {path.relative_to(root)}")
    return path


def _archive_path(name: str) -> PurePosixPath:
    """A member's name as a path under the layer folder: a leading '/' is dropped (as tar does), '..' refused."""
    path = PurePosixPath(name.lstrip("/"))
    if ".." in path.parts:
        raise UnusableLayer(f"{name[:200]!r} has a '..' component")
    return path


def check_member(member: tarfile.TarInfo, dest: Path) -> None:
    """Our own checks of one member against the folder as extracted so far, whatever tarfile's filter
    does (Python 3.11.7's has known bypasses): no '..', nothing written through or over a symlink, symlinks
    pointing inside the layer (absolute ones resolved against its root, as in the container), hard links
    only to regular files already extracted, no devices. UnusableLayer otherwise."""
    path = _archive_path(member.name)
    if not path.parts and not member.isdir():
        raise UnusableLayer(f"{member.name[:200]!r} names the layer's root folder but is not a folder")
    _inside(dest, path)
    if member.ischr() or member.isblk():
        raise UnusableLayer(f"{member.name[:200]!r} is a device file")
    if member.issym():
        start = PurePosixPath() if member.linkname.startswith("/") else path.parent
        target = os.path.normpath(start / member.linkname.lstrip("/")) if member.linkname.strip("/") else "."
        if target == ".." or target.startswith("../"):
            raise UnusableLayer(f"symlink {member.name[:200]!r} points outside the layer ({member.linkname[:200]!r})")
    elif member.islnk():
        target_path = _inside(dest, _archive_path(member.linkname))
        if not target_path.is_file():
            raise UnusableLayer(f"hard link {member.name[:200]!r} does not point to a file extracted before it "
                                f"({member.linkname[:200]!r})")


def _real_subfolder(root: Path, relative: PurePosixPath, digest: str) -> Path:
    """root/relative as a real folder (created if needed), refusing any symlink on the way."""
    folder = root
    for part in relative.parts:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise UnusableLayer(f"layer {digest}: whiteout under {relative} goes through a symlink or file")
        folder.mkdir(exist_ok=True)
    return folder


def _apply_whiteouts(dest: Path, whiteouts: list[PurePosixPath], digest: str) -> None:
    """Turns OCI whiteout entries into overlayfs's: a 0/0 character device, or an opaque folder xattr."""
    for entry in whiteouts:
        if entry.name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX) and entry.name != OPAQUE_WHITEOUT:
            continue  # aufs bookkeeping (.wh..wh.plnk...): no meaning in OCI layers
        folder = _real_subfolder(dest, entry.parent, digest)
        opaque = entry.name == OPAQUE_WHITEOUT
        hidden = folder / entry.name[len(WHITEOUT_PREFIX):]
        what = (f"hides what lower layers have in {entry.parent}/" if opaque
                else f"deletes {entry.parent / hidden.name} of lower layers")
        try:
            if opaque:
                os.setxattr(folder, OVERLAY_OPAQUE_XATTR, b"y")
            elif not os.path.lexists(hidden):  # OCI: a whiteout hides lower layers only, not its own entry
                os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        except PermissionError as exc:
            raise WhiteoutsNeedRoot(
                f"layer {digest} {what}; overlayfs marks that with a 0/0 character device or a trusted.* "
                f"xattr, which only root can create: run the node agent as root") from exc
        except OSError as exc:
            if exc.errno != errno.EOPNOTSUPP:
                raise
            raise UnusableLayer(
                f"layer {digest} {what}, but the store's filesystem does not support trusted.* xattrs: "
                f"put the layer store on ext4 or xfs") from exc


def unpacked_limit(blob_size: int, max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES) -> int:
    """Bytes a layer of `blob_size` bytes may unpack to."""
    return min(max_unpacked_bytes, MAX_EXPANSION * blob_size + (1 << 20))


def _unpack(blob: Path, dest: Path, digest: str, media_type: str,
            max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES) -> None:
    """Extracts a layer blob into dest (which must not exist), safely, with overlayfs whiteouts, at most
    unpacked_limit bytes of file contents and MAX_LAYER_MEMBERS members (UnusableLayer past either)."""
    dest.mkdir()
    size = blob.stat().st_size
    if size == 0:
        return  # an empty blob is an empty layer (the image builder emits them for size-0 layers)
    limit = unpacked_limit(size, max_unpacked_bytes)
    whiteouts: list[PurePosixPath] = []

    def checked(tar: tarfile.TarFile):
        """The members as they are read, each checked just before it is extracted (so against what is on disk)."""
        unpacked = 0
        for count, member in enumerate(tar, 1):
            if count > MAX_LAYER_MEMBERS:
                raise UnusableLayer(f"layer {digest} has more than {MAX_LAYER_MEMBERS:,} members")
            unpacked += member.size if member.isreg() else 0
            if unpacked > limit:
                raise UnusableLayer(f"layer {digest} unpacks to more than {limit:,} bytes (its blob is {size:,}); "
                                    "refused as a decompression bomb")
            try:
                check_member(member, dest)
            except UnusableLayer as exc:
                raise UnusableLayer(f"layer {digest} refused: {exc}") from None
            yield member

    def keep(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        member = _layer_member_filter(member, path)
        name = PurePosixPath(member.name)
        if name.name.startswith(WHITEOUT_PREFIX):
            whiteouts.append(name)
            return None
        return member

    try:
        with tarfile.open(blob, _tar_mode(media_type), errorlevel=1) as tar:
            tar.extractall(dest, members=checked(tar), filter=keep, numeric_owner=True)
    except tarfile.FilterError as exc:
        raise UnusableLayer(f"layer {digest} refused: {exc} (outside its folder, or a device file)") from exc
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UnusableLayer(f"layer {digest} is not a valid {media_type} archive: {exc}") from exc
    _apply_whiteouts(dest, whiteouts, digest)


class LayerStore:
    """Layers on disk under root, recorded in SQLite; thread-safe, crash-safe, capacity-bounded.

    root/layers.db records the layers held; root/blobs/sha256/<hex> holds each blob as fetched and
    root/unpacked/<hex>/ its unpacked folder; root/tmp/ holds work in progress, never a held layer.
    A layer is held once its row is in the database (the commit point): files are put in place first,
    so a kill at any point leaves at worst leftovers, which the next construction removes.
    """

    def __init__(self, root: Path, capacity_bytes: int, *, node: str = "this node",
                 max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES):
        if capacity_bytes < 0:
            raise ValueError(f"storage capacity must be >= 0 bytes, got {capacity_bytes}")
        self.root = Path(root)
        self.capacity_bytes = capacity_bytes
        self.max_unpacked_bytes = max_unpacked_bytes  # per layer (unpacked_limit)
        self.node = node
        self._blobs = self.root / "blobs" / "sha256"
        self._unpacked = self.root / "unpacked"
        self._tmp = self.root / "tmp"
        for folder in (self._blobs, self._unpacked, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = open_database(self.root / "layers.db", SCHEMA)
        self._db.execute("PRAGMA synchronous=FULL")  # a committed layer survives a power cut too
        self._held: dict[str, HeldLayer] = {}
        self._flights: dict[str, _Flight] = {}
        self._recover()

    # -- reading ---------------------------------------------------------------------------

    def used_bytes(self) -> int:
        """Blob bytes held (each layer once) plus bytes reserved by fetches in progress."""
        with self._lock:
            return self._used_locked()

    def held(self) -> dict[str, HeldLayer]:
        with self._lock:
            return dict(self._held)

    def has(self, digest: str) -> bool:
        with self._lock:
            return digest in self._held

    def unpacked_dir(self, digest: str) -> Path:
        with self._lock:
            layer = self._held.get(digest)
        if layer is None:
            raise NotFound(f"layer {digest} is not in the layer store of {self.node}; pull an image that has it")
        return layer.path

    def blob_path(self, digest: str) -> Path:
        """The blob file of a held layer, as fetched (for serving it to peers)."""
        with self._lock:
            if digest not in self._held:
                raise NotFound(f"layer {digest} is not in the layer store of {self.node}")
        return self._blobs / _hex_of(digest)

    # -- pulling ---------------------------------------------------------------------------

    def ensure(self, layers: Sequence[LayerDescriptor], fetch: BlobFetcher, *,
               parallel: int = 3, label: str = "") -> EnsureResult:
        """Makes every layer held, fetching only those missing, at most `parallel` at once.

        Raises StorageFull (nothing changed) if the missing layers do not fit; LayerCorrupt if a
        blob is not what its digest says; UnusableLayer if it cannot be unpacked safely; or what
        `fetch` raises. Layers completed before a failure stay held.
        """
        if parallel < 1:
            raise InvalidArgument(f"parallel must be >= 1, got {parallel}")
        wanted = self._unique(layers)
        fetched_here: set[str] = set()
        pending = list(wanted)
        while pending:
            mine, others = self._claim(pending, label)
            failure = self._fetch_all(mine, fetch, parallel)
            if failure is not None:
                raise failure
            fetched_here.update(ref.digest for ref in mine)
            for flight in others.values():
                flight.done.wait()
            with self._lock:
                # a concurrent pull we waited for failed: take the layer over ourselves
                pending = [ref for ref in pending if ref.digest not in self._held]
        result = EnsureResult(pulled=[], reused=[], pulled_bytes=0, reused_bytes=0)
        for ref in wanted:
            size = ref.size
            if ref.digest in fetched_here:
                result.pulled.append(ref.digest)
                result.pulled_bytes += size
            else:
                result.reused.append(ref.digest)
                result.reused_bytes += size
        return result

    def _unique(self, layers: Sequence[LayerDescriptor]) -> list[LayerDescriptor]:
        """The layers in order, each digest once, checked before anything is fetched."""
        seen: dict[str, LayerDescriptor] = {}
        for ref in layers:
            if not _valid_digest(ref.digest):
                raise InvalidArgument(f"layer digest {ref.digest!r} is not sha256:<64 lowercase hex>")
            if ref.size < 0:
                raise InvalidArgument(f"layer {ref.digest} has a negative size ({ref.size})")
            _tar_mode(ref.media_type)
            earlier = seen.get(ref.digest)
            if earlier is not None and earlier.size != ref.size:
                raise InvalidArgument(f"layer {ref.digest} is listed with two sizes: {earlier.size} and {ref.size}")
            seen.setdefault(ref.digest, ref)
        return list(seen.values())

    def _claim(self, pending: list[LayerDescriptor], label: str
               ) -> tuple[list[LayerDescriptor], dict[str, _Flight]]:
        """Reserves the missing layers nobody is fetching; returns them and the flights to wait for."""
        with self._lock:
            others = {ref.digest: self._flights[ref.digest] for ref in pending
                      if ref.digest not in self._held and ref.digest in self._flights}
            mine = [ref for ref in pending if ref.digest not in self._held and ref.digest not in others]
            needed = sum(ref.size for ref in mine)
            free = max(0, self.capacity_bytes - self._used_locked())
            if needed > free:
                in_flight = sum(f.size for f in self._flights.values())
                what = f"pulling {label}" if label else "pulling these layers"
                raise StorageFull(
                    f"{what} needs {len(mine)} more layer{'s' if len(mine) != 1 else ''}, {needed:,} bytes; "
                    f"{self.node} has {free:,} of {self.capacity_bytes:,} bytes free"
                    + (f" ({in_flight:,} reserved by pulls in progress)" if in_flight else "")
                    + "; prune unused layers or place it on another node",
                    needed_bytes=needed, free_bytes=free, capacity_bytes=self.capacity_bytes)
            for ref in mine:
                self._flights[ref.digest] = _Flight(ref.size)
            return mine, others

    def _fetch_all(self, mine: list[LayerDescriptor], fetch: BlobFetcher, parallel: int) -> BaseException | None:
        """Fetches and commits the claimed layers; returns the first failure (later ones are skipped)."""
        if not mine:
            return None
        stop = threading.Event()

        def run(ref: LayerDescriptor) -> BaseException | None:
            if stop.is_set():
                self._settle(ref.digest, _Cancelled(f"{ref.digest} skipped after another layer failed"))
                return None
            try:
                self._fetch_one(ref, fetch)
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller of ensure()
                stop.set()
                return exc
            return None

        with ThreadPoolExecutor(max_workers=min(parallel, len(mine)), thread_name_prefix="layer-fetch") as pool:
            outcomes = list(pool.map(run, mine))
        return next((exc for exc in outcomes if exc is not None), None)

    def _fetch_one(self, ref: LayerDescriptor, fetch: BlobFetcher) -> None:
        hex_part = _hex_of(ref.digest)
        blob_partial = self._tmp / f"{hex_part}.blob.partial"
        dir_partial = self._tmp / f"{hex_part}.dir.partial"
        blob_final = self._blobs / hex_part
        dir_final = self._unpacked / hex_part
        committed = False
        try:
            fetch(ref.digest, blob_partial)  # its return value is not trusted: the bytes on disk are
            if not blob_partial.is_file():
                raise LayerCorrupt(f"fetching layer {ref.digest} produced no file")
            actual = _sha256_of(blob_partial)
            if actual != ref.digest:
                raise LayerCorrupt(f"layer blob expected {ref.digest} but the bytes fetched hash to {actual}; "
                                   f"they were discarded (registry corruption or a bad mirror)")
            size = blob_partial.stat().st_size
            if size != ref.size:
                raise LayerCorrupt(f"layer {ref.digest} is {size:,} bytes but the manifest says {ref.size:,}; "
                                   f"the manifest is wrong, so the image cannot be accounted for")
            with open(blob_partial, "rb") as blob:
                os.fsync(blob.fileno())
            _unpack(blob_partial, dir_partial, ref.digest, ref.media_type, self.max_unpacked_bytes)
            os.replace(blob_partial, blob_final)
            os.rename(dir_partial, dir_final)
            with self._lock:
                self._db.execute("INSERT INTO layers (digest, size, media_type) VALUES (?, ?, ?)",
                                 (ref.digest, size, ref.media_type))
                committed = True
                self._held[ref.digest] = HeldLayer(ref.digest, size, dir_final)
                self._settle_locked(ref.digest, None)
        except BaseException as exc:
            if not committed:
                for leftover in (blob_partial, dir_partial, blob_final, dir_final):
                    _remove(leftover)
                self._settle(ref.digest, exc)
            raise

    def _settle(self, digest: str, failure: BaseException | None) -> None:
        with self._lock:
            self._settle_locked(digest, failure)

    def _settle_locked(self, digest: str, failure: BaseException | None) -> None:
        """Ends a flight: releases its reservation and wakes the calls waiting for it."""
        flight = self._flights.pop(digest)
        flight.failed = failure
        flight.done.set()

    # -- removing ----------------------------------------------------------------------------

    def prune(self, in_use: set[str]) -> tuple[list[str], int]:
        """Removes every held layer not in in_use; returns (digests removed, blob bytes freed).

        The caller's in_use must include the layers of containers being created, not only running
        ones, or a layer just reused by a pull could go before its container mounts it.
        """
        with self._lock:
            doomed = [layer for digest, layer in self._held.items() if digest not in in_use]
            if not doomed:
                return [], 0
            trash = Path(tempfile.mkdtemp(dir=self._tmp, prefix="pruned."))
            for layer in doomed:
                self._db.execute("DELETE FROM layers WHERE digest = ?", (layer.digest,))
                del self._held[layer.digest]
                # moved aside under the lock (a rename is instant) so a new pull of the same layer
                # never meets the files being deleted
                hex_part = _hex_of(layer.digest)
                os.replace(self._blobs / hex_part, trash / f"{hex_part}.blob")
                os.rename(self._unpacked / hex_part, trash / f"{hex_part}.dir")
        _remove(trash)
        return [layer.digest for layer in doomed], sum(layer.size for layer in doomed)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals ---------------------------------------------------------------------------

    def _used_locked(self) -> int:
        return sum(layer.size for layer in self._held.values()) + sum(f.size for f in self._flights.values())

    def _recover(self) -> None:
        """Makes disk and database agree after a crash: only whole, recorded layers remain."""
        for leftover in self._tmp.iterdir():
            _remove(leftover)
        rows = self._db.execute("SELECT digest, size FROM layers ORDER BY rowid").fetchall()
        for digest, size in rows:
            blob = self._blobs / _hex_of(digest)
            folder = self._unpacked / _hex_of(digest)
            whole = (blob.is_file() and not blob.is_symlink() and blob.stat().st_size == size
                     and folder.is_dir() and not folder.is_symlink())
            if whole:
                self._held[digest] = HeldLayer(digest, size, folder)
            else:
                log.warning("layer store %s: dropping %s, its blob or folder is missing", self.root, digest)
                self._db.execute("DELETE FROM layers WHERE digest = ?", (digest,))
        kept = {_hex_of(digest) for digest in self._held}
        for folder in (self._blobs, self._unpacked):
            for entry in folder.iterdir():
                if entry.name not in kept:
                    log.warning("layer store %s: removing unrecorded %s", self.root, entry)
                    _remove(entry)
