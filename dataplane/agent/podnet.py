"""The pod network (the agent as CNI plugin): pod ranges, pod addresses, and pods' namespaces and veths on OVS."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

LARGEST_POD_PREFIX = 24   # a node's pod range is a /24 when there is room ...
SMALLEST_POD_PREFIX = 28  # ... and never smaller than a /28 (14 pods)

NETNS_DIR = Path("/var/run/netns")  # where `ip netns add` puts its named namespaces
CONTAINER_IFNAME = "eth0"
IFNAME_MAX = 15  # Linux interface names: IFNAMSIZ - 1


def pod_ranges(subnet: str, nodes: Sequence[str], reserved_ips: Iterable[str]) -> dict[str, str]:
    """node -> pod CIDR: disjoint blocks from the upper half of subnet (hosts are numbered from
    its bottom and have only its connected route, so pods inside it need no routes), the
    largest size from /24 down to /28 that gives every node one, none holding a reserved IP.
    Nodes get blocks in name order, so the same input always gives the same ranges."""
    network = ipaddress.ip_network(subnet, strict=False)
    if network.version != 4:
        raise ValueError(f"pod ranges need an IPv4 subnet, got {subnet}")
    if len(set(nodes)) != len(nodes):
        raise ValueError("node names must be unique")
    if not nodes:
        return {}
    if network.prefixlen >= SMALLEST_POD_PREFIX:
        raise ValueError(f"subnet {network} is too small: its upper half cannot hold a /{SMALLEST_POD_PREFIX}")
    upper_half = list(network.subnets(prefixlen_diff=1))[1]
    reserved = {ipaddress.ip_interface(ip).ip for ip in reserved_ips}
    reserved_in_half = sorted(ip for ip in reserved if ip in upper_half)
    free_blocks: list[ipaddress.IPv4Network] = []
    for prefix in range(max(LARGEST_POD_PREFIX, upper_half.prefixlen), SMALLEST_POD_PREFIX + 1):
        free_blocks = _blocks_without(upper_half, prefix, reserved_in_half)
        if len(free_blocks) >= len(nodes):
            return {node: str(block) for node, block in zip(sorted(nodes), free_blocks)}
    raise ValueError(
        f"cannot give {len(nodes)} nodes a pod range of at least /{SMALLEST_POD_PREFIX} in the upper "
        f"half of {network} ({upper_half}): only {len(free_blocks)} /{SMALLEST_POD_PREFIX} blocks are "
        f"free of host addresses; use a larger subnet")


def _blocks_without(space: ipaddress.IPv4Network, prefix: int,
                    reserved: Sequence[ipaddress.IPv4Address]) -> list[ipaddress.IPv4Network]:
    """space's /prefix blocks, in address order, that hold none of the reserved addresses."""
    size = 2 ** (32 - prefix)
    start = int(space.network_address)
    taken = {(int(ip) - start) // size for ip in reserved}
    return [ipaddress.ip_network((start + index * size, prefix))
            for index in range(space.num_addresses // size) if index not in taken]


class PodRangeFull(Exception):
    """Every address of a node's pod range is in use."""


def pod_mac(ip: str) -> str:
    """A locally administered unicast MAC that encodes the pod's IPv4 address (unique and stable)."""
    return "02:00:" + ":".join(f"{byte:02x}" for byte in ipaddress.IPv4Address(ip).packed)


class PodAddresses:
    """Hands out a node's pod addresses: the lowest free one first, never the range's network or
    broadcast address."""

    def __init__(self, cidr: str, used: Iterable[str] = ()):
        self.network = ipaddress.IPv4Network(cidr)
        self._used: set[ipaddress.IPv4Address] = set()
        for ip in used:
            self._used.add(self._in_range(ip))

    def _in_range(self, ip: str) -> ipaddress.IPv4Address:
        address = ipaddress.IPv4Address(ip)
        if address not in self.network:
            raise ValueError(f"{ip} is not in the pod range {self.network}")
        return address

    def allocate(self) -> tuple[str, str]:
        """(ip, mac) of the lowest free address, now taken."""
        for address in self.network.hosts():
            if address not in self._used:
                self._used.add(address)
                return str(address), pod_mac(str(address))
        raise PodRangeFull(f"pod range {self.network} is full: all {self.network.num_addresses - 2} "
                           "addresses are in use")

    def release(self, ip: str) -> None:
        """Frees ip for reuse; releasing a free address does nothing."""
        self._used.discard(self._in_range(ip))


def pod_interface_names(key: str) -> tuple[str, str]:
    """(host-side veth name, container-side name) for a pod. The host name has to be unique in
    the root namespace, where every node's pods meet, and fit 15 characters: a readable start
    of the key plus a hash of the whole key."""
    readable = re.sub(r"[^A-Za-z0-9-]", "", key)[:5].rstrip("-")
    digest = hashlib.sha256(key.encode()).hexdigest()
    host = f"{readable}-{digest}" if readable else f"p{digest}"
    return host[:IFNAME_MAX], CONTAINER_IFNAME


class PodNetworkError(Exception):
    """A pod's network could not be set up (what was done is undone) or torn down."""


@dataclass(frozen=True)
class PodInterface:
    """A pod's network: its namespace, the veth's switch end and the pod's addresses."""
    netns: str
    netns_path: str
    host_veth: str
    ofport: int
    ip: str
    mac: str


def _run(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise PodNetworkError(f"`{' '.join(command)}` failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


class PodNetwork:
    """Creates and removes pods' network namespaces and their veths on one OVS switch. The
    switch's ovs-vswitchd lives in the root network namespace and can only open interfaces
    there, while the agent may run in a Mininet host's namespace: the launcher passes the PID
    of a process in the root namespace (PID 1's namespace is not readable here)."""

    def __init__(self, *, switch: str, prefixlen: int, root_netns_pid: int, netns_prefix: str,
                 ofport_timeout: float = 10.0, service_route: tuple[str, str] | None = None):
        self.switch = switch
        self.service_route = service_route  # (service range, gateway): pods reach every VIP
        self.prefixlen = prefixlen
        self.root_netns_pid = root_netns_pid
        self.netns_prefix = netns_prefix
        self.ofport_timeout = ofport_timeout

    def _netns(self, key: str) -> str:
        return f"{self.netns_prefix}{key}"

    def _in_root(self, command: list[str]) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.root_netns_pid}/ns/net", *command]

    @staticmethod
    def _in_pod(netns: str, command: list[str]) -> list[str]:
        # nsenter, not `ip netns exec`: no private mount namespace and /sys remount per command
        return ["nsenter", f"--net={NETNS_DIR / netns}", *command]

    def create(self, key: str, ip: str, mac: str) -> PodInterface:
        """The pod's namespace with eth0 (ip/prefixlen, mac, up) whose peer is a port of the
        switch; returns it once OVS has numbered the port. On failure nothing is left behind."""
        netns = self._netns(key)
        host_veth, container_ifname = pod_interface_names(key)
        if (NETNS_DIR / netns).exists():
            raise PodNetworkError(f"network namespace {netns} already exists: delete the pod's network first")
        _run(["ip", "netns", "add", netns])
        try:
            # Both ends are created where they belong in one step: the host end in the root
            # namespace (where ovs-vswitchd runs), the container end in the pod's namespace.
            _run(["ip", "link", "add", host_veth, "netns", str(self.root_netns_pid), "type", "veth",
                  "peer", "name", container_ifname, "address", mac, "netns", netns])
            # TCP through the userspace datapath needs checksum offload off on both ends.
            _run(self._in_pod(netns, ["ip", "addr", "add", f"{ip}/{self.prefixlen}", "dev", container_ifname]))
            _run(self._in_pod(netns, ["ip", "link", "set", container_ifname, "up"]))
            _run(self._in_pod(netns, ["ip", "link", "set", "lo", "up"]))
            # A pod never routes: a new namespace may inherit forwarding from the host's, and a
            # VNF (one-armed, on a raw socket) must be the only one passing what is steered to it.
            _run(self._in_pod(netns, ["sysctl", "-qw", "net.ipv4.ip_forward=0"]))
            if self.service_route:
                service_range, gateway = self.service_route
                _run(self._in_pod(netns, ["ip", "route", "replace", service_range, "via", gateway]))
            _run(self._in_pod(netns, ["ethtool", "-K", container_ifname, "tx", "off", "rx", "off"]))
            _run(self._in_root(["ip", "link", "set", host_veth, "up"]))
            _run(self._in_root(["ethtool", "-K", host_veth, "tx", "off", "rx", "off"]))
            _run(["ovs-vsctl", "--timeout=10", "add-port", self.switch, host_veth])
            ofport = self._wait_for_ofport(host_veth)
        except BaseException as error:
            try:
                self._remove(netns, host_veth)
            except PodNetworkError as cleanup_error:
                raise PodNetworkError(f"{error}; undoing it also failed: {cleanup_error}") from error
            raise
        return PodInterface(netns=netns, netns_path=str(NETNS_DIR / netns), host_veth=host_veth,
                            ofport=ofport, ip=ip, mac=mac)

    def _wait_for_ofport(self, host_veth: str) -> int:
        """OVS numbers a new port asynchronously: ofport reads [] or -1 until it has."""
        deadline = time.monotonic() + self.ofport_timeout
        while True:
            value = _run(["ovs-vsctl", "--timeout=10", "get", "Interface", host_veth, "ofport"]).stdout.strip()
            if value.lstrip("-").isdigit() and int(value) > 0:
                return int(value)
            if time.monotonic() > deadline:
                error = _run(["ovs-vsctl", "--timeout=10", "get", "Interface", host_veth, "error"]).stdout.strip()
                raise PodNetworkError(f"OVS gave {host_veth} on {self.switch} no OpenFlow port within "
                                      f"{self.ofport_timeout:g} s (ofport {value}, error {error})")
            time.sleep(0.05)

    def delete(self, iface_or_key: PodInterface | str) -> None:
        """Removes the pod's switch port, veth and namespace; what is already gone is skipped."""
        if isinstance(iface_or_key, PodInterface):
            self._remove(iface_or_key.netns, iface_or_key.host_veth)
        else:
            self._remove(self._netns(iface_or_key), pod_interface_names(iface_or_key)[0])

    def _remove(self, netns: str, host_veth: str) -> None:
        """Each step is tried whatever the one before did (a switch port that could not be deleted in
        time must not keep the namespace); PodNetworkError naming every step that failed."""
        errors = []

        def step(command: list[str]) -> None:
            try:
                _run(command)
            except (PodNetworkError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))

        step(["ovs-vsctl", "--timeout=10", "--if-exists", "del-port", self.switch, host_veth])
        # The veth goes first, synchronously (and eth0 with it): a deleted namespace's
        # interfaces are destroyed later, in the background.
        if subprocess.run(self._in_root(["ip", "link", "show", host_veth]), capture_output=True).returncode == 0:
            step(self._in_root(["ip", "link", "delete", host_veth]))
        if (NETNS_DIR / netns).exists():
            step(["ip", "netns", "delete", netns])
        if errors:
            raise PodNetworkError("; ".join(errors))

    def exists(self, key: str) -> bool:
        """Whether the pod's namespace exists and its veth is a port of the switch."""
        if not (NETNS_DIR / self._netns(key)).exists():
            return False
        host_veth = pod_interface_names(key)[0]
        ports = _run(["ovs-vsctl", "--timeout=10", "list-ports", self.switch]).stdout.split()
        return host_veth in ports
