"""Services' spread and anti-affinity rules as the orchestrator holds them: nodes' zones, the rules
of a placement problem, what Deploy and Scale refuse up front, the rules in words for messages."""

from __future__ import annotations

import math
from collections.abc import Iterable

from api.app import AppSpec, ServiceSpec, describe_rules
from component_base.errors import FailedPrecondition
from controller.placement.model import ServiceRule, Spread

from ..store import NodeRecord

TOPOLOGY = {"node": "server", "zone": "zone"}  # the app model's spread topology -> the problem's


def zone_of(node: NodeRecord) -> str:
    """A node's zone (Kubernetes' topology.kubernetes.io/zone): its edge site, the switch it hangs off."""
    return node.switch


def check_rules(app: str, service: ServiceSpec, replicas: int, nodes: list[NodeRecord]) -> None:
    """FailedPrecondition when the service's hard rules cannot hold on `nodes` whatever their
    capacities: `replicas` more than max_per_node lets them take, or a required zone spread and
    no node in a zone."""
    where = f'{app}: service "{service.name}"'
    if service.max_per_node and replicas > service.max_per_node * len(nodes):
        raise FailedPrecondition(
            f"{where}: at most {service.max_per_node} replica(s) per node (max_per_node): {replicas} replicas need "
            f"{math.ceil(replicas / service.max_per_node)} nodes, and there are {len(nodes)}"
            f"{': ' + ', '.join(n.name for n in nodes) if nodes else ''}")
    if any(s.hard and s.topology == "zone" for s in service.spread) and not any(zone_of(n) for n in nodes):
        raise FailedPrecondition(f"{where}: a required spread over zones needs nodes in zones, and none of the "
                                 f"{len(nodes)} nodes has one")


def service_rule(name: str, spec: ServiceSpec, placed: dict[str, int]) -> ServiceRule | None:
    """The problem's rule of a service (None when it has no rules): `name` is app/service,
    `placed` its replicas already on each ready node."""
    if not (spec.max_per_node or spec.spread or spec.prefer_apart):
        return None
    return ServiceRule(name, spec.max_per_node, tuple(Spread(TOPOLOGY[s.topology], s.max_skew, s.hard)
                                                      for s in spec.spread),
                       spec.prefer_apart, tuple(sorted(placed.items())))


def rules_note(app: AppSpec, services: Iterable[str]) -> str:
    """The rules of the services named, to follow a placement's failure ("" when none has any):
    '; under the rules: service "web": at most 1 per node'."""
    rules = [f'service "{name}": {words}' for name in dict.fromkeys(services)
             if (words := describe_rules(app.service(name)))]
    return f"; under the rules: {'; '.join(rules)}" if rules else ""
