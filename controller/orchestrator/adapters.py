"""The orchestrator's ports over gRPC: the placement service, the SDN controller and the node agents."""

from __future__ import annotations

import threading
from collections.abc import Sequence


from api.network_policy import ResolvedPolicies
from api.protocols import TCP, protocol_enum
from component_base.errors import NotFound
from controller.placement.convert import problem_to_request, result_from_response
from controller.placement.model import Problem
from controller.placement.result import PlacementResult
from component_base.pki import Identity
from component_base.rpc import DomainClient, call_domain
from component_base.tls import Tls, open_channel

from .ports import RouteEndpoint, RunRequest, RunResult
from .sources import SwitchGraph
from .store import NodeRecord

PULL_TIMEOUT = 600.0  # a start pulls the image's missing layers first


class PlacementClient:
    def __init__(self, address: str, *, time_limit: float = 20.0, tls: Tls | None = None):
        from strata.v1 import placement_pb2_grpc

        self.address = address
        self.time_limit = time_limit
        self.stub = placement_pb2_grpc.PlacementServiceStub(open_channel(address, tls, Identity("placement")))

    def solve(self, problem: Problem, algorithm: str, startup_weight: float = 0.0,
              latency_weight: float = 0.0) -> PlacementResult:
        request = problem_to_request(problem, algorithm=algorithm, solver=None, time_limit=self.time_limit, seed=0,
                                     startup_weight=startup_weight, latency_weight=latency_weight)
        response = call_domain(self.stub.Solve, request, timeout=self.time_limit + 60,
                               what=f"the placement service at {self.address}")
        return result_from_response(response)


class SdnClient(DomainClient):
    def __init__(self, address: str, timeout: float = 30.0, *, tls: Tls | None = None):
        from strata.v1 import sdn_pb2_grpc

        super().__init__(sdn_pb2_grpc.SdnServiceStub, address, "the SDN controller", timeout, server=Identity("sdn"),
                         tls=tls)

    def switch_graph(self) -> SwitchGraph:
        from strata.v1 import sdn_pb2

        return SwitchGraph.from_topology(self._call(self.stub.GetTopology, sdn_pb2.GetTopologyRequest()))

    def set_policies(self, resolved: ResolvedPolicies) -> None:
        from strata.v1 import sdn_pb2

        from api.policy_messages import policies_message

        self._call(self.stub.SetNetworkPolicies, sdn_pb2.SetNetworkPoliciesRequest(policies=policies_message(resolved)))


class MeshClient(DomainClient):
    """The orchestrator's services as mesh services: registered on their VIP, their endpoints kept
    equal to the running instances (the mesh weighs them by its policy and drives the SDN)."""

    def __init__(self, address: str, timeout: float = 30.0, *, tls: Tls | None = None):
        from strata.v1 import mesh_pb2_grpc

        super().__init__(mesh_pb2_grpc.MeshServiceStub, address, "the mesh controller", timeout,
                         server=Identity("mesh"), tls=tls)

    def routes(self) -> dict[str, tuple[str, int, tuple[RouteEndpoint, ...]]]:
        from strata.v1 import mesh_pb2

        answer = self._call(self.stub.ListServices, mesh_pb2.ListServicesRequest())
        return {s.name: (s.vip, s.port, tuple(sorted((RouteEndpoint(e.endpoint.host, e.endpoint.ip, e.endpoint.port,
                                                                    e.endpoint.subset) for e in s.endpoints),
                                                   key=lambda e: e.host)))
                for s in answer.services}

    def put_route(self, name: str, vip: str, port: int, endpoints: Sequence[RouteEndpoint]) -> None:
        from strata.v1 import mesh_pb2

        self._call(self.stub.RegisterService, mesh_pb2.RegisterServiceRequest(
            name=name, vip=vip, protocol=protocol_enum(TCP), port=port))
        self._call(self.stub.SetEndpoints, mesh_pb2.SetEndpointsRequest(service=name, endpoints=[
            mesh_pb2.MeshEndpoint(host=e.host, ip=e.ip, port=e.port, subset=e.subset) for e in endpoints]))

    def remove_route(self, name: str) -> None:
        from strata.v1 import mesh_pb2

        try:
            self._call(self.stub.DeregisterService, mesh_pb2.DeregisterServiceRequest(name=name))
        except NotFound:
            pass


class TcpProber:
    """A pod answers when a TCP connection to it is made (then closed at once, nothing sent): what a
    Kubernetes tcpSocket probe checks, from the orchestrator's place on the network."""

    def answers(self, ip: str, port: int, timeout: float) -> bool:
        import socket

        try:
            with socket.create_connection((ip, port), timeout=timeout):
                return True
        except OSError:
            return False


class AgentClients:
    """One channel per node agent, opened on first use; with `tls`, each agent's certificate must
    name its node."""

    def __init__(self, tls: Tls | None = None):
        self._tls = tls
        self._lock = threading.Lock()
        self._stubs: dict[str, object] = {}

    def _stub(self, node: NodeRecord):
        from strata.v1 import agent_pb2_grpc

        with self._lock:
            if node.agent_address not in self._stubs:
                self._stubs[node.agent_address] = agent_pb2_grpc.NodeAgentStub(
                    open_channel(node.agent_address, self._tls, Identity.agent(node.name)))
            return self._stubs[node.agent_address]

    def run(self, node: NodeRecord, request: RunRequest) -> RunResult:
        from strata.v1 import agent_pb2

        answer = call_domain(self._stub(node).RunContainer, agent_pb2.RunContainerRequest(
            name=request.name, image=request.image, cpu_millicores=request.cpu_millicores, env=list(request.env),
            command=list(request.command), labels=request.labels, hosts=request.hosts,
            layer_sources=request.layer_sources, capabilities=list(request.capabilities),
            ready_port=request.ready_port, memory_limit_mib=request.memory_limit_mib,
            memory_request_mib=request.memory_request_mib, pids_limit=request.pids_limit),
            timeout=PULL_TIMEOUT, what=f"node {node.name}")
        return RunResult(answer.container.ip, answer.container.ready, answer.pull.pulled_bytes,
                         answer.pull.peer_bytes)

    def remove(self, node: NodeRecord, name: str) -> None:
        from strata.v1 import agent_pb2

        call_domain(self._stub(node).RemoveContainer, agent_pb2.RemoveContainerRequest(name=name), timeout=60,
                    what=f"node {node.name}")

