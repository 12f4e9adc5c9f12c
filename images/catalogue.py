"""The image catalogue: an image -> its layers, from the Docker Hub dataset or a dataset base (and shared base) plus one app layer."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from api.app import AppError, AppSpec, ImageReference, parse_image_reference
from images.dataset import DATASET, DatasetImage, load_dataset

APP_IMAGES = Path(__file__).resolve().parent / "data" / "app-images.json"
DATASET_SOURCE = "dataset"
ASSUMED_SOURCE = "assumed"


@dataclass(frozen=True)
class BaseLayer:
    """One layer of a shared intermediate base image, as its Dockerfile makes it."""
    digest: str
    size_mib: float  # estimated compressed size
    instruction: str  # the Dockerfile instruction that makes it


@dataclass(frozen=True)
class ResolvedImage:
    reference: str  # as written in the manifest
    repository: str  # familiar form, no tag: "redis", "yg397/media-frontend", "gcr.io/x/y"
    source: str  # "dataset": the crawled layers; "assumed": a dataset base (+ shared base) plus one application layer
    base: str  # dataset image the layers start with (a dataset image is its own base)
    layers: tuple[tuple[str, float], ...]  # (digest, size in MiB), bottom first
    app_layer_mib: float  # size of the application layer; 0 for a dataset image
    shared_base: str = ""  # the app's own base image between the dataset base and the app layer ("" none)
    shared_layers: tuple[BaseLayer, ...] = ()  # its layers, bottom first (also in `layers`)

    @property
    def size_mib(self) -> float:
        return sum(size for _, size in self.layers)


@dataclass(frozen=True)
class AppImageEntry:
    base: str  # dataset image
    app_layer_mib: float
    basis: str  # how the size was estimated
    shared_base: str = ""  # a key of the table's shared_bases the image is built FROM ("" none)


@dataclass(frozen=True)
class SharedBase:
    """An app's own base image (its services' Dockerfiles are FROM it): a dataset base plus its layers."""
    name: str
    base: str  # dataset image it is FROM
    layers: tuple[BaseLayer, ...]


def app_layer_digest(repository: str) -> str:
    """The assumed application layer of `repository`: the same for every tag, distinct per repository."""
    return "sha256:" + hashlib.sha256(f"strata-app-layer:{repository}".encode()).hexdigest()


def base_layer_digest(shared_base: str, position: int) -> str:
    """Layer `position` (from 0) of a shared base: the same in every image built on it."""
    return "sha256:" + hashlib.sha256(f"strata-base-layer:{shared_base}:{position}".encode()).hexdigest()


def table_keys(ref: ImageReference) -> tuple[str, ...]:
    """Keys an image is looked up by in the table: its repository without registry host (and
    without "library/"), then its last two path components."""
    path = ref.path.removeprefix("library/") if ref.official else ref.path
    last_two = "/".join(path.split("/")[-2:])
    return (path,) if last_two == path else (path, last_two)


class Catalogue:
    """Resolves image references against a dataset and the table of assumed application images."""

    def __init__(self, dataset: Sequence[DatasetImage], table: dict[str, Any]):
        self.dataset = {image.name: image for image in dataset if image.layers}
        self.default_base, self.default_app_layer_mib, self.shared_bases, self.entries = self._checked_table(table)

    def _checked_table(self, table: dict[str, Any]) -> tuple[str, float, dict[str, SharedBase],
                                                              dict[str, AppImageEntry]]:
        def size(value: Any, where: str) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"app image table: {where}: must be a positive number of MiB, got {value!r}")
            return float(value)

        def base(value: Any, where: str) -> str:
            if value not in self.dataset:
                raise ValueError(f"app image table: {where}: {value!r} is not a dataset image with layers")
            return value

        def documented(entry: Any, where: str, needs: str) -> dict:
            if not isinstance(entry, dict) or not isinstance(entry.get("basis"), str) or not entry["basis"]:
                raise ValueError(f"app image table: {where}: needs {needs}")
            return entry

        default_base = base(table.get("default_base"), "default_base")
        default_size = size(table.get("default_app_layer_mib"), "default_app_layer_mib")
        shared = {}
        for name, entry in (table.get("shared_bases") or {}).items():
            where = f"shared_bases.{name}"
            entry = documented(entry, where, "base, layers and basis")
            layers = entry.get("layers")
            if not isinstance(layers, list) or not layers:
                raise ValueError(f"app image table: {where}.layers: must be a non-empty list")
            shared[name] = SharedBase(name, base(entry.get("base"), f"{where}.base"), tuple(
                BaseLayer(base_layer_digest(name, k), size(layer.get("size_mib"), f"{where}.layers[{k}].size_mib"),
                          layer.get("instruction") or "")
                for k, layer in enumerate(documented(layer, f"{where}.layers[{k}]", "instruction, size_mib and basis")
                                          for k, layer in enumerate(layers))))
        entries = {}
        for key, entry in (table.get("images") or {}).items():
            entry = documented(entry, f"images.{key}", "base, app_layer_mib and basis")
            app_layer = size(entry.get("app_layer_mib"), f"images.{key}.app_layer_mib")
            if entry.get("base") in shared:
                on = shared[entry["base"]]
                entries[key] = AppImageEntry(on.base, app_layer, entry["basis"], on.name)
            else:
                entries[key] = AppImageEntry(base(entry.get("base"), f"images.{key}.base"), app_layer, entry["basis"])
        return default_base, default_size, shared, entries

    def _dataset_base(self, base_image: str, reference: str) -> str:
        try:
            ref = parse_image_reference(base_image)
        except AppError:
            ref = None
        name = ref.repository if ref is not None and ref.official else None
        if name not in self.dataset:
            raise AppError(f'unknown base image "{base_image}" for image "{reference}": a base must be a Docker Hub '
                           f'official image of the dataset, e.g. "debian", "alpine", "python", "node"')
        return name

    def entry(self, reference: str) -> AppImageEntry | None:
        """The table's entry for an image, if any."""
        ref = parse_image_reference(reference)
        return next((self.entries[key] for key in table_keys(ref) if key in self.entries), None)

    def resolve(self, reference: str, *, base_image: str = "") -> ResolvedImage:
        """The layers of `reference`. A dataset image (Docker Hub official, any tag) has its crawled
        layers; any other image is its base plus one application layer (table entry, else the declared
        `base_image`, else the default), with a table entry's shared base's layers between the two.
        A declared base overrides the table's (shared base included); it must be a dataset image."""
        ref = parse_image_reference(reference)
        declared = self._dataset_base(base_image, reference) if base_image else ""
        repository = ref.repository
        if ref.official and repository in self.dataset:
            layers = tuple((layer.digest, layer.size_mib) for layer in self.dataset[repository].layers)
            return ResolvedImage(reference, repository, DATASET_SOURCE, repository, layers, 0.0)
        entry = self.entry(reference)
        base = declared or (entry.base if entry else self.default_base)
        app_layer = entry.app_layer_mib if entry else self.default_app_layer_mib
        shared = self.shared_bases[entry.shared_base] if entry and entry.shared_base and not declared else None
        shared_layers = shared.layers if shared else ()
        layers = tuple((layer.digest, layer.size_mib) for layer in self.dataset[base].layers) \
            + tuple((layer.digest, layer.size_mib) for layer in shared_layers)
        return ResolvedImage(reference, repository, ASSUMED_SOURCE, base,
                             layers + ((app_layer_digest(repository), app_layer),), app_layer,
                             shared.name if shared else "", shared_layers)

    def app_images(self, app: AppSpec) -> dict[str, ResolvedImage]:
        """Image reference -> its resolution, for every distinct image of `app`, in service order."""
        resolved: dict[str, ResolvedImage] = {}
        declared_by: dict[str, tuple[str, str]] = {}
        for service in app.services:
            seen = declared_by.get(service.image)
            if seen is not None and seen[1] != service.base_image:
                raise AppError(f'service "{service.name}": base_image: "{service.base_image}" differs from '
                               f'"{seen[1]}" declared by service "{seen[0]}" for the same image "{service.image}"')
            if seen is None:
                declared_by[service.image] = (service.name, service.base_image)
                try:
                    resolved[service.image] = self.resolve(service.image, base_image=service.base_image)
                except AppError as e:
                    raise AppError(f'service "{service.name}": image: {e}') from None
        return resolved


def load_catalogue(dataset: Path = DATASET, table: Path = APP_IMAGES) -> Catalogue:
    """The catalogue of a dataset file and an app image table file."""
    images, _ = load_dataset(dataset)
    return Catalogue(images, json.loads(Path(table).read_text()))


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The catalogue of the bundled dataset and table, loaded once."""
    return load_catalogue()


def resolve_image(reference: str, *, base_image: str = "") -> ResolvedImage:
    """Catalogue.resolve() on the bundled dataset and table."""
    return default_catalogue().resolve(reference, base_image=base_image)


def app_images(app: AppSpec) -> dict[str, ResolvedImage]:
    """Catalogue.app_images() on the bundled dataset and table."""
    return default_catalogue().app_images(app)
