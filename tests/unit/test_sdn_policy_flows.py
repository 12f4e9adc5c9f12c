"""Network policies in the switches (tables 10 and 11): what a fake data plane delivers once policies are resolved into
conjunctive flows, and how many flows they take."""

from __future__ import annotations

import pytest
import yaml

from api.network_policy import (SERVICE_LABEL, AddressRule, PolicyPod, PortRange, ResolvedPolicies,
                                parse_network_policy, resolve, INGRESS, EGRESS)
from controller.sdn.model import ServiceEndpoint, ServiceRoute
from controller.sdn.network import POD, HostInfo, NetworkView
from controller.sdn.pipeline import policy
from controller.sdn.pipeline.desired import desired_rules
from controller.sdn.pipeline.gateway import vip_mac
from controller.sdn.pipeline.tables import Table
from flow_table_sim import DELIVERED, DROPPED, DataPlane, answer, declared, ip_packet, to_host

VIP = "10.96.0.10"
PODS = {"shop/a": ("10.0.128.2", "s1", "web"), "shop/b": ("10.0.129.2", "s2", "db"),
        "shop/c": ("10.0.130.2", "s3", "cache"), "shop/d": ("10.0.128.3", "s1", "db")}


def view_with_pods() -> NetworkView:
    topo = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s1")], {"n1": "s1", "n2": "s2", "dev": "s3"})
    topo["service_range"] = "10.96.0.0/16"
    view = NetworkView.from_declared(topo)
    for k, (name, (ip, switch, _)) in enumerate(PODS.items()):
        view.add_host(HostInfo(name, ip, f"02:00:0a:00:80:{k + 10:02x}", view.switch_dpid(switch), 20 + k, POD,
                               node="n1"))
    return view


def pods() -> list[PolicyPod]:
    return [PolicyPod("shop", name, ip, ((SERVICE_LABEL, service), ("tier", "back" if service == "db" else "front")))
            for name, (ip, _, service) in PODS.items()]


def plane(view: NetworkView, policies: ResolvedPolicies) -> DataPlane:
    route = ServiceRoute("db", VIP, "tcp", 80, (ServiceEndpoint("shop/b", "10.0.129.2", 5432, 1, slot=1),), 1)
    return DataPlane(desired_rules(view, [route], [], policies=policies), view)


def parsed(text: str):
    return parse_network_policy(yaml.safe_load(text), "shop")


DB_FROM_CACHE = """
metadata: {name: db-from-cache}
spec:
  podSelector: {matchLabels: {strata.io/service: db}}
  ingress: [{from: [{podSelector: {matchLabels: {strata.io/service: cache}}}], ports: [{port: 5432}]}]
"""


@pytest.fixture
def net():
    view = view_with_pods()
    return view, plane(view, resolve([parsed(DB_FROM_CACHE)], pods()))


def send(net, src, dst, port=5432, **kw):
    view, dp = net
    return dp.send_one(src, to_host(view.hosts[src], view.hosts[dst], dst_port=port, **kw))


def test_an_isolated_pod_gets_only_what_a_rule_allows_and_its_replies_pass(net):
    view, dp = net
    assert send(net, "shop/a", "shop/b").fate == DROPPED       # not a cache pod
    assert send(net, "dev", "shop/b").fate == DROPPED          # not a pod at all
    assert send(net, "shop/c", "shop/b", 80).fate == DROPPED   # a cache pod, not the port
    there = send(net, "shop/c", "shop/b")
    assert (there.fate, there.host) == (DELIVERED, "shop/b")
    back = dp.send_one("shop/b", answer(view, there))
    assert (back.fate, back.host) == (DELIVERED, "shop/c")
    again = send(net, "shop/c", "shop/b")  # later packets of the connection
    assert again.fate == DELIVERED
    # pods no policy selects are as before, both ways
    assert send(net, "shop/b", "shop/a", 8080).fate == DELIVERED and send(net, "shop/a", "shop/c", 80).fate == DELIVERED


def test_udp_replies_pass_because_the_connection_was_committed(net):
    view, dp = net
    there = send(net, "shop/c", "shop/b", proto="udp")
    assert there.fate == DROPPED  # the rule is TCP's (the default protocol)
    udp = parsed(DB_FROM_CACHE.replace("ports: [{port: 5432}]", "ports: [{port: 5432, protocol: UDP}]"))
    dp = plane(view, resolve([udp], pods()))
    there = dp.send_one("shop/c", to_host(view.hosts["shop/c"], view.hosts["shop/b"], dst_port=5432, proto="udp"))
    assert there.fate == DELIVERED
    assert dp.send_one("shop/b", answer(view, there)).fate == DELIVERED


def test_a_vip_in_front_of_an_isolated_pod_obeys_the_same_rules(net):
    view, dp = net
    refused = dp.send_one("shop/a", ip_packet(view.hosts["shop/a"], VIP, vip_mac(VIP), dst_port=80))
    assert refused.fate == DROPPED
    there = dp.send_one("shop/c", ip_packet(view.hosts["shop/c"], VIP, vip_mac(VIP), dst_port=80))
    assert (there.fate, there.host, there.packet["tcp_dst"]) == (DELIVERED, "shop/b", 5432)
    back = dp.send_one("shop/b", answer(view, there))
    assert (back.fate, back.host, back.packet["ipv4_src"]) == (DELIVERED, "shop/c", VIP)


def test_egress_isolation_and_connections_to_an_egress_isolated_pod():
    view = view_with_pods()
    text = """
metadata: {name: front-out}
spec:
  podSelector: {matchLabels: {tier: front}}
  policyTypes: [Egress]
  egress:
    - to: [{podSelector: {matchLabels: {tier: back}}}]
      ports: [{port: 5000, endPort: 5500}]
"""
    dp = plane(view, resolve([parsed(text)], pods()))
    s = lambda src, dst, port, **kw: dp.send_one(src, to_host(view.hosts[src], view.hosts[dst], dst_port=port, **kw))  # noqa: E731
    assert s("shop/a", "shop/b", 5432).fate == DELIVERED and s("shop/a", "shop/d", 5500).fate == DELIVERED
    assert s("shop/a", "shop/b", 5501).fate == DROPPED and s("shop/a", "shop/c", 5432).fate == DROPPED
    assert s("shop/a", "dev", 5432).fate == DROPPED
    # another opens a UDP flow to an egress-isolated pod: its replies are not new connections of its own
    there = s("dev", "shop/a", 53, proto="udp")
    assert there.fate == DELIVERED
    assert dp.send_one("shop/a", answer(view, there)).fate == DELIVERED


def test_both_ends_must_allow_it():
    view = view_with_pods()
    out = parsed("""
metadata: {name: a-out}
spec: {podSelector: {matchLabels: {strata.io/service: web}}, policyTypes: [Egress], egress: [{to: [{podSelector: {}}]}]}
""")
    closed = parsed("metadata: {name: closed}\nspec: {podSelector: {matchLabels: {strata.io/service: cache}}, "
                    "policyTypes: [Ingress]}")
    dp = plane(view, resolve([out, closed], pods()))
    s = lambda src, dst: dp.send_one(src, to_host(view.hosts[src], view.hosts[dst], dst_port=80))  # noqa: E731
    assert s("shop/a", "shop/b").fate == DELIVERED and s("shop/a", "shop/c").fate == DROPPED
    assert s("shop/a", "dev").fate == DROPPED and s("shop/b", "shop/c").fate == DROPPED


def test_ip_blocks_and_allow_all_rules():
    view = view_with_pods()
    dev = view.hosts["dev"].ip
    block = parsed(f"""
metadata: {{name: from-dev}}
spec:
  podSelector: {{matchLabels: {{strata.io/service: db}}}}
  ingress: [{{from: [{{ipBlock: {{cidr: 10.0.0.0/24, except: [{dev}/32]}}}}]}}]
""")
    dp = plane(view, resolve([block], pods()))
    s = lambda src, dst: dp.send_one(src, to_host(view.hosts[src], view.hosts[dst], dst_port=80))  # noqa: E731
    assert s("n1", "shop/b").fate == DELIVERED and s("dev", "shop/b").fate == DROPPED
    assert s("shop/a", "shop/b").fate == DROPPED  # 10.0.128.2 is outside 10.0.0.0/24
    everyone = parsed("metadata: {name: all}\nspec: {podSelector: {}, ingress: [{}]}")
    dp = plane(view, resolve([block, everyone], pods()))
    s = lambda src, dst: dp.send_one(src, to_host(view.hosts[src], view.hosts[dst], dst_port=80))  # noqa: E731
    assert s("dev", "shop/b").fate == DELIVERED and s("shop/a", "shop/d").fate == DELIVERED


def test_port_masks_cover_a_range_exactly():
    for first, last in [(1, 1), (80, 80), (32000, 32768), (1, 65535), (1000, 1999), (65535, 65535)]:
        covered = set()
        for value, mask in policy.port_masks(first, last):
            block = {p for p in range(value, value + (0xFFFF - mask) + 1)}
            assert all(p & mask == value for p in block)
            assert not covered & block
            covered |= block
        assert covered == set(range(first, last + 1)), (first, last)
    assert len(policy.port_masks(1, 65535)) == 16


def test_flows_grow_as_the_sum_of_the_sets_not_their_product():
    view = view_with_pods()
    selected = ("10.0.128.2/32", "10.0.128.3/32")  # both on s1
    peers = tuple(f"10.1.{k}.0/24" for k in range(50))
    ports = tuple(PortRange("tcp", p, p) for p in range(8000, 8020))
    resolved = ResolvedPolicies(isolated_ingress=selected, rules=(AddressRule("shop/x", INGRESS, selected, peers, ports),))
    flows = [f for f in policy.policy_flows(view, resolved) if f.dpid == view.switch_dpid("s1")]
    assert len(flows) == 2 + 50 + 20 + 1 + 2 * 2  # clauses, conj_id, a deny and a reply commit per pod
    assert len(policy.switch_flows(view, view.switch_dpid("s1"))) == policy.BASELINE_FLOWS
    switch_of = {h.ip: h.dpid for h in view.hosts.values()}
    assert policy.product_flow_count(resolved, switch_of) == 3 * policy.BASELINE_FLOWS + 2 * 50 * 20 + 2 * 2
    elsewhere = [f for f in policy.policy_flows(view, resolved) if f.dpid == view.switch_dpid("s2")]
    assert elsewhere == []  # judged at the pods' own switch only
    assert {f.table for f in flows} == {Table.POLICY_INGRESS}


def test_an_egress_rule_lives_in_table_10_and_an_ingress_rule_in_11():
    view = view_with_pods()
    resolved = ResolvedPolicies(isolated_egress=("10.0.129.2/32",), rules=(
        AddressRule("shop/y", EGRESS, ("10.0.129.2/32",), ("10.0.0.0/8",), (PortRange("udp", 0, 0),)),))
    flows = policy.policy_flows(view, resolved)
    conj = [f for f in flows if any(a[0] == "conjunction" for a in f.actions)]
    assert conj and all(f.table == Table.POLICY_EGRESS for f in conj)
    assert sorted(a[2:] for f in conj for a in f.actions) == [(1, 3), (2, 3), (3, 3)]


def test_the_control_planes_hosts_reach_isolated_pods_as_a_node_probes_its_pods():
    topo = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s1")], {"n1": "s1", "n2": "s2", "dev": "s3"})
    topo["hosts"][0]["role"] = "edge-server"
    topo["control_ports"] = {"edge-server": [50060]}
    topo["service_range"] = "10.96.0.0/16"
    view = NetworkView.from_declared(topo)
    for k, (name, (ip, switch, _)) in enumerate(PODS.items()):
        view.add_host(HostInfo(name, ip, f"02:00:0a:00:80:{k + 10:02x}", view.switch_dpid(switch), 20 + k, POD,
                               node="n1"))
    closed = parsed("metadata: {name: closed}\nspec: {podSelector: {}, policyTypes: [Ingress]}")
    dp = plane(view, resolve([closed], pods()))
    s = lambda src, dst: dp.send_one(src, to_host(view.hosts[src], view.hosts[dst], dst_port=8080))  # noqa: E731
    assert s("n1", "shop/b").fate == DELIVERED  # an infrastructure host (its role serves control ports)
    assert s("dev", "shop/b").fate == DROPPED and s("shop/a", "shop/b").fate == DROPPED
    switch_of = {h.ip: h.dpid for h in view.hosts.values()}
    flows = [f for f in policy.policy_flows(view, resolve([closed], pods()))]
    assert policy.product_flow_count(resolve([closed], pods()), switch_of, control_hosts=1) == \
        len(flows) + 3 * policy.BASELINE_FLOWS
