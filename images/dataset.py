"""The Docker Hub layer dataset as the image builder reads it: every image, every layer with a digest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DATASET = Path(__file__).resolve().parent / "data" / "dockerhub_top150_images.json"


@dataclass(frozen=True)
class DatasetLayer:
    digest: str  # the real image's layer digest ("sha256:..."): the seed of the synthetic content
    size_mib: float  # the real layer's size; may be ~0 for ENV/CMD-only layers
    instruction: str  # the Dockerfile instruction that made it


@dataclass(frozen=True)
class DatasetImage:
    name: str
    architecture: str
    os: str
    layers: tuple[DatasetLayer, ...]


def parse_dataset(items: list[dict]) -> tuple[list[DatasetImage], list[str]]:
    """(images that have layers, names of images the crawl recorded no layer for).

    Unlike controller.placement.generators.dockerhub_images(), keeps layers of size 0: they are
    real layers of the image (empty ENV/CMD layers) and become small blobs of their own.
    """
    images, without_layers = [], []
    for item in items:
        layers = tuple(DatasetLayer(layer["digest"], float(layer.get("size") or 0.0), layer.get("instruction") or "")
                       for layer in item.get("layers") or [] if layer.get("digest"))
        if not layers:
            without_layers.append(item["name"])
            continue
        images.append(DatasetImage(item["name"], item.get("architecture") or "amd64", item.get("os") or "linux",
                                   layers))
    return images, without_layers


def load_dataset(path: Path = DATASET) -> tuple[list[DatasetImage], list[str]]:
    """parse_dataset() of a dataset file."""
    return parse_dataset(json.loads(Path(path).read_bytes()))
