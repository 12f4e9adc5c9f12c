"""Container logs: rotated past their cap keeping the newest bytes, read with a bound, by the supervisor's passes."""

from __future__ import annotations

import pytest

from dataplane.agent.logs import read_tail, rotate, rotated_path
from dataplane.agent.node import Node, NodeConfig
from dataplane.agent.layers import LayerStore
from dataplane.agent.state import AgentState

from test_node_concurrency import FakePodNetwork, FakeRegistry, FakeRunc, FakeSdn
from test_node_concurrency import mounts  # noqa: F401 - the fixture that fakes overlay mounts (they need root)


def lines(first: int, last: int) -> bytes:
    return b"".join(b"line %05d\n" % k for k in range(first, last))  # 11 bytes each


def test_a_log_under_its_cap_is_left_alone(tmp_path):
    log = tmp_path / "container.log"
    log.write_bytes(lines(0, 10))
    assert not rotate(log, 110)
    assert log.read_bytes() == lines(0, 10) and not rotated_path(log).exists()
    assert not rotate(tmp_path / "absent.log", 10)


def test_rotation_keeps_the_newest_bytes_and_empties_the_log(tmp_path):
    log = tmp_path / "container.log"
    log.write_bytes(lines(0, 100))
    assert rotate(log, 110)
    assert rotated_path(log).read_bytes() == lines(90, 100) and log.read_bytes() == b""
    with open(log, "ab") as out:  # the container carries on appending
        out.write(lines(100, 103))
    assert read_tail(log) == (lines(90, 103)).decode()
    log.write_bytes(lines(200, 300))
    assert rotate(log, 110)  # the previous rotated file is replaced
    assert rotated_path(log).read_bytes() == lines(290, 300)


def test_reading_is_bounded_and_tails_count_lines(tmp_path):
    log = tmp_path / "container.log"
    rotated_path(log).write_bytes(lines(0, 50))
    log.write_bytes(lines(50, 100))
    assert read_tail(log, tail_lines=3) == lines(97, 100).decode()
    assert read_tail(log, max_bytes=33) == lines(97, 100).decode()
    assert read_tail(log, tail_lines=60) == lines(40, 100).decode()  # across the rotated file
    assert read_tail(log, max_bytes=16) == "0098\nline 00099\n"  # a cut first line, never more bytes
    assert read_tail(tmp_path / "never-written.log") == ""


def test_the_supervisor_rotates_a_running_container_s_log(tmp_path, mounts):  # noqa: F811 - the fixture
    config = NodeConfig("edge1", "10.0.0.3", "s1", "10.0.128.0/24", 10_000, 10**7, tmp_path, "http://r:5000", 0.01,
                        max_log_bytes=1000)
    node = Node(config, store=LayerStore(tmp_path / "layers", 10**7), registry=FakeRegistry({"web": ["web"]}),
                runc=FakeRunc(), podnet=FakePodNetwork(), sdn=FakeSdn(), state=AgentState(tmp_path / "agent.db"))
    node.run("web", "web")
    log = node._log_path("web")
    log.write_bytes(lines(0, 1000))
    node.check_once()
    assert log.stat().st_size == 0 and rotated_path(log).stat().st_size == 1000
    assert node.logs("web", tail_lines=1) == "line 00999\n"
    node.close()


def test_a_log_cap_below_one_byte_is_refused(tmp_path):
    with pytest.raises(ValueError, match="max_log_bytes"):
        NodeConfig("edge1", "10.0.0.3", "s1", "10.0.128.0/24", 1, 1, tmp_path, "http://r:5000", 0.01, max_log_bytes=0)
