"""Failover benchmark: what a link cut costs a 1 ms UDP stream, with the switches' fast-failover
groups against the controller's repair alone, in one run.

On the default edge network a device of one site sends a UDP datagram every millisecond to an
edge server of another site; a second into the stream, the first link of its path (the site's
uplink) is cut. The receiver counts the datagrams that never came: at one a millisecond, the
count is the outage in milliseconds. Measured four times, each on a fresh network: with fast
failover (the default) and without it (the controller hears of the port going down and
reinstalls the routes), each with the SDN daemon running and stopped just before the cut (then
only the switches can repair).

    .venv/bin/python bench/failover.py [--seconds 3]      (root)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SENDER = """
import socket, sys, time
dst, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.perf_counter()
k = 0
while True:
    due = start + k * 0.001
    now = time.perf_counter()
    if now - start > seconds:
        break
    if now < due:
        time.sleep(max(0.0, due - now - 0.0002))
        continue
    s.sendto(k.to_bytes(4, "big"), (dst, port))
    k += 1
print(k)
"""

RECEIVER = """
import socket, sys
port, seconds = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", port))
s.settimeout(seconds)
got = set()
try:
    while True:
        data, _ = s.recvfrom(64)
        got.add(int.from_bytes(data[:4], "big"))
except socket.timeout:
    pass
print(len(got), max(got) if got else -1)
"""


def measure(fast_failover: bool, seconds: float, port: int, port_base: int, *,
            freeze: bool = False) -> tuple[int, int]:
    """(datagrams sent, datagrams lost) across a cut of the sender's site uplink; `freeze`: the
    SDN daemon is stopped (SIGSTOP) just before the cut, so only the switches can repair."""
    import signal

    from strata.v1 import sdn_pb2, sdn_pb2_grpc

    from harness.stack import Stack, port_addresses
    from topologies.catalog import load_topology

    spec = load_topology("edge-tiered")
    with Stack(spec, components=("sdn",), openflow_port=port, addresses=port_addresses(port_base),
               fast_failover=fast_failover, log=lambda *_: None) as stack:
        net = stack.network.net
        sender, receiver = net.get("dev3"), net.get("edge1")
        sender.cmd(f"ping -c 2 -W 1 {receiver.IP()}")  # addresses resolved before the stream starts
        with stack.channel("sdn") as channel:
            path = sdn_pb2_grpc.SdnServiceStub(channel).ComputePath(
                sdn_pb2.ComputePathRequest(src="dev3", dst="edge1"), timeout=10)
        a, b = path.hops[0].switch, path.hops[1].switch
        rx = receiver.popen([sys.executable, "-c", RECEIVER, "9999", str(seconds + 2)])
        time.sleep(0.5)
        tx = sender.popen([sys.executable, "-c", SENDER, receiver.IP(), "9999", str(seconds)])
        time.sleep(1.0)
        controller = stack.daemons[0].pid
        if freeze:
            os.kill(controller, signal.SIGSTOP)
        try:
            net.configLinkStatus(a, b, "down")
            sent = int(tx.communicate(timeout=seconds + 10)[0].split()[0])
            received = int(rx.communicate(timeout=seconds + 10)[0].split()[0])
        finally:
            if freeze:
                os.kill(controller, signal.SIGCONT)
    return sent, sent - received


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/failover.py needs root (Mininet)", file=sys.stderr)
        return 2
    rows = [("fast failover, controller running", measure(True, args.seconds, 6671, 50300)),
            ("fast failover, controller stopped before the cut", measure(True, args.seconds, 6672, 50310, freeze=True)),
            ("controller repair only (no fast failover)", measure(False, args.seconds, 6673, 50320)),
            ("neither (no fast failover, controller stopped)", measure(False, args.seconds, 6674, 50330, freeze=True))]
    print(f"machine: {os.cpu_count()} cores; a 1 ms UDP stream dev3 -> edge1 across a cut of dev3's site uplink")
    print()
    print("| repair | datagrams sent | lost | outage (1 ms each) |")
    print("|---|---|---|---|")
    for name, (sent, lost) in rows:
        print(f"| {name} | {sent} | {lost} | {lost} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
