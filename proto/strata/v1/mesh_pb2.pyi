from strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterServiceRequest(_message.Message):
    __slots__ = ("name", "vip", "protocol", "port", "endpoints")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    vip: str
    protocol: _common_pb2.Protocol
    port: int
    endpoints: _containers.RepeatedCompositeFieldContainer[_common_pb2.Endpoint]
    def __init__(self, name: _Optional[str] = ..., vip: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., port: _Optional[int] = ..., endpoints: _Optional[_Iterable[_Union[_common_pb2.Endpoint, _Mapping]]] = ...) -> None: ...

class TrafficPolicy(_message.Message):
    __slots__ = ("split", "eject_after_failures", "rate_limit_mbps")
    class SplitEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    EJECT_AFTER_FAILURES_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_MBPS_FIELD_NUMBER: _ClassVar[int]
    split: _containers.ScalarMap[str, int]
    eject_after_failures: int
    rate_limit_mbps: float
    def __init__(self, split: _Optional[_Mapping[str, int]] = ..., eject_after_failures: _Optional[int] = ..., rate_limit_mbps: _Optional[float] = ...) -> None: ...

class MeshServiceInfo(_message.Message):
    __slots__ = ("name", "vip", "protocol", "port", "endpoints", "policy", "ejected")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    EJECTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    vip: str
    protocol: _common_pb2.Protocol
    port: int
    endpoints: _containers.RepeatedCompositeFieldContainer[_common_pb2.Endpoint]
    policy: TrafficPolicy
    ejected: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., vip: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., port: _Optional[int] = ..., endpoints: _Optional[_Iterable[_Union[_common_pb2.Endpoint, _Mapping]]] = ..., policy: _Optional[_Union[TrafficPolicy, _Mapping]] = ..., ejected: _Optional[_Iterable[str]] = ...) -> None: ...

class SetEndpointsRequest(_message.Message):
    __slots__ = ("service", "endpoints")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoints: _containers.RepeatedCompositeFieldContainer[_common_pb2.Endpoint]
    def __init__(self, service: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[_common_pb2.Endpoint, _Mapping]]] = ...) -> None: ...

class SetTrafficPolicyRequest(_message.Message):
    __slots__ = ("service", "policy")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    service: str
    policy: TrafficPolicy
    def __init__(self, service: _Optional[str] = ..., policy: _Optional[_Union[TrafficPolicy, _Mapping]] = ...) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[MeshServiceInfo]
    def __init__(self, services: _Optional[_Iterable[_Union[MeshServiceInfo, _Mapping]]] = ...) -> None: ...

class GetTelemetryRequest(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class EndpointTelemetry(_message.Message):
    __slots__ = ("host", "packets", "bytes", "share")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    host: str
    packets: int
    bytes: int
    share: float
    def __init__(self, host: _Optional[str] = ..., packets: _Optional[int] = ..., bytes: _Optional[int] = ..., share: _Optional[float] = ...) -> None: ...

class GetTelemetryResponse(_message.Message):
    __slots__ = ("service", "endpoints")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointTelemetry]
    def __init__(self, service: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[EndpointTelemetry, _Mapping]]] = ...) -> None: ...

class DeregisterServiceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeregisterServiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
