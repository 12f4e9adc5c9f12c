"""Stages 10 and 11, network policies: new connections judged by conjunctive matches, allowed ones committed.

Every packet on its way to forwarding (table 2's miss, and a chain's traffic after its last VNF)
passes table 10 then 11, after service translation: a connection to a VIP is judged by the
endpoint's address, as Kubernetes judges it. Only new connections are judged (`+trk+new`, so TCP
and UDP, the protocols the switches track), and only at the isolated pod's own switch (where its
traffic enters and leaves the network, so replies come back through the same switch and zone).
A connection allowed there, or opened to or from a pod isolated the other way, is committed in
the switch's service zone, so its later packets and replies are `+est` and pass.

Table 10 judges the opening side (egress), 11 the answering side (ingress). An address rule is
one conjunction: clause 1 the isolated pods it opens (with `+trk+new`), clause 2 the peers'
networks, clause 3 the protocol and port ranges (a range as masked port matches); a clause that
would match anything is left out. A flow is shared by every conjunction with the same match, so
the flows grow as the sum of the sets' sizes, not their product. A conjunction that completes
runs its `conj_id` flow: in 10, mark the register and go on to 11; in 11, commit and forward.
An isolated pod's new connection that completes none is dropped (its own flow, below the
conjunctions). As Kubernetes lets a node probe its pods, the control plane's hosts (those serving
control ports) open connections to pods isolated for ingress. Flows on a switch: the baseline 3;
per pod of its isolated in a direction, 2 (the drop and the other way's commit); with a pod
isolated for ingress, one per control-plane host; per rule opening one of its pods, one per
distinct pod, network and port match of the rule (shared between rules) and its conj_id flow.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache

from api.network_policy import EGRESS, INGRESS, AddressRule, PortRange, ResolvedPolicies
from api.protocols import IP_NUMBERS

from ..network import NetworkView
from .ruleset import Ct, Flow, flow_match
from .tables import (COOKIE_POLICY_BASE, CT_NEW_CONNECTION, ETH_IPV4, POLICY_ALLOWED, PRIORITY_MISS,
                     PRIORITY_POLICY_ALLOW, PRIORITY_POLICY_COMMIT, PRIORITY_POLICY_CONTROL, PRIORITY_POLICY_DENY,
                     PRIORITY_POLICY_OPEN,
                     PRIORITY_POLICY_REPLY_DST, PRIORITY_POLICY_REPLY_SRC, REG_POLICY, Table, policy_cookie)

MAX_PORT = 0xFFFF
BASELINE_FLOWS = 3  # what switch_flows gives every switch


def switch_flows(view: NetworkView, dpid: int) -> list[Flow]:
    """What every switch holds whatever the policies: the misses, and 11's commit of what 10 allowed."""
    nat_zone, _ = view.zones(dpid)
    return [
        Flow(dpid, Table.POLICY_EGRESS, PRIORITY_MISS, (), (), Table.POLICY_INGRESS, COOKIE_POLICY_BASE),
        Flow(dpid, Table.POLICY_INGRESS, PRIORITY_MISS, (), (("resubmit", Table.FORWARD),), None, COOKIE_POLICY_BASE),
        Flow(dpid, Table.POLICY_INGRESS, PRIORITY_POLICY_COMMIT,
             flow_match(eth_type=ETH_IPV4, ct_state=CT_NEW_CONNECTION, **{REG_POLICY: (POLICY_ALLOWED, POLICY_ALLOWED)}),
             (_commit(nat_zone),), None, COOKIE_POLICY_BASE),
    ]


def _commit(zone: int) -> tuple:
    return ("ct", Ct(zone, Table.FORWARD, commit=True, translate=False))


def port_masks(first: int, last: int) -> list[tuple[int, int]]:
    """The (value, mask) port matches that cover first..last exactly, fewest first (aligned blocks)."""
    out = []
    while first <= last:
        size = first & -first if first else MAX_PORT + 1
        while first + size - 1 > last:
            size //= 2
        out.append((first, MAX_PORT & ~(size - 1)))
        first += size
    return out


def _port_matches(ports: Iterable[PortRange]) -> list[dict]:
    matches = []
    for r in ports:
        proto = dict(eth_type=ETH_IPV4, ip_proto=IP_NUMBERS[r.protocol])
        if r.first == 0:  # every port of the protocol
            matches.append(proto)
            continue
        for value, mask in port_masks(r.first, r.last):
            matches.append({**proto, f"{r.protocol}_dst": value if mask == MAX_PORT else (value, mask)})
    return matches


def _network_match(side: str, network: str) -> dict:
    return {"eth_type": ETH_IPV4, f"ipv4_{side}": _address_match(network)}


@lru_cache(maxsize=65536)  # the same networks recur in many rules and on every switch
def _address_match(network: str) -> str | tuple[str, str]:
    net = ipaddress.IPv4Network(network)
    if net.prefixlen == 32:
        return str(net.network_address)
    return str(net.network_address), str(net.netmask)


def _host(address: str) -> str:
    return address.split("/")[0]


def _everyone(peers: tuple[str, ...] | None) -> bool:
    return peers is None or "0.0.0.0/0" in peers


def rule_clauses(rule: AddressRule) -> list[list[dict]]:
    """A rule's clauses, each a list of matches (ORed): the isolated pods, then the peers and
    the ports where they restrict anything."""
    return [_selected_matches(rule.direction, rule.selected), *_other_clauses(rule)]


def _selected_matches(direction: str, selected: Iterable[str]) -> list[dict]:
    own = "dst" if direction == INGRESS else "src"
    return [dict(eth_type=ETH_IPV4, ct_state=CT_NEW_CONNECTION, **{f"ipv4_{own}": _host(a)}) for a in selected]


def _other_clauses(rule: AddressRule) -> list[list[dict]]:
    """The peers' and the ports' clauses, where they restrict anything (the same on every switch)."""
    other = "src" if rule.direction == INGRESS else "dst"
    clauses = []
    if not _everyone(rule.peers):
        clauses.append([_network_match(other, n) for n in rule.peers])
    if rule.ports:
        clauses.append(_port_matches(rule.ports))
    return clauses


TABLES = {EGRESS: Table.POLICY_EGRESS, INGRESS: Table.POLICY_INGRESS}


def policy_flows(view: NetworkView, policies: ResolvedPolicies) -> list[Flow]:
    """The flows of tables 10 and 11 for the resolved policies, on each switch for its own pods."""
    by_ip = {h.ip: h.dpid for h in view.hosts.values()}
    # what does not depend on the switch, once: each rule's peers' and ports' matches
    others = [[[flow_match(**m) for m in clause] for clause in _other_clauses(rule)] for rule in policies.rules]
    flows = []
    for dpid in view.switches:
        here = {ip for ip, at in by_ip.items() if at == dpid}
        flows += _switch_policy_flows(view, dpid, policies, others, here)
    return flows


def _local(addresses: Iterable[str], here: set[str]) -> list[str]:
    return [a for a in addresses if _host(a) in here]


def _switch_policy_flows(view: NetworkView, dpid: int, policies: ResolvedPolicies, others: list[list[list[tuple]]],
                         here: set[str]) -> list[Flow]:
    """One switch's share: the rules whose isolated pods hang off it, and its pods' defaults."""
    nat_zone, _ = view.zones(dpid)
    allowed = {Table.POLICY_EGRESS: (("set_field", REG_POLICY, POLICY_ALLOWED),), Table.POLICY_INGRESS: (_commit(nat_zone),)}
    goto = {Table.POLICY_EGRESS: Table.POLICY_INGRESS, Table.POLICY_INGRESS: None}
    conjunctions: dict[tuple, set[tuple]] = {}  # (table, match) -> its conjunction actions
    opened: dict[tuple, int] = {}               # (table, match) -> the id of a one-clause rule opening it
    flows = []
    for number, (rule, other) in enumerate(zip(policies.rules, others), start=1):
        local = _local(rule.selected, here)
        if not local:
            continue
        table = TABLES[rule.direction]
        clauses = [[flow_match(**m) for m in _selected_matches(rule.direction, local)], *other]
        if len(clauses) == 1:  # only "these pods": every connection of theirs this way passes
            for match in clauses[0]:
                opened.setdefault((table, match), number)
            continue
        for k, matches in enumerate(clauses, start=1):
            action = ("conjunction", number, k, len(clauses))
            for match in matches:
                conjunctions.setdefault((table, match), set()).add(action)
        flows.append(Flow(dpid, table, PRIORITY_POLICY_ALLOW, flow_match(conj_id=number, eth_type=ETH_IPV4),
                          allowed[table], goto[table], policy_cookie(number)))
    for (table, match), actions in conjunctions.items():
        flows.append(Flow(dpid, table, PRIORITY_POLICY_ALLOW, match, tuple(sorted(actions)), None, COOKIE_POLICY_BASE))
    for (table, match), number in opened.items():
        flows.append(Flow(dpid, table, PRIORITY_POLICY_OPEN, match, allowed[table], goto[table], policy_cookie(number)))
    if _local(policies.isolated_ingress, here):
        # As Kubernetes lets a node's kubelet probe its pods: the control plane's hosts (those
        # serving control ports: the cloud site the mesh probes from, the node agents) open
        # connections to isolated pods.
        for ip in sorted({h.ip for h in view.hosts.values() if view.host_control_ports(h)}):
            flows.append(Flow(dpid, Table.POLICY_INGRESS, PRIORITY_POLICY_CONTROL,
                              flow_match(eth_type=ETH_IPV4, ct_state=CT_NEW_CONNECTION, ipv4_src=ip),
                              (_commit(nat_zone),), None, COOKIE_POLICY_BASE))
    for direction, isolated in ((EGRESS, policies.isolated_egress), (INGRESS, policies.isolated_ingress)):
        own, other_side = ("src", "dst") if direction == EGRESS else ("dst", "src")
        for address in _local(isolated, here):
            new = dict(eth_type=ETH_IPV4, ct_state=CT_NEW_CONNECTION)
            flows.append(Flow(dpid, TABLES[direction], PRIORITY_POLICY_DENY,
                              flow_match(**new, **{f"ipv4_{own}": _host(address)}), (), None, COOKIE_POLICY_BASE))
            # a connection the other way is committed too, so the pod's replies are not judged as new
            reverse = PRIORITY_POLICY_REPLY_DST if other_side == "dst" else PRIORITY_POLICY_REPLY_SRC
            flows.append(Flow(dpid, Table.POLICY_INGRESS, reverse,
                              flow_match(**new, **{f"ipv4_{other_side}": _host(address)}),
                              (_commit(nat_zone),), None, COOKIE_POLICY_BASE))
    return flows


def product_flow_count(policies: ResolvedPolicies, switch_of: Mapping[str, object], control_hosts: int = 0) -> int:
    """How many flows tables 10 and 11 would take on all the switches without conjunctions: on
    each switch, one per (local pod, peer network, port match) of each rule, and as here the
    baseline, each local isolated pod's drop and commit and, where a pod is isolated for ingress,
    one per control-plane host. `switch_of`: address -> its switch (every switch named at least once)."""
    total = 0
    for switch in set(switch_of.values()):
        here = {ip for ip, at in switch_of.items() if at == switch}
        ingress = len(_local(policies.isolated_ingress, here))
        total += BASELINE_FLOWS + 2 * (ingress + len(_local(policies.isolated_egress, here)))
        total += control_hosts if ingress else 0
        for rule in policies.rules:
            local = _local(rule.selected, here)
            if local:
                n = len(local)
                for clause in _other_clauses(rule):
                    n *= len(clause)
                total += n
    return total
