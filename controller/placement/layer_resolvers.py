"""Layer resolvers for the kube-scheduler extender: an image reference -> its layers, from OCI registries' manifests (cached) or from the image catalogue."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from api.app import AppError, parse_image_reference
from images.catalogue import Catalogue
from images.registry import ImageNotFound, RegistryClient, RegistryError

from .kube_extender import DEFAULT_PLATFORM, Layer, LayerResolver

MIB = 2**20


class LookupFailed(Exception):
    """A registry could not say whether it has the image (unreachable, an error, a bad answer)."""


class RegistryLayerResolver:
    """Layers from registries' manifests. Images of a registry host named in `registries` are asked
    of that registry's client; any other image (Docker Hub's included) of `default`, a mirror or
    pull-through cache holding repositories by their path ("library/nginx"), when there is one.
    Returns None for an image its registry does not have; raises LookupFailed when it cannot tell."""

    def __init__(self, registries: Mapping[str, RegistryClient], default: RegistryClient | None = None):
        self.registries, self.default = dict(registries), default

    def __call__(self, reference: str, platform: str) -> tuple[Layer, ...] | None:
        try:
            ref = parse_image_reference(reference)
        except AppError:
            return None
        client = self.registries.get(ref.registry or "docker.io", self.default)
        if client is None:
            return None
        # A Docker Hub official image is "library/NAME" in a pull-through cache of Docker Hub, and
        # plain "NAME" in a registry Strata filled (strata images push): the first found wins.
        paths = (ref.path, ref.repository) if ref.official else (ref.path,)
        for path in paths:
            in_registry = f"{path}@{ref.digest}" if ref.digest else f"{path}:{ref.tag or 'latest'}"
            try:
                image = client.image_layers(in_registry, platform=platform)
            except ImageNotFound:
                continue
            except (RegistryError, ValueError) as exc:
                raise LookupFailed(f"{reference} ({platform}): {exc}") from None
            return tuple(Layer(layer.digest, layer.size) for layer in image.layers)
        return None


class CatalogueLayerResolver:
    """Layers from the image catalogue, offline: a Docker Hub official image of the dataset has its
    crawled layers, any other image the catalogue's assumption (a dataset base plus an application
    layer, images/catalogue.py). Sizes are the catalogue's MiB as bytes. The dataset was crawled for
    linux/amd64: other platforms are not known."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue

    def __call__(self, reference: str, platform: str) -> tuple[Layer, ...] | None:
        if platform != DEFAULT_PLATFORM:
            return None
        try:
            resolved = self.catalogue.resolve(reference)
        except AppError:
            return None
        return tuple(Layer(digest, round(mib * MIB)) for digest, mib in resolved.layers)


def first_known(resolvers: Sequence[LayerResolver]) -> LayerResolver:
    """A resolver asking each of `resolvers` in turn, the first answer that is not None winning."""
    def resolve(reference: str, platform: str) -> Sequence[Layer] | None:
        for resolver in resolvers:
            layers = resolver(reference, platform)
            if layers is not None:
                return layers
        return None

    return resolve


@dataclass(frozen=True)
class CachePolicy:
    """How long the cache keeps an answer, in seconds."""

    tag_seconds: float = 300.0  # an image by tag: the tag may be moved to another manifest
    missing_seconds: float = 60.0  # an image the registry does not have (yet)
    failed_seconds: float = 10.0  # a registry that could not answer: not asked again at every request
    entries: int = 4096  # answers kept, the least recently used dropped first


class CachedResolver:
    """A resolver's answers kept in memory: by digest for good (a digest names one manifest), by tag
    for a while; a failed lookup answers None (unknown) and is retried after `failed_seconds`.
    Safe to call from several threads. `clock` gives seconds (time.monotonic by default)."""

    def __init__(self, resolver: Callable[[str, str], Sequence[Layer] | None], policy: CachePolicy = CachePolicy(),
                 *, clock: Callable[[], float] = time.monotonic, on_failure: Callable[[str], None] = lambda why: None):
        self.resolver, self.policy, self.clock, self.on_failure = resolver, policy, clock, on_failure
        self._answers: OrderedDict[tuple[str, str], tuple[float, tuple[Layer, ...] | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.lookups = 0  # calls of the wrapped resolver (what the cache did not answer)

    def __call__(self, reference: str, platform: str) -> tuple[Layer, ...] | None:
        key = (reference, platform)
        now = self.clock()
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None and kept[0] > now:
                self._answers.move_to_end(key)
                return kept[1]
            self.lookups += 1
        try:
            found = self.resolver(reference, platform)
            layers = None if found is None else tuple(found)
            if layers is None:
                lifetime = self.policy.missing_seconds
            else:
                lifetime = float("inf") if "@" in reference else self.policy.tag_seconds
        except LookupFailed as exc:
            self.on_failure(str(exc))
            layers, lifetime = None, self.policy.failed_seconds
        with self._lock:
            self._answers[key] = (now + lifetime, layers)
            self._answers.move_to_end(key)
            while len(self._answers) > self.policy.entries:
                self._answers.popitem(last=False)
        return layers
