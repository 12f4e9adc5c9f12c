"""The kube-scheduler extender: filter and prioritize on requests in the real schema (recorded ExtenderArgs documents), bad requests, the node cache, the resolvers' cache, and the HTTP server."""

from __future__ import annotations

import copy
import http.client
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from controller.placement.extender_server import Extender, NodeCache, create_server, verb_path
from controller.placement.kube_extender import (MAX_EXTENDER_PRIORITY, ExtenderRequestError, Layer,
                                                filter_nodes, layer_sharing_score, normalise_reference,
                                                parse_quantity, prioritize, read_args)
from controller.placement.layer_resolvers import (CachedResolver, CachePolicy, CatalogueLayerResolver,
                                                  LookupFailed, RegistryLayerResolver, first_known)
from dataplane.registry.server import REGISTRY_BINARY, RegistryServer
from images.build import build_images
from images.catalogue import default_catalogue
from images.registry import ImageLayers, ImageNotFound, LayerRef, RegistryClient, RegistryUnavailable, push_all

DATA = Path(__file__).resolve().parent / "data" / "extender"
ROOT = Path(__file__).resolve().parents[2]
MIB = 2**20

# Bytes of the layers in data/extender/layers.json, as the expectations below add them up.
DEBIAN, WEB_DEPS, WEB_21, UBUNTU, ENVOY, BUSYBOX, PAUSE = (29_125_642, 5_242_880, 40_108_220, 28_584_139,
                                                           60_331_950, 2_155_712, 311_286)
POD_BYTES = BUSYBOX + DEBIAN + WEB_DEPS + WEB_21 + UBUNTU + ENVOY  # the pod's distinct layers


def load(name: str):
    return json.loads((DATA / name).read_text())


class TableResolver:
    """The registry of layers.json (linux/amd64 only), recording what it is asked."""

    def __init__(self):
        self.images = {ref: tuple(Layer(d, s) for d, s in layers) for ref, layers in load("layers.json")["images"].items()}
        self.asked: list[tuple[str, str]] = []

    def __call__(self, reference: str, platform: str):
        self.asked.append((reference, platform))
        return self.images.get(reference) if platform == "linux/amd64" else None


@pytest.fixture
def resolver() -> TableResolver:
    return TableResolver()


def scores(answer: list[dict]) -> dict[str, int]:
    assert all(set(entry) == {"Host", "Score"} for entry in answer)
    return {entry["Host"]: entry["Score"] for entry in answer}


# -- references and quantities


@pytest.mark.parametrize("text, normalised", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.25", "docker.io/library/nginx:1.25"),
    ("library/nginx:1.25", "docker.io/library/nginx:1.25"),
    ("docker.io/nginx", "docker.io/library/nginx:latest"),
    ("index.docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25"),
    ("envoyproxy/envoy:v1.29.1", "docker.io/envoyproxy/envoy:v1.29.1"),
    ("nginx@sha256:" + "a" * 64, "docker.io/library/nginx@sha256:" + "a" * 64),
    ("nginx:1.25@sha256:" + "a" * 64, "docker.io/library/nginx@sha256:" + "a" * 64),  # the digest is what runs
    ("registry.example.com:5000/shop/web", "registry.example.com:5000/shop/web:latest"),
    ("localhost/x:1", "localhost/x:1"),
])
def test_references_are_normalised_as_the_kubelet_reports_them(text, normalised):
    assert normalise_reference(text) == normalised


@pytest.mark.parametrize("text, value", [
    ("47093746742", 47093746742), ("100Gi", 100 * 2**30), ("51287520Ki", 51287520 * 1024), ("1.5G", 1_500_000_000),
    ("2e3", 2000), ("100m", 1), ("0", 0), (".5Ki", 512),
])
def test_quantities_are_read_in_bytes_rounded_up(text, value):
    assert parse_quantity(text, "q") == value


@pytest.mark.parametrize("text", ["", "1.5.5", "Gi", "-1Gi", "10 Gi", "1Zi", 5, None])
def test_bad_quantities_are_refused(text):
    with pytest.raises(ExtenderRequestError):
        parse_quantity(text, "q")


# -- prioritize


def test_prioritize_scores_each_node_by_the_share_of_the_pods_layer_bytes_it_holds(resolver):
    answer = prioritize(read_args(load("args-nodes.json")), resolver)
    # edge-a holds envoy's layers and web 2.0's debian and dependency layers, not web 2.1's own one;
    # edge-b only debian; edge-c none.
    assert scores(answer) == {"edge-a": 10 * (DEBIAN + WEB_DEPS + UBUNTU + ENVOY) // POD_BYTES,
                              "edge-b": 10 * DEBIAN // POD_BYTES, "edge-c": 0}
    assert scores(answer) == {"edge-a": 7, "edge-b": 1, "edge-c": 0}
    assert [entry["Host"] for entry in answer] == ["edge-a", "edge-b", "edge-c"]  # the request's order


def test_init_containers_images_count_as_the_pods_own(resolver):
    document = load("args-nodes.json")
    holder = document["Nodes"]["items"][2]  # edge-c: now it holds busybox, the init container's image
    holder["status"]["images"].append({"names": ["docker.io/library/busybox:1.36"], "sizeBytes": 4_261_574})
    assert scores(prioritize(read_args(document), resolver))["edge-c"] == 0  # 2.1 MB of 166 MB: rounds to 0
    document["Pod"]["spec"]["containers"] = [document["Pod"]["spec"]["containers"][1]]  # envoy only
    holder["status"]["images"].append({"names": ["envoyproxy/envoy:v1.29.1"], "sizeBytes": 154_812_003})
    assert scores(prioritize(read_args(document), resolver))["edge-c"] == MAX_EXTENDER_PRIORITY


def test_the_score_is_linear_rounded_down_and_10_only_when_everything_is_there():
    assert [layer_sharing_score(present, 1000) for present in (0, 99, 100, 555, 999, 1000)] == [0, 0, 1, 5, 9, 10]
    assert layer_sharing_score(0, 0) == 0


def test_images_no_resolver_knows_count_whole_by_name_and_odd_names_are_ignored(resolver):
    document = load("args-unknown-images.json")
    exporter = 22_741_003  # edge-a's sizeBytes for quay.io/prometheus/node-exporter:v1.7.0, unknown to the resolver
    web = DEBIAN + WEB_DEPS + WEB_21
    answer = scores(prioritize(read_args(document), resolver))
    assert answer == {"edge-a": 10 * (DEBIAN + WEB_DEPS + exporter) // (web + exporter),
                      "edge-b": 10 * DEBIAN // (web + exporter)}
    assert answer == {"edge-a": 5, "edge-b": 2}


def test_nodes_are_resolved_for_their_own_platform(resolver):
    document = load("args-nodes.json")
    edge_a = document["Nodes"]["items"][0]
    edge_a["metadata"]["labels"]["kubernetes.io/arch"] = "arm64"
    answer = scores(prioritize(read_args(document), resolver))
    assert ("docker.io/envoyproxy/envoy:v1.29.1", "linux/arm64") in resolver.asked
    # The table has no arm64 layers, so on edge-a every image counts whole, by name: of the pod's
    # three images only envoy has a known size (edge-a reports it), and edge-a holds it.
    assert answer == {"edge-a": 10, "edge-b": 1, "edge-c": 0}


# -- filter


def test_filter_drops_the_node_whose_free_ephemeral_storage_cannot_take_the_missing_layers(resolver):
    document = load("args-nodes.json")
    result = filter_nodes(read_args(document), resolver)
    assert set(result) == {"Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"}
    assert result["Nodes"]["items"] == document["Nodes"]["items"][:2]  # as received, for the scheduler to use
    assert result["NodeNames"] is None and result["FailedNodes"] == {} and result["Error"] == ""
    assert list(result["FailedAndUnresolvableNodes"]) == ["edge-c"]
    why = result["FailedAndUnresolvableNodes"]["edge-c"]
    # what it needs (missing layers and the pod's 50Mi request) and what the node has free (100Mi less pause)
    assert str(POD_BYTES + 50 * MIB) in why and str(100 * MIB - PAUSE) in why and str(POD_BYTES) in why


def test_the_filter_boundary_is_exact(resolver):
    document = load("args-nodes.json")
    edge_c = document["Nodes"]["items"][2]
    fits = POD_BYTES + 50 * MIB + PAUSE  # missing layers + request + what the node holds
    edge_c["status"]["allocatable"]["ephemeral-storage"] = str(fits)
    assert filter_nodes(read_args(document), resolver)["FailedAndUnresolvableNodes"] == {}
    edge_c["status"]["allocatable"]["ephemeral-storage"] = str(fits - 1)
    assert list(filter_nodes(read_args(document), resolver)["FailedAndUnresolvableNodes"]) == ["edge-c"]


def test_a_node_that_reports_no_allocatable_ephemeral_storage_is_kept(resolver):
    document = load("args-nodes.json")
    del document["Nodes"]["items"][2]["status"]["allocatable"]["ephemeral-storage"]
    result = filter_nodes(read_args(document), resolver)
    assert [item["metadata"]["name"] for item in result["Nodes"]["items"]] == ["edge-a", "edge-b", "edge-c"]


def test_layers_already_on_the_node_are_not_needed_again(resolver):
    document = load("args-nodes.json")
    edge_a = document["Nodes"]["items"][0]  # holds all but web 2.1's own layer and busybox
    held = DEBIAN + WEB_DEPS + 41_020_311 + UBUNTU + ENVOY + PAUSE  # web 2.0's own layer is 41_020_311
    edge_a["status"]["allocatable"]["ephemeral-storage"] = str(held + WEB_21 + BUSYBOX + 50 * MIB)
    assert filter_nodes(read_args(document), resolver)["FailedAndUnresolvableNodes"].keys() == {"edge-c"}


def test_images_no_resolver_knows_are_counted_at_their_size_elsewhere_or_named_as_not_counted(resolver):
    document = load("args-unknown-images.json")
    exporter = 22_741_003  # edge-a's sizeBytes of the exporter image, which edge-b lacks
    edge_b = document["Nodes"]["items"][1]
    fits = (DEBIAN + PAUSE) + (WEB_DEPS + WEB_21 + exporter)  # what edge-b holds + what it lacks
    edge_b["status"]["allocatable"]["ephemeral-storage"] = str(fits)
    assert filter_nodes(read_args(document), resolver)["FailedAndUnresolvableNodes"] == {}
    edge_b["status"]["allocatable"]["ephemeral-storage"] = str(fits - 1)
    why = filter_nodes(read_args(document), resolver)["FailedAndUnresolvableNodes"]["edge-b"]
    assert str(WEB_DEPS + WEB_21 + exporter) in why and "1 whole images" in why
    document["Pod"]["spec"]["containers"].append({"name": "extra", "image": "ghcr.io/example/unseen:1"})
    why = filter_nodes(read_args(document), resolver)["FailedAndUnresolvableNodes"]["edge-b"]
    assert why.endswith("not counted, size unknown: ghcr.io/example/unseen:1")


# -- NodeNames (nodeCacheCapable) and the node cache


def test_node_names_requests_use_the_nodes_file_and_answer_names(resolver):
    cache = NodeCache(DATA / "nodes-kubectl.json")
    extender = Extender(resolver, cache, log=lambda line: None)
    body = (DATA / "args-node-names.json").read_bytes()
    status, answer = extender.prioritize(body)
    assert status == 200
    assert scores(answer) == {"edge-a": 7, "edge-b": 1, "edge-c": 0, "edge-new": 0}  # edge-new: not known
    status, result = extender.filter(body)
    assert status == 200
    assert result["NodeNames"] == ["edge-a", "edge-b", "edge-new"] and result["Nodes"] is None
    assert list(result["FailedAndUnresolvableNodes"]) == ["edge-c"]


def test_without_a_cache_named_nodes_have_unknown_images_and_all_pass(resolver):
    extender = Extender(resolver, log=lambda line: None)
    body = (DATA / "args-node-names.json").read_bytes()
    assert scores(extender.prioritize(body)[1]) == {"edge-a": 0, "edge-b": 0, "edge-c": 0, "edge-new": 0}
    assert extender.filter(body)[1]["NodeNames"] == ["edge-a", "edge-b", "edge-c", "edge-new"]


def test_a_request_with_whole_nodes_fills_the_cache_for_later_named_ones(resolver):
    extender = Extender(resolver, log=lambda line: None)
    extender.filter((DATA / "args-nodes.json").read_bytes())
    answer = extender.prioritize((DATA / "args-node-names.json").read_bytes())[1]
    assert scores(answer) == {"edge-a": 7, "edge-b": 1, "edge-c": 0, "edge-new": 0}


def test_the_nodes_file_is_read_again_when_it_changes(resolver, tmp_path):
    path = tmp_path / "nodes.json"
    nodes = load("nodes-kubectl.json")
    path.write_text(json.dumps({**nodes, "items": nodes["items"][1:]}))
    extender = Extender(resolver, NodeCache(path), log=lambda line: None)
    body = (DATA / "args-node-names.json").read_bytes()
    assert scores(extender.prioritize(body)[1])["edge-a"] == 0
    path.write_text(json.dumps(nodes) + "\n")
    assert scores(extender.prioritize(body)[1])["edge-a"] == 7


def test_a_bad_nodes_file_is_refused_and_later_requests_go_on(resolver, tmp_path):
    path = tmp_path / "nodes.json"
    path.write_text('{"items": 3}')
    with pytest.raises(ValueError, match="NodeList"):
        NodeCache(path).refresh()
    logged = []
    extender = Extender(resolver, NodeCache(path), log=logged.append)
    assert extender.prioritize((DATA / "args-node-names.json").read_bytes())[0] == 200
    assert logged


# -- bad requests


def _mutated(change) -> bytes:
    document = load("args-nodes.json")
    change(document)
    return json.dumps(document).encode()


BAD_BODIES = {
    "not JSON": b'{"Pod": ',
    "not an object": b"[]",
    "empty": b"",
    "no Pod": _mutated(lambda d: d.pop("Pod")),
    "Pod is a string": _mutated(lambda d: d.__setitem__("Pod", "web")),
    "no spec": _mutated(lambda d: d["Pod"].pop("spec")),
    "no containers": _mutated(lambda d: d["Pod"]["spec"].__setitem__("containers", [])),
    "image not a string": _mutated(lambda d: d["Pod"]["spec"]["containers"][0].__setitem__("image", 7)),
    "bad image": _mutated(lambda d: d["Pod"]["spec"]["containers"][0].__setitem__("image", "Web:2.1")),
    "bad request quantity": _mutated(
        lambda d: d["Pod"]["spec"]["containers"][0]["resources"]["requests"].__setitem__("ephemeral-storage", "lots")),
    "no nodes at all": _mutated(lambda d: d.__setitem__("Nodes", None)),
    "Nodes and NodeNames": _mutated(lambda d: d.__setitem__("NodeNames", ["edge-a"])),
    "Nodes is a list": _mutated(lambda d: d.__setitem__("Nodes", [])),
    "node without a name": _mutated(lambda d: d["Nodes"]["items"][0]["metadata"].pop("name")),
    "sizeBytes a string": _mutated(lambda d: d["Nodes"]["items"][0]["status"]["images"][0].__setitem__("sizeBytes", "9")),
    "names not a list": _mutated(lambda d: d["Nodes"]["items"][0]["status"]["images"][0].__setitem__("names", "x")),
    "bad allocatable": _mutated(
        lambda d: d["Nodes"]["items"][0]["status"]["allocatable"].__setitem__("ephemeral-storage", "47 GB")),
    "NodeNames with a number": json.dumps({"Pod": load("args-nodes.json")["Pod"], "NodeNames": ["edge-a", 3]}).encode(),
}


@pytest.mark.parametrize("why", list(BAD_BODIES))
def test_bad_requests_get_400_with_the_error_in_the_filter_result(resolver, why):
    logged = []
    extender = Extender(resolver, log=logged.append)
    status, result = extender.filter(BAD_BODIES[why])
    assert status == 400
    assert result["Error"] and result["Nodes"] is None and result["NodeNames"] is None
    status, answer = extender.prioritize(BAD_BODIES[why])
    assert status == 400 and answer["Error"]
    assert len(logged) == 2


def test_a_fault_of_the_extender_is_answered_500_with_the_error():
    def broken(reference, platform):
        raise RuntimeError("resolver bug")

    logged = []
    extender = Extender(broken, log=logged.append)
    status, result = extender.filter((DATA / "args-nodes.json").read_bytes())
    assert status == 500 and "resolver bug" in result["Error"] and result["Nodes"] is None
    status, answer = extender.prioritize((DATA / "args-nodes.json").read_bytes())
    assert status == 500 and "resolver bug" in answer["Error"]
    assert len(logged) == 2


def test_field_names_match_regardless_of_case_as_gos_decoder_does(resolver):
    document = load("args-nodes.json")
    lower = {"pod": document["Pod"], "nodes": document["Nodes"]}
    assert scores(prioritize(read_args(lower), resolver)) == {"edge-a": 7, "edge-b": 1, "edge-c": 0}


# -- resolvers


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_keeps_digests_for_good_tags_for_a_while_and_misses_briefly():
    calls = []
    layers = (Layer("sha256:" + "1" * 64, 10),)

    def source(reference, platform):
        calls.append(reference)
        return layers if "known" in reference else None

    clock = Clock()
    cached = CachedResolver(source, CachePolicy(tag_seconds=300, missing_seconds=60), clock=clock)
    by_digest, by_tag, missing = "r/known@sha256:" + "2" * 64, "r/known:1", "r/gone:1"
    for _ in range(3):
        assert cached(by_digest, "linux/amd64") == layers and cached(by_tag, "linux/amd64") == layers
        assert cached(missing, "linux/amd64") is None
    assert calls == [by_digest, by_tag, missing]
    clock.now += 61
    cached(missing, "linux/amd64")
    cached(by_tag, "linux/amd64")
    assert calls[3:] == [missing]
    clock.now += 300
    cached(by_tag, "linux/amd64")
    cached(by_digest, "linux/amd64")
    assert calls[4:] == [by_tag]
    cached(by_tag, "linux/arm64")  # another platform is another question
    assert calls[5:] == [by_tag]


def test_a_failed_lookup_answers_unknown_is_reported_and_retried_later():
    attempts, reported = [], []

    def source(reference, platform):
        attempts.append(reference)
        raise LookupFailed(f"{reference}: registry unreachable")

    clock = Clock()
    cached = CachedResolver(source, CachePolicy(failed_seconds=10), clock=clock, on_failure=reported.append)
    assert cached("r/a:1", "linux/amd64") is None and cached("r/a:1", "linux/amd64") is None
    assert attempts == ["r/a:1"] and reported == ["r/a:1: registry unreachable"]
    clock.now += 11
    cached("r/a:1", "linux/amd64")
    assert attempts == ["r/a:1", "r/a:1"]


def test_the_cache_drops_the_least_recently_used_answer_past_its_size():
    calls = []
    cached = CachedResolver(lambda ref, platform: calls.append(ref) or (), CachePolicy(entries=2), clock=Clock())
    for ref in ("r/a@sha256:" + "a" * 64, "r/b@sha256:" + "b" * 64, "r/a@sha256:" + "a" * 64,
                "r/c@sha256:" + "c" * 64, "r/a@sha256:" + "a" * 64, "r/b@sha256:" + "b" * 64):
        cached(ref, "linux/amd64")
    assert [ref[2] for ref in calls] == ["a", "b", "c", "b"]  # b was the least recently used when c came


class FakeClient:
    def __init__(self, name: str, images: dict, fail: bool = False):
        self.name, self.images, self.fail, self.asked = name, images, fail, []

    def image_layers(self, reference, *, platform):
        self.asked.append((reference, platform))
        if self.fail:
            raise RegistryUnavailable(f"registry {self.name}: connection refused")
        if reference not in self.images:
            raise ImageNotFound(reference)
        return ImageLayers(reference, "sha256:" + "0" * 64, platform,
                           tuple(LayerRef(d, s, "application/vnd.oci.image.layer.v1.tar+gzip")
                                 for d, s in self.images[reference]))


def test_the_registry_resolver_asks_each_image_of_its_hosts_registry_by_repository_path():
    digest = "sha256:" + "e" * 64
    example = FakeClient("example", {"shop/web:2.1": [(digest, 7)]})
    mirror = FakeClient("mirror", {"library/nginx:latest": [(digest, 9)]})
    resolve = RegistryLayerResolver({"registry.example.com": example}, mirror)
    assert resolve("registry.example.com/shop/web:2.1", "linux/arm64") == (Layer(digest, 7),)
    assert example.asked == [("shop/web:2.1", "linux/arm64")]
    assert resolve("docker.io/library/nginx:latest", "linux/amd64") == (Layer(digest, 9),)
    assert resolve("docker.io/library/redis:7", "linux/amd64") is None  # not in the mirror
    assert mirror.asked[-2:] == [("library/redis:7", "linux/amd64"), ("redis:7", "linux/amd64")]  # both forms
    assert RegistryLayerResolver({"registry.example.com": example})("quay.io/x/y:1", "linux/amd64") is None
    with pytest.raises(LookupFailed, match="connection refused"):
        RegistryLayerResolver({}, FakeClient("down", {}, fail=True))("docker.io/library/nginx:1", "linux/amd64")


def test_the_catalogue_resolves_offline_and_first_known_falls_back_to_it():
    catalogue = CatalogueLayerResolver(default_catalogue())
    python = catalogue("docker.io/library/python:3.11-slim", "linux/amd64")
    expected = default_catalogue().resolve("python:3.11-slim").layers
    assert [(layer.digest, layer.size) for layer in python] == [(d, round(mib * MIB)) for d, mib in expected]
    assert catalogue("docker.io/library/python:3.11-slim", "linux/arm64") is None  # crawled for amd64
    empty = RegistryLayerResolver({}, FakeClient("mirror", {}))
    assert first_known([empty, catalogue])("docker.io/library/python:3", "linux/amd64") == python


def test_with_the_catalogue_a_node_holding_the_pods_image_scores_10():
    document = load("args-nodes.json")
    document["Pod"]["spec"].pop("initContainers")
    document["Pod"]["spec"]["containers"] = [{"name": "app", "image": "python:3.11-slim"}]
    document["Nodes"]["items"][1]["status"]["images"].append(
        {"names": ["docker.io/library/python:3.11-slim"], "sizeBytes": 131_405_287})
    answer = scores(prioritize(read_args(document), CatalogueLayerResolver(default_catalogue())))
    # The catalogue builds an image it does not know on its default base, debian, whose one layer is
    # python's first: edge-a and edge-c hold that layer through such images.
    python = default_catalogue().resolve("python:3.11-slim").layers
    debian = default_catalogue().resolve("debian").layers
    assert python[0] == debian[0] and len(debian) == 1
    shared = 10 * round(debian[0][1] * MIB) // sum(round(mib * MIB) for _, mib in python)
    assert answer == {"edge-a": shared, "edge-b": 10, "edge-c": shared}


# -- over HTTP


@pytest.fixture
def server(resolver):
    servers = []

    def start(resolver=resolver, **options):
        extender = Extender(resolver, log=lambda line: None)
        http_server, port = create_server(("127.0.0.1", 0), extender, **options)
        threading.Thread(target=http_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(http_server)
        return port

    yield start
    for http_server in servers:
        http_server.shutdown()
        http_server.server_close()


def post(port: int, path: str, body: bytes, headers: dict | None = None) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_the_http_server_answers_both_verbs_in_the_schema(server):
    port = server()
    body = (DATA / "args-nodes.json").read_bytes()
    status, result = post(port, "/filter", body)
    assert status == 200
    assert [item["metadata"]["name"] for item in result["Nodes"]["items"]] == ["edge-a", "edge-b"]
    assert list(result["FailedAndUnresolvableNodes"]) == ["edge-c"]
    status, answer = post(port, "/prioritize", body)
    assert (status, answer) == (200, [{"Host": "edge-a", "Score": 7}, {"Host": "edge-b", "Score": 1},
                                      {"Host": "edge-c", "Score": 0}])


def test_one_connection_carries_several_requests_as_the_schedulers_client_keeps_it_open(server):
    port = server()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = (DATA / "args-nodes.json").read_bytes()
    try:
        for path in ("/filter", "/prioritize", "/filter"):
            conn.request("POST", path, body=body)
            response = conn.getresponse()
            assert response.status == 200
            json.loads(response.read())
    finally:
        conn.close()


def test_the_verbs_paths_follow_the_configuration(server):
    port = server(prefix="/strata/", filter_verb="layers-filter", prioritize_verb="layers-score")
    body = (DATA / "args-nodes.json").read_bytes()
    assert post(port, "/strata/layers-filter", body)[0] == 200
    assert post(port, "/strata/layers-score", body)[0] == 200
    assert post(port, "/filter", body)[0] == 404
    assert verb_path("", "filter") == "/filter" and verb_path("/a/b/", "/v") == "/a/b/v"


def test_the_http_server_refuses_bad_and_oversized_requests(server):
    port = server(max_body=4096)
    status, result = post(port, "/filter", b'{"Pod": ')
    assert status == 400 and "not JSON" in result["Error"]
    status, result = post(port, "/prioritize", b"{}")
    assert status == 400 and "Pod" in result["Error"]
    status, result = post(port, "/filter", (DATA / "args-nodes.json").read_bytes())
    assert status == 413 and result["Error"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:  # chunked, without a length
        conn.putrequest("POST", "/filter")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"2\r\n{}\r\n0\r\n\r\n")
        assert conn.getresponse().status == 411
    finally:
        conn.close()


def test_over_http_with_layers_from_a_real_registry(server, tmp_path):
    """A docker-registry holding alpine and traefik (built on alpine's layer): a node holding traefik
    holds all of alpine, though not by name (ImageLocality would score it 0); a node holding busybox,
    none of it."""
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip(f"{REGISTRY_BINARY} is not installed (apt-get install docker-registry)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    cache = tmp_path / "images"
    build_images(cache, names=("alpine", "traefik", "busybox"), progress=lambda line: None)
    registry = RegistryServer(tmp_path / "storage", address).start()
    try:
        push_all(cache, registry.url, progress=lambda line: None, credentials=registry.credentials)
        document = load("args-nodes.json")
        document["Pod"]["spec"].pop("initContainers")
        document["Pod"]["spec"]["containers"] = [{"name": "shell", "image": "alpine:latest"}]
        document["Nodes"]["items"][0]["status"]["images"].append(
            {"names": ["docker.io/library/busybox:latest"], "sizeBytes": 4_261_574})
        document["Nodes"]["items"][1]["status"]["images"].append(
            {"names": ["docker.io/library/traefik:latest"], "sizeBytes": 145_104_937})
        resolver = CachedResolver(RegistryLayerResolver({}, RegistryClient(registry.url)))
        port = server(resolver=resolver)
        status, answer = post(port, "/prioritize", json.dumps(document).encode())
    finally:
        registry.stop()
    assert (status, scores(answer)) == (200, {"edge-a": 0, "edge-b": 10, "edge-c": 0})


def test_strata_extender_serve_answers_the_scheduler(tmp_path):
    """The command itself, offline with the catalogue, in a process of its own (stopped by its pid)."""
    process = subprocess.Popen([sys.executable, "-m", "cli", "extender", "serve", "--listen", "127.0.0.1:0",
                                "--catalogue", "--prefix", "/strata"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("strata extender: serving POST http://127.0.0.1:"), line + process.stderr.read()
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        status, answer = post(port, "/strata/prioritize", (DATA / "args-nodes.json").read_bytes())
        assert status == 200 and {entry["Host"] for entry in answer} == {"edge-a", "edge-b", "edge-c"}
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("argv", [
    ["extender", "serve"],  # no image source
    ["extender", "serve", "--registry", "http://a:5000", "--registry", "http://b:5000"],
    ["extender", "serve", "--registry", "=http://a:5000"],
    ["extender", "serve", "--registry", "docker.io=ftp://a"],
    ["extender", "serve", "--catalogue", "--listen", "8888"],
    ["extender", "serve", "--catalogue", "--nodes", "/nonexistent/nodes.json"],
])
def test_bad_serve_options_exit_2(argv, capsys):
    import cli

    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith("strata extender serve: ")


def test_registry_options_name_docker_hub_by_any_of_its_hosts():
    from cli.extender import registries

    by_host, default = registries(["index.docker.io=http://hub-mirror:5000", "registry.example.com=https://r.example.com",
                                   "http://mirror:5000"], timeout=2)
    assert {host: client.base_url for host, client in by_host.items()} == {
        "docker.io": "http://hub-mirror:5000", "registry.example.com": "https://r.example.com"}
    assert default.base_url == "http://mirror:5000" and default.timeout == 2
    with pytest.raises(ValueError, match="twice"):
        registries(["docker.io=http://a:5000", "registry-1.docker.io=http://b:5000"], timeout=2)


def test_the_pods_images_are_read_with_their_requests():
    args = read_args(load("args-nodes.json"))
    assert args.pod.name == "shop/web-7d9f8b6c5d-x2kqp"
    assert args.pod.images == ("docker.io/library/busybox:1.36", "registry.example.com/shop/web:2.1",
                               "docker.io/envoyproxy/envoy:v1.29.1")
    assert args.pod.storage_request == 50 * MIB
    document = copy.deepcopy(load("args-nodes.json"))
    init = document["Pod"]["spec"]["initContainers"][0]
    init["resources"] = {"requests": {"ephemeral-storage": "1Gi"}}  # larger than the containers' sum: it counts
    assert read_args(document).pod.storage_request == 2**30


def test_the_sample_scheduler_configuration_names_what_the_extender_serves_by_default():
    from cli.extender import DEFAULT_LISTEN

    config = yaml.safe_load((ROOT / "examples" / "kube-scheduler" / "scheduler-config.yaml").read_text())
    assert (config["apiVersion"], config["kind"]) == ("kubescheduler.config.k8s.io/v1", "KubeSchedulerConfiguration")
    [extender] = config["extenders"]
    assert extender["urlPrefix"] == f"http://{DEFAULT_LISTEN}"
    assert (extender["filterVerb"], extender["prioritizeVerb"]) == ("filter", "prioritize")
    assert isinstance(extender["weight"], int) and extender["weight"] > 0  # required with a prioritizeVerb
    assert extender["nodeCacheCapable"] is False and "bindVerb" not in extender and "preemptVerb" not in extender
    assert set(extender) <= {"urlPrefix", "filterVerb", "preemptVerb", "prioritizeVerb", "weight", "bindVerb",
                             "enableHTTPS", "tlsConfig", "httpTimeout", "nodeCacheCapable", "managedResources",
                             "ignorable"}  # the fields of kube-scheduler's config/v1 Extender
