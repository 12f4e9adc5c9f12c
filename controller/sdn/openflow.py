"""Rule descriptions (pipeline.ruleset: Flow, Group, Meter) as OpenFlow 1.3 wire messages, packed by hand (pure).

os-ken builds a message from generic objects and serializes it field by field, about 140 us a
FlowMod here; packing the few fields and actions Strata uses with struct takes a fraction of
that, which is what lets the controller install rules at the rate of `ovs-ofctl add-flows`.
tests/unit/test_openflow_encoding.py checks every message against os-ken's own encoding of the
same rule, byte for byte (and the Nicira actions against what Open vSwitch parses).
"""

from __future__ import annotations

import socket
import struct
from functools import lru_cache

from .pipeline.ruleset import IN_PORT, Ct, Flow, Group, Meter

OFP_VERSION = 0x04
OFPT_FLOW_MOD, OFPT_GROUP_MOD, OFPT_METER_MOD = 14, 15, 29
OFPFC_ADD, OFPFC_DELETE_STRICT = 0, 4
OFPGC_ADD, OFPGC_MODIFY, OFPGC_DELETE = 0, 1, 2
OFPGT_SELECT, OFPGT_FF = 1, 3
OFP_NO_BUFFER = OFPP_ANY = OFPG_ANY = 0xFFFF_FFFF
OFPP_CONTROLLER, OFPP_IN_PORT = 0xFFFF_FFFD, 0xFFFF_FFF8
OFPCML_NO_BUFFER, OFPCML_MAX = 0xFFFF, 0xFFE5  # max_len only matters towards the controller
OFPIT_GOTO_TABLE, OFPIT_APPLY_ACTIONS, OFPIT_METER = 1, 4, 6
OFPMC_ADD, OFPMC_MODIFY, OFPMC_DELETE = 0, 1, 2
OFPMF_KBPS, OFPMF_BURST, OFPMF_STATS = 1, 4, 8
OFPMBT_DROP = 1
OFPM_ALL = 0xFFFF_FFFF
OFPAT_OUTPUT, OFPAT_GROUP, OFPAT_SET_FIELD, OFPAT_EXPERIMENTER = 0, 22, 25, 0xFFFF
NX_VENDOR = 0x2320
NXAST_RESUBMIT_TABLE, NXAST_CONJUNCTION, NXAST_CT, NXAST_NAT = 14, 34, 35, 36
NX_CT_F_COMMIT = 1
NX_NAT_F_SRC, NX_NAT_F_DST = 1, 2
NX_NAT_RANGE_IPV4_MIN, NX_NAT_RANGE_IPV4_MAX, NX_NAT_RANGE_PROTO_MIN, NX_NAT_RANGE_PROTO_MAX = 1, 2, 16, 32
NX_IN_PORT = 0xFFF8  # resubmit's in_port: OpenFlow 1.0's 16-bit "the packet's own"
ALL_ONES = 0xFFFF_FFFF_FFFF_FFFF


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _ipv4(text: str) -> bytes:
    return socket.inet_aton(text)


def _u(size: int):
    fmt = {1: "!B", 2: "!H", 4: "!I"}[size]
    return lambda value: struct.pack(fmt, value)


# field -> (OXM class, field number, value length, packer); the order os-ken serializes them in
FIELDS = {
    "reg0": (0x0001, 0, 4, _u(4)),
    "reg1": (0x0001, 1, 4, _u(4)),
    "reg2": (0x0001, 2, 4, _u(4)),
    "reg3": (0x0001, 3, 4, _u(4)),
    "conj_id": (0x0001, 37, 4, _u(4)),
    "ct_state": (0x0001, 105, 4, _u(4)),
    "ct_mark": (0x0001, 107, 4, _u(4)),
    "in_port": (0x8000, 0, 4, _u(4)),
    "eth_dst": (0x8000, 3, 6, _mac),
    "eth_src": (0x8000, 4, 6, _mac),
    "eth_type": (0x8000, 5, 2, _u(2)),
    "ip_proto": (0x8000, 10, 1, _u(1)),
    "ipv4_src": (0x8000, 11, 4, _ipv4),
    "ipv4_dst": (0x8000, 12, 4, _ipv4),
    "tcp_src": (0x8000, 13, 2, _u(2)),
    "tcp_dst": (0x8000, 14, 2, _u(2)),
    "udp_src": (0x8000, 15, 2, _u(2)),
    "udp_dst": (0x8000, 16, 2, _u(2)),
}
ORDER = {name: k for k, name in enumerate(FIELDS)}


def _pad8(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def oxm(name: str, value) -> bytes:
    """One OXM TLV: the value, or (value, mask)."""
    oxm_class, field, length, pack = FIELDS[name]
    if isinstance(value, tuple):
        return struct.pack("!I", (oxm_class << 16) | (field << 9) | (1 << 8) | (2 * length)) + pack(value[0]) + \
            pack(value[1])
    return struct.pack("!I", (oxm_class << 16) | (field << 9) | length) + pack(value)


def match(fields: tuple[tuple[str, object], ...]) -> bytes:
    body = b"".join(oxm(name, value) for name, value in sorted(fields, key=lambda f: ORDER[f[0]]))
    return _pad8(struct.pack("!HH", 1, 4 + len(body)) + body)  # OFPMT_OXM; length without the padding


def _nx(subtype: int, body: bytes) -> bytes:
    """A Nicira experimenter action, padded to 8 bytes."""
    data = struct.pack("!HHIH", OFPAT_EXPERIMENTER, 0, NX_VENDOR, subtype) + body
    data = _pad8(data)
    return data[:2] + struct.pack("!H", len(data)) + data[4:]


def _nat(nat) -> bytes:
    if nat is None:  # a lookup: apply the translation of a connection already committed
        return _nx(NXAST_NAT, struct.pack("!2xHH", 0, 0))
    present = NX_NAT_RANGE_IPV4_MIN | NX_NAT_RANGE_IPV4_MAX
    ranges = _ipv4(nat.ip) * 2
    if nat.port is not None:
        present |= NX_NAT_RANGE_PROTO_MIN | NX_NAT_RANGE_PROTO_MAX
        ranges += struct.pack("!HH", nat.port, nat.port)
    flags = NX_NAT_F_DST if nat.kind == "dst" else NX_NAT_F_SRC
    return _nx(NXAST_NAT, struct.pack("!2xHH", flags, present) + ranges)


def _ct(ct: Ct) -> bytes:
    inner = b""
    if ct.mark is not None:  # exec(set_field:mark->ct_mark)
        inner += _set_field("ct_mark", ct.mark)
    if ct.translate:
        inner += _nat(ct.nat)
    head = struct.pack("!HIHB3xH", NX_CT_F_COMMIT if ct.commit else 0, 0, ct.zone, ct.table, 0)
    data = struct.pack("!HHIH", OFPAT_EXPERIMENTER, 0, NX_VENDOR, NXAST_CT) + head
    return data[:2] + struct.pack("!H", len(data) + len(inner)) + data[4:] + inner


def _set_field(name: str, value) -> bytes:
    field = oxm(name, value)
    data = _pad8(struct.pack("!HH", OFPAT_SET_FIELD, 0) + field)
    return data[:2] + struct.pack("!H", len(data)) + data[4:]


def action(item: tuple) -> bytes:
    kind = item[0]
    if kind == "output":
        port = OFPP_IN_PORT if item[1] == IN_PORT else item[1]
        return struct.pack("!HHIH6x", OFPAT_OUTPUT, 16, port, OFPCML_MAX)
    if kind == "controller":
        return struct.pack("!HHIH6x", OFPAT_OUTPUT, 16, OFPP_CONTROLLER, OFPCML_NO_BUFFER)
    if kind == "set_field":
        return _set_field(item[1], item[2])
    if kind == "group":
        return struct.pack("!HHI", OFPAT_GROUP, 8, item[1])
    if kind == "resubmit":
        return _nx(NXAST_RESUBMIT_TABLE, struct.pack("!HB3x", NX_IN_PORT, item[1]))
    if kind == "ct":
        return _ct(item[1])
    if kind == "conjunction":  # ("conjunction", id, clause k of n): clauses are numbered from 0 on the wire
        return _nx(NXAST_CONJUNCTION, struct.pack("!BBI", item[2] - 1, item[3], item[1]))
    raise ValueError(f"unknown action {item!r}")


def _instructions(flow: Flow) -> bytes:
    out = b""
    if flow.meter is not None:  # first: Open vSwitch wants instructions in the specification's order
        out += struct.pack("!HHI", OFPIT_METER, 8, flow.meter)
    if flow.actions:
        actions = b"".join(action(a) for a in flow.actions)
        out += struct.pack("!HH4x", OFPIT_APPLY_ACTIONS, 8 + len(actions)) + actions
    if flow.goto is not None:
        out += struct.pack("!HHB3x", OFPIT_GOTO_TABLE, 8, flow.goto)
    return out


def _header(kind: int, body: bytes, xid: int) -> bytes:
    return struct.pack("!BBHI", OFP_VERSION, kind, 8 + len(body), xid) + body


@lru_cache(maxsize=65536)
def _flow_add_body(flow: Flow) -> bytes:
    """Everything after the header of the FlowMod that adds `flow` (the same rule packs the same)."""
    # out_port and out_group are ignored by ADD; 0, as os-ken leaves them
    return struct.pack("!QQBBHHHIIIH2x", flow.cookie, 0, flow.table, OFPFC_ADD, 0, 0, flow.priority,
                       OFP_NO_BUFFER, 0, 0, 0) + match(flow.match) + _instructions(flow)


def flow_add(flow: Flow, xid: int) -> bytes:
    return _header(OFPT_FLOW_MOD, _flow_add_body(flow), xid)


def flow_delete_strict(flow: Flow, xid: int) -> bytes:
    body = struct.pack("!QQBBHHHIIIH2x", flow.cookie, ALL_ONES, flow.table, OFPFC_DELETE_STRICT, 0, 0,
                       flow.priority, OFP_NO_BUFFER, OFPP_ANY, OFPG_ANY, 0) + match(flow.match)
    return _header(OFPT_FLOW_MOD, body, xid)


def group_mod(group: Group, command: int, xid: int) -> bytes:
    buckets = b""
    fast_failover = group.kind == "ff"
    for k, (weight, actions) in enumerate(group.buckets):
        packed = b"".join(action(a) for a in actions)
        watch = group.watch_ports[k] if fast_failover else OFPP_ANY
        buckets += struct.pack("!HHII4x", 16 + len(packed), weight, watch, OFPG_ANY) + packed
    kind = OFPGT_FF if fast_failover else OFPGT_SELECT
    return _header(OFPT_GROUP_MOD, struct.pack("!HBxI", command, kind, group.group_id) + buckets, xid)


def group_delete(group: Group, xid: int) -> bytes:
    kind = OFPGT_FF if group.kind == "ff" else OFPGT_SELECT
    return _header(OFPT_GROUP_MOD, struct.pack("!HBxI", OFPGC_DELETE, kind, group.group_id), xid)


def meter_mod(meter: Meter, command: int, xid: int) -> bytes:
    """A meter in kbit/s with one drop band (and its burst), counting what it drops."""
    band = struct.pack("!HHII4x", OFPMBT_DROP, 16, meter.rate_kbps, meter.burst_kbits)
    flags = OFPMF_KBPS | OFPMF_BURST | OFPMF_STATS
    return _header(OFPT_METER_MOD, struct.pack("!HHI", command, flags, meter.meter_id) + band, xid)


def meter_delete(meter_id: int, xid: int) -> bytes:
    """Deletes one meter, or every meter with OFPM_ALL (the flows using them go too)."""
    return _header(OFPT_METER_MOD, struct.pack("!HHI", OFPMC_DELETE, 0, meter_id), xid)
