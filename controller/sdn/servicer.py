"""SdnService over gRPC: messages to SdnCore calls and back; domain errors become status codes."""

from __future__ import annotations

import grpc
from strata.v1 import common_pb2, sdn_pb2, sdn_pb2_grpc

from component_base.errors import NotFound
from component_base.rpc import abort_on_domain_error

from api import bounds
from api.classifier import Classifier
from api.policy_messages import policies_message, resolved_policies
from api.protocols import CHAIN_PROTOCOLS, protocol_enum, protocol_name

from .core import SdnCore
from .model import AttachedEndpoint, Chain, ServiceEndpoint, ServiceRoute
from .pipeline.accounting import FlowCounter, MeterCounter, ServiceTraffic, service_traffic
from .trace import AppCtl, Trace, run_appctl, trace_connection

GROUP_TYPES = {0: "all", 1: "select", 2: "indirect", 3: "fast-failover"}  # OpenFlow 1.3 group types
SERVICE_NAME = sdn_pb2.DESCRIPTOR.services_by_name["SdnService"].full_name


def service_endpoints(messages) -> list[ServiceEndpoint]:
    """The one conversion of the contracts' endpoints (common.Endpoint) into the domain's."""
    return [ServiceEndpoint(m.host, m.ip, m.port, m.weight, m.subset) for m in messages]


def service_endpoint_message(endpoint: ServiceEndpoint) -> common_pb2.Endpoint:
    return common_pb2.Endpoint(host=endpoint.host, ip=endpoint.ip, port=endpoint.port, weight=endpoint.weight,
                               subset=endpoint.subset)


def route_message(route: ServiceRoute) -> sdn_pb2.ServiceRoute:
    return sdn_pb2.ServiceRoute(
        service=route.service, vip=route.vip, protocol=protocol_enum(route.protocol), port=route.port,
        endpoints=[service_endpoint_message(e) for e in route.endpoints],
        cookie=route.cookie, group_id=route.group_id,
        policy=sdn_pb2.ServicePolicy(locality=route.locality, rate_limit_mbps=route.rate_limit_kbps / 1000))


def stats_message(traffic: ServiceTraffic) -> sdn_pb2.ServiceStats:
    return sdn_pb2.ServiceStats(
        service=traffic.service, dropped_packets=traffic.dropped_packets, dropped_bytes=traffic.dropped_bytes,
        endpoints=[sdn_pb2.EndpointStats(host=e.host, subset=e.subset, connections=e.connections,
                                         tx_packets=e.tx_packets, tx_bytes=e.tx_bytes, rx_packets=e.rx_packets,
                                         rx_bytes=e.rx_bytes) for e in traffic.endpoints])


def _hops(messages) -> list[list[str]]:
    return [list(h.hosts) or ([h.host] if h.host else []) for h in messages]


def chain_message(chain: Chain) -> sdn_pb2.InstallChainResponse:
    c = chain.classifier
    return sdn_pb2.InstallChainResponse(
        chain=chain.name, cookie=chain.cookie, symmetric=chain.symmetric,
        classifier=sdn_pb2.Classifier(src_cidr=c.src_cidr, dst_cidr=c.dst_cidr, protocol=protocol_enum(c.protocol), dst_port=c.dst_port),
        hops=[sdn_pb2.ChainHop(host=hop[0], hosts=list(hop)) for hop in chain.hops])


def attached_endpoint_message(endpoint: AttachedEndpoint) -> sdn_pb2.AttachedEndpoint:
    return sdn_pb2.AttachedEndpoint(name=endpoint.name, ip=endpoint.ip, mac=endpoint.mac, switch=endpoint.switch,
                                    port=endpoint.port, node=endpoint.node)


def path_message(view, src, dst, hops, bottleneck) -> sdn_pb2.Path:
    return sdn_pb2.Path(src=src, dst=dst, bottleneck_mbps=bottleneck if bottleneck != float("inf") else 0.0,
                        hops=[sdn_pb2.Hop(switch=view.switch_name(d), in_port=i, out_port=o) for d, i, o in hops])


def _text(fields) -> str:
    return ",".join(f"{k}={v}" for k, v in fields)


def _action_text(action) -> str:
    name = type(action).__name__
    if name == "OFPActionOutput":
        return f"output:{'CONTROLLER' if action.port == 0xfffffffd else action.port}"
    if name == "OFPActionSetField":
        return f"set_field:{action.value}->{action.key}"
    if name == "OFPActionGroup":
        return f"group:{action.group_id}"
    return name


def _instructions_text(instructions) -> str:
    parts = []
    for inst in instructions:
        if hasattr(inst, "actions"):
            parts += [_action_text(a) for a in inst.actions]
        elif hasattr(inst, "table_id"):
            parts.append(f"goto_table:{inst.table_id}")
    return ",".join(parts) or "drop"


class SdnServicer(sdn_pb2_grpc.SdnServiceServicer):
    appctl: AppCtl = staticmethod(run_appctl)  # how TracePolicy runs ovs-appctl (tests give their own)

    def __init__(self, core: SdnCore, app=None):
        self.core = core
        self.app = app  # the os-ken app, for reading the switches back

    @abort_on_domain_error
    def GetTopology(self, request, context):
        with self.core.reading() as view:
            switches = [sdn_pb2.Switch(name=s.name, dpid=s.dpid, connected=s.connected, synced=self.core.synced(s.dpid))
                        for s in sorted(view.switches.values(), key=lambda s: s.dpid)]
            links = [sdn_pb2.Link(src_switch=view.switch_name(l.src), src_port=l.src_port,
                                  dst_switch=view.switch_name(l.dst), dst_port=l.dst_port,
                                  capacity_mbps=l.capacity_mbps, reserved_mbps=l.reserved_mbps, up=l.up,
                                  delay_ms=l.delay_ms)
                     for l in sorted(view.links.values(), key=lambda l: l.key)]
            hosts = [sdn_pb2.Host(name=h.name, ip=h.ip, mac=h.mac, switch=view.switch_name(h.dpid), port=h.port,
                                  role=h.role, seen=h.seen, access_mbps=h.access_mbps,
                                  access_delay_ms=h.access_delay_ms)
                     for h in sorted(view.hosts.values(), key=lambda h: h.name)]
        return sdn_pb2.Topology(switches=switches, links=links, hosts=hosts)

    @abort_on_domain_error
    def InstallServiceRoute(self, request, context):
        route = self.core.install_route(request.service, request.vip, protocol_name(request.protocol), request.port,
                                        service_endpoints(request.endpoints), locality=request.policy.locality,
                                        rate_limit_mbps=request.policy.rate_limit_mbps)
        return route_message(route)

    @abort_on_domain_error
    def UpdateServiceRoute(self, request, context):
        policy = request.policy if request.HasField("policy") else None
        return route_message(self.core.update_route(
            request.service, service_endpoints(request.endpoints), locality=policy.locality if policy else None,
            rate_limit_mbps=policy.rate_limit_mbps if policy else None))

    @abort_on_domain_error
    def RemoveServiceRoute(self, request, context):
        self.core.remove_route(request.service)
        return sdn_pb2.RemoveServiceRouteResponse()

    @abort_on_domain_error
    def ListServiceRoutes(self, request, context):
        return sdn_pb2.ListServiceRoutesResponse(routes=[route_message(r) for r in self.core.list_routes()])

    @abort_on_domain_error
    def ComputePath(self, request, context):
        hops, bottleneck = self.core.compute_path(request.src, request.dst, request.min_bandwidth_mbps)
        with self.core.reading() as view:
            return path_message(view, request.src, request.dst, hops, bottleneck)

    @abort_on_domain_error
    def InstallPath(self, request, context):
        path = self.core.install_path(request.src, request.dst, request.bandwidth_mbps)
        with self.core.reading() as view:
            message = path_message(view, path.src, path.dst, path.hops, view.bottleneck(list(path.hops)))
        return sdn_pb2.InstalledPath(id=str(path.path_id), bandwidth_mbps=path.bandwidth_mbps, path=message)

    @abort_on_domain_error
    def RemovePath(self, request, context):
        try:
            path_id = int(request.id)
        except ValueError:
            raise NotFound(f"no installed path with id {request.id!r}") from None
        self.core.remove_path(path_id)
        return sdn_pb2.RemovePathResponse()

    @abort_on_domain_error
    def ListFlows(self, request, context):
        if self.app is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "no OpenFlow connection in this process")
        view = self.core.view
        owners = {r.cookie: r.service for r in self.core.list_routes()}
        if request.service and request.service not in owners.values():
            raise NotFound(f"no service route named {request.service!r}")
        dpids = sorted(self.app.datapaths)
        if request.switch:
            dpids = [d for d in dpids if view.switch_name(d) == request.switch]
            if not dpids:
                raise NotFound(f"switch {request.switch!r} is unknown or not connected")
        route = next((r for r in self.core.list_routes() if r.service == request.service), None)
        out = []
        for dpid in dpids:
            try:
                state = (self.app.read_switch(dpid, cookie=route.cookie, group=route.group_id) if route
                         else self.app.read_switch(dpid))
            except (KeyError, TimeoutError) as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"reading {view.switch_name(dpid)}: {exc}")
            flows = []
            for stat in state["flows"]:
                service = owners.get(stat.cookie, "")
                if request.service and service != request.service:
                    continue
                flows.append(sdn_pb2.FlowEntry(
                    table_id=stat.table_id, priority=stat.priority, cookie=stat.cookie, service=service,
                    match=_text(stat.match.items()), actions=_instructions_text(stat.instructions),
                    packet_count=stat.packet_count, byte_count=stat.byte_count,
                    duration_seconds=stat.duration_sec + stat.duration_nsec / 1e9))
            counters = {g.group_id: g for g in state["group_stats"]}
            groups = []
            wanted_groups = {r.group_id for r in self.core.list_routes() if r.service == request.service}
            for desc in state["group_descs"]:
                if request.service and desc.group_id not in wanted_groups:
                    continue
                stats = counters.get(desc.group_id)
                buckets = []
                for k, bucket in enumerate(desc.buckets):
                    bstat = stats.bucket_stats[k] if stats and k < len(stats.bucket_stats) else None
                    buckets.append(sdn_pb2.Bucket(
                        weight=bucket.weight, actions=",".join(_action_text(a) for a in bucket.actions),
                        packet_count=bstat.packet_count if bstat else 0, byte_count=bstat.byte_count if bstat else 0))
                groups.append(sdn_pb2.GroupEntry(group_id=desc.group_id, type=GROUP_TYPES.get(desc.type, str(desc.type)),
                                                 buckets=buckets))
            out.append(sdn_pb2.SwitchFlows(switch=view.switch_name(dpid), flows=flows, groups=groups))
        return sdn_pb2.ListFlowsResponse(switches=out)

    @abort_on_domain_error
    def GetServiceStats(self, request, context):
        if self.app is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "no OpenFlow connection in this process")
        bounds.count("services", request.services)
        routes = {r.service: r for r in self.core.list_routes()}
        names = list(request.services) or list(routes)
        missing = [n for n in names if n not in routes]
        if missing:
            raise NotFound(f"no service route named {', '.join(map(repr, missing))}")
        flows, meters = [], []
        for dpid in sorted(self.app.datapaths):
            try:
                state = self.app.read_services(dpid)
            except (KeyError, TimeoutError) as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"reading {self.core.view.switch_name(dpid)}: {exc}")
            flows += [FlowCounter(s.cookie, s.table_id, s.priority, dict(s.match.items()), s.packet_count,
                                  s.byte_count) for s in state["flows"]]
            meters += [MeterCounter(m.meter_id, sum(b.packet_band_count for b in m.band_stats),
                                    sum(b.byte_band_count for b in m.band_stats)) for m in state["meters"]]
        return sdn_pb2.GetServiceStatsResponse(
            services=[stats_message(service_traffic(routes[n], flows, meters)) for n in names])

    @abort_on_domain_error
    def AttachEndpoint(self, request, context):
        return attached_endpoint_message(self.core.attach_endpoint(
            request.name, request.ip, request.mac, request.switch, request.port, request.node))

    @abort_on_domain_error
    def DetachEndpoint(self, request, context):
        self.core.detach_endpoint(request.name)
        return sdn_pb2.DetachEndpointResponse()

    @abort_on_domain_error
    def ListEndpoints(self, request, context):
        return sdn_pb2.ListEndpointsResponse(
            endpoints=[attached_endpoint_message(e) for e in self.core.list_endpoints()])

    @abort_on_domain_error
    def InstallChain(self, request, context):
        c = request.classifier
        protocol = protocol_name(c.protocol, CHAIN_PROTOCOLS)
        chain = self.core.install_chain(request.chain, Classifier(c.src_cidr, c.dst_cidr, protocol, c.dst_port),
                                        _hops(request.hops), request.symmetric)
        return chain_message(chain)

    @abort_on_domain_error
    def UpdateChain(self, request, context):
        return chain_message(self.core.update_chain(request.chain, _hops(request.hops)))

    @abort_on_domain_error
    def RemoveChain(self, request, context):
        self.core.remove_chain(request.chain)
        return sdn_pb2.RemoveChainResponse()

    @abort_on_domain_error
    def ListChains(self, request, context):
        return sdn_pb2.ListInstalledChainsResponse(chains=[chain_message(c) for c in self.core.list_chains()])


    @abort_on_domain_error
    def SetNetworkPolicies(self, request, context):
        return sdn_pb2.SetNetworkPoliciesResponse(flows=self.core.set_policies(resolved_policies(request.policies)))

    @abort_on_domain_error
    def GetNetworkPolicies(self, request, context):
        return policies_message(self.core.policies)

    @abort_on_domain_error
    def TracePolicy(self, request, context):
        protocol = protocol_name(request.protocol, ("", "tcp", "udp")) or "tcp"
        bounds.text("source", request.source, bounds.MAX_NAME)
        bounds.text("destination", request.destination, bounds.MAX_NAME)
        with self.core.reading() as view:
            trace = trace_connection(view, self.core.policies, request.source, request.destination, request.port,
                                     protocol, request.source_port or 40000,
                                     self.core.arp_answer(request.destination) or "ff:ff:ff:ff:ff:ff", self.appctl)
        return trace_message(trace)


def trace_message(trace: Trace) -> sdn_pb2.TracePolicyResponse:
    return sdn_pb2.TracePolicyResponse(
        switch=trace.switch, verdict=trace.verdict, decided_by=trace.decided_by, policy=trace.policy, raw=trace.raw,
        steps=[sdn_pb2.TraceStep(switch=s.switch, table=s.table, name=s.name, flow=s.flow, actions=s.actions,
                                 policy=s.policy) for s in trace.steps])


def registrar(core: SdnCore, app=None):
    def register(server: grpc.Server) -> None:
        sdn_pb2_grpc.add_SdnServiceServicer_to_server(SdnServicer(core, app), server)
    return register
