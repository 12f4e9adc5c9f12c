"""A fake OpenFlow 1.3 switch fed the real bytes the os-ken app sends (after faucet's FakeOFTable).

`FakeDatapath` stands in for os-ken's Datapath: whatever the app sends (its hand-packed batches
and os-ken messages alike) is parsed back with os-ken's own parser and applied with OpenFlow's
semantics to a table of pipeline.ruleset Flow / Group: ADD replaces the same (table, priority, match),
DELETE_STRICT removes that entry when its cookie matches under the mask, DELETE removes every
entry whose cookie matches under the mask, group ADD/MODIFY/DELETE (ALL included). Barriers are
answered at once; packet-outs are kept. So the unit tests check the encoding, the cookie masks,
the wipe on reconnect and the ARP replies the way a switch would see them.
"""

from __future__ import annotations

import struct
from types import SimpleNamespace

from os_ken.ofproto import ofproto_parser
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.sdn.pipeline.ruleset import IN_PORT, Ct, Flow, Group, Meter, Nat, RuleSet


def _action(a) -> tuple:
    if isinstance(a, parser.OFPActionOutput):
        if a.port == ofp.OFPP_CONTROLLER:
            return ("controller",)
        return ("output", IN_PORT if a.port == ofp.OFPP_IN_PORT else a.port)
    if isinstance(a, parser.OFPActionSetField):
        return ("set_field", a.key, a.value)
    if isinstance(a, parser.OFPActionGroup):
        return ("group", a.group_id)
    if isinstance(a, parser.NXActionResubmitTable):
        return ("resubmit", a.table_id)
    if isinstance(a, parser.NXActionCT):
        nat, mark, translate = None, None, False
        for inner in a.actions:
            if isinstance(inner, parser.NXActionNAT):
                translate = True
            if isinstance(inner, parser.NXActionNAT) and inner.flags:
                kind = "dst" if inner.flags & 2 else "src"
                nat = Nat(kind, inner.range_ipv4_min, inner.range_proto_min)
            elif isinstance(inner, parser.OFPActionSetField) and inner.key == "ct_mark":
                mark = inner.value
        return ("ct", Ct(a.zone_ofs_nbits, a.recirc_table, commit=bool(a.flags & 1), nat=nat, mark=mark,
                         translate=translate))
    raise AssertionError(f"an action the fake switch does not know: {a}")


def _flow(dpid: int, msg) -> Flow:
    actions, goto, meter = (), None, None
    for instruction in msg.instructions:
        if isinstance(instruction, parser.OFPInstructionActions):
            actions = tuple(_action(a) for a in instruction.actions)
        elif isinstance(instruction, parser.OFPInstructionGotoTable):
            goto = instruction.table_id
        elif isinstance(instruction, parser.OFPInstructionMeter):
            meter = instruction.meter_id
    return Flow(dpid, msg.table_id, msg.priority, tuple(sorted(msg.match.items())), actions, goto, msg.cookie, meter)


def _parse_meter_mod(buf: bytes) -> SimpleNamespace:
    command, flags, meter_id = struct.unpack_from("!HHI", buf, 8)
    bands, offset = [], 16
    while offset < len(buf):
        kind, length, rate, burst = struct.unpack_from("!HHII", buf, offset)
        bands.append((kind, rate, burst))
        offset += length
    return SimpleNamespace(command=command, flags=flags, meter_id=meter_id, bands=bands)


def _parse_group_mod(buf: bytes) -> SimpleNamespace:
    command, kind, group_id = struct.unpack_from("!HBxI", buf, 8)
    buckets, offset = [], 16
    while offset < len(buf):
        bucket = parser.OFPBucket.parser(buf, offset)
        buckets.append(bucket)
        offset += bucket.len
    return SimpleNamespace(command=command, type=kind, group_id=group_id, buckets=buckets)


def _parse_packet_out(buf: bytes) -> SimpleNamespace:
    _, in_port, actions_len = struct.unpack_from("!IIH6x", buf, 8)
    actions, offset = [], 24
    while offset < 24 + actions_len:
        action = parser.OFPAction.parser(buf, offset)
        actions.append(action)
        offset += action.len
    return SimpleNamespace(in_port=in_port, actions=actions, data=bytes(buf[24 + actions_len:]))


class FakeDatapath:
    def __init__(self, dpid: int):
        self.id = dpid
        self.ofproto, self.ofproto_parser = ofp, parser
        self.xid = 0
        self.flows: dict[tuple, Flow] = {}
        self.groups: dict[tuple, Group] = {}
        self.meters: dict[tuple, Meter] = {}
        self.errors: list[str] = []
        self.packet_outs: list = []
        self.app = None  # the app to answer barriers to

    # -- what os-ken's Datapath offers the app --------------------------------------------------
    def set_xid(self, msg) -> int:
        self.xid = (self.xid + 1) & 0xFFFF_FFFF
        msg.set_xid(self.xid)
        return self.xid

    def send_msg(self, msg) -> None:
        if msg.xid is None:
            self.set_xid(msg)
        msg.serialize()
        self.send(bytes(msg.buf))

    def send(self, data: bytes) -> None:
        offset = 0
        while offset < len(data):
            version, msg_type, length, xid = ofproto_parser.header(data[offset:offset + 8])
            buf = data[offset:offset + length]
            # os-ken parses what switches send: GroupMods, barrier requests and packet-outs by hand
            if msg_type == ofp.OFPT_GROUP_MOD:
                self._group_mod(_parse_group_mod(buf))
            elif msg_type == ofp.OFPT_METER_MOD:
                self._meter_mod(_parse_meter_mod(buf))
            elif msg_type == ofp.OFPT_BARRIER_REQUEST:
                reply = parser.OFPBarrierReply(self)
                reply.xid = xid
                if self.app is not None:
                    self.app._reply(reply, True)
            elif msg_type == ofp.OFPT_PACKET_OUT:
                self.packet_outs.append(_parse_packet_out(buf))
            else:
                self._receive(ofproto_parser.msg(self, version, msg_type, length, xid, buf))
            offset += length

    # -- the switch ---------------------------------------------------------------------------
    def rules(self) -> RuleSet:
        return RuleSet(dict(self.flows), dict(self.groups), dict(self.meters))

    def _receive(self, msg) -> None:
        if isinstance(msg, parser.OFPFlowMod):
            self._flow_mod(msg)
        else:
            raise AssertionError(f"a message the fake switch does not handle: {msg}")

    def _flow_mod(self, msg) -> None:
        if msg.command == ofp.OFPFC_ADD:
            flow = _flow(self.id, msg)
            missing = [a[1] for a in flow.actions if a[0] == "group" and (self.id, a[1]) not in self.groups]
            if missing:
                self.errors.append(f"OFPBAC_BAD_OUT_GROUP {missing}")
                return
            if flow.meter is not None and (self.id, flow.meter) not in self.meters:
                self.errors.append(f"OFPMMFC_UNKNOWN_METER {flow.meter}")
                return
            self.flows[flow.key] = flow
            return
        cookie_matches = lambda f: (f.cookie & msg.cookie_mask) == (msg.cookie & msg.cookie_mask)  # noqa: E731
        if msg.command == ofp.OFPFC_DELETE_STRICT:
            key = (self.id, msg.table_id, msg.priority, tuple(sorted(msg.match.items())))
            if key in self.flows and cookie_matches(self.flows[key]):
                del self.flows[key]
        elif msg.command == ofp.OFPFC_DELETE:
            assert not list(msg.match.items()), "the app deletes by cookie only"
            for key in [k for k, f in self.flows.items()
                        if cookie_matches(f) and msg.table_id in (ofp.OFPTT_ALL, f.table)]:
                del self.flows[key]
        else:
            raise AssertionError(f"flow mod command {msg.command}")

    def _meter_mod(self, msg) -> None:
        if msg.command == ofp.OFPMC_DELETE:
            gone = set(self.meters) if msg.meter_id == ofp.OFPM_ALL else {(self.id, msg.meter_id)}
            for key in gone:
                self.meters.pop(key, None)
            # as Open vSwitch does: the flows using a deleted meter go with it
            for key in [k for k, f in self.flows.items() if f.meter is not None and (self.id, f.meter) in gone]:
                del self.flows[key]
            return
        assert msg.flags & ofp.OFPMF_KBPS and len(msg.bands) == 1 and msg.bands[0][0] == ofp.OFPMBT_DROP
        meter = Meter(self.id, msg.meter_id, msg.bands[0][1], msg.bands[0][2], 0)
        exists = meter.key in self.meters
        if msg.command == ofp.OFPMC_ADD and exists:
            self.errors.append(f"OFPMMFC_METER_EXISTS {msg.meter_id}")
        elif msg.command == ofp.OFPMC_MODIFY and not exists:
            self.errors.append(f"OFPMMFC_UNKNOWN_METER {msg.meter_id}")
        else:
            self.meters[meter.key] = meter

    def _group_mod(self, msg) -> None:
        if msg.command == ofp.OFPGC_DELETE:
            if msg.group_id == ofp.OFPG_ALL:
                self.groups.clear()
            else:
                self.groups.pop((self.id, msg.group_id), None)
            return
        ff = msg.type == ofp.OFPGT_FF
        group = Group(self.id, msg.group_id, tuple((b.weight, tuple(_action(a) for a in b.actions)) for b in msg.buckets),
                      0, "ff" if ff else "select", tuple(b.watch_port for b in msg.buckets) if ff else ())
        exists = group.key in self.groups
        if msg.command == ofp.OFPGC_ADD and exists:
            self.errors.append(f"OFPGMFC_GROUP_EXISTS {msg.group_id}")
        elif msg.command == ofp.OFPGC_MODIFY and not exists:
            self.errors.append(f"OFPGMFC_UNKNOWN_GROUP {msg.group_id}")
        else:
            self.groups[group.key] = group
