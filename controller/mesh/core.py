"""The mesh controller's domain logic: services, endpoints and policies, turned into SDN routes.

Each service is one SDN service route of the same name: its endpoints weighted by the policy
(policy.endpoint_weights), its locality and rate limit passed on as the route's policy, ejected
endpoints at weight 0. A request is checked, then sent to the SDN controller, then stored: what
the SDN refuses (an endpoint it does not know) changes nothing; when it cannot be reached, the
change is stored and the sync loop sends it later (the caller hears UNAVAILABLE). Imports no grpc:
the SDN controller and the probes are ports passed in.

Locking: the state lock is never held across a call to the SDN controller. A change computes what
to send under it, sends without it, and records the answer under it again. Changes of one service
take turns (a per-service lock, as a work queue handles one key at a time), so two changes of the
same service cannot lose one another; reads, and changes of other services, never wait for the SDN.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from component_base.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from api import bounds
from api.names import check_service_name
from api.protocols import TCP, check_protocol

from .outliers import OutlierTracker
from .policy import DEFAULT_POLICY, MeshEndpoint, TrafficPolicy, Weights, check_subset, endpoint_weights
from .store import MeshStore, Service

log = logging.getLogger("strata.mesh")


# -- ports ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SdnRoute:
    """A service route as the SDN controller holds it."""
    name: str
    vip: str
    protocol: str
    port: int
    endpoints: tuple[tuple[str, str, int, int, str], ...]  # (host, ip, port, weight, subset)
    locality: bool = False
    rate_limit_mbps: float = 0.0


@dataclass(frozen=True)
class EndpointCounters:
    host: str
    subset: str
    connections: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    rx_bytes: int = 0


@dataclass(frozen=True)
class RouteCounters:
    endpoints: tuple[EndpointCounters, ...]
    dropped_packets: int = 0
    dropped_bytes: int = 0


class Sdn(Protocol):
    def routes(self) -> dict[str, SdnRoute]: ...

    def put(self, route: SdnRoute, *, exists: bool) -> None: ...

    def remove(self, name: str) -> None: ...

    def stats(self, names: Sequence[str]) -> dict[str, RouteCounters]: ...


Probe = Callable[[str, int, str, float], bool]  # (ip, port, http_path, timeout) -> healthy


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: MeshEndpoint
    weight: int
    ejected: bool
    ejected_for: float
    ejections: int
    consecutive_failures: int


@dataclass(frozen=True)
class ServiceStatus:
    service: Service
    endpoints: tuple[EndpointStatus, ...]
    routed: bool
    problem: str


def _check_endpoints(endpoints: Sequence[MeshEndpoint]) -> tuple[MeshEndpoint, ...]:
    bounds.count("endpoints", endpoints, bounds.MAX_ITEMS)
    subsets = {e.subset for e in endpoints}
    if len(subsets) > bounds.MAX_SUBSETS:
        raise InvalidArgument(f"endpoints name {len(subsets)} subsets; at most {bounds.MAX_SUBSETS}")
    out = []
    for k, e in enumerate(endpoints):
        where = f"endpoints[{k}]"
        if not e.host:
            raise InvalidArgument(f"{where}: host is empty")
        bounds.text(f"{where}.host", e.host, bounds.MAX_NAME)
        try:
            ip = str(ipaddress.IPv4Address(e.ip))
        except ValueError:
            raise InvalidArgument(f"{where} ({e.host}): ip {e.ip!r} is not an IPv4 address") from None
        if not 1 <= e.port <= 65535:
            raise InvalidArgument(f"{where} ({e.host}): port {e.port} is not in 1-65535")
        if e.subset:
            check_subset(e.subset, f"{where} ({e.host}) subset")
        out.append(MeshEndpoint(e.host, ip, e.port, e.subset))
    twice = sorted(h for h, n in Counter(e.host for e in out).items() if n > 1)
    if twice:
        raise InvalidArgument(f"endpoint host(s) listed twice: {', '.join(twice)}")
    return tuple(sorted(out, key=lambda e: e.host))


class MeshCore:
    def __init__(self, store: MeshStore, sdn: Sdn, *, probe: Probe | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._lock = threading.RLock()  # the state below; never held across a call to the SDN
        self._turns: dict[str, threading.Lock] = {}  # service -> its changes' turn (held across the SDN call)
        self._in_flight = 0  # calls to the SDN that change routes, now running
        self._changes = 0    # such calls begun or ended so far: a read of every route overlapping one is stale
        self.store, self.sdn, self.probe, self.clock = store, sdn, probe, clock
        self.services: dict[str, Service] = {s.name: s for s in store.services()}
        self.owned: set[str] = store.owned()
        self.trackers: dict[str, OutlierTracker] = {}
        self._held: dict[str, SdnRoute] | None = None  # the SDN's routes as last read or sent; None: read again
        self._unsynced: set[str] = set(self.services) | self.owned  # to compare with the SDN on the next sync
        now = clock()
        for service in self.services.values():
            self._tracker(service, now)

    # -- requests ------------------------------------------------------------------------------
    def register(self, name: str, vip: str, protocol: str, port: int) -> ServiceStatus:
        check_service_name(name)
        try:
            vip = str(ipaddress.IPv4Address(vip))
        except ValueError:
            raise InvalidArgument(f"vip {vip!r} is not an IPv4 address") from None
        check_protocol(protocol)
        if not 1 <= port <= 65535:
            raise InvalidArgument(f"port {port} is not in 1-65535")
        with self._turn(name), self._lock:
            old = self.services.get(name)
            if old is not None:
                if (old.vip, old.protocol, old.port) != (vip, protocol, port):
                    raise AlreadyExists(f"service {name!r} is registered on {old.vip}:{old.port}/{old.protocol}; "
                                        "deregister it first to move it")
                return self._status(old)
            for other in self.services.values():
                if (other.vip, other.port, other.protocol) == (vip, port, protocol):
                    raise AlreadyExists(f"{vip}:{port}/{protocol} is service {other.name!r}")
            service = Service(name, vip, protocol, port)
            self.store.save(service)  # no endpoint yet: nothing for the switches
            self.services[name] = service
            self._tracker(service, self.clock())
            return self._status(service)

    def set_endpoints(self, name: str, endpoints: Sequence[MeshEndpoint]) -> ServiceStatus:
        endpoints = _check_endpoints(endpoints)
        return self._change(name, lambda old: dataclasses.replace(old, endpoints=endpoints))

    def set_policy(self, name: str, policy: TrafficPolicy) -> ServiceStatus:
        def changed(old: Service) -> Service:
            if policy.outlier_detection is not None and old.protocol != TCP:
                raise FailedPrecondition(f"service {name!r} is {old.protocol.upper()}: outlier detection probes "
                                         "connect over TCP")
            return dataclasses.replace(old, policy=policy)

        return self._change(name, changed)

    def delete_policy(self, name: str) -> ServiceStatus:
        return self.set_policy(name, DEFAULT_POLICY)

    def deregister(self, name: str) -> None:
        with self._turn(name):
            with self._lock:
                self._service(name)
                self.store.delete(name)
                del self.services[name]
                self.trackers.pop(name, None)
            try:
                self._send(name, None)
            except Unavailable:
                with self._lock:
                    self._unsynced.add(name)
                raise Unavailable(f"service {name!r} deregistered; the SDN controller could not be told yet "
                                  "(the mesh retries)") from None

    def get(self, name: str) -> ServiceStatus:
        with self._lock:
            return self._status(self._service(name))

    def list(self) -> list[ServiceStatus]:
        with self._lock:
            return [self._status(s) for _, s in sorted(self.services.items())]

    def stats(self, names: Sequence[str]) -> dict[str, RouteCounters]:
        """Counters per service (zero for a service with no route on the switches)."""
        bounds.count("services", names)
        with self._lock:
            for name in names:
                self._service(name)
            names = list(names) or sorted(self.services)
            routed = [n for n in names if self._held is not None and n in self._held]
            endpoints = {n: self.services[n].endpoints for n in names}
        got = self.sdn.stats(routed) if routed else {}
        return {n: got.get(n) or RouteCounters(tuple(EndpointCounters(e.host, e.subset) for e in endpoints[n]))
                for n in names}

    # -- the loop's work -----------------------------------------------------------------------
    def sync(self) -> None:
        """Make the SDN controller hold what the mesh wants, for every service not known to be in
        step (after a start, a failed send, or a deregistration it could not send)."""
        try:
            self._read_routes()
            with self._lock:
                names = sorted(self._unsynced)
            for name in names:
                with self._turn(name):
                    with self._lock:
                        if name not in self._unsynced:
                            continue
                        route = self._desired_of(name)
                    self._send(name, route)
                    with self._lock:
                        if self._desired_of(name) == route:  # else it changed meanwhile: the next round sends
                            self._unsynced.discard(name)
        except DomainError as exc:
            log.warning("services not in step with the SDN controller yet: %s", exc)

    def probe_round(self, pool: ThreadPoolExecutor | None = None) -> None:
        """Probe the endpoints that are due (in parallel, outside the lock), then eject and return."""
        if self.probe is None:
            return
        now = self.clock()
        jobs = []
        with self._lock:
            for name, service in self.services.items():
                config = service.policy.outlier_detection
                tracker = self.trackers.get(name)
                if config is None or tracker is None:
                    continue
                back = tracker.expire(now, config)
                if back:
                    log.info("%s: ejection over for %s", name, ", ".join(back))
                    self._unsynced.add(name)
                by_host = {e.host: e for e in service.endpoints}
                for host in tracker.due(now):
                    e = by_host[host]
                    jobs.append((name, host, e.ip, e.port, config))
        if jobs:
            probe = self.probe
            run = pool.map if pool is not None else map
            results = list(run(lambda j: probe(j[2], j[3], j[4].http_path, j[4].timeout), jobs))
            now = self.clock()
            with self._lock:
                for (name, host, _, _, config), ok in zip(jobs, results):
                    tracker = self.trackers.get(name)
                    service = self.services.get(name)
                    if tracker is None or service is None or service.policy.outlier_detection != config:
                        continue  # changed meanwhile
                    if tracker.record(host, ok, now, config):
                        log.warning("%s: %s ejected for %.1f s after %d failed probes", name, host,
                                    tracker.health[host].ejected_until - now, config.consecutive_5xx)
                        self._unsynced.add(name)
        self.sync()

    # -- internals -----------------------------------------------------------------------------
    def _service(self, name: str) -> Service:
        if name not in self.services:
            known = ", ".join(sorted(self.services)[:10]) or "none"
            raise NotFound(f"no mesh service named {name!r} (registered: {known})")
        return self.services[name]

    def _tracker(self, service: Service, now: float) -> None:
        tracker = self.trackers.setdefault(service.name, OutlierTracker())
        tracker.sync([e.host for e in service.endpoints], now)
        if service.policy.outlier_detection is None:
            tracker.clear()

    def _weights(self, service: Service) -> Weights:
        tracker = self.trackers.get(service.name)
        ejected = tracker.ejected() if tracker and service.policy.outlier_detection else set()
        return endpoint_weights(list(service.endpoints), service.policy, ejected)

    def _desired(self, service: Service) -> SdnRoute | None:
        weights = self._weights(service)
        if not weights.serving:
            return None
        return SdnRoute(service.name, service.vip, service.protocol, service.port,
                        tuple((w.endpoint.host, w.endpoint.ip, w.endpoint.port, w.weight, w.endpoint.subset)
                              for w in weights.endpoints),
                        service.policy.locality, service.policy.rate_limit_mbps)

    def _desired_of(self, name: str) -> SdnRoute | None:
        service = self.services.get(name)
        return self._desired(service) if service is not None else None

    def _turn(self, name: str) -> threading.Lock:
        with self._lock:
            return self._turns.setdefault(name, threading.Lock())

    def _read_routes(self) -> None:
        """Learn what the SDN holds, if not known (at start, after it was unreachable). A read that
        overlapped a change is thrown away: it may predate it (the next round reads again)."""
        with self._lock:
            if self._held is not None:
                return
            quiet, changes = self._in_flight == 0, self._changes
        routes = self.sdn.routes()
        with self._lock:
            if self._held is None and quiet and self._changes == changes:
                self._held = {n: r for n, r in routes.items() if n in self.services or n in self.owned}
                self._unsynced |= set(self.services) | self.owned

    def _send(self, name: str, route: SdnRoute | None) -> None:
        """Make the SDN's route `name` equal to `route` (None: absent). Called in the service's
        turn, without the state lock: that is taken only to read and record."""
        self._read_routes()
        with self._lock:
            known = self._held is not None
            held = self._held.get(name) if known else None
            if known and held == route:
                return
            if route is not None:
                self.store.own(name, True)  # before: a crash after the send must not leave it unowned
                self.owned.add(name)
            self._in_flight += 1
            self._changes += 1
        try:
            if route is None:
                self.sdn.remove(name)
            else:  # not known whether it holds one: update, which installs if it has none
                self.sdn.put(route, exists=held is not None or not known)
        except Unavailable:
            with self._lock:
                self._held = None  # what it holds is unknown now: read it again
            raise
        finally:
            with self._lock:
                self._in_flight -= 1
                self._changes += 1
        with self._lock:
            if self._held is not None:
                if route is None:
                    self._held.pop(name, None)
                else:
                    self._held[name] = route
            if route is None:
                self.store.own(name, False)
                self.owned.discard(name)

    def _change(self, name: str, changed: Callable[[Service], Service]) -> ServiceStatus:
        """Send the service's new route (`changed` of the current one), then keep the new state.
        Refused by the SDN controller: nothing changes. The SDN unreachable: kept, sent later."""
        with self._turn(name):
            with self._lock:
                service = changed(self._service(name))
                # the tracker follows only once kept: its hosts that the change removes are not in
                # the route, and the hosts it adds are not ejected
                route = self._desired(service)
            try:
                self._send(name, route)
            except Unavailable as exc:
                with self._lock:
                    self._keep(service)
                    self._unsynced.add(name)
                raise Unavailable(f"recorded; the SDN controller could not be told yet (the mesh retries): {exc}"
                                  ) from None
            with self._lock:
                self._keep(service)
                if self._desired(service) != route:  # an ejection meanwhile: the sync loop sends it
                    self._unsynced.add(name)
                return self._status(service)

    def _keep(self, service: Service) -> None:
        self.services[service.name] = service
        self._tracker(service, self.clock())
        self.store.save(service)

    def _status(self, service: Service) -> ServiceStatus:
        weights = self._weights(service)
        tracker = self.trackers.get(service.name)
        now = self.clock()
        statuses = []
        for w in weights.endpoints:
            health = tracker.health.get(w.endpoint.host) if tracker else None
            until = health.ejected_until if health else None
            statuses.append(EndpointStatus(w.endpoint, w.weight, until is not None,
                                           max(0.0, until - now) if until is not None else 0.0,
                                           health.total_ejections if health else 0,
                                           health.consecutive_failures if health else 0))
        held = self._held.get(service.name) if self._held is not None else None
        routed = held == self._desired(service) and service.name not in self._unsynced
        problem = weights.problem if weights.endpoints else "no endpoints yet"
        return ServiceStatus(service, tuple(statuses), routed, problem)
