"""Stages 1 and 3, service load balancing and endpoint NAT.

A new connection to a VIP goes through the service's meter to its SELECT group, whose bucket picks
an endpoint; table 3 commits the connection with a destination NAT to it.
"""

from __future__ import annotations

from api.protocols import IP_NUMBERS

from ..model import ServiceEndpoint, ServiceRoute
from ..network import NetworkView
from . import accounting
from .ruleset import Ct, Flow, Group, Meter, Nat, flow_match
from .tables import (COOKIE_BASELINE, CT_NEW_CONNECTION, ETH_IPV4, HAIRPIN_MARK, PRIORITY_ENDPOINT,
                     PRIORITY_ENDPOINT_HAIRPIN, PRIORITY_MISS, PRIORITY_SERVICE, REG_ENDPOINT, REG_SERVICE, Table,
                     connection_mark)


def switch_flows(view: NetworkView, dpid: int) -> list[Flow]:
    """What is not a new connection to a VIP nor one committed to a service goes on to steering."""
    return [Flow(dpid, Table.SERVICE, PRIORITY_MISS, (), (), Table.STEER, COOKIE_BASELINE)]


def meter_burst_kbits(rate_kbps: int) -> int:
    """100 ms of traffic at the rate: enough for TCP to keep its window, small enough to cap."""
    return max(rate_kbps // 10, 64)


def bucket_weights(view: NetworkView, dpid: int, route: ServiceRoute) -> dict[int, int]:
    """Endpoint slot -> bucket weight of the service's group on one switch: the endpoints taking
    traffic that the switch reaches. With locality, each subset's share (the sum of its weights)
    goes to that subset's endpoints fewest hops from the switch, in their own proportions; the
    others of the subset get no new connections here (they are the fallback when those go)."""
    live = []
    for ep in route.endpoints:
        host = view.hosts.get(ep.host)
        if ep.weight > 0 and host is not None:
            hops = view.hop_counts(host.dpid).get(dpid)
            if hops is not None:  # None: cut off from this switch
                live.append((ep, hops))
    if not route.locality:
        return {ep.slot: ep.weight for ep, _ in live}
    subsets: dict[str, list[tuple[ServiceEndpoint, int]]] = {}
    for ep, hops in live:
        subsets.setdefault(ep.subset, []).append((ep, hops))
    shares: dict[int, float] = {}
    for members in subsets.values():
        nearest = min(hops for _, hops in members)
        near = [ep for ep, hops in members if hops == nearest]
        total, near_total = sum(ep.weight for ep, _ in members), sum(ep.weight for ep in near)
        for ep in near:
            shares[ep.slot] = ep.weight * total / near_total
    if not shares:
        return {}
    scale = min(1.0, MAX_BUCKET_WEIGHT / max(shares.values()))
    return {slot: max(1, round(share * scale)) for slot, share in shares.items()}


MAX_BUCKET_WEIGHT = 0xFFFF
DP_HASH_SLOTS = 256  # the most hash values Open vSwitch shares among a select group's buckets


def select_buckets(weights: dict[int, int]) -> list[tuple[int, int]]:
    """(endpoint slot, weight) buckets that Open vSwitch's datapath splits to within 1/256.

    The datapath picks a bucket by a hash of the connection's 5-tuple, over n hash values shared
    out among the buckets by weight (Webster's method), with n the power of two above total/least
    weight, at least 16 and at most 256. A 90/10 split thus gets 16 values, 14 and 2: 12.5%, not
    10%. A small extra bucket for the heaviest endpoint (the same actions) brings n to 256; weights
    too small to carry it are scaled up first (only their ratios count)."""
    items = [(slot, w) for slot, w in weights.items() if w > 0]
    total = sum(w for _, w in items)
    if len(items) < 2 or len(items) >= DP_HASH_SLOTS // 2:
        return items
    scale = max(1, min(-(-4 * DP_HASH_SLOTS // total), MAX_BUCKET_WEIGHT // max(w for _, w in items)))
    items = [(slot, w * scale) for slot, w in items]
    total *= scale
    if -(-total // min(w for _, w in items)) > DP_HASH_SLOTS // 2:
        return items  # already n = 256 (or more: then the datapath hashes in the slow path)
    small = -(-total // (DP_HASH_SLOTS - 1))  # total / small in (128, 255]: n = 256
    k = max(range(len(items)), key=lambda i: items[i][1])
    slot, heaviest = items[k]
    if heaviest - small < small:
        return items
    items[k] = (slot, heaviest - small)
    return items + [(slot, small)]


def service_rules(view: NetworkView, route: ServiceRoute) -> tuple[list[Flow], list[Group], list[Meter]]:
    """A route's rules on every switch: its group, the VIP's flow, each endpoint's NAT and
    accounting flows, and its meter."""
    proto = IP_NUMBERS[route.protocol]
    vip_match = dict(eth_type=ETH_IPV4, ipv4_dst=route.vip, ip_proto=proto, **{f"{route.protocol}_dst": route.port})
    meter = route.meter_id
    flows, groups, meters = [], [], []
    for dpid in view.switches:
        nat_zone, snat_zone = view.zones(dpid)
        weights = bucket_weights(view, dpid, route)
        # every endpoint's flows stay on every switch whatever its weight here (and only the group
        # changes with the weights), so its counters live as long as the route
        for ep in route.endpoints:
            chosen = flow_match(**vip_match, **{REG_SERVICE: route.service_id, REG_ENDPOINT: ep.slot})
            dnat = Nat("dst", ep.ip, ep.port)
            mark = connection_mark(route.service_id, ep.slot)
            flows.append(Flow(dpid, Table.ENDPOINT, PRIORITY_ENDPOINT, chosen,
                              (("ct", Ct(nat_zone, Table.STEER, commit=True, nat=dnat, mark=mark)),), None,
                              route.cookie))
            if view.gateway:  # the client is this endpoint: translate its source too (table 4)
                flows.append(Flow(dpid, Table.ENDPOINT, PRIORITY_ENDPOINT_HAIRPIN,
                                  flow_match(**dict(chosen), ipv4_src=ep.ip),
                                  (("ct", Ct(nat_zone, Table.HAIRPIN, commit=True, nat=dnat,
                                             mark=mark | HAIRPIN_MARK)),), None, route.cookie))
            flows += accounting.endpoint_flows(dpid, route, ep, snat_zone if view.gateway else None)
        if meter is not None:
            meters.append(Meter(dpid, meter, route.rate_limit_kbps, meter_burst_kbits(route.rate_limit_kbps),
                                route.cookie))
        if not weights:
            continue  # every endpoint is cut off from this switch: the VIP's traffic falls to forward
        ordered = {ep.slot: weights[ep.slot] for ep in route.endpoints if ep.slot in weights}
        buckets = tuple((weight, (("set_field", REG_SERVICE, route.service_id), ("set_field", REG_ENDPOINT, slot),
                                  ("resubmit", Table.ENDPOINT)))
                        for slot, weight in select_buckets(ordered))
        groups.append(Group(dpid, route.group_id, buckets, route.cookie))
        flows.append(Flow(dpid, Table.SERVICE, PRIORITY_SERVICE, flow_match(**vip_match, ct_state=CT_NEW_CONNECTION),
                          (("group", route.group_id),), None, route.cookie, meter))
    return flows, groups, meters
