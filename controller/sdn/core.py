"""The SDN controller's domain logic: desired routes, validation, and reconciling switches to them.

Thread-safe: gRPC threads and os-ken event handlers call in concurrently. Every change
persists first (SQLite), then recomputes the rules and sends each connected switch only the
difference from what it holds. Imports neither grpc nor os_ken: the switch side is a
`Southbound` passed in.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from controller.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

from .network import NetworkView, parse_ipv4
from .rules import Endpoint, ReservedPath, RuleCache, RuleDiff, RuleSet, ServiceRoute, desired_rules, diff
from .store import SdnStore

log = logging.getLogger("strata.sdn")
PROTOCOLS = ("tcp", "udp")
MAX_WEIGHT = 0xFFFF


class Southbound(Protocol):
    def apply(self, dpid: int, change: RuleDiff) -> Callable[[float], bool]:
        """Send the change to a switch; returns a wait(timeout) -> confirmed function (a barrier)."""


class SdnCore:
    def __init__(self, view: NetworkView, store: SdnStore, southbound: Southbound | None = None):
        self._lock = threading.RLock()
        self.view = view
        self.store = store
        self.southbound = southbound
        self.connected: set[int] = set()
        self.installed: dict[int, RuleSet] = {}
        self._rules = RuleCache()  # reused while the network view is unchanged
        self.routes: dict[str, ServiceRoute] = {r.service: r for r in store.routes()}
        self.paths: dict[int, ReservedPath] = {}
        for path in store.paths():
            self.paths[path.path_id] = path
            self._reserve(path, +1)

    # -- service routes ---------------------------------------------------------------------
    def _check_endpoints_free(self, service: str, protocol: str, endpoints: tuple[Endpoint, ...]) -> None:
        """Replies are rewritten by the endpoint's address and port alone, so one endpoint
        (host, port, protocol) can serve one service only."""
        for other in self.routes.values():
            if other.service == service or other.protocol != protocol:
                continue
            taken = {(e.host, e.port) for e in other.endpoints}
            for ep in endpoints:
                if (ep.host, ep.port) in taken:
                    raise FailedPrecondition(
                        f"{ep.host}:{ep.port}/{protocol} already serves service {other.service!r}; "
                        "an endpoint serves one service (give it another port)")

    def _endpoints(self, endpoints: list[Endpoint], default_port: int) -> tuple[Endpoint, ...]:
        if not endpoints:
            raise InvalidArgument("a service route needs at least one endpoint")
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
            out.append(Endpoint(ep.host, ip, port, ep.weight))
        if len({e.host for e in out}) != len(out):
            raise InvalidArgument("an endpoint host is listed twice")
        if not any(e.weight > 0 for e in out):
            raise InvalidArgument("every endpoint has weight 0: at least one must take traffic")
        return tuple(out)

    def install_route(self, service: str, vip: str, protocol: str, port: int,
                      endpoints: list[Endpoint], *, wait: float = 5.0) -> ServiceRoute:
        if not service:
            raise InvalidArgument("service name is empty")
        vip = parse_ipv4(vip, "vip")
        if protocol not in PROTOCOLS:
            raise InvalidArgument(f"protocol must be tcp or udp, got {protocol!r}")
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
            self._check_endpoints_free(service, protocol, eps)
            service_id = max((r.service_id for r in self.routes.values()), default=0) + 1
            route = ServiceRoute(service, vip, protocol, port, eps, service_id)
            self.store.save_route(route)
            self.routes[service] = route
            waits = self._reconcile()
        self._wait(waits, wait)
        return route

    def update_route(self, service: str, endpoints: list[Endpoint], *, wait: float = 5.0) -> ServiceRoute:
        with self._lock:
            old = self._route(service)
            eps = self._endpoints(endpoints, old.port)
            self._check_endpoints_free(service, old.protocol, eps)
            route = ServiceRoute(old.service, old.vip, old.protocol, old.port, eps, old.service_id)
            self.store.save_route(route)
            self.routes[service] = route
            waits = self._reconcile()
        self._wait(waits, wait)
        return route

    def remove_route(self, service: str, *, wait: float = 5.0) -> None:
        with self._lock:
            self._route(service)
            self.store.delete_route(service)
            del self.routes[service]
            waits = self._reconcile()
        self._wait(waits, wait)

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
        if min_bandwidth_mbps < 0:
            raise InvalidArgument("min_bandwidth_mbps must not be negative")
        with self._lock:
            hops = self.view.path(src, dst, min_bandwidth_mbps)
            return hops, self.view.bottleneck(hops)

    def _reserve(self, path: ReservedPath, sign: int) -> None:
        for dpid, _, out in path.hops[:-1]:
            link = self.view.links.get((dpid, out))
            if link is not None:
                link.reserved_mbps = max(0.0, link.reserved_mbps + sign * path.bandwidth_mbps)

    def install_path(self, src: str, dst: str, bandwidth_mbps: float, *, wait: float = 5.0) -> ReservedPath:
        if bandwidth_mbps < 0:
            raise InvalidArgument("bandwidth_mbps must not be negative")
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
            waits = self._reconcile()
        self._wait(waits, wait)
        return path

    def remove_path(self, path_id: int, *, wait: float = 5.0) -> None:
        with self._lock:
            if path_id not in self.paths:
                raise NotFound(f"no installed path with id {path_id}")
            path = self.paths.pop(path_id)
            self._reserve(path, -1)
            self.store.delete_path(path_id)
            waits = self._reconcile()
        self._wait(waits, wait)

    def _reroute_paths(self) -> None:
        """Paths over a link that went down move to a new path with the same reservation."""
        for path_id, path in list(self.paths.items()):
            if all(self.view.links[(d, o)].up for d, _, o in path.hops[:-1]):
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

    # -- network events -----------------------------------------------------------------------
    def switch_connected(self, dpid: int) -> None:
        """A switch (re)connected: the app cleared its Strata rules; send it everything."""
        with self._lock:
            if dpid in self.view.switches:
                self.view.switches[dpid].connected = True
            self.connected.add(dpid)
            self.installed[dpid] = RuleSet({}, {})
            self._reconcile()

    def switch_disconnected(self, dpid: int) -> None:
        with self._lock:
            if dpid in self.view.switches:
                self.view.switches[dpid].connected = False
            self.connected.discard(dpid)
            self.installed.pop(dpid, None)

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
                self._reconcile()

    @contextlib.contextmanager
    def reading(self):
        """The network view, held still (no event or request changes it) while the caller reads it."""
        with self._lock:
            yield self.view

    # -- reconciliation -----------------------------------------------------------------------
    def desired(self) -> RuleSet:
        with self._lock:
            return desired_rules(self.view, list(self.routes.values()), list(self.paths.values()))

    def _reconcile(self) -> list[Callable[[float], bool]]:
        if self.southbound is None:
            return []
        desired = desired_rules(self.view, list(self.routes.values()), list(self.paths.values()),
                                self._rules).by_switch()
        waits = []
        for dpid in sorted(self.connected):
            target = desired.get(dpid, RuleSet({}, {}))
            change = diff(self.installed.get(dpid, RuleSet({}, {})), target)
            if not change.empty:
                waits.append(self.southbound.apply(dpid, change))
            self.installed[dpid] = target
        return waits

    @staticmethod
    def _wait(waits: list[Callable[[float], bool]], timeout: float) -> None:
        for wait in waits:
            if not wait(timeout):
                log.warning("a switch did not confirm its rules within %.1f s", timeout)
