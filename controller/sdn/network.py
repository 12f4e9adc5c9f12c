"""The controller's view of the network: declared topology reconciled with discovery, and paths over it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import networkx as nx

from component_base.errors import FailedPrecondition, InvalidArgument, NotFound

POD = "pod"  # the role of an attached endpoint (a container's veth on a switch)
LAUNCHER_PREFIX_LEN = 16  # dataplane.network configures every host with a /16


@dataclass
class SwitchInfo:
    name: str
    dpid: int
    connected: bool = False


@dataclass
class LinkInfo:
    """One direction of a switch-to-switch cable."""

    src: int                 # dpid
    src_port: int
    dst: int                 # dpid
    dst_port: int
    capacity_mbps: float
    reserved_mbps: float = 0.0
    up: bool = True          # not reported down (port status or LLDP link delete)
    discovered: bool = False  # confirmed by LLDP
    delay_ms: float = 0.0    # declared one-way delay

    @property
    def key(self) -> tuple[int, int]:
        return (self.src, self.src_port)


@dataclass
class HostInfo:
    name: str
    ip: str
    mac: str
    dpid: int
    port: int
    role: str = "device"
    seen: bool = False  # learned from its own traffic
    node: str = ""      # for a pod: the edge server it runs on
    access_mbps: float = 0.0    # its link to its switch; 0 = not limited
    access_delay_ms: float = 0.0  # that link's declared one-way delay
    reserved_up: float = 0.0    # reserved by paths leaving it, Mbit/s
    reserved_down: float = 0.0  # reserved by paths reaching it, Mbit/s


def hosts_subnet(ips: list[str], widest_prefix_len: int = LAUNCHER_PREFIX_LEN) -> ipaddress.IPv4Network | None:
    """The smallest network holding every address, widened to at least /widest_prefix_len (the
    prefix the launcher configures hosts with); None without addresses."""
    if not ips:
        return None
    values = [int(ipaddress.IPv4Address(ip)) for ip in ips]
    prefix_len = min(32 - (min(values) ^ max(values)).bit_length(), widest_prefix_len)
    return ipaddress.IPv4Network((min(values), prefix_len), strict=False)


@dataclass
class NetworkView:
    """Everything route computation needs, as plain data. Not thread-safe: callers lock."""

    switches: dict[int, SwitchInfo] = field(default_factory=dict)
    links: dict[tuple[int, int], LinkInfo] = field(default_factory=dict)  # (src dpid, src port) -> link
    hosts: dict[str, HostInfo] = field(default_factory=dict)  # name -> host (declared hosts and pods)
    subnet: ipaddress.IPv4Network | None = None  # the network every host is configured in; None = unknown
    # The services' range (VIPs every host and pod reaches through the gateway, an address of the
    # hosts' subnet the controller answers ARP for) and that gateway; the gateway is also the
    # source address of hairpin connections (a pod reaching itself through its service's VIP).
    service_range: ipaddress.IPv4Network | None = None
    gateway: str | None = None
    fast_failover: bool = True  # precomputed alternates in fast-failover groups (False: controller repair only)
    # host role -> the TCP ports its hosts serve the control plane on (agents, blob servers, registry,
    # daemons): pods may not open connections to them; empty = nothing declared, nothing refused
    control_ports: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # next_hops per target switch; depends only on which links are up, so set_port_state clears it
    _next_hops: dict[int, dict[int, int]] = field(default_factory=dict, repr=False, compare=False)
    _backups: dict[int, dict[int, int]] = field(default_factory=dict, repr=False, compare=False)
    _hops: dict[int, dict[int, int]] = field(default_factory=dict, repr=False, compare=False)
    _index: dict[int, int] = field(default_factory=dict, repr=False, compare=False)  # dpid -> switch_index
    # bumped whenever forwarding can change (a link's state, a host's attachment): rule caches key on it
    version: int = field(default=0, compare=False)

    @classmethod
    def from_declared(cls, data: dict) -> "NetworkView":
        """From the launcher's runtime topology (switches with dpids, links with ports, hosts, and
        the hosts' subnet; without one, the smallest network holding the hosts, at least a /16; and
        optionally each infrastructure role's control ports)."""
        view = cls()
        for sw in data["switches"]:
            view.switches[sw["dpid"]] = SwitchInfo(sw["name"], sw["dpid"])
        by_name = {sw.name: sw.dpid for sw in view.switches.values()}
        for link in data["links"]:
            a, b = by_name[link["a"]], by_name[link["b"]]
            bw, delay = float(link["bandwidth_mbps"]), float(link.get("delay_ms") or 0.0)
            view.links[(a, link["a_port"])] = LinkInfo(a, link["a_port"], b, link["b_port"], bw, delay_ms=delay)
            view.links[(b, link["b_port"])] = LinkInfo(b, link["b_port"], a, link["a_port"], bw, delay_ms=delay)
        for h in data["hosts"]:
            view.hosts[h["name"]] = HostInfo(h["name"], h["ip"], h["mac"], by_name[h["switch"]], h["port"],
                                             h.get("role", "device"), access_mbps=float(h.get("access_mbps") or 0.0),
                                             access_delay_ms=float(h.get("access_delay_ms") or 0.0))
        if data.get("subnet"):
            view.subnet = ipaddress.IPv4Network(data["subnet"], strict=False)
        else:
            view.subnet = hosts_subnet([h["ip"] for h in data["hosts"]])
        if data.get("service_range"):
            view.service_range = ipaddress.IPv4Network(data["service_range"], strict=False)
        view.gateway = data.get("gateway") or (default_gateway(view.subnet) if view.subnet else None)
        view.fast_failover = bool(data.get("fast_failover", True))
        view.control_ports = {role: tuple(sorted({int(p) for p in ports}))
                              for role, ports in (data.get("control_ports") or {}).items()}
        return view

    # -- lookups ---------------------------------------------------------------------------
    def switch_name(self, dpid: int) -> str:
        sw = self.switches.get(dpid)
        return sw.name if sw else f"dpid{dpid}"

    def host(self, name: str) -> HostInfo:
        if name not in self.hosts:
            raise NotFound(f"unknown host {name!r}; the topology has {len(self.hosts)} hosts "
                           f"(e.g. {', '.join(sorted(self.hosts)[:5])})")
        return self.hosts[name]

    def host_by_ip(self, ip: str) -> HostInfo | None:
        return next((h for h in self.hosts.values() if h.ip == ip), None)

    def switch_dpid(self, name: str) -> int:
        dpid = next((sw.dpid for sw in self.switches.values() if sw.name == name), None)
        if dpid is None:
            raise NotFound(f"unknown switch {name!r}; the topology has {len(self.switches)} switches "
                           f"(e.g. {', '.join(sorted(sw.name for sw in self.switches.values())[:5])})")
        return dpid

    def zones(self, dpid: int) -> tuple[int, int]:
        """The switch's two connection-tracking zones (service NAT, hairpin source NAT). Every
        bridge of the userspace datapath shares one connection table, so each switch gets zones
        of its own: a connection is translated, and un-translated, at the switch it entered by."""
        index = self.switch_index(dpid)
        return 2 * index + 1, 2 * index + 2

    def switch_index(self, dpid: int) -> int:
        """The switch's place in dpid order: a small number, stable while the switches are the same."""
        if len(self._index) != len(self.switches):
            self._index = {d: k for k, d in enumerate(sorted(self.switches))}
        return self._index[dpid]

    def host_control_ports(self, host: HostInfo) -> tuple[int, ...]:
        """The TCP ports `host` serves the control plane on (from its role; none for a pod)."""
        return () if host.role == POD else self.control_ports.get(host.role, ())

    def host_ports(self, dpid: int) -> set[int]:
        return {h.port for h in self.hosts.values() if h.dpid == dpid}

    # -- changes ---------------------------------------------------------------------------
    def add_host(self, host: HostInfo) -> None:
        """Adds (or replaces, by name) a host: forwarding to it changes."""
        self.hosts[host.name] = host
        self.version += 1

    def remove_host(self, name: str) -> None:
        del self.hosts[name]
        self.version += 1

    # -- events ----------------------------------------------------------------------------
    def set_port_state(self, dpid: int, port: int, up: bool) -> bool:
        """A port went up or down; returns True when a switch-to-switch link changed state."""
        changed = False
        link = self.links.get((dpid, port))
        if link is not None:
            reverse = self.links.get((link.dst, link.dst_port))
            for l in (link, reverse):
                if l is not None and l.up != up:
                    l.up = up
                    changed = True
        if changed:
            self._next_hops.clear()
            self._backups.clear()
            self._hops.clear()
            self.version += 1
        return changed

    def learn_host(self, mac: str, ip: str, dpid: int, port: int) -> bool:
        """Traffic from (mac, ip) arrived on (dpid, port); returns True when an attachment moved."""
        if (dpid, port) in self.links:
            return False  # arrived over an inter-switch link: not an attachment point
        host = next((h for h in self.hosts.values() if h.mac == mac or (ip and h.ip == ip)), None)
        if host is None:
            return False  # undeclared hosts are not routed
        if host.role == POD and (host.dpid, host.port) != (dpid, port):
            return False  # a pod is where its agent attached it; only AttachEndpoint moves it
        moved = (host.dpid, host.port) != (dpid, port)
        host.dpid, host.port, host.seen = dpid, port, True
        if moved:
            self.version += 1
        return moved

    # -- paths -----------------------------------------------------------------------------
    def graph(self, min_free_mbps: float = 0.0) -> nx.DiGraph:
        """Switch graph of the links that are up and have min_free_mbps unreserved."""
        g = nx.DiGraph()
        g.add_nodes_from(self.switches)
        for link in self.links.values():
            # A link over-reserved by a rerouted path still carries best-effort traffic.
            if link.up and (min_free_mbps <= 0 or link.capacity_mbps - link.reserved_mbps >= min_free_mbps - 1e-9):
                g.add_edge(link.src, link.dst, port=link.src_port)
        return g

    def next_hops(self, target: int) -> dict[int, int]:
        """For every switch that can reach `target`, the port of its first hop on a shortest path.

        Ties are broken by the lowest neighbour dpid so that the choice is stable. Cached until a
        link changes state; callers must not modify the returned dict.
        """
        if target not in self._next_hops:
            self._next_hops[target] = self._compute_next_hops(target)
        return self._next_hops[target]

    def _compute_next_hops(self, target: int) -> dict[int, int]:
        """Primary first hops toward `target`; the loop-free alternates of the same pass are kept
        for backup_next_hops (one graph and one search per target for both)."""
        g = self.graph()
        dist = nx.single_source_shortest_path_length(g.reverse(copy=False), target)
        out, backups = {}, {}
        for dpid in dist:
            if dpid == target:
                continue
            best = min((dist[n], n, g.edges[dpid, n]["port"]) for n in g.successors(dpid) if n in dist)
            out[dpid] = best[2]
            alternate = min(((dist[n], n, g.edges[dpid, n]["port"]) for n in g.successors(dpid)
                             if n in dist and dist[n] <= dist[dpid] and g.edges[dpid, n]["port"] != best[2]),
                            default=None)
            if alternate is not None:
                backups[dpid] = alternate[2]
        self._backups[target] = backups
        self._hops[target] = dist
        return out

    def hop_counts(self, target: int) -> dict[int, int]:
        """For every switch that can reach `target` (itself included, 0), the number of links on
        its shortest path there."""
        self.next_hops(target)
        return self._hops[target]

    def backup_next_hops(self, target: int) -> dict[int, int]:
        """For every switch that has one, a loop-free alternate first hop toward `target`: a
        neighbour, over another up link than the primary's, at most as far from the target as
        the switch itself (so its own shortest path cannot come back through the switch). Ties
        go to the nearest, then the lowest dpid."""
        self.next_hops(target)
        return self._backups[target]

    def path(self, src: str, dst: str, min_bandwidth_mbps: float = 0.0) -> list[tuple[int, int, int]]:
        """Shortest path as (dpid, in_port, out_port) hops from src's switch to dst's; raises NotFound
        or FailedPrecondition."""
        a, b = self.host(src), self.host(dst)
        for host, free, way in ((a, a.access_mbps - a.reserved_up, "from"), (b, b.access_mbps - b.reserved_down, "to")):
            if host.access_mbps > 0 and min_bandwidth_mbps > free + 1e-9:
                raise FailedPrecondition(f"no path from {src} to {dst} with {min_bandwidth_mbps:g} Mbit/s free: the "
                                         f"access link {way} {host.name} has {max(free, 0):g} of its "
                                         f"{host.access_mbps:g} Mbit/s free")
        g = self.graph(min_bandwidth_mbps)
        try:
            switches = nx.shortest_path(g, a.dpid, b.dpid)
        except nx.NetworkXNoPath:
            need = f" with {min_bandwidth_mbps:g} Mbit/s free" if min_bandwidth_mbps else ""
            raise FailedPrecondition(f"no path from {src} to {dst}{need}") from None
        hops, in_port = [], a.port
        for k, dpid in enumerate(switches):
            out_port = b.port if k == len(switches) - 1 else g.edges[dpid, switches[k + 1]]["port"]
            hops.append((dpid, in_port, out_port))
            if k < len(switches) - 1:
                in_port = self.links[(dpid, out_port)].dst_port
        return hops

    def path_links(self, hops: list[tuple[int, int, int]]) -> list[LinkInfo]:
        return [self.links[(dpid, out)] for dpid, _, out in hops[:-1]]

    def bottleneck(self, hops: list[tuple[int, int, int]]) -> float:
        links = self.path_links(hops)
        return min((l.capacity_mbps - l.reserved_mbps for l in links), default=float("inf"))


def default_gateway(subnet: ipaddress.IPv4Network) -> str:
    """The hosts' gateway to the service range: the subnet's last usable address."""
    return str(subnet.broadcast_address - 1)


MAX_BANDWIDTH_MBPS = 1e7  # 10 Tbit/s: beyond any link here; larger is a mistake


def check_bandwidth(value: float, what: str) -> None:
    """A bandwidth in Mbit/s a request may ask for (0 included), or InvalidArgument naming `what`."""
    if not 0 <= value <= MAX_BANDWIDTH_MBPS:  # also refuses NaN
        raise InvalidArgument(f"{what} must be a number from 0 to {MAX_BANDWIDTH_MBPS:g} Mbit/s, got {value!r}")


def parse_ipv4(text: str, what: str) -> str:
    """A dotted IPv4 address, or InvalidArgument naming `what`."""
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise InvalidArgument(f"{what}: {text!r} is not an IPv4 address") from None


def parse_mac(text: str, what: str) -> str:
    """A unicast Ethernet address as six lower-case colon-separated octets, or InvalidArgument."""
    octets = text.split(":")
    if len(octets) != 6 or not all(len(o) == 2 and all(c in "0123456789abcdefABCDEF" for c in o) for o in octets):
        raise InvalidArgument(f"{what}: {text!r} is not a MAC address (six hex octets, e.g. 02:00:0a:00:80:02)")
    mac = text.lower()
    if int(octets[0], 16) & 1:
        raise InvalidArgument(f"{what}: {mac} is a multicast address; a pod needs a unicast MAC")
    if mac == "00:00:00:00:00:00":
        raise InvalidArgument(f"{what}: 00:00:00:00:00:00 is not a usable MAC")
    return mac
