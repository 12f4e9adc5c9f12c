from strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VnfPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VNF_PHASE_UNSPECIFIED: _ClassVar[VnfPhase]
    VNF_PHASE_INSTANTIATING: _ClassVar[VnfPhase]
    VNF_PHASE_RUNNING: _ClassVar[VnfPhase]
    VNF_PHASE_HEALING: _ClassVar[VnfPhase]
    VNF_PHASE_TERMINATED: _ClassVar[VnfPhase]
VNF_PHASE_UNSPECIFIED: VnfPhase
VNF_PHASE_INSTANTIATING: VnfPhase
VNF_PHASE_RUNNING: VnfPhase
VNF_PHASE_HEALING: VnfPhase
VNF_PHASE_TERMINATED: VnfPhase

class Vnfd(_message.Message):
    __slots__ = ("name", "kind", "image", "demand", "config")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DEMAND_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    image: str
    demand: _common_pb2.Resources
    config: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., image: _Optional[str] = ..., demand: _Optional[_Union[_common_pb2.Resources, _Mapping]] = ..., config: _Optional[_Mapping[str, str]] = ...) -> None: ...

class OnboardVnfdRequest(_message.Message):
    __slots__ = ("vnfd",)
    VNFD_FIELD_NUMBER: _ClassVar[int]
    vnfd: Vnfd
    def __init__(self, vnfd: _Optional[_Union[Vnfd, _Mapping]] = ...) -> None: ...

class ListVnfdsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVnfdsResponse(_message.Message):
    __slots__ = ("vnfds",)
    VNFDS_FIELD_NUMBER: _ClassVar[int]
    vnfds: _containers.RepeatedCompositeFieldContainer[Vnfd]
    def __init__(self, vnfds: _Optional[_Iterable[_Union[Vnfd, _Mapping]]] = ...) -> None: ...

class VnfInstance(_message.Message):
    __slots__ = ("name", "vnfd", "node", "ip", "phase", "heals")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VNFD_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    HEALS_FIELD_NUMBER: _ClassVar[int]
    name: str
    vnfd: str
    node: str
    ip: str
    phase: VnfPhase
    heals: int
    def __init__(self, name: _Optional[str] = ..., vnfd: _Optional[str] = ..., node: _Optional[str] = ..., ip: _Optional[str] = ..., phase: _Optional[_Union[VnfPhase, str]] = ..., heals: _Optional[int] = ...) -> None: ...

class InstantiateRequest(_message.Message):
    __slots__ = ("vnfd", "name", "node")
    VNFD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    vnfd: str
    name: str
    node: str
    def __init__(self, vnfd: _Optional[str] = ..., name: _Optional[str] = ..., node: _Optional[str] = ...) -> None: ...

class TerminateRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class TerminateResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListInstancesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListInstancesResponse(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[VnfInstance]
    def __init__(self, instances: _Optional[_Iterable[_Union[VnfInstance, _Mapping]]] = ...) -> None: ...

class CreateChainRequest(_message.Message):
    __slots__ = ("name", "src_cidr", "dst_cidr", "protocol", "dst_port", "instances")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SRC_CIDR_FIELD_NUMBER: _ClassVar[int]
    DST_CIDR_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    DST_PORT_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    name: str
    src_cidr: str
    dst_cidr: str
    protocol: _common_pb2.Protocol
    dst_port: int
    instances: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., src_cidr: _Optional[str] = ..., dst_cidr: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., dst_port: _Optional[int] = ..., instances: _Optional[_Iterable[str]] = ...) -> None: ...

class Chain(_message.Message):
    __slots__ = ("name", "src_cidr", "dst_cidr", "protocol", "dst_port", "instances")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SRC_CIDR_FIELD_NUMBER: _ClassVar[int]
    DST_CIDR_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    DST_PORT_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    name: str
    src_cidr: str
    dst_cidr: str
    protocol: _common_pb2.Protocol
    dst_port: int
    instances: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., src_cidr: _Optional[str] = ..., dst_cidr: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., dst_port: _Optional[int] = ..., instances: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteChainRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteChainResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListChainsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListChainsResponse(_message.Message):
    __slots__ = ("chains",)
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    chains: _containers.RepeatedCompositeFieldContainer[Chain]
    def __init__(self, chains: _Optional[_Iterable[_Union[Chain, _Mapping]]] = ...) -> None: ...
