"""The attack suite: what a workload could try against the edge, each attempt refused or contained, while the node
and a neighbour container keep working.

Pods and the control plane: from inside a container's network namespace, agents, blob servers, the registry and the
daemons' metrics are out of reach (each shown reachable from a device first); other pods, a service VIP and devices
are not, and nodes still fetch layers from one another.

From inside a pod (its network namespace): call node agents' RunContainer, push to and delete from the registry,
fetch another node's layer blobs, read agents' metrics. As a workload: a fork bomb and a memory hog beside a web
server. As a poisoned image in the registry: a layer escaping its folder and a decompression bomb. Each attempt
that reaches nothing is first shown to work from where it should (a device or the node itself), so the refusal
is the defence's doing and not a broken test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import grpc
import pytest
from strata.v1 import agent_pb2, agent_pb2_grpc, common_pb2, sdn_pb2, sdn_pb2_grpc

from conftest import wait_for
from component_base.metrics import METRICS_PORT_OFFSET
from dataplane.agent.node import endpoint_name
from harness.daemons import in_host
from harness.stack import AGENT_PORT, BLOB_PORT, ORCHESTRATOR_PORT, REGISTRY_PORT, Stack, port_addresses
from images.build import build_images, image_config, image_manifest, list_images
from images.oci import OCI_CONFIG, OCI_MANIFEST, REF_NAME, Layout, canonical_json
from topologies.catalog import load_topology

NETNS_DIR = Path("/var/run/netns")
VIP = "10.96.0.78"
ATTACKER_NODE, WEB_NODE = "edge1", "edge3"
LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image():
    build_images(progress=lambda *_: None)
    return min(list_images(), key=lambda im: im.size_bytes)


@pytest.fixture(scope="module")
def stack(image):
    with Stack(load_topology("edge-tiered"), openflow_port=6712, addresses=port_addresses(22300),
               images=[image.name], log=lambda *_: None) as running:
        yield running


def agent(stack, node):
    return agent_pb2_grpc.NodeAgentStub(stack.agent_channel(node))


def ip(stack, name: str) -> str:
    return stack.spec.host(name).ip


@pytest.fixture(scope="module")
def pods(stack, image):
    """The attacker's network namespace (a pod on edge1); a web pod on edge3 behind a service VIP."""
    agent(stack, ATTACKER_NODE).RunContainer(agent_pb2.RunContainerRequest(name="attacker", image=image.name),
                                             timeout=120)
    agent(stack, WEB_NODE).RunContainer(agent_pb2.RunContainerRequest(name="web", image=image.name), timeout=120)
    sdn = sdn_pb2_grpc.SdnServiceStub(stack.channel("sdn"))
    sdn.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
        service="attack-web", vip=VIP, protocol=common_pb2.PROTOCOL_TCP, port=80,
        endpoints=[common_pb2.Endpoint(host=endpoint_name(WEB_NODE, "web"), port=80, weight=1)]), timeout=20)
    netns = NETNS_DIR / f"{stack.netns_prefix}{ATTACKER_NODE}-attacker"
    assert netns.exists(), netns
    assert wait_for(lambda: web_answers(stack), 30, "the web service through its VIP from dev1")
    return netns


def in_pod(netns: Path, argv: list[str], timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net={netns}", *argv], capture_output=True, text=True, timeout=timeout)


def on_host(stack, host: str, argv: list[str], timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([*in_host(stack.network.net.get(host).pid), *argv], capture_output=True, text=True,
                          timeout=timeout)


def http_status(run, method: str, url: str, *headers: str) -> str:
    """curl's HTTP status for one request ("000": no connection was made within 3 s)."""
    result = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, "--max-time", "3",
                  *(f"-H{header}" for header in headers), url])
    return result.stdout.strip() or "000"


def web_answers(stack) -> bool:
    return http_status(lambda argv: on_host(stack, "dev1", argv), "GET", f"http://{VIP}/") == "200"


def still_working(stack, image) -> None:
    """The node under attack and its neighbour: the web pod answers through its VIP, both agents answer, and the
    attacked node still starts (and removes) a container."""
    assert wait_for(lambda: web_answers(stack), 20, "the web service after the attack")
    for node in (ATTACKER_NODE, WEB_NODE):
        agent(stack, node).GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    probe = f"after-{uuid.uuid4().hex[:6]}"
    started = agent(stack, WEB_NODE).RunContainer(agent_pb2.RunContainerRequest(name=probe, image=image.name),
                                                  timeout=120).container
    assert started.state == agent_pb2.CONTAINER_STATE_RUNNING, started
    agent(stack, WEB_NODE).RemoveContainer(agent_pb2.RemoveContainerRequest(name=probe), timeout=60)


def connect_command(address: str, port: int, timeout: float) -> str:
    """A shell command printing "open" once a TCP connection to address:port is made (within the timeout)."""
    return f"timeout {timeout} bash -c 'exec 3<>/dev/tcp/{address}/{port}' 2>/dev/null && echo open"


def pod_connects(netns: Path, address: str, port: int, timeout: float = 3) -> bool:
    """Whether a TCP connection opened from inside the pod's network namespace is made."""
    result = subprocess.run(["nsenter", f"--net={netns}", "sh", "-c", connect_command(address, port, timeout)],
                            capture_output=True, text=True, timeout=timeout + 10)
    return result.stdout.strip() == "open"


def host_connects(stack, host: str, address: str, port: int, timeout: float = 3) -> bool:
    return stack.network.net.get(host).cmd(connect_command(address, port, timeout)).strip() == "open"


def pod_fetches(netns: Path, url: str, timeout: float = 3) -> bool:
    result = subprocess.run(["nsenter", f"--net={netns}", "curl", "-sf", "-o", "/dev/null", "--max-time", str(timeout),
                             url], capture_output=True, timeout=timeout + 10)
    return result.returncode == 0


def control_endpoints(stack) -> dict[str, tuple[str, int]]:
    registry = ip(stack, "registry")
    return {
        "own node's agent gRPC": (ip(stack, ATTACKER_NODE), AGENT_PORT),
        "a neighbour's agent gRPC": (ip(stack, "edge2"), AGENT_PORT),
        "a far node's agent metrics": (ip(stack, "edge5"), AGENT_PORT + METRICS_PORT_OFFSET),
        "a far node's blob server": (ip(stack, WEB_NODE), BLOB_PORT),
        "the registry": (registry, REGISTRY_PORT),
        "the orchestrator's metrics": (registry, ORCHESTRATOR_PORT + METRICS_PORT_OFFSET),
    }


def test_a_pod_reaches_another_pod_and_a_service_vip(stack, pods):
    netns = pods
    web_ip = agent(stack, WEB_NODE).GetContainer(agent_pb2.GetContainerRequest(name="web"), timeout=10).ip
    assert wait_for(lambda: pod_fetches(netns, f"http://{web_ip}/"), 20, "the web pod from the probe pod")
    assert wait_for(lambda: pod_fetches(netns, f"http://{VIP}/"), 20, "the service VIP from the probe pod")


def test_a_pod_cannot_open_a_connection_to_the_control_plane(stack, pods):
    netns = pods
    endpoints = control_endpoints(stack)
    # each endpoint listens and a device reaches it, so a refusal below is the switches' doing
    for what, (address, port) in endpoints.items():
        assert wait_for(lambda: host_connects(stack, "dev1", address, port), 20, f"{what} from dev1")
    reached = [what for what, (address, port) in endpoints.items() if pod_connects(netns, address, port)]
    assert not reached, f"a pod opened connections to {reached}"


def test_a_node_still_reaches_another_nodes_blob_server(stack, pods):
    address = ip(stack, WEB_NODE)
    assert wait_for(lambda: host_connects(stack, ATTACKER_NODE, address, BLOB_PORT), 20,
                    "edge3's blob server from edge1's namespace (where its agent runs)")


# A gRPC call made from inside the pod with the repository's own stubs: prints the status code's name.
GRPC_CALL = """
import sys, grpc
from strata.v1 import agent_pb2, agent_pb2_grpc
stub = agent_pb2_grpc.NodeAgentStub(grpc.insecure_channel(sys.argv[1]))
try:
    stub.RunContainer(agent_pb2.RunContainerRequest(name="planted", image=sys.argv[2]), timeout=4)
    print("OK")
except grpc.RpcError as exc:
    print(exc.code().name)
"""


def test_a_pod_cannot_call_a_node_agent(stack, pods, image):
    calls = {node: f"{ip(stack, node)}:{AGENT_PORT}" for node in (ATTACKER_NODE, "edge2", WEB_NODE)}
    env = ["env", f"PYTHONPATH={REPO}:{REPO / 'proto'}"]
    for node, address in calls.items():
        answer = in_pod(pods, [*env, sys.executable, "-c", GRPC_CALL, address, image.name]).stdout.strip()
        assert answer in ("UNAVAILABLE", "DEADLINE_EXCEEDED"), f"{node}'s agent answered a pod: {answer}"
    for node in calls:
        names = [c.name for c in agent(stack, node).ListContainers(agent_pb2.ListContainersRequest(),
                                                                   timeout=10).containers]
        assert "planted" not in names


def test_a_pod_can_neither_push_to_nor_delete_from_the_registry(stack, pods, image):
    registry = stack.registry_url
    upload, manifest = f"{registry}/v2/planted/blobs/uploads/", f"{registry}/v2/{image.name}/manifests/{image.manifest_digest}"
    from_pod = lambda argv: in_pod(pods, argv)  # noqa: E731
    from_device = lambda argv: on_host(stack, "dev1", argv)  # noqa: E731
    # A device reaches the registry, whose gate refuses both: defence behind the switches' refusal.
    assert http_status(from_device, "POST", upload) == "401"
    assert http_status(from_device, "DELETE", manifest) == "405"
    assert http_status(from_pod, "POST", upload) == "000"
    assert http_status(from_pod, "DELETE", manifest) == "000"
    assert http_status(from_pod, "GET", f"{registry}/v2/") == "000"
    # and the image is still there, by its digest
    assert http_status(lambda argv: on_host(stack, "registry", argv), "GET", manifest,
                       f"Accept: {OCI_MANIFEST}") == "200"


def test_a_pod_cannot_fetch_another_nodes_blobs_or_read_an_agents_metrics(stack, pods, image):
    blob = f"http://{ip(stack, WEB_NODE)}:{BLOB_PORT}/v2/{image.name}/blobs/{image.layers[0].digest}"
    metrics = f"http://{ip(stack, WEB_NODE)}:{AGENT_PORT + METRICS_PORT_OFFSET}/metrics"
    # edge3 holds the web pod's layers and serves them to its peers (edge1's namespace is where its agent runs)
    assert http_status(lambda argv: on_host(stack, ATTACKER_NODE, argv), "GET", blob) == "200"
    assert http_status(lambda argv: on_host(stack, "dev1", argv), "GET", metrics) == "200"
    assert http_status(lambda argv: in_pod(pods, argv), "GET", blob) == "000"
    assert http_status(lambda argv: in_pod(pods, argv), "GET", metrics) == "000"


def test_a_fork_bomb_and_a_memory_hog_beside_a_web_pod_are_contained(stack, pods, image):
    node = agent(stack, WEB_NODE)
    bomb = node.RunContainer(agent_pb2.RunContainerRequest(
        name="bomb", image=image.name, pids_limit=64,
        command=["sh", "-c", "timeout -s KILL 20 sh -c 'f() { f | f & }; f; wait'; sleep 600"]), timeout=120).container
    hog = node.RunContainer(agent_pb2.RunContainerRequest(
        name="hog", image=image.name, memory_limit_mib=32,
        command=["python3", "-c", "b = []\nwhile True: b.append(bytearray(1 << 20))"]), timeout=120).container
    assert bomb.state == agent_pb2.CONTAINER_STATE_RUNNING and hog.name == "hog"
    try:
        oom = wait_for(lambda: (c := node.GetContainer(agent_pb2.GetContainerRequest(name="hog"), timeout=10))
                       and c.restarts >= 1 and c, 60, "the memory hog's OOM kill")
        assert oom.last_termination_reason == "OOMKilled"
        # the bomb at its limit (its forks refused) while the web pod answers and the node starts containers
        time.sleep(2)
        assert node.GetContainer(agent_pb2.GetContainerRequest(name="bomb"), timeout=10).state == agent_pb2.CONTAINER_STATE_RUNNING
        still_working(stack, image)
    finally:
        for name in ("bomb", "hog"):
            node.RemoveContainer(agent_pb2.RemoveContainerRequest(name=name), timeout=60)


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def _member(name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, target: str = "") \
        -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def _zeros_bomb(size: int) -> tuple[bytes, str]:
    """A gzip tar of one file of `size` zero bytes, compressed as written, and the tar's own digest (diff_id)."""
    out, tar_digest = io.BytesIO(), hashlib.sha256()

    class Hashing(io.RawIOBase):  # the uncompressed stream goes through here on its way into gzip
        def __init__(self, gz):
            self.gz = gz

        def writable(self):
            return True

        def write(self, data):
            tar_digest.update(data)
            return self.gz.write(data)

    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz, \
            tarfile.open(fileobj=Hashing(gz), mode="w|") as tar:
        info = tarfile.TarInfo("bomb")
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))
    return out.getvalue(), "sha256:" + tar_digest.hexdigest()


def _add_image(layout: Layout, reference: str, layer: bytes, media_type: str, diff_id: str) -> None:
    blob = layout.put_blob(layer, media_type)
    config = layout.put_blob(canonical_json(image_config(
        architecture="amd64", os_name="linux", diff_ids=[diff_id], created_by=["planted"], labels={},
        cmd=["sleep", "600"])), OCI_CONFIG)
    manifest = layout.put_blob(canonical_json(image_manifest(config, [blob])), OCI_MANIFEST)
    layout.write_index([*layout.index(), {**manifest.to_json(), "annotations": {REF_NAME: reference},
                                          "platform": {"architecture": "amd64", "os": "linux"}}])


def test_poisoned_layers_are_refused_and_leave_nothing(stack, pods, image, tmp_path):
    # Where an escape would land: a fresh folder under /tmp (never anything of the machine's own)
    landing = Path("/tmp") / f"strata-attack-{uuid.uuid4().hex[:8]}"
    landing.mkdir()
    try:
        climb = "../" * 12 + str(landing).lstrip("/")
        escapes = {  # reference -> (its one layer, what the refusal says)
            "planted-dotdot:1": (_tar([_member(f"{climb}/dotdot", b"x")]), "'..' component"),
            "planted-link-out:1": (_tar([_member("out", kind=tarfile.SYMTYPE, target=climb),
                                         _member("out/through", b"x")]), "points outside the layer"),
            "planted-through-link:1": (_tar([_member("up", kind=tarfile.SYMTYPE, target=str(landing)),
                                             _member("up/through", b"x")]), "goes through"),
        }
        bomb, bomb_diff = _zeros_bomb(256 << 20)  # about 250 KB unpacking to 256 MiB: past 100x
        layout = Layout(tmp_path / "poisoned").create()
        for reference, (layer, _) in escapes.items():
            _add_image(layout, reference, layer, "application/vnd.oci.image.layer.v1.tar",
                       "sha256:" + hashlib.sha256(layer).hexdigest())
        _add_image(layout, "planted-bomb:1", bomb, LAYER_TAR_GZIP, bomb_diff)
        push = on_host(stack, "registry", [sys.executable, "-m", "cli", "images", "push", stack.registry_url,
                                           "--cache", str(layout.root), "--credentials",
                                           str(stack.registry.credentials_path)], timeout=120)
        assert push.returncode == 0, push.stderr
        node = agent(stack, WEB_NODE)
        used = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
        refusals = {reference: reason for reference, (_, reason) in escapes.items()}
        for reference, reason in {**refusals, "planted-bomb:1": "decompression bomb"}.items():
            with pytest.raises(grpc.RpcError) as refused:
                node.RunContainer(agent_pb2.RunContainerRequest(name="planted", image=reference), timeout=120)
            assert refused.value.code() != grpc.StatusCode.UNKNOWN, refused.value.details()
            assert reason in refused.value.details(), refused.value.details()
        assert list(landing.iterdir()) == []
        after = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
        assert after.storage_used_bytes == used.storage_used_bytes
        assert "planted" not in [c.name for c in node.ListContainers(agent_pb2.ListContainersRequest(),
                                                                    timeout=10).containers]
        still_working(stack, image)
    finally:
        for leftover in landing.iterdir():
            leftover.unlink()
        landing.rmdir()
