"""Flow-programming benchmark: the Strata SDN controller against `ovs-ofctl add-flows`, same rules, same switch.

Part 1 (rate): N service rules (match a VIP and TCP port, rewrite to an endpoint, output) are
installed on one userspace Open vSwitch bridge twice in one run: through the controller (the
os-ken app's southbound path that every route uses, FlowMods followed by a barrier) and with
`ovs-ofctl add-flows` from a file. It prints both rates and their ratio.

Part 2 (latency): on the default edge network in Mininet, R service routes are installed through
gRPC `InstallServiceRoute`; the call returns once every switch has confirmed its rules with a
barrier reply, so its duration is the time from request to rules on every switch. It prints the
median and p99, and checks the last route's rules are really on the switches.

    .venv/bin/python bench/flows.py [--rules 10000] [--routes 200]     (root)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BRIDGE = "strata-bench"
OPENFLOW_PORT = 6697


def ofctl(*args: str) -> str:
    return subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", *args], check=True, capture_output=True,
                          text=True).stdout


def count_flows() -> int:
    return sum(1 for line in ofctl("dump-flows", BRIDGE).splitlines() if "cookie=" in line)


def vip(k: int) -> str:
    return f"10.{100 + k // 65536}.{(k // 256) % 256}.{k % 256}"


def rate_benchmark(n: int) -> tuple[float, float]:
    from controller.sdn import daemon
    from controller.sdn.pipeline.ruleset import Flow, RuleDiff
    from controller.sdn.pipeline.tables import ETH_IPV4, Table, service_cookie

    subprocess.run(["ovs-vsctl", "--if-exists", "del-br", BRIDGE], check=True)
    subprocess.run(["ovs-vsctl", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev",
                    "protocols=OpenFlow13", "fail-mode=secure", "--", "set-controller", BRIDGE,
                    f"tcp:127.0.0.1:{OPENFLOW_PORT}"], check=True)
    workdir = Path(tempfile.mkdtemp(prefix="strata-bench-"))
    topology = {"switches": [{"name": BRIDGE, "dpid": 0}], "links": [], "hosts": []}
    dpid = int(subprocess.run(["ovs-vsctl", "get", "bridge", BRIDGE, "datapath_id"], capture_output=True,
                              text=True, check=True).stdout.strip().strip('"'), 16)
    topology["switches"][0]["dpid"] = dpid
    running = daemon.start(topology, db_path=workdir / "sdn.db", ofp_port=OPENFLOW_PORT, grpc_address="127.0.0.1:0")
    try:
        deadline = time.monotonic() + 30
        while dpid not in running.app.datapaths and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        flows = [Flow(dpid, Table.CLASSIFY, 300,
                      tuple(sorted({"eth_type": ETH_IPV4, "ip_proto": 6, "ipv4_dst": vip(k), "tcp_dst": 80}.items())),
                      (("set_field", "eth_dst", "00:00:0a:00:00:05"), ("set_field", "ipv4_dst", "10.0.0.5"),
                       ("output", 1)), None, service_cookie(k + 1))
                 for k in range(n)]
        baseline = count_flows()
        start = time.monotonic()
        wait = running.app.apply(dpid, RuleDiff([], [], [], flows, []))
        if not wait(120):
            raise RuntimeError("the switch did not confirm the controller's rules")
        controller_seconds = time.monotonic() - start
        installed = count_flows() - baseline
        if installed != n:
            raise RuntimeError(f"controller: {installed} of {n} rules on the switch")

        subprocess.run(["ovs-vsctl", "del-controller", BRIDGE], check=True)
        ofctl("del-flows", BRIDGE)
        path = workdir / "flows.txt"
        path.write_text("".join(
            f"cookie={service_cookie(k + 1):#x},table=0,priority=300,tcp,nw_dst={vip(k)},tp_dst=80,"
            f"actions=set_field:00:00:0a:00:00:05->eth_dst,set_field:10.0.0.5->ip_dst,output:1\n"
            for k in range(n)))
        start = time.monotonic()
        ofctl("add-flows", BRIDGE, str(path))
        ofctl_seconds = time.monotonic() - start
        if count_flows() != n:
            raise RuntimeError(f"ovs-ofctl: {count_flows()} of {n} rules on the switch")
        return n / controller_seconds, n / ofctl_seconds
    finally:
        running.stop()
        subprocess.run(["ovs-vsctl", "--if-exists", "del-br", BRIDGE])


def latency_benchmark(routes: int) -> list[float]:
    from strata.v1 import common_pb2, sdn_pb2, sdn_pb2_grpc

    from harness.stack import Stack
    from topologies.catalog import load_topology

    spec = load_topology("edge-tiered")
    servers = [h.name for h in spec.hosts_with_role("edge-server")]
    with Stack(spec, components=("sdn",), openflow_port=OPENFLOW_PORT + 1,
               addresses={"sdn": "127.0.0.1:50097"}, log=lambda *a: None) as stack:
        with stack.channel("sdn") as channel:
            stub = sdn_pb2_grpc.SdnServiceStub(channel)
            times = []
            for k in range(routes):
                request = sdn_pb2.InstallServiceRouteRequest(
                    service=f"svc{k}", vip=f"10.0.{200 + k // 250}.{k % 250 + 1}", protocol=common_pb2.PROTOCOL_TCP,
                    port=80, endpoints=[common_pb2.Endpoint(host=servers[k % len(servers)], port=10000 + k, weight=3),
                                        common_pb2.Endpoint(host=servers[(k + 1) % len(servers)], port=10000 + k,
                                                            weight=1)])
                start = time.monotonic()
                stub.InstallServiceRoute(request, timeout=30)
                times.append(time.monotonic() - start)
            last = stub.ListFlows(sdn_pb2.ListFlowsRequest(service=f"svc{routes - 1}"), timeout=30)
            if sum(len(s.flows) for s in last.switches) < len(spec.switches):
                raise RuntimeError("the last route's rules are not on every switch")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--routes", type=int, default=200)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/flows.py needs root (Open vSwitch bridges, Mininet)", file=sys.stderr)
        return 2
    from dataplane.network import ensure_ovs

    ensure_ovs()
    controller_rate, ofctl_rate = rate_benchmark(args.rules)
    in_order = latency_benchmark(args.routes)
    times = sorted(in_order)
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    window = max(1, min(100, len(in_order) // 10))
    print(f"machine: {os.cpu_count()} cores; userspace Open vSwitch "
          f"{subprocess.run(['ovs-vsctl', '--version'], capture_output=True, text=True).stdout.split()[3]}")
    print()
    print("| measure | Strata controller | ovs-ofctl add-flows | ratio |")
    print("|---|---|---|---|")
    print(f"| install {args.rules:,} service rules on one switch | {controller_rate:,.0f} rules/s | "
          f"{ofctl_rate:,.0f} rules/s | {controller_rate / ofctl_rate:.2f} |")
    print()
    print(f"| InstallServiceRoute to rules on every switch (edge-tiered, 6 switches, {args.routes} routes) | value |")
    print("|---|---|")
    print(f"| median | {1000 * statistics.median(times):.1f} ms |")
    print(f"| p99 | {1000 * p99:.1f} ms |")
    print(f"| median of the first {window} routes / of the last {window} (does the cost grow with what is "
          f"installed?) | {1000 * statistics.median(in_order[:window]):.1f} / "
          f"{1000 * statistics.median(in_order[-window:]):.1f} ms |")
    return 0


if __name__ == "__main__":
    import traceback

    code = 1
    try:
        code = main()
    except BaseException:  # noqa: BLE001  report, then exit for real
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # the in-process os-ken threads of part 1 cannot be joined
