"""VNFs that drive themselves: the descriptor's scaling and healing policies checked field by field,
the judge's thresholds, threshold time, cool-down and anti-flap rule, and the manager scaling and
healing through ordinary occurrences."""

from __future__ import annotations

import dataclasses

import pytest

from component_base.errors import InvalidArgument
from mano import lifecycle as lc
from mano.autoscale import HealJudge, HealingPolicy, Judge, ScalingPolicy, counter, parse_scaling
from mano.core import Pod, VnfManager
from mano.descriptors import parse_vnfd
from mano.store import ManoStore

from test_mano_core import FakeOrchestrator, FakeSdn

POLICY = ScalingPolicy("packets_per_second", scale_out_above=500, scale_in_below=100, threshold_seconds=10,
                       cooldown_seconds=30, min_instances=1, max_instances=3)
SCALING = """
name: mon
kind: monitor
image: alpine:3.18
scaling: {metric: packets_per_second, scale_out_above: 500, scale_in_below: 100, threshold_seconds: 10,
          cooldown_seconds: 30, min_instances: 1, max_instances: 3}
healing: {restarts: 3, window_seconds: 60}
"""


def feed(judge: Judge, level: int, rates: list[float], *, start: float = 0.0, step: float = 2.0,
         containers: int | None = None) -> list[tuple[float, int]]:
    """Samples every `step` s of a load whose per-container rate follows `rates`; the decisions
    made, as (time, new level), applied at once."""
    totals: dict[str, float] = {}
    decisions = []
    now = start
    for rate in rates:
        names = [f"c{k}" for k in range(containers or level)]
        for name in names:
            totals[name] = totals.get(name, 0.0) + rate * step
        judge.observe(now, {name: totals[name] for name in names})
        if decision := judge.decide(now, level):
            level = decision.level
            decisions.append((now, level))
        now += step
    return decisions


def test_a_load_above_the_threshold_scales_out_only_after_the_threshold_time():
    judge = Judge(POLICY)
    decisions = feed(judge, 1, [800] * 10)
    # the first rate is known at t=2; above since then, for 10 s: at t=12
    assert decisions == [(12.0, 2)]


def test_a_short_burst_scales_nothing():
    assert feed(Judge(POLICY), 1, [100, 900, 900, 900, 100, 900, 900, 100] * 5) == []


def test_an_oscillating_load_never_flaps():
    # each phase longer than the threshold: a change, then nothing during the cool-down; and a
    # scale-in only where the containers left stay under the scale-out threshold
    rates = ([800] * 8 + [80] * 8) * 6
    decisions = feed(Judge(POLICY), 1, rates)
    assert decisions, "a sustained load must scale out"
    times = [t for t, _ in decisions]
    assert all(later - earlier >= POLICY.cooldown_seconds for earlier, later in zip(times, times[1:]))
    assert len(decisions) <= len(rates) * 2.0 / POLICY.cooldown_seconds + 1


def test_no_scale_in_when_the_containers_left_would_be_over_the_scale_out_threshold():
    policy = dataclasses.replace(POLICY, scale_in_below=300)
    # 280 per container on 2: one container would carry 560 > 500
    assert feed(Judge(policy), 2, [280] * 30) == []
    assert feed(Judge(policy), 2, [200] * 30)[0][1] == 1


def test_the_cool_down_holds_after_a_change_and_the_bounds_hold():
    judge = Judge(POLICY)
    decisions = feed(judge, 1, [900] * 60)
    assert [level for _, level in decisions] == [2, 3]  # max 3
    assert decisions[1][0] - decisions[0][0] >= POLICY.cooldown_seconds
    assert feed(Judge(POLICY), 1, [0] * 60) == []  # min 1


def test_a_restarted_container_s_counter_gives_no_rate():
    judge = Judge(POLICY)
    judge.observe(0, {"a": 1000})
    assert judge.observe(2, {"a": 3000}) == pytest.approx(1000)
    assert judge.observe(4, {"a": 10}) is None  # went back: restarted
    assert judge.observe(6, {"a": 20, "b": 5}) == pytest.approx(5)  # b is new


def test_counters_come_from_the_vnf_s_stats_document():
    stats = {"packets": {"seen": 12, "passed": 10, "dropped": 2}, "bytes": {"seen": 900}}
    assert counter(stats, "packets_per_second") == 12
    assert counter(stats, "drops_per_second") == 2
    assert counter(stats, "bytes_per_second") == 900
    assert counter({"packets": "x"}, "packets_per_second") is None


def test_healing_counts_restarts_within_its_window():
    judge = HealJudge(HealingPolicy(restarts=3, window_seconds=60))
    assert judge.decide(0, {"a": 0, "b": 0}) is None
    assert judge.decide(10, {"a": 1, "b": 0}) is None
    assert judge.decide(80, {"a": 2, "b": 0}) is None  # the first is out of the window
    assert judge.decide(90, {"a": 2, "b": 2}) == "3 container restarts within 60 s (healing at 3)"
    assert judge.decide(95, {"a": 2, "b": 2}) is None


@pytest.mark.parametrize("change, field", [
    ({"metric": "cpu"}, "scaling.metric"),
    ({"scale_out_above": -1}, "scaling.scale_out_above"),
    ({"scale_out_above": float("nan")}, "scaling.scale_out_above"),
    ({"scale_in_below": 600}, "scale_in_below (600) must be below"),
    ({"min_instances": 5}, "min_instances <= max_instances"),
    ({"max_instances": 40}, "min_instances <= max_instances <= 16"),
    ({"min_instances": 1.5}, "scaling.min_instances: must be a positive whole number"),
    ({"extra": 1}, "unknown field(s) extra"),
])
def test_a_bad_scaling_policy_names_the_field(change, field):
    doc = {"metric": "packets_per_second", "scale_out_above": 500, "scale_in_below": 100, **change}
    with pytest.raises(InvalidArgument, match=field.replace("(", r"\(").replace(")", r"\)")):
        parse_scaling(doc)


def test_the_descriptor_carries_its_policies():
    vnfd = parse_vnfd(SCALING)
    assert '"scale_out_above": 500' in vnfd.scaling and '"restarts": 3' in vnfd.healing
    with pytest.raises(InvalidArgument, match="vnfd healing.window_seconds"):
        parse_vnfd(SCALING.replace("window_seconds: 60", "window_seconds: 0"))
    assert parse_vnfd("name: m\nkind: monitor\nimage: alpine:3.18\n").scaling == ""


class FakeStats:
    def __init__(self):
        self.packets: dict[str, float] = {}

    def read(self, ip):
        return {"packets": {"seen": self.packets.get(ip, 0.0)}}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def manager(tmp_path):
    store = ManoStore(tmp_path / "mano.db")
    orch, stats, clock = FakeOrchestrator(), FakeStats(), Clock()
    original = orch._pods
    orch._pods = lambda app, service, n: [dataclasses.replace(p, ip=f"10.0.0.{p.name.rsplit('-', 1)[1]}")
                                          for p in original(app, service, n)]
    manager = VnfManager(store, orch, FakeSdn(), run=lambda work: work(), ready_timeout=0.05, poll=0.001,
                         clock=clock, stats=stats)
    manager.onboard(parse_vnfd(SCALING))
    manager.instantiate("mon1", "mon")
    yield manager, orch, stats, clock
    store.close()


def test_the_manager_scales_out_and_in_through_occurrences(manager):
    manager, orch, stats, clock = manager

    def run(seconds: float, rate: float) -> None:
        for _ in range(int(seconds / 2)):
            for pod in orch.pods("vnf-mon1"):
                stats.packets[pod.ip] = stats.packets.get(pod.ip, 0.0) + rate * 2
            manager.autoscale_once()
            clock.now += 2

    run(30, 900)
    assert manager.instances["mon1"].state.scale_level == 2
    scaled = [op for op in manager.list_operations("mon1") if op.operation == lc.SCALE]
    assert len(scaled) == 1 and scaled[0].state == lc.COMPLETED
    assert scaled[0].detail.startswith("to 2 (auto: packets_per_second 900 packets/s per container above 500 for")
    run(60, 20)
    assert manager.instances["mon1"].state.scale_level == 1
    assert [op.detail.split(" (")[0] for op in manager.list_operations("mon1") if op.operation == lc.SCALE] \
        == ["to 2", "to 1"]


def test_the_manager_heals_an_instance_whose_containers_keep_restarting(manager):
    manager, orch, stats, clock = manager
    old = {p.name for p in orch.pods("vnf-mon1")}
    manager.autoscale_once()
    for restarts in (1, 2, 3):
        orch.apps["vnf-mon1"] = [dataclasses.replace(p, restarts=restarts) for p in orch.apps["vnf-mon1"]]
        clock.now += 5
        manager.autoscale_once()
    healed = [op for op in manager.list_operations("mon1") if op.operation == lc.HEAL]
    assert len(healed) == 1 and healed[0].state == lc.COMPLETED
    assert healed[0].detail == "auto: 3 container restarts within 60 s (healing at 3)"
    assert not old & {p.name for p in orch.pods("vnf-mon1")}
    assert isinstance(orch.pods("vnf-mon1")[0], Pod)
