"""Locality in milliseconds: what a device's requests take to its own edge site, to the cloud,
through a mesh service with and without the locality policy, and through a firewall placed near
or far (`strata vnf instantiate --near`), on edge-tiered with its declared link delays.

One stack (the daemons, the nodes) on edge-tiered with delays on. Plain HTTP servers on edge1
(site1, the device's own site), edge5 (site3) and the cloud host each answer GET /call. From dev1
(site1), streams of requests, each on a new connection (curl's total time: connect, request,
answer), measured in the device's namespace:

  direct      dev1 -> edge1 (own site) against dev1 -> cloud: the ratio is the edge's point;
  mesh        one service with endpoints on edge1, edge5 and the cloud, reached by its VIP:
              no policy (each endpoint a third of new connections) against --locality;
  vnf         a firewall chained in front of edge1, its container placed --near edge2 (site1)
              against --near edge6 (site3): the chain's detour in milliseconds.

Each row prints p50/p90 and its ratio to the row it is compared with (same run).

    .venv/bin/python bench/locality_latency.py [--requests 100] [--delays on|off]      (root)
"""

from __future__ import annotations

import argparse
import subprocess
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proto"))

from strata.v1 import common_pb2  # noqa: E402
from strata.v1 import mesh_pb2 as mpb  # noqa: E402
from strata.v1 import mesh_pb2_grpc  # noqa: E402

from harness.request_latency import measure_request_latency, summarize  # noqa: E402
from harness.stack import Stack, port_addresses  # noqa: E402
from topologies.catalog import load_topology  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SERVED = ("edge1", "edge5", "cloud")
CLIENT, CLIENT_SITE = "dev1", "site1"
VIP, PORT = "10.96.250.10", 80
VNFD = ROOT / "examples" / "vnfd" / "firewall.yaml"


def serve(stack: Stack, name: str):
    """A plain HTTP server on the host answering GET /call with its name."""
    root = stack.workdir / f"www-{name}"
    root.mkdir()
    (root / "call").write_text(name)
    host = stack.network.net.get(name)
    proc = host.popen(["python3", "-m", "http.server", "8080", "--bind", host.IP(), "--directory", str(root)])
    deadline = time.monotonic() + 15
    while host.cmd(f"curl -s --max-time 1 http://{host.IP()}:8080/call").strip() != name:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}'s HTTP server did not answer")
        time.sleep(0.2)
    return proc


def stream(stack: Stack, address: str, port: int, requests: int):
    return summarize(measure_request_latency(stack.network.net, [(CLIENT, CLIENT_SITE)], address, port, requests))


def row(label: str, summary, against=None) -> None:
    ratio = ""
    if against is not None and summary.p50_ms:
        ratio = f"  p50 x{summary.p50_ms / against.p50_ms:.2f} of the first row"
    print(f"  {label:<34} p50 {summary.p50_ms:6.1f} ms  p90 {summary.p90_ms:6.1f} ms  "
          f"failed {summary.failed}/{summary.requests}{ratio}", flush=True)


def strata(stack: Stack, *args: str, timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={"STRATA_STACK": str(stack.state_file), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        raise RuntimeError(f"strata {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def direct(stack: Stack, requests: int) -> None:
    net = stack.network.net
    print(f"direct, from {CLIENT} ({CLIENT_SITE}):")
    own = stream(stack, net.get("edge1").IP(), 8080, requests)
    row("to edge1 (own site)", own)
    row("to the cloud", stream(stack, net.get("cloud").IP(), 8080, requests), own)


def mesh(stack: Stack, requests: int) -> None:
    net = stack.network.net
    stub = mesh_pb2_grpc.MeshServiceStub(stack.channel("mesh"))
    stub.RegisterService(mpb.RegisterServiceRequest(name="web", vip=VIP, port=PORT,
                                                  protocol=common_pb2.PROTOCOL_TCP), timeout=10)
    stub.SetEndpoints(mpb.SetEndpointsRequest(service="web", endpoints=[
        mpb.MeshEndpoint(host=h, ip=net.get(h).IP(), port=8080) for h in SERVED]), timeout=20)
    print(f"mesh service web ({', '.join(SERVED)}) by its VIP, from {CLIENT}:")
    plain = stream(stack, VIP, PORT, requests)
    row("no policy (a third each)", plain)
    stub.SetPolicy(mpb.SetPolicyRequest(service="web", policy=mpb.TrafficPolicy(locality=True)), timeout=20)
    row("--locality", stream(stack, VIP, PORT, requests), plain)
    stub.DeregisterService(mpb.DeregisterServiceRequest(name="web"), timeout=20)


def vnf(stack: Stack, requests: int) -> None:
    net = stack.network.net
    server = net.get("edge1").IP()
    strata(stack, "vnf", "onboard", str(VNFD))
    print(f"a firewall chained in front of edge1, from {CLIENT}:")
    first = None
    for label, near in (("firewall --near edge2 (site1)", "edge2"), ("firewall --near edge6 (site3)", "edge6")):
        name = f"fw-{near}"
        strata(stack, "vnf", "instantiate", name, "--vnfd", "edge-firewall", "--near", near)
        strata(stack, "chain", "create", "guard", "--instances", name, "--symmetric", "--dst", f"{server}/32")
        summary = stream(stack, server, 8080, requests)
        row(label, summary, first)
        first = first or summary
        strata(stack, "chain", "del", "guard")
        strata(stack, "vnf", "terminate", name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per stream (default 100)")
    parser.add_argument("--delays", choices=("on", "off"), default="on")
    args = parser.parse_args()
    spec = load_topology("edge-tiered")
    if args.delays == "off":
        spec = spec.without_delays()
    state = Path(tempfile.mkdtemp(prefix="strata-locality-")) / "stack.json"
    with Stack(spec, openflow_port=6699, addresses=port_addresses(20900), images=[], log=lambda *_: None,
               state_file=state) as stack:
        servers = [serve(stack, name) for name in SERVED]
        try:
            print(f"edge-tiered, delays {args.delays}, {args.requests} requests per stream")
            direct(stack, args.requests)
            mesh(stack, args.requests)
            vnf(stack, args.requests)
        finally:
            for proc in servers:
                proc.terminate()
    shutil.rmtree(state.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
