"""Stage 0, classification: TCP and UDP through the switch's service zone of the connection tracker.

The packets of translated connections are translated there, then checked by isolation.py (a pod's
packets) before the service stage; everything else goes on to steering.

The table's other entries belong to the stages they serve: ARP and the gateway's zone to gateway.py,
chained services' replies to steering.py.
"""

from __future__ import annotations

from api.protocols import IP_NUMBERS, SERVICE_PROTOCOLS

from ..network import NetworkView
from .ruleset import Ct, Flow, flow_match
from .tables import COOKIE_BASELINE, ETH_IPV4, PRIORITY_MISS, PRIORITY_TRACK, Table


def switch_flows(view: NetworkView, dpid: int) -> list[Flow]:
    nat_zone, _ = view.zones(dpid)
    flows = [Flow(dpid, Table.CLASSIFY, PRIORITY_MISS, (), (), Table.STEER, COOKIE_BASELINE)]
    for proto in (IP_NUMBERS[p] for p in SERVICE_PROTOCOLS):
        flows.append(Flow(dpid, Table.CLASSIFY, PRIORITY_TRACK, flow_match(eth_type=ETH_IPV4, ip_proto=proto),
                          (("ct", Ct(nat_zone, Table.ISOLATE)),), None, COOKIE_BASELINE))
    return flows
