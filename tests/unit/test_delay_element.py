"""The delay element without root: its event loop carrying frames between two sockets after the
delay and in order, its control requests, and how a network's links are chosen and spliced."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass

import pytest

from dataplane.delay.element import Element, Link
from dataplane.delay.launcher import DelayedLink
from dataplane.delay.queue import DelayLine
from dataplane.network import delay_params, delayed_link_count, spec_topo, spliced_link_class
from topologies.spec import HostSpec, LinkSpec, TopologySpec


class RunningElement:
    """An Element on a thread, its control channel a pipe, one link between two socket pairs: the
    test writes to `left`/`right` as the link's two neighbours would and reads what comes out."""

    def __init__(self, delay: float, loss: float = 0.0):
        self.control_read, self.control_write = os.pipe()
        self.answers_read, answers_write = os.pipe()
        self.element = Element(self.control_read, os.fdopen(answers_write, "w"))
        self.left, sock_a = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.right, sock_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for sock in (sock_a, sock_b):
            sock.setblocking(False)
        self.element.attach(Link("a", "b", sock_a, sock_b), [DelayLine(delay, loss), DelayLine(delay, loss)])
        self.thread = threading.Thread(target=self.element.run, daemon=True)
        self.thread.start()

    def request(self, text: str) -> dict:
        os.write(self.control_write, text.encode())
        return json.loads(os.read(self.answers_read, 1 << 16).decode().splitlines()[0])

    def close(self) -> None:
        os.close(self.control_write)   # end of input ends the loop
        self.thread.join(5)


def test_frames_cross_after_the_delay_in_order_both_ways_and_the_loop_ends_with_its_input():
    running = RunningElement(0.030)
    try:
        sent = {}
        for k in range(20):
            sent[k] = time.monotonic()
            running.left.send(b"L%03d" % k)
        running.right.send(b"R000")
        running.right.settimeout(5)
        running.left.settimeout(5)
        got = []
        for _ in range(20):
            frame = running.right.recv(100)
            got.append((frame, time.monotonic()))
        assert [f for f, _ in got] == [b"L%03d" % k for k in range(20)]
        assert all(t - sent[k] >= 0.030 for k, (_, t) in enumerate(got))   # never early
        assert running.left.recv(100) == b"R000"
        counters = running.request('{"stats": true}\n')["links"][0]
        assert counters["a_to_b"]["sent"] == 20 and counters["b_to_a"]["sent"] == 1
    finally:
        running.close()
    assert not running.thread.is_alive()


def test_a_lossy_link_loses_everything_at_100_percent():
    running = RunningElement(0.0, loss=1.0)
    try:
        for k in range(10):
            running.left.send(b"x")
        time.sleep(0.2)
        stats = running.request('{"stats": true}\n')
        assert stats["links"][0]["a_to_b"]["lost"] == 10
        running.right.setblocking(False)
        with pytest.raises(BlockingIOError):
            running.right.recv(100)
    finally:
        running.close()


def test_requests_answered_one_line_each_even_when_split_and_bad_ones_refused():
    running = RunningElement(0.0)
    try:
        os.write(running.control_write, b'{"sta')
        assert running.request('ts": true}\n')["links"][0]["a"] == "a"
        assert "error" in running.request("not json\n")
        assert "error" in running.request('{"frobnicate": 1}\n')
        assert "error" in running.request('[1, 2]\n')
        # a bad loss is refused before any interface is looked for
        assert "loss" in running.request('{"links": [{"a": "x", "b": "y", "delay_ms": 1, "loss_percent": 150}]}\n')["error"]
        assert "error" in running.request('{"links": [{"a": "no-such-if0", "b": "no-such-if1", "delay_ms": 1}]}\n')
        assert len(running.request('{"stats": true}\n')["links"]) == 1   # nothing half-added
    finally:
        running.close()


# -- which links a network splices, and how --------------------------------------------------------

def spec(links: list[LinkSpec], hosts: list[HostSpec]) -> TopologySpec:
    return TopologySpec("t", ["s1", "s2"], hosts, links)


@dataclass(frozen=True)
class HostWithAccessDelay(HostSpec):
    access_delay_ms: float = 0.0
    access_loss_percent: float = 0.0


def test_only_links_with_a_delay_or_a_loss_get_delay_parameters():
    assert delay_params(0.0, 0.0) == {}
    assert delay_params(2.5, 0.0) == {"delay_ms": 2.5, "loss_percent": 0.0}
    assert delay_params(0.0, 1.0) == {"delay_ms": 0.0, "loss_percent": 1.0}
    for bad in ((-1.0, 0.0), (1.0, 101.0), (1.0, -1.0)):
        with pytest.raises(ValueError):
            delay_params(*bad)


def test_the_topology_carries_each_links_delay_and_a_plain_link_stays_as_it_was():
    hosts = [HostWithAccessDelay("h1", "s1", "device", "10.0.0.1", "00:00:0a:00:00:01", access_mbps=20,
                                 access_delay_ms=1.5, access_loss_percent=2.0),
             HostSpec("h2", "s2", "device", "10.0.0.2", "00:00:0a:00:00:02")]
    t = spec([LinkSpec("s1", "s2", 50.0, delay_ms=4.0)], hosts)
    topo = spec_topo(t)
    info = {frozenset((a, b)): topo.linkInfo(a, b) for a, b in topo.links()}
    assert info[frozenset(("s1", "s2"))]["delay_ms"] == 4.0 and info[frozenset(("s1", "s2"))]["bw"] == 50.0
    assert info[frozenset(("h1", "s1"))]["delay_ms"] == 1.5 and info[frozenset(("h1", "s1"))]["loss_percent"] == 2.0
    assert "delay_ms" not in info[frozenset(("h2", "s2"))] and "loss_percent" not in info[frozenset(("h2", "s2"))]
    assert delayed_link_count(t) == 2
    assert delayed_link_count(spec([LinkSpec("s1", "s2", 50.0)], hosts[1:])) == 0


class RecordingNode:
    """What a Mininet link needs of a node; it records the shell commands it is given."""

    inNamespace = False  # noqa: N815

    def __init__(self, name: str, pid: int):
        self.name, self.pid = name, pid
        self.intfs, self.ports, self.nameToIntf = {}, {}, {}  # noqa: N815
        self.commands: list[str] = []

    def newPort(self) -> int:  # noqa: N802
        return len(self.intfs)

    def addIntf(self, intf, port=None, moveIntfFn=None) -> None:  # noqa: N802, N803
        self.intfs[port] = intf
        self.ports[intf] = port
        self.nameToIntf[intf.name] = intf

    def cmd(self, *args) -> str:
        self.commands.append(" ".join(map(str, args)))
        return ""


class FakeElement:
    pid = 4242


def test_a_delayed_link_is_two_veth_pairs_into_the_elements_namespace_and_a_plain_one_a_single_pair():
    link_class = spliced_link_class(FakeElement())
    a, b = RecordingNode("s1", 100), RecordingNode("s2", 200)
    link = link_class(a, b, bw=50.0, delay_ms=4.0, loss_percent=1.0)
    assert link.delayed == DelayedLink("s1-eth0", "s2-eth0", 4.0, 1.0, 50.0)
    assert a.commands[0] == "ip link add name s1-eth0 type veth peer name s1-eth0 netns 4242"
    assert b.commands[0] == "ip link add name s2-eth0 type veth peer name s2-eth0 netns 4242"
    assert link.intf1.params["bw"] == 50.0   # shaped as before, on the nodes' own ends

    c, d = RecordingNode("s3", 300), RecordingNode("s4", 400)
    plain = link_class(c, d, bw=10.0)
    assert plain.delayed is None
    assert c.commands[0] == "ip link add name s3-eth0 type veth peer name s4-eth0 netns 400"
    assert not any("ip link add" in command for command in d.commands)


def test_a_delayed_link_without_an_element_is_refused():
    with pytest.raises(RuntimeError):
        spliced_link_class(None)(RecordingNode("s1", 1), RecordingNode("s2", 2), delay_ms=1.0)
