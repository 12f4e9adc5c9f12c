"""`kill -USR1 <daemon pid>`: every thread's stack to the daemon's log, identical stacks counted once.

A daemon with a thread per switch connection has thousands of threads; faulthandler prints only
the first 100, and one by one. Grouping shows at a glance where they wait."""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections import Counter


def grouped_stacks(frames: dict[int, object], names: dict[int, str]) -> str:
    """The stacks of `frames` (thread id -> frame), most common first, each with how many threads
    share it and one of their names."""
    counts: Counter[tuple[str, ...]] = Counter()
    example: dict[tuple[str, ...], str] = {}
    for ident, frame in frames.items():
        stack = tuple(line.rstrip() for line in traceback.format_stack(frame))
        counts[stack] += 1
        example.setdefault(stack, names.get(ident, str(ident)))
    parts = [f"{len(frames)} threads, {len(counts)} distinct stacks"]
    for stack, n in counts.most_common():
        parts.append(f"--- {n} thread(s), e.g. {example[stack]}:\n" + "\n".join(stack))
    return "\n".join(parts) + "\n"


def install(signum: int = signal.SIGUSR1, stream=None) -> None:
    """On `signum`, write every thread's grouped stack to `stream` (standard error by default)."""

    def dump(*_):
        names = {t.ident: t.name for t in threading.enumerate()}
        out = stream or sys.stderr
        out.write(grouped_stacks(sys._current_frames(), names))
        out.flush()

    signal.signal(signum, dump)
