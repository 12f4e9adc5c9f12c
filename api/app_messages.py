"""The application model to and from its gRPC messages (orchestrator.proto's ServiceSpec)."""

from __future__ import annotations

import json

from strata.v1 import orchestrator_pb2 as pb

from api.app import ServiceSpec, SpreadSpec
from api.bounds import MAX_DOCUMENT
from api.network_policy import NetworkPolicy, PolicyError, parse_network_policy, policy_to_dict


def service_message(s: ServiceSpec) -> pb.ServiceSpec:
    return pb.ServiceSpec(name=s.name, image=s.image, replicas=s.replicas, cpu_millicores=s.cpu_millicores,
                          bandwidth_mbps=s.bandwidth_mbps, memory_mib=s.memory_mib,
                          memory_limit_mib=s.memory_limit_mib, port=s.port, target_port=s.target_port,
                          dependencies=list(s.dependencies), base_image=s.base_image,
                          mesh_service=s.mesh_service, version=s.version, vnf_kind=s.vnf_kind,
                          vnf_config=s.vnf_config, near=s.near, max_per_node=s.max_per_node,
                          spread=[pb.ServiceSpread(topology=x.topology, max_skew=x.max_skew, soft=not x.hard)
                                  for x in s.spread],
                          prefer_apart=s.prefer_apart, exposed=s.exposed, clients=dict(s.clients),
                          max_client_delay_ms=s.max_client_delay_ms, pids_limit=s.pids_limit,
                          labels=dict(s.labels), port_name=s.port_name)


def service_spec(m: pb.ServiceSpec) -> ServiceSpec:
    """As sent; validate_app checks it (0 ports mean the defaults, as an unset proto3 field)."""
    return ServiceSpec(name=m.name, image=m.image, replicas=m.replicas, cpu_millicores=m.cpu_millicores,
                       bandwidth_mbps=m.bandwidth_mbps, memory_mib=m.memory_mib, memory_limit_mib=m.memory_limit_mib,
                       port=m.port or 8080, target_port=m.target_port or m.port or 8080,
                       dependencies=tuple(m.dependencies), base_image=m.base_image,
                       mesh_service=m.mesh_service, version=m.version, vnf_kind=m.vnf_kind,
                       vnf_config=m.vnf_config, near=m.near, max_per_node=m.max_per_node,
                       spread=tuple(SpreadSpec(x.topology, x.max_skew, not x.soft) for x in m.spread),
                       prefer_apart=m.prefer_apart, exposed=m.exposed, clients=tuple(sorted(m.clients.items())),
                       max_client_delay_ms=m.max_client_delay_ms, pids_limit=m.pids_limit,
                       labels=tuple(sorted(m.labels.items())), port_name=m.port_name)


def policy_message(policy: NetworkPolicy) -> pb.NetworkPolicy:
    return pb.NetworkPolicy(application=policy.app, name=policy.name, document=json.dumps(policy_to_dict(policy)))


def network_policy(m: pb.NetworkPolicy, application: str) -> NetworkPolicy:
    """The policy a message carries, read as Kubernetes reads it, in `application` (its namespace);
    PolicyError naming the policy and the field otherwise."""
    if m.application and m.application != application:
        raise PolicyError(f'NetworkPolicy "{m.name[:80]}": it is of the application "{m.application[:80]}", '
                          f'not "{application[:80]}"')
    if len(m.document) > MAX_DOCUMENT:
        raise PolicyError(f'NetworkPolicy "{m.name[:80]}": document is {len(m.document)} characters; at most {MAX_DOCUMENT}')
    try:
        document = json.loads(m.document)
    except ValueError as exc:
        raise PolicyError(f'NetworkPolicy "{m.name[:80]}": document is not JSON: {exc}') from None
    policy = parse_network_policy(document, application)
    if m.name and m.name != policy.name:
        raise PolicyError(f'NetworkPolicy "{m.name[:80]}": its document is named "{policy.name}"')
    return policy
