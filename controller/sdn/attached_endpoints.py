"""Attached endpoints: pods whose veth a node agent plugged into a switch port, checked, persisted, added to the view.

Each becomes a host of role pod in the network view.

Not thread-safe: SdnCore holds its lock around every call.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from component_base.errors import AlreadyExists, DomainError, InvalidArgument, NotFound

from .model import AttachedEndpoint
from .network import POD, HostInfo, NetworkView, parse_ipv4, parse_mac
from .store import SdnStore

log = logging.getLogger("strata.sdn")
OFPP_MAX = 0xFFFFFF00  # the highest OpenFlow 1.3 port number of a real port


class AttachedEndpoints:
    def __init__(self, view: NetworkView, store: SdnStore, service_at: Callable[[str], str | None]):
        """The store's endpoints that still fit the view, added to it; `service_at(ip)` names the
        service whose VIP an address is (an endpoint cannot take it)."""
        self.view = view
        self.store = store
        self._service_at = service_at
        self.endpoints: dict[str, AttachedEndpoint] = {}
        for endpoint in store.endpoints():
            try:
                self._add(self._checked(endpoint))
            except DomainError as exc:  # the daemon was restarted on another topology
                log.warning("attached endpoint %s does not fit the topology any more (%s): dropped", endpoint.name, exc)
                store.delete_endpoint(endpoint.name)

    def list(self) -> list[AttachedEndpoint]:
        return sorted(self.endpoints.values(), key=lambda e: e.name)

    def attach(self, request: AttachedEndpoint) -> tuple[AttachedEndpoint, bool]:
        """(the endpoint as attached, whether anything changed): the same request again changes
        nothing; another one for the same name replaces the endpoint."""
        endpoint = self._checked(request)
        if self.endpoints.get(endpoint.name) == endpoint:
            return endpoint, False
        self.store.save_endpoint(endpoint)
        self._add(endpoint)
        return endpoint, True

    def detach(self, name: str) -> None:
        if name not in self.endpoints:
            what = "a declared host" if name in self.view.hosts else "unknown"
            raise NotFound(f"no attached endpoint named {name!r} ({what}; {len(self.endpoints)} attached)")
        self.store.delete_endpoint(name)
        del self.endpoints[name]
        self.view.remove_host(name)

    def _add(self, endpoint: AttachedEndpoint) -> None:
        self.endpoints[endpoint.name] = endpoint
        self.view.add_host(HostInfo(endpoint.name, endpoint.ip, endpoint.mac, self.view.switch_dpid(endpoint.switch),
                                    endpoint.port, POD, node=endpoint.node))

    def _checked(self, request: AttachedEndpoint) -> AttachedEndpoint:
        """The request with its ip and mac in canonical form, or the domain error refusing it. An
        attached endpoint of the same name is no conflict: the request replaces it."""
        if not request.name:
            raise InvalidArgument("endpoint name is empty")
        if not request.node:
            raise InvalidArgument(f"endpoint {request.name}: node (the edge server it runs on) is empty")
        ip = parse_ipv4(request.ip, "ip")
        mac = parse_mac(request.mac, "mac")
        if not 1 <= request.port <= OFPP_MAX:
            raise InvalidArgument(f"port {request.port} is not an OpenFlow port number (1-{OFPP_MAX})")
        view, subnet = self.view, self.view.subnet
        if subnet is not None:
            if ipaddress.IPv4Address(ip) not in subnet:
                raise InvalidArgument(f"ip {ip} is outside the hosts' subnet {subnet}: they would not reach it")
            if ipaddress.IPv4Address(ip) in (subnet.network_address, subnet.broadcast_address):
                raise InvalidArgument(f"ip {ip} is the network or broadcast address of {subnet}")
        service = self._service_at(ip)
        if service is not None:
            raise InvalidArgument(f"ip {ip} is the virtual IP of service {service!r}")
        dpid = view.switch_dpid(request.switch)
        node = view.hosts.get(request.node)
        if node is None or node.role == POD:
            raise NotFound(f"node {request.node!r} is not a host of the topology")
        own = view.hosts.get(request.name)
        if own is not None and own.role != POD:
            raise AlreadyExists(f"{request.name!r} is the name of a declared {own.role} host")
        link = view.links.get((dpid, request.port))
        if link is not None:
            raise AlreadyExists(f"{request.switch} port {request.port} is a link to switch "
                                f"{view.switch_name(link.dst)}, not a pod's veth")
        for other in view.hosts.values():
            if other.name == request.name:
                continue
            owner = f"{'endpoint' if other.role == POD else 'host'} {other.name}"
            if other.ip == ip:
                raise AlreadyExists(f"ip {ip} belongs to {owner}")
            if other.mac == mac:
                raise AlreadyExists(f"mac {mac} belongs to {owner}")
            if (other.dpid, other.port) == (dpid, request.port):
                raise AlreadyExists(f"{request.switch} port {request.port} is the attachment of {owner}")
        return AttachedEndpoint(request.name, ip, mac, request.switch, request.port, node=request.node)
