"""Mutual TLS benchmark: what the run's certificates cost at start, and what TLS adds to a gRPC call, against plaintext.

Certificates: component_base.pki.make_cluster for the five daemons, the operator and N agents
(what `strata up` makes), timed --repeat times, median. Calls: a placement daemon
(component_base.rpc.create_server, with the authorisation interceptor when TLS is on) on a Unix
socket and on loopback TCP, called as the orchestrator; "connect" is a new channel's first call
(connection, and for TLS its handshake: TLS 1.3, EC P-256 certificates both ways), "call" a
further ListAlgorithms on an open channel (the daemons keep their channels open for their life,
so a deploy pays "call" on every request and "connect" once per peer). The baseline, in the same
run, is the same server and calls in plaintext; ratios are TLS / plaintext.

    .venv/bin/python bench/tls.py [--agents 6,100] [--connects 50] [--calls 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "proto"))

from strata.v1 import placement_pb2, placement_pb2_grpc  # noqa: E402

from component_base.pki import COMPONENTS, Identity, Listener, make_cluster  # noqa: E402
from component_base.rpc import create_server  # noqa: E402
from component_base.tls import Tls, open_channel  # noqa: E402
from controller.placement import servicer  # noqa: E402


def certificates(agents: int, repeat: int) -> float:
    """Median seconds to make the CA and every certificate of a stack with `agents` agents."""
    listeners = [Listener(Identity(c), ("127.0.0.1",)) for c in COMPONENTS]
    listeners += [Listener(Identity.agent(f"edge{k}"), (f"10.0.{k // 250}.{k % 250 + 1}",)) for k in range(agents)]
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            make_cluster(Path(folder) / "pki", listeners, datetime.datetime.now(datetime.timezone.utc))
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def calls(address: str, tls: Tls | None, connects: int, count: int) -> tuple[float, float]:
    """(median seconds of a new channel's first call, median seconds of a call on an open channel)."""
    request = placement_pb2.ListAlgorithmsRequest()
    first = []
    for _ in range(connects):
        started = time.perf_counter()
        with open_channel(address, tls, Identity("placement")) as channel:
            placement_pb2_grpc.PlacementServiceStub(channel).ListAlgorithms(request, timeout=10)
            first.append(time.perf_counter() - started)
    each = []
    with open_channel(address, tls, Identity("placement")) as channel:
        stub = placement_pb2_grpc.PlacementServiceStub(channel)
        stub.ListAlgorithms(request, timeout=10)
        for _ in range(count):
            started = time.perf_counter()
            stub.ListAlgorithms(request, timeout=10)
            each.append(time.perf_counter() - started)
    return statistics.median(first), statistics.median(each)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="6,100", help="agents of the stacks whose certificates are timed")
    parser.add_argument("--connects", type=int, default=50, help="new channels per transport and mode")
    parser.add_argument("--calls", type=int, default=500, help="calls on an open channel per transport and mode")
    parser.add_argument("--repeat", type=int, default=5, help="certificate runs per size")
    args = parser.parse_args()

    print("certificates of a stack (CA + 5 daemons + operator + agents), median of", args.repeat)
    for agents in (int(n) for n in args.agents.split(",")):
        print(f"  {agents:>4} agents: {certificates(agents, args.repeat) * 1000:7.1f} ms")

    with tempfile.TemporaryDirectory() as folder:
        pki = Path(folder) / "pki"
        make_cluster(pki, [Listener(Identity("placement"), ("127.0.0.1",)), Listener(Identity("orchestrator"))],
                     datetime.datetime.now(datetime.timezone.utc))
        caller = Tls.from_folder(pki, Identity("orchestrator"))
        results = {}
        for mode, tls in (("plaintext", None), ("mutual TLS", Tls.from_folder(pki, Identity("placement")))):
            socket = Path(folder) / f"{mode.replace(' ', '-')}.sock"
            server, port = create_server("127.0.0.1:0", [(servicer.register, servicer.SERVICE_NAME)],
                                         also_listen=[f"unix:{socket}"], tls=tls)
            server.start()
            try:
                for transport, address in (("unix", f"unix:{socket}"), ("tcp", f"127.0.0.1:{port}")):
                    results[mode, transport] = calls(address, caller if tls else None, args.connects, args.calls)
            finally:
                server.stop(grace=None)
    print(f"\ngRPC calls to a placement daemon (median; connect: new channel's first call, of {args.connects}; "
          f"call: on an open channel, of {args.calls})")
    print(f"{'transport':<10} {'plain connect':>14} {'TLS connect':>12} {'ratio':>6} {'plain call':>11} "
          f"{'TLS call':>9} {'ratio':>6}")
    for transport in ("unix", "tcp"):
        (pc, pe), (tc, te) = results["plaintext", transport], results["mutual TLS", transport]
        print(f"{transport:<10} {pc * 1000:>11.2f} ms {tc * 1000:>9.2f} ms {tc / pc:>6.2f} {pe * 1e6:>8.0f} us "
              f"{te * 1e6:>6.0f} us {te / pe:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
