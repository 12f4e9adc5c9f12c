"""Starting the delay element as a child process, giving it links, reading its counters, stopping it."""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("strata.delay")
REPO = Path(__file__).resolve().parents[2]
ANSWER_TIMEOUT = 30.0   # s for the element to start or to answer a request
STOP_TIMEOUT = 5.0      # s for it to end once its input is closed, before it is killed


@dataclass(frozen=True)
class DelayedLink:
    """One link through the element: its two interfaces in the element's namespace, the one-way
    delay (ms), the loss in each direction (%), and the link's rate (Mbit/s; 0 = unshaped) the
    queues are sized from."""

    a: str
    b: str
    delay_ms: float
    loss_percent: float = 0.0
    rate_mbps: float = 0.0


class DelayElement:
    """The element process. It lives in a network namespace of its own (`pid` names it, e.g.
    `ip link add ... peer name X netns PID`) and ends when stop() closes its input or when the
    process that started it dies: its namespace, and with it every interface of its links, goes
    with it."""

    def __init__(self, python: str = sys.executable, argv: list[str] | None = None):
        self.python = python
        self.argv = argv  # the command to run instead, e.g. on another server over SSH (its own namespace there)
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None
        self.realtime = False   # it got SCHED_FIFO

    def start(self) -> "DelayElement":
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        # run from this checkout: `-m` looks in the working folder first, which may hold another
        argv = self.argv or [self.python, "-m", "dataplane.delay"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
        try:
            ready = self._answer()
        except BaseException:
            self.stop()
            raise
        self.pid, self.realtime = ready["pid"], ready["realtime"]
        if not self.realtime:
            log.warning("the delay element runs without real-time scheduling: a busy machine will stretch delays")
        return self

    def add_links(self, links: list[DelayedLink]) -> None:
        """Serve these links (their interfaces must exist in the element's namespace)."""
        if links:
            self._request({"links": [asdict(link) for link in links]})

    def stats(self) -> dict:
        """Counters per link and direction: accepted, sent, lost, overflowed frames."""
        return self._request({"stats": True})

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """End the process (its links' interfaces go with its namespace). Idempotent."""
        if self.proc is None:
            return
        proc, self.proc, self.pid = self.proc, None, None
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _request(self, request: dict) -> dict:
        if not self.alive():
            raise RuntimeError("the delay element is not running")
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self._answer()
        if "error" in reply:
            raise RuntimeError(f"delay element: {reply['error']}")
        return reply

    def _answer(self) -> dict:
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while not select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the delay element did not answer within {ANSWER_TIMEOUT:g} s")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(STOP_TIMEOUT)
            raise RuntimeError(f"the delay element exited: {self.proc.stderr.read().strip()[-500:]}")
        return json.loads(line)
