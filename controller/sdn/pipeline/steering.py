"""Stage 2, VNF chain steering (with tables 7 and 8, and replies in 0).

Classified traffic goes through each chain's VNFs in order, and a symmetric chain's replies back
through them.
"""

from __future__ import annotations

import ipaddress

from api.protocols import ICMP, IP_NUMBERS, SERVICE_PROTOCOLS

from ..model import Chain, ServiceRoute
from ..network import NetworkView
from .load_balancing import select_buckets
from .ruleset import IN_PORT, Ct, Flow, Group, flow_match
from .tables import (COOKIE_BASELINE, CT_COMMITTED_FORWARD, CT_COMMITTED_REPLY, ETH_IPV4, MARK_SERVICE_MASK,
                     PRIORITY_CHAIN_REPLY, PRIORITY_CHAIN_REPLY_ON, PRIORITY_MISS, PRIORITY_STEER_BACK,
                     PRIORITY_STEER_IN, PRIORITY_STEER_ON, PRIORITY_STEER_OWN, PRIORITY_STEER_SERVICE,
                     PRIORITY_STEER_TO, PRIORITY_UNTRANSLATED_REPLY, PRIORITY_UNTRANSLATED_VNF, Table, chain_group_id)


def switch_flows(view: NetworkView, dpid: int) -> list[Flow]:
    nat_zone, _ = view.zones(dpid)
    return [
        Flow(dpid, Table.STEER, PRIORITY_MISS, (), (), Table.POLICY_EGRESS, COOKIE_BASELINE),
        # a packet looked at untranslated (table 0, chained services' replies) that is not
        # steered: translated, on through isolation to the service stage as any other
        Flow(dpid, Table.UNTRANSLATED, PRIORITY_MISS, flow_match(eth_type=ETH_IPV4),
             (("ct", Ct(nat_zone, Table.ISOLATE)),), None, COOKIE_BASELINE),
    ]


def _cidr(text: str) -> tuple[str, str] | str | None:
    """An OXM (address, mask) for a CIDR (the address alone for a /32), None for "" (any)."""
    if not text:
        return None
    net = ipaddress.IPv4Network(text)
    return str(net.network_address) if net.prefixlen == 32 else (str(net.network_address), str(net.netmask))


def _l4_matches(protocol: str, port: int, side: str) -> list[dict]:
    """Match fields for the protocol (and port on `side`: "dst" or "src"); several when "any"."""
    protocols = [protocol] if protocol else (list(SERVICE_PROTOCOLS) if port else [""])
    out = []
    for proto in protocols:
        fields: dict = {}
        if proto == ICMP:
            fields["ip_proto"] = IP_NUMBERS[ICMP]
        elif proto:
            fields["ip_proto"] = IP_NUMBERS[proto]
            if port:
                fields[f"{proto}_{side}"] = port
        out.append(fields)
    return out


def chain_rules(view: NetworkView, chain: Chain, routes: list[ServiceRoute]) -> tuple[list[Flow], list[Group]]:
    """The rules of one chain, on every switch (tables 2, 7 and 8, and replies in 0).

    A VNF is one-armed: it takes the frames sent to its MAC and sends those it passes back out with
    its MAC as source. So the frames a VNF sends are recognised by their source MAC, wherever they
    are: on to the next hop, after the last on to forwarding. Traffic to a service is recognised
    at the client's switch by its connection's mark (its VIP is translated there, before steering).
    A hop of several instances is a SELECT group: Open vSwitch's datapath hashes the 5-tuple
    symmetrically, so a connection's packets, both ways, go through the same instance."""
    hops = [[view.hosts[h] for h in hop if h in view.hosts] for hop in chain.hops]
    if not hops or any(not hop for hop in hops):
        return [], []  # a VNF not attached (yet): the chain waits, traffic flows directly
    c = chain.classifier
    src, dst = _cidr(c.src_cidr), _cidr(c.dst_cidr)
    services = [r for r in routes if chain.names_service(r)]
    flows: list[Flow] = []
    groups: dict[tuple[int, int], Group | None] = {}

    def steer(dpid: int, host) -> tuple | None:
        """Actions sending a frame to a VNF host from switch dpid; None if it is cut off."""
        port = host.port if host.dpid == dpid else view.next_hops(host.dpid).get(dpid)
        return None if port is None else (("set_field", "eth_dst", host.mac), ("output", port))

    def toward(dpid: int, k: int) -> tuple | None:
        """Actions sending a frame on to hop k (one of its instances) from switch dpid."""
        if len(hops[k]) == 1:
            return steer(dpid, hops[k][0])
        if (dpid, k) not in groups:
            reachable = [(i, h) for i, h in enumerate(hops[k]) if steer(dpid, h) is not None]
            buckets = tuple((w, (("set_field", "eth_dst", hops[k][i].mac), ("resubmit", Table.TOWARD)))
                            for i, w in select_buckets({i: 1 for i, _ in reachable}))
            groups[(dpid, k)] = Group(dpid, chain_group_id(chain.chain_id, k), buckets, chain.cookie) \
                if buckets else None
        group = groups[(dpid, k)]
        return None if group is None else (("group", group.group_id),)

    def add(dpid: int, priority: int, match: dict, actions: tuple | None, goto: int | None = None,
            table: int = Table.STEER) -> None:
        if actions is None and goto is None:
            return
        flows.append(Flow(dpid, table, priority, flow_match(eth_type=ETH_IPV4, **match), actions or (), goto,
                          chain.cookie))
        if actions and actions[-1][0] == "output":  # it may have to leave by the port it came in by
            port = actions[-1][1]
            flows.append(Flow(dpid, table, priority + 1, flow_match(eth_type=ETH_IPV4, in_port=port, **match),
                              actions[:-1] + (("output", IN_PORT),), None, chain.cookie))

    # (priority, match): traffic to an address by its fields; to a service by its connection's mark,
    # after the VIP's translation at the client's switch (the only switch that knows the mark)
    forward_in = [(PRIORITY_STEER_IN, dict(l4, **({"ipv4_src": src} if src else {}), **({"ipv4_dst": dst} if dst else {})))
                  for l4 in _l4_matches(c.protocol, c.dst_port, "dst")]
    reply_in = [(PRIORITY_STEER_IN, dict(l4, **({"ipv4_src": dst} if dst else {}), **({"ipv4_dst": src} if src else {})))
                for l4 in _l4_matches(c.protocol, c.dst_port, "src")]
    for route in services:
        forward_in.append((PRIORITY_STEER_SERVICE, dict({"ipv4_src": src} if src else {},
                                                        ct_state=CT_COMMITTED_FORWARD,
                                                        ct_mark=(route.service_id << 16, MARK_SERVICE_MASK))))
    # A service's replies go through the chain before their translation back to the VIP, so a VNF
    # sees one connection both ways (client and instance): they are recognised by their source
    # (an instance of the service); at the client's switch, by their connection (table 7).
    instances = [dict(ip_proto=IP_NUMBERS[r.protocol], ipv4_src=ep.ip, **{f"{r.protocol}_src": ep.port})
                 for r in services for ep in r.endpoints]
    reply_out = list(instances)
    reply_out += [dict(ip_proto=IP_NUMBERS[r.protocol], ipv4_src=r.vip, **{f"{r.protocol}_src": r.port})
                  for r in services]  # after the translation back, at the client's switch
    if dst:
        reply_out += [dict(l4, ipv4_src=dst) for l4 in _l4_matches(c.protocol, c.dst_port, "src")]
    reply_out = list({tuple(sorted(m.items())): m for m in reply_out}.values())  # a VIP named both ways
    for dpid in view.switches:
        nat_zone, _ = view.zones(dpid)
        for k, hop in enumerate(hops):
            nxt = toward(dpid, k + 1) if k + 1 < len(hops) else None
            back = toward(dpid, k - 1) if chain.symmetric and k > 0 else None
            for vnf in hop:
                add(dpid, PRIORITY_STEER_TO, {"eth_dst": vnf.mac}, steer(dpid, vnf))
                if len(hop) > 1:
                    add(dpid, PRIORITY_STEER_TO, {"eth_dst": vnf.mac}, steer(dpid, vnf), table=Table.TOWARD)
                # its own traffic (answers from its metrics server, say) is not the chain's
                add(dpid, PRIORITY_STEER_OWN, {"eth_src": vnf.mac, "ipv4_src": vnf.ip}, None, Table.FORWARD)
                add(dpid, PRIORITY_STEER_ON, {"eth_src": vnf.mac}, nxt, None if nxt else Table.POLICY_EGRESS)
                if not chain.symmetric:
                    continue
                for match in reply_out:
                    add(dpid, PRIORITY_STEER_BACK, {"eth_src": vnf.mac, **match}, back, None if back else Table.POLICY_EGRESS)
                    if back and match in instances:  # before the service stage could touch it
                        add(dpid, PRIORITY_CHAIN_REPLY_ON, {"eth_src": vnf.mac, **match}, back, table=Table.CLASSIFY)
        first = toward(dpid, 0)
        for priority, match in forward_in:
            add(dpid, priority, match, first)
        if not chain.symmetric:
            continue
        last = toward(dpid, len(hops) - 1)
        for priority, match in reply_in:
            add(dpid, priority, match, last)
        for match in instances:
            add(dpid, PRIORITY_CHAIN_REPLY, match, (("ct", Ct(nat_zone, Table.UNTRANSLATED, translate=False)),),
                table=Table.CLASSIFY)
        for vnf in (v for hop in hops for v in hop):  # a VNF's output: on through isolation and the service stage as usual
            add(dpid, PRIORITY_UNTRANSLATED_VNF, {"eth_src": vnf.mac}, (("ct", Ct(nat_zone, Table.ISOLATE)),),
                table=Table.UNTRANSLATED)
        for route in services:
            add(dpid, PRIORITY_UNTRANSLATED_REPLY,
                dict({"ipv4_dst": src} if src else {}, ct_state=CT_COMMITTED_REPLY,
                     ct_mark=(route.service_id << 16, MARK_SERVICE_MASK)), last, table=Table.UNTRANSLATED)
    return flows, [g for g in groups.values() if g is not None]
