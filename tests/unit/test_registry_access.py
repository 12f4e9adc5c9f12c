"""The registry's access: reads open, writes only with the push credentials, deletes off; pulls by digest immune to a moved tag."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from api.app import ServiceSpec
from component_base.errors import Unavailable
from controller.orchestrator.registry_images import RegistryImages
from dataplane.registry import gate
from dataplane.registry.access import decide
from dataplane.registry.server import REGISTRY_BINARY, RegistryServer, registry_config
from images import credentials as registry_credentials
from images.build import build_application_image, build_images
from images.credentials import Credentials
from images.oci import OCI_MANIFEST, Layout
from images.registry import RegistryClient, RegistryError, push_all

KEYS = Credentials("orchestrator", "s3cret-s3cret")
WRONG = Credentials("orchestrator", "guess")


def basic(credentials: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()


# -- the decision, pure


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_reads_need_nothing(method):
    assert decide(method, None, KEYS, deletes=False) is None
    assert decide(method, basic(WRONG), KEYS, deletes=False) is None


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_writes_need_the_credentials(method):
    missing = decide(method, None, KEYS, deletes=False)
    assert (missing.status, missing.code) == (401, "UNAUTHORIZED")
    assert missing.headers["WWW-Authenticate"].startswith("Basic realm=")
    wrong = decide(method, basic(WRONG), KEYS, deletes=False)
    assert (wrong.status, wrong.code) == (403, "DENIED")
    for garbled in ("Basic !!!", "Basic", "Digest abc", f"Bearer {WRONG.password}"):
        assert decide(method, garbled, KEYS, deletes=False).status == 403, garbled
    assert decide(method, basic(KEYS), KEYS, deletes=False) is None
    assert decide(method, KEYS.authorization(), KEYS, deletes=False) is None
    assert decide(method, f"Bearer {KEYS.password}", KEYS, deletes=False) is None


def test_deletes_are_refused_unless_turned_on_and_then_need_the_credentials():
    refused = decide("DELETE", basic(KEYS), KEYS, deletes=False)
    assert (refused.status, refused.code) == (405, "UNSUPPORTED")
    assert decide("DELETE", None, KEYS, deletes=True).status == 401
    assert decide("DELETE", basic(KEYS), KEYS, deletes=True) is None


def test_other_methods_are_refused():
    assert decide("OPTIONS", basic(KEYS), KEYS, deletes=True).status == 405
    assert decide("TRACE", None, KEYS, deletes=True).status == 405


def test_a_refusal_has_the_oci_error_body():
    body = json.loads(decide("PUT", None, KEYS, deletes=False).body())
    assert [error["code"] for error in body["errors"]] == ["UNAUTHORIZED"]
    assert body["errors"][0]["message"]


# -- the credentials file


def test_credentials_are_created_private_and_read_back(tmp_path):
    path = tmp_path / "registry-credentials.json"
    created = registry_credentials.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert registry_credentials.load_or_create(path) == created == registry_credentials.load(path)
    assert len(created.password) >= 40
    assert registry_credentials.generate() != created  # fresh for every run


def test_credentials_are_never_written_through_a_symlink(tmp_path):
    target = tmp_path / "target"
    target.write_text("untouched")
    link = tmp_path / "registry-credentials.json"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        registry_credentials.create(link)
    assert target.read_text() == "untouched"


@pytest.mark.parametrize("text", ["", "[]", '{"username": "a"}', '{"username": "a:b", "password": "p"}',
                                  '{"username": "a", "password": ""}'])
def test_a_bad_credentials_file_is_refused(tmp_path, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(ValueError):
        registry_credentials.load(path)


# -- the gate in process, in front of a real docker-registry


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("images") / "cache"
    build_images(cache, names=("alpine",), progress=lambda line: None)
    build_application_image("alpine", "shop/web:v1", {"app/server.py": b"print('v1')\n"},
                            ["python3", "/app/server.py"], cache=cache)
    build_application_image("alpine", "shop/web:v2", {"app/server.py": b"print('v2')\n"},
                            ["python3", "/app/server.py"], cache=cache)
    return cache


@pytest.fixture
def upstream(tmp_path):
    """docker-registry on a Unix socket of tmp_path, as RegistryServer runs it."""
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip(f"{REGISTRY_BINARY} is not installed (apt-get install docker-registry)")
    sock = tmp_path / "r.sock"
    config = tmp_path / "registry.yml"
    config.write_text(registry_config(tmp_path / "storage", sock, log_level="error"))
    process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert process.poll() is None and time.monotonic() < deadline, "docker-registry did not start"
        time.sleep(0.05)
    yield str(sock)
    process.terminate()
    process.wait(10)


@pytest.fixture
def registry_url(upstream):
    server, port = gate.create_server("127.0.0.1:0", upstream, KEYS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def request(url: str, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_a_push_without_credentials_is_refused_and_stores_nothing(registry_url, cache):
    with pytest.raises(RegistryError, match="401"):
        push_all(cache, registry_url, names=["alpine"], progress=lambda line: None)
    with pytest.raises(RegistryError, match="403"):
        push_all(cache, registry_url, names=["alpine"], progress=lambda line: None, credentials=WRONG)
    status, headers, body = request(registry_url, "POST", "/v2/alpine/blobs/uploads/")
    assert status == 401 and "WWW-Authenticate" in headers
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
    assert RegistryClient(registry_url).catalog() == []


def test_a_push_with_credentials_is_accepted_and_pulled_without(registry_url, cache, tmp_path):
    push_all(cache, registry_url, names=["alpine"], progress=lambda line: None, credentials=KEYS)
    reader = RegistryClient(registry_url)  # no credentials: pulls are open
    layers = reader.image_layers("alpine:latest")
    blob = layers.layers[0]
    assert reader.fetch_blob("alpine", blob.digest, tmp_path / "blob", blob.size) == blob.size


def test_deletes_are_refused_and_delete_nothing(registry_url, cache):
    push_all(cache, registry_url, names=["alpine"], progress=lambda line: None, credentials=KEYS)
    digest = RegistryClient(registry_url).image_layers("alpine:latest").manifest_digest
    for headers in ({}, {"Authorization": KEYS.authorization()}):
        status, _, body = request(registry_url, "DELETE", f"/v2/alpine/manifests/{digest}", headers=headers)
        assert status == 405 and json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
    assert RegistryClient(registry_url).image_layers(f"alpine@{digest}").manifest_digest == digest


def test_a_pull_by_digest_gets_the_old_content_after_the_tag_moved(registry_url, cache):
    pusher = RegistryClient(registry_url, credentials=KEYS)
    layout = Layout(cache)
    pusher.push_image(cache, "alpine:latest")
    pusher.push_image(cache, "shop/web:v1")
    pinned = RegistryClient(registry_url).manifest("shop/web:v1")
    # The tag v1 moved to v2's content (only the credentials' holder can do this).
    v2 = layout.read_blob(layout.find("shop/web:v2")["digest"])
    for blob in json.loads(v2)["layers"] + [json.loads(v2)["config"]]:
        if not pusher.has_blob("shop/web", blob["digest"]):
            pusher.push_blob("shop/web", blob["digest"], layout.blob_path(blob["digest"]))
    pusher.push_manifest("shop/web", "v1", v2, OCI_MANIFEST)
    moved = RegistryClient(registry_url).manifest("shop/web:v1")
    assert moved.digest != pinned.digest
    again = RegistryClient(registry_url).manifest(f"shop/web@{pinned.digest}")
    assert (again.digest, again.layers, again.config) == (pinned.digest, pinned.layers, pinned.config)


def test_a_chunked_upload_is_relayed(registry_url):
    data = os.urandom(300_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    auth = {"Authorization": KEYS.authorization()}
    status, headers, _ = request(registry_url, "POST", "/v2/raw/blobs/uploads/", headers=auth)
    assert status == 202
    conn = http.client.HTTPConnection(registry_url.removeprefix("http://"), timeout=10)
    conn.request("PATCH", headers["Location"], body=iter([data[:100_000], data[100_000:]]),
                 headers={**auth, "Content-Type": "application/octet-stream"}, encode_chunked=True)
    response = conn.getresponse()
    location = response.getheader("Location")
    response.read()
    conn.close()
    assert response.status == 202
    status, _, _ = request(registry_url, "PUT", f"{location}&digest={digest}", headers=auth)
    assert status == 201
    assert RegistryClient(registry_url).has_blob("raw", digest)


# -- the runner and the orchestrator's images


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_orchestrator_pushes_with_credentials_and_hands_out_a_digest(tmp_path, cache):
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip(f"{REGISTRY_BINARY} is not installed (apt-get install docker-registry)")
    with RegistryServer(tmp_path / "run" / "storage", f"127.0.0.1:{free_port()}") as server:
        assert server.credentials_path == tmp_path / "run" / "registry-credentials.json"
        assert stat.S_IMODE(server.credentials_path.stat().st_mode) == 0o600
        refused = RegistryImages(server.url, cache, log=lambda line: None)
        with pytest.raises(Unavailable, match="401"):
            refused.prepare(ServiceSpec(name="db", image="alpine"), lambda phase, message: None)
        images = RegistryImages(server.url, cache, log=lambda line: None, credentials=server.credentials)
        image = images.prepare(ServiceSpec(name="db", image="alpine"), lambda phase, message: None)
        name, _, digest = image.reference.partition("@")
        assert name == "alpine" and digest == RegistryClient(server.url).image_layers("alpine:latest").manifest_digest
        pulled = RegistryClient(server.url).image_layers(image.reference)
        assert [(layer.digest, layer.size) for layer in pulled.layers] == image.layers
    assert server.gate.poll() is not None and server.process.poll() is not None


def test_a_malformed_body_is_refused_before_the_registry(registry_url):
    auth = {"Authorization": KEYS.authorization()}
    status, _, _ = request(registry_url, "POST", "/v2/raw/blobs/uploads/", headers={**auth, "Content-Length": "x"})
    assert status == 400
    conn = http.client.HTTPConnection(registry_url.removeprefix("http://"), timeout=10)
    conn.putrequest("POST", "/v2/raw/blobs/uploads/")
    conn.putheader("Authorization", KEYS.authorization())
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"zz\r\nhello\r\n0\r\n\r\n")
    response = conn.getresponse()
    conn.close()
    assert response.status == 400
    assert RegistryClient(registry_url).catalog() == []
