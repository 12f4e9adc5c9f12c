from strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterServiceRequest(_message.Message):
    __slots__ = ("name", "vip", "protocol", "port")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    name: str
    vip: str
    protocol: _common_pb2.Protocol
    port: int
    def __init__(self, name: _Optional[str] = ..., vip: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., port: _Optional[int] = ...) -> None: ...

class MeshEndpoint(_message.Message):
    __slots__ = ("host", "ip", "port", "subset")
    HOST_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    host: str
    ip: str
    port: int
    subset: str
    def __init__(self, host: _Optional[str] = ..., ip: _Optional[str] = ..., port: _Optional[int] = ..., subset: _Optional[str] = ...) -> None: ...

class OutlierDetection(_message.Message):
    __slots__ = ("consecutive_5xx", "interval", "base_ejection_time", "max_ejection_time", "max_ejection_percent", "http_path", "timeout")
    CONSECUTIVE_5XX_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    BASE_EJECTION_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_EJECTION_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_EJECTION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    HTTP_PATH_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    consecutive_5xx: int
    interval: float
    base_ejection_time: float
    max_ejection_time: float
    max_ejection_percent: int
    http_path: str
    timeout: float
    def __init__(self, consecutive_5xx: _Optional[int] = ..., interval: _Optional[float] = ..., base_ejection_time: _Optional[float] = ..., max_ejection_time: _Optional[float] = ..., max_ejection_percent: _Optional[int] = ..., http_path: _Optional[str] = ..., timeout: _Optional[float] = ...) -> None: ...

class TrafficPolicy(_message.Message):
    __slots__ = ("split", "locality", "rate_limit_mbps", "outlier_detection")
    class SplitEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_MBPS_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_DETECTION_FIELD_NUMBER: _ClassVar[int]
    split: _containers.ScalarMap[str, int]
    locality: bool
    rate_limit_mbps: float
    outlier_detection: OutlierDetection
    def __init__(self, split: _Optional[_Mapping[str, int]] = ..., locality: _Optional[bool] = ..., rate_limit_mbps: _Optional[float] = ..., outlier_detection: _Optional[_Union[OutlierDetection, _Mapping]] = ...) -> None: ...

class EndpointStatus(_message.Message):
    __slots__ = ("endpoint", "weight", "ejected", "ejected_for", "ejections", "consecutive_failures")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    EJECTED_FIELD_NUMBER: _ClassVar[int]
    EJECTED_FOR_FIELD_NUMBER: _ClassVar[int]
    EJECTIONS_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    endpoint: MeshEndpoint
    weight: int
    ejected: bool
    ejected_for: float
    ejections: int
    consecutive_failures: int
    def __init__(self, endpoint: _Optional[_Union[MeshEndpoint, _Mapping]] = ..., weight: _Optional[int] = ..., ejected: _Optional[bool] = ..., ejected_for: _Optional[float] = ..., ejections: _Optional[int] = ..., consecutive_failures: _Optional[int] = ...) -> None: ...

class MeshServiceInfo(_message.Message):
    __slots__ = ("name", "vip", "protocol", "port", "endpoints", "policy", "routed", "problem")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    ROUTED_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    name: str
    vip: str
    protocol: _common_pb2.Protocol
    port: int
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointStatus]
    policy: TrafficPolicy
    routed: bool
    problem: str
    def __init__(self, name: _Optional[str] = ..., vip: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., port: _Optional[int] = ..., endpoints: _Optional[_Iterable[_Union[EndpointStatus, _Mapping]]] = ..., policy: _Optional[_Union[TrafficPolicy, _Mapping]] = ..., routed: _Optional[bool] = ..., problem: _Optional[str] = ...) -> None: ...

class SetEndpointsRequest(_message.Message):
    __slots__ = ("service", "endpoints")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoints: _containers.RepeatedCompositeFieldContainer[MeshEndpoint]
    def __init__(self, service: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[MeshEndpoint, _Mapping]]] = ...) -> None: ...

class SetPolicyRequest(_message.Message):
    __slots__ = ("service", "policy")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    service: str
    policy: TrafficPolicy
    def __init__(self, service: _Optional[str] = ..., policy: _Optional[_Union[TrafficPolicy, _Mapping]] = ...) -> None: ...

class DeletePolicyRequest(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class GetServiceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[MeshServiceInfo]
    def __init__(self, services: _Optional[_Iterable[_Union[MeshServiceInfo, _Mapping]]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, services: _Optional[_Iterable[str]] = ...) -> None: ...

class TrafficCounters(_message.Message):
    __slots__ = ("connections", "tx_packets", "tx_bytes", "rx_packets", "rx_bytes", "share")
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    TX_PACKETS_FIELD_NUMBER: _ClassVar[int]
    TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    RX_PACKETS_FIELD_NUMBER: _ClassVar[int]
    RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    connections: int
    tx_packets: int
    tx_bytes: int
    rx_packets: int
    rx_bytes: int
    share: float
    def __init__(self, connections: _Optional[int] = ..., tx_packets: _Optional[int] = ..., tx_bytes: _Optional[int] = ..., rx_packets: _Optional[int] = ..., rx_bytes: _Optional[int] = ..., share: _Optional[float] = ...) -> None: ...

class EndpointTraffic(_message.Message):
    __slots__ = ("host", "subset", "counters")
    HOST_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    host: str
    subset: str
    counters: TrafficCounters
    def __init__(self, host: _Optional[str] = ..., subset: _Optional[str] = ..., counters: _Optional[_Union[TrafficCounters, _Mapping]] = ...) -> None: ...

class SubsetTraffic(_message.Message):
    __slots__ = ("subset", "counters")
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    subset: str
    counters: TrafficCounters
    def __init__(self, subset: _Optional[str] = ..., counters: _Optional[_Union[TrafficCounters, _Mapping]] = ...) -> None: ...

class ServiceTraffic(_message.Message):
    __slots__ = ("service", "counters", "subsets", "endpoints", "dropped_packets", "dropped_bytes")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    SUBSETS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_PACKETS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_BYTES_FIELD_NUMBER: _ClassVar[int]
    service: str
    counters: TrafficCounters
    subsets: _containers.RepeatedCompositeFieldContainer[SubsetTraffic]
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointTraffic]
    dropped_packets: int
    dropped_bytes: int
    def __init__(self, service: _Optional[str] = ..., counters: _Optional[_Union[TrafficCounters, _Mapping]] = ..., subsets: _Optional[_Iterable[_Union[SubsetTraffic, _Mapping]]] = ..., endpoints: _Optional[_Iterable[_Union[EndpointTraffic, _Mapping]]] = ..., dropped_packets: _Optional[int] = ..., dropped_bytes: _Optional[int] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[ServiceTraffic]
    def __init__(self, services: _Optional[_Iterable[_Union[ServiceTraffic, _Mapping]]] = ...) -> None: ...

class DeregisterServiceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeregisterServiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
