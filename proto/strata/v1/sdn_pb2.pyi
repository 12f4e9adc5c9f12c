from strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetTopologyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Port(_message.Message):
    __slots__ = ("number", "name", "up")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    number: int
    name: str
    up: bool
    def __init__(self, number: _Optional[int] = ..., name: _Optional[str] = ..., up: _Optional[bool] = ...) -> None: ...

class Switch(_message.Message):
    __slots__ = ("name", "dpid", "connected", "ports", "synced")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DPID_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    SYNCED_FIELD_NUMBER: _ClassVar[int]
    name: str
    dpid: int
    connected: bool
    ports: _containers.RepeatedCompositeFieldContainer[Port]
    synced: bool
    def __init__(self, name: _Optional[str] = ..., dpid: _Optional[int] = ..., connected: _Optional[bool] = ..., ports: _Optional[_Iterable[_Union[Port, _Mapping]]] = ..., synced: _Optional[bool] = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ("src_switch", "src_port", "dst_switch", "dst_port", "capacity_mbps", "reserved_mbps", "up", "delay_ms")
    SRC_SWITCH_FIELD_NUMBER: _ClassVar[int]
    SRC_PORT_FIELD_NUMBER: _ClassVar[int]
    DST_SWITCH_FIELD_NUMBER: _ClassVar[int]
    DST_PORT_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_MBPS_FIELD_NUMBER: _ClassVar[int]
    RESERVED_MBPS_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    src_switch: str
    src_port: int
    dst_switch: str
    dst_port: int
    capacity_mbps: float
    reserved_mbps: float
    up: bool
    delay_ms: float
    def __init__(self, src_switch: _Optional[str] = ..., src_port: _Optional[int] = ..., dst_switch: _Optional[str] = ..., dst_port: _Optional[int] = ..., capacity_mbps: _Optional[float] = ..., reserved_mbps: _Optional[float] = ..., up: _Optional[bool] = ..., delay_ms: _Optional[float] = ...) -> None: ...

class Host(_message.Message):
    __slots__ = ("name", "ip", "mac", "switch", "port", "role", "seen", "access_mbps", "access_delay_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SEEN_FIELD_NUMBER: _ClassVar[int]
    ACCESS_MBPS_FIELD_NUMBER: _ClassVar[int]
    ACCESS_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    ip: str
    mac: str
    switch: str
    port: int
    role: str
    seen: bool
    access_mbps: float
    access_delay_ms: float
    def __init__(self, name: _Optional[str] = ..., ip: _Optional[str] = ..., mac: _Optional[str] = ..., switch: _Optional[str] = ..., port: _Optional[int] = ..., role: _Optional[str] = ..., seen: _Optional[bool] = ..., access_mbps: _Optional[float] = ..., access_delay_ms: _Optional[float] = ...) -> None: ...

class Topology(_message.Message):
    __slots__ = ("switches", "links", "hosts")
    SWITCHES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    switches: _containers.RepeatedCompositeFieldContainer[Switch]
    links: _containers.RepeatedCompositeFieldContainer[Link]
    hosts: _containers.RepeatedCompositeFieldContainer[Host]
    def __init__(self, switches: _Optional[_Iterable[_Union[Switch, _Mapping]]] = ..., links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., hosts: _Optional[_Iterable[_Union[Host, _Mapping]]] = ...) -> None: ...

class ServicePolicy(_message.Message):
    __slots__ = ("locality", "rate_limit_mbps")
    LOCALITY_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_MBPS_FIELD_NUMBER: _ClassVar[int]
    locality: bool
    rate_limit_mbps: float
    def __init__(self, locality: _Optional[bool] = ..., rate_limit_mbps: _Optional[float] = ...) -> None: ...

class InstallServiceRouteRequest(_message.Message):
    __slots__ = ("service", "vip", "protocol", "port", "endpoints", "policy")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    service: str
    vip: str
    protocol: _common_pb2.Protocol
    port: int
    endpoints: _containers.RepeatedCompositeFieldContainer[_common_pb2.Endpoint]
    policy: ServicePolicy
    def __init__(self, service: _Optional[str] = ..., vip: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., port: _Optional[int] = ..., endpoints: _Optional[_Iterable[_Union[_common_pb2.Endpoint, _Mapping]]] = ..., policy: _Optional[_Union[ServicePolicy, _Mapping]] = ...) -> None: ...

class ServiceRoute(_message.Message):
    __slots__ = ("service", "vip", "protocol", "port", "endpoints", "cookie", "group_id", "policy")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    COOKIE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    service: str
    vip: str
    protocol: _common_pb2.Protocol
    port: int
    endpoints: _containers.RepeatedCompositeFieldContainer[_common_pb2.Endpoint]
    cookie: int
    group_id: int
    policy: ServicePolicy
    def __init__(self, service: _Optional[str] = ..., vip: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., port: _Optional[int] = ..., endpoints: _Optional[_Iterable[_Union[_common_pb2.Endpoint, _Mapping]]] = ..., cookie: _Optional[int] = ..., group_id: _Optional[int] = ..., policy: _Optional[_Union[ServicePolicy, _Mapping]] = ...) -> None: ...

class UpdateServiceRouteRequest(_message.Message):
    __slots__ = ("service", "endpoints", "policy")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoints: _containers.RepeatedCompositeFieldContainer[_common_pb2.Endpoint]
    policy: ServicePolicy
    def __init__(self, service: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[_common_pb2.Endpoint, _Mapping]]] = ..., policy: _Optional[_Union[ServicePolicy, _Mapping]] = ...) -> None: ...

class RemoveServiceRouteRequest(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class RemoveServiceRouteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServiceRoutesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServiceRoutesResponse(_message.Message):
    __slots__ = ("routes",)
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[ServiceRoute]
    def __init__(self, routes: _Optional[_Iterable[_Union[ServiceRoute, _Mapping]]] = ...) -> None: ...

class ComputePathRequest(_message.Message):
    __slots__ = ("src", "dst", "min_bandwidth_mbps")
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    MIN_BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    src: str
    dst: str
    min_bandwidth_mbps: float
    def __init__(self, src: _Optional[str] = ..., dst: _Optional[str] = ..., min_bandwidth_mbps: _Optional[float] = ...) -> None: ...

class Hop(_message.Message):
    __slots__ = ("switch", "in_port", "out_port")
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    IN_PORT_FIELD_NUMBER: _ClassVar[int]
    OUT_PORT_FIELD_NUMBER: _ClassVar[int]
    switch: str
    in_port: int
    out_port: int
    def __init__(self, switch: _Optional[str] = ..., in_port: _Optional[int] = ..., out_port: _Optional[int] = ...) -> None: ...

class Path(_message.Message):
    __slots__ = ("src", "dst", "hops", "bottleneck_mbps")
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    BOTTLENECK_MBPS_FIELD_NUMBER: _ClassVar[int]
    src: str
    dst: str
    hops: _containers.RepeatedCompositeFieldContainer[Hop]
    bottleneck_mbps: float
    def __init__(self, src: _Optional[str] = ..., dst: _Optional[str] = ..., hops: _Optional[_Iterable[_Union[Hop, _Mapping]]] = ..., bottleneck_mbps: _Optional[float] = ...) -> None: ...

class InstallPathRequest(_message.Message):
    __slots__ = ("src", "dst", "bandwidth_mbps")
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    src: str
    dst: str
    bandwidth_mbps: float
    def __init__(self, src: _Optional[str] = ..., dst: _Optional[str] = ..., bandwidth_mbps: _Optional[float] = ...) -> None: ...

class InstalledPath(_message.Message):
    __slots__ = ("id", "path", "bandwidth_mbps")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    id: str
    path: Path
    bandwidth_mbps: float
    def __init__(self, id: _Optional[str] = ..., path: _Optional[_Union[Path, _Mapping]] = ..., bandwidth_mbps: _Optional[float] = ...) -> None: ...

class RemovePathRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RemovePathResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListFlowsRequest(_message.Message):
    __slots__ = ("switch", "service")
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    switch: str
    service: str
    def __init__(self, switch: _Optional[str] = ..., service: _Optional[str] = ...) -> None: ...

class FlowEntry(_message.Message):
    __slots__ = ("table_id", "priority", "cookie", "service", "match", "actions", "packet_count", "byte_count", "duration_seconds")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    COOKIE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    PACKET_COUNT_FIELD_NUMBER: _ClassVar[int]
    BYTE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    table_id: int
    priority: int
    cookie: int
    service: str
    match: str
    actions: str
    packet_count: int
    byte_count: int
    duration_seconds: float
    def __init__(self, table_id: _Optional[int] = ..., priority: _Optional[int] = ..., cookie: _Optional[int] = ..., service: _Optional[str] = ..., match: _Optional[str] = ..., actions: _Optional[str] = ..., packet_count: _Optional[int] = ..., byte_count: _Optional[int] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class Bucket(_message.Message):
    __slots__ = ("weight", "actions", "packet_count", "byte_count")
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    PACKET_COUNT_FIELD_NUMBER: _ClassVar[int]
    BYTE_COUNT_FIELD_NUMBER: _ClassVar[int]
    weight: int
    actions: str
    packet_count: int
    byte_count: int
    def __init__(self, weight: _Optional[int] = ..., actions: _Optional[str] = ..., packet_count: _Optional[int] = ..., byte_count: _Optional[int] = ...) -> None: ...

class GroupEntry(_message.Message):
    __slots__ = ("group_id", "type", "buckets")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    type: str
    buckets: _containers.RepeatedCompositeFieldContainer[Bucket]
    def __init__(self, group_id: _Optional[int] = ..., type: _Optional[str] = ..., buckets: _Optional[_Iterable[_Union[Bucket, _Mapping]]] = ...) -> None: ...

class SwitchFlows(_message.Message):
    __slots__ = ("switch", "flows", "groups")
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    switch: str
    flows: _containers.RepeatedCompositeFieldContainer[FlowEntry]
    groups: _containers.RepeatedCompositeFieldContainer[GroupEntry]
    def __init__(self, switch: _Optional[str] = ..., flows: _Optional[_Iterable[_Union[FlowEntry, _Mapping]]] = ..., groups: _Optional[_Iterable[_Union[GroupEntry, _Mapping]]] = ...) -> None: ...

class ListFlowsResponse(_message.Message):
    __slots__ = ("switches",)
    SWITCHES_FIELD_NUMBER: _ClassVar[int]
    switches: _containers.RepeatedCompositeFieldContainer[SwitchFlows]
    def __init__(self, switches: _Optional[_Iterable[_Union[SwitchFlows, _Mapping]]] = ...) -> None: ...

class GetServiceStatsRequest(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, services: _Optional[_Iterable[str]] = ...) -> None: ...

class EndpointStats(_message.Message):
    __slots__ = ("host", "subset", "connections", "tx_packets", "tx_bytes", "rx_packets", "rx_bytes")
    HOST_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    TX_PACKETS_FIELD_NUMBER: _ClassVar[int]
    TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    RX_PACKETS_FIELD_NUMBER: _ClassVar[int]
    RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    host: str
    subset: str
    connections: int
    tx_packets: int
    tx_bytes: int
    rx_packets: int
    rx_bytes: int
    def __init__(self, host: _Optional[str] = ..., subset: _Optional[str] = ..., connections: _Optional[int] = ..., tx_packets: _Optional[int] = ..., tx_bytes: _Optional[int] = ..., rx_packets: _Optional[int] = ..., rx_bytes: _Optional[int] = ...) -> None: ...

class ServiceStats(_message.Message):
    __slots__ = ("service", "endpoints", "dropped_packets", "dropped_bytes")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_PACKETS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_BYTES_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointStats]
    dropped_packets: int
    dropped_bytes: int
    def __init__(self, service: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[EndpointStats, _Mapping]]] = ..., dropped_packets: _Optional[int] = ..., dropped_bytes: _Optional[int] = ...) -> None: ...

class GetServiceStatsResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[ServiceStats]
    def __init__(self, services: _Optional[_Iterable[_Union[ServiceStats, _Mapping]]] = ...) -> None: ...

class Classifier(_message.Message):
    __slots__ = ("src_cidr", "dst_cidr", "protocol", "dst_port")
    SRC_CIDR_FIELD_NUMBER: _ClassVar[int]
    DST_CIDR_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    DST_PORT_FIELD_NUMBER: _ClassVar[int]
    src_cidr: str
    dst_cidr: str
    protocol: _common_pb2.Protocol
    dst_port: int
    def __init__(self, src_cidr: _Optional[str] = ..., dst_cidr: _Optional[str] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., dst_port: _Optional[int] = ...) -> None: ...

class ChainHop(_message.Message):
    __slots__ = ("host", "hosts")
    HOST_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    host: str
    hosts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, host: _Optional[str] = ..., hosts: _Optional[_Iterable[str]] = ...) -> None: ...

class InstallChainRequest(_message.Message):
    __slots__ = ("chain", "classifier", "hops", "symmetric")
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIER_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    SYMMETRIC_FIELD_NUMBER: _ClassVar[int]
    chain: str
    classifier: Classifier
    hops: _containers.RepeatedCompositeFieldContainer[ChainHop]
    symmetric: bool
    def __init__(self, chain: _Optional[str] = ..., classifier: _Optional[_Union[Classifier, _Mapping]] = ..., hops: _Optional[_Iterable[_Union[ChainHop, _Mapping]]] = ..., symmetric: _Optional[bool] = ...) -> None: ...

class UpdateChainRequest(_message.Message):
    __slots__ = ("chain", "hops")
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    chain: str
    hops: _containers.RepeatedCompositeFieldContainer[ChainHop]
    def __init__(self, chain: _Optional[str] = ..., hops: _Optional[_Iterable[_Union[ChainHop, _Mapping]]] = ...) -> None: ...

class InstallChainResponse(_message.Message):
    __slots__ = ("chain", "cookie", "classifier", "hops", "symmetric")
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    COOKIE_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIER_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    SYMMETRIC_FIELD_NUMBER: _ClassVar[int]
    chain: str
    cookie: int
    classifier: Classifier
    hops: _containers.RepeatedCompositeFieldContainer[ChainHop]
    symmetric: bool
    def __init__(self, chain: _Optional[str] = ..., cookie: _Optional[int] = ..., classifier: _Optional[_Union[Classifier, _Mapping]] = ..., hops: _Optional[_Iterable[_Union[ChainHop, _Mapping]]] = ..., symmetric: _Optional[bool] = ...) -> None: ...

class ListInstalledChainsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListInstalledChainsResponse(_message.Message):
    __slots__ = ("chains",)
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    chains: _containers.RepeatedCompositeFieldContainer[InstallChainResponse]
    def __init__(self, chains: _Optional[_Iterable[_Union[InstallChainResponse, _Mapping]]] = ...) -> None: ...

class RemoveChainRequest(_message.Message):
    __slots__ = ("chain",)
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    chain: str
    def __init__(self, chain: _Optional[str] = ...) -> None: ...

class RemoveChainResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AttachEndpointRequest(_message.Message):
    __slots__ = ("name", "ip", "mac", "switch", "port", "node")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    ip: str
    mac: str
    switch: str
    port: int
    node: str
    def __init__(self, name: _Optional[str] = ..., ip: _Optional[str] = ..., mac: _Optional[str] = ..., switch: _Optional[str] = ..., port: _Optional[int] = ..., node: _Optional[str] = ...) -> None: ...

class AttachedEndpoint(_message.Message):
    __slots__ = ("name", "ip", "mac", "switch", "port", "node")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    ip: str
    mac: str
    switch: str
    port: int
    node: str
    def __init__(self, name: _Optional[str] = ..., ip: _Optional[str] = ..., mac: _Optional[str] = ..., switch: _Optional[str] = ..., port: _Optional[int] = ..., node: _Optional[str] = ...) -> None: ...

class DetachEndpointRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DetachEndpointResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListEndpointsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListEndpointsResponse(_message.Message):
    __slots__ = ("endpoints",)
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[AttachedEndpoint]
    def __init__(self, endpoints: _Optional[_Iterable[_Union[AttachedEndpoint, _Mapping]]] = ...) -> None: ...

class PolicyPortRange(_message.Message):
    __slots__ = ("protocol", "first", "last")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    protocol: _common_pb2.Protocol
    first: int
    last: int
    def __init__(self, protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class PolicyAddressRule(_message.Message):
    __slots__ = ("policy", "ingress", "selected", "any_peer", "peers", "ports")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    INGRESS_FIELD_NUMBER: _ClassVar[int]
    SELECTED_FIELD_NUMBER: _ClassVar[int]
    ANY_PEER_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    policy: str
    ingress: bool
    selected: _containers.RepeatedScalarFieldContainer[str]
    any_peer: bool
    peers: _containers.RepeatedScalarFieldContainer[str]
    ports: _containers.RepeatedCompositeFieldContainer[PolicyPortRange]
    def __init__(self, policy: _Optional[str] = ..., ingress: _Optional[bool] = ..., selected: _Optional[_Iterable[str]] = ..., any_peer: _Optional[bool] = ..., peers: _Optional[_Iterable[str]] = ..., ports: _Optional[_Iterable[_Union[PolicyPortRange, _Mapping]]] = ...) -> None: ...

class NetworkPolicies(_message.Message):
    __slots__ = ("isolated_ingress", "isolated_egress", "rules")
    ISOLATED_INGRESS_FIELD_NUMBER: _ClassVar[int]
    ISOLATED_EGRESS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    isolated_ingress: _containers.RepeatedScalarFieldContainer[str]
    isolated_egress: _containers.RepeatedScalarFieldContainer[str]
    rules: _containers.RepeatedCompositeFieldContainer[PolicyAddressRule]
    def __init__(self, isolated_ingress: _Optional[_Iterable[str]] = ..., isolated_egress: _Optional[_Iterable[str]] = ..., rules: _Optional[_Iterable[_Union[PolicyAddressRule, _Mapping]]] = ...) -> None: ...

class SetNetworkPoliciesRequest(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: NetworkPolicies
    def __init__(self, policies: _Optional[_Union[NetworkPolicies, _Mapping]] = ...) -> None: ...

class SetNetworkPoliciesResponse(_message.Message):
    __slots__ = ("flows",)
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    flows: int
    def __init__(self, flows: _Optional[int] = ...) -> None: ...

class GetNetworkPoliciesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TracePolicyRequest(_message.Message):
    __slots__ = ("source", "destination", "port", "protocol", "source_port")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PORT_FIELD_NUMBER: _ClassVar[int]
    source: str
    destination: str
    port: int
    protocol: _common_pb2.Protocol
    source_port: int
    def __init__(self, source: _Optional[str] = ..., destination: _Optional[str] = ..., port: _Optional[int] = ..., protocol: _Optional[_Union[_common_pb2.Protocol, str]] = ..., source_port: _Optional[int] = ...) -> None: ...

class TraceStep(_message.Message):
    __slots__ = ("switch", "table", "name", "flow", "actions", "policy")
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    switch: str
    table: int
    name: str
    flow: str
    actions: str
    policy: str
    def __init__(self, switch: _Optional[str] = ..., table: _Optional[int] = ..., name: _Optional[str] = ..., flow: _Optional[str] = ..., actions: _Optional[str] = ..., policy: _Optional[str] = ...) -> None: ...

class TracePolicyResponse(_message.Message):
    __slots__ = ("switch", "steps", "verdict", "decided_by", "policy", "raw")
    SWITCH_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    switch: str
    steps: _containers.RepeatedCompositeFieldContainer[TraceStep]
    verdict: str
    decided_by: str
    policy: str
    raw: str
    def __init__(self, switch: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[TraceStep, _Mapping]]] = ..., verdict: _Optional[str] = ..., decided_by: _Optional[str] = ..., policy: _Optional[str] = ..., raw: _Optional[str] = ...) -> None: ...
