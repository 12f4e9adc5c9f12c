"""A chain's classifier: which traffic a service chain steers, in canonical form."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from api.protocols import CHAIN_PROTOCOLS, ICMP
from component_base.errors import InvalidArgument


@dataclass(frozen=True)
class Classifier:
    """Which traffic a chain steers; empty fields match anything."""
    src_cidr: str = ""   # "10.0.0.0/24", canonical
    dst_cidr: str = ""
    protocol: str = ""   # "" | "tcp" | "udp" | "icmp"
    dst_port: int = 0    # 0 = any (tcp/udp only)


def checked_classifier(c: Classifier) -> Classifier:
    """The classifier in canonical form (CIDRs as networks); InvalidArgument naming the field."""
    cidrs = {}
    for field in ("src_cidr", "dst_cidr"):
        text = getattr(c, field)
        if text:
            try:
                cidrs[field] = str(ipaddress.IPv4Network(text, strict=False))
            except ValueError:
                raise InvalidArgument(f"classifier.{field}: {text[:40]!r} is not an IPv4 prefix such as "
                                      "10.0.0.0/24") from None
        else:
            cidrs[field] = ""
    if c.protocol not in CHAIN_PROTOCOLS:
        raise InvalidArgument(f"classifier.protocol must be tcp, udp, icmp or any, got {c.protocol!r}")
    if not 0 <= c.dst_port <= 65535:
        raise InvalidArgument(f"classifier.dst_port {c.dst_port} is not in 0-65535")
    if c.dst_port and c.protocol == ICMP:
        raise InvalidArgument("classifier.dst_port: ICMP has no ports")
    return Classifier(cidrs["src_cidr"], cidrs["dst_cidr"], c.protocol, c.dst_port)
