"""A controller's loop: one thread running its sync passes.

A pass runs when a change it watches is notified, when the time it asked for comes, and at least
once every resync period (the safety net)."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from ..cluster import Changes

log = logging.getLogger("strata.orchestrator")


class Controller(Protocol):
    name: str
    watches: tuple[str, ...]  # cluster change kinds that wake it

    def sync(self) -> float | None:
        """One pass over the store: decide under its lock, act (gRPC) without it, record the results.
        Returns the seconds after which it must run again even if nothing changes (a deadline, a
        back-off), or None. Runs on one thread at a time."""


class ControllerLoop:
    def __init__(self, controller: Controller, changes: Changes, resync: float):
        self.controller = controller
        self.resync = resync
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        changes.watch(controller.watches, self._wake.set)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.controller.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: a change notified during it runs the next one
            try:
                after = self.controller.sync()
            except Exception:
                log.exception("%s: sync pass failed", self.controller.name)
                after = None
            self._wake.wait(self.resync if after is None else max(0.0, min(after, self.resync)))

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
