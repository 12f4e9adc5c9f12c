"""The edge node for real: registry, layer pulls over the emulated network, runc containers on the pod network."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from strata.v1 import agent_pb2, agent_pb2_grpc

from images.build import build_images, list_images
from harness.stack import Stack, port_addresses
from conftest import wait_for
from topologies.catalog import load_topology

ROOT = Path(__file__).resolve().parents[2]
STRATA = [sys.executable, "-m", "cli"]
SMALL_NODE = "edge6"   # its storage is shrunk so that one image does not fit
SMALL_NODE_MIB = 20    # 20 MiB real = 200 KiB on the node at the emulation's scale


def sharing_pair(images):
    """Two small images with a common base and layers of their own (the smallest such pair)."""
    small = sorted((im for im in images if 200_000 < im.size_bytes < 3_000_000), key=lambda im: im.size_bytes)
    for a in small:
        for b in small:
            if a.name >= b.name:
                continue
            shared = {l.digest for l in a.layers} & {l.digest for l in b.layers}
            shared_bytes = sum(l.size for l in a.layers if l.digest in shared)
            own_b = sum(l.size for l in b.layers if l.digest not in shared)
            if shared_bytes > 300_000 and own_b > 100_000:
                return a, b
    raise AssertionError("no two small images share a base in the dataset")


@pytest.fixture(scope="module")
def images():
    build_images(progress=lambda *_: None)
    return list_images()


@pytest.fixture(scope="module")
def pair(images):
    return sharing_pair(images)


@pytest.fixture(scope="module")
def stack(images, pair):
    spec = load_topology("edge-tiered")
    spec.hosts = [dataclasses.replace(h, storage_mib=SMALL_NODE_MIB) if h.name == SMALL_NODE else h
                  for h in spec.hosts]
    names = sorted({pair[0].name, pair[1].name, "nginx"})
    with Stack(spec, openflow_port=6697, addresses=port_addresses(20080), images=names,
               log=lambda *_: None) as running:
        yield running


def agent(stack, node):
    return agent_pb2_grpc.NodeAgentStub(stack.agent_channel(node))


def curl(stack, host: str, url: str, timeout: float = 3) -> str:
    return stack.network.net.get(host).cmd(f"curl -s --max-time {timeout} {url}").strip()


def test_second_image_pulls_only_its_own_layers(stack, pair):
    a, b = pair
    node = agent(stack, "edge1")
    first = node.PullImage(agent_pb2.PullImageRequest(image=a.name), timeout=120).pull
    assert first.pulled_bytes == a.size_bytes and not first.reused_layers

    before = stack.registry_sent_bytes()
    second = node.PullImage(agent_pb2.PullImageRequest(image=b.name), timeout=120).pull
    sent = stack.registry_sent_bytes() - before
    shared = {l.digest for l in a.layers} & {l.digest for l in b.layers}
    own = [l for l in b.layers if l.digest not in shared]
    assert set(second.reused_layers) == shared
    assert set(second.pulled_layers) == {l.digest for l in own}
    assert second.pulled_bytes == sum(l.size for l in own)
    # On the wire: the layers it lacked, plus HTTP/TCP/IP overhead; not the shared base again.
    assert second.pulled_bytes <= sent <= second.pulled_bytes * 1.08 + 64_000
    assert sent < second.pulled_bytes + sum(l.size for l in b.layers if l.digest in shared)

    status = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    held = {layer.digest: layer.size_bytes for layer in status.layers}
    assert status.storage_used_bytes == sum(held.values())
    assert shared <= set(held)
    # The shared layer is on the node's disk once: one blob, one unpacked folder.
    store = stack.workdir / "nodes" / "edge1" / "layers"
    for digest in shared:
        hex_ = digest.split(":", 1)[1]
        assert len(list(store.rglob(f"{hex_}*"))) == 2  # the blob and its unpacked folder


def test_container_answers_http_from_another_site(stack, pair):
    a, _ = pair
    node = agent(stack, "edge1")
    reply = node.RunContainer(agent_pb2.RunContainerRequest(name="web", image=a.name), timeout=120)
    ip = reply.container.ip
    assert ip and ip not in {h.ip for h in stack.spec.hosts}
    far = next(h.name for h in stack.spec.hosts_with_role("device")
               if h.switch != stack.spec.host("edge1").switch)
    listing = wait_for(lambda: curl(stack, far, f"http://{ip}/layers/"), 15, f"HTTP from {far} to {ip}")
    # The root folder stacks every layer of the image: one file per layer, all visible.
    assert listing.count(".bin</a>") == len(a.layers)


def test_two_containers_on_one_server_each_reachable(stack, pair):
    _, b = pair
    node = agent(stack, "edge2")
    ips = []
    for name in ("one", "two"):
        reply = node.RunContainer(agent_pb2.RunContainerRequest(name=name, image=b.name), timeout=120)
        ips.append(reply.container.ip)
    assert len(set(ips)) == 2
    for ip in ips:
        assert wait_for(lambda ip=ip: curl(stack, "dev1", f"http://{ip}/"), 15, f"HTTP to {ip}")
    # The second container reused every layer: the node holds the image once.
    status = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    assert status.storage_used_bytes == b.size_bytes
    assert all(layer.used_by == 2 for layer in status.layers)


def test_parallel_starts_share_layers_and_a_failed_one_leaves_nothing(stack, pair):
    a, b = pair
    node = agent(stack, "edge5")
    requests = [agent_pb2.RunContainerRequest(name=f"par{k}", image=(a, b)[k % 2].name, cpu_millicores=10)
                for k in range(6)]
    requests.append(agent_pb2.RunContainerRequest(name="broken", image=a.name, command=["/no/such/program"]))
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        calls = [pool.submit(node.RunContainer, request, timeout=180) for request in requests]
        results = [call.exception() or call.result() for call in calls]
    started = results[:6]
    assert all(isinstance(r, agent_pb2.RunContainerResponse) for r in started), started
    assert results[6].code() == grpc.StatusCode.FAILED_PRECONDITION
    ips = [r.container.ip for r in started]
    assert len(set(ips)) == 6
    for ip in ips:
        assert wait_for(lambda ip=ip: curl(stack, "dev1", f"http://{ip}/"), 15, f"HTTP to {ip}")
    # Every layer came once, whichever start fetched it: the node holds and counted each once.
    distinct = {l.digest: l.size for im in (a, b) for l in im.layers}
    status = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    assert status.pulled_bytes_total == status.storage_used_bytes == sum(distinct.values())
    assert sum(r.pull.pulled_bytes for r in results[:6]) == sum(distinct.values())
    # The failed start left no container, namespace, veth, mount or CPU behind.
    assert sorted(c.name for c in status.containers) == [f"par{k}" for k in range(6)]
    assert status.cpu_requested_millicores == 60
    assert not (Path("/var/run/netns") / f"{stack.netns_prefix}edge5-broken").exists()
    assert not (stack.workdir / "nodes" / "edge5" / "containers" / "broken").exists()
    assert "/edge5/containers/broken/" not in Path("/proc/self/mountinfo").read_text()
    for k in range(6):
        node.RemoveContainer(agent_pb2.RemoveContainerRequest(name=f"par{k}"), timeout=60)


def test_killed_container_is_restarted(stack):
    node = agent(stack, "edge1")
    before = node.GetContainer(agent_pb2.GetContainerRequest(name="web"), timeout=10)
    os.kill(before.pid, signal.SIGKILL)
    after = wait_for(lambda: (c := node.GetContainer(agent_pb2.GetContainerRequest(name="web"), timeout=10))
                     and c.restarts == before.restarts + 1 and c.pid and c.pid != before.pid and c, 20,
                     "the container to be restarted")
    assert after.ip == before.ip
    assert wait_for(lambda: curl(stack, "dev3", f"http://{after.ip}/"), 15, "HTTP after the restart")


LISTENS_LATE = "import socket, time; time.sleep(2); s = socket.socket(); s.bind(('', 8080)); s.listen(); time.sleep(600)"


def test_a_container_is_ready_only_once_it_listens_on_its_ready_port(stack, pair):
    a, _ = pair
    node = agent(stack, "edge2")
    reply = node.RunContainer(agent_pb2.RunContainerRequest(
        name="late", image=a.name, command=["python3", "-c", LISTENS_LATE], ready_port=8080), timeout=120)
    try:
        assert reply.container.pid and not reply.container.ready and reply.container.ready_port == 8080
        started = time.monotonic()
        wait_for(lambda: node.GetContainer(agent_pb2.GetContainerRequest(name="late"), timeout=10).ready, 20,
                 "the container to listen")
        assert time.monotonic() - started >= 1.0  # not before its process listened
        connect = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{reply.container.ip}/8080' && echo open"
        assert stack.network.net.get("dev1").cmd(connect).strip() == "open"
    finally:
        node.RemoveContainer(agent_pb2.RemoveContainerRequest(name="late"), timeout=60)


def test_pull_beyond_the_node_storage_fails_and_changes_nothing(stack):
    node = agent(stack, SMALL_NODE)
    before = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    with pytest.raises(grpc.RpcError) as caught:
        node.RunContainer(agent_pb2.RunContainerRequest(name="big", image="nginx"), timeout=60)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "bytes" in caught.value.details() and SMALL_NODE in caught.value.details()
    after = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    assert after.storage_used_bytes == before.storage_used_bytes
    assert list(after.layers) == list(before.layers) and not after.containers
    store = stack.workdir / "nodes" / SMALL_NODE / "layers"
    assert not any((store / "tmp").iterdir()) if (store / "tmp").exists() else True


def test_corrupted_blob_is_refused(stack, images):
    """A blob whose bytes were changed in the registry's storage is served by the registry as is:
    the agent must refuse it and store nothing."""
    nginx = next(im for im in images if im.name == "nginx")
    victim = max(nginx.layers, key=lambda l: l.size)
    data = next((stack.workdir / "registry").rglob(f"blobs/sha256/*/{victim.digest.split(':')[1]}/data"))
    original = data.read_bytes()
    data.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    try:
        node = agent(stack, "edge3")
        with pytest.raises(grpc.RpcError) as caught:
            node.PullImage(agent_pb2.PullImageRequest(image="nginx"), timeout=120)
        assert caught.value.code() == grpc.StatusCode.DATA_LOSS
        assert victim.digest in caught.value.details()
        held = {layer.digest for layer in node.GetNode(agent_pb2.GetNodeRequest(), timeout=10).layers}
        assert victim.digest not in held
    finally:
        data.write_bytes(original)


def test_restarted_agent_keeps_containers_and_store(stack):
    node = agent(stack, "edge2")
    before = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    stack.restart_agent("edge2", kill=True)
    node = agent(stack, "edge2")
    after = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    assert [c.name for c in after.containers] == [c.name for c in before.containers]
    assert [c.pid for c in after.containers] == [c.pid for c in before.containers]  # adopted, not restarted
    assert [l.digest for l in after.layers] == [l.digest for l in before.layers]
    assert after.storage_used_bytes == before.storage_used_bytes
    for c in after.containers:
        assert curl(stack, "dev2", f"http://{c.ip}/")


def test_node_cli_shows_the_savings(stack, pair):
    env = {**os.environ, "STRATA_STACK": str(stack.workdir / "stack.json")}
    run = subprocess.run([*STRATA, "node", "run", "edge4", pair[1].name, "--name", "cli", "-o", "json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["pulled_bytes"] == pair[1].size_bytes and out["reused_layers"] == 0 and out["ip"]
    again = subprocess.run([*STRATA, "node", "run", "edge4", pair[0].name, "--name", "cli2", "-o", "json"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    second = json.loads(again.stdout)
    assert second["reused_layers"] >= 1 and second["pulled_bytes"] < pair[0].size_bytes
    ls = subprocess.run([*STRATA, "node", "ls", "-o", "json"], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=60)
    nodes = {n["name"]: n for n in json.loads(ls.stdout)}
    assert set(nodes) == {h.name for h in stack.spec.hosts_with_role("edge-server")}
    edge4 = nodes["edge4"]
    assert set(edge4["containers"]) == {"cli", "cli2"}
    distinct = {l.digest: l.size for im in pair for l in im.layers}
    assert set(edge4["layers"]) == set(distinct)
    assert edge4["storage_used_bytes"] == sum(distinct.values()) < pair[0].size_bytes + pair[1].size_bytes
    rm = subprocess.run([*STRATA, "node", "rm", "edge4", "cli"], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=60)
    assert rm.returncode == 0, rm.stderr
    bad = subprocess.run([*STRATA, "node", "run", "edge4", "no-such-image"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no-such-image" in bad.stderr
