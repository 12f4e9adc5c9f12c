"""Building the image cache: every dataset image as a real OCI image (scaled synthetic layers), plus application images.

The synthetic layers hold data, not programs: each is one incompressible file whose size is the
real layer's size times the image scale. Every image's command is the stand-in
`python3 -m http.server 80`, run from the host's /usr, /lib, /lib64 and /bin, which the node agent
binds read-only into every container; the container then serves its own stacked root folder, and
GET /layers/ lists one file per layer of its image, which shows the overlay stacking worked.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Iterator, Mapping, Sequence

from images import IMAGE_SCALE, checked_image_scale, scaled_bytes
from images.dataset import DATASET, DatasetImage, parse_dataset
from images.oci import (OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST, REF_NAME, Descriptor, Layout,
                        canonical_json, synthetic_layer, tar_archive)
from images.registry import parse_reference

DEFAULT_CACHE = Path("/var/cache/strata/images")
CACHE_ENV = "STRATA_IMAGE_CACHE"
# Bump whenever the bytes a build produces change for the same dataset and scale.
BUILDER_VERSION = 1
BUILD_RECORD = "strata-build.json"

STAND_IN_CMD = ("python3", "-m", "http.server", "80")
DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
EPOCH = "1970-01-01T00:00:00Z"  # every timestamp in an image: builds are reproducible
SOURCE_LABEL = "io.strata.source-image"
SCALE_LABEL = "io.strata.image-scale"
APPLICATION_LABEL = "io.strata.application"


@dataclass(frozen=True)
class LayerInfo:
    digest: str
    size: int  # bytes of the layer blob


@dataclass(frozen=True)
class ImageInfo:
    """One image of a layout, as `strata images ls` shows it."""

    name: str
    tag: str
    manifest_digest: str
    layers: tuple[LayerInfo, ...]

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def size_bytes(self) -> int:
        """Bytes of the image's layer blobs (what a node with none of them pulls, config aside)."""
        return sum(layer.size for layer in self.layers)


@dataclass(frozen=True)
class BuildReport:
    cache: Path
    up_to_date: bool  # True: the cache already matched the fingerprint and nothing was written
    images: int
    distinct_layers: int
    layer_bytes: int  # bytes of the distinct layer blobs
    seconds: float  # of this call
    without_layers: tuple[str, ...]  # dataset images the crawl recorded no layer for: not built
    fingerprint: str


def default_cache(scale: float = IMAGE_SCALE) -> Path:
    """$STRATA_IMAGE_CACHE, else /var/cache/strata/images; a scale other than the default has a
    cache of its own beside it (images-x<scale>), so switching scales never rebuilds the other."""
    base = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    return base if scale == IMAGE_SCALE else base.with_name(f"{base.name}-x{scale:g}")


def fingerprint(dataset_bytes: bytes, names: Collection[str] | None = None, scale: float = IMAGE_SCALE) -> str:
    """What the cache's content depends on: the dataset, the scale, the builder, the selection."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(dataset_bytes).digest())
    h.update(canonical_json({"scale": scale, "builder": BUILDER_VERSION,
                             "names": sorted(names) if names is not None else None}))
    return h.hexdigest()


def layer_bytes_of(images: Sequence[DatasetImage], scale: float = IMAGE_SCALE) -> int:
    """Bytes of the distinct layer blobs of `images` at `scale` (what a build writes, near enough)."""
    sizes = {layer.digest: layer.size_mib for image in images for layer in image.layers}
    return sum(scaled_bytes(size, scale) for size in sizes.values())


def require_free_space(folder: Path, need: int, what: str) -> None:
    """OSError naming `what` if the file system of `folder` (or its nearest existing parent) has
    less than `need` bytes free. A tmpfs counts too: its free space is memory."""
    folder = Path(folder)
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < need:
        raise OSError(f"not enough room for {what}: it needs about {need / 2**30:.2f} GiB on {folder}, "
                      f"which has {free / 2**30:.2f} GiB free (use a smaller --image-scale, or free space)")


def image_config(*, architecture: str, os_name: str, diff_ids: Sequence[str], created_by: Sequence[str],
                 labels: Mapping[str, str], cmd: Sequence[str], env: Sequence[str] = DEFAULT_ENV) -> dict:
    """An OCI image configuration: one history entry per layer, fixed timestamps."""
    return {
        "created": EPOCH,
        "architecture": architecture,
        "os": os_name,
        "config": {"Env": list(env), "WorkingDir": "/", "Cmd": list(cmd), "Labels": dict(labels),
                   "ExposedPorts": {"80/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": EPOCH, "created_by": line} for line in created_by],
    }


def image_manifest(config: Descriptor, layers: Sequence[Descriptor]) -> dict:
    return {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.to_json(),
            "layers": [layer.to_json() for layer in layers]}


def _index_entry(manifest: Descriptor, reference: str, architecture: str, os_name: str) -> dict:
    return {**manifest.to_json(), "annotations": {REF_NAME: reference},
            "platform": {"architecture": architecture, "os": os_name}}


def _put_image(layout: Layout, config: dict, layers: Sequence[Descriptor]) -> Descriptor:
    config_desc = layout.put_blob(canonical_json(config), OCI_CONFIG)
    return layout.put_blob(canonical_json(image_manifest(config_desc, layers)), OCI_MANIFEST)


def write_dataset_images(layout: Layout, images: Sequence[DatasetImage], *, progress: Callable[[str], None] = print,
                         scale: float = IMAGE_SCALE) -> tuple[list[dict], dict[str, Descriptor]]:
    """Write the blobs of `images` into `layout`; returns (index entries, source digest -> layer blob)."""
    blobs: dict[str, Descriptor] = {}
    entries = []
    written, started, next_report = 0, time.monotonic(), time.monotonic() + 2.0
    for number, image in enumerate(images, 1):
        for layer in image.layers:
            if layer.digest not in blobs:
                blobs[layer.digest] = layout.put_blob(synthetic_layer(layer.digest, scaled_bytes(layer.size_mib, scale)),
                                                      OCI_LAYER_TAR)
                written += blobs[layer.digest].size
        descriptors = [blobs[layer.digest] for layer in image.layers]
        config = image_config(
            architecture=image.architecture, os_name=image.os,
            diff_ids=[d.digest for d in descriptors],  # uncompressed layers: diff_id = blob digest
            created_by=[layer.instruction for layer in image.layers],
            labels={SOURCE_LABEL: image.name, SCALE_LABEL: repr(scale)}, cmd=STAND_IN_CMD)
        manifest = _put_image(layout, config, descriptors)
        entries.append(_index_entry(manifest, f"{image.name}:latest", image.architecture, image.os))
        if time.monotonic() >= next_report or number == len(images):
            next_report = time.monotonic() + 2.0
            progress(f"  [{number}/{len(images)}] images, {len(blobs)} layers, {written / 1e6:.1f} MB written "
                     f"({time.monotonic() - started:.1f} s)")
    return entries, blobs


@contextmanager
def _cache_lock(cache: Path) -> Iterator[None]:
    """One writer of a cache at a time (builds and application images)."""
    with open(cache.parent / f".{cache.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _checked_cache(cache: Path | None) -> Path:
    cache = Path(cache) if cache is not None else default_cache()
    if cache.exists() and not cache.is_dir():
        raise NotADirectoryError(f"image cache {cache} exists and is not a folder")
    return cache


def read_build_record(cache: Path) -> dict | None:
    try:
        return json.loads((Path(cache) / BUILD_RECORD).read_text())
    except (FileNotFoundError, ValueError):
        return None


def build_images(cache: Path | None = None, *, progress: Callable[[str], None] = print,
                 dataset: Path = DATASET, names: Collection[str] | None = None,
                 scale: float = IMAGE_SCALE) -> BuildReport:
    """Build (or confirm up to date) the OCI layout at `cache` from the dataset file.

    `names` restricts the build to those dataset images (unknown names raise ValueError). The
    build goes into a temporary folder beside the cache and replaces it by rename, so an
    interrupted build leaves the previous cache (or none), never half of one. Application images
    added to the cache are dropped by a rebuild. `scale`: the image scale (0 < scale <= 1); the
    default cache is the scale's own (default_cache). The free space is checked before writing.
    """
    started = time.monotonic()
    scale = checked_image_scale(scale)
    cache = _checked_cache(cache if cache is not None else default_cache(scale))
    dataset_bytes = Path(dataset).read_bytes()
    wanted = fingerprint(dataset_bytes, names, scale)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with _cache_lock(cache):
        record = read_build_record(cache)
        if record and record.get("fingerprint") == wanted and Layout(cache).is_layout():
            return BuildReport(cache, True, record["images"], record["distinct_layers"], record["layer_bytes"],
                               time.monotonic() - started, tuple(record["without_layers"]), wanted)
        images, without_layers = parse_dataset(json.loads(dataset_bytes))
        if names is not None:
            unknown = set(names) - {image.name for image in images} - set(without_layers)
            if unknown:
                raise ValueError(f"no image named {', '.join(sorted(unknown))} in the dataset {dataset}")
            images = [image for image in images if image.name in names]
            without_layers = [name for name in without_layers if name in names]
        require_free_space(cache.parent, layer_bytes_of(images, scale) + 2**20 * (len(images) + 1),
                           f"{len(images)} images at scale {scale:g} in {cache}")
        for stale in cache.parent.glob(f".{cache.name}.build-*"):  # left by an interrupted build
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=cache.parent, prefix=f".{cache.name}.build-"))
        try:
            progress(f"building {len(images)} images into {cache} (scale {scale:g})")
            layout = Layout(staging).create()
            entries, blobs = write_dataset_images(layout, images, progress=progress, scale=scale)
            layout.write_index(entries)
            layer_bytes = sum(d.size for d in blobs.values())
            (staging / BUILD_RECORD).write_text(json.dumps({
                "fingerprint": wanted, "builder_version": BUILDER_VERSION, "scale": scale,
                "dataset_sha256": hashlib.sha256(dataset_bytes).hexdigest(), "images": len(entries),
                "distinct_layers": len(blobs), "layer_bytes": layer_bytes, "without_layers": without_layers,
                "build_seconds": round(time.monotonic() - started, 2)}, indent=1) + "\n")
            staging.chmod(0o755)  # mkdtemp makes it 0700; readers need not be root
            _replace_folder(staging, cache)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return BuildReport(cache, False, len(entries), len(blobs), layer_bytes, time.monotonic() - started,
                       tuple(without_layers), wanted)


def _replace_folder(new: Path, target: Path) -> None:
    """Put `new` at `target`: the old folder is renamed aside before, and removed after."""
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.build-old-"))
        os.rename(target, old / "cache")
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, target)


def list_images(cache: Path | None = None) -> list[ImageInfo]:
    """Every image of the layout, in index order; FileNotFoundError if it is not a built layout."""
    cache = _checked_cache(cache)
    layout = Layout(cache)
    if not layout.is_layout():
        raise FileNotFoundError(f"no OCI image layout at {cache} (build it with `strata images build`)")
    return [_image_info(layout, entry) for entry in layout.index()]


def find_image(reference: str, cache: Path | None = None) -> ImageInfo | None:
    """One image of the layout by reference ("name" means "name:latest"), reading only its manifest."""
    layout = Layout(_checked_cache(cache))
    wanted = "{}:{}".format(*parse_reference(reference))
    entry = next((e for e in layout.index() if e.get("annotations", {}).get(REF_NAME) == wanted), None)
    return _image_info(layout, entry) if entry else None


def _image_info(layout: Layout, entry: dict) -> ImageInfo:
    name, tag = parse_reference(entry["annotations"][REF_NAME])
    manifest = layout.read_json(entry["digest"])
    return ImageInfo(name, tag, entry["digest"],
                     tuple(LayerInfo(layer["digest"], layer["size"]) for layer in manifest["layers"]))


def build_application_image(base: str, name: str, files: Mapping[str, bytes], cmd: Sequence[str], *,
                            cache: Path | None = None,
                            base_layers: Sequence[tuple[str, Mapping[str, bytes]]] = ()) -> ImageInfo:
    """Add to the layout an image made of the `base` image's layers plus one layer holding `files`
    (path in the image -> content; parent folders are created, files are mode 0644, so `cmd`
    should name an interpreter, e.g. ["python3", "/app/server.py"]), with `cmd` as its command.
    `base_layers` (instruction, files) go between the two: a shared intermediate base's layers,
    the same blobs in every image given the same ones.

    `base` and `name` are references ("python" means "python:latest"). An image already named
    `name` is replaced. The same inputs always give the same manifest digest.
    """
    cache = _checked_cache(cache)
    base_name, base_tag = parse_reference(base)
    app_name, app_tag = parse_reference(name)
    if not cmd:
        raise ValueError("an application image needs a command")
    if not files:
        raise ValueError("an application image needs at least one file")
    layout = Layout(cache)
    if not layout.is_layout():
        raise FileNotFoundError(f"no OCI image layout at {cache} (build it with `strata images build`)")
    with _cache_lock(cache):
        base_entry = layout.find(f"{base_name}:{base_tag}")
        base_manifest = layout.read_json(base_entry["digest"])
        base_config = layout.read_json(base_manifest["config"]["digest"])
        shared = [layout.put_blob(tar_archive(layer_files), OCI_LAYER_TAR) for _, layer_files in base_layers]
        app_layer = layout.put_blob(tar_archive(files), OCI_LAYER_TAR)
        layers = [Descriptor(l["mediaType"], l["digest"], l["size"]) for l in base_manifest["layers"]] \
            + shared + [app_layer]
        paths = ", ".join(sorted("/" + path.lstrip("/") for path in files))
        config = image_config(
            architecture=base_config["architecture"], os_name=base_config["os"],
            diff_ids=[*base_config["rootfs"]["diff_ids"], *(layer.digest for layer in shared), app_layer.digest],
            created_by=[*(h.get("created_by", "") for h in base_config.get("history", [])),
                        *(instruction for instruction, _ in base_layers), f"COPY {paths}"],
            labels={**base_config["config"].get("Labels", {}), APPLICATION_LABEL: f"{app_name}:{app_tag}"},
            cmd=cmd, env=base_config["config"].get("Env", DEFAULT_ENV))
        manifest = _put_image(layout, config, layers)
        reference = f"{app_name}:{app_tag}"
        entries = [e for e in layout.index() if e.get("annotations", {}).get(REF_NAME) != reference]
        layout.write_index([*entries, _index_entry(manifest, reference, config["architecture"], config["os"])])
    return ImageInfo(app_name, app_tag, manifest.digest,
                     tuple(LayerInfo(layer.digest, layer.size) for layer in layers))
