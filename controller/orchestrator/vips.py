"""The service range and its virtual IPs: one VIP per service, never a host's or a pod's address."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from controller.errors import FailedPrecondition, InvalidArgument

SERVICE_RANGE_PREFIX = 24  # 254 services: one /24 of the hosts' subnet


def service_range(subnet: str, reserved_ips: Iterable[str]) -> str:
    """A /24 for VIPs inside the hosts' subnet (every host and pod reaches it without a route):
    the highest block of the subnet's lower half holding no reserved address (pods take the
    upper half, hosts are numbered from the bottom)."""
    network = ipaddress.ip_network(subnet, strict=False)
    if network.version != 4 or network.prefixlen > SERVICE_RANGE_PREFIX - 1:
        raise InvalidArgument(f"subnet {subnet}: a service range needs an IPv4 subnet of /{SERVICE_RANGE_PREFIX - 1} "
                              "or larger")
    lower_half = list(network.subnets(prefixlen_diff=1))[0]
    reserved = {ipaddress.ip_interface(ip).ip for ip in reserved_ips}
    for block in reversed(list(lower_half.subnets(new_prefix=SERVICE_RANGE_PREFIX))):
        if not any(ip in block for ip in reserved):
            return str(block)
    raise FailedPrecondition(f"no /{SERVICE_RANGE_PREFIX} of {lower_half} is free of host addresses for services")


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
