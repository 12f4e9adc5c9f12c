from strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InstancePhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTANCE_PHASE_UNSPECIFIED: _ClassVar[InstancePhase]
    INSTANCE_PHASE_PENDING: _ClassVar[InstancePhase]
    INSTANCE_PHASE_PULLING: _ClassVar[InstancePhase]
    INSTANCE_PHASE_RUNNING: _ClassVar[InstancePhase]
    INSTANCE_PHASE_FAILED: _ClassVar[InstancePhase]
INSTANCE_PHASE_UNSPECIFIED: InstancePhase
INSTANCE_PHASE_PENDING: InstancePhase
INSTANCE_PHASE_PULLING: InstancePhase
INSTANCE_PHASE_RUNNING: InstancePhase
INSTANCE_PHASE_FAILED: InstancePhase

class RegisterNodeRequest(_message.Message):
    __slots__ = ("name", "agent_address", "capacity")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    agent_address: str
    capacity: _common_pb2.Resources
    def __init__(self, name: _Optional[str] = ..., agent_address: _Optional[str] = ..., capacity: _Optional[_Union[_common_pb2.Resources, _Mapping]] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("name", "agent_address", "capacity", "allocated", "stored_layers", "ready", "last_heartbeat_unix")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_FIELD_NUMBER: _ClassVar[int]
    STORED_LAYERS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_UNIX_FIELD_NUMBER: _ClassVar[int]
    name: str
    agent_address: str
    capacity: _common_pb2.Resources
    allocated: _common_pb2.Resources
    stored_layers: _containers.RepeatedScalarFieldContainer[str]
    ready: bool
    last_heartbeat_unix: float
    def __init__(self, name: _Optional[str] = ..., agent_address: _Optional[str] = ..., capacity: _Optional[_Union[_common_pb2.Resources, _Mapping]] = ..., allocated: _Optional[_Union[_common_pb2.Resources, _Mapping]] = ..., stored_layers: _Optional[_Iterable[str]] = ..., ready: _Optional[bool] = ..., last_heartbeat_unix: _Optional[float] = ...) -> None: ...

class ContainerStatus(_message.Message):
    __slots__ = ("name", "running", "pid", "restarts")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    running: bool
    pid: int
    restarts: int
    def __init__(self, name: _Optional[str] = ..., running: _Optional[bool] = ..., pid: _Optional[int] = ..., restarts: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node", "containers", "stored_layers", "layer_bytes_pulled_mib")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    STORED_LAYERS_FIELD_NUMBER: _ClassVar[int]
    LAYER_BYTES_PULLED_MIB_FIELD_NUMBER: _ClassVar[int]
    node: str
    containers: _containers.RepeatedCompositeFieldContainer[ContainerStatus]
    stored_layers: _containers.RepeatedScalarFieldContainer[str]
    layer_bytes_pulled_mib: float
    def __init__(self, node: _Optional[str] = ..., containers: _Optional[_Iterable[_Union[ContainerStatus, _Mapping]]] = ..., stored_layers: _Optional[_Iterable[str]] = ..., layer_bytes_pulled_mib: _Optional[float] = ...) -> None: ...

class ContainerAssignment(_message.Message):
    __slots__ = ("name", "image", "layers", "command", "port")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    name: str
    image: str
    layers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Layer]
    command: str
    port: int
    def __init__(self, name: _Optional[str] = ..., image: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[_common_pb2.Layer, _Mapping]]] = ..., command: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("desired", "registry_address")
    DESIRED_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    desired: _containers.RepeatedCompositeFieldContainer[ContainerAssignment]
    registry_address: str
    def __init__(self, desired: _Optional[_Iterable[_Union[ContainerAssignment, _Mapping]]] = ..., registry_address: _Optional[str] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class ServiceSpec(_message.Message):
    __slots__ = ("name", "image", "replicas", "cpu_millicores", "bandwidth_mbps", "port", "command", "vip")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    name: str
    image: str
    replicas: int
    cpu_millicores: float
    bandwidth_mbps: float
    port: int
    command: str
    vip: str
    def __init__(self, name: _Optional[str] = ..., image: _Optional[str] = ..., replicas: _Optional[int] = ..., cpu_millicores: _Optional[float] = ..., bandwidth_mbps: _Optional[float] = ..., port: _Optional[int] = ..., command: _Optional[str] = ..., vip: _Optional[str] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ("application", "services", "algorithm")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    application: str
    services: _containers.RepeatedCompositeFieldContainer[ServiceSpec]
    algorithm: str
    def __init__(self, application: _Optional[str] = ..., services: _Optional[_Iterable[_Union[ServiceSpec, _Mapping]]] = ..., algorithm: _Optional[str] = ...) -> None: ...

class Instance(_message.Message):
    __slots__ = ("name", "service", "node", "ip", "port", "phase", "restarts")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    service: str
    node: str
    ip: str
    port: int
    phase: InstancePhase
    restarts: int
    def __init__(self, name: _Optional[str] = ..., service: _Optional[str] = ..., node: _Optional[str] = ..., ip: _Optional[str] = ..., port: _Optional[int] = ..., phase: _Optional[_Union[InstancePhase, str]] = ..., restarts: _Optional[int] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("application", "services", "instances", "layers_stored_mib", "layers_pulled_mib", "placement_algorithm")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_STORED_MIB_FIELD_NUMBER: _ClassVar[int]
    LAYERS_PULLED_MIB_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    application: str
    services: _containers.RepeatedCompositeFieldContainer[ServiceSpec]
    instances: _containers.RepeatedCompositeFieldContainer[Instance]
    layers_stored_mib: float
    layers_pulled_mib: float
    placement_algorithm: str
    def __init__(self, application: _Optional[str] = ..., services: _Optional[_Iterable[_Union[ServiceSpec, _Mapping]]] = ..., instances: _Optional[_Iterable[_Union[Instance, _Mapping]]] = ..., layers_stored_mib: _Optional[float] = ..., layers_pulled_mib: _Optional[float] = ..., placement_algorithm: _Optional[str] = ...) -> None: ...

class GetDeploymentRequest(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: str
    def __init__(self, application: _Optional[str] = ...) -> None: ...

class ListDeploymentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDeploymentsResponse(_message.Message):
    __slots__ = ("deployments",)
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    def __init__(self, deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ...) -> None: ...

class DeleteDeploymentRequest(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: str
    def __init__(self, application: _Optional[str] = ...) -> None: ...

class DeleteDeploymentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
