"""The Images port: a service's image made real for the nodes.

Resolved by the catalogue, built into the image cache if it is an application image, pushed to the
registry (only missing blobs, with the registry's push credentials), its tag resolved to the manifest's
digest once: agents are handed `name@sha256:...`, so a tag moved later cannot change what a node runs.

Dataset images are the Docker Hub images themselves (every tag is the crawl's one version); any
other image is its base image (and shared base's layers) plus one application layer (docs/apps.md), stored in the registry
under `apps/<repository>:<tag>` so a manifest's registry host never reaches the cluster's registry.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from component_base.errors import InvalidArgument, Unavailable

from api.app import AppError, ServiceSpec, parse_image_reference
from images import IMAGE_SCALE, scaled_bytes
from images.credentials import Credentials
from images.catalogue import resolve_image
from .ports import IMAGE_BUILDING, IMAGE_PUSHING, ImageProgress
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


def shared_base_payloads(resolved, scale: float) -> list[tuple[str, dict[str, bytes]]]:
    """The shared base's layers of an image (none for most): (instruction, content), each the catalogue
    digest's deterministic bytes, so every image on the same base gets the same layer blobs."""
    name = resolved.shared_base.rsplit("/", 1)[-1]
    return [(layer.instruction,
             {f"/opt/{name}/layer-{k}.bin": hashlib.shake_256(layer.digest.encode()).digest(
                 max(scaled_bytes(layer.size_mib, scale), 1))})
            for k, layer in enumerate(resolved.shared_layers)]


class RegistryImages:
    """The Images port over the image cache and the registry; thread-safe, each image pushed once per
    process (a second service of the same image gets it at once)."""

    def __init__(self, registry_url: str, cache: Path | None = None, *, log=print, scale: float = IMAGE_SCALE,
                 credentials: Credentials | None = None):
        from images.build import default_cache

        self.registry_url = registry_url
        self.credentials = credentials
        self.scale = scale  # application layers are built at the run's image scale
        self.cache = cache or default_cache(scale)
        self.log = log
        self._lock = threading.Lock()  # guards _ready only: builds and pushes run unlocked
        self._ready: dict[str, ServiceImage] = {}

    def _resolve(self, service: ServiceSpec):
        try:
            return resolve_image(service.image, base_image=service.base_image)
        except AppError as exc:
            raise InvalidArgument(f'service "{service.name}": {exc}') from None

    def check(self, service: ServiceSpec) -> None:
        from images.build import find_image

        resolved = self._resolve(service)
        needed = f"{resolved.base}:latest" if resolved.source != "dataset" else registry_reference(resolved)
        try:
            found = find_image(needed, self.cache)
        except (OSError, ValueError):  # no image cache at all
            found = None
        if found is None:
            raise InvalidArgument(f'service "{service.name}": image {service.image} needs {needed}, which is not in '
                                  f"the image cache {self.cache}; build it with `strata images build`")

    def prepare(self, service: ServiceSpec, progress: ImageProgress) -> ServiceImage:
        from images.build import build_application_image, find_image
        from images.registry import RegistryClient, RegistryError, parse_reference, push_all

        resolved = self._resolve(service)
        reference = registry_reference(resolved)
        with self._lock:
            if reference in self._ready:
                return self._ready[reference]
        if resolved.source != "dataset":
            progress(IMAGE_BUILDING, f"building {reference} on {resolved.base}")
            try:
                build_application_image(f"{resolved.base}:latest", reference,
                                        application_payload(resolved.repository,
                                                            scaled_bytes(resolved.app_layer_mib, self.scale)),
                                        PROGRAM_CMD, cache=self.cache,
                                        base_layers=shared_base_payloads(resolved, self.scale))
            except (OSError, KeyError, ValueError) as exc:
                raise InvalidArgument(f"building {reference} on {resolved.base}: {exc}") from None
        info = find_image(reference, self.cache)
        if info is None:
            raise InvalidArgument(f'service "{service.name}": image {service.image} ({reference}) is not in the '
                                  f"image cache {self.cache}; build it with `strata images build`")
        progress(IMAGE_PUSHING, f"pushing {reference} to {self.registry_url}")
        try:
            push_all(self.cache, self.registry_url, names=[reference], progress=lambda _: None,
                     credentials=self.credentials)
            pushed = RegistryClient(self.registry_url).image_layers(reference)
        except RegistryError as exc:
            raise Unavailable(f"pushing {reference} to the registry {self.registry_url}: {exc}") from None
        layers = [(layer.digest, layer.size) for layer in info.layers]
        if [(layer.digest, layer.size) for layer in pushed.layers] != layers:
            raise Unavailable(f"the registry {self.registry_url} has another {reference} than the image cache's "
                              f"(manifest {pushed.manifest_digest}): was the tag moved during the push?")
        name, _ = parse_reference(reference)
        image = ServiceImage(f"{name}@{pushed.manifest_digest}", layers)
        with self._lock:
            self._ready[reference] = image
        self.log(f"image {service.image} -> {image.reference}: {len(image.layers)} layers, "
                 f"{sum(s for _, s in image.layers) / 1e6:.2f} MB")
        return image
