"""Network policies in the SDN daemon: set over gRPC, enforced by the switches' rules, kept across a restart, refused
when malformed, and traced table by table from ofproto/trace's output."""

from __future__ import annotations

import grpc
import pytest
from strata.v1 import common_pb2, sdn_pb2, sdn_pb2_grpc

from api.network_policy import INGRESS, AddressRule, PortRange, ResolvedPolicies
from api.policy_messages import policies_message, resolved_policies
from component_base.errors import InvalidArgument
from component_base.rpc import create_server
from controller.sdn import servicer
from controller.sdn.pipeline.tables import Table, policy_cookie
from controller.sdn.trace import parse_steps, trace_connection
from flow_table_sim import DELIVERED, DROPPED, to_host
from test_sdn_core import RING, start


def only_h1_to_h3(net) -> ResolvedPolicies:
    h3 = f"{net.h('h3').ip}/32"
    return ResolvedPolicies(isolated_ingress=(h3,), rules=(
        AddressRule("shop/h3-from-h1", INGRESS, (h3,), (f"{net.h('h1').ip}/32",), (PortRange("tcp", 80, 80),)),))


def send(net, src, dst, port=80):
    return net.dp().send_one(src, to_host(net.h(src), net.h(dst), dst_port=port))


def test_policies_reach_the_switches_and_survive_a_restart(tmp_path):
    net = start(RING, tmp_path / "sdn.db")
    assert send(net, "h2", "h3").fate == DELIVERED
    flows = net.core.set_policies(only_h1_to_h3(net), wait=0)
    assert flows > 0
    assert send(net, "h2", "h3").fate == DROPPED and send(net, "h1", "h3").fate == DELIVERED
    assert send(net, "h1", "h3", 81).fate == DROPPED
    again = net.restart()
    assert again.core.policies == only_h1_to_h3(net)
    assert send(again, "h2", "h3").fate == DROPPED and send(again, "h1", "h3").fate == DELIVERED
    again.core.set_policies(ResolvedPolicies(), wait=0)
    assert send(again, "h2", "h3").fate == DELIVERED
    assert not any(f.table in (Table.POLICY_EGRESS, Table.POLICY_INGRESS) and f.priority > 10
                   for sw in again.sb.switches.values() for f in sw.flows.values())
    again.store.close()


@pytest.mark.parametrize("bad", [
    ResolvedPolicies(isolated_ingress=("10.0.0.300/32",)),
    ResolvedPolicies(rules=(AddressRule("a/b", INGRESS, ("10.0.0.1/32",), ("10.0.0.1/24",)),)),  # host bits set
    ResolvedPolicies(rules=(AddressRule("a/b", "Sideways", ("10.0.0.1/32",), None),)),
    ResolvedPolicies(rules=(AddressRule("a/b", INGRESS, ("10.0.0.1/32",), None, (PortRange("tcp", 90, 80),)),)),
    ResolvedPolicies(rules=tuple(AddressRule("a/b", INGRESS, ("10.0.0.1/32",), None) for _ in range(10001))),
])
def test_malformed_policies_are_refused_and_change_nothing(tmp_path, bad):
    net = start(RING, tmp_path / "sdn.db")
    net.core.set_policies(only_h1_to_h3(net), wait=0)
    with pytest.raises(InvalidArgument):
        net.core.set_policies(bad, wait=0)
    assert net.core.policies == only_h1_to_h3(net)
    net.store.close()


def test_the_messages_carry_every_field_both_ways(tmp_path):
    net = start(RING, tmp_path / "sdn.db")
    resolved = ResolvedPolicies(("10.0.0.3/32",), ("10.0.0.1/32",), (
        AddressRule("shop/a", INGRESS, ("10.0.0.3/32",), None, (PortRange("udp", 0, 0), PortRange("tcp", 1, 9))),
        AddressRule("shop/b", "Egress", ("10.0.0.1/32",), ("10.1.0.0/16",), ())))
    assert resolved_policies(policies_message(resolved)) == resolved
    server, port = create_server("127.0.0.1:0", [(servicer.registrar(net.core), servicer.SERVICE_NAME)])
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = sdn_pb2_grpc.SdnServiceStub(channel)
        answer = stub.SetNetworkPolicies(sdn_pb2.SetNetworkPoliciesRequest(policies=policies_message(resolved)),
                                         timeout=10)
        assert answer.flows > 0
        assert resolved_policies(stub.GetNetworkPolicies(sdn_pb2.GetNetworkPoliciesRequest(), timeout=10)) == resolved
        bad = policies_message(resolved)
        bad.rules[0].ports[0].protocol = common_pb2.PROTOCOL_ICMP
        with pytest.raises(grpc.RpcError) as refused:
            stub.SetNetworkPolicies(sdn_pb2.SetNetworkPoliciesRequest(policies=bad), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    server.stop(grace=None)
    net.store.close()


# What Open vSwitch 3.1's ofproto/trace prints for a SYN that table 11 drops (the layout as it
# prints it: a section per recirculation, tables numbered, actions indented below them).
DROPPED_TRACE = """\
Flow: tcp,in_port=3,vlan_tci=0x0000,dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:03,nw_src=10.0.0.2,nw_dst=10.0.0.3,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=40000,tp_dst=80,tcp_flags=syn

bridge("s3")
------------
 0. tcp, priority 50, cookie 0x1
    ct(table=9,zone=5,nat)
    nat
     -> A clone of the packet is forked to recirculate. The forked pipeline will be resumed at table 9.
     -> Sets the packet to an untracked state, and clears all the conntrack fields.

Final flow: unchanged
Megaflow: recirc_id=0,eth,tcp,in_port=3,nw_frag=no
Datapath actions: ct(zone=5,nat),recirc(0x1)

===============================================================================
recirc(0x1) - resume conntrack with ct_state=new|trk
===============================================================================

Flow: recirc_id=0x1,ct_state=new|trk,ct_zone=5,eth,tcp,in_port=3,nw_src=10.0.0.2,nw_dst=10.0.0.3,tp_src=40000,tp_dst=80

bridge("s3")
------------
    thaw
        Resuming from table 9
 9. priority 0, cookie 0x1
    resubmit(,1)
 1. priority 0, cookie 0x1
    goto_table:2
 2. priority 0, cookie 0x1
    goto_table:10
10. priority 0, cookie 0x9011000000000000
    goto_table:11
11. ct_state=+new+trk,ip,nw_dst=10.0.0.3, priority 100, cookie 0x9011000000000000
    drop

Final flow: unchanged
Megaflow: recirc_id=0x1,ct_state=+new+trk,eth,tcp,in_port=3,nw_dst=10.0.0.3,nw_frag=no
Datapath actions: drop
"""


def allowed_trace(cookie: int, out_port: int) -> str:
    return DROPPED_TRACE.replace(
        "11. ct_state=+new+trk,ip,nw_dst=10.0.0.3, priority 100, cookie 0x9011000000000000\n    drop\n",
        f"11. conj_id=1,ip, priority 200, cookie {cookie:#x}\n    ct(commit,table=6,zone=5)\n    drop\n"
        "     -> A clone of the packet is forked to recirculate. The forked pipeline will be resumed at table 6.\n"
        f" 6. ip,nw_dst=10.0.0.3, priority 200, cookie 0x1\n    set_field:00:00:00:00:00:03->eth_dst\n"
        f"    output:{out_port}\n")


def test_the_steps_of_a_trace_are_read_table_by_table():
    steps = parse_steps(DROPPED_TRACE, "s3")
    assert [s.table for s in steps] == [0, 9, 1, 2, 10, 11]
    assert steps[0].actions == "ct(table=9,zone=5,nat), nat"
    assert steps[-1].name == "policy_ingress" and steps[-1].actions == "drop"


def test_a_trace_follows_the_packet_from_switch_to_switch_and_names_the_deciding_policy(tmp_path):
    net = start(RING, tmp_path / "sdn.db")
    net.core.set_policies(only_h1_to_h3(net), wait=0)
    h1, h3 = net.h("h1"), net.h("h3")
    calls = []

    def appctl(args):
        calls.append(args)
        bridge = args[3]
        if bridge == net.view.switch_name(h3.dpid):  # the destination's switch: the rule allows it
            return allowed_trace(policy_cookie(1), h3.port)
        return allowed_trace(0x1, net.view.next_hops(h3.dpid)[net.view.switch_dpid(bridge)])

    trace = trace_connection(net.view, net.core.policies, "h1", h3.ip, 80, "tcp", 40000, h3.mac, appctl)
    assert trace.verdict == "delivered to h3" and trace.policy == "shop/h3-from-h1"
    committed = next(s for s in trace.steps if s.table == Table.POLICY_INGRESS and s.policy)
    assert committed.actions == "ct(commit,table=6,zone=5)"  # the original's "drop" after the fork is left out
    assert calls[0][:4] == ["ofproto/trace", "--ct-next", "trk,new", net.view.switch_name(h1.dpid)]
    assert f"in_port={h1.port}," in calls[0][4] and "tcp_flags=0x002" in calls[0][4]
    assert len(calls) == len(net.view.path("h1", "h3"))  # one trace per switch on the way
    assert [s.switch for s in trace.steps][-1] == net.view.switch_name(h3.dpid)

    dropped = trace_connection(net.view, net.core.policies, "h2", h3.ip, 80, "tcp", 40000, h3.mac,
                               lambda args: DROPPED_TRACE)
    assert (dropped.verdict, dropped.decided_by, dropped.policy) == ("dropped by policy", "policy_ingress", "")
    net.store.close()
