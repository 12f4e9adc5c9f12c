"""VNF chains steered by the switches, checked by what the fake data plane does with packets: a
VNF is one-armed (it gets the frames sent to its MAC and sends the ones it passes back out with
its own MAC as source); classified traffic goes through the VNFs in order, replies of a symmetric
chain through them in reverse, to services too (recognised by their connection's mark after the
VIP's translation); everything else, and a VNF's own traffic, goes directly."""

from __future__ import annotations

import pytest

from component_base.errors import AlreadyExists, InvalidArgument, NotFound
from controller.sdn.core import SdnCore
from controller.sdn.store import SdnStore
from controller.sdn.network import NetworkView
from api.classifier import Classifier
from controller.sdn.model import Chain, ServiceEndpoint, ServiceRoute
from controller.sdn.pipeline.desired import desired_rules
from controller.sdn.pipeline.gateway import vip_mac
from flow_table_sim import DELIVERED, DataPlane, answer, declared, ip_packet

# a line of three sites; the VNFs sit on the middle and far sites, away from client and server
LINE = declared([("s1", "s2"), ("s2", "s3")],
                {"c1": "s1", "c2": "s1", "fw": "s2", "mon": "s3", "srv": "s3", "web": "s3"})
VIP = "10.0.100.1"


def view_and(chains, routes=()):
    view = NetworkView.from_declared(dict(LINE, gateway="10.0.255.254"))
    return view, DataPlane(desired_rules(view, list(routes), [], chains=chains), view)


VNFS = ("fw", "mon", "fw2")


def vnf_pass(view, dp, copy):
    """The VNF that received `copy` sends it back out, its own MAC as source."""
    assert copy.fate == DELIVERED
    return dp.send_one(copy.host, dict(copy.packet, eth_src=view.hosts[copy.host].mac))


def chain(*hops, symmetric=False, **classifier):
    """A chain whose hops are single instances, or tuples of instances."""
    return Chain("guard", Classifier(**classifier), tuple(h if isinstance(h, tuple) else (h,) for h in hops),
                 symmetric, 1)


def walk(view, dp, src, packet, choose=None, seen=None):
    """The hosts the packet visits, letting every VNF on the way pass it; (hosts, final copy).
    `seen`: a list that gets what each VNF saw (host, packet)."""
    visited = []
    copy = dp.send_one(src, packet, choose)
    while copy.fate == DELIVERED and copy.host in VNFS:
        visited.append(copy.host)
        if seen is not None:
            seen.append((copy.host, dict(copy.packet)))
        copy = vnf_pass(view, dp, copy)
    visited.append(copy.host if copy.fate == DELIVERED else copy.fate)
    return visited, copy


def test_classified_traffic_goes_through_the_vnfs_in_order_and_arrives_unchanged():
    view, dp = view_and([chain("fw", "mon", dst_cidr="10.0.0.5/32", protocol="tcp", dst_port=80)])
    c1, srv = view.hosts["c1"], view.hosts["srv"]
    sent = ip_packet(c1, srv.ip, srv.mac, dst_port=80)
    hosts, copy = walk(view, dp, "c1", sent)
    assert hosts == ["fw", "mon", "srv"]
    assert {k: copy.packet[k] for k in ("ipv4_src", "ipv4_dst", "tcp_src", "tcp_dst", "eth_dst")} == \
        {"ipv4_src": c1.ip, "ipv4_dst": srv.ip, "tcp_src": 40000, "tcp_dst": 80, "eth_dst": srv.mac}
    # not classified: another port, another destination, and the reply of an asymmetric chain
    assert walk(view, dp, "c1", ip_packet(c1, srv.ip, srv.mac, dst_port=22))[0] == ["srv"]
    assert walk(view, dp, "c2", ip_packet(view.hosts["c2"], view.hosts["web"].ip, view.hosts["web"].mac))[0] == ["web"]
    assert walk(view, dp, "srv", answer(view, copy))[0] == ["c1"]


def test_a_symmetric_chain_takes_the_replies_back_through_the_vnfs_in_reverse():
    view, dp = view_and([chain("fw", "mon", symmetric=True, dst_cidr="10.0.0.5/32", protocol="tcp", dst_port=80)])
    c1, srv = view.hosts["c1"], view.hosts["srv"]
    hosts, copy = walk(view, dp, "c1", ip_packet(c1, srv.ip, srv.mac, dst_port=80))
    assert hosts == ["fw", "mon", "srv"]
    hosts, back = walk(view, dp, "srv", answer(view, copy))
    assert hosts == ["mon", "fw", "c1"]
    assert (back.packet["ipv4_src"], back.packet["tcp_src"], back.packet["eth_dst"]) == (srv.ip, 80, c1.mac)


def test_a_service_behind_a_chain_is_steered_after_its_vip_is_translated_and_answers_as_the_vip():
    view = NetworkView.from_declared(dict(LINE, gateway="10.0.255.254"))
    route = ServiceRoute("web", VIP, "tcp", 80, (ServiceEndpoint("web", view.hosts["web"].ip, 8080, 1),), 7)
    guard = chain("fw", "mon", symmetric=True, dst_cidr=f"{VIP}/32", dst_port=80, src_cidr="10.0.0.0/30")
    dp = DataPlane(desired_rules(view, [route], [], chains=[guard]), view)
    c1, web = view.hosts["c1"], view.hosts["web"]
    seen = []
    hosts, copy = walk(view, dp, "c1", ip_packet(c1, VIP, vip_mac(VIP), dst_port=80), seen=seen)
    assert hosts == ["fw", "mon", "web"]
    assert (copy.packet["ipv4_dst"], copy.packet["tcp_dst"]) == (web.ip, 8080)
    hosts, back = walk(view, dp, "web", answer(view, copy), seen=seen)
    assert hosts == ["mon", "fw", "c1"]
    assert (back.packet["ipv4_src"], back.packet["tcp_src"]) == (VIP, 80)  # translated back at c1's switch
    # every VNF saw one connection, both ways: the client and the instance the VIP chose
    tuples = {(h, p["ipv4_src"], p["tcp_src"], p["ipv4_dst"], p["tcp_dst"]) for h, p in seen}
    assert tuples == {(v, c1.ip, 40000, web.ip, 8080) for v in ("fw", "mon")} | \
        {(v, web.ip, 8080, c1.ip, 40000) for v in ("fw", "mon")}
    # the connection's next packets the same way
    assert walk(view, dp, "c1", ip_packet(c1, VIP, vip_mac(VIP), dst_port=80))[0] == ["fw", "mon", "web"]
    # a client outside the classifier's sources (srv is 10.0.0.5, not in 10.0.0.0/30) goes directly
    other = ip_packet(view.hosts["srv"], VIP, vip_mac(VIP), dst_port=80)
    assert walk(view, dp, "srv", other)[0] == ["web"]


def test_a_vnfs_own_traffic_is_not_steered():
    view, dp = view_and([chain("fw", "mon", src_cidr="10.0.0.0/16")])  # everything from every host
    fw, c1 = view.hosts["fw"], view.hosts["c1"]
    assert walk(view, dp, "fw", ip_packet(fw, c1.ip, c1.mac))[0] == ["c1"]


def test_without_the_chain_traffic_flows_directly_and_a_missing_vnf_leaves_it_direct():
    view, dp = view_and([])
    c1, srv = view.hosts["c1"], view.hosts["srv"]
    assert walk(view, dp, "c1", ip_packet(c1, srv.ip, srv.mac, dst_port=80))[0] == ["srv"]
    view, dp = view_and([chain("fw", "gone", dst_cidr="10.0.0.5/32")])
    assert walk(view, dp, "c1", ip_packet(c1, srv.ip, srv.mac, dst_port=80))[0] == ["srv"]


# -- the core: checks and persistence ---------------------------------------------------------------------


@pytest.fixture
def core(tmp_path):
    store = SdnStore(tmp_path / "sdn.db")
    yield SdnCore(NetworkView.from_declared(dict(LINE, gateway="10.0.255.254", service_range="10.96.0.0/16")),
                  store)
    store.close()


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(classifier=Classifier(src_cidr="10.0.0.300/24")), InvalidArgument, "classifier.src_cidr"),
    (dict(classifier=Classifier(protocol="sctp")), InvalidArgument, "classifier.protocol"),
    (dict(classifier=Classifier(protocol="icmp", dst_port=80)), InvalidArgument, "ICMP has no ports"),
    (dict(classifier=Classifier(dst_port=70000)), InvalidArgument, "dst_port"),
    (dict(hops=[]), InvalidArgument, "at least one hop"),
    (dict(hops=[["fw"], ["fw"]]), InvalidArgument, "twice"),
    (dict(hops=[["fw", "nowhere"]]), NotFound, "nowhere"),
    (dict(hops=[[]]), InvalidArgument, "no instance"),
    (dict(symmetric=True), InvalidArgument, "symmetric chain needs a destination"),
    (dict(name="Bad Name"), InvalidArgument, "DNS name"),
])
def test_bad_chains_are_refused_and_change_nothing(core, kwargs, error, text):
    args = dict(name="guard", classifier=Classifier(), hops=[["fw"], ["mon"]], symmetric=False)
    args.update(kwargs)
    with pytest.raises(error, match=text):
        core.install_chain(args["name"], args["classifier"], args["hops"], args["symmetric"])
    assert not core.chains and not core.store.chains()


def test_chains_are_kept_checked_against_each_other_and_removed(core, tmp_path):
    chain = core.install_chain("guard", Classifier(dst_cidr="10.0.0.5/255.255.255.255"), [["fw"], ["mon"]], True)
    assert chain.classifier.dst_cidr == "10.0.0.5/32"  # canonical
    with pytest.raises(AlreadyExists, match="guard"):
        core.install_chain("guard", Classifier(), [["c2"]], False)
    with pytest.raises(AlreadyExists, match="fw"):
        core.install_chain("other", Classifier(), [["c2", "fw"]], False)
    again = SdnCore(core.view, core.store)
    assert again.chains == core.chains
    assert any(f.cookie == chain.cookie for f in core.desired().flows.values())
    core.update_chain("guard", [["mon", "c2"]])
    assert core.chains["guard"].hops == (("mon", "c2"),)
    with pytest.raises(NotFound):
        core.update_chain("nope", [["fw"]])
    core.remove_chain("guard")
    assert not any(f.cookie == chain.cookie for f in core.desired().flows.values())
    assert not core.store.chains()


def symmetric_hash(group, packet) -> int:
    """Open vSwitch's datapath hash is symmetric in the 5-tuple: both ways pick the same bucket."""
    ends = sorted([(packet["ipv4_src"], packet.get("tcp_src")), (packet["ipv4_dst"], packet.get("tcp_dst"))])
    return hash(tuple(ends)) % len(group.buckets)


def test_a_hop_of_several_instances_spreads_connections_and_keeps_each_on_its_instance_both_ways():
    view, dp = view_and([chain(("fw", "mon"), symmetric=True, dst_cidr="10.0.0.5/32", protocol="tcp")])
    c1, srv = view.hosts["c1"], view.hosts["srv"]
    used = set()
    for port in range(41000, 41040):
        hosts, there = walk(view, dp, "c1", ip_packet(c1, srv.ip, srv.mac, dst_port=80, src_port=port),
                            choose=symmetric_hash)
        assert hosts[-1] == "srv" and len(hosts) == 2
        back, _ = walk(view, dp, "srv", answer(view, there), choose=symmetric_hash)
        assert back == [hosts[0], "c1"]  # the answer through the same instance
        used.add(hosts[0])
    assert used == {"fw", "mon"}  # connections spread over both
    # every choice the group offers is an instance of the hop
    branches = dp.explore("c1", ip_packet(c1, srv.ip, srv.mac, dst_port=80))
    assert {b.only.host for b in branches} == {"fw", "mon"}


class Recorder:
    """A southbound that confirms at once: what the core counts as installed is what it sent."""

    def clear(self, dpid):
        pass

    def apply(self, dpid, change):
        return lambda timeout: True


def test_a_chained_service_whose_instances_change_is_steered_by_its_new_instances(core):
    """The replies of a chained service are recognised by its instances' addresses: when the route
    gets another instance, the chain's rules on the switches follow."""
    core.southbound = Recorder()
    for dpid in core.view.switches:
        core.switch_connected(dpid)
    core.install_route("web", "10.96.0.7", "tcp", 80, [ServiceEndpoint("web", "", 8080, 1)])
    core.install_chain("guard", Classifier(dst_cidr="10.96.0.7/32"), [["fw"], ["mon"]], True)
    srv = core.view.hosts["srv"]

    def installed_chain_sources() -> set:
        return {dict(f.match).get("ipv4_src") for rules in core.installed.values() for f in rules.flows.values()
                if f.cookie == core.chains["guard"].cookie}

    assert srv.ip not in installed_chain_sources()
    core.update_route("web", [ServiceEndpoint("web", "", 8080, 1), ServiceEndpoint("srv", "", 8080, 1)])
    assert srv.ip in installed_chain_sources()
    desired = core.desired().by_switch()
    assert all(core.installed[d].flows == desired[d].flows for d in core.installed)


def test_a_route_no_chain_names_changes_alone_beside_a_chain(core):
    """A route the chain's classifier does not name is sent as its own difference; the chain's
    rules stay, and every switch holds exactly the desired rules after each change."""
    core.southbound = Recorder()
    for dpid in core.view.switches:
        core.switch_connected(dpid)
    core.install_route("web", "10.96.0.7", "tcp", 80, [ServiceEndpoint("web", "", 8080, 1)])
    core.install_chain("guard", Classifier(dst_cidr="10.96.0.7/32"), [["fw"], ["mon"]], True)
    chain_flows = {k: f for rules in core.installed.values() for k, f in rules.flows.items()
                   if f.cookie == core.chains["guard"].cookie}
    core.install_route("db", "10.96.0.8", "tcp", 5432, [ServiceEndpoint("srv", "", 0, 1)])
    core.update_route("db", [ServiceEndpoint("srv", "", 0, 1), ServiceEndpoint("web", "", 0, 1)])
    desired = core.desired().by_switch()
    assert all(core.installed[d].flows == desired[d].flows and core.installed[d].groups == desired[d].groups
               for d in core.installed)
    assert chain_flows == {k: f for rules in core.installed.values() for k, f in rules.flows.items()
                           if f.cookie == core.chains["guard"].cookie}
    core.remove_route("db")
    desired = core.desired().by_switch()
    assert all(core.installed[d].flows == desired[d].flows for d in core.installed)
