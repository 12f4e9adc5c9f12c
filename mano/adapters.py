"""The VNF manager's ports made real: the orchestrator and the SDN controller over gRPC."""

from __future__ import annotations


from component_base.errors import NotFound
from api.app import ServiceSpec
from api.app_messages import service_message
from api.protocols import protocol_enum
from component_base.pki import Identity
from component_base.rpc import DomainClient
from component_base.tls import Tls

from .core import Pod
from .store import ChainRecord


class OrchestratorApps(DomainClient):
    def __init__(self, address: str, timeout: float = 300.0, *, tls: Tls | None = None):
        from strata.v1 import orchestrator_pb2_grpc

        super().__init__(orchestrator_pb2_grpc.OrchestratorServiceStub, address, "the orchestrator", timeout,
                         server=Identity("orchestrator"), tls=tls)

    def deploy(self, app: str, service: ServiceSpec) -> None:
        from strata.v1 import orchestrator_pb2 as pb

        self._call(self.stub.Deploy, pb.DeployRequest(application=app, services=[service_message(service)]))

    def scale(self, app: str, service: str, replicas: int) -> None:
        from strata.v1 import orchestrator_pb2 as pb

        self._call(self.stub.Scale, pb.ScaleRequest(application=app, service=service, replicas=replicas))

    def delete(self, app: str) -> None:
        from strata.v1 import orchestrator_pb2 as pb

        try:
            self._call(self.stub.DeleteDeployment, pb.DeleteDeploymentRequest(application=app), 30)
        except NotFound:
            pass

    def pods(self, app: str) -> list[Pod] | None:
        from strata.v1 import orchestrator_pb2 as pb

        try:
            d = self._call(self.stub.GetDeployment, pb.GetDeploymentRequest(application=app), 10)
        except NotFound:
            return None
        return [Pod(i.name, i.node, i.phase == pb.INSTANCE_PHASE_RUNNING, i.ip, i.restarts) for i in d.instances]


class VnfStats:
    """A VNF container's own counters: GET http://POD_IP:PORT/stats (programs/vnf), read with a
    short time limit and a size cap; None when it does not answer or answers nonsense."""

    def __init__(self, port: int | None = None, timeout: float = 2.0, max_bytes: int = 1 << 20):
        from programs.vnf.program import DEFAULT_METRICS_PORT

        self.port, self.timeout, self.max_bytes = port or DEFAULT_METRICS_PORT, timeout, max_bytes

    def read(self, ip: str) -> dict | None:
        import json
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://{ip}:{self.port}/stats", timeout=self.timeout) as answer:
                document = json.loads(answer.read(self.max_bytes + 1)[:self.max_bytes])
        except (OSError, ValueError):
            return None
        return document if isinstance(document, dict) else None


class SdnChains(DomainClient):
    def __init__(self, address: str, timeout: float = 30.0, *, tls: Tls | None = None):
        from strata.v1 import sdn_pb2_grpc

        super().__init__(sdn_pb2_grpc.SdnServiceStub, address, "the SDN controller", timeout, server=Identity("sdn"),
                         tls=tls)

    def chains(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        from strata.v1 import sdn_pb2

        answer = self._call(self.stub.ListChains, sdn_pb2.ListInstalledChainsRequest())
        return {c.chain: tuple(tuple(h.hosts) or (h.host,) for h in c.hops) for c in answer.chains}

    def install_chain(self, chain: ChainRecord, hops: list[tuple[str, ...]]) -> None:
        from strata.v1 import sdn_pb2

        self._call(self.stub.InstallChain, sdn_pb2.InstallChainRequest(
            chain=chain.name, symmetric=chain.symmetric,
            classifier=sdn_pb2.Classifier(src_cidr=chain.src_cidr, dst_cidr=chain.dst_cidr,
                                          protocol=protocol_enum(chain.protocol), dst_port=chain.dst_port),
            hops=[sdn_pb2.ChainHop(hosts=list(h)) for h in hops]))

    def update_chain(self, name: str, hops: list[tuple[str, ...]]) -> None:
        from strata.v1 import sdn_pb2

        self._call(self.stub.UpdateChain, sdn_pb2.UpdateChainRequest(
            chain=name, hops=[sdn_pb2.ChainHop(hosts=list(h)) for h in hops]))

    def remove_chain(self, name: str) -> None:
        from strata.v1 import sdn_pb2

        try:
            self._call(self.stub.RemoveChain, sdn_pb2.RemoveChainRequest(chain=name))
        except NotFound:
            pass
