"""NodeAgent over gRPC: messages to Node calls and back; domain errors become status codes."""

from __future__ import annotations

from strata.v1 import agent_pb2, agent_pb2_grpc

from component_base.rpc import abort_on_domain_error

from .node import Node, PullReport
from .runtime import process_alive
from .state import RESTARTING, RUNNING, STOPPED, ContainerRecord

SERVICE_NAME = agent_pb2.DESCRIPTOR.services_by_name["NodeAgent"].full_name
STATES = {RUNNING: agent_pb2.CONTAINER_STATE_RUNNING, RESTARTING: agent_pb2.CONTAINER_STATE_RESTARTING,
          STOPPED: agent_pb2.CONTAINER_STATE_STOPPED}


def container_message(node: Node, record: ContainerRecord) -> agent_pb2.Container:
    running = record.state == RUNNING and process_alive(record.pid)
    return agent_pb2.Container(
        name=record.name, image=record.image, state=STATES[record.state], ip=record.ip, mac=record.mac,
        switch_port=record.ofport, pid=record.pid if running else 0, restarts=record.restarts,
        started_at=record.started_at, last_exit_code=record.last_exit_code, cpu_millicores=record.cpu_millicores,
        memory_limit_mib=record.memory_limit_mib, last_termination_reason=record.last_termination_reason,
        memory_request_mib=record.memory_request_mib,
        layers=record.layers, message=record.message, labels=record.labels,
        ready=node.ready(record), ready_port=record.ready_port)


def pull_message(report: PullReport) -> agent_pb2.PullReport:
    return agent_pb2.PullReport(image=report.image, manifest_digest=report.manifest_digest,
                                pulled_layers=report.pulled_layers, reused_layers=report.reused_layers,
                                pulled_bytes=report.pulled_bytes, reused_bytes=report.reused_bytes,
                                seconds=report.seconds, peer_layers=report.peer_layers,
                                peer_bytes=report.peer_bytes)


class NodeAgentServicer(agent_pb2_grpc.NodeAgentServicer):
    def __init__(self, node: Node, blobs=None, blob_url: str = ""):
        self.node = node
        self.blobs = blobs  # the node's BlobServer, when it serves its blobs to peers
        self.blob_url = blob_url

    @abort_on_domain_error
    def GetNode(self, request, context):
        node, config = self.node, self.node.config
        containers = node.containers()
        users = node.layer_users()
        return agent_pb2.NodeStatus(
            name=config.name, ip=config.ip, switch=config.switch, pod_cidr=config.pod_cidr,
            cpu_millicores=config.cpu_millicores,
            cpu_requested_millicores=sum(r.cpu_millicores for r in containers),
            storage_capacity_bytes=node.store.capacity_bytes, storage_used_bytes=node.store.used_bytes(),
            layers=[agent_pb2.HeldLayer(digest=d, size_bytes=layer.size, used_by=users.get(d, 0))
                    for d, layer in sorted(node.store.held().items())],
            containers=[container_message(node, r) for r in containers], registry=config.registry_url,
            image_scale=config.image_scale, pulled_bytes_total=node.pulled_bytes_total,
            peer_bytes_total=node.peer_bytes_total,
            blob_address=self.blob_url,
            served_bytes_total=self.blobs.served_bytes if self.blobs is not None else 0,
            memory_mib=config.memory_mib, memory_requested_mib=node.memory_requested())

    @abort_on_domain_error
    def PullImage(self, request, context):
        _, report = self.node.pull(request.image, dict(request.layer_sources))
        return agent_pb2.PullImageResponse(pull=pull_message(report))

    @abort_on_domain_error
    def RunContainer(self, request, context):
        record, report = self.node.run(request.name, request.image, cpu_millicores=request.cpu_millicores,
                                       env=list(request.env), command=list(request.command),
                                       labels=dict(request.labels), hosts=dict(request.hosts),
                                       sources=dict(request.layer_sources),
                                       capabilities=list(request.capabilities), ready_port=request.ready_port,
                                       memory_limit_mib=request.memory_limit_mib,
                                       memory_request_mib=request.memory_request_mib,
                                       pids_limit=request.pids_limit)
        return agent_pb2.RunContainerResponse(container=container_message(self.node, record),
                                              pull=pull_message(report))

    @abort_on_domain_error
    def ListContainers(self, request, context):
        return agent_pb2.ListContainersResponse(
            containers=[container_message(self.node, r) for r in self.node.containers()])

    @abort_on_domain_error
    def GetContainer(self, request, context):
        return container_message(self.node, self.node.get(request.name))

    @abort_on_domain_error
    def ContainerLogs(self, request, context):
        return agent_pb2.ContainerLogsResponse(text=self.node.logs(request.name, request.tail_lines))

    @abort_on_domain_error
    def StopContainer(self, request, context):
        return container_message(self.node, self.node.stop(request.name, request.timeout_seconds or 10.0))

    @abort_on_domain_error
    def StartContainer(self, request, context):
        return container_message(self.node, self.node.start(request.name))

    @abort_on_domain_error
    def RemoveContainer(self, request, context):
        self.node.remove(request.name)
        return agent_pb2.RemoveContainerResponse()

    @abort_on_domain_error
    def PruneLayers(self, request, context):
        removed, freed = self.node.prune()
        return agent_pb2.PruneLayersResponse(removed=removed, freed_bytes=freed)


def register(node: Node, blobs=None, blob_url: str = ""):
    """A register function for component_base.rpc.create_server."""
    return lambda server: agent_pb2_grpc.add_NodeAgentServicer_to_server(
        NodeAgentServicer(node, blobs, blob_url), server)
