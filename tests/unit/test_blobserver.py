"""The agent's blob server: peers pull held layers from it with the ordinary registry client."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from dataplane.agent import blobserver
from dataplane.agent.blobserver import BlobServer
from dataplane.agent.layers import LayerStore
from images.registry import DigestMismatch, RegistryClient, RegistryError, RegistryUnavailable

TAR = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    media_type: str


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


SMALL = tar_of({"etc/os-release": b"ID=strata\n"})
# several times the server's and the client's chunk: the body arrives in many pieces
BIG = tar_of({"app/data.bin": os.urandom(3 * (1 << 20) + 12345)})
ABSENT = sha256(b"no node holds this")


def put(store: LayerStore, *blobs: bytes) -> list[Layer]:
    """Puts blobs into the store by its normal pull path, from an in-memory fake registry."""
    by_digest = {sha256(b): b for b in blobs}

    def fetch(digest: str, dest: Path) -> int:
        dest.write_bytes(by_digest[digest])
        return len(by_digest[digest])

    layers = [Layer(sha256(b), len(b), TAR) for b in blobs]
    store.ensure(layers, fetch)
    return layers


@pytest.fixture
def store(tmp_path):
    s = LayerStore(tmp_path / "store", capacity_bytes=100_000_000, node="edge1")
    yield s
    s.close()


@pytest.fixture
def server(store):
    with BlobServer(store, ("127.0.0.1", 0)) as s:
        yield s


def client_of(server: BlobServer) -> RegistryClient:
    return RegistryClient(f"http://127.0.0.1:{server.port}", timeout=10)


def raw(server: BlobServer, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def error_codes(body: bytes) -> list[str]:
    return [e["code"] for e in json.loads(body)["errors"]]


# -- serving -------------------------------------------------------------------------------------

def test_a_peer_fetches_a_held_blob_with_the_registry_client(store, server, tmp_path):
    small, big = put(store, SMALL, BIG)
    client = client_of(server)

    assert client.ping()
    written = client.fetch_blob("any/repo", big.digest, tmp_path / "big")
    client.fetch_blob("other", small.digest, tmp_path / "small")

    assert written == big.size
    assert (tmp_path / "big").read_bytes() == BIG
    assert (tmp_path / "small").read_bytes() == SMALL
    assert server.served_bytes == big.size + small.size
    assert server.blobs_served == 2
    assert server.requests == 3  # the ping and two blobs


def test_the_counters_include_a_fetch_as_soon_as_it_returns(store, server, tmp_path):
    # The counters are read right after a fetch (the deploy experiment sums them): the server must
    # count a chunk before the peer can hold it, not after its write returned.
    (small,) = put(store, SMALL)
    client = client_of(server)
    for k in range(1, 101):
        client.fetch_blob("app", small.digest, tmp_path / "small")
        assert (server.served_bytes, server.blobs_served) == (k * small.size, k)


def test_the_version_check_answers_an_empty_object(server):
    status, headers, body = raw(server, "GET", "/v2/")
    assert (status, json.loads(body)) == (200, {})
    assert headers["content-type"] == "application/json"


def test_head_gives_the_size_and_digest_without_a_body(store, server):
    (big,) = put(store, BIG)

    status, headers, body = raw(server, "HEAD", f"/v2/app/blobs/{big.digest}")

    assert status == 200
    assert int(headers["content-length"]) == big.size
    assert headers["docker-content-digest"] == big.digest
    assert body == b""
    assert server.served_bytes == 0
    assert client_of(server).has_blob("app", big.digest)
    assert not client_of(server).has_blob("app", ABSENT)


def test_an_unknown_blob_is_the_clients_not_found_error(store, server, tmp_path):
    put(store, SMALL)

    with pytest.raises(RegistryError, match="not found") as caught:
        client_of(server).fetch_blob("app", ABSENT, tmp_path / "blob")

    assert not isinstance(caught.value, (RegistryUnavailable, DigestMismatch))
    assert "BLOB_UNKNOWN" in str(caught.value)
    assert list(tmp_path.glob("blob*")) == [] and list(tmp_path.glob(".blob*")) == []
    status, headers, body = raw(server, "GET", f"/v2/app/blobs/{ABSENT}")
    assert (status, error_codes(body)) == (404, ["BLOB_UNKNOWN"])
    assert headers["content-type"] == "application/json"
    assert server.served_bytes == 0


@pytest.mark.parametrize("digest", ["sha256:abc", "sha512:" + "0" * 128, "sha256:" + "A" * 64, "latest"])
def test_a_malformed_digest_is_refused(server, digest):
    status, _, body = raw(server, "GET", f"/v2/app/blobs/{digest}")
    assert (status, error_codes(body)) == (400, ["DIGEST_INVALID"])


def test_everything_else_is_not_found_or_not_allowed(store, server):
    (small,) = put(store, SMALL)

    assert raw(server, "GET", "/v2/app/manifests/latest")[0] == 404
    assert raw(server, "GET", "/v2/_catalog")[0] == 404
    assert raw(server, "GET", "/")[0] == 404
    assert raw(server, "GET", f"/v2/blobs/{small.digest}")[0] == 404  # no repository name
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, body = raw(server, method, f"/v2/app/blobs/{small.digest}")
        assert (status, headers["allow"], error_codes(body)) == (405, "GET, HEAD", ["UNSUPPORTED"])
    assert store.has(small.digest)
    assert server.served_bytes == 0


def test_a_query_string_does_not_change_the_blob(store, server):
    (small,) = put(store, SMALL)
    status, _, body = raw(server, "GET", f"/v2/app/blobs/{small.digest}?ns=registry.local")
    assert (status, body) == (200, SMALL)


def test_concurrent_fetches_each_get_the_whole_blob(store, server, tmp_path):
    small, big = put(store, SMALL, BIG)
    client = client_of(server)
    jobs = [(k, layer) for k in range(6) for layer in (small, big)]

    def fetch(job):
        k, layer = job
        return client.fetch_blob("app", layer.digest, tmp_path / f"{k}-{layer.digest[7:19]}")

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        written = list(pool.map(fetch, jobs))

    assert written == [layer.size for _, layer in jobs]
    for k, layer in jobs:
        assert sha256((tmp_path / f"{k}-{layer.digest[7:19]}").read_bytes()) == layer.digest
    assert server.served_bytes == 6 * (small.size + big.size)
    assert server.blobs_served == len(jobs)


def test_the_body_is_streamed_in_chunks(store, server, tmp_path, monkeypatch):
    (big,) = put(store, BIG)
    monkeypatch.setattr(blobserver, "CHUNK", 64 * 1024)
    writes = []
    real_count = BlobServer._count_bytes

    def counting(self, sent, blobs=0):
        writes.append(sent)
        real_count(self, sent, blobs)

    monkeypatch.setattr(BlobServer, "_count_bytes", counting)

    client_of(server).fetch_blob("app", big.digest, tmp_path / "big")

    assert sum(writes) == big.size
    assert max(writes) == 64 * 1024 and len(writes) == -(-big.size // (64 * 1024))


# -- only complete blobs -----------------------------------------------------------------------

def test_a_layer_still_being_pulled_is_not_served(store, server, tmp_path):
    layer = Layer(sha256(BIG), len(BIG), TAR)
    half_written, finish = threading.Event(), threading.Event()

    def slow_fetch(digest: str, dest: Path) -> int:
        with open(dest, "wb") as out:
            out.write(BIG[: len(BIG) // 2])
            out.flush()
            half_written.set()
            assert finish.wait(10)
            out.write(BIG[len(BIG) // 2:])
        return len(BIG)

    puller = threading.Thread(target=store.ensure, args=([layer], slow_fetch))
    puller.start()
    try:
        assert half_written.wait(10)
        status, _, body = raw(server, "GET", f"/v2/app/blobs/{layer.digest}")
        assert (status, error_codes(body)) == (404, ["BLOB_UNKNOWN"])
        assert raw(server, "HEAD", f"/v2/app/blobs/{layer.digest}")[0] == 404
    finally:
        finish.set()
        puller.join(10)

    assert store.has(layer.digest)
    client_of(server).fetch_blob("app", layer.digest, tmp_path / "big")
    assert (tmp_path / "big").read_bytes() == BIG


def test_a_pruned_layer_is_no_longer_served(store, server, tmp_path):
    (small,) = put(store, SMALL)
    client_of(server).fetch_blob("app", small.digest, tmp_path / "before")

    store.prune(in_use=set())

    with pytest.raises(RegistryError, match="not found"):
        client_of(server).fetch_blob("app", small.digest, tmp_path / "after")


# -- life cycle ----------------------------------------------------------------------------------

def test_stop_closes_the_port(store):
    (small,) = put(store, SMALL)
    server = BlobServer(store, ("127.0.0.1", 0))
    server.start()
    client = client_of(server)
    assert client.has_blob("app", small.digest)

    server.stop()
    server.stop()  # idempotent

    with pytest.raises(RegistryUnavailable):
        client.has_blob("app", small.digest)
    with pytest.raises(RuntimeError):
        server.port


def test_start_twice_is_refused(server):
    with pytest.raises(RuntimeError, match="already started"):
        server.start()
