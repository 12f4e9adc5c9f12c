"""A daemon started by `strata up`/`demo` ends when the process that started it dies, however it dies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from harness.daemons import wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_daemon_exits_when_its_parent_is_killed(tmp_path):
    log = tmp_path / "daemon.txt"
    parent_code = (
        "from harness.daemons import DaemonProcess; from pathlib import Path; import time\n"
        f"d = DaemonProcess('placement', ['placement', '--listen', '127.0.0.1:{free_port()}', '--metrics', 'off'],"
        f" Path({str(log)!r})).start()\n"
        "print(d.pid, flush=True)\n"
        "time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    daemon_pid = int(parent.stdout.readline())
    # the daemon is going once it answers (and has asked, at start, to die with its parent)
    wait_for(lambda: "placement service listening" in log.read_text(), 30, "the daemon to listen", 0.05)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    try:
        wait_for(lambda: not alive(daemon_pid), 15, "the daemon to end with the process that started it", 0.05)
    finally:
        if alive(daemon_pid):
            os.kill(daemon_pid, signal.SIGKILL)
