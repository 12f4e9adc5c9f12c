"""The SDN controller's domain logic: a thin facade composing its parts over one network view and one store.

Parts (each a module, none thread-safe on its own): ServiceRoutes (service_routes.py), Chains
(chains.py), ReservedPaths (reserved_paths.py, paths and bandwidth admission), AttachedEndpoints
(attached_endpoints.py) hold the desired state; SwitchSync (switch_sync.py) brings the switches to
the rules the pipeline (pipeline/) computes from it. Imports neither grpc nor os_ken: the switch side
is a `Southbound` passed in.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from component_base.errors import Unavailable

from api import bounds
from api.classifier import Classifier
from api.network_policy import ResolvedPolicies, checked_resolved

from .attached_endpoints import AttachedEndpoints
from .chains import Chains
from .model import AttachedEndpoint, Chain, ReservedPath, ServiceEndpoint, ServiceRoute
from .network import NetworkView
from .pipeline import gateway
from .pipeline.desired import RuleCache, desired_rules
from .pipeline.ruleset import RuleSet
from .pipeline.tables import Table
from .reserved_paths import ReservedPaths
from .service_routes import ServiceRoutes
from .store import SdnStore
from .switch_sync import Sent, Southbound, SwitchSync

log = logging.getLogger("strata.sdn")


def check_hops(hops: list[list[str]]) -> None:
    """A chain's hops, bounded: at most MAX_LIST hops of at most MAX_LIST instances each."""
    bounds.count("hops", hops, bounds.MAX_LIST)
    for k, hop in enumerate(hops):
        bounds.strings(f"hops[{k}]", hop, each=bounds.MAX_NAME)


class SdnCore:
    """Requests (gRPC threads) and switch events (os-ken handlers) on the desired state and the switches.

    Lock discipline: one re-entrant lock, `_lock`, guards the network view and every part's state;
    the parts are only ever called with it held. Each public method holds it for its whole step:
    check, persist (SQLite, before any switch is touched), update the view and the parts, compute
    the rules and send each switch its difference. The sending happens under the lock on purpose:
    the order in which differences are computed against what a switch holds must be the order in
    which they reach it. `Southbound.apply` and `clear` only queue messages on the switch's
    connection (at most a wait for room in that queue while it drains); neither waits for an
    answer. Waiting for the switches' barriers (up to `wait` seconds) happens after the lock is
    released (`_wait`), which takes it again only to mark a switch that did not answer; an event
    handler never waits for one (`synced` reports it). Nothing here makes a gRPC call.
    Re-entrant: `reading()` holds it while its caller asks `synced()`.

    Every change to a service route reaches the switches through `_route_changed`, the one place
    that decides whether chains naming the service need a full pass.
    """

    def __init__(self, view: NetworkView, store: SdnStore, southbound: Southbound | None = None):
        self._lock = threading.RLock()
        self.view = view
        self.store = store
        self._routes = ServiceRoutes(view, store)
        self._chains = Chains(view, store)
        self._endpoints = AttachedEndpoints(view, store, self._routes.service_at)
        self._paths = ReservedPaths(view, store)  # after the endpoints: paths may start or end at one
        self._policies = store.policies()
        self._sync = SwitchSync(view, self._desired_rules, southbound)

    # the parts' state, read by the metrics collector (under the lock) and tests
    @property
    def routes(self) -> dict[str, ServiceRoute]:
        return self._routes.routes

    @property
    def chains(self) -> dict[str, Chain]:
        return self._chains.chains

    @property
    def paths(self) -> dict[int, ReservedPath]:
        return self._paths.paths

    @property
    def endpoints(self) -> dict[str, AttachedEndpoint]:
        return self._endpoints.endpoints

    @property
    def connected(self) -> set[int]:
        return self._sync.connected

    @property
    def installed(self) -> dict[int, RuleSet]:
        return self._sync.installed

    @property
    def southbound(self) -> Southbound | None:
        return self._sync.southbound

    @southbound.setter
    def southbound(self, southbound: Southbound | None) -> None:
        with self._lock:
            self._sync.southbound = southbound

    # -- service routes ---------------------------------------------------------------------
    def install_route(self, service: str, vip: str, protocol: str, port: int, endpoints: list[ServiceEndpoint], *,
                      locality: bool = False, rate_limit_mbps: float = 0.0, wait: float = 5.0) -> ServiceRoute:
        bounds.count("endpoints", endpoints)
        with self._lock:
            route = self._routes.install(service, vip, protocol, port, endpoints, locality=locality,
                                         rate_limit_mbps=rate_limit_mbps)
            sent = self._route_changed(None, route)
        self._wait(sent, wait)
        return route

    def update_route(self, service: str, endpoints: list[ServiceEndpoint] | None = None, *,
                     locality: bool | None = None, rate_limit_mbps: float | None = None,
                     wait: float = 5.0) -> ServiceRoute:
        """Replaces the endpoints (None: keeps them) and, where given, the locality and rate limit."""
        bounds.count("endpoints", endpoints or [])
        with self._lock:
            old, route = self._routes.update(service, endpoints, locality=locality, rate_limit_mbps=rate_limit_mbps)
            if route == old:
                return old
            sent = self._route_changed(old, route)
        self._wait(sent, wait)
        return route

    def remove_route(self, service: str, *, wait: float = 5.0) -> None:
        with self._lock:
            old = self._routes.remove(service)
            sent = self._route_changed(old, None)
        self._wait(sent, wait)

    def list_routes(self) -> list[ServiceRoute]:
        with self._lock:
            return self._routes.list()

    def _route_changed(self, old: ServiceRoute | None, new: ServiceRoute | None) -> list[Sent]:
        """A route installed, updated or removed: its own rules' difference, unless a chain names
        the service (a chain's rules follow the services it names: their VIPs and their instances)."""
        return self._sync.reconcile() if self._chains.steer_any(old, new) else self._sync.change(old, new)

    # -- VNF chains ------------------------------------------------------------------------------
    def install_chain(self, name: str, classifier: Classifier, hops: list[list[str]], symmetric: bool, *,
                      wait: float = 5.0) -> Chain:
        check_hops(hops)
        with self._lock:
            chain = self._chains.install(name, classifier, hops, symmetric)
            sent = self._sync.reconcile()
        self._wait(sent, wait)
        return chain

    def update_chain(self, name: str, hops: list[list[str]], *, wait: float = 5.0) -> Chain:
        check_hops(hops)
        with self._lock:
            chain = self._chains.update(name, hops)
            sent = self._sync.reconcile()
        self._wait(sent, wait)
        return chain

    def remove_chain(self, name: str, *, wait: float = 5.0) -> None:
        with self._lock:
            self._chains.remove(name)
            sent = self._sync.reconcile()
        self._wait(sent, wait)

    def list_chains(self) -> list[Chain]:
        with self._lock:
            return self._chains.list()

    # -- network policies -------------------------------------------------------------------------
    def set_policies(self, resolved: ResolvedPolicies, *, wait: float = 5.0) -> int:
        """Replaces the enforced network policies; returns the flows they take on all the switches."""
        resolved = checked_resolved(resolved)
        with self._lock:
            if resolved != self._policies:
                self.store.save_policies(resolved)
                self._policies = resolved
            sent = self._sync.reconcile()
            flows = sum(1 for rules in self._sync.installed.values() for f in rules.flows.values()
                        if f.table in (Table.POLICY_EGRESS, Table.POLICY_INGRESS))
        self._wait(sent, wait)
        return flows

    @property
    def policies(self) -> ResolvedPolicies:
        with self._lock:
            return self._policies

    # -- reserved paths ---------------------------------------------------------------------------
    def compute_path(self, src: str, dst: str, min_bandwidth_mbps: float = 0.0):
        with self._lock:
            return self._paths.compute(src, dst, min_bandwidth_mbps)

    def install_path(self, src: str, dst: str, bandwidth_mbps: float, *, wait: float = 5.0) -> ReservedPath:
        with self._lock:
            path = self._paths.install(src, dst, bandwidth_mbps)
            sent = self._sync.change(None, path)
        self._wait(sent, wait)
        return path

    def remove_path(self, path_id: int, *, wait: float = 5.0) -> None:
        with self._lock:
            path = self._paths.remove(path_id)
            sent = self._sync.change(path, None)
        self._wait(sent, wait)

    # -- attached endpoints (pods) ---------------------------------------------------------------
    def attach_endpoint(self, name: str, ip: str, mac: str, switch: str, port: int, node: str, *,
                        wait: float = 5.0) -> AttachedEndpoint:
        """Routes to the pod and answers ARP for it from now on. The same request again changes
        nothing; another one for the same name replaces the endpoint (its agent recreated the pod):
        service routes naming it follow its address, reserved paths to or from it its port."""
        with self._lock:
            endpoint, changed = self._endpoints.attach(AttachedEndpoint(name, ip, mac, switch, port, node))
            if not changed:
                return endpoint
            self._routes.follow(endpoint)
            self._paths.reroute()
            sent = self._sync.reconcile()
        self._wait(sent, wait)
        return endpoint

    def detach_endpoint(self, name: str, *, wait: float = 5.0) -> None:
        """Stops routing to the pod and answering ARP for it. Reserved paths to or from it are
        removed; service routes keep naming it but send it nothing until it is attached again."""
        with self._lock:
            self._endpoints.detach(name)
            self._paths.remove_host(name)
            sent = self._sync.reconcile()
        self._wait(sent, wait)

    def list_endpoints(self) -> list[AttachedEndpoint]:
        with self._lock:
            return self._endpoints.list()

    # -- network events -----------------------------------------------------------------------
    def switch_connected(self, dpid: int) -> None:
        """A switch (re)connected: the app cleared its Strata rules; send it everything. Its
        barrier is not waited on here (an event handler must not block): `synced` reports it."""
        with self._lock:
            self._sync.switch_connected(dpid)

    def switch_disconnected(self, dpid: int) -> None:
        with self._lock:
            self._sync.switch_disconnected(dpid)

    def port_changed(self, dpid: int, port: int, up: bool) -> None:
        with self._lock:
            if self.view.set_port_state(dpid, port, up):
                log.info("link at %s port %d is %s: recomputing routes",
                         self.view.switch_name(dpid), port, "up" if up else "down")
                self._paths.reroute()
                self._sync.reconcile()

    def link_discovered(self, src: int, src_port: int) -> None:
        """LLDP sees the link working: it is up again if LLDP (not a port status) had taken it down."""
        with self._lock:
            link = self.view.links.get((src, src_port))
            if link is None:
                return
            link.discovered = True
            if self.view.set_port_state(src, src_port, True):
                log.info("link at %s port %d rediscovered: recomputing routes", self.view.switch_name(src), src_port)
                self._sync.reconcile()

    def host_seen(self, mac: str, ip: str, dpid: int, port: int) -> None:
        with self._lock:
            if self.view.learn_host(mac, ip, dpid, port):
                self._paths.reroute()
                self._sync.reconcile()

    def arp_answer(self, ip: str) -> str | None:
        """The MAC an ARP request for `ip` is answered with (a host's, the gateway's or a VIP's
        stand-in), None: not answered."""
        with self._lock:
            return gateway.arp_answer(self.view, self._routes.vips(), ip)

    # -- reading ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def reading(self):
        """The network view, held still (no event or request changes it) while the caller reads it."""
        with self._lock:
            yield self.view

    def synced(self, dpid: int) -> bool:
        """The switch is connected and confirmed every change sent to it (its rules are in)."""
        with self._lock:
            return self._sync.synced(dpid)

    def desired(self) -> RuleSet:
        """Every switch's rules for the desired state, computed afresh."""
        with self._lock:
            return self._desired_rules(RuleCache())

    def _desired_rules(self, cache: RuleCache) -> RuleSet:
        return desired_rules(self.view, list(self.routes.values()), list(self.paths.values()), cache,
                             chains=list(self.chains.values()), policies=self._policies)

    def _wait(self, sent: list[Sent], timeout: float) -> None:
        """Each switch's barrier, waited on without the lock. A switch that does not confirm in
        time is not counted as holding its rules: the next change resends them. The caller hears of
        it (UNAVAILABLE); what it asked for is recorded and will be installed when the switch answers."""
        late = [s for s in sent if not s.confirmed(timeout)]
        if not late:
            return
        with self._lock:
            self._sync.not_confirmed(late)
            names = ", ".join(self.view.switch_name(s.dpid) for s in late)
        log.warning("switch(es) %s did not confirm their rules within %.1f s", names, timeout)
        raise Unavailable(f"switch(es) {names} did not confirm the change within {timeout:g} s; it is recorded "
                          "and their rules are resent with the next change")
