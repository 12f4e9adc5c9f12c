"""The SDN controller's desired state as plain data: service routes, reserved paths, VNF chains, attached pods.

Two kinds of endpoint, not to be confused: a `ServiceEndpoint` is a member of a service route (a
host or pod, by name, that serves the route's VIP with a weight); an `AttachedEndpoint` is a pod
whose veth a node agent plugged into a switch port (after which it is a host of the network view,
and may be named by service endpoints).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from api.classifier import Classifier

from .pipeline.tables import MAX_SLOT, chain_cookie, path_cookie, service_cookie


@dataclass(frozen=True)
class ServiceEndpoint:
    """One member of a service route. As asked for, `ip` may be "" (the host's own address) and
    `port` 0 (the route's port); a route's endpoints have both filled in and a slot."""
    host: str         # a host or attached endpoint of the network view, by name
    ip: str
    port: int
    weight: int       # its share of new connections (an OpenFlow bucket weight, 0-65535)
    subset: str = ""  # the version it runs (a mesh subset); locality keeps each subset's share
    slot: int = 0     # stable number within its route (1..MAX_SLOT): registers, marks, counters


@dataclass(frozen=True)
class ServiceRoute:
    service: str
    vip: str
    protocol: str            # "tcp" | "udp" (api.protocols)
    port: int
    endpoints: tuple[ServiceEndpoint, ...]
    service_id: int          # stable; gives the cookie, the group id and the meter id
    locality: bool = False   # each switch picks among the endpoints (of each subset) nearest to it
    rate_limit_kbps: int = 0  # a meter on every switch caps the service's traffic entering there; 0 = off

    def __post_init__(self):
        if any(not e.slot for e in self.endpoints):  # unnumbered endpoints take the lowest free slots
            taken = {e.slot for e in self.endpoints if e.slot}
            free = (n for n in range(1, MAX_SLOT + 1) if n not in taken)
            numbered = tuple(e if e.slot else replace(e, slot=next(free)) for e in self.endpoints)
            object.__setattr__(self, "endpoints", numbered)

    @property
    def cookie(self) -> int:
        return service_cookie(self.service_id)

    @property
    def group_id(self) -> int:
        return self.service_id

    @property
    def meter_id(self) -> int | None:
        return self.service_id if self.rate_limit_kbps else None


@dataclass(frozen=True)
class ReservedPath:
    path_id: int
    src: str                 # host names
    dst: str
    bandwidth_mbps: float
    hops: tuple[tuple[int, int, int], ...]  # (dpid, in_port, out_port)

    @property
    def cookie(self) -> int:
        return path_cookie(self.path_id)


@dataclass(frozen=True)
class Chain:
    name: str
    classifier: Classifier
    hops: tuple[tuple[str, ...], ...]  # per hop, its VNF instances' host names (flows spread over them)
    symmetric: bool
    chain_id: int

    @property
    def cookie(self) -> int:
        return chain_cookie(self.chain_id)

    def names_service(self, route: ServiceRoute) -> bool:
        """The classifier names the route's VIP:port: the chain steers the service's traffic (and
        its rules follow the route's VIP and endpoints)."""
        c = self.classifier
        return (bool(c.dst_cidr) and ipaddress.IPv4Address(route.vip) in ipaddress.IPv4Network(c.dst_cidr)
                and c.protocol in ("", route.protocol) and c.dst_port in (0, route.port))


@dataclass(frozen=True)
class AttachedEndpoint:
    """A pod the controller routes to: its veth is `port` of `switch`; it runs on host `node`."""

    name: str
    ip: str
    mac: str
    switch: str
    port: int
    node: str
