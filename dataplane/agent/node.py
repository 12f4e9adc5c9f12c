"""The node: pulls images, runs containers on the pod network, keeps them running, and recovers after a restart.

Ties the layer store, the overlay root folders, runc, the pod network and the SDN together,
the way a kubelet ties containerd and a CNI plugin. Containers start in parallel, up to
`max_parallel_starts` at once (each start pulls its image, `max_concurrent_downloads` layers at
a time, as containerd's setting of that name, then mounts, plumbs and runs it); what must be
serial on the node (the name, CPU, memory and address reservations, the records) is done in short
critical sections that never wait on I/O. Each container has a lock of its own, so stopping,
starting or removing one never waits for another; reads never wait at all. A supervisor thread
restarts containers whose process died, with back-off.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import programs
from component_base.backoff import QUICK_DEATH_SECONDS, restart_delay
from component_base.errors import (AlreadyExists, DataLoss, DomainError, FailedPrecondition, InvalidArgument, NotFound,
                                   Unavailable)
from api import bounds
from images.registry import (DigestMismatch, ImageNotFound, RegistryError, RegistryUnavailable,
                             parse_reference, reference_text)

from . import rootfs as rootfs_mod
from .bundle import (DEFAULT_MEMORY_LIMIT_MIB, DEFAULT_PIDS_LIMIT, EXTRA_CAPABILITIES, effective_memory_limit_mib,
                     runtime_config)
from .layers import LayerStore
from .logs import DEFAULT_MAX_LOG_BYTES, read_tail, rotate
from .podnet import PodAddresses, PodNetwork, PodNetworkError
from .readiness import listens_on
from .runtime import Runc, RuncError, process_alive, reaped_exit_code
from .state import OOM_KILLED, RESTARTING, RUNNING, STOPPED, AgentState, ContainerRecord, ImageRecord

log = logging.getLogger("strata.agent")

NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_REFERENCE = 512  # characters of an image reference (a 255-character name and a tag or digest fit)
HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
# The platform's service program (the stand-in for an app's code), bound read-only into every
# container, as the host's /usr is: the orchestrator runs `python3 SERVICE_PROGRAM_PATH`.
SERVICE_PROGRAM = Path(programs.__file__).parent / "service" / "program.py"
SERVICE_PROGRAM_PATH = "/opt/strata/program.py"
VNF_PROGRAM = Path(programs.__file__).parent / "vnf" / "program.py"
VNF_PROGRAM_PATH = "/opt/strata/vnf.py"  # the VNF programs (programs/vnf), bound the same way
DEFAULT_CPU_MILLICORES = 100.0
# Layers one image pull downloads at once: containerd's default max_concurrent_downloads.
DEFAULT_MAX_CONCURRENT_DOWNLOADS = 3
# Container starts (pull, root folder, pod network, SDN endpoint, runc) under way at once on a node.
DEFAULT_MAX_PARALLEL_STARTS = 4


class EndpointRegistrar(Protocol):
    """The SDN side of the CNI role: make a pod routable, or not."""

    def attach(self, *, name: str, ip: str, mac: str, switch: str, port: int, node: str) -> None: ...

    def detach(self, name: str) -> None: ...


class Registry(Protocol):
    def manifest(self, reference: str): ...

    def fetch_blob(self, name: str, digest: str, dest: Path, size: int | None = None) -> int: ...


@dataclass(frozen=True)
class NodeConfig:
    name: str                      # the edge server, e.g. "edge1"
    ip: str                        # its address on the emulated network
    switch: str                    # the switch it and its pods hang off
    pod_cidr: str                  # the node's pod range
    cpu_millicores: float
    storage_capacity_bytes: int
    state_dir: Path
    registry_url: str
    image_scale: float
    max_concurrent_downloads: int = DEFAULT_MAX_CONCURRENT_DOWNLOADS  # layers per image pull at once
    max_parallel_starts: int = DEFAULT_MAX_PARALLEL_STARTS            # container starts at once
    memory_mib: float = 0.0  # memory for containers' requests, MiB; 0 = not given: no admission by memory
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES  # a container's log is rotated past this (the newest kept)
    pids_limit: int = DEFAULT_PIDS_LIMIT  # processes and threads per container
    # memory limit of a container given none, MiB (its request if larger); 0 = none
    default_memory_limit_mib: float = DEFAULT_MEMORY_LIMIT_MIB

    def __post_init__(self):
        for key in ("max_concurrent_downloads", "max_parallel_starts", "max_log_bytes", "pids_limit"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key} must be a whole number >= 1, got {value!r}")
        if not math.isfinite(self.memory_mib) or self.memory_mib < 0:
            raise ValueError(f"memory_mib must be a finite number >= 0 (0 = not given), got {self.memory_mib!r}")
        if not math.isfinite(self.default_memory_limit_mib) or self.default_memory_limit_mib < 0:
            raise ValueError("default_memory_limit_mib must be a finite number >= 0 (0 = no limit by default), "
                             f"got {self.default_memory_limit_mib!r}")

    def memory_limit_mib(self, limit_mib: float, request_mib: float) -> float:
        """The memory limit a container with this limit and request runs with on this node."""
        return effective_memory_limit_mib(limit_mib, request_mib, self.default_memory_limit_mib)


@dataclass
class PullReport:
    image: str
    manifest_digest: str
    pulled_layers: list[str] = field(default_factory=list)
    reused_layers: list[str] = field(default_factory=list)
    pulled_bytes: int = 0
    reused_bytes: int = 0
    seconds: float = 0.0
    peer_layers: list[str] = field(default_factory=list)  # fetched from peers (not in pulled_layers)
    peer_bytes: int = 0


def check_hosts(hosts: Mapping[str, str]) -> None:
    """Extra /etc/hosts entries: host names (RFC 1123) to IPv4 addresses."""
    bounds.count("hosts", hosts, bounds.MAX_ITEMS)
    for name, ip in hosts.items():
        if not HOST_NAME.match(name) or len(name) > 253:
            raise InvalidArgument(f"hosts: {name[:60]!r} is not a valid host name")
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise InvalidArgument(f"hosts: {name}: {ip[:60]!r} is not an IPv4 address") from None


def check_sources(sources: Mapping[str, str]) -> None:
    """layer_sources: a layer digest -> a peer's blob server, http://IPV4:PORT (no other URL: the agent
    fetches from what it is given, so it must not be steered to an arbitrary host or path)."""
    bounds.count("layer_sources", sources, bounds.MAX_LIST)
    for digest, url in sources.items():
        if not DIGEST.fullmatch(digest):
            raise InvalidArgument(f"layer_sources: key {digest[:80]!r} is not a sha256:<64 hex> digest")
        bounds.blob_url(f"layer_sources[{digest[:19]}]", url)


def hosts_file(name: str, ip: str, extra: Mapping[str, str]) -> str:
    """The container's /etc/hosts: itself, then the names it was given (services -> VIPs)."""
    lines = ["127.0.0.1\tlocalhost", f"{ip}\t{name}"]
    lines += [f"{address}\t{host}" for host, address in sorted(extra.items())]
    return "\n".join(lines) + "\n"


def endpoint_name(node: str, container: str) -> str:
    """The container's name in the SDN controller's view."""
    return f"{node}/{container}"


class Node:
    def __init__(self, config: NodeConfig, *, store: LayerStore, registry: Registry, runc: Runc,
                 podnet: PodNetwork, sdn: EndpointRegistrar, state: AgentState,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.store = store
        self.registry = registry
        self.runc = runc
        self.podnet = podnet
        self.sdn = sdn
        self.state = state
        self.clock = clock
        # Guards the records, the reservations, the addresses and the counters; held briefly,
        # never across I/O (runc, the network, the registry, the SDN).
        self._lock = threading.RLock()
        self.records: dict[str, ContainerRecord] = {r.name: r for r in state.containers()}
        # One lock per container, held across an operation on it (run, stop, start, remove, a
        # restart): made by run for a name being created, when first needed for a recorded one.
        self._container_locks: dict[str, threading.Lock] = {}
        self._reserved_cpu: dict[str, float] = {}  # containers being created -> their CPU request
        self._reserved_memory: dict[str, float] = {}  # containers being created -> their memory request, MiB
        self._starts = threading.BoundedSemaphore(config.max_parallel_starts)
        # Layers of images being pulled or containers being created: a prune keeps them. Pinning
        # and pruning take turns, so a layer found held by a pull is not deleted under it.
        self._pins: Counter[str] = Counter()
        self._prune_lock = threading.Lock()
        self.addresses = PodAddresses(config.pod_cidr, [r.ip for r in self.records.values()])
        self.pulled_bytes_total = 0  # from the registry
        self.peer_bytes_total = 0
        self._peer_clients: dict[str, Registry] = {}
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._unattached: set[str] = set()  # endpoints the SDN has not confirmed yet
        self._ready_pids: dict[str, int] = {}  # container -> its process found ready (a restart is a new pid)

    # -- paths ---------------------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        return self.config.state_dir / "containers" / name

    def _log_path(self, name: str) -> Path:
        return self._dir(name) / "container.log"

    def peer_client(self, base_url: str) -> Registry:
        """A registry client for a peer's blob server (peers speak the OCI blob API subset)."""
        from images.registry import RegistryClient

        with self._lock:
            if base_url not in self._peer_clients:
                self._peer_clients[base_url] = RegistryClient(base_url, follow_redirects=False)
            return self._peer_clients[base_url]

    # -- images --------------------------------------------------------------------------------
    def pull(self, reference: str, sources: Mapping[str, str] | None = None) -> tuple[ImageRecord, PullReport]:
        """`sources`: digest -> base URL of a peer that holds the layer (the orchestrator's choice);
        a peer that fails is not fatal: the layer then comes from the registry."""
        bounds.text("image", reference, MAX_REFERENCE)
        check_sources(sources or {})
        pins: list[str] = []
        try:
            return self._pull(reference, sources, pins)
        finally:
            self._unpin(pins)

    def _pin(self, digests: Sequence[str], pins: list[str]) -> None:
        with self._prune_lock:
            self._pins.update(digests)
        pins.extend(digests)

    def _unpin(self, pins: list[str]) -> None:
        with self._prune_lock:
            self._pins.subtract(pins)
            self._pins += Counter()  # drops the digests no longer pinned

    def _pull(self, reference: str, sources: Mapping[str, str] | None,
              pins: list[str]) -> tuple[ImageRecord, PullReport]:
        """pull, pinning the image's layers into `pins` (the caller unpins them)."""
        try:
            name, tag = parse_reference(reference)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        reference = reference_text(name, tag)
        started = time.monotonic()
        try:
            manifest = self.registry.manifest(reference)
            self._pin([layer.digest for layer in manifest.layers], pins)
            from_peers: set[str] = set()
            sizes = {layer.digest: layer.size for layer in manifest.layers}

            def fetch(digest: str, dest: Path) -> int:
                """The blob, stopped as soon as it is larger than its descriptor says."""
                peer = (sources or {}).get(digest)
                if peer:
                    try:
                        size = self.peer_client(peer).fetch_blob(name, digest, dest, sizes[digest])
                        from_peers.add(digest)
                        return size
                    except RegistryError as exc:  # a peer is a shortcut, never a dependency
                        log.warning("layer %s from peer %s failed (%s); from the registry", digest[:19], peer, exc)
                return self.registry.fetch_blob(name, digest, dest, sizes[digest])

            result = self.store.ensure(manifest.layers, fetch, parallel=self.config.max_concurrent_downloads,
                                       label=reference)
        except ImageNotFound as exc:
            raise NotFound(str(exc)) from None
        except RegistryUnavailable as exc:
            local = self.state.image(reference)
            if local is not None:
                self._pin(local.layers, pins)
            if local is not None and all(self.store.has(d) for d in local.layers):
                # Cut off from the registry: run what the node holds (as the kubelet's IfNotPresent).
                log.warning("registry unreachable (%s); using the image %s held locally", exc, reference)
                return local, PullReport(reference, local.manifest_digest, [], list(local.layers), 0,
                                         sum(local.layer_sizes), time.monotonic() - started)
            raise Unavailable(str(exc)) from None
        except DigestMismatch as exc:
            raise DataLoss(str(exc)) from None
        except RegistryError as exc:
            raise FailedPrecondition(str(exc)) from None
        peer_layers = [d for d in result.pulled if d in from_peers]
        peer_bytes = sum(sizes[d] for d in peer_layers)
        with self._lock:
            self.pulled_bytes_total += result.pulled_bytes - peer_bytes
            self.peer_bytes_total += peer_bytes
        config = manifest.config.get("config") or {}
        record = ImageRecord(reference, manifest.digest, [l.digest for l in manifest.layers],
                             [l.size for l in manifest.layers],
                             list(config.get("Entrypoint") or []) + list(config.get("Cmd") or []),
                             list(config.get("Env") or []), config.get("WorkingDir") or "/")
        self.state.save_image(record)
        report = PullReport(reference, manifest.digest, [d for d in result.pulled if d not in from_peers],
                            result.reused, result.pulled_bytes - peer_bytes, result.reused_bytes,
                            time.monotonic() - started, peer_layers, peer_bytes)
        log.info("pulled %s: %d layers (%d bytes) fetched, %d of them (%d bytes) from peers, %d reused", reference,
                 len(result.pulled), result.pulled_bytes, len(peer_layers), peer_bytes, len(result.reused))
        return record, report

    # -- containers ----------------------------------------------------------------------------
    def _free_name(self, image: str) -> str:
        base = re.sub(r"[^a-z0-9-]", "-", re.split(r"[:@]", image)[0].rsplit("/", 1)[-1].lower()).strip("-")[:30] or "c"
        k = 1
        while self._taken(f"{base}-{k}"):
            k += 1
        return f"{base}-{k}"

    def _taken(self, name: str) -> bool:
        """Whether a container of that name exists or is being created (call with the lock held)."""
        return name in self.records or name in self._container_locks

    def _lock_of(self, name: str) -> threading.Lock | None:
        """The container's own lock (None if there is no such container); call with self._lock held."""
        if name not in self._container_locks and name in self.records:
            self._container_locks[name] = threading.Lock()
        return self._container_locks.get(name)

    def run(self, name: str, image: str, *, cpu_millicores: float = 0.0, env: Sequence[str] = (),
            command: Sequence[str] = (), labels: Mapping[str, str] | None = None,
            hosts: Mapping[str, str] | None = None, sources: Mapping[str, str] | None = None,
            capabilities: Sequence[str] = (), ready_port: int = 0,
            memory_limit_mib: float = 0.0, memory_request_mib: float = 0.0,
            pids_limit: int = 0) -> tuple[ContainerRecord, PullReport]:
        bounds.finite("cpu_millicores", cpu_millicores, 0, bounds.MAX_MILLICORES)
        cpu = cpu_millicores or DEFAULT_CPU_MILLICORES
        if not 0 <= ready_port <= 65535:
            raise InvalidArgument(f"ready_port must be a TCP port 1-65535 (or 0 for none), got {ready_port}")
        bounds.strings("capabilities", capabilities, count=len(EXTRA_CAPABILITIES), each=64)
        for cap in capabilities:
            if cap not in EXTRA_CAPABILITIES:
                raise InvalidArgument(f"capability {cap!r} is not granted (only {', '.join(EXTRA_CAPABILITIES)})")
        bounds.finite("memory_limit_mib", memory_limit_mib, 0, bounds.MAX_MEMORY_MIB)
        bounds.finite("memory_request_mib", memory_request_mib, 0, bounds.MAX_MEMORY_MIB)
        bounds.whole("pids_limit", pids_limit, 0, bounds.MAX_PIDS)
        bounds.text("name", name, bounds.MAX_NAME)
        bounds.text("image", image, MAX_REFERENCE)
        try:
            parse_reference(image)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        bounds.strings("env", env)
        bounds.strings("command", command)
        bounds.string_map("labels", labels or {})
        check_sources(sources or {})
        if memory_limit_mib and memory_request_mib > memory_limit_mib:
            raise InvalidArgument(f"memory_request_mib ({memory_request_mib:g}) must not exceed "
                                  f"memory_limit_mib ({memory_limit_mib:g})")
        for k, item in enumerate(env):
            if "=" not in item or item.startswith("="):
                raise InvalidArgument(f"env[{k}]: expected KEY=value, got {item!r}")
        hosts = dict(hosts or {})
        check_hosts(hosts)
        with self._lock:  # reserve the name, the CPU and the memory at once: a refusal never waits for a start
            name = name or self._free_name(image)
            if not NAME.match(name):
                raise InvalidArgument(f"container name {name!r}: use 1-40 lower-case letters, digits and '-', "
                                      "starting and ending with a letter or digit")
            if self._taken(name):
                raise AlreadyExists(f"{self.config.name} already has a container named {name!r}")
            requested = (sum(r.cpu_millicores for r in self.records.values())
                         + sum(self._reserved_cpu.values()))
            if requested + cpu > self.config.cpu_millicores + 1e-9:
                raise FailedPrecondition(
                    f"{self.config.name}: {name} requests {cpu:g} millicores; {requested:g} of "
                    f"{self.config.cpu_millicores:g} are already requested")
            memory_left = self.memory_left()
            if memory_left is not None and memory_request_mib > memory_left + 1e-9:
                raise FailedPrecondition(
                    f"{self.config.name}: {name} requests {memory_request_mib:g} MiB of memory; the node's other "
                    f"containers request {self.config.memory_mib - memory_left:g} of its {self.config.memory_mib:g} "
                    f"MiB, leaving {memory_left:g} MiB")
            self._reserved_cpu[name] = cpu
            self._reserved_memory[name] = memory_request_mib
            lock = self._container_locks[name] = threading.Lock()
            lock.acquire()  # a new lock: never waits
        pins: list[str] = []
        created = False
        try:
            with self._starts:
                image_record, report = self._pull(image, sources, pins)
                record = ContainerRecord(
                    name=name, image=image_record.reference, layers=image_record.layers, ip="", mac="",
                    netns="", host_veth="", ofport=0, cpu_millicores=cpu,
                    args=list(command) or image_record.args, env=image_record.env + list(env),
                    cwd=image_record.cwd, created_at=self.clock(), labels=dict(labels or {}), hosts=hosts,
                    capabilities=sorted(set(capabilities)), ready_port=ready_port,
                    memory_limit_mib=memory_limit_mib, memory_request_mib=memory_request_mib, pids_limit=pids_limit)
                if not record.args:
                    raise InvalidArgument(f"image {image_record.reference} has no command; give one")
                try:
                    self._create(record)
                except (RuncError, PodNetworkError, OSError) as exc:  # undone already: say why, plainly
                    raise FailedPrecondition(f"{self.config.name}: starting {name} failed: {exc}") from None
                created = True
                return record, report
        finally:
            self._unpin(pins)  # once recorded, the container's own layers keep them from a prune
            with self._lock:
                self._reserved_cpu.pop(name, None)
                self._reserved_memory.pop(name, None)
                if not created:
                    del self._container_locks[name]
            lock.release()

    def _create(self, record: ContainerRecord) -> None:
        """Root folder, pod network, SDN endpoint, process; on any failure undo it all."""
        undo: list[Callable[[], None]] = []
        try:
            with self._lock:
                record.ip, record.mac = self.addresses.allocate()
            undo.append(lambda: self._release_address(record.ip))
            self._prepare_rootfs(record)
            undo.append(lambda: self._remove_rootfs(record.name))
            self._prepare_network(record)
            undo.append(lambda: self.podnet.delete(self._pod_key(record.name)))
            self.sdn.attach(name=endpoint_name(self.config.name, record.name), ip=record.ip, mac=record.mac,
                            switch=self.config.switch, port=record.ofport, node=self.config.name)
            undo.append(lambda: self._detach_quietly(record.name))
            self._start_process(record)
            undo.append(lambda: self.runc.delete(self._runc_id(record.name)))
            self.state.save_container(record)
            with self._lock:  # its CPU and memory now count through the record, no longer the reservation
                self.records[record.name] = record
                self._reserved_cpu.pop(record.name, None)
                self._reserved_memory.pop(record.name, None)
        except BaseException:
            for step in reversed(undo):
                try:
                    step()
                except Exception as exc:  # keep undoing: report the original failure
                    log.warning("undoing %s: %s", record.name, exc)
            with self._lock:
                self.records.pop(record.name, None)
            raise
        log.info("started %s (%s) at %s, pid %d", record.name, record.image, record.ip, record.pid)
        self._check_readiness(record)

    def memory_requested(self) -> float:
        """MiB requested by the node's containers and the starts under way (stopped ones keep theirs,
        as their CPU: they may be started again)."""
        with self._lock:
            return (sum(r.memory_request_mib for r in self.records.values())
                    + sum(self._reserved_memory.values()))

    def memory_left(self) -> float | None:
        """MiB of the node's memory no container requests; None when the node's memory is not given."""
        if not self.config.memory_mib:
            return None
        return max(self.config.memory_mib - self.memory_requested(), 0.0)

    def _release_address(self, ip: str) -> None:
        with self._lock:
            self.addresses.release(ip)

    def _pod_key(self, name: str) -> str:
        return f"{self.config.name}-{name}"

    def _runc_id(self, name: str) -> str:
        """runc's container id: unique on the machine, since runc names the cgroup after it."""
        return f"{self.config.name}-{name}"

    def _prepare_rootfs(self, record: ContainerRecord) -> None:
        folder = self._dir(record.name)
        folder.mkdir(parents=True, exist_ok=True)
        lower = [self.store.unpacked_dir(d) for d in record.layers]
        if not rootfs_mod.is_mounted(folder / "rootfs"):
            rootfs_mod.mount_rootfs(lower, folder)
        # Per-container files bound over the image's: its own name and address.
        (folder / "hosts").write_text(hosts_file(record.name, record.ip, record.hosts))
        (folder / "resolv.conf").write_text("# no DNS in the emulated network: services by /etc/hosts\n")
        (folder / "hostname").write_text(record.name + "\n")

    def _remove_rootfs(self, name: str) -> None:
        folder = self._dir(name)
        rootfs_mod.unmount_rootfs(folder)
        shutil.rmtree(folder, ignore_errors=True)

    def _prepare_network(self, record: ContainerRecord) -> None:
        key = self._pod_key(record.name)
        if self.podnet.exists(key):
            # The name is free (no record), so this is what an earlier start of it failed to undo
            # (e.g. a switch too busy to delete its port in time): remove it, or no retry could succeed.
            log.warning("removing the network %s that an earlier start of %s left behind", key, record.name)
            self.podnet.delete(key)
        iface = self.podnet.create(key, record.ip, record.mac)
        record.netns, record.host_veth, record.ofport = iface.netns, iface.host_veth, iface.ofport

    def _detach_quietly(self, name: str) -> None:
        try:
            self.sdn.detach(endpoint_name(self.config.name, name))
        except NotFound:
            pass

    def _bundle(self, record: ContainerRecord) -> Path:
        folder = self._dir(record.name)
        config = runtime_config(
            args=record.args, env=record.env, cwd=record.cwd, hostname=record.name,
            netns_path=f"/var/run/netns/{record.netns}", cpu_millicores=record.cpu_millicores,
            memory_limit_mib=self.config.memory_limit_mib(record.memory_limit_mib, record.memory_request_mib),
            pids_limit=record.pids_limit or self.config.pids_limit, files=[(str(folder / "hosts"), "/etc/hosts"), (str(folder / "resolv.conf"), "/etc/resolv.conf"),
                   (str(folder / "hostname"), "/etc/hostname"), (str(SERVICE_PROGRAM), SERVICE_PROGRAM_PATH),
                   (str(VNF_PROGRAM), VNF_PROGRAM_PATH)],
            capabilities=record.capabilities)
        (folder / "config.json").write_text(json.dumps(config, indent=1))
        return folder

    def _start_process(self, record: ContainerRecord) -> None:
        bundle = self._bundle(record)
        self.runc.delete(self._runc_id(record.name))  # a dead container of that id must go before runc run
        record.pid = self.runc.run_detached(self._runc_id(record.name), bundle, self._log_path(record.name))
        record.started_at = self.clock()
        record.state, record.message = RUNNING, ""

    def _get(self, name: str) -> ContainerRecord:
        bounds.text("name", name, bounds.MAX_NAME)
        with self._lock:
            if name not in self.records:
                known = ", ".join(sorted(self.records)) or "none"
                raise NotFound(f"{self.config.name} has no container named {name!r} (containers: {known})")
            return self.records[name]

    def get(self, name: str) -> ContainerRecord:
        return self._get(name)

    def containers(self) -> list[ContainerRecord]:
        with self._lock:
            return sorted(self.records.values(), key=lambda r: r.name)

    def logs(self, name: str, tail_lines: int = 0) -> str:
        """The container's newest log lines (all, or the last `tail_lines`), at most the last MiB."""
        self._get(name)
        return read_tail(self._log_path(name), tail_lines)

    @contextmanager
    def _exclusive(self, name: str) -> Iterator[ContainerRecord]:
        """The container, its lock held: waits for an operation on it under way (a start included)."""
        while True:
            with self._lock:
                lock = self._lock_of(name)
            if lock is None:
                self._get(name)  # raises NotFound, naming the containers there are
            lock.acquire()
            with self._lock:
                current = self._container_locks.get(name) is lock
            if current:
                break
            lock.release()  # the start we waited for failed, or it was removed: look again
        try:
            yield self._get(name)
        finally:
            lock.release()

    def _try_exclusive(self, name: str) -> threading.Lock | None:
        """The container's lock, now held, if nothing else holds it; None otherwise."""
        with self._lock:
            lock = self._lock_of(name)
            return lock if lock is not None and lock.acquire(blocking=False) else None

    def stop(self, name: str, timeout: float = 10.0) -> ContainerRecord:
        bounds.finite("timeout_seconds", timeout, 0, bounds.MAX_STOP_TIMEOUT_SECONDS)
        with self._exclusive(name) as record:
            record.desired = STOPPED
            code = self.runc.stop(self._runc_id(name), timeout)
            if code is not None:
                record.last_exit_code = code
            record.state, record.pid, record.message = STOPPED, 0, "stopped on request"
            self.state.save_container(record)
            return record

    def start(self, name: str) -> ContainerRecord:
        with self._exclusive(name) as record:
            if record.state == RUNNING and process_alive(record.pid):
                return record
            record.desired = RUNNING
            try:
                self._ensure_plumbing(record)
                self._start_process(record)
            except (RuncError, PodNetworkError, OSError) as exc:
                raise FailedPrecondition(f"{self.config.name}: starting {name} failed: {exc}") from None
            record.crash_streak = 0
            self.state.save_container(record)
            return record

    def remove(self, name: str) -> None:
        with self._exclusive(name) as record:
            self.runc.stop(self._runc_id(name), 2.0)
            self._detach_quietly(name)
            self.podnet.delete(self._pod_key(name))
            self._remove_rootfs(name)
            self.state.delete_container(name)
            with self._lock:
                del self.records[name]
                self._container_locks.pop(name, None)  # a caller waiting on it looks again: NotFound
                self.addresses.release(record.ip)
                self._unattached.discard(name)
            self._ready_pids.pop(name, None)
            log.info("removed %s", name)

    def prune(self) -> tuple[list[str], int]:
        """Removes the layers no container uses, nor any pull or start under way."""
        with self._prune_lock:
            in_use = {d for r in self.containers() for d in r.layers} | set(self._pins)
            return self.store.prune(in_use)

    def layer_users(self) -> dict[str, int]:
        users: dict[str, int] = {}
        for record in self.containers():
            for digest in set(record.layers):
                users[digest] = users.get(digest, 0) + 1
        return users

    # -- keeping containers running ------------------------------------------------------------
    def _ensure_plumbing(self, record: ContainerRecord) -> None:
        """What a restart needs besides the process: the root folder mounted and the pod's namespace."""
        if not rootfs_mod.is_mounted(self._dir(record.name) / "rootfs"):
            self._prepare_rootfs(record)
        if not self.podnet.exists(self._pod_key(record.name)):
            self._prepare_network(record)
            with self._lock:
                self._unattached.add(record.name)

    def ready(self, record: ContainerRecord) -> bool:
        """Its process runs and was found listening on its ready port, if it has one (by a supervisor pass)."""
        return (record.state == RUNNING and record.pid != 0 and self._ready_pids.get(record.name) == record.pid
                and process_alive(record.pid))

    def _check_readiness(self, record: ContainerRecord) -> None:
        """Marks a running process ready once it listens; a new process (a restart) starts unready."""
        if self._ready_pids.get(record.name) == record.pid:
            return
        if record.ready_port == 0 or listens_on(record.pid, record.ready_port):
            self._ready_pids[record.name] = record.pid
            if record.ready_port:
                log.info("%s is ready: it listens on port %d", record.name, record.ready_port)

    def check_once(self) -> None:
        """One supervisor pass: notice dead processes, restart those whose back-off has passed,
        note the processes now ready, rotate logs past their cap, and retry SDN attachments the
        controller has not confirmed."""
        now = self.clock()
        for record in self.containers():
            lock = self._try_exclusive(record.name)
            if lock is None:
                continue  # being started, stopped or removed: look again next tick
            try:
                if record.desired != RUNNING or self.records.get(record.name) is not record:
                    continue
                if record.state == RUNNING and not process_alive(record.pid):
                    self._died(record, now)
                if record.state == RESTARTING and now >= record.restart_at:
                    self._restart(record)
                if record.state == RUNNING:
                    self._check_readiness(record)
                self._rotate_log(record.name)
            finally:
                lock.release()
        with self._lock:
            unattached = sorted(self._unattached)
        for name in unattached:
            lock = self._try_exclusive(name)
            if lock is None:
                continue
            try:
                record = self.records[name]
                self.sdn.attach(name=endpoint_name(self.config.name, name), ip=record.ip, mac=record.mac,
                                switch=self.config.switch, port=record.ofport, node=self.config.name)
                with self._lock:
                    self._unattached.discard(name)
            except DomainError as exc:
                log.warning("endpoint %s not attached yet: %s", name, exc)
            finally:
                lock.release()

    def _rotate_log(self, name: str) -> None:
        try:
            if rotate(self._log_path(name), self.config.max_log_bytes):
                log.info("%s: log rotated at %d bytes", name, self.config.max_log_bytes)
        except OSError as exc:  # a full disk or a removed folder: try again next pass
            log.warning("%s: rotating the log failed: %s", name, exc)

    def _died(self, record: ContainerRecord, now: float) -> None:
        code = reaped_exit_code(record.pid)
        if code is not None:
            record.last_exit_code = code
        oom = self.runc.oom_killed(self._runc_id(record.name))
        record.last_termination_reason = OOM_KILLED if oom else ""
        quick = now - record.started_at < QUICK_DEATH_SECONDS
        record.crash_streak = record.crash_streak + 1 if quick else 1
        delay = restart_delay(record.crash_streak)
        record.state, record.pid, record.restart_at = RESTARTING, 0, now + delay
        limit = self.config.memory_limit_mib(record.memory_limit_mib, record.memory_request_mib)
        how = f"process killed by the OOM killer (memory limit {limit:g} MiB)" if oom else "process died"
        record.message = f"{how}; restarting in {delay:g} s"
        self.state.save_container(record)
        log.warning("%s: %s; restarting in %.0f s", record.name, how, delay)

    def _restart(self, record: ContainerRecord) -> None:
        try:
            self._ensure_plumbing(record)
            self._start_process(record)
            record.restarts += 1
            log.info("%s restarted (restart %d), pid %d", record.name, record.restarts, record.pid)
        except Exception as exc:
            record.crash_streak += 1
            delay = restart_delay(record.crash_streak)
            record.restart_at = self.clock() + delay
            record.message = f"restart failed ({exc}); next try in {delay:g} s"
            log.warning("%s: %s", record.name, record.message)
        self.state.save_container(record)

    def recover(self) -> None:
        """After a restart of the agent: adopt running containers, restart dead ones, drop runc
        containers nobody recorded (a crash between starting and recording one), re-attach all."""
        known = {self._runc_id(name) for name in self.records}
        for entry in self.runc.list():
            if entry.get("id") not in known:
                log.warning("removing unrecorded runc container %s", entry.get("id"))
                self.runc.delete(entry["id"])
        for record in self.containers():
            with self._lock:
                self._unattached.add(record.name)
            if record.desired != RUNNING:
                continue
            state = self.runc.state(self._runc_id(record.name))
            if state and state.get("status") == "running" and process_alive(int(state.get("pid") or 0)):
                record.pid, record.state = int(state["pid"]), RUNNING
                continue
            record.state, record.restart_at = RESTARTING, self.clock()
            record.message = "not running after the agent restarted"
            self.state.save_container(record)
        self.check_once()

    def start_supervisor(self, interval: float = 0.5) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.check_once()
                except Exception:
                    log.exception("supervisor pass failed")

        self._supervisor = threading.Thread(target=loop, name="supervisor", daemon=True)
        self._supervisor.start()

    def close(self) -> None:
        """Stop supervising. Containers keep running: a restarted agent adopts them."""
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        self.store.close()
        self.state.close()

