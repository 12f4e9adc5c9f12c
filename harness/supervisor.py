"""Supervision: every daemon, node agent and the registry a stack started is started again when it
dies, with back-off, as systemd's `Restart=on-failure` would; each death and restart is logged and
written to the run folder's supervision.json, which `strata status` reads.

The back-off is the agents' own for containers (component_base.backoff: at once, then 1, 2, 4 ... 30 s; a process that ran a minute
starts the count again). A component replaced on purpose (a test's restart_agent) is noticed by its
new pid and is not counted as a restart; `paused()` keeps the supervisor out while that happens.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from component_base.backoff import QUICK_DEATH_SECONDS, restart_delay

log = logging.getLogger("strata.supervisor")

SUPERVISION_FILE = "supervision.json"  # in the run folder
INTERVAL = 0.5              # s between two looks


class Process(Protocol):
    """What the supervisor needs of a component (harness.daemons.DaemonProcess has it all)."""

    @property
    def pid(self) -> int | None: ...

    def alive(self) -> bool: ...

    def exit_code(self) -> int | None: ...

    def start(self): ...


@dataclass
class Watched:
    """One component as `strata status` shows it."""
    name: str
    kind: str                  # daemon | agent | registry
    pid: int | None
    started_at: float          # Unix seconds of its current process's start
    restarts: int = 0          # starts by the supervisor
    state: str = "running"     # running | restarting (waiting out its back-off)
    last_exit: int | None = None   # the exit status of its last death (negative: killed by that signal)
    last_exit_at: float = 0.0
    streak: int = 0            # deaths in a row, each within QUICK_DEATH_SECONDS of its start
    next_try: float = 0.0      # Unix seconds of the next start while restarting
    health: str = ""           # where `strata status` checks it: a gRPC address ("" = by its process)
    identity: str = ""         # the identity (SPIFFE URI) the server's certificate must carry there


@dataclass(frozen=True)
class Target:
    """A component to watch: its current process (looked up every time: a restart on purpose may
    replace it), its kind and where its health is checked."""
    process: Callable[[], Process | None]
    kind: str
    health: str = ""
    identity: str = ""


class Supervisor:
    def __init__(self, targets: Callable[[], dict[str, Target]], status_path: Path, *,
                 clock: Callable[[], float] = time.time, interval: float = INTERVAL,
                 say: Callable[[str], None] | None = None):
        self.targets = targets
        self.status_path = Path(status_path)
        self.clock = clock
        self.interval = interval
        self.say = say or log.warning
        self.watched: dict[str, Watched] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> None:
        """One look at every component: note deaths, start again those whose back-off is over."""
        with self.lock:
            now = self.clock()
            changed = False
            targets = self.targets()
            for name, target in targets.items():
                process = target.process()
                if process is None:
                    continue
                entry = self.watched.get(name)
                if entry is None:
                    entry = self.watched[name] = Watched(name, target.kind, process.pid, now, health=target.health,
                                                         identity=target.identity)
                    changed = True
                if process.alive():
                    if entry.pid != process.pid or entry.state != "running":  # replaced on purpose
                        entry.pid, entry.started_at, entry.state = process.pid, now, "running"
                        changed = True
                    continue
                if entry.state == "running":  # a death just now
                    ran = now - entry.started_at
                    entry.streak = entry.streak + 1 if ran < QUICK_DEATH_SECONDS else 1
                    entry.last_exit, entry.last_exit_at = process.exit_code(), now
                    entry.state, entry.next_try = "restarting", now + restart_delay(entry.streak)
                    self.say(f"supervisor: {name} (pid {entry.pid}) died with status {entry.last_exit} after "
                             f"{ran:.0f} s; starting it again in {restart_delay(entry.streak):g} s")
                    changed = True
                if entry.state == "restarting" and now >= entry.next_try:
                    try:
                        process.start()
                    except Exception as exc:  # noqa: BLE001 - say it, and try again after a longer back-off
                        entry.streak += 1
                        entry.next_try = now + restart_delay(entry.streak)
                        self.say(f"supervisor: starting {name} again failed: {exc}")
                    else:
                        entry.restarts += 1
                        entry.pid, entry.started_at, entry.state = process.pid, now, "running"
                        self.say(f"supervisor: {name} started again, pid {entry.pid} (restart {entry.restarts})")
                    changed = True
            for gone in set(self.watched) - set(targets):
                del self.watched[gone]
                changed = True
            if changed:
                self._write()

    def _write(self) -> None:
        """supervision.json, replaced whole (a reader never sees half of it)."""
        document = {"updated": self.clock(), "supervisor_pid": os.getpid(),
                    "components": [asdict(w) for w in sorted(self.watched.values(), key=lambda w: w.name)]}
        partial = self.status_path.with_suffix(".json.partial")
        partial.write_text(json.dumps(document, indent=1))
        partial.replace(self.status_path)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No look while a component is replaced on purpose."""
        with self.lock:
            yield

    def start(self) -> "Supervisor":
        self.check_once()

        def loop() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.check_once()
                except Exception:  # noqa: BLE001 - the supervisor must outlive what it supervises
                    log.exception("supervision pass failed")

        self._thread = threading.Thread(target=loop, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """No more restarts (before the stack takes its components down)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self.lock:
            pass  # a pass under way has ended


def read_status(path: Path) -> dict:
    """What supervision.json says; {} when the stack runs without supervision."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
