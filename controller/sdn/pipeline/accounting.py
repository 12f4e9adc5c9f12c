"""Accounting: the flows counting a service's traffic per endpoint and direction, and reading them back.

A connection's packets are counted where it was committed (the switch its client is attached to):
its first packet in the endpoint table (one flow per endpoint, so its packet count is the number of
connections sent there), every later one by the service table's accounting flows, whose ct_mark
names the endpoint and whose ct_state the direction. Switches in between see only translated
addresses and count nothing for the service, so each packet is counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import ServiceEndpoint, ServiceRoute
from .ruleset import Ct, Flow, flow_match
from .tables import (CT_COMMITTED_FORWARD, CT_COMMITTED_REPLY, CT_RPL, ETH_IPV4, HAIRPIN_MARK, MARK_ENDPOINT_MASK,
                     PRIORITY_ACCOUNT, REG_ENDPOINT, Table, connection_mark, mark_fields)


def endpoint_flows(dpid: int, route: ServiceRoute, endpoint: ServiceEndpoint, snat_zone: int | None) -> list[Flow]:
    """The connections committed to the endpoint at this switch, per direction: counted, metered,
    and (with a gateway, `snat_zone`) the hairpin ones sent through the hairpin zone."""
    mark, meter = connection_mark(route.service_id, endpoint.slot), route.meter_id
    flows = [
        Flow(dpid, Table.SERVICE, PRIORITY_ACCOUNT, flow_match(eth_type=ETH_IPV4, ct_state=CT_COMMITTED_FORWARD, ct_mark=mark),
             (), Table.STEER, route.cookie, meter),
        Flow(dpid, Table.SERVICE, PRIORITY_ACCOUNT,
             flow_match(eth_type=ETH_IPV4, ct_state=CT_COMMITTED_REPLY, ct_mark=(mark, MARK_ENDPOINT_MASK)),
             (), Table.STEER, route.cookie, meter),
    ]
    if snat_zone is not None:
        flows.append(Flow(dpid, Table.SERVICE, PRIORITY_ACCOUNT,
                          flow_match(eth_type=ETH_IPV4, ct_state=CT_COMMITTED_FORWARD, ct_mark=mark | HAIRPIN_MARK),
                          (("ct", Ct(snat_zone, Table.STEER)),), None, route.cookie, meter))
    return flows


@dataclass(frozen=True)
class FlowCounter:
    """One flow's counters as a switch reports them."""
    cookie: int
    table: int
    priority: int
    match: dict          # OXM field -> value or (value, mask)
    packets: int
    bytes: int


@dataclass(frozen=True)
class MeterCounter:
    meter_id: int
    dropped_packets: int  # summed over its bands
    dropped_bytes: int


@dataclass
class EndpointTraffic:
    host: str
    subset: str
    connections: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    rx_bytes: int = 0


@dataclass
class ServiceTraffic:
    service: str
    endpoints: list[EndpointTraffic] = field(default_factory=list)
    dropped_packets: int = 0
    dropped_bytes: int = 0

    @property
    def connections(self) -> int:
        return sum(e.connections for e in self.endpoints)


def _value(match_value) -> int:
    return match_value[0] if isinstance(match_value, tuple) else match_value


def service_traffic(route: ServiceRoute, flows: list[FlowCounter], meters: list[MeterCounter]) -> ServiceTraffic:
    """The route's traffic from the counters of every switch (flows of other owners are ignored)."""
    out = ServiceTraffic(route.service, [EndpointTraffic(e.host, e.subset) for e in route.endpoints])
    by_slot = {e.slot: t for e, t in zip(route.endpoints, out.endpoints)}
    for flow in flows:
        if flow.cookie != route.cookie:
            continue
        if flow.table == Table.ENDPOINT and REG_ENDPOINT in flow.match:
            traffic = by_slot.get(_value(flow.match[REG_ENDPOINT]))
            if traffic is not None:  # a connection's first packet
                traffic.connections += flow.packets
                traffic.tx_packets += flow.packets
                traffic.tx_bytes += flow.bytes
        elif flow.table == Table.SERVICE and flow.priority == PRIORITY_ACCOUNT and "ct_mark" in flow.match:
            _, slot, _ = mark_fields(_value(flow.match["ct_mark"]))
            traffic = by_slot.get(slot)
            if traffic is None:
                continue
            if _value(flow.match.get("ct_state", 0)) & CT_RPL:
                traffic.rx_packets += flow.packets
                traffic.rx_bytes += flow.bytes
            else:
                traffic.tx_packets += flow.packets
                traffic.tx_bytes += flow.bytes
    if route.meter_id is not None:
        for meter in meters:
            if meter.meter_id == route.meter_id:
                out.dropped_packets += meter.dropped_packets
                out.dropped_bytes += meter.dropped_bytes
    return out
