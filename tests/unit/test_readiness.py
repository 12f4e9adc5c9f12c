"""Readiness and the supervisor: a container counts as ready only once its process listens on its port; an OOM kill is recorded as such."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from dataplane.agent.layers import LayerStore
from dataplane.agent.node import Node, NodeConfig
from dataplane.agent.readiness import listening_ports, listens_on
from dataplane.agent.runtime import oom_kills
from dataplane.agent.state import RESTARTING, RUNNING, AgentState, ContainerRecord
from component_base.errors import InvalidArgument

# A real /proc/net/tcp: a listener on 127.0.0.1:8080 (1F90), an established connection from
# 10.0.128.5:39000 to port 80 (state 01), and a socket bound to 3550 (0DDE) that does not listen (07).
TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41311 1 0000000000000000 100 0 0 10 0
   1: 0580000A:9858 0280000A:0050 01 00000000:00000000 00:00000000 00000000     0        0 41420 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0DDE 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41500 1 0000000000000000 100 0 0 10 0
"""

TABLE6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0CEA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0
"""

# Binds a port, says which, and listens only when told to (a service still starting up).
LATE_LISTENER = """
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
sys.stdin.readline()
s.listen()
sys.stdin.readline()
"""


def test_only_listening_sockets_count():
    assert listening_ports(TABLE) == {8080}
    assert listening_ports(TABLE6) == {3306}
    assert listening_ports("") == set()
    assert listening_ports(TABLE.splitlines()[0]) == set()


def test_a_socket_of_this_process_is_seen_while_it_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert not listens_on(os.getpid(), port)  # bound is not listening
        s.listen()
        assert listens_on(os.getpid(), port)
    assert not listens_on(os.getpid(), port)


def test_a_process_that_is_gone_is_not_listening():
    proc = subprocess.Popen([sys.executable, "-c", LATE_LISTENER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    port = int(proc.stdout.readline())
    proc.stdin.write("listen\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 10
    while not listens_on(proc.pid, port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert listens_on(proc.pid, port)
    proc.kill()
    proc.wait()
    assert not listens_on(proc.pid, port)


# -- the node's supervisor ----------------------------------------------------------------------

class FakeRunc:
    """Only what the supervisor asks of a dead container: whether the OOM killer killed it."""

    def __init__(self):
        self.oom = False

    def oom_killed(self, container_id: str) -> bool:
        return self.oom


@pytest.fixture
def node(tmp_path):
    config = NodeConfig("edge1", "10.0.0.3", "s1", "10.0.128.0/24", 1000, 10**7, tmp_path, "http://r:5000", 0.01)
    n = Node(config, store=LayerStore(tmp_path / "layers", 10**7), registry=None, runc=FakeRunc(), podnet=None,
             sdn=None, state=AgentState(tmp_path / "agent.db"))
    yield n
    n.close()


def adopt(node: Node, name: str, pid: int, ready_port: int) -> ContainerRecord:
    """A running container whose process is `pid`, as the node holds it after starting it. It died once
    already: a death now is its second within a minute, so it waits out a back-off (no restart, which
    would mount a root folder, in the same pass)."""
    record = ContainerRecord(name=name, image="app", layers=[], ip="10.0.128.5", mac="", netns="", host_veth="",
                             ofport=1, cpu_millicores=100, args=["app"], env=[], cwd="/", state=RUNNING, pid=pid,
                             started_at=time.time(), ready_port=ready_port)
    record.crash_streak = 1
    node.records[name] = record
    return record


def test_a_container_is_ready_once_its_process_listens_and_not_after_it_dies(node):
    proc = subprocess.Popen([sys.executable, "-c", LATE_LISTENER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        port = int(proc.stdout.readline())
        record = adopt(node, "web", proc.pid, port)
        node.check_once()
        assert not node.ready(record)  # runs, bound, not listening yet

        proc.stdin.write("listen\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 10
        while not node.ready(record) and time.monotonic() < deadline:
            time.sleep(0.05)
            node.check_once()
        assert node.ready(record)
    finally:
        proc.kill()
        proc.wait()
    node.check_once()
    assert record.state == RESTARTING and not node.ready(record)


def test_a_container_without_a_ready_port_is_ready_while_it_runs(node):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = adopt(node, "worker", proc.pid, 0)
        node.check_once()
        assert node.ready(record)
    finally:
        proc.kill()
        proc.wait()


def test_a_new_process_of_the_same_container_starts_unready(node):
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    second = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = adopt(node, "web", first.pid, 0)
        node.check_once()
        assert node.ready(record)
        record.ready_port, record.pid = 1, second.pid  # restarted: a new process, nothing on port 1
        node.check_once()
        assert not node.ready(record)
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("port", [-1, 65536])
def test_a_ready_port_out_of_range_is_refused(node, port):
    with pytest.raises(InvalidArgument, match="ready_port"):
        node.run("web", "app", ready_port=port)


@pytest.mark.parametrize("oom", [True, False])
def test_a_process_the_oom_killer_killed_is_restarted_with_the_reason_oomkilled(node, oom):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    record = adopt(node, "hog", proc.pid, 0)
    record.memory_limit_mib = 16
    node.check_once()
    assert record.state == RUNNING and record.last_termination_reason == ""
    node.runc.oom = oom
    proc.kill()
    proc.wait()
    node.check_once()
    assert record.state == RESTARTING
    assert record.last_termination_reason == ("OOMKilled" if oom else "")
    assert ("OOM killer (memory limit 16 MiB)" in record.message) == oom


def test_oom_kills_are_read_from_memory_oom_control(tmp_path):
    assert oom_kills(tmp_path / "absent") == 0
    (tmp_path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert oom_kills(tmp_path) == 2
