"""Virtual IPs from the service range (the SDN's, routed by every host and pod through its gateway)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from component_base.errors import FailedPrecondition, InvalidArgument


class VipPool:
    """Hands out the range's addresses, lowest free first (never its network or broadcast address)."""

    def __init__(self, cidr: str, used: Iterable[str] = ()):
        try:
            self.network = ipaddress.IPv4Network(cidr)
        except ValueError as exc:
            raise InvalidArgument(f"service range {cidr!r}: {exc}") from None
        self.used = {ipaddress.IPv4Address(ip) for ip in used}

    def allocate(self) -> str:
        for ip in self.network.hosts():
            if ip not in self.used:
                self.used.add(ip)
                return str(ip)
        raise FailedPrecondition(f"the service range {self.network} has no free address left")

    def release(self, ip: str) -> None:
        self.used.discard(ipaddress.IPv4Address(ip))
