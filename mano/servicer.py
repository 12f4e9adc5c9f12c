"""VnfManagerService over gRPC: messages to VnfManager calls and back; domain errors become status codes."""

from __future__ import annotations

import grpc
from strata.v1 import mano_pb2, mano_pb2_grpc

from component_base.rpc import abort_on_domain_error
from api.classifier import Classifier
from api.protocols import CHAIN_PROTOCOLS, protocol_enum, protocol_name

from .core import VnfManager
from .descriptors import Vnfd, parse_vnfd
from .lifecycle import OpOccurrence
from .store import ChainRecord

SERVICE_NAME = mano_pb2.DESCRIPTOR.services_by_name["VnfManagerService"].full_name


def vnfd_message(v: Vnfd) -> mano_pb2.Vnfd:
    return mano_pb2.Vnfd(name=v.name, kind=v.kind, image=v.image, cpu_millicores=v.cpu_millicores,
                         bandwidth_mbps=v.bandwidth_mbps, config_json=v.config, description=v.description,
                         scaling_json=v.scaling, healing_json=v.healing)


def op_message(op: OpOccurrence) -> mano_pb2.OpOccurrence:
    return mano_pb2.OpOccurrence(id=op.id, instance=op.instance, operation=op.operation, state=op.state,
                                 started_unix=op.started, entered_unix=op.entered, detail=op.detail)


class ManoServicer(mano_pb2_grpc.VnfManagerServiceServicer):
    def __init__(self, manager: VnfManager):
        self.manager = manager

    @staticmethod
    def _chain(chain: ChainRecord, hops: list[tuple[str, ...]]) -> mano_pb2.Chain:
        return mano_pb2.Chain(name=chain.name, src_cidr=chain.src_cidr, dst_cidr=chain.dst_cidr,
                              protocol=protocol_enum(chain.protocol), dst_port=chain.dst_port,
                              instances=list(chain.instances), symmetric=chain.symmetric,
                              hops=["|".join(hop) for hop in hops])

    @abort_on_domain_error
    def OnboardVnfd(self, request, context):
        return vnfd_message(self.manager.onboard(parse_vnfd(request.descriptor)))

    @abort_on_domain_error
    def ListVnfds(self, request, context):
        return mano_pb2.ListVnfdsResponse(vnfds=[vnfd_message(v) for _, v in sorted(self.manager.vnfds.items())])

    @abort_on_domain_error
    def DeleteVnfd(self, request, context):
        self.manager.delete_vnfd(request.name)
        return mano_pb2.DeleteVnfdResponse()

    @abort_on_domain_error
    def Instantiate(self, request, context):
        return op_message(self.manager.instantiate(request.name, request.vnfd, request.scale_level or 1,
                                                   request.near))

    @abort_on_domain_error
    def Scale(self, request, context):
        return op_message(self.manager.scale(request.name, request.scale_level))

    @abort_on_domain_error
    def Operate(self, request, context):
        return op_message(self.manager.operate(request.name, request.started))

    @abort_on_domain_error
    def Heal(self, request, context):
        return op_message(self.manager.heal(request.name))

    @abort_on_domain_error
    def Terminate(self, request, context):
        return op_message(self.manager.terminate(request.name))

    @abort_on_domain_error
    def ListInstances(self, request, context):
        return mano_pb2.ListInstancesResponse(instances=[mano_pb2.VnfInstance(
            name=i.name, vnfd=i.vnfd, instantiation_state=i.state.instantiation,
            operational_state=i.state.operational, scale_level=i.state.scale_level,
            containers=[mano_pb2.VnfContainer(name=p.name, node=p.node, running=p.running) for p in pods],
            busy_with=busy) for i, pods, busy in self.manager.list_instances()])

    @abort_on_domain_error
    def GetOperation(self, request, context):
        return op_message(self.manager.operation(request.id))

    @abort_on_domain_error
    def ListOperations(self, request, context):
        return mano_pb2.ListOperationsResponse(operations=[op_message(op)
                                                           for op in self.manager.list_operations(request.instance)])

    @abort_on_domain_error
    def CreateChain(self, request, context):
        protocol = protocol_name(request.protocol, CHAIN_PROTOCOLS)
        chain = self.manager.create_chain(request.name, Classifier(request.src_cidr, request.dst_cidr, protocol,
                                                                   request.dst_port),
                                          list(request.instances), request.symmetric)
        return self._chain(chain, self.manager.hops_of(chain))

    @abort_on_domain_error
    def DeleteChain(self, request, context):
        self.manager.delete_chain(request.name)
        return mano_pb2.DeleteChainResponse()

    @abort_on_domain_error
    def ListChains(self, request, context):
        return mano_pb2.ListChainsResponse(chains=[self._chain(c, hops) for c, hops in self.manager.list_chains()])


def registrar(manager: VnfManager):
    def register(server: grpc.Server) -> None:
        mano_pb2_grpc.add_VnfManagerServiceServicer_to_server(ManoServicer(manager), server)
    return register
