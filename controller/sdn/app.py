"""The os-ken application: OpenFlow 1.3 events to SdnCore calls, and rule changes to FlowMods/GroupMods.

Thin by design: every decision is in core.py and its parts, every rule in pipeline/. This module
only translates.
"""

from __future__ import annotations

import logging
import threading

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib.packet import arp, ethernet, ether_types, packet
from os_ken.ofproto import ofproto_v1_3
from os_ken.topology import event as topo_event

from . import openflow
from .core import SdnCore
from .pipeline.ruleset import RuleDiff
from .pipeline.tables import (COOKIE_BASELINE, COOKIE_CHAIN_BASE, COOKIE_FAMILY_MASK, COOKIE_PATH_BASE,
                              COOKIE_POLICY_BASE, COOKIE_SERVICE_BASE)

log = logging.getLogger("strata.sdn.app")
BATCH_BYTES = 64 * 1024


class StrataSdnApp(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, core: SdnCore, **kwargs):
        super().__init__(*args, **kwargs)
        self.core = core
        self.datapaths: dict[int, object] = {}  # dpid -> the connection in use
        self._sessions: dict[int, list] = {}     # dpid -> its live connections, the one in use last
        self._pending: dict[int, tuple[threading.Event, list]] = {}  # xid -> (done, replies)
        self._pending_lock = threading.Lock()
        self._xid_lock = threading.Lock()  # gRPC threads and event handlers both number messages
        core.southbound = self

    # -- southbound: what core.py calls ------------------------------------------------------
    def clear(self, dpid: int) -> None:
        dp = self.datapaths.get(dpid)
        if dp is not None:
            self._clear(dp)

    def apply(self, dpid: int, change: RuleDiff):
        dp = self.datapaths.get(dpid)
        if dp is None:
            return lambda timeout: False
        packed = [lambda x, g=g: openflow.group_mod(g, openflow.OFPGC_ADD, x) for g in change.add_groups]
        packed += [lambda x, g=g: openflow.group_mod(g, openflow.OFPGC_MODIFY, x) for g in change.modify_groups]
        packed += [lambda x, m=m: openflow.meter_mod(m, openflow.OFPMC_ADD, x) for m in change.add_meters]
        packed += [lambda x, m=m: openflow.meter_mod(m, openflow.OFPMC_MODIFY, x) for m in change.modify_meters]
        packed += [lambda x, f=f: openflow.flow_delete_strict(f, x) for f in change.delete_flows]
        packed += [lambda x, f=f: openflow.flow_add(f, x) for f in change.add_flows]
        packed += [lambda x, g=g: openflow.group_delete(g, x) for g in change.delete_groups]
        # last: deleting a meter deletes the flows that still use it
        packed += [lambda x, m=m: openflow.meter_delete(m.meter_id, x) for m in change.delete_meters]
        self._send_batch(dp, packed)
        return self._barrier(dp)

    def _next_xid(self, dp) -> int:
        """The datapath's own transaction counter (os-ken's set_xid), shared with os-ken's messages."""
        with self._xid_lock:
            dp.xid = (dp.xid + 1) & 0xFFFF_FFFF
            return dp.xid

    def _send_batch(self, dp, packed) -> None:
        """Pack (openflow.py) and send in large writes: one queue entry and syscall per ~64 KiB."""
        buf = bytearray()
        for pack in packed:
            buf += pack(self._next_xid(dp))
            if len(buf) >= BATCH_BYTES:
                dp.send(bytes(buf))
                buf.clear()
        if buf:
            dp.send(bytes(buf))

    # -- request/reply plumbing (barriers, statistics) --------------------------------------------
    def _expect(self, dp, msg) -> tuple[threading.Event, list]:
        with self._xid_lock:
            dp.set_xid(msg)
        entry = (threading.Event(), [])
        with self._pending_lock:
            self._pending[msg.xid] = entry
        dp.send_msg(msg)
        return entry

    def _barrier(self, dp):
        done, _ = self._expect(dp, dp.ofproto_parser.OFPBarrierRequest(dp))
        return done.wait

    def _reply(self, msg, last: bool) -> None:
        with self._pending_lock:
            entry = self._pending.get(msg.xid)
            if entry is not None and last:
                del self._pending[msg.xid]
        if entry is not None:
            entry[1].append(msg)
            if last:
                entry[0].set()

    def _stats(self, dp, request, timeout: float) -> list:
        done, replies = self._expect(dp, request)
        if not done.wait(timeout):
            raise TimeoutError(f"switch {self.core.view.switch_name(dp.id)} did not answer a statistics request")
        return [body for reply in replies for body in reply.body]

    def read_switch(self, dpid: int, timeout: float = 30.0, *, cookie: int | None = None,
                    group: int | None = None) -> dict:
        """Flows (with counters), group descriptions and group counters, as the switch reports them;
        with `cookie`, only that owner's flows and (with `group`) its group: the switch filters, so
        one service is read quickly however many others are installed."""
        dp = self._datapath(dpid)
        ofp, parser = dp.ofproto, dp.ofproto_parser
        flows = self._flow_stats(dp, cookie or 0, 0xFFFF_FFFF_FFFF_FFFF if cookie is not None else 0, timeout)
        # groups: all of them, filtered here (asking for one the switch lacks is an error, not an
        # empty answer)
        descs = [d for d in self._stats(dp, parser.OFPGroupDescStatsRequest(dp, 0), timeout)
                 if group is None or d.group_id == group]
        counters = [c for c in self._stats(dp, parser.OFPGroupStatsRequest(dp, 0, ofp.OFPG_ALL), timeout)
                    if group is None or c.group_id == group]
        return {"flows": flows, "group_descs": descs, "group_stats": counters}

    def read_services(self, dpid: int, timeout: float = 30.0) -> dict:
        """Every service rule's counters (the switch filters by the services' cookie family) and
        every meter's: one request each, however many services there are."""
        dp = self._datapath(dpid)
        flows = self._flow_stats(dp, COOKIE_SERVICE_BASE, COOKIE_FAMILY_MASK, timeout)
        meters = self._stats(dp, dp.ofproto_parser.OFPMeterStatsRequest(dp, 0, dp.ofproto.OFPM_ALL), timeout)
        return {"flows": flows, "meters": meters}

    def _datapath(self, dpid: int):
        dp = self.datapaths.get(dpid)
        if dp is None:
            raise KeyError(dpid)
        return dp

    def _flow_stats(self, dp, cookie: int, cookie_mask: int, timeout: float) -> list:
        """Every table's flows whose cookie matches under the mask (the switch filters)."""
        ofp, parser = dp.ofproto, dp.ofproto_parser
        return self._stats(dp, parser.OFPFlowStatsRequest(
            dp, table_id=ofp.OFPTT_ALL, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
            cookie=cookie, cookie_mask=cookie_mask), timeout)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def _on_error(self, ev):
        """A switch refused a message (the rule it carried is not there): say so, loudly."""
        msg = ev.msg
        log.error("switch %s refused message xid %d: error type %d code %d (%s)",
                  self.core.view.switch_name(msg.datapath.id), msg.xid, msg.type, msg.code, bytes(msg.data[:64]).hex())

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _on_barrier(self, ev):
        self._reply(ev.msg, True)

    @set_ev_cls([ofp_event.EventOFPFlowStatsReply, ofp_event.EventOFPGroupDescStatsReply,
                 ofp_event.EventOFPGroupStatsReply, ofp_event.EventOFPMeterStatsReply], MAIN_DISPATCHER)
    def _on_stats(self, ev):
        self._reply(ev.msg, not (ev.msg.flags & ev.msg.datapath.ofproto.OFPMPF_REPLY_MORE))

    # -- switch lifecycle ------------------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _on_state(self, ev):
        """A switch that reconnects while its old connection is being closed has two for a while,
        and under load their events come in any order (os-ken's queues do not keep it): the
        switch stays connected while any of its connections lives, on the one that came last."""
        dp = ev.datapath
        if dp.id is None:
            return
        sessions = self._sessions.setdefault(dp.id, [])
        if ev.state == MAIN_DISPATCHER:
            if dp.state == DEAD_DISPATCHER or dp in sessions:
                return  # closed before its MAIN came through: its DEAD follows
            sessions.append(dp)
            self._use(dp)
        elif ev.state == DEAD_DISPATCHER:
            if dp in sessions:
                sessions.remove(dp)
            if self.datapaths.get(dp.id) is not dp:
                return
            if sessions:  # its other connection takes over, from nothing
                self._use(sessions[-1])
                return
            del self.datapaths[dp.id]
            log.info("switch %s disconnected", self.core.view.switch_name(dp.id))
            self.core.switch_disconnected(dp.id)

    def _use(self, dp) -> None:
        self.datapaths[dp.id] = dp
        self._clear(dp)
        log.info("switch %s connected", self.core.view.switch_name(dp.id))
        self.core.switch_connected(dp.id)

    def _clear(self, dp) -> None:
        """Remove every Strata rule and group (a resync starts from nothing; LLDP rules stay)."""
        ofp, parser = dp.ofproto, dp.ofproto_parser
        for family in (COOKIE_BASELINE, COOKIE_SERVICE_BASE, COOKIE_PATH_BASE, COOKIE_CHAIN_BASE, COOKIE_POLICY_BASE):
            mask = 0xFFFF_FFFF_FFFF_FFFF if family == COOKIE_BASELINE else COOKIE_FAMILY_MASK
            dp.send_msg(parser.OFPFlowMod(dp, cookie=family, cookie_mask=mask, table_id=ofp.OFPTT_ALL,
                                          command=ofp.OFPFC_DELETE, out_port=ofp.OFPP_ANY,
                                          out_group=ofp.OFPG_ANY, match=parser.OFPMatch()))
        dp.send_msg(parser.OFPGroupMod(dp, ofp.OFPGC_DELETE, ofp.OFPGT_SELECT, ofp.OFPG_ALL, []))
        self._send_batch(dp, [lambda x: openflow.meter_delete(openflow.OFPM_ALL, x)])

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _on_port_status(self, ev):
        msg = ev.msg
        ofp = msg.datapath.ofproto
        desc = msg.desc
        down = msg.reason == ofp.OFPPR_DELETE or bool(desc.state & ofp.OFPPS_LINK_DOWN) \
            or bool(desc.config & ofp.OFPPC_PORT_DOWN)
        self.core.port_changed(msg.datapath.id, desc.port_no, not down)

    @set_ev_cls(topo_event.EventLinkAdd)
    def _on_link_add(self, ev):
        self.core.link_discovered(ev.link.src.dpid, ev.link.src.port_no)

    @set_ev_cls(topo_event.EventLinkDelete)
    def _on_link_delete(self, ev):
        self.core.port_changed(ev.link.src.dpid, ev.link.src.port_no, False)

    # -- ARP: answered here, never flooded -----------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _on_packet_in(self, ev):
        msg = ev.msg
        dp = msg.datapath
        pkt = packet.Packet(msg.data)
        eth = pkt.get_protocol(ethernet.ethernet)
        if eth is None or eth.ethertype != ether_types.ETH_TYPE_ARP:
            return
        request = pkt.get_protocol(arp.arp)
        in_port = msg.match["in_port"]
        self.core.host_seen(request.src_mac, request.src_ip, dp.id, in_port)
        if request.opcode != arp.ARP_REQUEST:
            return
        mac = self.core.arp_answer(request.dst_ip)
        if mac is None:
            return
        reply = packet.Packet()
        reply.add_protocol(ethernet.ethernet(ethertype=ether_types.ETH_TYPE_ARP, dst=request.src_mac, src=mac))
        reply.add_protocol(arp.arp(opcode=arp.ARP_REPLY, src_mac=mac, src_ip=request.dst_ip,
                                   dst_mac=request.src_mac, dst_ip=request.src_ip))
        reply.serialize()
        ofp, parser = dp.ofproto, dp.ofproto_parser
        dp.send_msg(parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                                        actions=[parser.OFPActionOutput(in_port)], data=reply.data))
