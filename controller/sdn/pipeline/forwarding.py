"""Stage 6, forwarding: per destination IP along shortest paths, with fast-failover groups.

The destination MAC is set on the way; a fast-failover group is used where a loop-free alternate
next hop exists.
"""

from __future__ import annotations

from ..network import NetworkView
from .ruleset import IN_PORT, Flow, Group, flow_match
from .tables import COOKIE_BASELINE, ETH_IPV4, FAILOVER_GROUP_BASE, PRIORITY_FORWARD, PRIORITY_FORWARD_BACK, Table


def failover_group_id(view: NetworkView, target: int) -> int:
    return FAILOVER_GROUP_BASE + view.switch_index(target)


def forwarding_rules(view: NetworkView) -> tuple[list[Flow], list[Group]]:
    flows, groups = [], []
    # Fast failover: toward each switch, where a loop-free alternate next hop exists, a group
    # whose first bucket outputs to the primary port and the second to the alternate; the switch
    # itself moves to the alternate the moment the primary port goes down, before the controller
    # hears of it (and recomputes everything).
    failover: dict[tuple[int, int], int] = {}  # (switch, target switch) -> group id
    for target in view.switches if view.fast_failover else ():
        primary, backup = view.next_hops(target), view.backup_next_hops(target)
        group_id = failover_group_id(view, target)
        for dpid, port in backup.items():
            failover[(dpid, target)] = group_id
            groups.append(Group(dpid, group_id, ((0, (("output", primary[dpid]),)), (0, (("output", port),))),
                                COOKIE_BASELINE, "ff", (primary[dpid], port)))
    for host in view.hosts.values():
        toward = {**view.next_hops(host.dpid), host.dpid: host.port}
        for dpid, port in toward.items():
            out = ("group", failover[(dpid, host.dpid)]) if (dpid, host.dpid) in failover else ("output", port)
            flows.append(Flow(dpid, Table.FORWARD, PRIORITY_FORWARD, flow_match(eth_type=ETH_IPV4, ipv4_dst=host.ip),
                              (("set_field", "eth_dst", host.mac), out), None, COOKIE_BASELINE))
        # a hairpin connection's packets go back to the host they came from
        flows.append(Flow(host.dpid, Table.FORWARD, PRIORITY_FORWARD_BACK,
                          flow_match(in_port=host.port, eth_type=ETH_IPV4, ipv4_dst=host.ip),
                          (("set_field", "eth_dst", host.mac), ("output", IN_PORT)), None, COOKIE_BASELINE))
    return flows, groups
