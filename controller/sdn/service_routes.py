"""Service routes (a VIP to weighted endpoints): checked against the view, numbered, persisted, kept as desired.

Not thread-safe: SdnCore holds its lock around every call.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from component_base.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

from api.names import check_service_name
from api.protocols import check_protocol

from .model import AttachedEndpoint, ServiceEndpoint, ServiceRoute
from .network import NetworkView, check_bandwidth, parse_ipv4
from .pipeline.tables import MAX_SERVICE_ID, MAX_SLOT
from .store import SdnStore

MAX_WEIGHT = 0xFFFF  # an OpenFlow 1.3 bucket weight is 16 bits


class ServiceRoutes:
    def __init__(self, view: NetworkView, store: SdnStore):
        self.view = view
        self.store = store
        self.routes: dict[str, ServiceRoute] = {r.service: r for r in store.routes()}

    def get(self, service: str) -> ServiceRoute:
        if service not in self.routes:
            known = ", ".join(sorted(self.routes)) or "none"
            raise NotFound(f"no service route named {service!r} (installed: {known})")
        return self.routes[service]

    def list(self) -> list[ServiceRoute]:
        return sorted(self.routes.values(), key=lambda r: r.service_id)

    def service_at(self, ip: str) -> str | None:
        """The service whose VIP `ip` is, if any."""
        return next((r.service for r in self.routes.values() if r.vip == ip), None)

    def vips(self) -> set[str]:
        return {r.vip for r in self.routes.values()}

    def install(self, service: str, vip: str, protocol: str, port: int, endpoints: list[ServiceEndpoint], *,
                locality: bool, rate_limit_mbps: float) -> ServiceRoute:
        check_service_name(service)
        vip = parse_ipv4(vip, "vip")
        self._check_vip(vip)
        check_protocol(protocol)
        if not 1 <= port <= 65535:
            raise InvalidArgument(f"port {port} is not in 1-65535")
        if service in self.routes:
            raise AlreadyExists(f"service {service!r} already has a route; update or remove it")
        owner = self.view.host_by_ip(vip)
        if owner is not None:
            raise InvalidArgument(f"vip {vip} is the address of host {owner.name}")
        for other in self.routes.values():
            if (other.vip, other.protocol, other.port) == (vip, protocol, port):
                raise AlreadyExists(f"{vip}:{port}/{protocol} is already service {other.service!r}")
        eps = self._endpoints(endpoints, port)
        rate_kbps = self._rate_limit_kbps(rate_limit_mbps)
        route = ServiceRoute(service, vip, protocol, port, eps, self._new_service_id(), locality, rate_kbps)
        self.store.save_route(route)
        self.routes[service] = route
        return route

    def update(self, service: str, endpoints: list[ServiceEndpoint] | None, *, locality: bool | None,
               rate_limit_mbps: float | None) -> tuple[ServiceRoute, ServiceRoute]:
        """(old, new): the endpoints replaced (None: kept) and, where given, the locality and rate
        limit. Nothing is written when new equals old."""
        old = self.get(service)
        eps = old.endpoints if endpoints is None else self._endpoints(endpoints, old.port, old.endpoints)
        route = dataclasses.replace(
            old, endpoints=eps, locality=old.locality if locality is None else locality,
            rate_limit_kbps=old.rate_limit_kbps if rate_limit_mbps is None else self._rate_limit_kbps(rate_limit_mbps))
        if route != old:
            self.store.save_route(route)
            self.routes[service] = route
        return old, route

    def remove(self, service: str) -> ServiceRoute:
        old = self.get(service)
        self.store.delete_route(service)
        del self.routes[service]
        return old

    def follow(self, endpoint: AttachedEndpoint) -> None:
        """Routes naming an attached endpoint follow its (new) address."""
        for route in list(self.routes.values()):
            if any(e.host == endpoint.name and e.ip != endpoint.ip for e in route.endpoints):
                eps = tuple(dataclasses.replace(e, ip=endpoint.ip) if e.host == endpoint.name else e
                            for e in route.endpoints)
                route = dataclasses.replace(route, endpoints=eps)
                self.store.save_route(route)
                self.routes[route.service] = route

    # -- checks ---------------------------------------------------------------------------------
    def _endpoints(self, endpoints: list[ServiceEndpoint], default_port: int,
                   previous: tuple[ServiceEndpoint, ...] = ()) -> tuple[ServiceEndpoint, ...]:
        """Checked endpoints, each with its address and port filled in and its slot: the one it had
        in `previous` (so the marks of its connections and its counters keep meaning it), else the
        lowest free one."""
        if not endpoints:
            raise InvalidArgument("a service route needs at least one endpoint")
        if len(endpoints) > MAX_SLOT:
            raise InvalidArgument(f"{len(endpoints)} endpoints: a service route has at most {MAX_SLOT}")
        out = []
        for k, ep in enumerate(endpoints):
            host = self.view.host(ep.host)  # NotFound names the host
            ip = parse_ipv4(ep.ip, f"endpoints[{k}].ip") if ep.ip else host.ip
            if ip != host.ip:
                raise InvalidArgument(f"endpoints[{k}]: {ep.host} has address {host.ip}, not {ip}")
            port = ep.port or default_port
            if not 1 <= port <= 65535:
                raise InvalidArgument(f"endpoints[{k}] ({ep.host}): port {port} is not in 1-65535")
            if port in self.view.host_control_ports(host):  # table 9 checks the VIP, before translation
                raise InvalidArgument(f"endpoints[{k}] ({ep.host}): port {port} is a control-plane port of this "
                                      f"{host.role} host; behind a VIP every pod could reach it")
            if not 0 <= ep.weight <= MAX_WEIGHT:
                raise InvalidArgument(f"endpoints[{k}] ({ep.host}): weight {ep.weight} is not in 0-{MAX_WEIGHT} "
                                      "(an OpenFlow 1.3 bucket weight is 16 bits)")
            if len(ep.subset) > 63 or any(not (c.isalnum() or c in "-_.") for c in ep.subset):
                raise InvalidArgument(f"endpoints[{k}] ({ep.host}): subset {ep.subset[:40]!r} is not a label "
                                      "(at most 63 letters, digits, '-', '_' or '.')")
            out.append(ServiceEndpoint(ep.host, ip, port, ep.weight, ep.subset))
        if len({e.host for e in out}) != len(out):
            raise InvalidArgument("an endpoint host is listed twice")
        if not any(e.weight > 0 for e in out):
            raise InvalidArgument("every endpoint has weight 0: at least one must take traffic")
        slots = {e.host: e.slot for e in previous if e.slot}
        taken = {slots[e.host] for e in out if e.host in slots}
        free = (n for n in range(1, MAX_SLOT + 1) if n not in taken)
        return tuple(dataclasses.replace(e, slot=slots[e.host] if e.host in slots else next(free)) for e in out)

    @staticmethod
    def _rate_limit_kbps(rate_limit_mbps: float) -> int:
        check_bandwidth(rate_limit_mbps, "rate_limit_mbps")
        kbps = round(rate_limit_mbps * 1000)
        if rate_limit_mbps > 0 and kbps < 1:
            raise InvalidArgument(f"rate_limit_mbps {rate_limit_mbps!r} is below a meter's 1 kbit/s")
        return kbps

    def _check_vip(self, vip: str) -> None:
        """A VIP every host and pod reaches: an address of the service range (routed through the
        gateway) or of the hosts' subnet (answered by proxy ARP), not a special one."""
        ip = ipaddress.IPv4Address(vip)
        special = ("the unspecified address" if ip.is_unspecified else "the broadcast address"
                   if ip == ipaddress.IPv4Address("255.255.255.255") else "a multicast address" if ip.is_multicast
                   else "a loopback address" if ip.is_loopback else "a link-local address" if ip.is_link_local
                   else None)
        if special:
            raise InvalidArgument(f"vip {vip} is {special}: no host can reach a service there")
        view = self.view
        for network, what in ((view.service_range, "service range"), (view.subnet, "hosts' subnet")):
            if network is not None and ip in network:
                if ip in (network.network_address, network.broadcast_address):
                    raise InvalidArgument(f"vip {vip} is the {what} {network}'s "
                                          f"{'network' if ip == network.network_address else 'broadcast'} address")
                if view.gateway and vip == view.gateway:
                    raise InvalidArgument(f"vip {vip} is the gateway to the service range")
                return
        where = " or ".join(f"the {what} {network}" for network, what in
                            ((view.service_range, "service range"), (view.subnet, "hosts' subnet")) if network)
        raise InvalidArgument(f"vip {vip} is reachable from no host: give an address of {where or 'the hosts'}"
                              + (f" (hosts reach the service range through the gateway {view.gateway})"
                                 if view.service_range else ""))

    def _new_service_id(self) -> int:
        """The next id after the highest in use (ids of removed services are not reused while a
        higher one lives: their connections' marks may linger), else the lowest free one."""
        used = {r.service_id for r in self.routes.values()}
        service_id = max(used, default=0) + 1
        if service_id > MAX_SERVICE_ID:
            service_id = next((n for n in range(1, MAX_SERVICE_ID + 1) if n not in used), None)
            if service_id is None:
                raise FailedPrecondition(f"{len(used)} service routes installed: at most {MAX_SERVICE_ID}")
        return service_id
