"""Pods and the control plane (table 9): what a fake data plane delivers from pods to infrastructure ports and elsewhere."""

from __future__ import annotations

import pytest

from component_base.errors import InvalidArgument
from controller.sdn.core import SdnCore
from controller.sdn.model import ServiceEndpoint, ServiceRoute
from controller.sdn.network import POD, HostInfo, NetworkView
from controller.sdn.pipeline import isolation
from controller.sdn.pipeline.desired import desired_rules
from controller.sdn.pipeline.gateway import vip_mac
from controller.sdn.pipeline.tables import Table
from controller.sdn.store import SdnStore
from flow_table_sim import DELIVERED, DROPPED, DataPlane, answer, declared, ip_packet, to_host

AGENT, BLOB, AGENT_METRICS, REGISTRY, ORCHESTRATOR_METRICS = 50060, 50061, 51060, 5000, 51052
CONTROL_PORTS = {"edge-server": [AGENT, BLOB, AGENT_METRICS], "registry": [REGISTRY, ORCHESTRATOR_METRICS]}
VIP = "10.96.0.10"
ROLES = {"n1": "edge-server", "n2": "edge-server", "reg": "registry", "dev": "device"}


def topology(control_ports: dict | None = CONTROL_PORTS) -> dict:
    topo = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s1")], {"n1": "s1", "n2": "s2", "reg": "s3", "dev": "s3"})
    for host in topo["hosts"]:
        host["role"] = ROLES[host["name"]]
    topo["service_range"] = "10.96.0.0/16"
    if control_ports is not None:
        topo["control_ports"] = control_ports
    return topo


def with_pods(topo: dict) -> NetworkView:
    """The view with a pod on n1's switch and one on n2's, as AttachEndpoint adds them."""
    view = NetworkView.from_declared(topo)
    view.add_host(HostInfo("web/a", "10.0.128.2", "02:00:0a:00:80:02", view.switch_dpid("s1"), 20, POD, node="n1"))
    view.add_host(HostInfo("web/b", "10.0.129.2", "02:00:0a:00:81:02", view.switch_dpid("s2"), 20, POD, node="n2"))
    return view


def plane(view: NetworkView) -> DataPlane:
    web = ServiceRoute("web", VIP, "tcp", 80, (ServiceEndpoint("web/b", "10.0.129.2", 8080, 1, slot=1),), 1)
    return DataPlane(desired_rules(view, [web], []), view)


@pytest.fixture
def net():
    view = with_pods(topology())
    return view, plane(view)


def send(net, src: str, dst: str, port: int, **kw):
    view, dp = net
    return dp.send_one(src, to_host(view.hosts[src], view.hosts[dst], dst_port=port, **kw))


@pytest.mark.parametrize("dst,port", [("n2", AGENT), ("n2", BLOB), ("n2", AGENT_METRICS), ("n1", AGENT),
                                      ("reg", REGISTRY), ("reg", ORCHESTRATOR_METRICS)])
def test_a_pods_new_connection_to_a_control_port_is_dropped_at_its_switch(net, dst, port):
    copy = send(net, "web/a", dst, port)
    assert copy.fate == DROPPED
    assert copy.switches == [net[0].switch_dpid("s1")]


def test_a_pod_pretending_to_be_a_node_is_still_dropped(net):
    view, dp = net
    pod, node = view.hosts["web/a"], view.hosts["n1"]
    spoofed = dict(to_host(pod, view.hosts["n2"], dst_port=AGENT), ipv4_src=node.ip)
    assert dp.send_one("web/a", spoofed).fate == DROPPED


@pytest.mark.parametrize("src", ["n1", "reg", "dev"])
def test_hosts_that_are_not_pods_reach_the_control_ports(net, src):
    for port in (AGENT, BLOB, AGENT_METRICS):  # agent to agent included (n1 to n2's blob server)
        copy = send(net, src, "n2", port)
        assert (copy.fate, copy.host) == (DELIVERED, "n2")


@pytest.mark.parametrize("dst,port", [("web/b", 8080), ("dev", REGISTRY), ("n2", 8080), ("reg", 443)])
def test_a_pod_reaches_other_pods_devices_and_other_ports_of_infrastructure_hosts(net, dst, port):
    copy = send(net, "web/a", dst, port)
    assert (copy.fate, copy.host) == (DELIVERED, dst)


def test_a_pod_reaches_a_service_vip_and_gets_the_answer(net):
    view, dp = net
    there = dp.send_one("web/a", ip_packet(view.hosts["web/a"], VIP, vip_mac(VIP), dst_port=80))
    assert (there.fate, there.host, there.packet["tcp_dst"]) == (DELIVERED, "web/b", 8080)
    back = dp.send_one("web/b", answer(view, there))
    assert (back.fate, back.host, back.packet["ipv4_src"]) == (DELIVERED, "web/a", VIP)


def test_a_pods_reply_to_a_connection_a_node_opened_from_a_control_port_is_delivered(net):
    view, dp = net
    # the node opened the connection (through the VIP, so it is committed at their switch), from its agent's port
    there = dp.send_one("n2", ip_packet(view.hosts["n2"], VIP, vip_mac(VIP), dst_port=80, src_port=AGENT))
    assert (there.fate, there.host) == (DELIVERED, "web/b")
    back = dp.send_one("web/b", answer(view, there))
    assert (back.fate, back.host, back.packet["tcp_dst"]) == (DELIVERED, "n2", AGENT)


def test_udp_to_a_control_port_is_not_a_connection_and_passes(net):
    copy = send(net, "web/a", "n2", AGENT, proto="udp")
    assert (copy.fate, copy.host) == (DELIVERED, "n2")


def test_without_declared_control_ports_a_topology_loads_and_nothing_is_refused():
    view = with_pods(topology(control_ports=None))
    assert view.control_ports == {}
    copy = plane(view).send_one("web/a", to_host(view.hosts["web/a"], view.hosts["n2"], dst_port=AGENT))
    assert (copy.fate, copy.host) == (DELIVERED, "n2")


def test_the_control_endpoints_come_from_roles_and_declared_ports():
    view = with_pods(topology())
    ips = {name: view.hosts[name].ip for name in ROLES}
    assert set(isolation.control_endpoints(view)) == {
        *((ips[n], p) for n in ("n1", "n2") for p in (AGENT, BLOB, AGENT_METRICS)),
        (ips["reg"], REGISTRY), (ips["reg"], ORCHESTRATOR_METRICS)}


def test_a_switch_without_pods_holds_only_the_pass_through():
    view = with_pods(topology())
    flows = isolation.switch_flows(view, view.switch_dpid("s3"))
    assert [(f.table, f.match) for f in flows] == [(Table.ISOLATE, ())]


def test_a_service_route_cannot_put_a_control_port_behind_a_vip(tmp_path):
    view = NetworkView.from_declared(topology())
    core = SdnCore(view, SdnStore(tmp_path / "sdn.db"))
    with pytest.raises(InvalidArgument):
        core.install_route("agent", VIP, "tcp", 80, [ServiceEndpoint("n2", "", AGENT, 1)], wait=0)
    assert core.list_routes() == []
    core.install_route("web", VIP, "tcp", 80, [ServiceEndpoint("n2", "", 8080, 1)], wait=0)
    with pytest.raises(InvalidArgument):
        core.update_route("web", [ServiceEndpoint("reg", "", REGISTRY, 1)], wait=0)
    assert [e.port for route in core.list_routes() for e in route.endpoints] == [8080]
