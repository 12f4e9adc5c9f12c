"""Resolved network policies to and from their gRPC messages (sdn.proto's NetworkPolicies)."""

from __future__ import annotations

from strata.v1 import sdn_pb2

from api.network_policy import EGRESS, INGRESS, AddressRule, PortRange, ResolvedPolicies
from api.protocols import protocol_enum, protocol_name


def policies_message(resolved: ResolvedPolicies) -> sdn_pb2.NetworkPolicies:
    return sdn_pb2.NetworkPolicies(
        isolated_ingress=list(resolved.isolated_ingress), isolated_egress=list(resolved.isolated_egress),
        rules=[sdn_pb2.PolicyAddressRule(
            policy=r.policy, ingress=r.direction == INGRESS, selected=list(r.selected), any_peer=r.peers is None,
            peers=list(r.peers or ()),
            ports=[sdn_pb2.PolicyPortRange(protocol=protocol_enum(p.protocol), first=p.first, last=p.last)
                   for p in r.ports]) for r in resolved.rules])


def resolved_policies(m: sdn_pb2.NetworkPolicies) -> ResolvedPolicies:
    """As sent; api.network_policy.checked_resolved checks it (a protocol other than TCP or UDP is refused here)."""
    return ResolvedPolicies(tuple(m.isolated_ingress), tuple(m.isolated_egress), tuple(
        AddressRule(r.policy, INGRESS if r.ingress else EGRESS, tuple(r.selected),
                    None if r.any_peer else tuple(r.peers),
                    tuple(PortRange(protocol_name(p.protocol), p.first, p.last) for p in r.ports))
        for r in m.rules))
