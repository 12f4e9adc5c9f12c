"""A service's image made real for the nodes: resolved by the catalogue, built into the image cache
if it is an application image, pushed to the registry (only missing blobs), its layers read back.

Dataset images are the Docker Hub images themselves (every tag is the crawl's one version); any
other image is its base image plus one application layer (docs/apps.md), stored in the registry
under `apps/<repository>:<tag>` so a manifest's registry host never reaches the cluster's registry.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from component_base.errors import InvalidArgument, Unavailable

from api.app import AppError, ServiceSpec, parse_image_reference
from images.catalogue import resolve_image
from .store import ServiceImage

APP_NAMESPACE = "apps"
PROGRAM_CMD = ["python3", "/opt/strata/program.py"]


def registry_reference(resolved) -> str:
    """Where the cluster's registry keeps the image: the dataset's name, or apps/<path>:<tag> (the
    manifest's registry host dropped: the cluster has one registry)."""
    if resolved.source == "dataset":
        return f"{resolved.repository}:latest"
    parsed = parse_image_reference(resolved.reference)
    return f"{APP_NAMESPACE}/{parsed.path}:{parsed.tag or 'latest'}"


def application_payload(repository: str, size_bytes: int) -> dict[str, bytes]:
    """The application layer's content: deterministic bytes of the estimated size (the same image
    always gives the same layer; two images never share it)."""
    seed = f"strata-app-layer:{repository}".encode()
    return {f"/app/{repository.rsplit('/', 1)[-1]}.bin": hashlib.shake_256(seed).digest(max(size_bytes, 1))}


class RegistryImages:
    """`prepare(service)` -> ServiceImage; thread-safe, each image pushed once per process."""

    def __init__(self, registry_url: str, cache: Path | None = None, *, log=print):
        from images.build import default_cache

        self.registry_url = registry_url
        self.cache = cache or default_cache()
        self.log = log
        self._lock = threading.Lock()
        self._ready: dict[str, ServiceImage] = {}

    def prepare(self, service: ServiceSpec) -> ServiceImage:
        from images import scaled_bytes
        from images.build import build_application_image, find_image
        from images.registry import RegistryError, push_all

        try:
            resolved = resolve_image(service.image, base_image=service.base_image)
        except AppError as exc:
            raise InvalidArgument(f'service "{service.name}": {exc}') from None
        reference = registry_reference(resolved)
        with self._lock:
            if reference in self._ready:
                return self._ready[reference]
            if resolved.source != "dataset":
                build_application_image(f"{resolved.base}:latest", reference,
                                        application_payload(resolved.repository, scaled_bytes(resolved.app_layer_mib)),
                                        PROGRAM_CMD, cache=self.cache)
            info = find_image(reference, self.cache)
            if info is None:
                raise InvalidArgument(f'service "{service.name}": image {service.image} ({reference}) is not in the '
                                      f"image cache {self.cache}; build it with `strata images build`")
            try:
                push_all(self.cache, self.registry_url, names=[reference], progress=lambda _: None)
            except RegistryError as exc:
                raise Unavailable(f"pushing {reference} to the registry {self.registry_url}: {exc}") from None
            image = ServiceImage(reference, [(layer.digest, layer.size) for layer in info.layers])
            self._ready[reference] = image
            self.log(f"image {service.image} -> {reference}: {len(image.layers)} layers, "
                     f"{sum(s for _, s in image.layers) / 1e6:.2f} MB")
            return image
