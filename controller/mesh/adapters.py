"""The mesh's ports made real: the SDN controller over gRPC, and health probes over the network."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Sequence


from api.protocols import protocol_enum, protocol_name
from component_base.errors import NotFound
from component_base.pki import Identity
from component_base.rpc import DomainClient
from component_base.tls import Tls

from .core import EndpointCounters, RouteCounters, SdnRoute


class SdnRoutes(DomainClient):
    def __init__(self, address: str, timeout: float = 30.0, *, tls: Tls | None = None):
        from strata.v1 import sdn_pb2_grpc

        super().__init__(sdn_pb2_grpc.SdnServiceStub, address, "the SDN controller", timeout, server=Identity("sdn"),
                         tls=tls)

    def routes(self) -> dict[str, SdnRoute]:
        from strata.v1 import sdn_pb2

        answer = self._call(self.stub.ListServiceRoutes, sdn_pb2.ListServiceRoutesRequest())
        return {r.service: SdnRoute(r.service, r.vip, protocol_name(r.protocol), r.port,
                                    tuple((e.host, e.ip, e.port, e.weight, e.subset) for e in r.endpoints),
                                    r.policy.locality, round(r.policy.rate_limit_mbps, 3))
                for r in answer.routes}

    def put(self, route: SdnRoute, *, exists: bool) -> None:
        """Install the route, or with `exists` update it (installing it if the SDN has none)."""
        from strata.v1 import common_pb2, sdn_pb2

        endpoints = [common_pb2.Endpoint(host=h, ip=ip, port=port, weight=w, subset=subset)
                     for h, ip, port, w, subset in route.endpoints]
        policy = sdn_pb2.ServicePolicy(locality=route.locality, rate_limit_mbps=route.rate_limit_mbps)
        if exists:
            try:
                self._call(self.stub.UpdateServiceRoute, sdn_pb2.UpdateServiceRouteRequest(
                    service=route.name, endpoints=endpoints, policy=policy))
                return
            except NotFound:
                # Not found: the route (gone from the SDN's store) or an endpoint's host. Ask which.
                if route.name in self.routes():
                    raise
        self._call(self.stub.InstallServiceRoute, sdn_pb2.InstallServiceRouteRequest(
            service=route.name, vip=route.vip, protocol=protocol_enum(route.protocol), port=route.port,
            endpoints=endpoints, policy=policy))

    def remove(self, name: str) -> None:
        from strata.v1 import sdn_pb2

        try:
            self._call(self.stub.RemoveServiceRoute, sdn_pb2.RemoveServiceRouteRequest(service=name))
        except NotFound:
            pass

    def stats(self, names: Sequence[str]) -> dict[str, RouteCounters]:
        from strata.v1 import sdn_pb2

        answer = self._call(self.stub.GetServiceStats, sdn_pb2.GetServiceStatsRequest(services=list(names)))
        return {s.service: RouteCounters(
            tuple(EndpointCounters(e.host, e.subset, e.connections, e.tx_packets, e.tx_bytes, e.rx_packets,
                                   e.rx_bytes) for e in s.endpoints), s.dropped_packets, s.dropped_bytes)
            for s in answer.services}


def probe(ip: str, port: int, http_path: str, timeout: float) -> bool:
    """Healthy: a TCP connection opens (and, with a path, an HTTP GET of it answers below 500)."""
    try:
        if not http_path:
            with socket.create_connection((ip, port), timeout=timeout):
                return True
        conn = http.client.HTTPConnection(ip, port, timeout=timeout)
        try:
            conn.request("GET", http_path, headers={"User-Agent": "strata-mesh-probe"})
            return conn.getresponse().status < 500
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False
