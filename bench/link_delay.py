"""Link delay benchmark: the delay element on real links between network namespaces, against plain links.

Each scenario joins pairs of network namespaces by links built with the network's own link class
(dataplane.network.spliced_link_class), shaped with HTB on both ends: delayed links go through
one delay element process, the baseline's are plain veth pairs.

  one link, D ms each way, R Mbit/s: ping every 10 ms on the idle link (RTT - 2D at p50/p99),
      then again while iperf3 pushes TCP at full rate (throughput; RTT - 2D), then iperf3 UDP at
      0.95 R (datagrams lost and out of order); the element's own lateness in each. Pings have
      an HTB class of their own, served first: they measure the link's delay, not TCP's queue;
  N links of r Mbit/s, TCP on all at once: the element's CPU per link and per Mbit/s.

The element's CPU comes from /proc/PID/stat (user + system time) over each traffic run. Every
figure is printed with the baseline's beside it and their ratio.

    .venv/bin/python bench/link_delay.py [--delay-ms 5] [--rate 100] [--seconds 10]
                                         [--links 8] [--link-rate 10]      (root)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataplane.delay.launcher import DelayElement  # noqa: E402
from dataplane.network import spliced_link_class  # noqa: E402

PREFIX = f"sdb{os.getpid() % 10000}"   # namespaces of this run: <PREFIX>a0, <PREFIX>b0, ...
IPERF_PORT = 5201
PING_INTERVAL = 0.01                    # s


def shaping(interface: str, mbps: float) -> str:
    """`tc -batch` input: HTB at `mbps` on the interface, as the network shapes links, with ICMP in
    a class of its own served first, so that pings measure the link's delay, not the queue TCP
    builds in front of them (both share the rate)."""
    return (f"qdisc add dev {interface} root handle 5:0 htb default 20\n"
            f"class add dev {interface} parent 5:0 classid 5:1 htb rate {mbps:f}Mbit burst 15k\n"
            f"class add dev {interface} parent 5:1 classid 5:10 htb rate 1Mbit ceil {mbps:f}Mbit prio 0 burst 15k\n"
            f"class add dev {interface} parent 5:1 classid 5:20 htb rate {mbps - 1:f}Mbit ceil {mbps:f}Mbit"
            f" prio 1 burst 15k\n"
            f"filter add dev {interface} parent 5:0 protocol ip prio 1 u32 match ip protocol 1 0xff flowid 5:10\n")


class NamespaceNode:
    """A network namespace as a Mininet link expects its node: a name, ports, and cmd()."""

    inNamespace = False  # noqa: N815  (Mininet's name; links are made in place, nothing is moved)

    def __init__(self, name: str):
        self.name, self.netns = name, f"{PREFIX}{name}"
        self.pid = self.netns   # what `ip link ... netns` is given for a node: a named namespace will do
        self.intfs, self.ports, self.nameToIntf = {}, {}, {}  # noqa: N815
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        self.cmd("ip link set lo up")

    def newPort(self) -> int:  # noqa: N802
        return len(self.intfs)

    def addIntf(self, intf, port=None, moveIntfFn=None) -> None:  # noqa: N802, N803
        self.intfs[port] = intf
        self.ports[intf] = port
        self.nameToIntf[intf.name] = intf

    def cmd(self, *args) -> str:
        done = subprocess.run(["ip", "netns", "exec", self.netns, "sh", "-c", " ".join(map(str, args))],
                              capture_output=True, text=True)
        return done.stdout + done.stderr

    def popen(self, command: str) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.netns, *shlex.split(command)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)


class Scenario:
    """`count` links a<k> -- b<k> (10.77.k.1 -- 10.77.k.2), each `delay_ms` each way (0: a plain
    link, no element) and shaped at `rate` Mbit/s."""

    def __init__(self, count: int, delay_ms: float, rate: float):
        self.delay_ms, self.rate = delay_ms, rate
        self.element = DelayElement().start() if delay_ms > 0 else None
        self.pairs: list[tuple[NamespaceNode, NamespaceNode]] = []
        link_class = spliced_link_class(self.element)
        delayed = []
        for k in range(count):
            a, b = NamespaceNode(f"a{k}"), NamespaceNode(f"b{k}")
            self.pairs.append((a, b))
            extra = {"delay_ms": delay_ms} if delay_ms > 0 else {}
            link = link_class(a, b, bw=rate, **extra)
            if link.delayed:
                delayed.append(link.delayed)
            for node, address, intf in ((a, f"10.77.{k}.1", link.intf1), (b, f"10.77.{k}.2", link.intf2)):
                node.cmd(f"ip addr add {address}/24 dev {intf.name}; ethtool -K {intf.name} tx off rx off >/dev/null;"
                         f" tc -batch - <<'EOF'\n{shaping(intf.name, rate)}EOF")
        if self.element is not None:
            self.element.add_links(delayed)

    def cpu_seconds(self) -> tuple[float, float]:
        """The element's user and system CPU time so far (s)."""
        if self.element is None:
            return 0.0, 0.0
        fields = Path(f"/proc/{self.element.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.element is not None:
            self.element.stop()
        for a, b in self.pairs:
            a.delete()
            b.delete()


def rtts(ping_output: str) -> list[float]:
    return sorted(float(x) for x in re.findall(r"time=([0-9.]+)", ping_output))


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def tcp_run(scenario: Scenario, seconds: float, ping_link: int | None = 0) -> dict:
    """iperf3 TCP on every link at once (and ping on one): Mbit/s per link, RTTs, element CPU."""
    servers = [b.popen(f"iperf3 -s -1 -p {IPERF_PORT}") for _, b in scenario.pairs]
    time.sleep(0.5)
    cpu0, wall0 = scenario.cpu_seconds(), time.monotonic()
    clients = [a.popen(f"iperf3 -c 10.77.{k}.2 -p {IPERF_PORT} -t {seconds:g} -J")
               for k, (a, _) in enumerate(scenario.pairs)]
    ping = None
    if ping_link is not None:
        time.sleep(1.0)   # past TCP's start
        count = int((seconds - 2) / PING_INTERVAL)
        ping = scenario.pairs[ping_link][0].popen(f"ping -i {PING_INTERVAL} -c {count} 10.77.{ping_link}.2")
    outputs = [c.communicate()[0] for c in clients]
    cpu1, wall = scenario.cpu_seconds(), time.monotonic() - wall0
    for s in servers:
        s.wait(10)
    mbps = [json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6 for out in outputs]
    user, system = ((after - before) / wall for before, after in zip(cpu0, cpu1))
    return {"mbps": mbps, "rtts": rtts(ping.communicate()[0]) if ping else [], "cpu": user + system,
            "user": user, "system": system}


def udp_run(scenario: Scenario, seconds: float) -> dict:
    a, b = scenario.pairs[0]
    server = b.popen(f"iperf3 -s -1 -p {IPERF_PORT}")
    time.sleep(0.5)
    out = a.popen(f"iperf3 -c 10.77.0.2 -p {IPERF_PORT} -u -b {scenario.rate * 0.95:g}M -t {seconds:g} -J --get-server-output").communicate()[0]
    server.wait(10)
    end = json.loads(out)["end"]["sum"]
    server_end = json.loads(out).get("server_output_json", {}).get("end", {}).get("sum", {})
    counters = b.cmd("nstat -az UdpRcvbufErrors")   # the namespace's own counter, since it was made
    overflowed = re.search(r"UdpRcvbufErrors\s+(\d+)", counters)
    return {"packets": end.get("packets", 0), "lost": end.get("lost_packets", 0),
            "out_of_order": server_end.get("out_of_order", end.get("out_of_order", 0)),
            "receiver_overflow": int(overflowed.group(1)) if overflowed else None}


def idle_ping(scenario: Scenario, count: int) -> list[float]:
    a, _ = scenario.pairs[0]
    a.popen("ping -c 2 -i 0.2 10.77.0.2").communicate()   # ARP first: its exchange crosses the link too
    return rtts(a.popen(f"ping -i {PING_INTERVAL} -c {count} 10.77.0.2").communicate()[0])


def lateness(stats: dict, before: dict | None = None) -> dict:
    """The element's lateness histogram since `before` (both its stats answers)."""
    start = (before or {}).get("lateness_ms", {})
    return {bound: count - start.get(bound, 0) for bound, count in stats.get("lateness_ms", {}).items()}


def ratio(x: float, y: float) -> str:
    return f"{x / y:.2f}x" if y else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay-ms", type=float, default=5.0, help="one-way delay of each delayed link (ms)")
    parser.add_argument("--rate", type=float, default=100.0, help="the single link's rate (Mbit/s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="each traffic run (s)")
    parser.add_argument("--links", type=int, default=8, help="links of the many-links run")
    parser.add_argument("--link-rate", type=float, default=10.0, help="their rate each (Mbit/s)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/link_delay.py needs root (network namespaces, raw sockets)")
    d, two_d = args.delay_ms, 2 * args.delay_ms
    results = {}
    for name, delay in (("element", d), ("plain", 0.0)):
        scenario = Scenario(1, delay, args.rate)
        try:
            idle = idle_ping(scenario, 300)
            after_idle = scenario.element.stats() if scenario.element else {}
            tcp = tcp_run(scenario, args.seconds)
            after_tcp = scenario.element.stats() if scenario.element else {}
            udp = udp_run(scenario, args.seconds / 2)
            stats = scenario.element.stats() if scenario.element else {}
        finally:
            scenario.close()
        results[name] = {"tcp": tcp, "udp": udp, "idle": idle, "stats": stats,
                         "lateness": {"idle": lateness(after_idle), "tcp": lateness(after_tcp, after_idle)}}
    e, p = results["element"], results["plain"]
    print(f"one link, {d:g} ms each way, {args.rate:g} Mbit/s (HTB), {args.seconds:g} s runs")
    print(f"  TCP throughput            element {e['tcp']['mbps'][0]:7.1f} Mbit/s   plain {p['tcp']['mbps'][0]:7.1f}"
          f"   ratio {ratio(e['tcp']['mbps'][0], p['tcp']['mbps'][0])}")
    for label, key in (("RTT under TCP load", "tcp"), ("RTT on the idle link", "idle")):
        er = [r - two_d for r in (e[key]["rtts"] if key == "tcp" else e[key])]
        pr = p[key]["rtts"] if key == "tcp" else p[key]
        print(f"  {label:25s} element RTT-2D p50 {quantile(er, .5):6.3f} p99 {quantile(er, .99):6.3f} max"
              f" {max(er, default=float('nan')):6.3f} ms ({len(er)} pings)   plain RTT p50 {quantile(pr, .5):6.3f}"
              f" p99 {quantile(pr, .99):6.3f} ms")
    for name in ("element", "plain"):
        u = results[name]["udp"]
        print(f"  UDP at {args.rate * 0.95:g} Mbit/s {name:8s} {u['packets']} datagrams, {u['lost']} lost"
              f" ({u['receiver_overflow']} of them by the receiving iperf3's full socket buffer),"
              f" {u['out_of_order']} out of order")
    cpu = e["tcp"]["cpu"]
    mbps = e["tcp"]["mbps"][0]
    print(f"  element CPU               {100 * cpu:.1f}% of a core at {mbps:.1f} Mbit/s:"
          f" {100 * cpu / mbps:.3f}% per Mbit/s (user {100 * e['tcp']['user']:.1f}%,"
          f" system {100 * e['tcp']['system']:.1f}%)")
    for run in ("idle", "tcp"):
        print(f"  element lateness, {run:4s}    departures by how late (ms) the first frame due left:"
              f" {e['lateness'][run]}")
    print(f"  element counters: {json.dumps(e['stats'].get('links'))}, frames the kernel refused to send:"
          f" {e['stats'].get('send_errors')}")

    many = {}
    for name, delay in (("element", d), ("plain", 0.0)):
        scenario = Scenario(args.links, delay, args.link_rate)
        try:
            many[name] = tcp_run(scenario, args.seconds, ping_link=None)
        finally:
            scenario.close()
    me, mp = many["element"], many["plain"]
    total = sum(me["mbps"])
    print(f"{args.links} links, {d:g} ms each way, {args.link_rate:g} Mbit/s each, TCP on all at once")
    print(f"  throughput in all         element {total:7.1f} Mbit/s   plain {sum(mp['mbps']):7.1f}"
          f"   ratio {ratio(total, sum(mp['mbps']))}")
    print(f"  element CPU               {100 * me['cpu']:.1f}% of a core: {100 * me['cpu'] / args.links:.2f}% per link,"
          f" {100 * me['cpu'] / total:.3f}% per Mbit/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
