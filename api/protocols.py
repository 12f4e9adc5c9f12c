"""Transport protocols: the one mapping between the contracts' enum (common.Protocol), the names the
domain code uses and the IP protocol numbers the switches match."""

from __future__ import annotations

from strata.v1 import common_pb2

from component_base.errors import InvalidArgument

ANY, TCP, UDP, ICMP = "", "tcp", "udp", "icmp"
SERVICE_PROTOCOLS = (TCP, UDP)             # what a service's VIP carries
CHAIN_PROTOCOLS = (ANY, TCP, UDP, ICMP)    # what a chain's classifier can match ("" = any)
IP_NUMBERS = {ICMP: 1, TCP: 6, UDP: 17}    # IANA protocol numbers (the ip_proto match field)

_BY_ENUM = {common_pb2.PROTOCOL_UNSPECIFIED: ANY, common_pb2.PROTOCOL_TCP: TCP,
            common_pb2.PROTOCOL_UDP: UDP, common_pb2.PROTOCOL_ICMP: ICMP}
_BY_NAME = {name: value for value, name in _BY_ENUM.items()}


def protocol_name(value: int, allowed: tuple[str, ...] = SERVICE_PROTOCOLS) -> str:
    """The name of a common.Protocol value; InvalidArgument if it is not one of `allowed`."""
    name = _BY_ENUM.get(value)
    if name is None or name not in allowed:
        shown = " or ".join(f"PROTOCOL_{n.upper() or 'UNSPECIFIED'}" for n in allowed)
        raise InvalidArgument(f"protocol must be {shown}, got {common_pb2.Protocol.Name(value) if name is not None else value}")
    return name


def protocol_enum(name: str) -> int:
    """The common.Protocol value of a protocol name ("" for any)."""
    return _BY_NAME[name]


def check_protocol(name: str, allowed: tuple[str, ...] = SERVICE_PROTOCOLS) -> str:
    """`name` if it is one of `allowed`; InvalidArgument otherwise."""
    if name not in allowed:
        raise InvalidArgument(f"protocol must be {' or '.join(n or 'any' for n in allowed)}, got {name!r}")
    return name
