from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContainerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTAINER_STATE_UNSPECIFIED: _ClassVar[ContainerState]
    CONTAINER_STATE_RUNNING: _ClassVar[ContainerState]
    CONTAINER_STATE_RESTARTING: _ClassVar[ContainerState]
    CONTAINER_STATE_STOPPED: _ClassVar[ContainerState]
CONTAINER_STATE_UNSPECIFIED: ContainerState
CONTAINER_STATE_RUNNING: ContainerState
CONTAINER_STATE_RESTARTING: ContainerState
CONTAINER_STATE_STOPPED: ContainerState

class GetNodeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HeldLayer(_message.Message):
    __slots__ = ("digest", "size_bytes", "used_by")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BY_FIELD_NUMBER: _ClassVar[int]
    digest: str
    size_bytes: int
    used_by: int
    def __init__(self, digest: _Optional[str] = ..., size_bytes: _Optional[int] = ..., used_by: _Optional[int] = ...) -> None: ...

class Container(_message.Message):
    __slots__ = ("name", "image", "state", "ip", "mac", "switch_port", "pid", "restarts", "started_at", "last_exit_code", "cpu_millicores", "layers", "message", "labels", "ready", "ready_port", "memory_limit_mib", "last_termination_reason", "memory_request_mib")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    SWITCH_PORT_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    READY_PORT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MIB_FIELD_NUMBER: _ClassVar[int]
    LAST_TERMINATION_REASON_FIELD_NUMBER: _ClassVar[int]
    MEMORY_REQUEST_MIB_FIELD_NUMBER: _ClassVar[int]
    name: str
    image: str
    state: ContainerState
    ip: str
    mac: str
    switch_port: int
    pid: int
    restarts: int
    started_at: float
    last_exit_code: int
    cpu_millicores: float
    layers: _containers.RepeatedScalarFieldContainer[str]
    message: str
    labels: _containers.ScalarMap[str, str]
    ready: bool
    ready_port: int
    memory_limit_mib: float
    last_termination_reason: str
    memory_request_mib: float
    def __init__(self, name: _Optional[str] = ..., image: _Optional[str] = ..., state: _Optional[_Union[ContainerState, str]] = ..., ip: _Optional[str] = ..., mac: _Optional[str] = ..., switch_port: _Optional[int] = ..., pid: _Optional[int] = ..., restarts: _Optional[int] = ..., started_at: _Optional[float] = ..., last_exit_code: _Optional[int] = ..., cpu_millicores: _Optional[float] = ..., layers: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., ready: _Optional[bool] = ..., ready_port: _Optional[int] = ..., memory_limit_mib: _Optional[float] = ..., last_termination_reason: _Optional[str] = ..., memory_request_mib: _Optional[float] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("name", "ip", "switch", "pod_cidr", "cpu_millicores", "cpu_requested_millicores", "storage_capacity_bytes", "storage_used_bytes", "layers", "containers", "registry", "image_scale", "pulled_bytes_total", "peer_bytes_total", "blob_address", "served_bytes_total", "memory_mib", "memory_requested_mib")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    POD_CIDR_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    CPU_REQUESTED_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SCALE_FIELD_NUMBER: _ClassVar[int]
    PULLED_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PEER_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BLOB_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SERVED_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_REQUESTED_MIB_FIELD_NUMBER: _ClassVar[int]
    name: str
    ip: str
    switch: str
    pod_cidr: str
    cpu_millicores: float
    cpu_requested_millicores: float
    storage_capacity_bytes: int
    storage_used_bytes: int
    layers: _containers.RepeatedCompositeFieldContainer[HeldLayer]
    containers: _containers.RepeatedCompositeFieldContainer[Container]
    registry: str
    image_scale: float
    pulled_bytes_total: int
    peer_bytes_total: int
    blob_address: str
    served_bytes_total: int
    memory_mib: float
    memory_requested_mib: float
    def __init__(self, name: _Optional[str] = ..., ip: _Optional[str] = ..., switch: _Optional[str] = ..., pod_cidr: _Optional[str] = ..., cpu_millicores: _Optional[float] = ..., cpu_requested_millicores: _Optional[float] = ..., storage_capacity_bytes: _Optional[int] = ..., storage_used_bytes: _Optional[int] = ..., layers: _Optional[_Iterable[_Union[HeldLayer, _Mapping]]] = ..., containers: _Optional[_Iterable[_Union[Container, _Mapping]]] = ..., registry: _Optional[str] = ..., image_scale: _Optional[float] = ..., pulled_bytes_total: _Optional[int] = ..., peer_bytes_total: _Optional[int] = ..., blob_address: _Optional[str] = ..., served_bytes_total: _Optional[int] = ..., memory_mib: _Optional[float] = ..., memory_requested_mib: _Optional[float] = ...) -> None: ...

class PullImageRequest(_message.Message):
    __slots__ = ("image", "layer_sources")
    class LayerSourcesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LAYER_SOURCES_FIELD_NUMBER: _ClassVar[int]
    image: str
    layer_sources: _containers.ScalarMap[str, str]
    def __init__(self, image: _Optional[str] = ..., layer_sources: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PullReport(_message.Message):
    __slots__ = ("image", "manifest_digest", "pulled_layers", "reused_layers", "pulled_bytes", "reused_bytes", "seconds", "peer_layers", "peer_bytes")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PULLED_LAYERS_FIELD_NUMBER: _ClassVar[int]
    REUSED_LAYERS_FIELD_NUMBER: _ClassVar[int]
    PULLED_BYTES_FIELD_NUMBER: _ClassVar[int]
    REUSED_BYTES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    PEER_LAYERS_FIELD_NUMBER: _ClassVar[int]
    PEER_BYTES_FIELD_NUMBER: _ClassVar[int]
    image: str
    manifest_digest: str
    pulled_layers: _containers.RepeatedScalarFieldContainer[str]
    reused_layers: _containers.RepeatedScalarFieldContainer[str]
    pulled_bytes: int
    reused_bytes: int
    seconds: float
    peer_layers: _containers.RepeatedScalarFieldContainer[str]
    peer_bytes: int
    def __init__(self, image: _Optional[str] = ..., manifest_digest: _Optional[str] = ..., pulled_layers: _Optional[_Iterable[str]] = ..., reused_layers: _Optional[_Iterable[str]] = ..., pulled_bytes: _Optional[int] = ..., reused_bytes: _Optional[int] = ..., seconds: _Optional[float] = ..., peer_layers: _Optional[_Iterable[str]] = ..., peer_bytes: _Optional[int] = ...) -> None: ...

class PullImageResponse(_message.Message):
    __slots__ = ("pull",)
    PULL_FIELD_NUMBER: _ClassVar[int]
    pull: PullReport
    def __init__(self, pull: _Optional[_Union[PullReport, _Mapping]] = ...) -> None: ...

class RunContainerRequest(_message.Message):
    __slots__ = ("name", "image", "cpu_millicores", "env", "command", "labels", "hosts", "layer_sources", "capabilities", "ready_port", "memory_limit_mib", "memory_request_mib", "pids_limit")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class HostsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LayerSourcesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    LAYER_SOURCES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    READY_PORT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_REQUEST_MIB_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    image: str
    cpu_millicores: float
    env: _containers.RepeatedScalarFieldContainer[str]
    command: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.ScalarMap[str, str]
    hosts: _containers.ScalarMap[str, str]
    layer_sources: _containers.ScalarMap[str, str]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    ready_port: int
    memory_limit_mib: float
    memory_request_mib: float
    pids_limit: int
    def __init__(self, name: _Optional[str] = ..., image: _Optional[str] = ..., cpu_millicores: _Optional[float] = ..., env: _Optional[_Iterable[str]] = ..., command: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., hosts: _Optional[_Mapping[str, str]] = ..., layer_sources: _Optional[_Mapping[str, str]] = ..., capabilities: _Optional[_Iterable[str]] = ..., ready_port: _Optional[int] = ..., memory_limit_mib: _Optional[float] = ..., memory_request_mib: _Optional[float] = ..., pids_limit: _Optional[int] = ...) -> None: ...

class RunContainerResponse(_message.Message):
    __slots__ = ("container", "pull")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    PULL_FIELD_NUMBER: _ClassVar[int]
    container: Container
    pull: PullReport
    def __init__(self, container: _Optional[_Union[Container, _Mapping]] = ..., pull: _Optional[_Union[PullReport, _Mapping]] = ...) -> None: ...

class ListContainersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListContainersResponse(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[Container]
    def __init__(self, containers: _Optional[_Iterable[_Union[Container, _Mapping]]] = ...) -> None: ...

class GetContainerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ContainerLogsRequest(_message.Message):
    __slots__ = ("name", "tail_lines")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAIL_LINES_FIELD_NUMBER: _ClassVar[int]
    name: str
    tail_lines: int
    def __init__(self, name: _Optional[str] = ..., tail_lines: _Optional[int] = ...) -> None: ...

class ContainerLogsResponse(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class StopContainerRequest(_message.Message):
    __slots__ = ("name", "timeout_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    timeout_seconds: float
    def __init__(self, name: _Optional[str] = ..., timeout_seconds: _Optional[float] = ...) -> None: ...

class StartContainerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveContainerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveContainerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PruneLayersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PruneLayersResponse(_message.Message):
    __slots__ = ("removed", "freed_bytes")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    FREED_BYTES_FIELD_NUMBER: _ClassVar[int]
    removed: _containers.RepeatedScalarFieldContainer[str]
    freed_bytes: int
    def __init__(self, removed: _Optional[_Iterable[str]] = ..., freed_bytes: _Optional[int] = ...) -> None: ...
