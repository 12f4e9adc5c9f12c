"""Bounds on what a request may carry (counts, lengths, numbers), checked before any work; docs/security.md lists them."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from component_base.errors import InvalidArgument

MAX_NAME = 253            # characters in a name (node, service, container, application, VNF ...)
MAX_TEXT = 4096           # characters in one free-text string (an env entry, a command argument, a path)
MAX_LIST = 256            # entries in a list or map of a request (env, command, labels, hosts, capabilities)
MAX_TOTAL_TEXT = 65536    # characters in all the entries of one list or map together
MAX_ITEMS = 10000         # entries in a large list (a node's layers or containers in a heartbeat, endpoints)
MAX_REPLICAS = 1000       # instances of one service (a generous emulation, and far below what would exhaust memory)
MAX_SUBSETS = 64          # distinct subsets of one mesh service
MAX_SOLVE_SECONDS = 300.0  # a placement Solve's time limit: a worker is never held longer
MAX_STOP_TIMEOUT_SECONDS = 300.0  # StopContainer's grace before SIGKILL
MAX_MILLICORES = 1e7      # 10,000 cores: more is a typo
MAX_PIDS = 4194304        # a container's pids limit: the kernel's own ceiling on PIDs (PID_MAX_LIMIT)
MAX_MEMORY_MIB = 1 << 30  # 1 PiB, MiB: more is a typo
MAX_BYTES = 1 << 60       # storage in bytes: more is a typo
MAX_MBPS = 1e9            # bandwidth, Mbit/s
MAX_DOCUMENT = 1 << 20    # bytes of a descriptor or an app file (YAML, JSON)


def finite(field: str, value: float, low: float = 0.0, high: float = math.inf) -> float:
    """`value` if it is a finite number from `low` to `high`; NaN and infinities are refused."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InvalidArgument(f"{field} must be a finite number from {low:g} to {high:g}, got {value!r}")
    return value


def whole(field: str, value: int, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidArgument(f"{field} must be a whole number from {low} to {high}, got {value!r}")
    return value


def text(field: str, value: str, high: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string, got {type(value).__name__}")
    if len(value) > high:
        raise InvalidArgument(f"{field} is {len(value)} characters long; at most {high}")
    if "\x00" in value:
        raise InvalidArgument(f"{field} contains a NUL character")
    return value


def strings(field: str, values: Sequence[str], *, count: int = MAX_LIST, each: int = MAX_TEXT,
            total: int = MAX_TOTAL_TEXT) -> None:
    """A list of strings: at most `count` entries, each at most `each` characters, `total` in all."""
    if len(values) > count:
        raise InvalidArgument(f"{field} has {len(values)} entries; at most {count}")
    for k, value in enumerate(values):
        text(f"{field}[{k}]", value, each)
    size = sum(len(v) for v in values)
    if size > total:
        raise InvalidArgument(f"{field} holds {size} characters in all; at most {total}")


def string_map(field: str, values: Mapping[str, str], *, count: int = MAX_LIST, key: int = MAX_NAME,
               each: int = MAX_TEXT, total: int = MAX_TOTAL_TEXT) -> None:
    """A map of strings: at most `count` entries, keys at most `key` characters, values `each`, `total` in all."""
    if len(values) > count:
        raise InvalidArgument(f"{field} has {len(values)} entries; at most {count}")
    for k, v in values.items():
        text(f"{field} key {k[:40]!r}", k, key)
        text(f"{field}[{k[:40]!r}]", v, each)
    size = sum(len(k) + len(v) for k, v in values.items())
    if size > total:
        raise InvalidArgument(f"{field} holds {size} characters in all; at most {total}")


def count(field: str, values: Sequence | Mapping, high: int = MAX_ITEMS) -> None:
    if len(values) > high:
        raise InvalidArgument(f"{field} has {len(values)} entries; at most {high}")


def host_port(field: str, value: str) -> tuple[str, int]:
    """An "IPv4:port" address (a node's own agent address), nothing else: no host names, no URLs."""
    text(field, value, 64)
    ip, sep, port = value.rpartition(":")
    try:
        address = ipaddress.IPv4Address(ip)
        number = int(port) if port.isdigit() else -1
    except ValueError:
        address, number = None, -1
    if not sep or address is None or not 1 <= number <= 65535:
        raise InvalidArgument(f"{field} must be IPV4:PORT (port 1-65535), got {value[:80]!r}")
    return str(address), number


def blob_url(field: str, value: str, own_ip: str | None = None) -> str:
    """A node's blob server: http://IPV4:PORT with no path, query or credentials, on the node's own
    address when it is given (peers fetch from it, so it must not name anyone else)."""
    text(field, value, 64)
    parts = urlsplit(value)
    try:
        ip, _ = host_port(field, parts.netloc)
    except InvalidArgument:
        ip = ""
    if parts.scheme != "http" or not ip or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidArgument(f"{field} must be http://IPV4:PORT, got {value[:80]!r}")
    if own_ip is not None and ip != own_ip:
        raise InvalidArgument(f"{field} must be on the node's own address {own_ip}, got {ip}")
    return value.rstrip("/")


def agent_address(field: str, value: str, own_ip: str) -> str:
    """Where a node's agent is called: "unix:/ABSOLUTE/PATH" (the agent's local socket) or IPV4:PORT on
    the node's own address; never a host name or a URL (other components dial what is registered)."""
    text(field, value, 512)
    if value.startswith("unix:"):
        if not value.startswith("unix:/") or "/../" in value + "/":
            raise InvalidArgument(f"{field} must be unix:/ABSOLUTE/PATH or IPV4:PORT, got {value[:80]!r}")
        return value
    ip, _ = host_port(field, value)
    if ip != own_ip:
        raise InvalidArgument(f"{field} must be on the node's own address {own_ip}, got {ip}")
    return value
