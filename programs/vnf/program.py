"""The VNF program every VNF container runs: a one-armed firewall, rate limiter or traffic monitor.

One self-contained file, standard library only: containers run it as
`python3 /opt/strata/vnf.py` with the host's Debian python3 and nothing of this repository.
Importing it has no side effects; the tests use its pure parts (frame parsing, rule matching, the
token bucket, flow counting, the forwarding decision on a buffer, the metrics text).

Steering contract: the SDN sends a chain's packets to the VNF's interface with the Ethernet
destination rewritten to the VNF's MAC, the IP header untouched. The VNF reads them with an
AF_PACKET socket bound to its interface, and a packet it passes goes back out of the same
interface with the VNF's MAC as Ethernet source (the switch sets the next hop's destination);
a packet it drops never leaves. It touches only IPv4 frames addressed to its MAC whose IPv4
destination is not its own address (its metrics server is the kernel's business), never its own
outgoing frames. The kernel of its namespace must not forward as well: net.ipv4.ip_forward = 1 is
set to 0 when /proc/sys is writable, else the program refuses to start.

Configuration (environment):
  STRATA_VNF_KIND          firewall | ratelimit | monitor (required)
  STRATA_VNF_CONFIG        the kind's JSON object (firewall and ratelimit: required; monitor: optional)
  STRATA_VNF_INTERFACE     the interface to serve (default eth0, the pod interface)
  STRATA_VNF_NAME          instance name reported in /stats (default: the host name)
  STRATA_VNF_METRICS_PORT  HTTP port of /stats, /metrics, /healthz (default 9100)
  STRATA_VNF_METRICS_BIND  its address (default 0.0.0.0: the namespace's own interfaces)
  STRATA_VNF_NEXT_MAC      optional, for labs without an SDN switch: the Ethernet destination to
                           write on passed frames, either one MAC for every frame or
                           comma-separated IPv4=MAC entries by IPv4 destination (others keep
                           theirs); "MAC,IP=MAC" sets both. Under the SDN leave it unset.

HTTP API: GET /stats (JSON), GET /metrics (Prometheus text format), GET /healthz; other 404.

Exit codes: 0 after SIGTERM/SIGINT, 1 when it cannot start (no raw socket: root or CAP_NET_RAW
needed; no such interface; kernel forwarding on and read-only; metrics port taken), 2 on bad
configuration (the message on stderr names the variable and, in STRATA_VNF_CONFIG, the field).
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import urlsplit

KINDS = ("firewall", "ratelimit", "monitor")
DEFAULT_INTERFACE = "eth0"
DEFAULT_METRICS_PORT = 9100
DEFAULT_METRICS_BIND = "0.0.0.0"
DEFAULT_IDLE_TIMEOUT = 120.0   # seconds a flow (or a firewall's allowed reply) lives without packets
DEFAULT_MAX_FLOWS = 65536      # bounds the flow tables: memory stays fixed under a scan or a flood
MIN_SWEEP_INTERVAL = 0.5
MAX_SWEEP_INTERVAL = 10.0

ETH_P_IP = 0x0800
ETH_HEADER = 14
IPV4_MIN = ETH_HEADER + 20
PACKET_HOST = 0                # sockaddr_ll.sll_pkttype: unicast to this interface's MAC
PACKET_OUTGOING = 4            # ... a frame this host sent
PACKET_IGNORE_OUTGOING = 23    # SOL_PACKET option (Linux 4.20+)
SOL_PACKET = 263
PACKET_STATISTICS = 6         # SOL_PACKET option: struct tpacket_stats {packets, drops}, reset on read
SIOCGIFADDR = 0x8915
RECV_BUFFER = 65536 + 64       # a frame as large as the kernel can hand over (GRO may merge)
SOCKET_BUFFER = 4 * 1024 * 1024
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"

TCP, UDP, ICMP = 6, 17, 1
PROTOCOLS = {"tcp": TCP, "udp": UDP, "icmp": ICMP, "any": None}
PROTOCOL_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp"}
ICMP_ECHO_TYPES = (0, 8)       # reply, request: both carry the identifier that pairs them

_IPV4_HEAD = struct.Struct("!BxHxxHxB")   # version/ihl, total length, flags/fragment, protocol
_ADDRS = struct.Struct("!II")
_PORTS = struct.Struct("!HH")
_ICMP = struct.Struct("!BxxxH")           # type, identifier
_U32 = struct.Struct("!I")
_PACKET_STATS = struct.Struct("II")       # native order: it comes from the kernel, not the wire


class ConfigError(ValueError):
    """A bad configuration value; the message names the environment variable (and the field)."""


class StartError(RuntimeError):
    """The program cannot run in this environment (privilege, interface, sysctl, port)."""


class MalformedPacket(ValueError):
    """An IPv4 frame whose header does not hold together (dropped, as a router drops it)."""


# ----------------------------------------------------------------------------- parsing (pure)

class Packet(NamedTuple):
    src: int                 # IPv4 addresses as integers: a CIDR match is one AND and one compare
    dst: int
    proto: int
    src_port: int | None     # TCP/UDP only, and None when unknown (non-first fragment, truncated)
    dst_port: int | None
    icmp_type: int | None
    icmp_id: int | None      # echo request/reply identifier
    length: int              # the Ethernet frame's bytes (what rates and byte counters count)
    fragment: bool = False   # a non-first fragment: no transport header


def ip_to_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def int_to_ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def mac_to_bytes(text: str) -> bytes:
    parts = text.strip().split(":")
    if len(parts) != 6 or not all(len(p) in (1, 2) for p in parts):
        raise ValueError(f"{text!r} is not a MAC address (six hex bytes separated by ':')")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"{text!r} is not a MAC address (six hex bytes separated by ':')") from None


def mac_to_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_frame(frame, length: int | None = None) -> Packet | None:
    """The IPv4 packet in an Ethernet frame (bytes, bytearray or memoryview; `length` bytes of it
    are valid). None when the frame is not IPv4; MalformedPacket when its IPv4 header is broken.
    Ethernet padding beyond the IP total length is allowed (short frames are padded to 60)."""
    if length is None:
        length = len(frame)
    if length < ETH_HEADER or frame[12] != 0x08 or frame[13] != 0x00:
        return None
    if length < IPV4_MIN:
        raise MalformedPacket(f"frame of {length} bytes cannot hold an IPv4 header")
    version_ihl, total, frag, proto = _IPV4_HEAD.unpack_from(frame, ETH_HEADER)
    header = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or header < 20:
        raise MalformedPacket(f"bad version/header length byte 0x{version_ihl:02x}")
    if total < header or ETH_HEADER + total > length:
        raise MalformedPacket(f"IPv4 total length {total} does not fit header {header} "
                              f"and frame {length}")
    src, dst = _ADDRS.unpack_from(frame, ETH_HEADER + 12)
    transport = ETH_HEADER + header
    available = total - header
    if frag & 0x1FFF:
        return Packet(src, dst, proto, None, None, None, None, length, True)
    if proto == TCP or proto == UDP:
        if available >= 4:
            sport, dport = _PORTS.unpack_from(frame, transport)
            return Packet(src, dst, proto, sport, dport, None, None, length)
        return Packet(src, dst, proto, None, None, None, None, length)
    if proto == ICMP and available >= 8:
        icmp_type, icmp_id = _ICMP.unpack_from(frame, transport)
        return Packet(src, dst, proto, None, None, icmp_type,
                      icmp_id if icmp_type in ICMP_ECHO_TYPES else None, length)
    if proto == ICMP and available >= 1:
        return Packet(src, dst, proto, None, None, frame[transport], None, length)
    return Packet(src, dst, proto, None, None, None, None, length)


def flow_key(p: Packet) -> tuple:
    """(proto, src, dst, src_port, dst_port): ICMP echo uses its identifier on both sides, so a
    request and its reply are the two directions of one flow; other protocols use 0."""
    if p.src_port is not None:
        return (p.proto, p.src, p.dst, p.src_port, p.dst_port)
    if p.icmp_id is not None:
        return (p.proto, p.src, p.dst, p.icmp_id, p.icmp_id)
    return (p.proto, p.src, p.dst, 0, 0)


def reverse_key(key: tuple) -> tuple:
    proto, src, dst, sport, dport = key
    return (proto, dst, src, dport, sport)


# ----------------------------------------------------------------------------- decisions (pure)

class FlowTable:
    """Distinct 5-tuples, both directions of a connection counted as one flow. The side that sent
    the first packet seen is 'forward', the other 'reverse'. A flow idle longer than idle_timeout
    is forgotten (and counted again if it comes back); beyond max_flows new flows go untracked."""

    def __init__(self, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, max_flows: int = DEFAULT_MAX_FLOWS):
        self.idle_timeout = idle_timeout
        self.max_flows = max_flows
        self.flows: dict[tuple, float] = {}     # initiator's key -> last seen
        self.total = 0
        self.untracked = 0                      # packets of new flows that found the table full

    def observe(self, key: tuple, now: float) -> bool:
        """Record a packet; True when it goes in the forward direction of its flow."""
        flows = self.flows
        seen = flows.get(key)
        if seen is not None and now - seen <= self.idle_timeout:
            flows[key] = now
            return True
        rkey = reverse_key(key)
        seen = flows.get(rkey)
        if seen is not None and now - seen <= self.idle_timeout:
            flows[rkey] = now
            return False
        if seen is not None:
            del flows[rkey]
        if key in flows or len(flows) < self.max_flows:
            flows[key] = now
            self.total += 1
        else:
            self.untracked += 1
        return True

    def expire(self, now: float) -> int:
        limit = now - self.idle_timeout
        old = [key for key, seen in self.flows.items() if seen < limit]
        for key in old:
            del self.flows[key]
        return len(old)

    @property
    def active(self) -> int:
        return len(self.flows)


class Vnf:
    """What every kind counts. process() is the whole per-packet decision: flow accounting, the
    kind's decide(), the counters; it never raises on a parsed packet."""

    kind = ""

    def __init__(self, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, max_flows: int = DEFAULT_MAX_FLOWS):
        self.flows = FlowTable(idle_timeout, max_flows)
        self.passed = self.dropped = 0
        self.bytes_passed = self.bytes_dropped = 0
        self.malformed = 0                      # counted in dropped too
        self.direction_packets = [0, 0]         # forward, reverse
        self.direction_bytes = [0, 0]
        self.sweep_interval = min(MAX_SWEEP_INTERVAL, max(MIN_SWEEP_INTERVAL, idle_timeout / 4))
        self.next_sweep = None

    def process(self, packet: Packet, now: float) -> bool:
        if self.next_sweep is None or now >= self.next_sweep:
            self.sweep(now)
            self.next_sweep = now + self.sweep_interval
        key = flow_key(packet)
        size = packet.length
        if packet.fragment:     # no ports: counting it as a flow of its own would be wrong
            index = 0
        else:
            index = 0 if self.flows.observe(key, now) else 1
        self.direction_packets[index] += 1
        self.direction_bytes[index] += size
        if self.decide(packet, key, now):
            self.passed += 1
            self.bytes_passed += size
            return True
        self.dropped += 1
        self.bytes_dropped += size
        return False

    def count_malformed(self, length: int) -> None:
        self.malformed += 1
        self.dropped += 1
        self.bytes_dropped += length

    def decide(self, packet: Packet, key: tuple, now: float) -> bool:
        raise NotImplementedError

    def sweep(self, now: float) -> None:
        self.flows.expire(now)

    def stats(self) -> dict:
        """The kind's own counters for /stats (added to the common ones)."""
        return {}


class Monitor(Vnf):
    """Passes everything; the counting is the common part."""

    kind = "monitor"

    def decide(self, packet: Packet, key: tuple, now: float) -> bool:
        return True


class TokenBucket:
    """A bucket of `capacity` bytes refilled at `rate` bytes per second, full at the start."""

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.last = now

    def allow(self, size: int, now: float) -> bool:
        elapsed = now - self.last
        if elapsed > 0:     # a clock that steps back adds nothing
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.last = now
        if size <= self.tokens:
            self.tokens -= size
            return True
        return False


class RateLimiter(Vnf):
    """One token bucket for all the traffic through this instance; over the rate is dropped."""

    kind = "ratelimit"

    def __init__(self, rate_mbps: float, burst_kbytes: float, now: float, **common):
        super().__init__(**common)
        self.rate_mbps = rate_mbps
        self.burst_kbytes = burst_kbytes
        self.bucket = TokenBucket(rate_mbps * 1e6 / 8, burst_kbytes * 1000, now)

    def decide(self, packet: Packet, key: tuple, now: float) -> bool:
        return self.bucket.allow(packet.length, now)

    def stats(self) -> dict:
        return {"rate_bytes_per_second": self.bucket.rate, "burst_bytes": self.bucket.capacity,
                "tokens": round(self.bucket.tokens, 1)}


class Rule:
    """One firewall rule; None fields match anything. A rule with ports matches only TCP and UDP
    packets whose ports are known."""

    __slots__ = ("index", "name", "allow", "src_net", "src_mask", "dst_net", "dst_mask",
                 "proto", "src_ports", "dst_ports", "hits")

    def __init__(self, index: int, allow: bool, *, name: str = "", src_cidr: str | None = None,
                 dst_cidr: str | None = None, proto: int | None = None,
                 src_ports: tuple[int, int] | None = None, dst_ports: tuple[int, int] | None = None):
        self.index = index
        self.name = name
        self.allow = allow
        self.src_net, self.src_mask = _net_mask(src_cidr)
        self.dst_net, self.dst_mask = _net_mask(dst_cidr)
        self.proto = proto
        self.src_ports = src_ports
        self.dst_ports = dst_ports
        self.hits = 0

    def matches(self, p: Packet) -> bool:
        if p.src & self.src_mask != self.src_net or p.dst & self.dst_mask != self.dst_net:
            return False
        if self.proto is not None and p.proto != self.proto:
            return False
        if self.src_ports is not None:
            if p.src_port is None or not self.src_ports[0] <= p.src_port <= self.src_ports[1]:
                return False
        if self.dst_ports is not None:
            if p.dst_port is None or not self.dst_ports[0] <= p.dst_port <= self.dst_ports[1]:
                return False
        return True

    @property
    def action(self) -> str:
        return "allow" if self.allow else "deny"


def _net_mask(cidr: str | None) -> tuple[int, int]:
    if cidr is None:
        return 0, 0
    network = ipaddress.IPv4Network(cidr)
    return int(network.network_address), int(network.netmask)


class Firewall(Vnf):
    """Ordered rules, the first match wins, else the default. Stateful: a packet a rule (or the
    default) allows lets the reverse 5-tuple through until idle_timeout passes without packets, so
    the replies of an allowed flow pass under default deny (and before any rule)."""

    kind = "firewall"

    def __init__(self, rules: list[Rule], default_allow: bool, stateful: bool = True, **common):
        super().__init__(**common)
        self.rules = rules
        self.default_allow = default_allow
        self.stateful = stateful
        self.state: dict[tuple, float] = {}     # allowed reply key -> last seen
        self.default_hits = 0
        self.established_hits = 0
        self.state_full = 0                     # allowed flows whose replies could not be recorded

    def decide(self, packet: Packet, key: tuple, now: float) -> bool:
        state = self.state
        if self.stateful and state:
            seen = state.get(key)
            if seen is not None:
                if now - seen <= self.flows.idle_timeout:
                    state[key] = now
                    self.established_hits += 1
                    return True
                del state[key]
        for rule in self.rules:
            if rule.matches(packet):
                rule.hits += 1
                allowed = rule.allow
                break
        else:
            self.default_hits += 1
            allowed = self.default_allow
        if allowed and self.stateful and not packet.fragment:
            reply = reverse_key(key)
            if reply in state or len(state) < self.flows.max_flows:
                state[reply] = now
            else:
                self.state_full += 1
        return allowed

    def sweep(self, now: float) -> None:
        super().sweep(now)
        limit = now - self.flows.idle_timeout
        for key in [key for key, seen in self.state.items() if seen < limit]:
            del self.state[key]

    def stats(self) -> dict:
        return {"default": "allow" if self.default_allow else "deny", "stateful": self.stateful,
                "rules": [{"index": r.index, "name": r.name, "action": r.action, "hits": r.hits}
                          for r in self.rules],
                "default_hits": self.default_hits, "established_hits": self.established_hits,
                "state_entries": len(self.state), "state_full": self.state_full}


# ----------------------------------------------------------------------------- forwarding (pure)

class NextHops(NamedTuple):
    default: bytes | None          # a MAC for every passed frame, or None: keep the destination
    by_destination: dict           # IPv4 destination (int) -> MAC, before the default


def parse_next_hops(text: str | None) -> NextHops | None:
    """STRATA_VNF_NEXT_MAC: "MAC", "IP=MAC,IP=MAC" or both; None when empty. ValueError names the entry."""
    default = None
    table: dict[int, bytes] = {}
    for raw in (text or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            if "=" in entry:
                ip, _, mac = entry.partition("=")
                try:
                    address = ip_to_int(ip.strip())
                except ValueError:
                    raise ValueError(f"{ip.strip()!r} is not an IPv4 address") from None
                if address in table:
                    raise ValueError("this IPv4 address is listed twice")
                table[address] = mac_to_bytes(mac)
            else:
                if default is not None:
                    raise ValueError("a second MAC for every frame")
                default = mac_to_bytes(entry)
        except ValueError as error:
            raise ValueError(f"entry {entry!r}: {error}") from None
    if default is None and not table:
        return None
    return NextHops(default, table)


class Forwarder:
    """The per-frame work on the receive buffer: is the frame ours, what does the VNF decide, and
    the in-place rewrite of a passed frame (source MAC = ours, destination = the lab's next hop
    if configured). handle() returns True when the frame (buffer[:length]) is to be sent."""

    def __init__(self, vnf: Vnf, own_mac: bytes, own_ip: int | None = None,
                 next_hops: NextHops | None = None):
        self.vnf = vnf
        self.own_mac = bytes(own_mac)
        self.own_ip = own_ip
        self.next_hops = next_hops
        self.ignored = 0        # frames left to the kernel: not IPv4 for our MAC, or to our address
        self.send_errors = 0    # passed frames the interface refused (counted by the loop)
        self.queue_drops = 0    # frames the kernel dropped because the loop was behind (socket's count)

    def handle(self, frame, length: int, pkttype: int, now: float) -> bool:
        if (pkttype != PACKET_HOST or length < ETH_HEADER or frame[12] != 0x08 or frame[13] != 0x00
                or frame[0:6] != self.own_mac):
            self.ignored += 1
            return False
        if length >= IPV4_MIN and self.own_ip is not None and _U32.unpack_from(frame, 30)[0] == self.own_ip:
            self.ignored += 1
            return False
        try:
            packet = parse_frame(frame, length)
        except MalformedPacket:
            self.vnf.count_malformed(length)
            return False
        if not self.vnf.process(packet, now):
            return False
        frame[6:12] = self.own_mac
        hops = self.next_hops
        if hops is not None:
            mac = hops.by_destination.get(packet.dst, hops.default)
            if mac is not None:
                frame[0:6] = mac
        return True


# ----------------------------------------------------------------------------- configuration

class Config(NamedTuple):
    kind: str
    settings: dict                  # the kind's validated settings (keyword arguments)
    interface: str
    name: str
    metrics_port: int
    metrics_bind: str
    next_hops: NextHops | None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_fields(obj: dict, allowed: tuple, where: str) -> None:
    for field in obj:
        if field not in allowed:
            path = f"{where}.{field}" if where else field
            raise ConfigError(f"STRATA_VNF_CONFIG: {path}: unknown field (expected one of "
                              f"{', '.join(allowed)})")


def _field_error(path: str, message: str) -> ConfigError:
    return ConfigError(f"STRATA_VNF_CONFIG: {path}: {message}")


def _common_settings(obj: dict) -> dict:
    settings = {}
    if "idle_timeout" in obj:
        value = obj["idle_timeout"]
        if not _is_number(value) or not 0 < value <= 86400:
            raise _field_error("idle_timeout", f"{value!r} must be a number of seconds in (0, 86400]")
        settings["idle_timeout"] = float(value)
    if "max_flows" in obj:
        value = obj["max_flows"]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10_000_000:
            raise _field_error("max_flows", f"{value!r} must be a whole number in 1-10000000")
        settings["max_flows"] = value
    return settings


def parse_port_range(value, path: str) -> tuple[int, int]:
    """A port (number or digits) or "lo-hi"; ConfigError names `path`."""
    if isinstance(value, int) and not isinstance(value, bool):
        lo = hi = value
    elif isinstance(value, str):
        text = value.strip()
        lo_text, sep, hi_text = text.partition("-")
        if not lo_text.strip().isdigit() or (sep and not hi_text.strip().isdigit()):
            raise _field_error(path, f"{value!r} is not a port or a \"lo-hi\" range")
        lo = int(lo_text)
        hi = int(hi_text) if sep else lo
    else:
        raise _field_error(path, f"{value!r} is not a port or a \"lo-hi\" range")
    if not 0 <= lo <= 65535 or not 0 <= hi <= 65535:
        raise _field_error(path, f"{value!r} is out of range 0-65535")
    if lo > hi:
        raise _field_error(path, f"{value!r}: the range's low end is above its high end")
    return lo, hi


def _parse_cidr(value, path: str) -> str:
    if not isinstance(value, str):
        raise _field_error(path, f"{value!r} is not an IPv4 CIDR like \"10.0.0.0/24\"")
    try:
        return str(ipaddress.IPv4Network(value.strip()))
    except ValueError as error:
        raise _field_error(path, f"{value!r} is not an IPv4 CIDR like \"10.0.0.0/24\" ({error})") from None


def _parse_action(value, path: str) -> bool:
    if value not in ("allow", "deny"):
        raise _field_error(path, f"{value!r} is not allow or deny")
    return value == "allow"


RULE_FIELDS = ("name", "src_cidr", "dst_cidr", "protocol", "src_port", "dst_port", "action")


def parse_firewall(obj: dict) -> dict:
    _check_fields(obj, ("rules", "default", "stateful", "idle_timeout", "max_flows"), "")
    if "default" not in obj:
        raise _field_error("default", "required: allow or deny (what no rule matches)")
    default_allow = _parse_action(obj["default"], "default")
    stateful = obj.get("stateful", True)
    if not isinstance(stateful, bool):
        raise _field_error("stateful", f"{stateful!r} is not true or false")
    raw_rules = obj.get("rules", [])
    if not isinstance(raw_rules, list):
        raise _field_error("rules", "must be a list of rule objects")
    rules = []
    for index, raw in enumerate(raw_rules):
        where = f"rules[{index}]"
        if not isinstance(raw, dict):
            raise _field_error(where, "must be an object")
        _check_fields(raw, RULE_FIELDS, where)
        if "action" not in raw:
            raise _field_error(f"{where}.action", "required: allow or deny")
        allow = _parse_action(raw["action"], f"{where}.action")
        name = raw.get("name", "")
        if not isinstance(name, str):
            raise _field_error(f"{where}.name", f"{name!r} is not a string")
        protocol = raw.get("protocol", "any")
        if not isinstance(protocol, str) or protocol not in PROTOCOLS:
            raise _field_error(f"{where}.protocol", f"{protocol!r} is not one of tcp, udp, icmp, any")
        proto = PROTOCOLS[protocol]
        ports = {}
        for field in ("src_port", "dst_port"):
            if field in raw:
                if proto == ICMP:
                    raise _field_error(f"{where}.{field}", "ICMP has no ports (use tcp, udp or any)")
                ports[field] = parse_port_range(raw[field], f"{where}.{field}")
        rules.append(Rule(index, allow, name=name,
                          src_cidr=_parse_cidr(raw["src_cidr"], f"{where}.src_cidr") if "src_cidr" in raw else None,
                          dst_cidr=_parse_cidr(raw["dst_cidr"], f"{where}.dst_cidr") if "dst_cidr" in raw else None,
                          proto=proto, src_ports=ports.get("src_port"), dst_ports=ports.get("dst_port")))
    return {"rules": rules, "default_allow": default_allow, "stateful": stateful, **_common_settings(obj)}


def parse_ratelimit(obj: dict) -> dict:
    _check_fields(obj, ("rate_mbps", "burst_kbytes", "idle_timeout", "max_flows"), "")
    for field in ("rate_mbps", "burst_kbytes"):
        if field not in obj:
            raise _field_error(field, "required")
    rate = obj["rate_mbps"]
    if not _is_number(rate) or not 0 < rate <= 100_000:
        raise _field_error("rate_mbps", f"{rate!r} must be a number of Mbit/s in (0, 100000]")
    burst = obj["burst_kbytes"]
    # Below one full-size frame such frames could never pass.
    if not _is_number(burst) or not 1.514 <= burst <= 1_000_000:
        raise _field_error("burst_kbytes", f"{burst!r} must be a number of kilobytes (1000 bytes) "
                                           "in [1.514, 1000000]: at least one full Ethernet frame")
    return {"rate_mbps": float(rate), "burst_kbytes": float(burst), **_common_settings(obj)}


def parse_monitor(obj: dict) -> dict:
    _check_fields(obj, ("idle_timeout", "max_flows"), "")
    return _common_settings(obj)


PARSERS = {"firewall": parse_firewall, "ratelimit": parse_ratelimit, "monitor": parse_monitor}


def parse_vnf_config(kind: str, text: str | None) -> dict:
    """The kind's settings from STRATA_VNF_CONFIG's JSON; ConfigError names the field."""
    text = (text or "").strip()
    if not text:
        if kind != "monitor":
            raise ConfigError(f"STRATA_VNF_CONFIG: required for a {kind} (a JSON object)")
        text = "{}"
    try:
        obj = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"STRATA_VNF_CONFIG: not valid JSON: {error}") from None
    if not isinstance(obj, dict):
        raise ConfigError("STRATA_VNF_CONFIG: must be a JSON object")
    return PARSERS[kind](obj)


def build_vnf(kind: str, settings: dict, now: float) -> Vnf:
    if kind == "firewall":
        return Firewall(**settings)
    if kind == "ratelimit":
        return RateLimiter(now=now, **settings)
    return Monitor(**settings)


def load_config(env: dict | None = None) -> Config:
    """The configuration from the environment; ConfigError names the bad variable."""
    env = os.environ if env is None else env

    def text(name: str, default: str) -> str:
        return env.get(name, "").strip() or default

    kind = text("STRATA_VNF_KIND", "")
    if kind not in KINDS:
        raise ConfigError(f"STRATA_VNF_KIND: {kind!r} is not one of {', '.join(KINDS)}"
                          if kind else f"STRATA_VNF_KIND: required, one of {', '.join(KINDS)}")
    settings = parse_vnf_config(kind, env.get("STRATA_VNF_CONFIG"))
    raw = text("STRATA_VNF_METRICS_PORT", str(DEFAULT_METRICS_PORT))
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"STRATA_VNF_METRICS_PORT: {raw!r} is not a port in 1-65535")
    interface = text("STRATA_VNF_INTERFACE", DEFAULT_INTERFACE)
    if len(interface) > 15 or "/" in interface or any(c.isspace() for c in interface):
        raise ConfigError(f"STRATA_VNF_INTERFACE: {interface!r} is not an interface name")
    try:
        next_hops = parse_next_hops(env.get("STRATA_VNF_NEXT_MAC"))
    except ValueError as error:
        raise ConfigError(f"STRATA_VNF_NEXT_MAC: {error}") from None
    return Config(kind=kind, settings=settings, interface=interface,
                  name=text("STRATA_VNF_NAME", socket.gethostname()),
                  metrics_port=int(raw), metrics_bind=text("STRATA_VNF_METRICS_BIND", DEFAULT_METRICS_BIND),
                  next_hops=next_hops)


# ----------------------------------------------------------------------------- counters out (pure)

def snapshot(forwarder: Forwarder, *, name: str = "", interface: str = "", started: float = 0.0,
             now: float = 0.0) -> dict:
    """Every counter, for /stats and /metrics. Read without a lock from another thread than the
    loop's: each number is current, "seen" is computed so that seen = passed + dropped holds."""
    vnf = forwarder.vnf
    passed, dropped = vnf.passed, vnf.dropped
    bytes_passed, bytes_dropped = vnf.bytes_passed, vnf.bytes_dropped
    body = {
        "kind": vnf.kind, "name": name, "interface": interface,
        "mac": mac_to_text(forwarder.own_mac),
        "ip": int_to_ip(forwarder.own_ip) if forwarder.own_ip is not None else None,
        "uptime_seconds": round(now - started, 3),
        "packets": {"seen": passed + dropped, "passed": passed, "dropped": dropped,
                    "malformed": vnf.malformed},
        "bytes": {"seen": bytes_passed + bytes_dropped, "passed": bytes_passed, "dropped": bytes_dropped},
        "flows": {"total": vnf.flows.total, "active": vnf.flows.active,
                  "untracked_packets": vnf.flows.untracked},
        "directions": {"forward": {"packets": vnf.direction_packets[0], "bytes": vnf.direction_bytes[0]},
                       "reverse": {"packets": vnf.direction_packets[1], "bytes": vnf.direction_bytes[1]}},
        "ignored_frames": forwarder.ignored,
        "send_errors": forwarder.send_errors,
        "queue_drops": forwarder.queue_drops,
    }
    body[vnf.kind] = vnf.stats()
    return body


def _label(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def render_metrics(stats: dict) -> str:
    """Prometheus text exposition format (version 0.0.4) of a snapshot()."""
    kind = _label(stats["kind"])
    lines: list[str] = []

    def family(name: str, kind_of: str, help_text: str, samples: list[tuple[str, object]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind_of}")
        for labels, value in samples:
            inner = f"kind=\"{kind}\"" + (f",{labels}" if labels else "")
            lines.append(f"{name}{{{inner}}} {value}")

    family("strata_vnf_packets_total", "counter", "IPv4 packets steered to this VNF, by verdict.",
           [("verdict=\"pass\"", stats["packets"]["passed"]),
            ("verdict=\"drop\"", stats["packets"]["dropped"])])
    family("strata_vnf_bytes_total", "counter", "Bytes (Ethernet frames) steered to this VNF, by verdict.",
           [("verdict=\"pass\"", stats["bytes"]["passed"]), ("verdict=\"drop\"", stats["bytes"]["dropped"])])
    family("strata_vnf_malformed_packets_total", "counter", "IPv4 frames with a broken header (dropped).",
           [("", stats["packets"]["malformed"])])
    family("strata_vnf_direction_packets_total", "counter",
           "Packets by direction: forward from a flow's first sender, reverse back to it.",
           [(f"direction=\"{d}\"", stats["directions"][d]["packets"]) for d in ("forward", "reverse")])
    family("strata_vnf_direction_bytes_total", "counter", "Bytes by direction of their flow.",
           [(f"direction=\"{d}\"", stats["directions"][d]["bytes"]) for d in ("forward", "reverse")])
    family("strata_vnf_flows_total", "counter",
           "Flows first seen (distinct 5-tuples, both directions one flow).", [("", stats["flows"]["total"])])
    family("strata_vnf_flows_active", "gauge", "Flows seen within the idle timeout.",
           [("", stats["flows"]["active"])])
    family("strata_vnf_ignored_frames_total", "counter",
           "Frames left to the kernel (not IPv4 to this MAC, or to this VNF's own address).",
           [("", stats["ignored_frames"])])
    family("strata_vnf_send_errors_total", "counter", "Passed frames the interface refused to send.",
           [("", stats["send_errors"])])
    family("strata_vnf_queue_drops_total", "counter",
           "Frames the kernel dropped before the VNF read them (it was behind: over its capacity).",
           [("", stats["queue_drops"])])
    own = stats.get(stats["kind"], {})
    if stats["kind"] == "firewall":
        samples = [(f"rule=\"{r['index']}\",name=\"{_label(r['name'])}\",action=\"{r['action']}\"", r["hits"])
                   for r in own["rules"]]
        samples.append((f"rule=\"default\",name=\"\",action=\"{own['default']}\"", own["default_hits"]))
        samples.append(("rule=\"established\",name=\"\",action=\"allow\"", own["established_hits"]))
        family("strata_vnf_rule_hits_total", "counter",
               "Firewall decisions by rule (index in the config), the default, or an allowed flow's replies.",
               samples)
        family("strata_vnf_state_entries", "gauge", "Allowed flows whose replies the firewall lets through.",
               [("", own["state_entries"])])
    elif stats["kind"] == "ratelimit":
        family("strata_vnf_rate_bytes_per_second", "gauge", "The configured rate.",
               [("", own["rate_bytes_per_second"])])
        family("strata_vnf_burst_bytes", "gauge", "The token bucket's size.", [("", own["burst_bytes"])])
    family("strata_vnf_uptime_seconds", "gauge", "Seconds since the VNF started.",
           [("", stats["uptime_seconds"])])
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the metrics server

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "strata-vnf/1"
    timeout = 60

    def version_string(self) -> str:
        return self.server_version

    def send_body(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status: int, body: dict) -> None:
        self.send_body(status, (json.dumps(body, separators=(",", ":")) + "\n").encode(), "application/json")

    def do_GET(self) -> None:
        route = urlsplit(self.path).path
        if route == "/healthz":
            self.send_json(200, {"ok": True})
        elif route == "/stats":
            self.send_json(200, self.server.stats())  # type: ignore[attr-defined]
        elif route == "/metrics":
            self.send_body(200, render_metrics(self.server.stats()).encode(),  # type: ignore[attr-defined]
                           "text/plain; version=0.0.4; charset=utf-8")
        else:
            self.send_json(404, {"error": f"not found: GET {route}"})

    def _not_found(self) -> None:
        self.close_connection = True  # any request body is left unread
        self.send_json(404, {"error": f"not found: {self.command} {urlsplit(self.path).path}"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_found
    do_HEAD = do_GET

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's signature
        pass  # scrapes every few seconds would drown the log


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, bind: str, port: int, stats):
        if ":" in bind:
            self.address_family = socket.AF_INET6
        self.stats = stats      # () -> snapshot dict
        super().__init__((bind, port), Handler)


# ----------------------------------------------------------------------------- the thin adapter

def interface_ipv4(sock: socket.socket, interface: str) -> int | None:
    """The interface's (primary) IPv4 address, None when it has none."""
    request = struct.pack("256s", interface.encode()[:15])
    try:
        answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
    except OSError:
        return None
    return _U32.unpack_from(answer, 20)[0]


def disable_kernel_forwarding(path: str = IP_FORWARD) -> str:
    """Make sure the namespace's kernel does not forward what the VNF drops: returns what was
    done; StartError when forwarding is on and cannot be turned off."""
    try:
        with open(path) as handle:
            value = handle.read().strip()
    except OSError as error:
        raise StartError(f"cannot read {path} ({error.strerror or error}): the kernel might "
                         "forward the packets this VNF drops") from None
    if value == "0":
        return "kernel forwarding is off"
    try:
        with open(path, "w") as handle:
            handle.write("0\n")
    except OSError as error:
        raise StartError(f"net.ipv4.ip_forward is {value} in this namespace and {path} is not writable "
                         f"({error.strerror or error}): the kernel would forward the packets this VNF "
                         "drops; start the VNF in a namespace with ip_forward=0") from None
    return f"net.ipv4.ip_forward was {value}: set to 0 so that only this VNF forwards"


def open_socket(interface: str) -> socket.socket:
    # ETH_P_IP rather than ETH_P_ALL: the kernel hands over IPv4 only, and protocol-specific packet
    # sockets never see the host's outgoing frames; PACKET_IGNORE_OUTGOING and the pkttype check
    # say so again.
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    except PermissionError:
        raise StartError("cannot open a raw AF_PACKET socket: run as root or with CAP_NET_RAW") from None
    try:
        try:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            pass    # older kernel: the pkttype check alone
        for option in (33, socket.SO_RCVBUF):   # SO_RCVBUFFORCE (root) or the capped one
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
                break
            except OSError:
                continue
        sock.bind((interface, ETH_P_IP))
    except OSError as error:
        sock.close()
        raise StartError(f"cannot bind to interface {interface!r}: {error.strerror or error}") from None
    return sock


class _Stop(BaseException):
    """Raised by the signal handler to leave the blocking receive."""


def run_loop(sock: socket.socket, forwarder: Forwarder) -> None:
    """Receive into one buffer, decide, send the same bytes back; nothing is copied."""
    buffer = bytearray(RECV_BUFFER)
    view = memoryview(buffer)
    receive = sock.recvfrom_into
    send = sock.send
    handle = forwarder.handle
    clock = time.monotonic
    while True:
        length, address = receive(buffer)
        if handle(view, length, address[2], clock()):
            try:
                send(view[:length])
            except OSError:     # too large for the MTU (an offload merged it), or no buffer space
                forwarder.send_errors += 1


def main() -> int:
    try:
        config = load_config()
    except ConfigError as error:
        sys.stderr.write(f"strata vnf: bad configuration: {error}\n")
        return 2

    def stop(signum, frame) -> None:
        raise _Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return serve(config)
    except _Stop:   # before the loop ran: nothing to clean up that the exit does not
        return 0


def serve(config: Config) -> int:
    try:
        forwarding = disable_kernel_forwarding()
        sock = open_socket(config.interface)
    except StartError as error:
        sys.stderr.write(f"strata vnf: cannot start: {error}\n")
        return 1
    own_mac = sock.getsockname()[4]
    own_ip = interface_ipv4(sock, config.interface)
    started = time.monotonic()
    vnf = build_vnf(config.kind, config.settings, started)
    forwarder = Forwarder(vnf, own_mac, own_ip, config.next_hops)

    lock = threading.Lock()

    def stats() -> dict:
        with lock:  # the kernel resets its counts on each read: add them up one reader at a time
            try:
                _, drops = _PACKET_STATS.unpack(sock.getsockopt(SOL_PACKET, PACKET_STATISTICS,
                                                                _PACKET_STATS.size))
                forwarder.queue_drops += drops
            except OSError:
                pass
        return snapshot(forwarder, name=config.name, interface=config.interface,
                        started=started, now=time.monotonic())

    try:
        server = MetricsServer(config.metrics_bind, config.metrics_port, stats)
    except OSError as error:
        sock.close()
        sys.stderr.write(f"strata vnf: cannot start: metrics: cannot listen on "
                         f"{config.metrics_bind}:{config.metrics_port}: {error.strerror or error}\n")
        return 1
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True,
                     name="metrics").start()
    ip_text = int_to_ip(own_ip) if own_ip is not None else "no IPv4 address"
    sys.stderr.write(f"strata vnf {config.kind} {config.name} on {config.interface} "
                     f"({mac_to_text(own_mac)}, {ip_text}); {forwarding}; metrics on "
                     f"{config.metrics_bind}:{config.metrics_port}\n")
    sys.stderr.flush()
    try:
        run_loop(sock, forwarder)
    except _Stop:
        pass
    finally:
        server.shutdown()
        server.server_close()
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
