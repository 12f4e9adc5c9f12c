"""A daemon started by `strata up`/`demo` ends when the process that started it dies, however it dies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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
    parent_code = (
        "from harness.daemons import DaemonProcess, wait_healthy; from pathlib import Path; import time\n"
        f"d = DaemonProcess('placement', ['placement', '--listen', '127.0.0.1:{free_port()}'],"
        f" Path({str(tmp_path / 'daemon.txt')!r})).start()\n"
        "print(d.pid, flush=True)\n"
        "time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    daemon_pid = int(parent.stdout.readline())
    time.sleep(3)  # let the daemon get going
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while alive(daemon_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(daemon_pid):
        os.kill(daemon_pid, signal.SIGKILL)
        raise AssertionError("the daemon outlived the process that started it")
