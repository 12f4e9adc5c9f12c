"""OrchestratorService over gRPC: messages to Orchestrator calls and back."""

from __future__ import annotations

from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc

from component_base.rpc import abort_on_domain_error

from api import bounds
from api.app import AppSpec
from api.app_messages import network_policy, policy_message, service_message, service_spec
from .cluster import ContainerView
from .controllers.routes import route_name
from .core import DeploymentView, NodeView, Orchestrator
from .ports import IMAGE_BUILDING, IMAGE_FAILED, IMAGE_PENDING, IMAGE_PUSHING, IMAGE_READY
from .store import NodeRecord

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["OrchestratorService"].full_name
PHASES = {"pending": pb.INSTANCE_PHASE_PENDING, "running": pb.INSTANCE_PHASE_RUNNING,
          "failed": pb.INSTANCE_PHASE_FAILED, "unknown": pb.INSTANCE_PHASE_UNKNOWN,
          "starting": pb.INSTANCE_PHASE_STARTING}
IMAGE_PHASES = {IMAGE_PENDING: pb.IMAGE_PHASE_PENDING, IMAGE_BUILDING: pb.IMAGE_PHASE_BUILDING,
                IMAGE_PUSHING: pb.IMAGE_PHASE_PUSHING, IMAGE_READY: pb.IMAGE_PHASE_READY,
                IMAGE_FAILED: pb.IMAGE_PHASE_FAILED}


def node_message(view: NodeView) -> pb.Node:
    r, o = view.record, view.observed
    return pb.Node(name=r.name, agent_address=r.agent_address, ip=r.ip, switch=r.switch, blob_address=r.blob_address,
                   cpu_millicores=r.cpu_millicores, cpu_allocated_millicores=view.cpu_allocated,
                   storage_bytes=r.storage_bytes, storage_used_bytes=o.storage_used, bandwidth_mbps=r.bandwidth_mbps,
                   bandwidth_allocated_mbps=view.bandwidth_allocated, memory_mib=r.memory_mib,
                   memory_allocated_mib=view.memory_allocated, layers=len(o.layers),
                   containers=sum(1 for c in o.containers.values() if c.running), ready=view.ready,
                   last_heartbeat_unix=o.last_heartbeat, condition=view.condition)


def deployment_message(view: DeploymentView) -> pb.Deployment:
    app = view.app
    return pb.Deployment(
        application=app.spec.name, services=[service_message(s) for s in app.spec.services],
        instances=[pb.Instance(name=i.record.name, service=i.record.service, node=i.record.node, ip=i.ip,
                               phase=PHASES[i.phase], restarts=i.restarts, message=i.message,
                               pulled_bytes=i.record.pulled_bytes, peer_bytes=i.record.peer_bytes,
                               last_termination_reason=i.last_termination_reason)
                   for i in view.instances],
        addresses=[pb.ServiceAddress(service=s.name, vip=app.vips.get(s.group, ""), port=s.port,
                                     endpoints=view.endpoints.get(s.name, 0),
                                     mesh_service=route_name(app.spec.name, s.group))
                   for s in app.spec.services if not s.vnf_kind],
        placement_algorithm=app.algorithm, peers=app.peers, planned_bytes=app.planned_bytes,
        pulled_bytes=sum(i.record.pulled_bytes for i in view.instances),
        peer_bytes=sum(i.record.peer_bytes for i in view.instances), ready=view.ready, created_unix=app.created,
        images=[pb.ServiceImageStatus(service=name, phase=IMAGE_PHASES[i.phase], message=i.message, reference=i.reference,
                                      layers=i.layers, size_bytes=i.size_bytes) for name, i in view.images.items()])


class OrchestratorServicer(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    def __init__(self, orchestrator: Orchestrator):
        self.orchestrator = orchestrator

    @abort_on_domain_error
    def RegisterNode(self, request, context):
        record = NodeRecord(request.name, request.agent_address, request.ip, request.switch, request.blob_address,
                            request.cpu_millicores, request.storage_bytes, request.bandwidth_mbps,
                            request.memory_mib)
        return node_message(self.orchestrator.register_node(record))

    @abort_on_domain_error
    def Heartbeat(self, request, context):
        containers = [ContainerView(c.name, c.running, c.ip, c.restarts, dict(c.labels), c.ready,
                                    c.last_termination_reason) for c in request.containers]
        interval = self.orchestrator.heartbeat(
            request.node, containers=containers, layers={l.digest: l.size_bytes for l in request.layers},
            storage_used=request.storage_used_bytes, pulled_bytes_total=request.pulled_bytes_total,
            peer_bytes_total=request.peer_bytes_total)
        return pb.HeartbeatResponse(interval_seconds=interval)

    @abort_on_domain_error
    def ListNodes(self, request, context):
        return pb.ListNodesResponse(nodes=[node_message(v) for v in self.orchestrator.list_nodes()])

    @abort_on_domain_error
    def Deploy(self, request, context):
        bounds.count("policies", request.policies, bounds.MAX_LIST)
        spec = AppSpec(request.application, tuple(service_spec(s) for s in request.services),
                       tuple(network_policy(p, request.application) for p in request.policies))
        return deployment_message(self.orchestrator.deploy(spec, algorithm=request.algorithm, peers=not request.registry_only))

    @abort_on_domain_error
    def Scale(self, request, context):
        return deployment_message(self.orchestrator.scale(request.application, request.service, request.replicas))

    @abort_on_domain_error
    def GetDeployment(self, request, context):
        return deployment_message(self.orchestrator.deployment(request.application))

    @abort_on_domain_error
    def ListDeployments(self, request, context):
        return pb.ListDeploymentsResponse(deployments=[deployment_message(v)
                                                       for v in self.orchestrator.deployments()])

    @abort_on_domain_error
    def DeleteDeployment(self, request, context):
        self.orchestrator.delete(request.application)
        return pb.DeleteDeploymentResponse()

    @abort_on_domain_error
    def ApplyNetworkPolicies(self, request, context):
        bounds.count("policies", request.policies, bounds.MAX_LIST)
        policies = [network_policy(p, request.application) for p in request.policies]
        return pb.ListNetworkPoliciesResponse(policies=[
            policy_message(p) for p in self.orchestrator.apply_policies(request.application, policies)])

    @abort_on_domain_error
    def ListNetworkPolicies(self, request, context):
        return pb.ListNetworkPoliciesResponse(policies=[
            policy_message(p) for p in self.orchestrator.list_policies(request.application)])

    @abort_on_domain_error
    def DeleteNetworkPolicy(self, request, context):
        self.orchestrator.delete_policy(request.application, request.name)
        return pb.DeleteNetworkPolicyResponse()


def register(orchestrator: Orchestrator):
    """A register function for component_base.rpc.create_server."""
    return lambda server: orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(
        OrchestratorServicer(orchestrator), server)
