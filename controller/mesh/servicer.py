"""MeshService over gRPC: messages to MeshCore calls and back; domain errors become status codes."""

from __future__ import annotations

import grpc
from strata.v1 import mesh_pb2, mesh_pb2_grpc

from api.protocols import protocol_enum, protocol_name
from component_base.rpc import abort_on_domain_error

from .core import EndpointCounters, MeshCore, RouteCounters, ServiceStatus
from .policy import MeshEndpoint, OutlierDetection, TrafficPolicy, checked_policy

SERVICE_NAME = mesh_pb2.DESCRIPTOR.services_by_name["MeshService"].full_name


def policy_message(policy: TrafficPolicy) -> mesh_pb2.TrafficPolicy:
    out = mesh_pb2.TrafficPolicy(split=dict(policy.split), locality=policy.locality,
                                 rate_limit_mbps=policy.rate_limit_mbps)
    o = policy.outlier_detection
    if o is not None:
        out.outlier_detection.CopyFrom(mesh_pb2.OutlierDetection(
            consecutive_5xx=o.consecutive_5xx, interval=o.interval, base_ejection_time=o.base_ejection_time,
            max_ejection_time=o.max_ejection_time, max_ejection_percent=o.max_ejection_percent,
            http_path=o.http_path, timeout=o.timeout))
    return out


def policy_from_message(m: mesh_pb2.TrafficPolicy) -> TrafficPolicy:
    outlier = None
    if m.HasField("outlier_detection"):
        o = m.outlier_detection
        outlier = OutlierDetection(o.consecutive_5xx, o.interval, o.base_ejection_time, o.max_ejection_time,
                                   o.max_ejection_percent, o.http_path, o.timeout)
    return checked_policy(dict(m.split), m.locality, m.rate_limit_mbps, outlier)


def info_message(status: ServiceStatus) -> mesh_pb2.MeshServiceInfo:
    s = status.service
    return mesh_pb2.MeshServiceInfo(
        name=s.name, vip=s.vip, protocol=protocol_enum(s.protocol), port=s.port,
        endpoints=[mesh_pb2.EndpointStatus(
            endpoint=mesh_pb2.MeshEndpoint(host=e.endpoint.host, ip=e.endpoint.ip, port=e.endpoint.port,
                                           subset=e.endpoint.subset),
            weight=e.weight, ejected=e.ejected, ejected_for=e.ejected_for, ejections=e.ejections,
            consecutive_failures=e.consecutive_failures) for e in status.endpoints],
        policy=policy_message(s.policy), routed=status.routed, problem=status.problem)


def _counters(parts: list[EndpointCounters], total_connections: int) -> mesh_pb2.TrafficCounters:
    connections = sum(p.connections for p in parts)
    return mesh_pb2.TrafficCounters(
        connections=connections, tx_packets=sum(p.tx_packets for p in parts), tx_bytes=sum(p.tx_bytes for p in parts),
        rx_packets=sum(p.rx_packets for p in parts), rx_bytes=sum(p.rx_bytes for p in parts),
        share=connections / total_connections if total_connections else 0.0)


def traffic_message(name: str, counters: RouteCounters) -> mesh_pb2.ServiceTraffic:
    parts = list(counters.endpoints)
    total = sum(p.connections for p in parts)
    subsets = sorted({p.subset for p in parts})
    return mesh_pb2.ServiceTraffic(
        service=name, counters=_counters(parts, total),
        subsets=[mesh_pb2.SubsetTraffic(subset=s, counters=_counters([p for p in parts if p.subset == s], total))
                 for s in subsets],
        endpoints=[mesh_pb2.EndpointTraffic(host=p.host, subset=p.subset, counters=_counters([p], total))
                   for p in parts],
        dropped_packets=counters.dropped_packets, dropped_bytes=counters.dropped_bytes)


class MeshServicer(mesh_pb2_grpc.MeshServiceServicer):
    def __init__(self, core: MeshCore):
        self.core = core

    @abort_on_domain_error
    def RegisterService(self, request, context):
        return info_message(self.core.register(request.name, request.vip, protocol_name(request.protocol),
                                               request.port))

    @abort_on_domain_error
    def SetEndpoints(self, request, context):
        endpoints = [MeshEndpoint(e.host, e.ip, e.port, e.subset) for e in request.endpoints]
        return info_message(self.core.set_endpoints(request.service, endpoints))

    @abort_on_domain_error
    def SetPolicy(self, request, context):
        return info_message(self.core.set_policy(request.service, policy_from_message(request.policy)))

    @abort_on_domain_error
    def DeletePolicy(self, request, context):
        return info_message(self.core.delete_policy(request.service))

    @abort_on_domain_error
    def GetService(self, request, context):
        return info_message(self.core.get(request.name))

    @abort_on_domain_error
    def ListServices(self, request, context):
        return mesh_pb2.ListServicesResponse(services=[info_message(s) for s in self.core.list()])

    @abort_on_domain_error
    def GetStats(self, request, context):
        stats = self.core.stats(list(request.services))
        return mesh_pb2.GetStatsResponse(services=[traffic_message(n, c) for n, c in stats.items()])

    @abort_on_domain_error
    def DeregisterService(self, request, context):
        self.core.deregister(request.name)
        return mesh_pb2.DeregisterServiceResponse()


def registrar(core: MeshCore):
    def register(server: grpc.Server) -> None:
        mesh_pb2_grpc.add_MeshServiceServicer_to_server(MeshServicer(core), server)
    return register
