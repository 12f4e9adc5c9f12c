from strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Vnfd(_message.Message):
    __slots__ = ("name", "kind", "image", "cpu_millicores", "bandwidth_mbps", "config_json", "description", "scaling_json", "healing_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCALING_JSON_FIELD_NUMBER: _ClassVar[int]
    HEALING_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    image: str
    cpu_millicores: float
    bandwidth_mbps: float
    config_json: str
    description: str
    scaling_json: str
    healing_json: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., image: _Optional[str] = ..., cpu_millicores: _Optional[float] = ..., bandwidth_mbps: _Optional[float] = ..., config_json: _Optional[str] = ..., description: _Optional[str] = ..., scaling_json: _Optional[str] = ..., healing_json: _Optional[str] = ...) -> None: ...

class OnboardVnfdRequest(_message.Message):
    __slots__ = ("descriptor",)
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    descriptor: str
    def __init__(self, descriptor: _Optional[str] = ...) -> None: ...

class ListVnfdsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVnfdsResponse(_message.Message):
    __slots__ = ("vnfds",)
    VNFDS_FIELD_NUMBER: _ClassVar[int]
    vnfds: _containers.RepeatedCompositeFieldContainer[Vnfd]
    def __init__(self, vnfds: _Optional[_Iterable[_Union[Vnfd, _Mapping]]] = ...) -> None: ...

class DeleteVnfdRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteVnfdResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OpOccurrence(_message.Message):
    __slots__ = ("id", "instance", "operation", "state", "started_unix", "entered_unix", "detail")
    ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_FIELD_NUMBER: _ClassVar[int]
    ENTERED_UNIX_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    id: str
    instance: str
    operation: str
    state: str
    started_unix: float
    entered_unix: float
    detail: str
    def __init__(self, id: _Optional[str] = ..., instance: _Optional[str] = ..., operation: _Optional[str] = ..., state: _Optional[str] = ..., started_unix: _Optional[float] = ..., entered_unix: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class InstantiateRequest(_message.Message):
    __slots__ = ("name", "vnfd", "scale_level", "near")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VNFD_FIELD_NUMBER: _ClassVar[int]
    SCALE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    NEAR_FIELD_NUMBER: _ClassVar[int]
    name: str
    vnfd: str
    scale_level: int
    near: str
    def __init__(self, name: _Optional[str] = ..., vnfd: _Optional[str] = ..., scale_level: _Optional[int] = ..., near: _Optional[str] = ...) -> None: ...

class ScaleVnfRequest(_message.Message):
    __slots__ = ("name", "scale_level")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCALE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    name: str
    scale_level: int
    def __init__(self, name: _Optional[str] = ..., scale_level: _Optional[int] = ...) -> None: ...

class OperateRequest(_message.Message):
    __slots__ = ("name", "started")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    started: bool
    def __init__(self, name: _Optional[str] = ..., started: _Optional[bool] = ...) -> None: ...

class HealRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class TerminateRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class VnfContainer(_message.Message):
    __slots__ = ("name", "node", "running")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    name: str
    node: str
    running: bool
    def __init__(self, name: _Optional[str] = ..., node: _Optional[str] = ..., running: _Optional[bool] = ...) -> None: ...

class VnfInstance(_message.Message):
    __slots__ = ("name", "vnfd", "instantiation_state", "operational_state", "scale_level", "containers", "busy_with")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VNFD_FIELD_NUMBER: _ClassVar[int]
    INSTANTIATION_STATE_FIELD_NUMBER: _ClassVar[int]
    OPERATIONAL_STATE_FIELD_NUMBER: _ClassVar[int]
    SCALE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    BUSY_WITH_FIELD_NUMBER: _ClassVar[int]
    name: str
    vnfd: str
    instantiation_state: str
    operational_state: str
    scale_level: int
    containers: _containers.RepeatedCompositeFieldContainer[VnfContainer]
    busy_with: str
    def __init__(self, name: _Optional[str] = ..., vnfd: _Optional[str] = ..., instantiation_state: _Optional[str] = ..., operational_state: _Optional[str] = ..., scale_level: _Optional[int] = ..., containers: _Optional[_Iterable[_Union[VnfContainer, _Mapping]]] = ..., busy_with: _Optional[str] = ...) -> None: ...

class ListInstancesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListInstancesResponse(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[VnfInstance]
    def __init__(self, instances: _Optional[_Iterable[_Union[VnfInstance, _Mapping]]] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListOperationsRequest(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: str
    def __init__(self, instance: _Optional[str] = ...) -> None: ...

class ListOperationsResponse(_message.Message):
    __slots__ = ("operations",)
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[OpOccurrence]
    def __init__(self, operations: _Optional[_Iterable[_Union[OpOccurrence, _Mapping]]] = ...) -> None: ...

class CreateChainRequest(_message.Message):
    __slots__ = ("name", "src_cidr", "dst_cidr", "protocol", "dst_port", "instances", "symmetric")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SRC_CIDR_FIELD_NUMBER: _ClassVar[int]
    DST_CIDR_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    DST_PORT_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    SYMMETRIC_FIELD_NUMBER: _ClassVar[int]
    name: str
    src_cidr: str
    dst_cidr: str
    protocol: _common_pb2.Protocol
    dst_port: int
    instances: _containers.RepeatedScalarFieldContainer[str]
    symmetric: bool
    def __init__(self, name: _Optional[str] = ..., src_cidr: _Optional[str] = ..., dst_cidr: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., dst_port: _Optional[int] = ..., instances: _Optional[_Iterable[str]] = ..., symmetric: _Optional[bool] = ...) -> None: ...

class Chain(_message.Message):
    __slots__ = ("name", "src_cidr", "dst_cidr", "protocol", "dst_port", "instances", "symmetric", "hops")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SRC_CIDR_FIELD_NUMBER: _ClassVar[int]
    DST_CIDR_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    DST_PORT_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    SYMMETRIC_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    name: str
    src_cidr: str
    dst_cidr: str
    protocol: _common_pb2.Protocol
    dst_port: int
    instances: _containers.RepeatedScalarFieldContainer[str]
    symmetric: bool
    hops: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., src_cidr: _Optional[str] = ..., dst_cidr: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., dst_port: _Optional[int] = ..., instances: _Optional[_Iterable[str]] = ..., symmetric: _Optional[bool] = ..., hops: _Optional[_Iterable[str]] = ...) -> None: ...

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
