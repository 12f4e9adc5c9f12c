"""The route controller: every service's VIP routed through the mesh to its ready instances.

Each service of an application is a mesh service named SERVICE.APP on its VIP (a version's
instances join the service it is a version of, as its subset); its endpoints are the instances
that run and listen on their nodes that heartbeat, or on silent nodes while they answer probes
(controllers/dataplane.py). A service with no ready instance keeps its
route (and its mesh policy); a deleted application's routes are withdrawn. What the mesh holds is
read once, then kept as pushed; after a failed call it is read again on the next pass (in 1 s).
A (re)started orchestrator changes no route until it has heard from every node, or waited a node
timeout for the silent ones: until then the routes the mesh holds are the best knowledge there is.
"""

from __future__ import annotations

import logging

from component_base.errors import DomainError

from ..cluster import APPS, INSTANCES, NODES, VIPS, ClusterState
from ..ports import Mesh, Route, RouteEndpoint

log = logging.getLogger("strata.orchestrator")

RETRY = 1.0  # s before a pass that failed to reach the mesh is tried again


def route_name(app: str, service: str) -> str:
    return f"{service}.{app}"


def desired_routes(state: ClusterState) -> dict[str, Route]:
    """Mesh service name -> (VIP, port, endpoints), for every service that has its VIP (call with the
    lock held)."""
    routes: dict[str, Route] = {}
    for app in state.apps.values():
        for spec in app.spec.services:
            if spec.vnf_kind or spec.group not in app.vips:
                continue  # no VIP: chains steer to VNFs; or not allocated yet
            endpoints = []
            for instance in state.instances.values():
                if instance.app != app.spec.name or instance.service != spec.name:
                    continue
                if not instance.node:
                    continue
                # a silent node's pod stays while it answers on the data plane (controllers/dataplane.py)
                if not state.ready(instance.node) and not state.answering(instance.name):
                    continue
                seen = state.observed[instance.node].containers.get(instance.name)
                if seen is not None and seen.ready and seen.ip:
                    endpoints.append(RouteEndpoint(f"{instance.node}/{instance.name}", seen.ip,
                                                   spec.target_port, spec.version))
            name = route_name(app.spec.name, spec.group)
            _, _, before = routes.get(name, (None, None, ()))
            routes[name] = (app.vips[spec.group], spec.port, tuple(sorted((*before, *endpoints), key=lambda e: e.host)))
    return routes


class RouteController:
    name = "routes"
    watches = (APPS, VIPS, NODES, INSTANCES)

    def __init__(self, state: ClusterState, mesh: Mesh):
        self.state = state
        self.mesh = mesh

    def sync(self) -> float | None:
        state = self.state
        with state.lock:
            pending = state.first_round_pending()
        if pending > 0:
            return pending  # heartbeats wake this sooner as they come
        try:
            with state.lock:
                known = state.routes
            if known is None:
                known = self.mesh.routes()
                with state.lock:
                    state.routes = known
            with state.lock:
                desired = desired_routes(state)
                owned = {route_name(a.spec.name, s.group) for a in state.apps.values() for s in a.spec.services
                         if not s.vnf_kind}
                known = dict(state.routes)
                remove = (state.routes_to_remove | (owned - set(desired))) & set(known)
                state.routes_to_remove &= set(known)
            for name in sorted(remove):
                self.mesh.remove_route(name)
                with state.lock:
                    state.routes.pop(name, None)
                    state.routes_to_remove.discard(name)
            for name, route in sorted(desired.items()):
                if known.get(name) != route:
                    self.mesh.put_route(name, *route)
                    with state.lock:
                        state.routes[name] = route
                    log.info("route %s: %s:%d -> %s", name, route[0], route[1],
                             ", ".join(f"{e.host}" for e in route[2]))
        except DomainError as exc:
            with state.lock:
                state.routes = None  # read the mesh's state again next pass
            log.warning("service routes not converged yet: %s", exc)
            return RETRY
        return None
