"""The delay line: timing, order, loss rate, the byte bound, and the departures across many lines."""

from __future__ import annotations

import math
import random

import pytest

from dataplane.delay.queue import (MIN_BOUND_BYTES, UNSHAPED_RATE_MBPS, Departures, DelayLine,
                                   queue_bound)


def frame(n: int, size: int = 100) -> bytes:
    return n.to_bytes(4, "big") + bytes(size - 4)


def test_a_frame_leaves_exactly_after_the_delay():
    line = DelayLine(0.005)
    assert line.enqueue(frame(1), 10.0)
    assert line.next_due() == pytest.approx(10.005)
    assert line.pop_due(10.0049) == []
    assert line.pop_due(10.005) == [frame(1)]
    assert line.next_due() is None and line.held == 0


def test_frames_leave_in_arrival_order_each_at_its_own_time():
    line = DelayLine(0.010)
    arrivals = [0.0, 0.001, 0.001, 0.0025, 0.007]
    for n, t in enumerate(arrivals):
        line.enqueue(frame(n), t)
    assert line.pop_due(0.0099) == []
    assert line.pop_due(0.0111) == [frame(0), frame(1), frame(2)]
    assert line.pop_due(0.0124) == []
    assert line.pop_due(0.01251) == [frame(3)]
    assert line.pop_due(1.0) == [frame(4)]
    assert line.counters.sent == 5


def test_a_clock_stepping_back_never_reorders():
    line = DelayLine(0.005)
    line.enqueue(frame(1), 2.0)
    line.enqueue(frame(2), 1.999)   # arrived "earlier" by a clock that stepped back
    assert line.pop_due(2.005) == [frame(1), frame(2)]


def test_zero_delay_forwards_at_once():
    line = DelayLine(0.0)
    line.enqueue(frame(1), 5.0)
    assert line.pop_due(5.0) == [frame(1)]


@pytest.mark.parametrize("loss", [0.01, 0.1, 0.5])
def test_loss_rate_within_statistical_bounds(loss):
    n = 20_000
    line = DelayLine(0.001, loss, bound=n * 200, rng=random.Random(7))
    kept = sum(line.enqueue(frame(k), 0.0) for k in range(n))
    lost = n - kept
    sigma = math.sqrt(n * loss * (1 - loss))
    assert abs(lost - n * loss) < 5 * sigma     # fails by chance with probability < 1e-6
    assert line.counters.lost == lost and line.counters.accepted == kept


def test_no_loss_loses_nothing():
    line = DelayLine(0.001, 0.0, bound=10**9)
    assert all(line.enqueue(frame(k), 0.0) for k in range(10_000))


def test_the_same_seed_loses_the_same_frames():
    def pattern(seed):
        line = DelayLine(0.001, 0.3, bound=10**9, rng=random.Random(seed))
        return [line.enqueue(frame(k), 0.0) for k in range(200)]

    assert pattern(3) == pattern(3) != pattern(4)


def test_a_full_line_drops_the_tail_until_frames_leave():
    line = DelayLine(0.010, bound=1000)
    assert [line.enqueue(frame(k, 300), 0.0) for k in range(4)] == [True, True, True, False]
    assert line.held == 900 and line.counters.overflowed == 1
    assert not line.enqueue(frame(9, 101), 0.001)     # 1001 bytes would not fit
    assert line.enqueue(frame(5, 100), 0.001)         # 1000 does
    assert line.pop_due(0.010) == [frame(0, 300), frame(1, 300), frame(2, 300)]
    assert line.enqueue(frame(6, 300), 0.011)          # room again
    assert line.pop_due(1.0) == [frame(5, 100), frame(6, 300)]


def test_bad_parameters_are_refused():
    for delay, loss, bound in [(-0.001, 0.0, 1000), (0.001, 1.5, 1000), (0.001, -0.1, 1000), (0.001, 0.0, 0)]:
        with pytest.raises(ValueError):
            DelayLine(delay, loss, bound)


def test_the_bound_holds_the_rate_for_twice_the_delay_and_a_stall():
    # 100 Mbit/s = 12.5 MB/s; 50 ms x 2 + a 20 ms stall = 120 ms -> 1.5 MB
    assert queue_bound(100, 50) == 1_500_000
    assert queue_bound(100, 50) >= 100e6 / 8 * 0.050 * 2          # a full delay's bytes, twice
    assert queue_bound(1, 0.1) == MIN_BOUND_BYTES                   # never below the floor
    assert queue_bound(0, 10) == queue_bound(UNSHAPED_RATE_MBPS, 10)  # unshaped: sized for the default rate


def test_departures_wake_for_the_earliest_line_and_keep_each_line_in_order():
    departures = Departures()
    departures.add(0, DelayLine(0.010))
    departures.add(1, DelayLine(0.002))
    assert departures.next_due() is None
    departures.enqueue(0, frame(1), 0.0)
    departures.enqueue(1, frame(2), 0.001)
    departures.enqueue(0, frame(3), 0.0005)
    assert departures.next_due() == pytest.approx(0.003)
    assert departures.pop_due(0.003) == [(1, [frame(2)])]
    assert departures.next_due() == pytest.approx(0.010)
    departures.enqueue(1, frame(4), 0.004)
    assert departures.pop_due(0.0105) == [(1, [frame(4)]), (0, [frame(1), frame(3)])]
    assert departures.next_due() is None


def test_departures_refuse_a_line_twice():
    departures = Departures()
    departures.add(0, DelayLine(0.001))
    with pytest.raises(ValueError):
        departures.add(0, DelayLine(0.001))


def test_departures_of_many_lines_over_time_never_reorder_a_line_and_are_never_early():
    rng = random.Random(1)
    departures = Departures()
    delays = {key: rng.uniform(0.0, 0.05) for key in range(20)}
    for key, delay in delays.items():
        departures.add(key, DelayLine(delay, bound=10**9))
    sent: dict[int, list[tuple[int, float]]] = {key: [] for key in delays}
    arrival = {}
    now, n = 0.0, 0
    while now < 1.0:
        now += rng.expovariate(5000)
        key = rng.randrange(20)
        departures.enqueue(key, frame(n), now)
        arrival[n] = now
        n += 1
        for k, frames in departures.pop_due(now):
            sent[k] += [(int.from_bytes(f[:4], "big"), now) for f in frames]
    for k, frames in departures.pop_due(10.0):
        sent[k] += [(int.from_bytes(f[:4], "big"), 10.0) for f in frames]
    assert sum(len(s) for s in sent.values()) == n
    for key, out in sent.items():
        numbers = [m for m, _ in out]
        assert numbers == sorted(numbers)
        assert all(t >= arrival[m] + delays[key] - 1e-12 for m, t in out)
