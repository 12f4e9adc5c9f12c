"""A node starting containers: in parallel (shared layers fetched once, both bounds kept, exact accounting, clean failures) and with memory limits."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from component_base.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from dataplane.agent import node as node_module
from dataplane.agent.daemon import build_node
from dataplane.agent.layers import LayerStore
from dataplane.agent.node import Node, NodeConfig
from dataplane.agent.podnet import PodInterface, PodNetworkError
from dataplane.agent.runtime import RuncError
from dataplane.agent.state import AgentState
from images.oci import OCI_LAYER_TAR, sha256_digest, tar_archive
from images.registry import ImageManifest, LayerRef

WAIT = 5.0  # s a gate waits for the others before letting its caller go on alone


def layer(tag: str, size: int = 1000) -> tuple[str, bytes]:
    data = tar_archive({f"/{tag}/file": tag.encode() * (size // len(tag))})
    return sha256_digest(data), data


class Gate:
    """Counts the callers inside a section; each waits there until `hold` of them are in, all
    `expected` callers have come, or `wait` seconds passed; so the most that ever overlapped shows
    whether a bound was kept."""

    def __init__(self, hold: int, expected: int = 0, wait: float = WAIT):
        self.hold, self.expected, self.wait = hold, expected, wait
        self.inside = self.most = self.entered = 0
        self._cond = threading.Condition()

    def __enter__(self):
        with self._cond:
            self.inside += 1
            self.entered += 1
            self.most = max(self.most, self.inside)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.inside >= self.hold or 0 < self.expected <= self.entered,
                                timeout=self.wait)

    def open(self) -> None:
        """Lets every caller through from now on."""
        with self._cond:
            self.hold = 0
            self._cond.notify_all()

    def __exit__(self, *exc):
        with self._cond:
            self.inside -= 1


class FakeRegistry:
    """Images made of named layers; counts the fetches of each blob and how many overlap."""

    def __init__(self, images: dict[str, list[str]], *, gate: Gate | None = None, size: int = 1000):
        self.blobs = {}
        self.images = {}
        for image, tags in images.items():
            refs = []
            for tag in tags:
                digest, data = layer(tag, size)
                self.blobs[digest] = data
                refs.append(LayerRef(digest, len(data), OCI_LAYER_TAR))
            self.images[image] = tuple(refs)
        self.gate = gate or Gate(1)
        self.fetches: dict[str, int] = {}
        self._lock = threading.Lock()

    def digest(self, tag: str) -> str:
        return layer(tag)[0]

    def manifest(self, reference: str) -> ImageManifest:
        name = reference.split(":")[0]
        return ImageManifest(reference, "sha256:" + "0" * 64, "sha256:" + "1" * 64,
                             {"config": {"Cmd": ["serve"]}}, self.images[name])

    def fetch_blob(self, name: str, digest: str, dest: Path, size: int | None = None) -> int:
        with self.gate:
            with self._lock:
                self.fetches[digest] = self.fetches.get(digest, 0) + 1
            dest.write_bytes(self.blobs[digest])
        return len(self.blobs[digest])


class FakeRunc:
    """runc that 'runs' a container as this very process; `fail` names containers it cannot start."""

    def __init__(self, gate: Gate | None = None, fail: set[str] = frozenset()):
        self.gate, self.fail = gate or Gate(1), set(fail)
        self.running: set[str] = set()
        self._lock = threading.Lock()

    def run_detached(self, container_id: str, bundle: Path, log_path: Path) -> int:
        with self.gate:
            if container_id.split("-", 1)[1] in self.fail:
                raise RuncError(f"runc run {container_id} failed: no such file")
            with self._lock:
                self.running.add(container_id)
        return os.getpid()

    def delete(self, container_id: str, *, force: bool = True) -> None:
        with self._lock:
            self.running.discard(container_id)

    def stop(self, container_id: str, timeout: float = 10.0):
        self.delete(container_id)
        return None


class FakePodNetwork:
    """Namespaces as a set; `fail` names pods whose set-up fails (undone, as the real one does)."""

    def __init__(self, fail: set[str] = frozenset()):
        self.fail, self.namespaces, self._port = set(fail), set(), 0
        self._lock = threading.Lock()

    def create(self, key: str, ip: str, mac: str) -> PodInterface:
        if key.split("-", 1)[1] in self.fail:
            raise PodNetworkError(f"`ovs-vsctl add-port s1 {key}` failed")
        with self._lock:
            self._port += 1
            self.namespaces.add(key)
            return PodInterface(f"ns-{key}", f"/var/run/netns/ns-{key}", f"veth-{key}", self._port, ip, mac)

    def delete(self, key) -> None:
        with self._lock:
            self.namespaces.discard(key)

    def exists(self, key: str) -> bool:
        return key in self.namespaces


class FakeSdn:
    def __init__(self):
        self.endpoints: set[str] = set()

    def attach(self, *, name, ip, mac, switch, port, node) -> None:
        self.endpoints.add(name)

    def detach(self, name: str) -> None:
        self.endpoints.discard(name)


@pytest.fixture
def mounts(monkeypatch):
    """Overlay mounts as a set of root folders (mounting needs root)."""
    mounted: set[Path] = set()
    lock = threading.Lock()

    def mount_rootfs(lower, folder):
        for path in lower:
            assert Path(path).is_dir()
        with lock:
            mounted.add(Path(folder) / "rootfs")

    def unmount_rootfs(folder):
        with lock:
            mounted.discard(Path(folder) / "rootfs")

    monkeypatch.setattr(node_module.rootfs_mod, "mount_rootfs", mount_rootfs)
    monkeypatch.setattr(node_module.rootfs_mod, "unmount_rootfs", unmount_rootfs)
    monkeypatch.setattr(node_module.rootfs_mod, "is_mounted", lambda path: Path(path) in mounted)
    return mounted


def wait_until(condition) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def make_node(tmp_path, registry, *, runc=None, podnet=None, cpu=10_000, storage=10**7, downloads=3, starts=4):
    config = NodeConfig("edge1", "10.0.0.3", "s1", "10.0.128.0/24", cpu, storage, tmp_path, "http://r:5000", 0.01,
                        max_concurrent_downloads=downloads, max_parallel_starts=starts)
    return Node(config, store=LayerStore(tmp_path / "layers", storage), registry=registry, runc=runc or FakeRunc(),
                podnet=podnet or FakePodNetwork(), sdn=FakeSdn(), state=AgentState(tmp_path / "agent.db"))


def run_all(node: Node, requests: list[tuple[str, str]], cpu: float = 100.0) -> dict[str, object]:
    """Runs (name, image) requests all at once; name -> its (record, report) or the exception."""
    def one(request):
        name, image = request
        try:
            return node.run(name, image, cpu_millicores=cpu)
        except Exception as exc:  # noqa: BLE001 - what the caller of RunContainer would get
            return exc

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return dict(zip([n for n, _ in requests], pool.map(one, requests)))


def test_two_containers_needing_one_layer_fetch_it_once(tmp_path, mounts):
    registry = FakeRegistry({"web": ["base", "web"], "api": ["base", "api"]}, gate=Gate(3, expected=3))
    node = make_node(tmp_path, registry)
    outcomes = run_all(node, [("web", "web"), ("api", "api")])
    assert all(isinstance(o, tuple) for o in outcomes.values()), outcomes
    assert registry.fetches == {registry.digest(t): 1 for t in ("base", "web", "api")}
    base = registry.digest("base")
    reports = [report for _, report in outcomes.values()]
    assert sorted(base in r.pulled_layers for r in reports) == [False, True]  # one fetched it, one waited
    distinct = sum(len(registry.blobs[d]) for d in registry.fetches)
    assert node.pulled_bytes_total == distinct == node.store.used_bytes()
    assert sum(r.pulled_bytes for r in reports) == distinct


def test_one_pull_downloads_at_most_max_concurrent_downloads_layers(tmp_path, mounts):
    gate = Gate(2, expected=6)
    registry = FakeRegistry({"big": [f"l{k}" for k in range(6)]}, gate=gate)
    node = make_node(tmp_path, registry, downloads=2)
    node.run("big", "big")
    assert gate.most == 2 and len(registry.fetches) == 6


def test_at_most_max_parallel_starts_containers_start_at_once(tmp_path, mounts):
    runc_gate = Gate(3, expected=7)
    registry = FakeRegistry({f"img{k}": [f"layer{k}"] for k in range(7)})
    node = make_node(tmp_path, registry, runc=FakeRunc(runc_gate), starts=3)
    outcomes = run_all(node, [(f"c{k}", f"img{k}") for k in range(7)])
    assert all(isinstance(o, tuple) for o in outcomes.values()), outcomes
    assert runc_gate.most == 3
    assert [r.name for r in node.containers()] == [f"c{k}" for k in range(7)]


def test_bounds_of_one_start_containers_one_after_the_other(tmp_path, mounts):
    fetch_gate, runc_gate = Gate(2, wait=0.2), Gate(2, wait=0.2)  # a second caller would come in time
    registry = FakeRegistry({f"img{k}": [f"a{k}", f"b{k}"] for k in range(4)}, gate=fetch_gate)
    node = make_node(tmp_path, registry, runc=FakeRunc(runc_gate), downloads=1, starts=1)
    run_all(node, [(f"c{k}", f"img{k}") for k in range(4)])
    assert fetch_gate.most == 1 and runc_gate.most == 1 and len(node.containers()) == 4


def test_failed_starts_among_parallel_ones_undo_only_their_own_resources(tmp_path, mounts):
    registry = FakeRegistry({"app": ["base", "app"]})
    runc, podnet = FakeRunc(Gate(4, expected=4), fail={"c1"}), FakePodNetwork(fail={"c3"})  # c3 never reaches runc
    node = make_node(tmp_path, registry, runc=runc, podnet=podnet, cpu=1000)
    outcomes = run_all(node, [(f"c{k}", "app") for k in range(5)], cpu=200)
    failed = {n for n, o in outcomes.items() if isinstance(o, Exception)}
    assert failed == {"c1", "c3"} and all(isinstance(outcomes[n], FailedPrecondition) for n in failed)
    good = ["c0", "c2", "c4"]
    assert [r.name for r in node.containers()] == good
    assert podnet.namespaces == {f"edge1-{n}" for n in good}
    assert runc.running == {f"edge1-{n}" for n in good}
    assert mounts == {tmp_path / "containers" / n / "rootfs" for n in good}
    assert node.sdn.endpoints == {f"edge1/{n}" for n in good}
    assert not (tmp_path / "containers" / "c1").exists() and not (tmp_path / "containers" / "c3").exists()
    assert {r.name for r in node.state.containers()} == set(good)
    # their CPU, names and addresses are free again: both fit, at the two addresses released
    ips = {r.ip for r in node.containers()}
    runc.fail.clear()
    podnet.fail.clear()
    again = run_all(node, [("c1", "app"), ("c3", "app")], cpu=200)
    assert all(isinstance(o, tuple) for o in again.values()), again
    assert len(ips | {record.ip for record, _ in again.values()}) == 5


def test_parallel_starts_racing_for_the_last_cpu_get_exactly_what_fits(tmp_path, mounts):
    registry = FakeRegistry({"app": ["base"]})
    node = make_node(tmp_path, registry, runc=FakeRunc(Gate(3, expected=3)), cpu=1000)
    outcomes = run_all(node, [(f"c{k}", "app") for k in range(8)], cpu=300)
    started = [n for n, o in outcomes.items() if isinstance(o, tuple)]
    refused = [o for o in outcomes.values() if not isinstance(o, tuple)]
    assert len(started) == 3 and len(refused) == 5
    assert all(isinstance(o, FailedPrecondition) for o in refused)
    assert sum(r.cpu_millicores for r in node.containers()) == 900


def test_parallel_pulls_racing_for_the_last_storage_get_exactly_what_fits(tmp_path, mounts):
    registry = FakeRegistry({f"img{k}": [f"only{k}"] for k in range(5)}, gate=Gate(2, expected=2))
    size = len(next(iter(registry.blobs.values())))
    node = make_node(tmp_path, registry, storage=2 * size + size // 2)
    outcomes = run_all(node, [(f"c{k}", f"img{k}") for k in range(5)])
    started = [n for n, o in outcomes.items() if isinstance(o, tuple)]
    assert len(started) == 2
    assert all(isinstance(o, FailedPrecondition) for o in outcomes.values() if not isinstance(o, tuple))
    assert node.store.used_bytes() == 2 * size == node.pulled_bytes_total
    assert len(node.store.held()) == 2


def test_a_name_being_started_is_taken(tmp_path, mounts):
    runc_gate = Gate(2)  # the first start waits in runc until the gate opens
    registry = FakeRegistry({"app": ["base"]})
    node = make_node(tmp_path, registry, runc=FakeRunc(runc_gate))
    first = threading.Thread(target=node.run, args=("web", "app"))
    first.start()
    try:
        wait_until(lambda: runc_gate.inside == 1)
        with pytest.raises(AlreadyExists):
            node.run("web", "app")
    finally:
        runc_gate.open()
        first.join()
    assert [r.name for r in node.containers()] == ["web"]


def test_a_prune_during_a_start_keeps_the_layers_it_uses(tmp_path, mounts):
    registry = FakeRegistry({"app": ["base", "app"], "old": ["old"]})
    entered, release = threading.Event(), threading.Event()

    class SlowRunc(FakeRunc):
        def run_detached(self, container_id, bundle, log_path):
            entered.set()
            release.wait(WAIT)
            return super().run_detached(container_id, bundle, log_path)

    node = make_node(tmp_path, registry, runc=SlowRunc())
    node.pull("old")
    start = threading.Thread(target=node.run, args=("web", "app"))
    start.start()
    assert entered.wait(WAIT)
    removed, _ = node.prune()
    release.set()
    start.join()
    assert removed == [registry.digest("old")]
    assert set(node.store.held()) == {registry.digest("base"), registry.digest("app")}
    assert node.get("web").layers == [registry.digest("base"), registry.digest("app")]


def test_a_remove_waits_for_the_start_under_way(tmp_path, mounts):
    registry = FakeRegistry({"app": ["base"]})
    runc_gate = Gate(2)  # the start waits in runc until the gate opens
    runc = FakeRunc(runc_gate)
    node = make_node(tmp_path, registry, runc=runc)
    start = threading.Thread(target=node.run, args=("web", "app"))
    start.start()
    wait_until(lambda: runc_gate.inside == 1)
    threading.Timer(0.2, runc_gate.open).start()
    node.remove("web")  # not NotFound: it waits for the start, then removes what it made
    start.join()
    assert node.containers() == [] and runc.running == set() and mounts == set()


def test_bounds_below_one_are_refused(tmp_path):
    with pytest.raises(ValueError):
        NodeConfig("edge1", "10.0.0.3", "s1", "10.0.128.0/24", 1000, 10**7, tmp_path, "http://r:5000", 0.01,
                   max_parallel_starts=0)
    config = {"node": "edge1", "ip": "10.0.0.3", "switch": "s1", "pod_cidr": "10.0.128.0/24", "prefixlen": 16,
              "cpu_millicores": 1000, "storage_capacity_bytes": 10**7, "state_dir": str(tmp_path),
              "registry": "http://r:5000", "sdn": "unix:/nonexistent.sock", "root_netns_pid": 1,
              "netns_prefix": "t-", "max_concurrent_downloads": 0}
    with pytest.raises(InvalidArgument, match="max_concurrent_downloads"):
        build_node(config)


@pytest.mark.parametrize("limit", [-1.0, float("nan"), float("inf")])
def test_a_memory_limit_that_is_not_a_finite_non_negative_number_is_refused(tmp_path, mounts, limit):
    node = make_node(tmp_path, FakeRegistry({"web": ["web"]}))
    with pytest.raises(InvalidArgument, match="memory_limit_mib"):
        node.run("web", "web", memory_limit_mib=limit)
    assert node.records == {}


def test_the_memory_limit_is_kept_and_written_to_the_bundle(tmp_path, mounts):
    node = make_node(tmp_path, FakeRegistry({"web": ["web"], "api": ["api"]}))
    record, _ = node.run("web", "web", memory_limit_mib=16)
    assert record.memory_limit_mib == 16
    config = json.loads((node._dir("web") / "config.json").read_text())
    assert config["linux"]["resources"]["memory"] == {"limit": 16 * 2**20, "swap": 16 * 2**20}
    assert config["linux"]["resources"]["pids"] == {"limit": 1024}
    # No limit given: the node's default (512 MiB) caps it; the record keeps what was asked (none).
    record, _ = node.run("api", "api")
    assert record.memory_limit_mib == 0
    resources = json.loads((node._dir("api") / "config.json").read_text())["linux"]["resources"]
    assert resources["memory"] == {"limit": 512 * 2**20, "swap": 512 * 2**20}


def test_a_container_s_own_pids_limit_replaces_the_node_s(tmp_path, mounts):
    node = make_node(tmp_path, FakeRegistry({"web": ["web"]}))
    record, _ = node.run("web", "web", pids_limit=64)
    assert record.pids_limit == 64
    assert json.loads((node._dir("web") / "config.json").read_text())["linux"]["resources"]["pids"] == {"limit": 64}
    for bad in (-1, 2**22 + 1, 1.5):
        with pytest.raises(InvalidArgument, match="pids_limit"):
            node.run("api", "web", pids_limit=bad)
    assert set(node.records) == {"web"}


class StickyPodNetwork(FakePodNetwork):
    """As the real one: a namespace that exists cannot be made again; `stuck` deletes fail, leaving it."""

    def __init__(self):
        super().__init__()
        self.stuck = 0

    def create(self, key: str, ip: str, mac: str) -> PodInterface:
        if key in self.namespaces:
            raise PodNetworkError(f"network namespace ns-{key} already exists: delete the pod's network first")
        return super().create(key, ip, mac)

    def delete(self, key) -> None:
        if self.stuck:
            self.stuck -= 1
            raise PodNetworkError("`ovs-vsctl --timeout=10 del-port s1 veth` failed: timed out")
        super().delete(key)


def test_a_retry_succeeds_where_a_failed_start_could_not_remove_its_network(tmp_path, mounts):
    podnet, runc = StickyPodNetwork(), FakeRunc(fail={"web"})
    node = make_node(tmp_path, FakeRegistry({"app": ["base", "app"]}), runc=runc, podnet=podnet)
    podnet.stuck = 1
    with pytest.raises(FailedPrecondition):
        node.run("web", "app", cpu_millicores=100)
    assert podnet.namespaces == {"edge1-web"}  # what the failed undo left
    runc.fail.clear()
    record, _ = node.run("web", "app", cpu_millicores=100)
    assert podnet.namespaces == {"edge1-web"} and [r.name for r in node.containers()] == ["web"]
    assert record.ofport > 0
