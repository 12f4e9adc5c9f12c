"""Who may call what: the authorisation table of every gRPC service, per method and caller (pure data).

A caller is the identity in its client certificate (component_base.pki.Identity). The operator
(`admin`, the CLI and the harness) may call every method; any identity of the cluster may call
health checks and reflection; every other call must be listed here, else it is refused
(PERMISSION_DENIED). docs/security.md, "Certificates and who may call what", shows the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from component_base.pki import AGENT, Identity

ADMIN = "admin"
OPEN_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                 "grpc.reflection.v1.ServerReflection")  # any identity of the cluster


@dataclass(frozen=True)
class OwnNode:
    """An agent may call the method only about its own node: the request's `field` names it
    (whole, or, with `segment`, the part before the first '/': endpoint names are NODE/CONTAINER)."""
    field: str
    segment: bool = False

    def node_of(self, request) -> str:
        value = str(getattr(request, self.field, ""))
        return value.split("/", 1)[0] if self.segment else value


# service -> method -> the components that may call it (besides admin); an OwnNode entry lets
# agents call it about their own node. What each caller does with it is in docs/security.md.
TABLE: dict[str, dict[str, tuple[str | OwnNode, ...]]] = {
    "strata.v1.PlacementService": {
        "Solve": ("orchestrator",),
        "ListAlgorithms": ("orchestrator",),
    },
    "strata.v1.SdnService": {
        "GetTopology": ("orchestrator",),
        "SetNetworkPolicies": ("orchestrator",),  # the apps' policies, resolved whenever pods change
        "ListServiceRoutes": ("mesh",),
        "InstallServiceRoute": ("mesh",),
        "UpdateServiceRoute": ("mesh",),
        "RemoveServiceRoute": ("mesh",),
        "GetServiceStats": ("mesh",),
        "ListChains": ("mano",),
        "InstallChain": ("mano",),
        "UpdateChain": ("mano",),
        "RemoveChain": ("mano",),
        "AttachEndpoint": (OwnNode("node"),),
        "DetachEndpoint": (OwnNode("name", segment=True),),
    },
    "strata.v1.MeshService": {
        "ListServices": ("orchestrator",),
        "RegisterService": ("orchestrator",),
        "SetEndpoints": ("orchestrator",),
        "DeregisterService": ("orchestrator",),
    },
    "strata.v1.OrchestratorService": {
        "RegisterNode": (OwnNode("name"),),
        "Heartbeat": (OwnNode("node"),),
        "Deploy": ("mano",),
        "Scale": ("mano",),
        "GetDeployment": ("mano",),
        "DeleteDeployment": ("mano",),
    },
    "strata.v1.NodeAgent": {
        "RunContainer": ("orchestrator",),
        "RemoveContainer": ("orchestrator",),
    },
    "strata.v1.VnfManagerService": {},  # the operator's only
}


def refusal(caller: Identity | None, service: str, method: str, request=None) -> str | None:
    """None if `caller` may call service/method with `request`, else why not (naming both).

    `request` is needed only for the methods with an OwnNode rule (a streaming request is
    None: those rules then refuse)."""
    if caller is None:
        return f"/{service}/{method}: the caller presented no identity of this cluster"
    if caller.component == ADMIN or service in OPEN_SERVICES:
        return None
    rules = TABLE.get(service, {}).get(method, ())
    for rule in rules:
        if isinstance(rule, OwnNode):
            if caller.component == AGENT and request is not None and rule.node_of(request) == caller.node:
                return None
        elif caller.component == rule:
            return None
    if caller.component == AGENT and any(isinstance(rule, OwnNode) for rule in rules):
        return f"{caller} may call /{service}/{method} only for its own node {caller.node!r}"
    return f"{caller} may not call /{service}/{method}"
