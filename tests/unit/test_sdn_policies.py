"""Service policies in the switches' rules, checked by what the fake data plane does with packets:
locality (each switch prefers the nearest endpoints of each subset, falls back when they go),
stable endpoint slots, and the counters the telemetry reads (each packet counted once, at the
client's switch, for the endpoint and direction it belongs to)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from component_base.errors import InvalidArgument
from controller.sdn.core import SdnCore
from controller.sdn.network import NetworkView
from controller.sdn.model import ServiceEndpoint, ServiceRoute
from controller.sdn.pipeline.desired import desired_rules
from controller.sdn.pipeline.gateway import vip_mac
from controller.sdn.pipeline.load_balancing import bucket_weights
from controller.sdn.store import SdnStore
from controller.sdn.pipeline.accounting import FlowCounter, MeterCounter, service_traffic
from flow_table_sim import DELIVERED, DataPlane, answer, by_hash, declared, ip_packet, shares

# a line of three sites: v1 on both ends, v2 at the far end only
LINE = declared([("s1", "s2"), ("s2", "s3")],
                {"c1": "s1", "c2": "s2", "c3": "s3", "a1": "s1", "a3": "s3", "b3": "s3"})
VIP = "10.0.100.1"


def canary(view, *, locality=True, weights=(45, 45, 10), hosts=("a1", "a3", "b3")) -> ServiceRoute:
    subsets = {"a1": "v1", "a3": "v1", "b3": "v2"}
    eps = tuple(ServiceEndpoint(h, view.hosts[h].ip, 80, w, subsets[h]) for h, w in zip(hosts, weights))
    return ServiceRoute("web", VIP, "tcp", 80, eps, 3, locality=locality)


def request(view, client, **kw):
    return ip_packet(view.hosts[client], VIP, vip_mac(VIP), **kw)


def client_shares(view, route, client):
    dp = DataPlane(desired_rules(view, [route], []), view)
    branches = dp.explore(client, request(view, client))
    assert all(b.only.fate == DELIVERED for b in branches)
    return shares(branches)


def test_locality_sends_each_subset_share_to_its_nearest_endpoints():
    view = NetworkView.from_declared(LINE)
    r = canary(view)
    # c1's site has a v1 instance: all of v1's 90% stays there; v2's 10% goes to the only v2
    assert client_shares(view, r, "c1") == {"a1": Fraction(9, 10), "b3": Fraction(1, 10)}
    assert client_shares(view, r, "c3") == {"a3": Fraction(9, 10), "b3": Fraction(1, 10)}
    # c2 is as far from both v1 instances: they share v1's part
    assert client_shares(view, r, "c2") == {"a1": Fraction(45, 100), "a3": Fraction(45, 100), "b3": Fraction(1, 10)}


def test_without_locality_every_client_gets_the_weights():
    view = NetworkView.from_declared(LINE)
    r = canary(view, locality=False)
    for client in ("c1", "c2", "c3"):
        assert client_shares(view, r, client) == {"a1": Fraction(45, 100), "a3": Fraction(45, 100),
                                                   "b3": Fraction(1, 10)}


def test_locality_falls_back_to_the_next_nearest_when_the_nearest_goes():
    view = NetworkView.from_declared(LINE)
    drained = canary(view, weights=(0, 45, 10))  # a1 drained: v1 weighs 45 now, v2 10
    assert client_shares(view, drained, "c1") == {"a3": Fraction(9, 11), "b3": Fraction(2, 11)}
    route = canary(view)
    view.remove_host("a1")  # detached altogether: the same
    assert client_shares(view, route, "c1") == {"a3": Fraction(9, 11), "b3": Fraction(2, 11)}


def test_locality_follows_the_links_that_are_up():
    # a ring: cut the link to c1's nearest instance and the other one is nearer than it
    ring = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s4"), ("s4", "s1")],
                    {"c1": "s1", "a2": "s2", "a3": "s3"})
    view = NetworkView.from_declared(ring)
    eps = tuple(ServiceEndpoint(h, view.hosts[h].ip, 80, 1, "v1") for h in ("a2", "a3"))
    r = ServiceRoute("web", VIP, "tcp", 80, eps, 3, locality=True)
    s1, s2 = view.switch_dpid("s1"), view.switch_dpid("s2")
    assert bucket_weights(view, s1, r) == {1: 2}  # a2, one hop: all of v1's share (1 + 1)
    port = next(l.src_port for l in view.links.values() if (l.src, l.dst) == (s1, s2))
    view.set_port_state(s1, port, False)
    assert bucket_weights(view, s1, r) == {2: 2}  # a3 two hops away the other way round, a2 three
    assert client_shares(view, r, "c1") == {"a3": Fraction(1)}


def test_bucket_weights_stay_within_openflow_bounds():
    view = NetworkView.from_declared(LINE)
    r = canary(view, weights=(0xFFFF, 0xFFFF, 1))
    weights = bucket_weights(view, view.switch_dpid("s1"), r)
    assert max(weights.values()) <= 0xFFFF and min(weights.values()) >= 1
    assert weights[1] == 0xFFFF  # a1 takes both v1 shares, scaled down to the largest bucket weight


@pytest.fixture
def core(tmp_path):
    view = NetworkView.from_declared(dict(LINE, service_range="10.96.0.0/16"))
    store = SdnStore(tmp_path / "sdn.db")
    yield SdnCore(view, store)
    store.close()


def test_an_endpoint_keeps_its_slot_across_updates_and_restarts(core, tmp_path):
    core.install_route("web", "10.96.0.5", "tcp", 80, [ServiceEndpoint("a1", "", 0, 1), ServiceEndpoint("a3", "", 0, 1)])
    slots = {e.host: e.slot for e in core.routes["web"].endpoints}
    assert slots == {"a1": 1, "a3": 2}
    core.update_route("web", [ServiceEndpoint("b3", "", 0, 1), ServiceEndpoint("a3", "", 0, 5)])  # a1 goes, b3 comes
    assert {e.host: e.slot for e in core.routes["web"].endpoints} == {"b3": 1, "a3": 2}
    core.update_route("web", [ServiceEndpoint("a3", "", 0, 5), ServiceEndpoint("b3", "", 0, 1), ServiceEndpoint("a1", "", 0, 1)])
    assert {e.host: e.slot for e in core.routes["web"].endpoints} == {"a3": 2, "b3": 1, "a1": 3}
    again = SdnCore(NetworkView.from_declared(dict(LINE, service_range="10.96.0.0/16")), core.store)
    assert again.routes["web"] == core.routes["web"]


def test_policy_fields_are_checked_and_kept(core):
    with pytest.raises(InvalidArgument, match="rate_limit_mbps"):
        core.install_route("web", "10.96.0.5", "tcp", 80, [ServiceEndpoint("a1", "", 0, 1)], rate_limit_mbps=float("nan"))
    with pytest.raises(InvalidArgument, match="subset"):
        core.install_route("web", "10.96.0.5", "tcp", 80, [ServiceEndpoint("a1", "", 0, 1, "v 1")])
    assert "web" not in core.routes
    route = core.install_route("web", "10.96.0.5", "tcp", 80, [ServiceEndpoint("a1", "", 0, 1, "v1")],
                               locality=True, rate_limit_mbps=0.5)
    assert (route.locality, route.rate_limit_kbps, route.endpoints[0].subset) == (True, 500, "v1")
    route = core.update_route("web", [ServiceEndpoint("a1", "", 0, 2, "v1")])  # endpoints only: policy kept
    assert (route.locality, route.rate_limit_kbps) == (True, 500)
    with pytest.raises(InvalidArgument, match="rate_limit_mbps"):
        core.update_route("web", None, rate_limit_mbps=-1)
    assert core.routes["web"] == route


def counters(dp: DataPlane) -> list[FlowCounter]:
    """The sim's hit counts as a switch reports them (one byte per packet: sizes are not modelled)."""
    flows = {f.key: f for table in dp.tables.values() for f in table}
    return [FlowCounter(flows[k].cookie, flows[k].table, flows[k].priority, dict(flows[k].match), n, n)
            for k, n in dp.hits.items() if k in flows]


def test_the_counters_give_connections_and_packets_per_endpoint_and_direction():
    view = NetworkView.from_declared(dict(LINE, gateway="10.0.255.254"))
    r = canary(view, locality=False)
    other = ServiceRoute("db", "10.0.100.2", "tcp", 5432, (ServiceEndpoint("a1", view.hosts["a1"].ip, 5432, 1),), 4)
    dp = DataPlane(desired_rules(view, [r, other], []), view)
    sent = {}  # endpoint -> (connections, requests, replies)
    for k, (client, x) in enumerate([("c1", 0.1), ("c1", 0.95), ("c2", 0.5), ("c3", 0.2), ("a1", 0.3)]):
        first = dp.send_one(client, request(view, client, src_port=41000 + k), by_hash(x))
        host = first.host
        for _ in range(2):  # two replies, then one more request each
            dp.send_one(host, answer(view, first))
        dp.send_one(client, request(view, client, src_port=41000 + k))
        conns, reqs, reps = sent.get(host, (0, 0, 0))
        sent[host] = (conns + 1, reqs + 2, reps + 2)
    dp.send_one("c2", ip_packet(view.hosts["c2"], "10.0.100.2", vip_mac("10.0.100.2"), dst_port=5432), by_hash(0))
    traffic = service_traffic(r, counters(dp), [MeterCounter(3, 7, 700), MeterCounter(4, 1, 1)])
    got = {e.host: (e.connections, e.tx_packets, e.rx_packets) for e in traffic.endpoints if e.connections}
    assert got == sent
    assert [e.subset for e in traffic.endpoints] == ["v1", "v1", "v2"]
    assert traffic.connections == 5
    assert (traffic.dropped_packets, traffic.dropped_bytes) == (0, 0)  # no rate limit, no meter of its own
    capped = ServiceRoute("web", VIP, "tcp", 80, r.endpoints, 3, rate_limit_kbps=100)
    assert service_traffic(capped, [], [MeterCounter(3, 7, 700), MeterCounter(3, 1, 100)]).dropped_packets == 8


def test_a_one_way_stream_is_counted_and_metered_before_any_reply():
    """A UDP stream nobody answers stays +new in Open vSwitch's connection tracker: its packets
    after the first must still be counted (and pass through the meter)."""
    view = NetworkView.from_declared(dict(LINE, gateway="10.0.255.254"))
    r = ServiceRoute("logs", VIP, "udp", 514, (ServiceEndpoint("a3", view.hosts["a3"].ip, 514, 1),), 5, rate_limit_kbps=100)
    dp = DataPlane(desired_rules(view, [r], []), view)
    for _ in range(5):
        assert dp.send_one("c1", request(view, "c1", proto="udp", dst_port=514)).host == "a3"
    metered = {k for table in dp.tables.values() for f in table if f.meter == r.meter_id for k in [f.key]}
    assert sum(n for k, n in dp.hits.items() if k in metered) == 5  # every datagram through the meter
    got = service_traffic(r, counters(dp), []).endpoints[0]
    assert (got.connections, got.tx_packets, got.rx_packets) == (1, 5, 0)




def test_a_weight_change_touches_only_the_groups_so_counters_live_on():
    """Open vSwitch resets a flow's counters when it is replaced: a split or an ejection must change
    the groups alone, never an endpoint's flows."""
    from controller.sdn.pipeline.load_balancing import service_rules
    from controller.sdn.pipeline.ruleset import RuleSet, diff

    view = NetworkView.from_declared(dict(LINE, gateway="10.0.255.254"))
    before = RuleSet.of(*service_rules(view, canary(view)))
    for weights in ((0, 45, 10), (0, 0, 100), (45, 45, 10)):
        for locality in (True, False):
            after = RuleSet.of(*service_rules(view, canary(view, weights=weights, locality=locality)))
            change = diff(before, after)
            assert not change.add_flows and not change.delete_flows, (weights, locality)
            assert not change.add_groups and not change.delete_groups


def ovs_dp_hash_shares(buckets: list[tuple[int, int]]) -> dict[int, Fraction]:
    """What Open vSwitch's datapath gives each slot: n hash values (a power of two above
    total / least weight, 16 to 256) shared out by Webster's method (ofproto-dpif.c)."""
    import math

    total, least = sum(w for _, w in buckets), min(w for _, w in buckets)
    n = max(16, 1 << math.ceil(math.log2(-(-total // least))))
    assert n <= 256, "more than 256: OVS leaves dp_hash for a biased slow-path choice"
    hits, divisors = [0] * len(buckets), [1] * len(buckets)
    for _ in range(n):
        k = max(range(len(buckets)), key=lambda i: buckets[i][1] / divisors[i])
        hits[k] += 1
        divisors[k] += 2
    out: dict[int, Fraction] = {}
    for (slot, _), h in zip(buckets, hits):
        out[slot] = out.get(slot, 0) + Fraction(h, n)
    return out


@pytest.mark.parametrize("weights", [{1: 90, 2: 10}, {1: 3, 2: 1}, {1: 45 * 600, 2: 45 * 600, 3: 10 * 600},
                                     {1: 95, 2: 5}, {1: 1, 2: 1, 3: 1}, {1: 70, 2: 20, 3: 10}])
def test_select_buckets_keep_the_split_to_a_few_tenths_of_a_percent_in_open_vswitch(weights):
    from controller.sdn.pipeline.load_balancing import select_buckets

    buckets = select_buckets(weights)
    total = sum(weights.values())
    got = ovs_dp_hash_shares(buckets)
    for slot, w in weights.items():
        assert abs(got[slot] - Fraction(w, total)) <= Fraction(1, 128), (slot, float(got[slot]))
    assert all(0 < w <= 0xFFFF for _, w in buckets)


def test_without_the_extra_bucket_a_canary_gets_an_eighth_not_a_tenth():
    assert ovs_dp_hash_shares([(1, 90), (2, 10)])[2] == Fraction(1, 8)  # why select_buckets exists
