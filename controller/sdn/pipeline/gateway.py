"""ARP and the gateway: ARP answered by the controller, hairpin connections NATed to the gateway.

ARP goes to the controller, which answers from the view (nothing is flooded); hairpin connections
are source-NATed to the gateway (table 4) and un-NATed on the way back (tables 0 and 5).
"""

from __future__ import annotations

from ..network import NetworkView
from .ruleset import Ct, Flow, Nat, flow_match
from .tables import (COOKIE_BASELINE, CT_COMMITTED_FORWARD, ETH_ARP, ETH_IPV4, HAIRPIN_MARK, PRIORITY_ARP,
                     PRIORITY_HAIRPIN_EST, PRIORITY_MISS, PRIORITY_UNSNAT, Table)

GATEWAY_MAC = "02:5e:ff:ff:ff:fe"  # answers ARP for the gateway address


def vip_mac(vip: str) -> str:
    """A locally administered MAC standing for the VIP in ARP replies and rewritten replies."""
    return "02:5e:" + ":".join(f"{int(b):02x}" for b in vip.split("."))


def arp_answer(view: NetworkView, vips: set[str], ip: str) -> str | None:
    """The MAC that owns `ip` in an ARP reply: a host's, the gateway's stand-in, or a service VIP's
    stand-in; None: not answered."""
    host = view.host_by_ip(ip)
    if host is not None:
        return host.mac
    if ip == view.gateway:
        return GATEWAY_MAC
    if ip in vips:
        return vip_mac(ip)
    return None


def switch_flows(view: NetworkView, dpid: int) -> list[Flow]:
    nat_zone, snat_zone = view.zones(dpid)
    flows = [
        Flow(dpid, Table.CLASSIFY, PRIORITY_ARP, flow_match(eth_type=ETH_ARP), (("controller",),), None, COOKIE_BASELINE),
        # hairpin connections of services removed since (their own rules went with them)
        Flow(dpid, Table.SERVICE, PRIORITY_HAIRPIN_EST,
             flow_match(eth_type=ETH_IPV4, ct_state=CT_COMMITTED_FORWARD, ct_mark=(HAIRPIN_MARK, HAIRPIN_MARK)),
             (("ct", Ct(snat_zone, Table.STEER)),), None, COOKIE_BASELINE),
        Flow(dpid, Table.UNSNAT, PRIORITY_MISS, flow_match(eth_type=ETH_IPV4),
             (("ct", Ct(nat_zone, Table.ISOLATE)),), None, COOKIE_BASELINE),
    ]
    if view.gateway:
        flows += [
            Flow(dpid, Table.CLASSIFY, PRIORITY_UNSNAT, flow_match(eth_type=ETH_IPV4, ipv4_dst=view.gateway),
                 (("ct", Ct(snat_zone, Table.UNSNAT)),), None, COOKIE_BASELINE),
            Flow(dpid, Table.HAIRPIN, PRIORITY_MISS, flow_match(eth_type=ETH_IPV4),
                 (("ct", Ct(snat_zone, Table.STEER, commit=True, nat=Nat("src", view.gateway))),), None,
                 COOKIE_BASELINE),
        ]
    return flows
