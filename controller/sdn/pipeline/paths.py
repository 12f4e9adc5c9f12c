"""Reserved paths in stage 6: per (source, destination) pair, hop by hop, above shortest-path forwarding."""

from __future__ import annotations

from ..model import ReservedPath
from ..network import NetworkView
from .ruleset import Flow, flow_match
from .tables import ETH_IPV4, PRIORITY_PATH, Table


def path_flows(view: NetworkView, path: ReservedPath) -> list[Flow]:
    src, dst = view.hosts[path.src], view.hosts[path.dst]
    return [Flow(dpid, Table.FORWARD, PRIORITY_PATH,
                 flow_match(in_port=in_port, eth_type=ETH_IPV4, ipv4_src=src.ip, ipv4_dst=dst.ip),
                 (("set_field", "eth_dst", dst.mac), ("output", out_port)), None, path.cookie)
            for dpid, in_port, out_port in path.hops]
