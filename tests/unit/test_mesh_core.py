"""The mesh controller without the network: policies checked field by field, the weights that carry
a split out, outlier detection with Envoy's rules on a fake clock, and the SDN routes the mesh keeps
in step (bad requests change nothing; an unreachable SDN controller is caught up later)."""

from __future__ import annotations

import threading

import pytest

from component_base.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from controller.mesh.core import EndpointCounters, MeshCore, RouteCounters, SdnRoute
from controller.mesh.outliers import OutlierTracker
from controller.mesh.policy import (DEFAULT_POLICY, SPLIT_SCALE, MeshEndpoint, OutlierDetection, checked_policy,
                                    endpoint_weights)
from controller.mesh.store import MeshStore


class FakeSdn:
    """The SDN controller's route table, refusing endpoints it does not know as the real one does."""

    def __init__(self, known=("a1", "a2", "b1", "c1")):
        self.known = set(known)
        self.held: dict[str, SdnRoute] = {}
        self.down = False
        self.calls = 0

    def _reach(self):
        self.calls += 1
        if self.down:
            raise Unavailable("the SDN controller at unix:/x: connection refused")

    def routes(self):
        self._reach()
        return dict(self.held)

    def put(self, route, *, exists):
        self._reach()
        unknown = [e[0] for e in route.endpoints if e[0] not in self.known]
        if unknown:
            raise NotFound(f"unknown host {unknown[0]!r}")
        self.held[route.name] = route

    def remove(self, name):
        self._reach()
        self.held.pop(name, None)

    def stats(self, names):
        self._reach()
        return {n: RouteCounters(tuple(EndpointCounters(e[0], e[4], connections=e[3]) for e in self.held[n].endpoints),
                                 3, 300) for n in names}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def ep(host, subset="", ip=None, port=8080):
    return MeshEndpoint(host, ip or f"10.0.128.{len(host) + ord(host[-1]) % 50}", port, subset)


EPS = [ep("a1", "v1"), ep("a2", "v1"), ep("b1", "v2")]


@pytest.fixture
def mesh(tmp_path):
    sdn, clock = FakeSdn(), Clock()
    health = {}
    store = MeshStore(tmp_path / "mesh.db")
    core = MeshCore(store, sdn, probe=lambda ip, port, path, timeout: health.get(ip, True), clock=clock)
    core.sync()
    yield core, sdn, clock, health
    store.close()


# -- policies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("split, rate, outlier, field", [
    ({"v1": 90, "v2": 20}, 0, None, "sums to 110%"),
    ({"v1": 101}, 0, None, "split"),
    ({"v 1": 100}, 0, None, "not a subset name"),
    ({"": 100}, 0, None, "not a subset name"),
    ({}, float("nan"), None, "rate_limit_mbps"),
    ({}, -1, None, "rate_limit_mbps"),
    ({}, 0.0001, None, "1 kbit/s"),
    ({}, 0, OutlierDetection(interval=-1), "outlier_detection.interval"),
    ({}, 0, OutlierDetection(base_ejection_time=float("inf")), "outlier_detection.base_ejection_time"),
    ({}, 0, OutlierDetection(max_ejection_percent=150), "max_ejection_percent"),
    ({}, 0, OutlierDetection(http_path="healthz"), "http_path"),
    ({}, 0, OutlierDetection(timeout=5, interval=1), "timeout"),
])
def test_bad_policies_name_the_field(split, rate, outlier, field):
    with pytest.raises(InvalidArgument, match=field):
        checked_policy(split, False, rate, outlier)


def test_zero_outlier_fields_take_envoys_defaults():
    policy = checked_policy({}, False, 0, OutlierDetection(0, 0, 0, 0, 0, "", 0))
    assert policy.outlier_detection == OutlierDetection()
    assert (OutlierDetection().consecutive_5xx, OutlierDetection().interval, OutlierDetection().base_ejection_time,
            OutlierDetection().max_ejection_percent) == (5, 10.0, 30.0, 10)


def test_a_split_shares_each_subset_percent_among_its_endpoints():
    policy = checked_policy({"v1": 90, "v2": 10}, False, 0, None)
    weights = {w.endpoint.host: w.weight for w in endpoint_weights(EPS, policy, set()).endpoints}
    assert weights == {"a1": 45 * SPLIT_SCALE, "a2": 45 * SPLIT_SCALE, "b1": 10 * SPLIT_SCALE}
    # an ejected v1 endpoint leaves its part to the other v1: the canary keeps 10%
    weights = {w.endpoint.host: w.weight for w in endpoint_weights(EPS, policy, {"a1"}).endpoints}
    assert weights == {"a1": 0, "a2": 90 * SPLIT_SCALE, "b1": 10 * SPLIT_SCALE}
    assert max(weights.values()) <= 0xFFFF


def test_subsets_outside_the_split_get_nothing_and_missing_ones_are_reported():
    policy = checked_policy({"v2": 100}, False, 0, None)
    got = endpoint_weights(EPS, policy, set())
    assert {w.endpoint.host: w.weight for w in got.endpoints} == {"a1": 0, "a2": 0, "b1": 100 * SPLIT_SCALE}
    policy = checked_policy({"v1": 50, "v3": 50}, False, 0, None)
    assert "v3" in endpoint_weights(EPS, policy, set()).problem
    nothing = endpoint_weights(EPS, checked_policy({"v3": 100}, False, 0, None), set())
    assert not nothing.serving and "VIP refuses" in nothing.problem


def test_without_a_split_every_endpoint_is_equal_and_ejecting_all_is_ignored():
    got = endpoint_weights(EPS, DEFAULT_POLICY, {"a2"})
    assert {w.endpoint.host: w.weight for w in got.endpoints} == {"a1": 1, "a2": 0, "b1": 1}
    panic = endpoint_weights(EPS, DEFAULT_POLICY, {"a1", "a2", "b1"})
    assert panic.serving and "panic" in panic.problem


# -- outlier detection --------------------------------------------------------------------------------
def test_consecutive_failures_eject_for_a_growing_time_and_the_endpoint_returns():
    config = OutlierDetection(consecutive_5xx=3, interval=1, base_ejection_time=10, max_ejection_time=25,
                              max_ejection_percent=100)
    t = OutlierTracker()
    t.sync(["a", "b"], 0)
    assert t.due(0) == ["a", "b"]
    assert not t.record("a", False, 0, config) and not t.record("a", False, 1, config)
    assert not t.record("a", True, 2, config)  # a pass resets the count
    assert [t.record("a", False, s, config) for s in (3, 4, 5)] == [False, False, True]
    assert t.ejected() == {"a"} and t.due(6) == ["b"]  # not probed while out
    assert t.expire(14.9, config) == [] and t.expire(15, config) == ["a"]
    for s in (16, 17, 18):
        t.record("a", False, s, config)
    assert t.health["a"].ejected_until == 18 + 20  # the second ejection lasts twice as long
    t.expire(38, config)
    for s in (39, 40, 41):
        t.record("a", False, s, config)
    assert t.health["a"].ejected_until == 41 + 25  # capped at max_ejection_time
    assert t.health["a"].total_ejections == 3


@pytest.mark.parametrize("endpoints, percent, allowed", [
    (10, 30, 3),   # 3 of 10 is 30%: the third goes, the fourth would be 40%
    (5, 20, 1),    # 1 of 5 is 20% exactly
    (4, 50, 2),    # 2 of 4 is 50% exactly
    (3, 66, 1),    # 2 of 3 is 66.7% > 66
    (3, 67, 2),
    (4, 10, 1),    # below one endpoint's share: one is always allowed
    (2, 1, 1),
])
def test_max_ejection_percent_ejects_exactly_the_allowed_number(endpoints, percent, allowed):
    config = OutlierDetection(consecutive_5xx=1, interval=1, max_ejection_percent=percent)
    t = OutlierTracker()
    hosts = [f"h{k}" for k in range(endpoints)]
    t.sync(hosts, 0)
    ejected = [h for h in hosts if t.record(h, False, 0, config)]
    assert ejected == hosts[:allowed] and t.ejected() == set(hosts[:allowed])
    assert not any(t.record(h, False, 1, config) for h in hosts[allowed:])  # and still not one more


def test_max_ejection_percent_keeps_enough_endpoints_but_always_allows_one():
    config = OutlierDetection(consecutive_5xx=1, interval=1, max_ejection_percent=10)
    t = OutlierTracker()
    t.sync(["a", "b", "c"], 0)
    assert t.record("a", False, 0, config)   # one is always allowed
    assert not t.record("b", False, 0, config)  # 2 of 3 > 10%
    config50 = OutlierDetection(consecutive_5xx=1, interval=1, max_ejection_percent=70)
    assert t.record("b", False, 1, config50)  # 2 of 3 <= 70%


# -- the core and the SDN routes -----------------------------------------------------------------------
def test_a_service_becomes_a_route_weighted_by_its_policy(mesh):
    core, sdn, _, _ = mesh
    core.register("web.shop", "10.96.0.10", "tcp", 80)
    assert "web.shop" not in sdn.held  # no endpoint: nothing to route
    status = core.set_endpoints("web.shop", EPS)
    assert status.routed and sdn.held["web.shop"].endpoints == tuple(
        (e.host, e.ip, e.port, 1, e.subset) for e in EPS)
    core.set_policy("web.shop", checked_policy({"v1": 90, "v2": 10}, True, 5.0, None))
    route = sdn.held["web.shop"]
    assert (route.locality, route.rate_limit_mbps) == (True, 5.0)
    assert [w for _, _, _, w, _ in route.endpoints] == [45 * SPLIT_SCALE, 45 * SPLIT_SCALE, 10 * SPLIT_SCALE]
    core.delete_policy("web.shop")
    assert sdn.held["web.shop"].endpoints[0][3] == 1 and not sdn.held["web.shop"].locality
    core.deregister("web.shop")
    assert "web.shop" not in sdn.held
    with pytest.raises(NotFound):
        core.get("web.shop")


def test_bad_requests_change_nothing(mesh):
    core, sdn, _, _ = mesh
    core.register("web", "10.96.0.10", "tcp", 80)
    core.set_endpoints("web", EPS)
    before = (core.get("web"), dict(sdn.held))
    with pytest.raises(NotFound, match="zz"):  # the SDN controller does not know that host
        core.set_endpoints("web", [*EPS, ep("zz")])
    with pytest.raises(InvalidArgument, match="listed twice"):
        core.set_endpoints("web", [EPS[0], EPS[0]])
    with pytest.raises(InvalidArgument, match="port"):
        core.set_endpoints("web", [ep("a1", port=0)])
    with pytest.raises(AlreadyExists, match="10.96.0.10"):
        core.register("web", "10.96.0.11", "tcp", 80)
    with pytest.raises(AlreadyExists, match="service 'web'"):
        core.register("other", "10.96.0.10", "tcp", 80)
    with pytest.raises(InvalidArgument, match="DNS name"):
        core.register("Web_1", "10.96.0.12", "tcp", 80)
    core.register("dns", "10.96.0.53", "udp", 53)
    with pytest.raises(FailedPrecondition, match="UDP"):
        core.set_policy("dns", checked_policy({}, False, 0, OutlierDetection()))
    with pytest.raises(NotFound):
        core.set_policy("nope", DEFAULT_POLICY)
    assert (core.get("web"), {k: v for k, v in sdn.held.items()}) == before
    again = MeshCore(core.store, sdn)  # and nothing of it was stored
    assert again.services["web"].endpoints == tuple(sorted(EPS, key=lambda e: e.host))


def test_an_unreachable_sdn_controller_is_caught_up_and_a_restart_reloads(mesh):
    core, sdn, _, _ = mesh
    core.register("web", "10.96.0.10", "tcp", 80)
    sdn.down = True
    with pytest.raises(Unavailable, match="retries"):
        core.set_endpoints("web", EPS)
    assert not core.get("web").routed
    core.sync()  # still down: nothing lost
    sdn.down = False
    core.sync()
    assert core.get("web").routed and len(sdn.held["web"].endpoints) == 3
    # a restarted mesh finds the same services and changes nothing on the switches
    calls = sdn.calls
    again = MeshCore(core.store, sdn)
    again.sync()
    assert again.get("web").routed and sdn.calls == calls + 1  # one read, no write
    # a service deregistered while the SDN is down leaves the switches when it is back
    sdn.down = True
    with pytest.raises(Unavailable):
        again.deregister("web")
    sdn.down = False
    third = MeshCore(core.store, sdn)  # even across a restart: the route is owned
    third.sync()
    assert "web" not in sdn.held


def test_outlier_detection_ejects_in_the_switches_and_returns(mesh):
    core, sdn, clock, health = mesh
    core.register("web", "10.96.0.10", "tcp", 80)
    core.set_endpoints("web", EPS)
    config = OutlierDetection(consecutive_5xx=2, interval=1, base_ejection_time=5, max_ejection_percent=50)
    core.set_policy("web", checked_policy({}, False, 0, config))
    sick = EPS[0]
    health[sick.ip] = False
    for _ in range(2):
        core.probe_round()
        clock.now += 1
    weights = {h: w for h, _, _, w, _ in sdn.held["web"].endpoints}
    assert weights == {"a1": 0, "a2": 1, "b1": 1}
    status = {e.endpoint.host: e for e in core.get("web").endpoints}
    assert status["a1"].ejected and status["a1"].ejections == 1 and 3 < status["a1"].ejected_for <= 5
    health[sick.ip] = True
    clock.now += 5
    core.probe_round()
    assert {h: w for h, _, _, w, _ in sdn.held["web"].endpoints}["a1"] == 1
    core.delete_policy("web")  # detection off: nobody stays out
    health[sick.ip] = False
    for _ in range(3):
        core.probe_round()
        clock.now += 1
    assert all(w == 1 for _, _, _, w, _ in sdn.held["web"].endpoints)


def test_stats_per_endpoint_come_from_the_sdn(mesh):
    core, sdn, _, _ = mesh
    core.register("web", "10.96.0.10", "tcp", 80)
    core.register("idle", "10.96.0.11", "tcp", 80)
    core.set_endpoints("web", EPS)
    stats = core.stats([])
    assert [e.host for e in stats["web"].endpoints] == ["a1", "a2", "b1"] and stats["web"].dropped_packets == 3
    assert stats["idle"].endpoints == ()  # no route: zeros, and no call for it
    with pytest.raises(NotFound):
        core.stats(["nope"])


# -- no lock across a call to the SDN -------------------------------------------------------------------
class SlowSdn(FakeSdn):
    """An SDN whose answers to the routes it is told to hold back wait until released."""

    def __init__(self, slow=()):
        super().__init__()
        self.slow = set(slow)
        self.entered = threading.Event()
        self.release = threading.Event()

    def put(self, route, *, exists):
        if route.name in self.slow:
            self.entered.set()
            assert self.release.wait(10), "never released"
        super().put(route, exists=exists)


@pytest.fixture
def slow_mesh(tmp_path):
    sdn = SlowSdn()
    store = MeshStore(tmp_path / "mesh.db")
    core = MeshCore(store, sdn)
    core.sync()
    core.register("web", "10.96.0.10", "tcp", 80)
    core.register("api", "10.96.0.11", "tcp", 80)
    sdn.slow.add("web")
    yield core, sdn
    sdn.release.set()
    store.close()


def in_thread(call):
    result = {}

    def run():
        try:
            result["value"] = call()
        except Exception as exc:  # handed to the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_a_slow_sdn_call_blocks_neither_reads_nor_other_services(slow_mesh):
    core, sdn = slow_mesh
    slow, _ = in_thread(lambda: core.set_endpoints("web", EPS))
    assert sdn.entered.wait(5)
    others, result = in_thread(lambda: (core.get("web"), core.list(), core.set_endpoints("api", EPS[:1]),
                                        core.register("db", "10.96.0.12", "tcp", 5432), core.stats(["api"])))
    others.join(5)
    assert not others.is_alive(), "a call waited behind the slow SDN"
    web, _, api, _, _ = result["value"]
    assert web.service.endpoints == ()  # the slow change is not kept before its answer
    assert api.routed and "api" in sdn.held
    sdn.release.set()
    slow.join(5)
    assert core.get("web").routed and len(sdn.held["web"].endpoints) == 3


def test_two_changes_of_one_service_take_turns_and_both_stay(slow_mesh):
    core, sdn = slow_mesh
    policy = checked_policy({"v1": 100}, False, 0, None)
    first, first_result = in_thread(lambda: core.set_endpoints("web", EPS))
    assert sdn.entered.wait(5)
    second, second_result = in_thread(lambda: core.set_policy("web", policy))
    second.join(0.3)
    assert second.is_alive()  # its turn comes after the first's answer
    sdn.release.set()
    first.join(5)
    second.join(5)
    assert "error" not in first_result and "error" not in second_result
    service = core.get("web").service
    assert service.endpoints == tuple(sorted(EPS, key=lambda e: e.host)) and service.policy == policy
    assert {h: w for h, _, _, w, _ in sdn.held["web"].endpoints} == {"a1": 100 * SPLIT_SCALE // 2,
                                                                     "a2": 100 * SPLIT_SCALE // 2, "b1": 0}
    assert core.get("web").routed
    again = MeshCore(core.store, sdn)  # and both were stored
    assert again.services["web"] == service
