"""A node pulls each missing layer from the peer the orchestrator named, the registry otherwise."""

from __future__ import annotations

from pathlib import Path

from dataplane.agent.layers import LayerStore
from dataplane.agent.node import Node, NodeConfig
from dataplane.agent.state import AgentState
from images.oci import OCI_LAYER_TAR, sha256_digest, tar_archive
from images.registry import ImageManifest, LayerRef, RegistryError, RegistryUnavailable

BLOBS = {}
for k in range(3):
    data = tar_archive({f"/layer{k}/file": bytes([k]) * (1000 + k)})
    BLOBS[sha256_digest(data)] = data
DIGESTS = list(BLOBS)


class BlobSource:
    """A registry or a peer: serves some blobs, records what was asked."""

    def __init__(self, blobs: dict[str, bytes], *, down: bool = False):
        self.blobs, self.down, self.fetched = blobs, down, []

    def manifest(self, reference):
        layers = tuple(LayerRef(d, len(BLOBS[d]), OCI_LAYER_TAR) for d in DIGESTS)
        return ImageManifest(reference, "sha256:" + "0" * 64, "sha256:" + "1" * 64, {"config": {"Cmd": ["x"]}}, layers)

    def fetch_blob(self, name: str, digest: str, dest: Path, size: int | None = None) -> int:
        if self.down:
            raise RegistryUnavailable("connection refused")
        if digest not in self.blobs:
            raise RegistryError(f"blob {digest} not found")
        self.fetched.append(digest)
        dest.write_bytes(self.blobs[digest])
        return len(self.blobs[digest])


def node(tmp_path, registry, peers):
    config = NodeConfig("edge1", "10.0.0.3", "s1", "10.0.128.0/24", 1000, 10**7, tmp_path, "http://r:5000", 0.01)
    n = Node(config, store=LayerStore(tmp_path / "layers", 10**7), registry=registry, runc=None, podnet=None,
             sdn=None, state=AgentState(tmp_path / "agent.db"))
    n.peer_client = lambda url: peers[url]
    return n


def test_layers_come_from_the_named_peer_and_the_rest_from_the_registry(tmp_path):
    registry, peer = BlobSource(BLOBS), BlobSource({DIGESTS[0]: BLOBS[DIGESTS[0]], DIGESTS[1]: BLOBS[DIGESTS[1]]})
    n = node(tmp_path, registry, {"http://10.0.0.2:50061": peer})
    _, report = n.pull("app", {DIGESTS[0]: "http://10.0.0.2:50061", DIGESTS[1]: "http://10.0.0.2:50061"})
    assert peer.fetched == DIGESTS[:2] and registry.fetched == DIGESTS[2:]
    assert set(report.peer_layers) == set(DIGESTS[:2]) and report.pulled_layers == DIGESTS[2:]
    assert report.peer_bytes == len(BLOBS[DIGESTS[0]]) + len(BLOBS[DIGESTS[1]])
    assert report.pulled_bytes == len(BLOBS[DIGESTS[2]])
    assert n.peer_bytes_total == report.peer_bytes and n.pulled_bytes_total == report.pulled_bytes


def test_a_failing_peer_falls_back_to_the_registry(tmp_path):
    registry = BlobSource(BLOBS)
    n = node(tmp_path, registry, {"http://10.0.0.8:50061": BlobSource({}, down=True), "http://10.0.0.9:50061": BlobSource({})})
    _, report = n.pull("app", {DIGESTS[0]: "http://10.0.0.8:50061", DIGESTS[1]: "http://10.0.0.9:50061"})
    assert sorted(registry.fetched) == sorted(DIGESTS)
    assert report.peer_bytes == 0 and sorted(report.pulled_layers) == sorted(DIGESTS)
    assert all(n.store.has(d) for d in DIGESTS)
