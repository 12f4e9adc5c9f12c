"""The registry client and runner: reference grammar, a real docker-registry round trip, and every failure it must name."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from images.build import build_application_image, build_images
from images.oci import OCI_INDEX, OCI_MANIFEST, Layout, canonical_json
from images.registry import (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, DigestMismatch,
                             ImageNotFound, RegistryClient, RegistryError, RegistryUnavailable, TooLarge,
                             parse_reference, push_all)
from dataplane.registry.server import REGISTRY_BINARY, RegistryServer, registry_config

IMAGES = ("alpine", "traefik", "busybox")  # traefik is built on alpine's layer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- references


@pytest.mark.parametrize("text, expected", [
    ("nginx", ("nginx", "latest")),
    ("a/b:v1", ("a/b", "v1")),
    ("library/nginx:1.25-alpine", ("library/nginx", "1.25-alpine")),
    ("shop/web_v2", ("shop/web_v2", "latest")),
    ("a.b-c/d__e:T_1.0", ("a.b-c/d__e", "T_1.0")),
    ("alpine@sha256:" + "0" * 64, ("alpine", "sha256:" + "0" * 64)),
])
def test_parse_reference(text, expected):
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text", ["", " nginx", "Nginx", "nginx:", "nginx:-x", "nginx:a b", "a//b", "/a", "a/",
                                  "-a", "a--", "localhost:5000/nginx", "alpine@sha256:xyz", "alpine@md5:00",
                                  "a" * 256])
def test_bad_references_are_refused_with_the_reference_named(text):
    with pytest.raises(ValueError) as caught:
        parse_reference(text)
    assert repr(text) in str(caught.value)


def test_a_host_in_the_reference_is_explained():
    with pytest.raises(ValueError, match="base URL"):
        parse_reference("10.0.0.2:5000/nginx:latest")


def test_a_bad_base_url_is_refused():
    with pytest.raises(ValueError):
        RegistryClient("10.0.0.2:5000")


# -- the runner's configuration


def test_registry_config_is_the_yaml_docker_registry_reads(tmp_path):
    storage = tmp_path / "odd 'name' \"x\"" / "storage"
    config = yaml.safe_load(registry_config(storage, tmp_path / "registry.sock"))
    assert config["version"] == 0.1
    assert config["storage"]["filesystem"]["rootdirectory"] == str(storage)
    assert config["storage"]["delete"]["enabled"] is False
    assert yaml.safe_load(registry_config(storage, tmp_path / "r.sock", deletes=True))["storage"]["delete"]["enabled"]
    # Only on a Unix socket: the network reaches the gate in front of it, never the registry itself.
    assert config["http"] == {"net": "unix", "addr": str(tmp_path / "registry.sock")}
    assert config["log"]["level"] == "info"
    assert "auth" not in config


@pytest.mark.parametrize("addr", ["10.0.0.2", "10.0.0.2:", "10.0.0.2:99999", "10.0.0.2:http"])
def test_the_runner_refuses_a_bad_listen_address(tmp_path, addr):
    with pytest.raises(ValueError, match="HOST:PORT"):
        RegistryServer(tmp_path / "storage", addr)


# -- against a real docker-registry


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Layout:
    cache = tmp_path_factory.mktemp("images") / "cache"
    build_images(cache, names=IMAGES, progress=lambda line: None)
    build_application_image("alpine", "shop/web:v1", {"app/server.py": b"print('hi')\n"},
                            ["python3", "/app/server.py"], cache=cache)
    return Layout(cache)


@pytest.fixture
def registry(tmp_path):
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip(f"{REGISTRY_BINARY} is not installed (apt-get install docker-registry)")
    server = RegistryServer(tmp_path / "registry" / "storage", f"127.0.0.1:{free_port()}").start()
    yield server
    server.stop()


def image_blobs(layout: Layout, reference: str) -> list[dict]:
    manifest = layout.read_json(layout.find(reference)["digest"])
    return [manifest["config"], *manifest["layers"]]


def test_push_then_push_again_skips_every_blob(registry, layout):
    client = RegistryClient(registry.url, credentials=registry.credentials)
    blobs = image_blobs(layout, "traefik:latest")
    first = client.push_image(layout.root, "traefik")
    assert (first.blobs_pushed, first.blobs_skipped) == (len(blobs), 0)
    assert first.bytes_pushed == sum(blob["size"] for blob in blobs)
    again = client.push_image(layout.root, "traefik:latest")
    assert (again.blobs_pushed, again.blobs_skipped, again.bytes_pushed) == (0, len(blobs), 0)


def test_pulled_manifest_and_blobs_are_the_layouts(registry, layout, tmp_path):
    client = RegistryClient(registry.url, credentials=registry.credentials)
    client.push_image(layout.root, "shop/web:v1")
    pulled = client.manifest("shop/web:v1")
    entry = layout.find("shop/web:v1")
    manifest = layout.read_json(entry["digest"])
    assert pulled.reference == "shop/web:v1" and pulled.digest == entry["digest"]
    assert pulled.config_digest == manifest["config"]["digest"]
    assert pulled.config == layout.read_json(manifest["config"]["digest"])
    assert [(l.digest, l.size, l.media_type) for l in pulled.layers] == \
        [(l["digest"], l["size"], l["mediaType"]) for l in manifest["layers"]]
    for layer in pulled.layers:
        dest = tmp_path / "pulled"
        assert client.fetch_blob("shop/web", layer.digest, dest) == layer.size
        assert dest.read_bytes() == layout.read_blob(layer.digest)
    assert client.manifest(f"shop/web@{entry['digest']}").digest == entry["digest"]


def test_push_all_uploads_each_shared_blob_once(registry, layout):
    distinct = {blob["digest"]: blob["size"] for entry in layout.index()
                for blob in image_blobs(layout, entry["annotations"]["org.opencontainers.image.ref.name"])}
    report = push_all(layout.root, registry.url, parallel=3, progress=lambda line: None, credentials=registry.credentials)
    assert report.blobs_pushed == len(distinct) and report.bytes_pushed == sum(distinct.values())
    assert report.blobs_mounted >= 2  # alpine's layer reaches traefik and shop/web without a second upload
    client = RegistryClient(registry.url, credentials=registry.credentials)
    assert client.catalog() == sorted(["alpine", "busybox", "shop/web", "traefik"])
    assert client.tags("shop/web") == ["v1"] and client.tags("alpine") == ["latest"]
    for reference in ("traefik", "shop/web:v1"):
        name, _ = parse_reference(reference)
        assert all(client.has_blob(name, layer.digest) for layer in client.manifest(reference).layers)
    again = push_all(layout.root, registry.url, progress=lambda line: None, credentials=registry.credentials)
    assert (again.blobs_pushed, again.bytes_pushed, again.blobs_mounted) == (0, 0, 0)


def test_image_layers_follow_a_multi_platform_index_to_the_asked_platform(registry, layout):
    client = RegistryClient(registry.url, credentials=registry.credentials)
    client.push_image(layout.root, "traefik:latest")
    amd64_digest = layout.find("traefik:latest")["digest"]
    amd64_bytes = layout.read_blob(amd64_digest)
    # alpine's manifest, pushed into traefik's repository, stands for traefik's arm64 build
    arm64_bytes = layout.read_blob(layout.find("alpine:latest")["digest"])
    arm64 = json.loads(arm64_bytes)
    client.push_blob("traefik", arm64["config"]["digest"], layout.blob_path(arm64["config"]["digest"]))
    arm64_digest = client.push_manifest("traefik", "arm64-build", arm64_bytes, OCI_MANIFEST)
    index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": arm64_digest, "size": len(arm64_bytes),
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        {"mediaType": OCI_MANIFEST, "digest": amd64_digest, "size": len(amd64_bytes),
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": OCI_MANIFEST, "digest": amd64_digest, "size": len(amd64_bytes),  # as an attestation
         "platform": {"architecture": "unknown", "os": "unknown"}}]})
    index_digest = client.push_manifest("traefik", "multi", index, OCI_INDEX)

    amd64 = client.image_layers("traefik:multi")
    assert (amd64.manifest_digest, amd64.platform) == (amd64_digest, "linux/amd64")
    assert [(l.digest, l.size) for l in amd64.layers] == \
        [(l["digest"], l["size"]) for l in json.loads(amd64_bytes)["layers"]]
    by_digest = client.image_layers(f"traefik@{index_digest}", platform="linux/arm64")
    assert by_digest.manifest_digest == arm64_digest
    assert [l.digest for l in by_digest.layers] == [l["digest"] for l in arm64["layers"]]
    with pytest.raises(RegistryError, match="no linux/s390x manifest .*linux/arm64, linux/amd64"):
        client.image_layers("traefik:multi", platform="linux/s390x")
    with pytest.raises(RegistryError):  # what the node agent pulls stays single-platform: manifest() does
        client.manifest("traefik:multi")  # not accept an index, and the registry answers 404 without one
    assert client.image_layers("traefik").layers == client.manifest("traefik").layers  # a plain manifest
    with pytest.raises(ImageNotFound):
        client.image_layers("traefik:nope")


def test_unknown_images_raise_image_not_found_naming_image_and_registry(registry, layout):
    client = RegistryClient(registry.url, credentials=registry.credentials)
    client.push_image(layout.root, "busybox")
    for reference in ("nosuch", "busybox:nosuchtag"):
        with pytest.raises(ImageNotFound) as caught:
            client.manifest(reference)
        assert reference.split(":")[0] in str(caught.value) and registry.url in str(caught.value)
    with pytest.raises(ImageNotFound):
        client.tags("nosuch")
    assert not client.has_blob("busybox", digest_of(b"never pushed"))


def test_the_registry_refuses_a_blob_that_does_not_match_its_digest(registry, tmp_path):
    client = RegistryClient(registry.url, credentials=registry.credentials)
    path = tmp_path / "blob"
    path.write_bytes(b"these bytes")
    claimed = digest_of(b"other bytes")
    with pytest.raises(RegistryError):
        client.push_blob("x", claimed, path)
    assert not client.has_blob("x", claimed)
    client.push_blob("x", digest_of(b"these bytes"), path)
    assert client.has_blob("x", digest_of(b"these bytes"))
    with pytest.raises(RegistryError):
        client.fetch_blob("x", claimed, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_the_runner_starts_through_the_given_popen_and_stops_by_pid(tmp_path):
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip(f"{REGISTRY_BINARY} is not installed (apt-get install docker-registry)")
    launched = []

    def popen(args, **kwargs):
        launched.append(args)
        return subprocess.Popen(args, **kwargs)

    server = RegistryServer(tmp_path / "storage", f"127.0.0.1:{free_port()}", popen=popen).start()
    try:
        assert launched[0] == [REGISTRY_BINARY, "serve", str(tmp_path / "registry.yml")]
        assert launched[1][1:4] == ["-m", "dataplane.registry.gate", "--listen"]
        assert RegistryClient(server.url).ping()
        clash = RegistryServer(tmp_path / "other" / "storage", server.listen_addr, popen=popen)
        with pytest.raises(RuntimeError, match="already answers"):
            clash.start()
        assert len(launched) == 2

    finally:
        server.stop()
    assert server.process.poll() is not None
    assert not RegistryClient(server.url, timeout=1).ping()
    assert (tmp_path / "registry.log").exists()


def test_a_registry_that_cannot_start_is_reported_with_its_log(tmp_path):
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip(f"{REGISTRY_BINARY} is not installed (apt-get install docker-registry)")
    # An address of no interface here: the registry cannot bind and exits.
    server = RegistryServer(tmp_path / "storage", "192.0.2.1:5000", ready=lambda: False)
    with pytest.raises(RuntimeError, match="(?i)cannot assign requested address"):
        server.start(timeout=10)
    assert not server.running()


# -- failures, against a fake registry serving what a test asks


class FakeRegistry(http.server.ThreadingHTTPServer):
    """Answers each path with (status, headers, body); a body longer than Content-Length is cut."""

    def __init__(self, routes: dict[str, tuple[int, dict, bytes]]):
        self.routes = routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):
                status, headers, body = self.routes.get(handler.path, (404, {}, b'{"errors":[]}'))
                handler.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **headers}.items():
                    handler.send_header(key, value)
                handler.end_headers()
                handler.wfile.write(body)

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):  # a client that stopped reading
            super().handle_error(request, client_address)


@pytest.fixture
def fake():
    servers = []

    def start(routes):
        servers.append(FakeRegistry(routes))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_blob_whose_bytes_do_not_match_raises_digest_mismatch_and_leaves_nothing(fake, tmp_path):
    expected = digest_of(b"the right bytes")
    wrong = b"the wrong bytes" * 100_000  # more than one read chunk: checked while streaming
    server = fake({f"/v2/x/blobs/{expected}": (200, {}, wrong)})
    dest = tmp_path / "layer.tar"
    dest.write_bytes(b"an older download")
    with pytest.raises(DigestMismatch) as caught:
        RegistryClient(server.url).fetch_blob("x", expected, dest)
    assert expected in str(caught.value) and digest_of(wrong) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_manifest_whose_bytes_do_not_match_raises_digest_mismatch(fake):
    body = json.dumps({"schemaVersion": 2, "config": {}, "layers": []}).encode()
    server = fake({"/v2/x/manifests/latest": (200, {"Docker-Content-Digest": digest_of(b"something else")}, body)})
    with pytest.raises(DigestMismatch, match=digest_of(body)):
        RegistryClient(server.url).manifest("x")


def test_a_config_whose_bytes_do_not_match_raises_digest_mismatch(fake):
    config_digest = digest_of(b'{"os": "linux"}')
    body = json.dumps({"schemaVersion": 2, "config": {"digest": config_digest, "size": 17}, "layers": []}).encode()
    server = fake({"/v2/x/manifests/latest": (200, {}, body),
                   f"/v2/x/blobs/{config_digest}": (200, {}, b'{"os": "windows"}')})
    with pytest.raises(DigestMismatch, match=config_digest):
        RegistryClient(server.url).manifest("x")


def test_a_config_larger_than_its_descriptor_or_the_cap_is_not_read(fake):
    config = b'{"os": "linux"}'
    small = json.dumps({"schemaVersion": 2, "config": {"digest": digest_of(config), "size": 5}, "layers": []})
    huge = json.dumps({"schemaVersion": 2, "config": {"digest": digest_of(config), "size": MAX_CONFIG_BYTES + 1},
                       "layers": []})
    server = fake({"/v2/x/manifests/latest": (200, {}, small.encode()), "/v2/y/manifests/latest": (200, {}, huge.encode()),
                   f"/v2/x/blobs/{digest_of(config)}": (200, {}, config)})
    with pytest.raises(TooLarge):
        RegistryClient(server.url).manifest("x")
    with pytest.raises(TooLarge):
        RegistryClient(server.url).manifest("y")


def test_a_manifest_over_the_cap_is_not_read(fake):
    server = fake({"/v2/x/manifests/latest": (200, {}, b" " * (MAX_MANIFEST_BYTES + 1)),
                   "/v2/y/manifests/latest": (200, {"Content-Length": ""}, b" " * (MAX_MANIFEST_BYTES + 1))})
    for name in ("x", "y"):  # announced, and not announced (read up to the cap, then stopped)
        with pytest.raises(TooLarge):
            RegistryClient(server.url).manifest(name)


def test_a_blob_larger_than_its_descriptor_stops_the_download_and_leaves_nothing(fake, tmp_path):
    blob = b"x" * (3 << 20)
    server = fake({f"/v2/x/blobs/{digest_of(blob)}": (200, {}, blob),
                   f"/v2/y/blobs/{digest_of(blob)}": (200, {"Content-Length": ""}, blob)})
    for name in ("x", "y"):  # announced larger (nothing read), and streamed past the size (stopped)
        with pytest.raises(TooLarge):
            RegistryClient(server.url).fetch_blob(name, digest_of(blob), tmp_path / "blob", size=1000)
        assert list(tmp_path.iterdir()) == []
    assert RegistryClient(server.url).fetch_blob("x", digest_of(blob), tmp_path / "blob", size=len(blob)) == len(blob)


def test_a_client_that_follows_no_redirects_refuses_them(fake, tmp_path):
    blob = b"elsewhere"
    server = fake({f"/v2/x/blobs/{digest_of(blob)}": (307, {"Location": f"/v2/y/blobs/{digest_of(blob)}"}, b""),
                   f"/v2/y/blobs/{digest_of(blob)}": (200, {}, blob)})
    assert RegistryClient(server.url).fetch_blob("x", digest_of(blob), tmp_path / "a") == len(blob)
    with pytest.raises(RegistryError, match="307"):
        RegistryClient(server.url, follow_redirects=False).fetch_blob("x", digest_of(blob), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_a_cut_download_raises_unavailable_and_leaves_nothing(fake, tmp_path):
    digest = digest_of(b"x" * 1000)
    server = fake({f"/v2/x/blobs/{digest}": (200, {"Content-Length": "1000"}, b"x" * 10)})
    with pytest.raises(RegistryUnavailable):
        RegistryClient(server.url, timeout=5).fetch_blob("x", digest, tmp_path / "blob")
    assert list(tmp_path.iterdir()) == []


def test_a_server_error_raises_unavailable(fake):
    server = fake({"/v2/x/manifests/latest": (503, {}, b'{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}')})
    with pytest.raises(RegistryUnavailable, match="503"):
        RegistryClient(server.url).manifest("x")


def test_image_layers_follow_a_docker_manifest_list_and_refuse_a_nested_index(fake):
    layer = {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": digest_of(b"l"), "size": 42}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {"digest": digest_of(b"c")},
                           "layers": [layer]}).encode()
    nested = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": []}).encode()

    def listing(digest):
        return json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": [
            {"mediaType": DOCKER_MANIFEST, "digest": digest, "size": 1,
             "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()

    server = fake({"/v2/x/manifests/latest": (200, {}, listing(digest_of(manifest))),
                   f"/v2/x/manifests/{digest_of(manifest)}": (200, {}, manifest),
                   "/v2/x/manifests/nested": (200, {}, listing(digest_of(nested))),
                   f"/v2/x/manifests/{digest_of(nested)}": (200, {}, nested)})
    client = RegistryClient(server.url)
    found = client.image_layers("x")
    assert [(l.digest, l.size) for l in found.layers] == [(layer["digest"], 42)]
    with pytest.raises(RegistryError, match="nested"):
        client.image_layers("x:nested")


def test_nothing_listening_raises_unavailable_naming_the_registry():
    url = f"http://127.0.0.1:{free_port()}"
    client = RegistryClient(url, timeout=2)
    assert not client.ping()
    with pytest.raises(RegistryUnavailable, match=url):
        client.manifest("nginx")
    with pytest.raises(RegistryUnavailable):
        client.catalog()


def test_a_registry_that_never_answers_times_out_as_unavailable():
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        client = RegistryClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        with pytest.raises(RegistryUnavailable, match="timed out"):
            client.manifest("nginx")
