"""Service traffic from rule counters (pure): what each of a route's rules counts, summed per endpoint.

The rules of rules.service_rules count a connection's packets where it was committed (the switch
its client is attached to): its first packet in the endpoint table (one flow per endpoint, so its
packet count is the number of connections sent there), every later one in the service table's
accounting flows, whose ct_mark names the endpoint and whose ct_state the direction. Switches
in between see only translated addresses and count nothing for the service, so each packet is
counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .rules import (CT_RPL, PRIORITY_ACCOUNT, REG_ENDPOINT, TABLE_ENDPOINT, TABLE_SERVICE, ServiceRoute,
                    mark_fields)


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
        if flow.table == TABLE_ENDPOINT and REG_ENDPOINT in flow.match:
            traffic = by_slot.get(_value(flow.match[REG_ENDPOINT]))
            if traffic is not None:  # a connection's first packet
                traffic.connections += flow.packets
                traffic.tx_packets += flow.packets
                traffic.tx_bytes += flow.bytes
        elif flow.table == TABLE_SERVICE and flow.priority == PRIORITY_ACCOUNT and "ct_mark" in flow.match:
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
