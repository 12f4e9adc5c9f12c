"""kube-scheduler extender logic: a pod's image layers against each candidate node's, as the filter and prioritize verbs' answers (no HTTP)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from api.app import AppError, parse_image_reference

# k8s.io/kube-scheduler/extender/v1/types.go: a prioritize score is 0..MaxExtenderPriority; the
# scheduler multiplies it by the extender's weight and by MaxNodeScore / MaxExtenderPriority (10).
MAX_EXTENDER_PRIORITY = 10
EPHEMERAL_STORAGE = "ephemeral-storage"
DEFAULT_PLATFORM = "linux/amd64"
# Well-known node labels the kubelet sets (kubernetes.io/os, kubernetes.io/arch).
OS_LABEL, ARCH_LABEL = "kubernetes.io/os", "kubernetes.io/arch"

# k8s.io/apimachinery resource.Quantity: a decimal number, then a binary or decimal SI suffix or
# a decimal exponent.
_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
           "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


class ExtenderRequestError(ValueError):
    """A body that is not the ExtenderArgs the scheduler sends; the message names the field."""


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int  # bytes of the layer blob, as the manifest gives it (what a pull moves)


# (normalised image reference, platform "os/arch") -> the image's layers, bottom first; None when
# the resolver does not know the image.
LayerResolver = Callable[[str, str], "Sequence[Layer] | None"]


@dataclass(frozen=True)
class NodeImage:
    """One entry of Node.status.images."""

    names: tuple[str, ...]  # normalised references (repo:tag and repo@digest); unparsable names left out
    size_bytes: int  # as the kubelet reports it (0 when absent)


@dataclass(frozen=True)
class NodeView:
    """What the extender knows of a node: its images and its allocatable ephemeral storage."""

    name: str
    images: tuple[NodeImage, ...] | None  # None: not known (a NodeNames request, the node not in the cache)
    allocatable_storage: int | None = None  # bytes of status.allocatable["ephemeral-storage"]; None: not reported
    platform: str = DEFAULT_PLATFORM  # from the kubernetes.io/os and kubernetes.io/arch labels


@dataclass(frozen=True)
class PodView:
    name: str  # "namespace/name"
    images: tuple[str, ...]  # normalised references of its init containers and containers, each once
    storage_request: int  # bytes of ephemeral storage it requests (kube's effective request)


@dataclass(frozen=True)
class ExtenderArgs:
    """ExtenderArgs: the pod and its candidate nodes, in one of the two forms the scheduler sends."""

    pod: PodView
    nodes: tuple[NodeView, ...]
    node_list: dict | None  # the request's "Nodes" object (items as received); None for a NodeNames request
    by_name: bool  # True: the request gave NodeNames (nodeCacheCapable), so the answer does too


@dataclass(frozen=True)
class NodeLayers:
    """A node's images mapped to layers by the resolver."""

    layers: dict[str, int]  # digest -> bytes, of the images the resolver knows
    unresolved: dict[str, int]  # normalised name -> sizeBytes, of the images it does not know (every name)
    unresolved_bytes: int  # sum of those images' sizeBytes (each image once)
    aliases: dict[str, tuple[str, ...]]  # normalised name -> every name of its image, digests first

    @property
    def held_bytes(self) -> int:
        return sum(self.layers.values()) + self.unresolved_bytes


# -- references and quantities


@lru_cache(maxsize=1 << 16)  # nodes report the same images: each name is parsed once
def normalise_reference(text: str) -> str:
    """An image reference as containerd and the kubelet name it: registry host (docker.io for Docker
    Hub), "library/" for official images, ":latest" when no tag; by digest when it has one
    ("nginx" -> "docker.io/library/nginx:latest", "nginx:1.25@sha256:..." -> "docker.io/library/nginx@sha256:...").
    ValueError if it is not an image reference."""
    try:
        ref = parse_image_reference(text)
    except AppError as exc:
        raise ValueError(str(exc)) from None
    repository = f"{ref.registry or 'docker.io'}/{ref.path}"
    return f"{repository}@{ref.digest}" if ref.digest else f"{repository}:{ref.tag or 'latest'}"


def parse_quantity(text: Any, where: str) -> int:
    """A Kubernetes resource quantity ("47093746742", "100Gi", "1.5G", "2e9") in whole units, rounded up."""
    match = _QUANTITY.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ExtenderRequestError(f"{where}: {text!r} is not a Kubernetes quantity (e.g. \"100Gi\", \"47093746742\")")
    number, suffix = match.groups()
    try:
        value = Decimal(number) * (Decimal(10) ** int(suffix[1:]) if suffix and suffix[0] in "eE"
                                   else Decimal(_SUFFIX[suffix or ""]))
    except (InvalidOperation, OverflowError):
        raise ExtenderRequestError(f"{where}: {text!r} is out of range") from None
    if value < 0:
        raise ExtenderRequestError(f"{where}: {text!r} is negative")
    return math.ceil(value)


# -- reading the request


def _field(document: dict, name: str) -> Any:
    """A top-level ExtenderArgs field, its name matched as Go's encoding/json matches it (what an
    extender written in Go decodes with): exactly, else regardless of case, so "pod" is "Pod"."""
    if name in document:
        return document[name]
    return next((value for key, value in document.items() if key.lower() == name.lower()), None)


def _object(value: Any, where: str, *, required: bool = True) -> dict:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ExtenderRequestError(f"{where}: expected an object, got {_kind(value)}")
    return value


def _list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ExtenderRequestError(f"{where}: expected a list, got {_kind(value)}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ExtenderRequestError(f"{where}: expected a non-empty string, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _storage_requests(containers: list, where: str) -> list[int]:
    """Each container's ephemeral-storage request, in bytes (0 when it requests none)."""
    requests = []
    for k, container in enumerate(containers):
        resources = _object(container.get("resources"), f"{where}[{k}].resources", required=False)
        asked = _object(resources.get("requests"), f"{where}[{k}].resources.requests", required=False)
        requests.append(parse_quantity(asked[EPHEMERAL_STORAGE], f"{where}[{k}].resources.requests.{EPHEMERAL_STORAGE}")
                        if EPHEMERAL_STORAGE in asked else 0)
    return requests


def read_pod(value: Any) -> PodView:
    """The pod of ExtenderArgs.Pod (core/v1 Pod JSON): its images and its ephemeral-storage request."""
    pod = _object(value, "Pod")
    metadata = _object(pod.get("metadata"), "Pod.metadata", required=False)
    name = f"{metadata.get('namespace') or 'default'}/{metadata.get('name') or '?'}"
    spec = _object(pod.get("spec"), "Pod.spec")
    containers = _list(spec.get("containers"), "Pod.spec.containers")
    if not containers:
        raise ExtenderRequestError("Pod.spec.containers: a pod has at least one container")
    init = _list(spec.get("initContainers"), "Pod.spec.initContainers")
    images: list[str] = []
    for field, items in (("initContainers", init), ("containers", containers)):
        for k, container in enumerate(items):
            where = f"Pod.spec.{field}[{k}]"
            image = _string(_object(container, where).get("image"), f"{where}.image")
            try:
                normalised = normalise_reference(image)
            except ValueError as exc:
                raise ExtenderRequestError(f"{where}.image: {exc}") from None
            if normalised not in images:
                images.append(normalised)
    # kube's effective request: the containers' sum, or the largest init container's if larger
    # (init containers run one at a time, before the others).
    request = max(sum(_storage_requests(containers, "Pod.spec.containers")),
                  max(_storage_requests(init, "Pod.spec.initContainers"), default=0))
    return PodView(name, tuple(images), request)


def _node_image(entry: Any, node: str, k: int) -> NodeImage:
    """One entry of Node.status.images. The field paths of messages are built only on a failure:
    a big cluster's request holds tens of thousands of entries."""
    names = entry.get("names") if isinstance(entry, dict) else None
    size = entry.get("sizeBytes", 0) if isinstance(entry, dict) else None
    if not isinstance(names, (list, type(None))) or not all(isinstance(raw, str) and raw for raw in names or ()) \
            or isinstance(size, bool) or not isinstance(size, int) or size < 0:
        where = f"{node}.status.images[{k}]"  # a failure: say which field, as _object and the others would
        entry = _object(entry, where)
        for j, raw in enumerate(_list(entry.get("names"), f"{where}.names")):
            _string(raw, f"{where}.names[{j}]")
        raise ExtenderRequestError(f"{where}.sizeBytes: expected a whole number of bytes of at least 0, "
                                   f"got {size!r}")
    normalised = []
    for raw in names or ():
        try:
            normalised.append(normalise_reference(raw))
        except ValueError:
            continue  # runtimes report names such as "<none>@<none>": not an image one can ask for
    return NodeImage(tuple(dict.fromkeys(normalised)), size)


def read_node(value: Any, where: str) -> NodeView:
    """A core/v1 Node: its name, Node.status.images, allocatable ephemeral storage and platform labels."""
    node = _object(value, where)
    metadata = _object(node.get("metadata"), f"{where}.metadata")
    name = _string(metadata.get("name"), f"{where}.metadata.name")
    labels = _object(metadata.get("labels"), f"{where}.metadata.labels", required=False)
    status = _object(node.get("status"), f"{where}.status", required=False)
    images = [_node_image(entry, where, k)
              for k, entry in enumerate(_list(status.get("images"), f"{where}.status.images"))]
    allocatable = _object(status.get("allocatable"), f"{where}.status.allocatable", required=False)
    storage = allocatable.get(EPHEMERAL_STORAGE)
    storage = None if storage is None else parse_quantity(storage, f"{where}.status.allocatable.{EPHEMERAL_STORAGE}")
    platform = f"{labels.get(OS_LABEL) or 'linux'}/{labels.get(ARCH_LABEL) or 'amd64'}"
    return NodeView(name, tuple(images), storage, platform)


def read_args(document: Any, cached: Callable[[str], NodeView | None] = lambda name: None) -> ExtenderArgs:
    """ExtenderArgs from a decoded JSON body: {"Pod": Pod, "Nodes": NodeList} or {"Pod": Pod,
    "NodeNames": [name, ...]}. A node given by name only is looked up with `cached` (the adapter's
    node cache); a node it does not know has unknown images."""
    document = _object(document, "the request body (ExtenderArgs)")
    pod = read_pod(_field(document, "Pod"))
    node_list, names = _field(document, "Nodes"), _field(document, "NodeNames")
    if node_list is not None and names is not None:
        raise ExtenderRequestError("ExtenderArgs: give Nodes or NodeNames, not both (the scheduler sends Nodes "
                                   "unless the extender is nodeCacheCapable)")
    if node_list is not None:
        node_list = _object(node_list, "Nodes")
        items = _list(node_list.get("items"), "Nodes.items")
        nodes = tuple(read_node(item, f"Nodes.items[{k}]") for k, item in enumerate(items))
        return ExtenderArgs(pod, nodes, node_list, by_name=False)
    if names is None:
        raise ExtenderRequestError("ExtenderArgs: no candidate nodes: expected Nodes (a NodeList) or NodeNames")
    names = [_string(name, f"NodeNames[{k}]") for k, name in enumerate(_list(names, "NodeNames"))]
    return ExtenderArgs(pod, tuple(cached(name) or NodeView(name, None) for name in names), None, by_name=True)


# -- layers


class RequestLayers:
    """The resolver's answers within one request, as digest -> bytes per image: candidate nodes
    report the same images over and over, so each (names, platform) is asked once."""

    def __init__(self, resolver: LayerResolver):
        self.resolver = resolver
        self._found: dict[tuple[tuple[str, ...], str], dict[str, int] | None] = {}

    def of(self, names: tuple[str, ...], platform: str) -> dict[str, int] | None:
        """The layers of the first of an image's names the resolver knows; None if it knows none."""
        key = (names, platform)
        if key not in self._found:
            self._found[key] = None
            for name in names:
                layers = self.resolver(name, platform)
                if layers is not None:
                    self._found[key] = {layer.digest: layer.size for layer in layers}
                    break
        return self._found[key]


def node_layers(node: NodeView, resolved: RequestLayers) -> NodeLayers:
    """The node's images as layers. An image is tried by its digest names first (they name one
    manifest for good), then by its tags."""
    layers: dict[str, int] = {}
    unresolved: dict[str, int] = {}
    unresolved_bytes = 0
    aliases: dict[str, tuple[str, ...]] = {}
    for image in node.images or ():
        names = tuple(sorted(image.names, key=lambda name: "@" not in name))
        aliases.update((name, names) for name in names)
        found = resolved.of(names, node.platform)
        if found is None:
            unresolved.update((name, max(image.size_bytes, unresolved.get(name, 0))) for name in image.names)
            unresolved_bytes += image.size_bytes
        else:
            layers.update(found)
    return NodeLayers(layers, unresolved, unresolved_bytes, aliases)


@dataclass(frozen=True)
class PodOnNode:
    """The pod's image bytes as seen from one node: how many it would pull there, how many are there."""

    total: int  # bytes of the pod's images: its layers (distinct), plus whole images the resolver does not know
    present: int  # of which the node already holds
    missing_layers: int  # layers it would pull
    missing_images: int  # whole images (the resolver does not know them) it would pull, of known size
    missing_bytes: int  # bytes of those layers and images
    unknown: tuple[str, ...]  # pod images it lacks whose size nothing tells (no resolver, no candidate node)


def pod_on_node(pod: PodView, node: NodeView, held: NodeLayers, resolved: RequestLayers,
                image_sizes: Mapping[str, int]) -> PodOnNode:
    """The pod's bytes against what the node holds. Layers the resolver gives count per layer; a pod
    image it does not know counts whole, by name, as ImageLocality does: present on a node that
    reports it, its size the largest sizeBytes a candidate node reports (`image_sizes`). A pod image
    the node reports is also tried by the image's other names there (a tag the registry no longer
    has may still be known by the digest the node pulled)."""
    wanted: dict[str, int] = {}
    unresolved: list[str] = []
    for image in pod.images:
        found = resolved.of(tuple(dict.fromkeys([image, *held.aliases.get(image, ())])), node.platform)
        if found is None:
            unresolved.append(image)
        else:
            wanted.update(found)
    missing = {digest: size for digest, size in wanted.items() if digest not in held.layers}
    lacked = [image for image in unresolved if image not in held.unresolved]
    sized = [image for image in lacked if image_sizes.get(image, 0) > 0]
    missing_bytes = sum(missing.values()) + sum(image_sizes[image] for image in sized)
    total = sum(wanted.values()) + sum(image_sizes.get(image, 0) for image in unresolved)
    unknown = tuple(image for image in lacked if image not in sized)
    return PodOnNode(total, total - missing_bytes, len(missing), len(sized), missing_bytes, unknown)


def _image_sizes(pod: PodView, nodes: Sequence[NodeView]) -> dict[str, int]:
    """Pod image -> the largest sizeBytes any candidate node reports for it."""
    sizes: dict[str, int] = {}
    for node in nodes:
        for image in node.images or ():
            for name in image.names:
                if name in pod.images:
                    sizes[name] = max(sizes.get(name, 0), image.size_bytes)
    return sizes


# -- the verbs


def layer_sharing_score(present: int, total: int) -> int:
    """0..MAX_EXTENDER_PRIORITY, linear in the share of the pod's bytes the node already holds,
    rounded down (10 only when it holds them all); 0 when the pod's size is not known."""
    if total <= 0:
        return 0
    return MAX_EXTENDER_PRIORITY * min(present, total) // total


def prioritize(args: ExtenderArgs, resolver: LayerResolver) -> list[dict]:
    """HostPriorityList: every candidate node with its layer-sharing score, in the request's order."""
    sizes = _image_sizes(args.pod, args.nodes)
    resolved = RequestLayers(resolver)
    scores = []
    for node in args.nodes:
        seen = pod_on_node(args.pod, node, node_layers(node, resolved), resolved, sizes)
        scores.append({"Host": node.name, "Score": layer_sharing_score(seen.present, seen.total)})
    return scores


def storage_failure(pod: PodView, node: NodeView, seen: PodOnNode, held: NodeLayers) -> str | None:
    """Why the pod cannot fit on the node's ephemeral storage, or None when it can (or when the node
    reports no allocatable ephemeral storage, or its images are not known)."""
    if node.allocatable_storage is None or node.images is None:
        return None
    free = node.allocatable_storage - held.held_bytes
    needed = seen.missing_bytes + pod.storage_request
    if needed <= free:
        return None
    request = f" plus its ephemeral-storage request of {pod.storage_request} bytes" if pod.storage_request else ""
    whole = f" and {seen.missing_images} whole images at their size on other nodes" if seen.missing_images else ""
    unknown = f"; not counted, size unknown: {', '.join(seen.unknown)}" if seen.unknown else ""
    return (f"strata layer-sharing: pod {pod.name} needs {needed} bytes of ephemeral storage: the {seen.missing_layers} "
            f"image layers{whole} it lacks ({seen.missing_bytes} bytes){request}; the node has {max(free, 0)} free: "
            f"allocatable {node.allocatable_storage} less {held.held_bytes} of the images it holds{unknown}")


def filter_nodes(args: ExtenderArgs, resolver: LayerResolver) -> dict:
    """ExtenderFilterResult: the nodes where the pod's missing layers (and its ephemeral-storage
    request) fit in the node's free ephemeral storage, in the form the request came in. A node that
    fails goes to FailedAndUnresolvableNodes: preempting pods frees no image storage."""
    sizes = _image_sizes(args.pod, args.nodes)
    resolved = RequestLayers(resolver)
    passed: list[int] = []
    failed: dict[str, str] = {}
    for k, node in enumerate(args.nodes):
        held = node_layers(node, resolved)
        why = storage_failure(args.pod, node, pod_on_node(args.pod, node, held, resolved, sizes), held)
        if why is None:
            passed.append(k)
        else:
            failed[node.name] = why
    return filter_result(args, passed, failed)


def filter_result(args: ExtenderArgs, passed: Sequence[int], unresolvable: Mapping[str, str]) -> dict:
    """The ExtenderFilterResult JSON: passing nodes as NodeNames for a NodeNames request, else as the
    request's NodeList with only their items (the scheduler reads NodeNames only from a
    nodeCacheCapable extender, and Nodes.items otherwise)."""
    result: dict[str, Any] = {"Nodes": None, "NodeNames": None, "FailedNodes": {},
                              "FailedAndUnresolvableNodes": dict(unresolvable), "Error": ""}
    if args.by_name:
        result["NodeNames"] = [args.nodes[k].name for k in passed]
    else:
        items = args.node_list["items"]
        result["Nodes"] = {**args.node_list, "items": [items[k] for k in passed]}
    return result


def error_result(message: str) -> dict:
    """An ExtenderFilterResult carrying only an error (the scheduler fails the pod's filter with it)."""
    return {"Nodes": None, "NodeNames": None, "FailedNodes": {}, "FailedAndUnresolvableNodes": {}, "Error": message}
