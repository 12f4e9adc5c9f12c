"""OCI image layout pieces: deterministic tar layers, canonical JSON, content-addressed blobs, index.json."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"

TAR_BLOCK = 512
TAR_END = 2 * TAR_BLOCK  # two zero blocks close an archive
DIR_MODE, FILE_MODE = 0o755, 0o644
SYNTHETIC_DIR = "layers"
# A synthetic layer is: the "layers/" directory header, one file header, the file's blocks, the end.
SYNTHETIC_OVERHEAD = 2 * TAR_BLOCK + TAR_END


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a manifest or index says about a blob."""

    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def canonical_json(value) -> bytes:
    """The one byte form of a JSON document: sorted keys, no spaces, so equal content gives equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _header(name: str, *, directory: bool, size: int = 0) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = DIR_MODE if directory else FILE_MODE
    info.size = 0 if directory else size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % TAR_BLOCK)


def tar_archive(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed USTAR archive of `files` (path -> content), parent directories included,
    in sorted order with fixed metadata (mtime 0, root-owned, 0644 files, 0755 directories).

    Written by hand rather than through tarfile.TarFile, which pads archives to 10 KiB records:
    the size of a synthetic layer must follow its scaled size down to a few KiB.
    """
    paths = {}
    for raw, content in files.items():
        path = PurePosixPath(raw.lstrip("/"))
        if not path.parts or any(part in ("", ".", "..") for part in path.parts):
            raise ValueError(f"bad path in image: {raw!r} (want a relative or absolute path without '..')")
        paths[str(path)] = content
    directories = {str(parent) for path in paths for parent in PurePosixPath(path).parents if str(parent) != "."}
    clash = directories & paths.keys()
    if clash:
        raise ValueError(f"{sorted(clash)[0]!r} is both a file and a directory in the image")
    out = io.BytesIO()
    for name in sorted(directories | paths.keys()):
        if name in directories:
            out.write(_header(name, directory=True))
        else:
            content = paths[name]
            out.write(_header(name, directory=False, size=len(content)))
            out.write(content)
            out.write(_padding(len(content)))
    out.write(b"\0" * TAR_END)
    return out.getvalue()


def synthetic_file_length(target_bytes: int) -> int:
    """Length of the one file of a synthetic layer whose tar is closest to `target_bytes`: whole
    512-byte blocks (a partial block costs as much as a full one), at least one block."""
    return TAR_BLOCK * max(1, round((target_bytes - SYNTHETIC_OVERHEAD) / TAR_BLOCK))


def synthetic_layer(source_digest: str, target_bytes: int) -> bytes:
    """The tar of one dataset layer: `layers/<12 hex of the source digest>.bin` holding
    shake_256(source digest) bytes: the same source always gives the same bytes, and they do not
    compress (so a pull moves as many bytes as the scaled layer weighs)."""
    hex_part = source_digest.split(":", 1)[-1]
    content = hashlib.shake_256(source_digest.encode()).digest(synthetic_file_length(target_bytes))
    return tar_archive({f"{SYNTHETIC_DIR}/{hex_part[:12]}.bin": content})


class Layout:
    """An OCI image layout folder: blobs by digest, and index.json naming each image's manifest."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hex_part = digest.partition(":")
        return self.root / "blobs" / algorithm / hex_part

    def create(self) -> "Layout":
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
        if not (self.root / "index.json").exists():
            self.write_index([])
        return self

    def is_layout(self) -> bool:
        return (self.root / "oci-layout").is_file() and (self.root / "index.json").is_file()

    def put_blob(self, data: bytes, media_type: str) -> Descriptor:
        """Store `data` under its digest (atomically; a blob already there is kept)."""
        digest = sha256_digest(data)
        path = self.blob_path(digest)
        if not path.exists():
            _write_atomically(path, data)
        return Descriptor(media_type, digest, len(data))

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def read_json(self, digest: str) -> dict:
        return json.loads(self.read_blob(digest))

    def index(self) -> list[dict]:
        """The manifest descriptors of index.json, as stored."""
        return json.loads((self.root / "index.json").read_bytes()).get("manifests", [])

    def write_index(self, manifests: Iterable[dict]) -> None:
        _write_atomically(self.root / "index.json",
                          canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(manifests)}))

    def find(self, reference: str) -> dict:
        """The index entry whose ref.name annotation is `reference` ("name:tag"); KeyError if none."""
        for entry in self.index():
            if entry.get("annotations", {}).get(REF_NAME) == reference:
                return entry
        raise KeyError(f"no image {reference!r} in the OCI layout {self.root}")


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600 would keep non-root readers out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
