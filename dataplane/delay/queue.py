"""The delay line: frames held for a fixed delay, in arrival order, lost at random, bounded in bytes."""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass

HEADROOM = 2.0                 # a line holds twice what its rate carries in one delay
STALL_MS = 20.0                # and what it carries while the element is held up this long (a busy machine)
MIN_BOUND_BYTES = 64 * 1024    # and never less: a burst of a few dozen full frames fits
UNSHAPED_RATE_MBPS = 1000.0    # the rate an unshaped link's bound is sized for


def queue_bound(rate_mbps: float, delay_ms: float) -> int:
    """Bytes a delay line may hold: what the link's rate carries in HEADROOM delays plus STALL_MS
    (an unshaped link, rate 0, is sized for UNSHAPED_RATE_MBPS), at least MIN_BOUND_BYTES."""
    rate = rate_mbps if rate_mbps > 0 else UNSHAPED_RATE_MBPS
    return max(MIN_BOUND_BYTES, int(rate * 1e6 / 8 * (HEADROOM * delay_ms + STALL_MS) / 1e3))


@dataclass
class LineCounters:
    """What a delay line did: frames accepted, sent on, lost at random, dropped because it was full."""

    accepted: int = 0
    sent: int = 0
    lost: int = 0
    overflowed: int = 0


class DelayLine:
    """One direction of a link: a frame enqueued at time t leaves at t + delay (seconds), after every
    frame enqueued before it; with probability loss it is lost instead; when the frames held would
    exceed `bound` bytes it is dropped (drop-tail). Times come from the caller (a monotonic clock)."""

    def __init__(self, delay: float, loss: float = 0.0, bound: int = MIN_BOUND_BYTES,
                 rng: random.Random | None = None):
        if delay < 0 or not 0.0 <= loss <= 1.0 or bound <= 0:
            raise ValueError(f"bad delay line: delay {delay} s, loss {loss}, bound {bound} bytes")
        self.delay, self.loss, self.bound = delay, loss, bound
        self.rng = rng or random.Random()
        self.frames: deque[tuple[float, bytes]] = deque()  # (due, frame), due non-decreasing
        self.held = 0                                        # bytes held
        self.counters = LineCounters()

    def enqueue(self, frame: bytes, now: float) -> bool:
        """Take a frame that arrived at `now`; False when it is lost or dropped."""
        if self.loss and self.rng.random() < self.loss:
            self.counters.lost += 1
            return False
        if self.held + len(frame) > self.bound:
            self.counters.overflowed += 1
            return False
        due = now + self.delay
        if self.frames and due < self.frames[-1][0]:  # a clock that stepped back never reorders
            due = self.frames[-1][0]
        self.frames.append((due, frame))
        self.held += len(frame)
        self.counters.accepted += 1
        return True

    def next_due(self) -> float | None:
        """When the first frame held is due, None when empty."""
        return self.frames[0][0] if self.frames else None

    def pop_due(self, now: float) -> list[bytes]:
        """The frames due by `now`, in order, removed from the line."""
        out = []
        frames = self.frames
        while frames and frames[0][0] <= now:
            frame = frames.popleft()[1]
            self.held -= len(frame)
            out.append(frame)
        self.counters.sent += len(out)
        return out


class Departures:
    """Many delay lines and when each is next due: a heap of the lines' first due times, so the
    next wake-up and the lines due are found in O(log lines)."""

    def __init__(self):
        self._heap: list[tuple[float, int]] = []   # (due, line key) of every non-empty line, once
        self.lines: dict[int, DelayLine] = {}

    def add(self, key: int, line: DelayLine) -> None:
        if key in self.lines:
            raise ValueError(f"delay line {key} exists already")
        self.lines[key] = line

    def enqueue(self, key: int, frame: bytes, now: float) -> bool:
        """Enqueue on line `key` (see DelayLine.enqueue)."""
        line = self.lines[key]
        was_empty = not line.frames
        taken = line.enqueue(frame, now)
        if taken and was_empty:
            heapq.heappush(self._heap, (line.frames[0][0], key))
        return taken

    def next_due(self) -> float | None:
        """The earliest due time of any line, None when every line is empty."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[int, list[bytes]]]:
        """(line key, its frames due by `now` in order), lines in order of their first due frame."""
        out = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            line = self.lines[key]
            out.append((key, line.pop_due(now)))
            if line.frames:
                heapq.heappush(heap, (line.frames[0][0], key))
        return out
