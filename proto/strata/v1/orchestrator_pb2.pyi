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
    INSTANCE_PHASE_RUNNING: _ClassVar[InstancePhase]
    INSTANCE_PHASE_FAILED: _ClassVar[InstancePhase]
    INSTANCE_PHASE_UNKNOWN: _ClassVar[InstancePhase]
    INSTANCE_PHASE_STARTING: _ClassVar[InstancePhase]

class ImagePhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_PHASE_UNSPECIFIED: _ClassVar[ImagePhase]
    IMAGE_PHASE_PENDING: _ClassVar[ImagePhase]
    IMAGE_PHASE_BUILDING: _ClassVar[ImagePhase]
    IMAGE_PHASE_PUSHING: _ClassVar[ImagePhase]
    IMAGE_PHASE_READY: _ClassVar[ImagePhase]
    IMAGE_PHASE_FAILED: _ClassVar[ImagePhase]
INSTANCE_PHASE_UNSPECIFIED: InstancePhase
INSTANCE_PHASE_PENDING: InstancePhase
INSTANCE_PHASE_RUNNING: InstancePhase
INSTANCE_PHASE_FAILED: InstancePhase
INSTANCE_PHASE_UNKNOWN: InstancePhase
INSTANCE_PHASE_STARTING: InstancePhase
IMAGE_PHASE_UNSPECIFIED: ImagePhase
IMAGE_PHASE_PENDING: ImagePhase
IMAGE_PHASE_BUILDING: ImagePhase
IMAGE_PHASE_PUSHING: ImagePhase
IMAGE_PHASE_READY: ImagePhase
IMAGE_PHASE_FAILED: ImagePhase

class RegisterNodeRequest(_message.Message):
    __slots__ = ("name", "agent_address", "ip", "switch", "blob_address", "cpu_millicores", "storage_bytes", "bandwidth_mbps", "memory_mib")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    BLOB_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    name: str
    agent_address: str
    ip: str
    switch: str
    blob_address: str
    cpu_millicores: float
    storage_bytes: int
    bandwidth_mbps: float
    memory_mib: float
    def __init__(self, name: _Optional[str] = ..., agent_address: _Optional[str] = ..., ip: _Optional[str] = ..., switch: _Optional[str] = ..., blob_address: _Optional[str] = ..., cpu_millicores: _Optional[float] = ..., storage_bytes: _Optional[int] = ..., bandwidth_mbps: _Optional[float] = ..., memory_mib: _Optional[float] = ...) -> None: ...

class StoredLayer(_message.Message):
    __slots__ = ("digest", "size_bytes")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    digest: str
    size_bytes: int
    def __init__(self, digest: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("name", "agent_address", "ip", "switch", "blob_address", "cpu_millicores", "cpu_allocated_millicores", "storage_bytes", "storage_used_bytes", "bandwidth_mbps", "bandwidth_allocated_mbps", "layers", "containers", "ready", "last_heartbeat_unix", "memory_mib", "memory_allocated_mib", "condition")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    BLOB_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    CPU_ALLOCATED_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_ALLOCATED_MBPS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_UNIX_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ALLOCATED_MIB_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    name: str
    agent_address: str
    ip: str
    switch: str
    blob_address: str
    cpu_millicores: float
    cpu_allocated_millicores: float
    storage_bytes: int
    storage_used_bytes: int
    bandwidth_mbps: float
    bandwidth_allocated_mbps: float
    layers: int
    containers: int
    ready: bool
    last_heartbeat_unix: float
    memory_mib: float
    memory_allocated_mib: float
    condition: str
    def __init__(self, name: _Optional[str] = ..., agent_address: _Optional[str] = ..., ip: _Optional[str] = ..., switch: _Optional[str] = ..., blob_address: _Optional[str] = ..., cpu_millicores: _Optional[float] = ..., cpu_allocated_millicores: _Optional[float] = ..., storage_bytes: _Optional[int] = ..., storage_used_bytes: _Optional[int] = ..., bandwidth_mbps: _Optional[float] = ..., bandwidth_allocated_mbps: _Optional[float] = ..., layers: _Optional[int] = ..., containers: _Optional[int] = ..., ready: _Optional[bool] = ..., last_heartbeat_unix: _Optional[float] = ..., memory_mib: _Optional[float] = ..., memory_allocated_mib: _Optional[float] = ..., condition: _Optional[str] = ...) -> None: ...

class ContainerStatus(_message.Message):
    __slots__ = ("name", "running", "ip", "restarts", "labels", "ready", "last_termination_reason")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    LAST_TERMINATION_REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    running: bool
    ip: str
    restarts: int
    labels: _containers.ScalarMap[str, str]
    ready: bool
    last_termination_reason: str
    def __init__(self, name: _Optional[str] = ..., running: _Optional[bool] = ..., ip: _Optional[str] = ..., restarts: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., ready: _Optional[bool] = ..., last_termination_reason: _Optional[str] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node", "containers", "layers", "storage_used_bytes", "pulled_bytes_total", "peer_bytes_total")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PULLED_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PEER_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    node: str
    containers: _containers.RepeatedCompositeFieldContainer[ContainerStatus]
    layers: _containers.RepeatedCompositeFieldContainer[StoredLayer]
    storage_used_bytes: int
    pulled_bytes_total: int
    peer_bytes_total: int
    def __init__(self, node: _Optional[str] = ..., containers: _Optional[_Iterable[_Union[ContainerStatus, _Mapping]]] = ..., layers: _Optional[_Iterable[_Union[StoredLayer, _Mapping]]] = ..., storage_used_bytes: _Optional[int] = ..., pulled_bytes_total: _Optional[int] = ..., peer_bytes_total: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("interval_seconds",)
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    interval_seconds: float
    def __init__(self, interval_seconds: _Optional[float] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class ServiceSpec(_message.Message):
    __slots__ = ("name", "image", "replicas", "cpu_millicores", "bandwidth_mbps", "port", "target_port", "dependencies", "base_image", "mesh_service", "version", "vnf_kind", "vnf_config", "near", "memory_mib", "memory_limit_mib", "max_per_node", "spread", "prefer_apart", "exposed", "clients", "max_client_delay_ms", "pids_limit", "labels", "port_name")
    class ClientsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    TARGET_PORT_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    BASE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    MESH_SERVICE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VNF_KIND_FIELD_NUMBER: _ClassVar[int]
    VNF_CONFIG_FIELD_NUMBER: _ClassVar[int]
    NEAR_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MIB_FIELD_NUMBER: _ClassVar[int]
    MAX_PER_NODE_FIELD_NUMBER: _ClassVar[int]
    SPREAD_FIELD_NUMBER: _ClassVar[int]
    PREFER_APART_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_FIELD_NUMBER: _ClassVar[int]
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CLIENT_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PORT_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    image: str
    replicas: int
    cpu_millicores: float
    bandwidth_mbps: float
    port: int
    target_port: int
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    base_image: str
    mesh_service: str
    version: str
    vnf_kind: str
    vnf_config: str
    near: str
    memory_mib: float
    memory_limit_mib: float
    max_per_node: int
    spread: _containers.RepeatedCompositeFieldContainer[ServiceSpread]
    prefer_apart: bool
    exposed: bool
    clients: _containers.ScalarMap[str, float]
    max_client_delay_ms: float
    pids_limit: int
    labels: _containers.ScalarMap[str, str]
    port_name: str
    def __init__(self, name: _Optional[str] = ..., image: _Optional[str] = ..., replicas: _Optional[int] = ..., cpu_millicores: _Optional[float] = ..., bandwidth_mbps: _Optional[float] = ..., port: _Optional[int] = ..., target_port: _Optional[int] = ..., dependencies: _Optional[_Iterable[str]] = ..., base_image: _Optional[str] = ..., mesh_service: _Optional[str] = ..., version: _Optional[str] = ..., vnf_kind: _Optional[str] = ..., vnf_config: _Optional[str] = ..., near: _Optional[str] = ..., memory_mib: _Optional[float] = ..., memory_limit_mib: _Optional[float] = ..., max_per_node: _Optional[int] = ..., spread: _Optional[_Iterable[_Union[ServiceSpread, _Mapping]]] = ..., prefer_apart: _Optional[bool] = ..., exposed: _Optional[bool] = ..., clients: _Optional[_Mapping[str, float]] = ..., max_client_delay_ms: _Optional[float] = ..., pids_limit: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., port_name: _Optional[str] = ...) -> None: ...

class ServiceSpread(_message.Message):
    __slots__ = ("topology", "max_skew", "soft")
    TOPOLOGY_FIELD_NUMBER: _ClassVar[int]
    MAX_SKEW_FIELD_NUMBER: _ClassVar[int]
    SOFT_FIELD_NUMBER: _ClassVar[int]
    topology: str
    max_skew: int
    soft: bool
    def __init__(self, topology: _Optional[str] = ..., max_skew: _Optional[int] = ..., soft: _Optional[bool] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ("application", "services", "algorithm", "registry_only", "policies")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_ONLY_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    application: str
    services: _containers.RepeatedCompositeFieldContainer[ServiceSpec]
    algorithm: str
    registry_only: bool
    policies: _containers.RepeatedCompositeFieldContainer[NetworkPolicy]
    def __init__(self, application: _Optional[str] = ..., services: _Optional[_Iterable[_Union[ServiceSpec, _Mapping]]] = ..., algorithm: _Optional[str] = ..., registry_only: _Optional[bool] = ..., policies: _Optional[_Iterable[_Union[NetworkPolicy, _Mapping]]] = ...) -> None: ...

class NetworkPolicy(_message.Message):
    __slots__ = ("application", "name", "document")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    application: str
    name: str
    document: str
    def __init__(self, application: _Optional[str] = ..., name: _Optional[str] = ..., document: _Optional[str] = ...) -> None: ...

class ApplyNetworkPoliciesRequest(_message.Message):
    __slots__ = ("application", "policies")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    application: str
    policies: _containers.RepeatedCompositeFieldContainer[NetworkPolicy]
    def __init__(self, application: _Optional[str] = ..., policies: _Optional[_Iterable[_Union[NetworkPolicy, _Mapping]]] = ...) -> None: ...

class ListNetworkPoliciesRequest(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: str
    def __init__(self, application: _Optional[str] = ...) -> None: ...

class ListNetworkPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[NetworkPolicy]
    def __init__(self, policies: _Optional[_Iterable[_Union[NetworkPolicy, _Mapping]]] = ...) -> None: ...

class DeleteNetworkPolicyRequest(_message.Message):
    __slots__ = ("application", "name")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    application: str
    name: str
    def __init__(self, application: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteNetworkPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ScaleRequest(_message.Message):
    __slots__ = ("application", "service", "replicas")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    application: str
    service: str
    replicas: int
    def __init__(self, application: _Optional[str] = ..., service: _Optional[str] = ..., replicas: _Optional[int] = ...) -> None: ...

class Instance(_message.Message):
    __slots__ = ("name", "service", "node", "ip", "phase", "restarts", "message", "pulled_bytes", "peer_bytes", "last_termination_reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PULLED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PEER_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAST_TERMINATION_REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    service: str
    node: str
    ip: str
    phase: InstancePhase
    restarts: int
    message: str
    pulled_bytes: int
    peer_bytes: int
    last_termination_reason: str
    def __init__(self, name: _Optional[str] = ..., service: _Optional[str] = ..., node: _Optional[str] = ..., ip: _Optional[str] = ..., phase: _Optional[_Union[InstancePhase, str]] = ..., restarts: _Optional[int] = ..., message: _Optional[str] = ..., pulled_bytes: _Optional[int] = ..., peer_bytes: _Optional[int] = ..., last_termination_reason: _Optional[str] = ...) -> None: ...

class ServiceAddress(_message.Message):
    __slots__ = ("service", "vip", "port", "endpoints", "mesh_service")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    MESH_SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    vip: str
    port: int
    endpoints: int
    mesh_service: str
    def __init__(self, service: _Optional[str] = ..., vip: _Optional[str] = ..., port: _Optional[int] = ..., endpoints: _Optional[int] = ..., mesh_service: _Optional[str] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("application", "services", "instances", "addresses", "placement_algorithm", "peers", "planned_bytes", "pulled_bytes", "peer_bytes", "ready", "created_unix", "images")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    PLANNED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PULLED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PEER_BYTES_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    application: str
    services: _containers.RepeatedCompositeFieldContainer[ServiceSpec]
    instances: _containers.RepeatedCompositeFieldContainer[Instance]
    addresses: _containers.RepeatedCompositeFieldContainer[ServiceAddress]
    placement_algorithm: str
    peers: bool
    planned_bytes: int
    pulled_bytes: int
    peer_bytes: int
    ready: bool
    created_unix: float
    images: _containers.RepeatedCompositeFieldContainer[ServiceImageStatus]
    def __init__(self, application: _Optional[str] = ..., services: _Optional[_Iterable[_Union[ServiceSpec, _Mapping]]] = ..., instances: _Optional[_Iterable[_Union[Instance, _Mapping]]] = ..., addresses: _Optional[_Iterable[_Union[ServiceAddress, _Mapping]]] = ..., placement_algorithm: _Optional[str] = ..., peers: _Optional[bool] = ..., planned_bytes: _Optional[int] = ..., pulled_bytes: _Optional[int] = ..., peer_bytes: _Optional[int] = ..., ready: _Optional[bool] = ..., created_unix: _Optional[float] = ..., images: _Optional[_Iterable[_Union[ServiceImageStatus, _Mapping]]] = ...) -> None: ...

class ServiceImageStatus(_message.Message):
    __slots__ = ("service", "phase", "message", "reference", "layers", "size_bytes")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    service: str
    phase: ImagePhase
    message: str
    reference: str
    layers: int
    size_bytes: int
    def __init__(self, service: _Optional[str] = ..., phase: _Optional[_Union[ImagePhase, str]] = ..., message: _Optional[str] = ..., reference: _Optional[str] = ..., layers: _Optional[int] = ..., size_bytes: _Optional[int] = ...) -> None: ...

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
