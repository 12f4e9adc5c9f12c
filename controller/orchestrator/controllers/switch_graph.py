"""The SDN's switch graph as the orchestrator reads it, cached.

Asked at most every `max_age` seconds, never under a lock (two threads may both ask when it is
stale; the later answer is kept)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..ports import Sdn
from ..sources import SwitchGraph


class SwitchGraphCache:
    def __init__(self, sdn: Sdn, clock: Callable[[], float], max_age: float = 5.0):
        self.sdn = sdn
        self.clock = clock
        self.max_age = max_age
        self._lock = threading.Lock()
        self._cached: tuple[float, SwitchGraph] | None = None

    def get(self) -> SwitchGraph:
        """The graph; Unavailable when it is stale and the SDN does not answer."""
        now = self.clock()
        with self._lock:
            if self._cached is not None and now - self._cached[0] <= self.max_age:
                return self._cached[1]
        graph = self.sdn.switch_graph()
        with self._lock:
            self._cached = (now, graph)
        return graph
