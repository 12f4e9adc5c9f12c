"""Link delay and loss applied by the delay element on a real network: ping RTTs are twice the path's
declared delay plus what the same network takes without delays, loss is applied at its rate, TCP and
shaping still work, and nothing is left once the network stops."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace

import pytest

from topologies.spec import Addresses, HostSpec, LinkSpec, TopologySpec

from conftest import ROOT, launch

PINGS = 500
INTERVAL = 0.01   # s between pings
ACCURACY_MS = 1.0      # the median round trip against twice the declared delay plus the datapath's own
TAIL_SLACK_MS = 3.0    # the 90th percentile: the element is a Python process on a shared 2-core machine,
#                        where a whole suite's runs saw a few pings stalled tens of ms (the plain
#                        network's own p99 reached 2.1 ms); bench/link_delay.py measures the p99
#                        against the 1 ms goal, the test bounds the bulk of the distribution
LOSS_PERCENT = 10.0
FAILURE_PROBABILITY = 1e-6


@dataclass(frozen=True)
class DelayedHost(HostSpec):
    """A host with its access link's delay and loss (the topology model's fields, default 0)."""

    access_delay_ms: float = 0.0
    access_loss_percent: float = 0.0


def delay_spec(delays: bool, tag: str = "") -> TopologySpec:
    """s1 -5 ms- s2 -3 ms- s3, and s1 -(10% loss)- s4. h1 and h3 on s1; h2 on s3 behind a 1 ms,
    20 Mbit/s access link; h4 on s4. h1 -> h2: 9 ms each way. With `delays` off: all zero. `tag`
    goes into every node's name (s<tag>1, h<tag>1): two networks on one machine need their own."""
    addresses = Addresses("10.0.0.0/16")
    s1, s2, s3, s4 = (f"s{tag}{k}" for k in range(1, 5))

    def host(k, switch, **extra):
        ip, mac = addresses.next()
        return DelayedHost(f"h{tag}{k}", switch, "device", ip, mac, **extra)

    hosts = [host(1, s1), host(2, s3, access_mbps=20.0, access_delay_ms=1.0), host(3, s1), host(4, s4)]
    links = [LinkSpec(s1, s2, 100.0, delay_ms=5.0), LinkSpec(s2, s3, 100.0, delay_ms=3.0),
             LinkSpec(s1, s4, 100.0, loss_percent=LOSS_PERCENT)]
    if not delays:
        hosts = [replace(h, access_delay_ms=0.0, access_loss_percent=0.0) for h in hosts]
        links = [replace(link, delay_ms=0.0, loss_percent=0.0) for link in links]
    return TopologySpec(f"delaylab{tag}", [s1, s2, s3, s4], hosts, links)


PATH_DELAY_MS = 5.0 + 3.0 + 1.0   # h1 -> h2, one way


def rtts(host, target_ip: str, count: int = PINGS) -> list[float]:
    host.cmd(f"ping -c 3 -i 0.2 {target_ip}")   # ARP and the first packets' flow set-up, not measured
    out = host.cmd(f"ping -c {count} -i {INTERVAL} -W 2 {target_ip}")
    return sorted(float(x) for x in re.findall(r"time=([0-9.]+)", out))


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def binomial_range(n: int, p: float, failure: float) -> tuple[int, int]:
    """[lo, hi] holding a Binomial(n, p) draw except with probability below `failure`."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    lo, tail = 0, 0.0
    while tail + pmf[lo] < failure / 2:
        tail += pmf[lo]
        lo += 1
    hi, tail = n, 0.0
    while tail + pmf[hi] < failure / 2:
        tail += pmf[hi]
        hi -= 1
    return lo, hi


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The same network without delays or loss: the datapath's own round trip (measured, then the
    network is stopped: the delayed one has the same names)."""
    running = launch("delaylab-plain", tmp_path_factory, delay_spec(False))
    try:
        assert running.network.delay_element is None   # nothing delayed: no element, plain veth pairs
        return {"h1-h2": rtts(running.host("h1"), running.host("h2").IP())}
    finally:
        running.stop()


@pytest.fixture(scope="module")
def delayed(tmp_path_factory, plain):
    running = launch("delaylab", tmp_path_factory, delay_spec(True))
    yield running
    running.stop()


def lossy_link(stats: dict) -> dict:
    """The element's counters of s1-s4, the lossy link."""
    found = [link for link in stats["links"] if {link["a"].split("-")[0], link["b"].split("-")[0]} == {"s1", "s4"}]
    assert len(found) == 1, stats
    return found[0]


def test_rtt_is_twice_the_paths_delay_plus_the_datapaths_own(delayed, plain):
    measured = rtts(delayed.host("h1"), delayed.host("h2").IP())
    base = plain["h1-h2"]
    two_d = 2 * PATH_DELAY_MS
    assert len(measured) >= PINGS * 0.99 and len(base) >= PINGS * 0.99
    assert measured[0] >= two_d                                         # never early
    assert abs(quantile(measured, 0.5) - two_d - quantile(base, 0.5)) <= ACCURACY_MS, (measured, base)
    assert quantile(measured, 0.9) - two_d <= quantile(base, 0.9) + TAIL_SLACK_MS, (measured, base)


def test_loss_is_applied_at_its_rate_in_each_direction(delayed):
    h1, target = delayed.host("h1"), delayed.host("h4").IP()
    h1.cmd(f"ping -c 5 -i 0.2 {target}")   # ARP resolved first: then every ping is one draw each way
    stats_before = delayed.network.delay_stats()
    out = h1.cmd(f"ping -c {PINGS} -i {INTERVAL} -W 1 {target}")
    received = int(re.search(r"(\d+) received", out).group(1))
    survive = (1 - LOSS_PERCENT / 100) ** 2         # the request and the reply each cross the lossy link
    lo, hi = binomial_range(PINGS, survive, FAILURE_PROBABILITY)
    assert lo <= received <= hi, (received, lo, hi)
    lossy, old = lossy_link(delayed.network.delay_stats()), lossy_link(stats_before)
    for direction in ("a_to_b", "b_to_a"):
        now, then = lossy[direction], old[direction]
        offered = now["accepted"] + now["lost"] - then["accepted"] - then["lost"]
        lost = now["lost"] - then["lost"]
        assert offered >= PINGS * 0.8    # s1 -> s4 carries every request, s4 -> s1 the replies to those that arrived
        lo, hi = binomial_range(offered, LOSS_PERCENT / 100, FAILURE_PROBABILITY)
        assert lo <= lost <= hi, (direction, lost, offered)


def test_tcp_crosses_delayed_links_and_their_bandwidth_still_applies(delayed):
    server, client = delayed.host("h2"), delayed.host("h1")   # h2's access link: 20 Mbit/s, 1 ms
    server.cmd("iperf3 -s -1 -D -p 5203 >/dev/null 2>&1")
    out = client.cmd(f"iperf3 -c {server.IP()} -p 5203 -t 3 -J")
    received = json.loads(out[out.index("{"):])["end"]["sum_received"]["bits_per_second"]
    assert 5e6 < received <= 21e6, received


def test_the_element_serves_exactly_the_delayed_links_and_goes_with_the_network(delayed):
    served = [(link["a"], link["b"]) for link in delayed.network.delay_stats()["links"]]
    nodes = sorted({a.split("-")[0] for a, _ in served} | {b.split("-")[0] for _, b in served})
    assert len(served) == 4 and nodes == ["h2", "s1", "s2", "s3", "s4"]  # h1, h3, h4's links stay plain
    pid = delayed.network.delay_element.pid
    in_root = [name for pair in served for name in pair if name.startswith("s")]
    delayed.stop()
    assert not os.path.exists(f"/proc/{pid}")
    shown = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert not [name for name in in_root if re.search(rf"^{re.escape(name)}[@\s]", shown, re.M)]


LAUNCHER = """
import sys, time
from dataplane.network import EdgeNetwork
from test_link_delay import delay_spec
net = EdgeNetwork(delay_spec(True, tag="x"), controller=("127.0.0.1", 6699)).build()
print(net.delay_element.pid, flush=True)
time.sleep(600)
"""


def test_a_crashed_launcher_leaves_no_element_and_no_spliced_interface():
    """The process that built a delayed network is killed (SIGKILL): its element ends and the
    spliced interfaces go with the element's namespace. (What Mininet itself leaves, the shells
    and plain links, is cleared as after any crash.)"""
    from dataplane.network import _kill_groups, _processes, _root_interfaces, interface_command, node_names, \
        shell_node, _run

    spec = delay_spec(True, tag="x")
    here = str(ROOT / "tests" / "integration")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "proto"), here])})
    try:
        pid = int(proc.stdout.readline())
        assert os.path.exists(f"/proc/{pid}")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{pid}")
        shown = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        assert not re.search(r"^sx[12]-eth1[@\s]", shown, re.M)   # the root-namespace ends of sx1-sx2
    finally:
        proc.kill()
        proc.wait()
        nodes = node_names(spec)
        _kill_groups([p for p, (_, argv) in _processes().items() if shell_node(argv) in nodes])
        leftover = interface_command(_root_interfaces(), nodes, 0x57A7_FFFF)
        if leftover:
            _run(leftover)
