from strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PlacementServer(_message.Message):
    __slots__ = ("name", "cpu", "storage", "bandwidth", "held_layers", "zone", "memory")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_FIELD_NUMBER: _ClassVar[int]
    HELD_LAYERS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    name: str
    cpu: float
    storage: float
    bandwidth: float
    held_layers: _containers.RepeatedScalarFieldContainer[str]
    zone: str
    memory: float
    def __init__(self, name: _Optional[str] = ..., cpu: _Optional[float] = ..., storage: _Optional[float] = ..., bandwidth: _Optional[float] = ..., held_layers: _Optional[_Iterable[str]] = ..., zone: _Optional[str] = ..., memory: _Optional[float] = ...) -> None: ...

class PlacementContainer(_message.Message):
    __slots__ = ("name", "cpu", "bandwidth", "layers", "image", "service", "memory", "clients", "max_client_delay_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CLIENT_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    cpu: float
    bandwidth: float
    layers: _containers.RepeatedScalarFieldContainer[str]
    image: str
    service: str
    memory: float
    clients: _containers.RepeatedCompositeFieldContainer[PlacementClientSite]
    max_client_delay_ms: float
    def __init__(self, name: _Optional[str] = ..., cpu: _Optional[float] = ..., bandwidth: _Optional[float] = ..., layers: _Optional[_Iterable[str]] = ..., image: _Optional[str] = ..., service: _Optional[str] = ..., memory: _Optional[float] = ..., clients: _Optional[_Iterable[_Union[PlacementClientSite, _Mapping]]] = ..., max_client_delay_ms: _Optional[float] = ...) -> None: ...

class PlacementClientSite(_message.Message):
    __slots__ = ("switch", "delay_ms", "weight")
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    switch: str
    delay_ms: float
    weight: float
    def __init__(self, switch: _Optional[str] = ..., delay_ms: _Optional[float] = ..., weight: _Optional[float] = ...) -> None: ...

class PlacementSpread(_message.Message):
    __slots__ = ("topology", "max_skew", "hard")
    TOPOLOGY_FIELD_NUMBER: _ClassVar[int]
    MAX_SKEW_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    topology: str
    max_skew: int
    hard: bool
    def __init__(self, topology: _Optional[str] = ..., max_skew: _Optional[int] = ..., hard: _Optional[bool] = ...) -> None: ...

class PlacementRule(_message.Message):
    __slots__ = ("name", "max_per_server", "spread", "prefer_apart", "placed")
    class PlacedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_PER_SERVER_FIELD_NUMBER: _ClassVar[int]
    SPREAD_FIELD_NUMBER: _ClassVar[int]
    PREFER_APART_FIELD_NUMBER: _ClassVar[int]
    PLACED_FIELD_NUMBER: _ClassVar[int]
    name: str
    max_per_server: int
    spread: _containers.RepeatedCompositeFieldContainer[PlacementSpread]
    prefer_apart: bool
    placed: _containers.ScalarMap[str, int]
    def __init__(self, name: _Optional[str] = ..., max_per_server: _Optional[int] = ..., spread: _Optional[_Iterable[_Union[PlacementSpread, _Mapping]]] = ..., prefer_apart: _Optional[bool] = ..., placed: _Optional[_Mapping[str, int]] = ...) -> None: ...

class SolveRequest(_message.Message):
    __slots__ = ("servers", "layers", "containers", "algorithm", "solver", "time_limit_seconds", "seed", "rules", "network", "startup_weight", "latency_weight")
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    STARTUP_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[PlacementServer]
    layers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Layer]
    containers: _containers.RepeatedCompositeFieldContainer[PlacementContainer]
    algorithm: str
    solver: str
    time_limit_seconds: float
    seed: int
    rules: _containers.RepeatedCompositeFieldContainer[PlacementRule]
    network: PlacementNetwork
    startup_weight: float
    latency_weight: float
    def __init__(self, servers: _Optional[_Iterable[_Union[PlacementServer, _Mapping]]] = ..., layers: _Optional[_Iterable[_Union[_common_pb2.Layer, _Mapping]]] = ..., containers: _Optional[_Iterable[_Union[PlacementContainer, _Mapping]]] = ..., algorithm: _Optional[str] = ..., solver: _Optional[str] = ..., time_limit_seconds: _Optional[float] = ..., seed: _Optional[int] = ..., rules: _Optional[_Iterable[_Union[PlacementRule, _Mapping]]] = ..., network: _Optional[_Union[PlacementNetwork, _Mapping]] = ..., startup_weight: _Optional[float] = ..., latency_weight: _Optional[float] = ...) -> None: ...

class PlacementAttachment(_message.Message):
    __slots__ = ("switch", "mbps", "delay_ms")
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    MBPS_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    switch: str
    mbps: float
    delay_ms: float
    def __init__(self, switch: _Optional[str] = ..., mbps: _Optional[float] = ..., delay_ms: _Optional[float] = ...) -> None: ...

class PlacementLink(_message.Message):
    __slots__ = ("a", "b", "mbps", "delay_ms")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    MBPS_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    mbps: float
    delay_ms: float
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ..., mbps: _Optional[float] = ..., delay_ms: _Optional[float] = ...) -> None: ...

class PlacementNetwork(_message.Message):
    __slots__ = ("registry", "servers", "links", "size_bytes", "start_seconds", "parallel_starts", "parallel_downloads")
    class ServersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PlacementAttachment
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PlacementAttachment, _Mapping]] = ...) -> None: ...
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_STARTS_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    registry: PlacementAttachment
    servers: _containers.MessageMap[str, PlacementAttachment]
    links: _containers.RepeatedCompositeFieldContainer[PlacementLink]
    size_bytes: float
    start_seconds: float
    parallel_starts: int
    parallel_downloads: int
    def __init__(self, registry: _Optional[_Union[PlacementAttachment, _Mapping]] = ..., servers: _Optional[_Mapping[str, PlacementAttachment]] = ..., links: _Optional[_Iterable[_Union[PlacementLink, _Mapping]]] = ..., size_bytes: _Optional[float] = ..., start_seconds: _Optional[float] = ..., parallel_starts: _Optional[int] = ..., parallel_downloads: _Optional[int] = ...) -> None: ...

class StoredLayers(_message.Message):
    __slots__ = ("digests",)
    DIGESTS_FIELD_NUMBER: _ClassVar[int]
    digests: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, digests: _Optional[_Iterable[str]] = ...) -> None: ...

class SolveResponse(_message.Message):
    __slots__ = ("algorithm", "status", "objective", "lower_bound", "placement", "layers", "seconds", "message", "client_delay_ms", "client_delay_max_ms")
    class PlacementEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LayersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: StoredLayers
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[StoredLayers, _Mapping]] = ...) -> None: ...
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_DELAY_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    algorithm: str
    status: _common_pb2.SolveStatus
    objective: float
    lower_bound: float
    placement: _containers.ScalarMap[str, str]
    layers: _containers.MessageMap[str, StoredLayers]
    seconds: float
    message: str
    client_delay_ms: float
    client_delay_max_ms: float
    def __init__(self, algorithm: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.SolveStatus, str]] = ..., objective: _Optional[float] = ..., lower_bound: _Optional[float] = ..., placement: _Optional[_Mapping[str, str]] = ..., layers: _Optional[_Mapping[str, StoredLayers]] = ..., seconds: _Optional[float] = ..., message: _Optional[str] = ..., client_delay_ms: _Optional[float] = ..., client_delay_max_ms: _Optional[float] = ...) -> None: ...

class ListAlgorithmsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AlgorithmInfo(_message.Message):
    __slots__ = ("name", "description", "default_solver")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_SOLVER_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    default_solver: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., default_solver: _Optional[str] = ...) -> None: ...

class ListAlgorithmsResponse(_message.Message):
    __slots__ = ("algorithms",)
    ALGORITHMS_FIELD_NUMBER: _ClassVar[int]
    algorithms: _containers.RepeatedCompositeFieldContainer[AlgorithmInfo]
    def __init__(self, algorithms: _Optional[_Iterable[_Union[AlgorithmInfo, _Mapping]]] = ...) -> None: ...
