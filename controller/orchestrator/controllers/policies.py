"""The network policy controller: every application's policies resolved against the pods, pushed to the SDN.

A pod is an instance with an address (its node reported it, or it was started with one); its
labels are its service's (Kubernetes' pod template labels, Compose's labels) and strata.io/service:
its service's name; its named port is its service's port name. Namespaces are the applications.
Whenever applications or instances change, the policies are resolved again; when the result
differs from what the SDN was last given (or nothing was given since the daemon started, so a
restarted SDN or orchestrator converges), the whole resolved set is sent. After a failed call
the next pass (in 1 s) sends it again.
"""

from __future__ import annotations

import logging

from component_base.errors import DomainError

from api.network_policy import SERVICE_LABEL, PolicyPod, ResolvedPolicies, namespace_labels, resolve

from ..cluster import APPS, INSTANCES, NODES, ClusterState
from ..ports import Sdn

log = logging.getLogger("strata.orchestrator")

RETRY = 1.0  # s before a pass that failed to reach the SDN is tried again


def policy_pods(state: ClusterState) -> list[PolicyPod]:
    """Every pod with an address, as policies see it (call with the lock held)."""
    pods = []
    for instance in state.instances.values():
        app = state.apps.get(instance.app)
        if app is None:
            continue
        seen = state.observed[instance.node].containers.get(instance.name) if instance.node in state.observed else None
        ip = seen.ip if seen is not None and seen.ip else instance.ip
        if not ip:
            continue
        spec = app.spec.service(instance.service)
        labels = dict(spec.labels)
        labels[SERVICE_LABEL] = spec.name
        named = ((spec.port_name, "tcp", spec.target_port), (spec.port_name, "udp", spec.target_port)) \
            if spec.port_name else ()
        pods.append(PolicyPod(app.spec.name, instance.name, ip, tuple(sorted(labels.items())), named))
    return pods


def desired_policies(state: ClusterState) -> ResolvedPolicies:
    """Every application's policies resolved against every pod (call with the lock held)."""
    policies = [p for app in state.apps.values() for p in app.spec.policies]
    return resolve(policies, policy_pods(state), namespace_labels(state.apps))


class PolicyController:
    name = "policies"
    watches = (APPS, INSTANCES, NODES)

    def __init__(self, state: ClusterState, sdn: Sdn):
        self.state = state
        self.sdn = sdn
        self.pushed: ResolvedPolicies | None = None  # what the SDN was last given (None: nothing yet)

    def sync(self) -> float | None:
        with self.state.lock:
            desired = desired_policies(self.state)
        if desired == self.pushed:
            return None
        try:
            self.sdn.set_policies(desired)
        except DomainError as exc:
            log.warning("network policies not enforced yet: %s", exc)
            return RETRY
        self.pushed = desired
        log.info("network policies: %d address rules, %d pods isolated for ingress, %d for egress",
                 len(desired.rules), len(desired.isolated_ingress), len(desired.isolated_egress))
        return None
