"""Stage 9, pods and the control plane: a pod's new TCP connections to infrastructure control ports are dropped.

Every TCP and UDP packet passes table 9 between the connection tracker and the service stage.
A packet that came in by a pod's port (its ingress switch, where a pod cannot pretend to be
another host) gets the FROM_POD bit in a register and is looked at again; then, to each address
of a host whose role declares control ports (view.control_ports: node agents' gRPC, metrics and
blob servers, the registry, the daemons), a new connection is dropped (`+trk+new`: the connections
between hosts are not committed, so it is their SYN; Open vSwitch's tracker calls a later packet
of such a connection invalid, not new, and a reply of a committed one +est+rpl). Everything else, and every packet from
a host that is not a pod (agent to agent, the mesh's probes), goes on to table 1 unchanged.
Flows per switch with pods: its pods' ports + control addresses x their ports + 2.
"""

from __future__ import annotations

from api.protocols import IP_NUMBERS

from ..network import POD, NetworkView
from .ruleset import Flow, flow_match
from .tables import (COOKIE_BASELINE, CT_NEW_CONNECTION, ETH_IPV4, FROM_POD, PRIORITY_FROM_POD, PRIORITY_MISS,
                     PRIORITY_POD_ON, PRIORITY_TO_CONTROL, REG_ORIGIN, Table)

TCP = IP_NUMBERS["tcp"]


def control_endpoints(view: NetworkView) -> list[tuple[str, int]]:
    """(address, TCP port) of every control-plane listener pods must not connect to, from the hosts'
    roles and the ports declared for each role."""
    return sorted((host.ip, port) for host in view.hosts.values() for port in view.host_control_ports(host))


def switch_flows(view: NetworkView, dpid: int) -> list[Flow]:
    on = (("resubmit", Table.SERVICE),)
    flows = [Flow(dpid, Table.ISOLATE, PRIORITY_MISS, (), on, None, COOKIE_BASELINE)]
    pod_ports = sorted(h.port for h in view.hosts.values() if h.role == POD and h.dpid == dpid)
    if not pod_ports:
        return flows  # nothing enters here from a pod
    from_pod = (FROM_POD, FROM_POD)
    for port in pod_ports:
        flows.append(Flow(dpid, Table.ISOLATE, PRIORITY_FROM_POD, flow_match(in_port=port, **{REG_ORIGIN: (0, FROM_POD)}),
                          (("set_field", REG_ORIGIN, FROM_POD), ("resubmit", Table.ISOLATE)), None, COOKIE_BASELINE))
    flows.append(Flow(dpid, Table.ISOLATE, PRIORITY_POD_ON, flow_match(**{REG_ORIGIN: from_pod}), on, None,
                      COOKIE_BASELINE))
    for ip, port in control_endpoints(view):
        flows.append(Flow(dpid, Table.ISOLATE, PRIORITY_TO_CONTROL,
                          flow_match(eth_type=ETH_IPV4, ip_proto=TCP, ipv4_dst=ip, tcp_dst=port,
                                     ct_state=CT_NEW_CONNECTION, **{REG_ORIGIN: from_pod}),
                          (), None, COOKIE_BASELINE))
    return flows
