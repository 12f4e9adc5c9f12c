"""The SDN controller's domain logic: desired routes, validation, and reconciling switches to them.

Thread-safe: gRPC threads and os-ken event handlers call in concurrently. Every change
persists first (SQLite), then recomputes the rules and sends each connected switch only the
difference from what it holds. Imports neither grpc nor os_ken: the switch side is a
`Southbound` passed in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from component_base.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound, Unavailable

from api.classifier import Classifier, checked_classifier
from api.names import check_service_name
from api.protocols import check_protocol

from .network import POD, AttachedEndpoint, HostInfo, NetworkView, parse_ipv4, parse_mac
from .rules import (MAX_SERVICE_ID, MAX_SLOT, Chain, Endpoint, ReservedPath, RuleCache, RuleDiff,
                    RuleSet, ServiceRoute, desired_rules, diff, path_flows, service_rules)
from .store import SdnStore

log = logging.getLogger("strata.sdn")
MAX_WEIGHT = 0xFFFF
OFPP_MAX = 0xFFFFFF00  # the highest OpenFlow 1.3 port number of a real port


class Southbound(Protocol):
    def clear(self, dpid: int) -> None:
        """Remove every Strata rule and group from the switch (before resending them all)."""

    def apply(self, dpid: int, change: RuleDiff) -> Callable[[float], bool]:
        """Send the change to a switch; returns a wait(timeout) -> confirmed function (a barrier)."""


MAX_BANDWIDTH_MBPS = 1e7  # 10 Tbit/s: beyond any link here; larger is a mistake


def check_bandwidth(value: float, what: str) -> None:
    if not 0 <= value <= MAX_BANDWIDTH_MBPS:  # also refuses NaN
        raise InvalidArgument(f"{what} must be a number from 0 to {MAX_BANDWIDTH_MBPS:g} Mbit/s, got {value!r}")


class SdnCore:
    def __init__(self, view: NetworkView, store: SdnStore, southbound: Southbound | None = None):
        self._lock = threading.RLock()
        self.view = view
        self.store = store
        self.southbound = southbound
        self.connected: set[int] = set()
        self.installed: dict[int, RuleSet] = {}  # per switch: what it holds, as far as it confirmed
        self._unconfirmed: set[int] = set()      # switches whose last change was not confirmed in time
        self._last_sent: dict[int, Callable[[float], bool]] = {}  # per switch: its last change's barrier
        self._reconciled_version = -1            # the view version of the last full pass
        self._rules = RuleCache()  # reused while the network view is unchanged
        # every switch's rules as the last full pass computed them; None once a change made them stale
        self._desired: dict[int, RuleSet] | None = None
        self.routes: dict[str, ServiceRoute] = {r.service: r for r in store.routes()}
        self.chains: dict[str, Chain] = {c.name: c for c in store.chains()}
        self.endpoints: dict[str, AttachedEndpoint] = {}
        for endpoint in store.endpoints():
            try:
                self._add_endpoint(self._check_attachment(endpoint))
            except DomainError as exc:  # the daemon was restarted on another topology
                log.warning("attached endpoint %s does not fit the topology any more (%s): dropped", endpoint.name, exc)
                store.delete_endpoint(endpoint.name)
        self.paths: dict[int, ReservedPath] = {}
        for path in store.paths():
            if path.src not in view.hosts or path.dst not in view.hosts:
                log.warning("path %d %s->%s names a host the topology does not have: dropped",
                            path.path_id, path.src, path.dst)
                store.delete_path(path.path_id)
                continue
            self.paths[path.path_id] = path
            self._reserve(path, +1)

    # -- service routes ---------------------------------------------------------------------
    def _endpoints(self, endpoints: list[Endpoint], default_port: int,
                   previous: tuple[Endpoint, ...] = ()) -> tuple[Endpoint, ...]:
        """Checked endpoints, each with its slot: the one it had in `previous` (so the marks of its
        connections and its counters keep meaning it), else the lowest free one."""
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
            if not 0 <= ep.weight <= MAX_WEIGHT:
                raise InvalidArgument(f"endpoints[{k}] ({ep.host}): weight {ep.weight} is not in 0-{MAX_WEIGHT} "
                                      "(an OpenFlow 1.3 bucket weight is 16 bits)")
            if len(ep.subset) > 63 or any(not (c.isalnum() or c in "-_.") for c in ep.subset):
                raise InvalidArgument(f"endpoints[{k}] ({ep.host}): subset {ep.subset[:40]!r} is not a label "
                                      "(at most 63 letters, digits, '-', '_' or '.')")
            out.append(Endpoint(ep.host, ip, port, ep.weight, ep.subset))
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

    def install_route(self, service: str, vip: str, protocol: str, port: int, endpoints: list[Endpoint], *,
                      locality: bool = False, rate_limit_mbps: float = 0.0, wait: float = 5.0) -> ServiceRoute:
        check_service_name(service)
        vip = parse_ipv4(vip, "vip")
        self._check_vip(vip)
        check_protocol(protocol)
        if not 1 <= port <= 65535:
            raise InvalidArgument(f"port {port} is not in 1-65535")
        with self._lock:
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
            waits = self._route_changed(None, route)
        self._wait(waits, wait)
        return route

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

    def update_route(self, service: str, endpoints: list[Endpoint] | None = None, *, locality: bool | None = None,
                     rate_limit_mbps: float | None = None, wait: float = 5.0) -> ServiceRoute:
        """Replaces the endpoints (None: keeps them) and, where given, the locality and rate limit."""
        with self._lock:
            old = self._route(service)
            eps = old.endpoints if endpoints is None else self._endpoints(endpoints, old.port, old.endpoints)
            route = dataclasses.replace(
                old, endpoints=eps, locality=old.locality if locality is None else locality,
                rate_limit_kbps=old.rate_limit_kbps if rate_limit_mbps is None else self._rate_limit_kbps(rate_limit_mbps))
            if route == old:
                return old
            self.store.save_route(route)
            self.routes[service] = route
            waits = self._route_changed(old, route)
        self._wait(waits, wait)
        return route

    def remove_route(self, service: str, *, wait: float = 5.0) -> None:
        with self._lock:
            old = self._route(service)
            self.store.delete_route(service)
            del self.routes[service]
            waits = self._route_changed(old, None)
        self._wait(waits, wait)

    # -- VNF chains ------------------------------------------------------------------------------
    def _checked_hops(self, hops: list[list[str]], name: str) -> tuple[tuple[str, ...], ...]:
        if not hops:
            raise InvalidArgument("a chain needs at least one hop (a VNF instance)")
        if len(hops) > 63:
            raise InvalidArgument(f"{len(hops)} hops: a chain has at most 63")
        for k, hop in enumerate(hops):
            if not hop:
                raise InvalidArgument(f"hops[{k}]: no instance")
            for host in hop:
                if host not in self.view.hosts:
                    raise NotFound(f"hops[{k}]: {host!r} is not a host or attached endpoint of the topology")
        every = [h for hop in hops for h in hop]
        twice = sorted({h for h in every if every.count(h) > 1})
        if twice:
            raise InvalidArgument(f"hop(s) listed twice: {', '.join(twice)}")
        for other in self.chains.values():
            shared = sorted(set(every) & {h for hop in other.hops for h in hop})
            if other.name != name and shared:
                raise AlreadyExists(f"{', '.join(shared)} already steer(s) chain {other.name!r}: a VNF instance "
                                    "serves one chain")
        return tuple(tuple(hop) for hop in hops)

    def install_chain(self, name: str, classifier: Classifier, hops: list[list[str]], symmetric: bool, *,
                      wait: float = 5.0) -> Chain:
        check_service_name(name)
        classifier = checked_classifier(classifier)
        if symmetric and not classifier.dst_cidr:
            raise InvalidArgument("a symmetric chain needs a destination (dst_cidr): its replies are recognised "
                                  "by their source")
        with self._lock:
            if name in self.chains:
                raise AlreadyExists(f"chain {name!r} exists; update or remove it")
            chain = Chain(name, classifier, self._checked_hops(hops, name), symmetric,
                          max((c.chain_id for c in self.chains.values()), default=0) + 1)
            self.store.save_chain(chain)
            self.chains[name] = chain
            waits = self._reconcile()
        self._wait(waits, wait)
        return chain

    def update_chain(self, name: str, hops: list[list[str]], *, wait: float = 5.0) -> Chain:
        with self._lock:
            old = self._chain(name)
            chain = dataclasses.replace(old, hops=self._checked_hops(hops, name))
            self.store.save_chain(chain)
            self.chains[name] = chain
            waits = self._reconcile()
        self._wait(waits, wait)
        return chain

    def remove_chain(self, name: str, *, wait: float = 5.0) -> None:
        with self._lock:
            self._chain(name)
            self.store.delete_chain(name)
            del self.chains[name]
            waits = self._reconcile()
        self._wait(waits, wait)

    def list_chains(self) -> list[Chain]:
        with self._lock:
            return sorted(self.chains.values(), key=lambda c: c.chain_id)

    def _chain(self, name: str) -> Chain:
        if name not in self.chains:
            raise NotFound(f"no chain named {name!r} (installed: {', '.join(sorted(self.chains)) or 'none'})")
        return self.chains[name]

    def _route_changed(self, old: ServiceRoute | None, new: ServiceRoute | None) -> list:
        """A route installed, updated or removed: its own rules' difference, unless chains exist
        (a chain's rules follow the services it names: their VIPs and their instances)."""
        return self._reconcile() if self.chains else self._change(old, new)

    def _route(self, service: str) -> ServiceRoute:
        if service not in self.routes:
            known = ", ".join(sorted(self.routes)) or "none"
            raise NotFound(f"no service route named {service!r} (installed: {known})")
        return self.routes[service]

    def list_routes(self) -> list[ServiceRoute]:
        with self._lock:
            return sorted(self.routes.values(), key=lambda r: r.service_id)

    # -- paths ---------------------------------------------------------------------------------
    def compute_path(self, src: str, dst: str, min_bandwidth_mbps: float = 0.0):
        check_bandwidth(min_bandwidth_mbps, "min_bandwidth_mbps")
        with self._lock:
            hops = self.view.path(src, dst, min_bandwidth_mbps)
            return hops, self.view.bottleneck(hops)

    def _reserve(self, path: ReservedPath, sign: int) -> None:
        src, dst = self.view.hosts.get(path.src), self.view.hosts.get(path.dst)
        if src is not None:
            src.reserved_up = max(0.0, src.reserved_up + sign * path.bandwidth_mbps)
        if dst is not None:
            dst.reserved_down = max(0.0, dst.reserved_down + sign * path.bandwidth_mbps)
        for dpid, _, out in path.hops[:-1]:
            link = self.view.links.get((dpid, out))
            if link is not None:
                link.reserved_mbps = max(0.0, link.reserved_mbps + sign * path.bandwidth_mbps)

    def install_path(self, src: str, dst: str, bandwidth_mbps: float, *, wait: float = 5.0) -> ReservedPath:
        check_bandwidth(bandwidth_mbps, "bandwidth_mbps")
        with self._lock:
            for other in self.paths.values():
                if (other.src, other.dst) == (src, dst):  # its rules would be shadowed by the new ones
                    raise AlreadyExists(f"a path from {src} to {dst} is installed already (id {other.path_id}); "
                                        "remove it first")
            hops = self.view.path(src, dst, bandwidth_mbps)
            path_id = max(self.paths, default=0) + 1
            path = ReservedPath(path_id, src, dst, bandwidth_mbps, tuple(hops))
            self.store.save_path(path)
            self.paths[path_id] = path
            self._reserve(path, +1)
            waits = self._change(None, path)
        self._wait(waits, wait)
        return path

    def remove_path(self, path_id: int, *, wait: float = 5.0) -> None:
        with self._lock:
            if path_id not in self.paths:
                raise NotFound(f"no installed path with id {path_id}")
            path = self.paths.pop(path_id)
            self._reserve(path, -1)
            self.store.delete_path(path_id)
            waits = self._change(path, None)
        self._wait(waits, wait)

    def _path_is_current(self, path: ReservedPath) -> bool:
        """Its links are up and it starts and ends where its hosts are attached now."""
        src, dst = self.view.hosts[path.src], self.view.hosts[path.dst]
        (first_dpid, first_in, _), (last_dpid, _, last_out) = path.hops[0], path.hops[-1]
        return ((first_dpid, first_in) == (src.dpid, src.port) and (last_dpid, last_out) == (dst.dpid, dst.port)
                and all(self.view.links[(d, o)].up for d, _, o in path.hops[:-1]))

    def _reroute_paths(self) -> None:
        """Paths over a link that went down, or from or to a host that moved, take a new path with
        the same reservation."""
        for path_id, path in list(self.paths.items()):
            if self._path_is_current(path):
                continue
            self._reserve(path, -1)
            try:
                hops = self.view.path(path.src, path.dst, path.bandwidth_mbps)
            except FailedPrecondition:
                try:
                    hops = self.view.path(path.src, path.dst)
                    log.warning("path %d %s->%s: no path with %.1f Mbit/s free; using the shortest one",
                                path_id, path.src, path.dst, path.bandwidth_mbps)
                except FailedPrecondition:
                    log.warning("path %d %s->%s: no path at all; kept until the network heals",
                                path_id, path.src, path.dst)
                    self._reserve(path, +1)
                    continue
            new = ReservedPath(path_id, path.src, path.dst, path.bandwidth_mbps, tuple(hops))
            self.paths[path_id] = new
            self._reserve(new, +1)
            self.store.save_path(new)

    # -- attached endpoints (pods) ---------------------------------------------------------------
    def _check_attachment(self, request: AttachedEndpoint) -> AttachedEndpoint:
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
        service = next((r.service for r in self.routes.values() if r.vip == ip), None)
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
        return AttachedEndpoint(request.name, ip, mac, request.switch, request.port, request.node)

    def _add_endpoint(self, endpoint: AttachedEndpoint) -> None:
        self.endpoints[endpoint.name] = endpoint
        self.view.add_host(HostInfo(endpoint.name, endpoint.ip, endpoint.mac, self.view.switch_dpid(endpoint.switch),
                                    endpoint.port, POD, node=endpoint.node))

    def _readdress_routes(self, endpoint: AttachedEndpoint) -> None:
        """Service routes naming the endpoint follow its (new) address."""
        for route in list(self.routes.values()):
            if any(e.host == endpoint.name and e.ip != endpoint.ip for e in route.endpoints):
                eps = tuple(dataclasses.replace(e, ip=endpoint.ip) if e.host == endpoint.name else e
                            for e in route.endpoints)
                route = dataclasses.replace(route, endpoints=eps)
                self.store.save_route(route)
                self.routes[route.service] = route

    def attach_endpoint(self, name: str, ip: str, mac: str, switch: str, port: int, node: str, *,
                        wait: float = 5.0) -> AttachedEndpoint:
        """Routes to the pod and answers ARP for it from now on. The same request again changes
        nothing; another one for the same name replaces the endpoint (its agent recreated the pod):
        service routes naming it follow its address, reserved paths to or from it its port."""
        with self._lock:
            endpoint = self._check_attachment(AttachedEndpoint(name, ip, mac, switch, port, node))
            if self.endpoints.get(name) == endpoint:
                return endpoint
            self.store.save_endpoint(endpoint)
            self._readdress_routes(endpoint)
            self._add_endpoint(endpoint)
            self._reroute_paths()
            waits = self._reconcile()
        self._wait(waits, wait)
        return endpoint

    def detach_endpoint(self, name: str, *, wait: float = 5.0) -> None:
        """Stops routing to the pod and answering ARP for it. Reserved paths to or from it are
        removed; service routes keep naming it but send it nothing until it is attached again."""
        with self._lock:
            if name not in self.endpoints:
                what = "a declared host" if name in self.view.hosts else "unknown"
                raise NotFound(f"no attached endpoint named {name!r} ({what}; {len(self.endpoints)} attached)")
            self.store.delete_endpoint(name)
            for path_id, path in list(self.paths.items()):
                if name in (path.src, path.dst):
                    log.info("path %d %s->%s removed: endpoint %s was detached", path_id, path.src, path.dst, name)
                    self.store.delete_path(path_id)
                    self._reserve(self.paths.pop(path_id), -1)
            del self.endpoints[name]
            self.view.remove_host(name)
            waits = self._reconcile()
        self._wait(waits, wait)

    def list_endpoints(self) -> list[AttachedEndpoint]:
        with self._lock:
            return sorted(self.endpoints.values(), key=lambda e: e.name)

    # -- network events -----------------------------------------------------------------------
    def switch_connected(self, dpid: int) -> None:
        """A switch (re)connected: the app cleared its Strata rules; send it everything."""
        with self._lock:
            if dpid in self.view.switches:
                self.view.switches[dpid].connected = True
            self.connected.add(dpid)
            self.installed[dpid] = RuleSet({}, {})
            self._unconfirmed.discard(dpid)  # the app cleared it already
            if (self._desired is None or self.view.version != self._reconciled_version or self._unconfirmed
                    or self.southbound is None):
                self._reconcile()
                return
            # nothing else changed: send this switch its rules alone (a big network connects its
            # switches one by one; a full pass for each would cost switches x rules each time)
            target = self._desired.get(dpid, RuleSet({}, {}))
            change = diff(RuleSet({}, {}), target)
            if not change.empty:
                self._apply(dpid, change)
            self.installed[dpid] = target

    def switch_disconnected(self, dpid: int) -> None:
        with self._lock:
            if dpid in self.view.switches:
                self.view.switches[dpid].connected = False
            self.connected.discard(dpid)
            self._last_sent.pop(dpid, None)
            self.installed.pop(dpid, None)
            self._unconfirmed.discard(dpid)

    def port_changed(self, dpid: int, port: int, up: bool) -> None:
        with self._lock:
            if self.view.set_port_state(dpid, port, up):
                log.info("link at %s port %d is %s: recomputing routes",
                         self.view.switch_name(dpid), port, "up" if up else "down")
                self._reroute_paths()
                self._reconcile()

    def link_discovered(self, src: int, src_port: int) -> None:
        """LLDP sees the link working: it is up again if LLDP (not a port status) had taken it down."""
        with self._lock:
            link = self.view.links.get((src, src_port))
            if link is None:
                return
            link.discovered = True
            if self.view.set_port_state(src, src_port, True):
                log.info("link at %s port %d rediscovered: recomputing routes", self.view.switch_name(src), src_port)
                self._reconcile()

    def host_seen(self, mac: str, ip: str, dpid: int, port: int) -> None:
        with self._lock:
            if self.view.learn_host(mac, ip, dpid, port):
                self._reroute_paths()
                self._reconcile()

    @contextlib.contextmanager
    def reading(self):
        """The network view, held still (no event or request changes it) while the caller reads it."""
        with self._lock:
            yield self.view

    # -- reconciliation -----------------------------------------------------------------------
    def desired(self) -> RuleSet:
        with self._lock:
            return desired_rules(self.view, list(self.routes.values()), list(self.paths.values()),
                                 chains=list(self.chains.values()))

    def _rules_of(self, owner: ServiceRoute | ReservedPath | None) -> RuleSet:
        if owner is None:
            return RuleSet({}, {})
        if isinstance(owner, ServiceRoute):
            return RuleSet.of(*self._rules.get(self.view, owner, lambda: service_rules(self.view, owner)))
        return RuleSet.of(path_flows(self.view, owner))

    def _change(self, old: ServiceRoute | ReservedPath | None,
                new: ServiceRoute | ReservedPath | None) -> list[tuple[int, RuleSet, Callable[[float], bool]]]:
        """One route or path replaced: send each switch the difference between their two rule
        sets alone, so a request costs what it changes, not what is installed. Anything else
        changed since the last full pass (a link, a host, an unconfirmed switch): a full pass."""
        if self.southbound is None:
            return []
        if self.view.version != self._reconciled_version or self._unconfirmed:
            return self._reconcile()
        self._desired = None  # the installed sets change below, in place
        before, after = self._rules_of(old).by_switch(), self._rules_of(new).by_switch()
        waits = []
        for dpid in sorted(self.connected & (before.keys() | after.keys())):
            change = diff(before.get(dpid, RuleSet({}, {})), after.get(dpid, RuleSet({}, {})))
            if change.empty:
                continue
            installed = self.installed.setdefault(dpid, RuleSet({}, {}))
            for flow in change.delete_flows:
                installed.flows.pop(flow.key, None)
            for group in change.delete_groups:
                installed.groups.pop(group.key, None)
            for meter in change.delete_meters:
                installed.meters.pop(meter.key, None)
            installed.flows.update((f.key, f) for f in change.add_flows)
            installed.groups.update((g.key, g) for g in change.add_groups + change.modify_groups)
            installed.meters.update((m.key, m) for m in change.add_meters + change.modify_meters)
            waits.append((dpid, installed, self._apply(dpid, change)))
        return waits

    def _apply(self, dpid: int, change) -> Callable[[float], bool]:
        """Send a switch a change; its barrier is remembered: a switch answers barriers in order,
        so once the last one is answered it holds everything it was sent."""
        wait = self.southbound.apply(dpid, change)
        self._last_sent[dpid] = wait
        return wait

    def synced(self, dpid: int) -> bool:
        """The switch is connected and confirmed every change sent to it (its rules are in)."""
        with self._lock:
            if dpid not in self.connected:
                return False
            wait = self._last_sent.get(dpid)
            if wait is None or wait(0):
                self._last_sent.pop(dpid, None)
                return True
            return False

    def _reconcile(self) -> list[Callable[[float], bool]]:
        if self.southbound is None:
            return []
        self._reconciled_version = self.view.version
        desired = desired_rules(self.view, list(self.routes.values()), list(self.paths.values()),
                                self._rules, chains=list(self.chains.values())).by_switch()
        self._desired = desired
        waits = []
        for dpid in sorted(self.connected):
            if dpid in self._unconfirmed:  # what it holds is unknown: start it from nothing
                self.southbound.clear(dpid)
                self.installed[dpid] = RuleSet({}, {})
                self._unconfirmed.discard(dpid)
            target = desired.get(dpid, RuleSet({}, {}))
            change = diff(self.installed.get(dpid, RuleSet({}, {})), target)
            if not change.empty:
                waits.append((dpid, target, self._apply(dpid, change)))
            self.installed[dpid] = target
        return waits

    def _wait(self, waits: list[tuple[int, RuleSet, Callable[[float], bool]]], timeout: float) -> None:
        """Each switch's barrier. A switch that does not confirm in time is not counted as holding
        its rules: the next change resends them. The caller hears of it (UNAVAILABLE); what it asked
        for is recorded and will be installed when the switch answers."""
        late = []
        for dpid, target, wait in waits:
            if not wait(timeout):
                late.append(dpid)
                with self._lock:
                    if self.installed.get(dpid) is target:
                        self._unconfirmed.add(dpid)  # the next reconcile clears it and sends everything
        if late:
            with self._lock:
                names = ", ".join(self.view.switch_name(d) for d in late)
            log.warning("switch(es) %s did not confirm their rules within %.1f s", names, timeout)
            raise Unavailable(f"switch(es) {names} did not confirm the change within {timeout:g} s; it is recorded "
                              "and their rules are resent with the next change")
