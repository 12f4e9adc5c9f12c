"""The hand-packed OpenFlow messages are exactly os-ken's encoding of the same rules (an independent
implementation), and Open vSwitch's own parser reads them as the rules mean."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from os_ken.ofproto import nicira_ext
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.sdn import openflow
from controller.sdn.network import POD, HostInfo, NetworkView
from api.classifier import Classifier
from api.network_policy import EGRESS, INGRESS, AddressRule, PortRange, ResolvedPolicies
from controller.sdn.model import Chain, ReservedPath, ServiceEndpoint, ServiceRoute
from controller.sdn.pipeline.desired import desired_rules
from controller.sdn.pipeline.ruleset import IN_PORT, Ct
from controller.sdn.pipeline.tables import Table, connection_mark
from flow_table_sim import declared

TOPO = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s1")], {"c1": "s1", "w1": "s2", "w2": "s3", "c3": "s3"})


# -- the same rules through os-ken's own message classes (the reference) -------------------------

def osken_actions(actions):
    out = []
    for action in actions:
        kind = action[0]
        if kind == "output":
            out.append(parser.OFPActionOutput(ofp.OFPP_IN_PORT if action[1] == IN_PORT else action[1]))
        elif kind == "resubmit":
            out.append(parser.NXActionResubmitTable(in_port=openflow.NX_IN_PORT, table_id=action[1]))
        elif kind == "ct":
            out.append(osken_ct(action[1]))
        elif kind == "set_field":
            out.append(parser.OFPActionSetField(**{action[1]: action[2]}))
        elif kind == "group":
            out.append(parser.OFPActionGroup(action[1]))
        elif kind == "controller":
            out.append(parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER))
        elif kind == "conjunction":
            out.append(parser.NXActionConjunction(clause=action[2] - 1, n_clauses=action[3], id_=action[1]))
        else:
            raise ValueError(f"unknown action {action!r}")
    return out


def osken_ct(ct: Ct):
    nat = parser.NXActionNAT(flags=0)
    if ct.nat is not None:
        nat = parser.NXActionNAT(flags=openflow.NX_NAT_F_DST if ct.nat.kind == "dst" else openflow.NX_NAT_F_SRC,
                                 range_ipv4_min=ct.nat.ip, range_ipv4_max=ct.nat.ip,
                                 range_proto_min=ct.nat.port, range_proto_max=ct.nat.port)
    # nat last: os-ken pads NXActionNAT short, which misaligns an action after it
    inner = [parser.OFPActionSetField(ct_mark=ct.mark)] if ct.mark is not None else []
    if ct.translate:
        inner.append(nat)
    return parser.NXActionCT(flags=nicira_ext.NX_CT_F_COMMIT if ct.commit else 0, zone_src="",
                             zone_ofs_nbits=ct.zone, recirc_table=ct.table, alg=0, actions=inner)


def osken_flow_mod(dp, flow):
    instructions = [parser.OFPInstructionMeter(flow.meter)] if flow.meter is not None else []
    if flow.actions:
        instructions.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, osken_actions(flow.actions)))
    if flow.goto is not None:
        instructions.append(parser.OFPInstructionGotoTable(flow.goto))
    return parser.OFPFlowMod(dp, cookie=flow.cookie, table_id=flow.table, command=ofp.OFPFC_ADD,
                             priority=flow.priority, match=parser.OFPMatch(**dict(flow.match)),
                             instructions=instructions)


def osken_group_mod(dp, group, command):
    ff = group.kind == "ff"
    buckets = [parser.OFPBucket(weight=weight, watch_port=group.watch_ports[k] if ff else ofp.OFPP_ANY,
                                watch_group=ofp.OFPG_ANY, actions=osken_actions(actions))
               for k, (weight, actions) in enumerate(group.buckets)]
    return parser.OFPGroupMod(dp, command, ofp.OFPGT_FF if ff else ofp.OFPGT_SELECT, group.group_id, buckets)


class Datapath:
    ofproto, ofproto_parser, id = ofp, parser, 1


@pytest.fixture(scope="module")
def rules():
    view = NetworkView.from_declared({**TOPO, "control_ports": {"device": [50060, 51060]}})
    view.add_host(HostInfo("p1", "10.0.128.2", "02:00:0a:00:80:02", view.switch_dpid("s1"), 20, POD, node="c1"))
    web = ServiceRoute("web", "10.96.0.10", "tcp", 80, (ServiceEndpoint("w1", view.hosts["w1"].ip, 8080, 3),
                                                        ServiceEndpoint("w2", view.hosts["w2"].ip, 80, 1)), 5)
    dns = ServiceRoute("dns", "10.96.0.53", "udp", 53, (ServiceEndpoint("w2", view.hosts["w2"].ip, 5353, 1),), 6,
                       rate_limit_kbps=2500)
    path = ReservedPath(1, "c1", "c3", 10.0, tuple(view.path("c1", "c3")))
    guard = Chain("guard", Classifier(src_cidr="10.0.0.0/30", dst_cidr="10.96.0.10/32", protocol="tcp", dst_port=80),
                  (("w2", "c1"), ("c3",)), True, 1)
    pod = ("10.0.128.2/32",)
    policies = ResolvedPolicies(isolated_ingress=pod, isolated_egress=pod, rules=(
        AddressRule("shop/db", INGRESS, pod, ("10.0.0.0/30", "10.0.0.9/32"), (PortRange("tcp", 8000, 8003),)),
        AddressRule("shop/dns", EGRESS, pod, None, (PortRange("udp", 53, 53),))))
    return desired_rules(view, [web, dns], [path], chains=[guard], policies=policies)


def oskens(msg, xid=7) -> bytes:
    msg.xid = xid
    msg.serialize()
    return bytes(msg.buf)


def test_every_flow_and_group_packs_as_os_ken_packs_it(rules):
    dp = Datapath()
    kinds = set()
    for flow in rules.flows.values():
        kinds |= {a[0] for a in flow.actions}
        assert openflow.flow_add(flow, 7) == oskens(osken_flow_mod(dp, flow)), flow
        delete = parser.OFPFlowMod(dp, cookie=flow.cookie, cookie_mask=openflow.ALL_ONES, table_id=flow.table,
                                   command=ofp.OFPFC_DELETE_STRICT, priority=flow.priority, out_port=ofp.OFPP_ANY,
                                   out_group=ofp.OFPG_ANY, match=parser.OFPMatch(**dict(flow.match)))
        assert openflow.flow_delete_strict(flow, 7) == oskens(delete), flow
    for group in rules.groups.values():
        for command in (ofp.OFPGC_ADD, ofp.OFPGC_MODIFY):
            assert openflow.group_mod(group, command, 7) == oskens(osken_group_mod(dp, group, command)), group
        kind = ofp.OFPGT_FF if group.kind == "ff" else ofp.OFPGT_SELECT
        assert openflow.group_delete(group, 7) == oskens(parser.OFPGroupMod(dp, ofp.OFPGC_DELETE, kind, group.group_id, []))
    assert {g.kind for g in rules.groups.values()} == {"select", "ff"}  # both kinds were compared
    assert kinds >= {"output", "set_field", "group", "controller", "ct", "conjunction"}  # every kind was compared
    assert any(f.meter for f in rules.flows.values()) and rules.meters  # metered flows were compared
    for meter in rules.meters.values():
        band = parser.OFPMeterBandDrop(rate=meter.rate_kbps, burst_size=meter.burst_kbits)
        flags = ofp.OFPMF_KBPS | ofp.OFPMF_BURST | ofp.OFPMF_STATS
        for command in (ofp.OFPMC_ADD, ofp.OFPMC_MODIFY):
            assert openflow.meter_mod(meter, command, 7) == oskens(
                parser.OFPMeterMod(dp, command, flags, meter.meter_id, [band])), meter
        assert openflow.meter_delete(meter.meter_id, 7) == oskens(
            parser.OFPMeterMod(dp, ofp.OFPMC_DELETE, 0, meter.meter_id, []))


@pytest.mark.skipif(shutil.which("ovs-ofctl") is None, reason="needs Open vSwitch's ovs-ofctl")
def test_open_vswitch_reads_the_connection_tracking_actions_as_meant(rules):
    printed = []
    for flow in rules.flows.values():
        if any(a[0] in ("ct", "resubmit", "conjunction") for a in flow.actions) or flow.table == Table.ISOLATE \
                or flow.table in (Table.POLICY_EGRESS, Table.POLICY_INGRESS):
            out = subprocess.run(["ovs-ofctl", "ofp-print", openflow.flow_add(flow, 7).hex()],
                                 capture_output=True, text=True, timeout=10)
            assert "bad" not in out.stderr.lower() and "error" not in out.stderr.lower(), out.stderr
            printed.append(out.stdout)
    for group in rules.groups.values():
        out = subprocess.run(["ovs-ofctl", "ofp-print", openflow.group_mod(group, ofp.OFPGC_ADD, 7).hex()],
                             capture_output=True, text=True, timeout=10)
        printed.append(out.stdout)
    text = "\n".join(printed)
    assert "ct(commit,table=2,zone=" in text and "nat(dst=10.0.0." in text
    hairpin_mark = connection_mark(5, 1, hairpin=True)  # web's first endpoint calling web
    assert f"exec(set_field:{hairpin_mark:#x}->ct_mark" in text and "nat(src=10.0.255.254)" in text
    metered = [f for f in rules.flows.values() if f.meter]
    out = subprocess.run(["ovs-ofctl", "ofp-print", openflow.flow_add(metered[0], 7).hex()],
                         capture_output=True, text=True, timeout=10)
    assert "meter:6" in out.stdout, out.stdout
    meter = next(iter(rules.meters.values()))
    out = subprocess.run(["ovs-ofctl", "ofp-print", openflow.meter_mod(meter, openflow.OFPMC_ADD, 7).hex()],
                         capture_output=True, text=True, timeout=10)
    assert "meter=6 kbps burst stats bands=" in out.stdout and "rate=2500 burst_size=250" in out.stdout, out.stdout
    assert "resubmit(,3)" in text and "ct(table=9,zone=" in text
    # the pods' isolation: a pod's port sets the register and looks again
    assert "reg2=0/0x1,in_port=20" in text and "set_field:0x1->reg2,resubmit(,9)" in text
    assert "decode error" not in text
    # network policies: the clauses of one conjunction, its conj_id flow, the masked matches
    assert "conjunction(1,1/3)" in text and "conjunction(1,2/3)" in text and "conjunction(1,3/3)" in text
    assert "nw_src=10.0.0.0/30" in text and "tp_dst=0x1f40/0xfffc" in text
    allowed = [line for line in text.splitlines() if "conj_id=1,ip " in line]
    assert allowed and all("actions=ct(commit,table=6,zone=" in line for line in allowed), allowed
    assert "reg3=0x1/0x1" in text and "set_field:0x1->reg3" in text
    dropped = [line for line in text.splitlines() if "tp_dst=50060" in line]
    assert dropped and all("ct_state=+new+trk" in line and "reg2=0x1/0x1" in line and line.endswith("actions=drop")
                           for line in dropped), dropped
