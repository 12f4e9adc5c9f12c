"""Network policy benchmark: 1,000 policy rules realised on every switch of the default network, and their flows.

On edge-tiered in Mininet (userspace Open vSwitch, the SDN daemon alone), pods are attached to
every switch (their flows need no process behind the port). A set of resolved policies is made:
P policies, each isolating K pods (on as many different switches) for ingress, with R rules each
admitting N peers (pods' addresses and networks) on a port range; by default 100 policies x 10
rules = 1,000 rules, of 10 peers each. The set is given to the daemon with SetNetworkPolicies,
alternating with a second set (other ports) so every round changes every switch; the call returns
once every switch confirmed its rules with a barrier reply, so its duration is the time from the
request to the flows on every switch. It prints the median and p99 of the rounds, checks the
flows really on the switches (a dump of tables 10 and 11 per switch) against what the controller
computed, and compares the flow count with the product form (one flow per pod x peer x port
match of each rule, what the same rules take without conjunctive matches).

    .venv/bin/python bench/policy_scale.py [--policies 100] [--rules 10] [--peers 10] [--rounds 20]   (root)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OPENFLOW_PORT = 6707
SDN_ADDRESS = "127.0.0.1:50107"
PODS_PER_SWITCH = 20


def policy_set(pods: list[str], policies: int, rules: int, peers: int, selected: int, ports: int, first_port: int):
    """The resolved policies: policy j isolates `selected` pods (spread over the switches) and has
    `rules` rules, rule k admitting `peers` peers (pods and /24 networks) on `ports` 4-port ranges."""
    from api.network_policy import INGRESS, AddressRule, PortRange, ResolvedPolicies

    out, isolated = [], set()
    for j in range(policies):
        chosen = tuple(sorted(f"{pods[(j * selected + s) % len(pods)]}/32" for s in range(selected)))
        isolated.update(chosen)
        for k in range(rules):
            admitted = tuple(sorted({f"{pods[(j + k * peers + n) % len(pods)]}/32" if n % 2 else
                                     f"10.{1 + (j % 200)}.{(k * peers + n) % 256}.0/24" for n in range(peers)}))
            first = first_port + 4 * ports * k
            out.append(AddressRule(f"bench/p{j}", INGRESS, chosen, admitted,
                                   tuple(PortRange("tcp", p, p + 3) for p in range(first, first + 4 * ports, 4))))
    return ResolvedPolicies(isolated_ingress=tuple(sorted(isolated)), rules=tuple(out))


def dumped_policy_flows(bridges: list[str]) -> int:
    count = 0
    for bridge in bridges:
        for table in (10, 11):
            out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge, f"table={table}"],
                                 capture_output=True, text=True, check=True).stdout
            count += sum(1 for line in out.splitlines() if "cookie=" in line)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--rules", type=int, default=10, help="rules per policy")
    parser.add_argument("--peers", type=int, default=10, help="peers per rule")
    parser.add_argument("--selected", type=int, default=3, help="pods each policy isolates")
    parser.add_argument("--ports", type=int, default=1, help="port ranges (of 4 ports) per rule")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/policy_scale.py needs root (Mininet, Open vSwitch bridges)", file=sys.stderr)
        return 2
    from strata.v1 import sdn_pb2, sdn_pb2_grpc

    from api.policy_messages import policies_message
    from controller.sdn.pipeline.policy import product_flow_count
    from dataplane.network import ensure_ovs
    from harness.stack import CONTROL_PORTS, Stack
    from topologies.catalog import load_topology

    ensure_ovs()
    spec = load_topology("edge-tiered")
    node = spec.hosts_with_role("edge-server")[0].name
    with Stack(spec, components=("sdn",), openflow_port=OPENFLOW_PORT, addresses={"sdn": SDN_ADDRESS},
               log=lambda *a: None) as stack:
        with stack.channel("sdn") as channel:
            stub = sdn_pb2_grpc.SdnServiceStub(channel)
            switches = list(spec.switches)
            pods = []
            for s, switch in enumerate(switches):
                for k in range(PODS_PER_SWITCH):
                    ip = f"10.0.{200 + s}.{k + 2}"
                    stub.AttachEndpoint(sdn_pb2.AttachEndpointRequest(
                        name=f"bench/{switch}-{k}", ip=ip, mac=f"02:be:00:00:{s:02x}:{k + 2:02x}", switch=switch,
                        port=1000 + k, node=node), timeout=30)
                    pods.append(ip)
            pods = [pods[(k % len(switches)) * PODS_PER_SWITCH + k // len(switches)] for k in range(len(pods))]
            sets = [policy_set(pods, args.policies, args.rules, args.peers, args.selected, args.ports, first)
                    for first in (8000, 40000)]
            messages = [sdn_pb2.SetNetworkPoliciesRequest(policies=policies_message(s)) for s in sets]
            times, flows = [], 0
            for k in range(args.rounds):
                start = time.monotonic()
                flows = stub.SetNetworkPolicies(messages[k % 2], timeout=60).flows
                times.append(time.monotonic() - start)
            on_switches = dumped_policy_flows(switches)
            topology = stub.GetTopology(sdn_pb2.GetTopologyRequest(), timeout=10)
            switch_of = {h.ip: h.switch for h in topology.hosts}
            switch_of.update({f"unused-{s}": s for s in switches})  # every switch counts its baseline
            control_hosts = sum(1 for h in topology.hosts if CONTROL_PORTS.get(h.role))
            product = product_flow_count(sets[(args.rounds - 1) % 2], switch_of, control_hosts)
    last = sets[(args.rounds - 1) % 2]
    peers = sum(len(r.peers) for r in last.rules)
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    print(f"machine: {os.cpu_count()} cores; userspace Open vSwitch "
          f"{subprocess.run(['ovs-vsctl', '--version'], capture_output=True, text=True).stdout.split()[3]}")
    print()
    print(f"edge-tiered ({len(switches)} switches), {len(pods)} pods attached; {args.policies} policies x "
          f"{args.rules} rules = {len(last.rules):,} address rules, {peers:,} (rule, peer) pairs; "
          f"{args.selected} pods isolated by each policy ({len(last.isolated_ingress)} in all), "
          f"{args.ports} port range(s) per rule")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| SetNetworkPolicies to flows confirmed on every switch, median of {args.rounds} | "
          f"{1000 * statistics.median(times):.0f} ms |")
    print(f"| p99 | {1000 * p99:.0f} ms |")
    print(f"| flows of tables 10 and 11 on all switches (dumped / computed) | {on_switches:,} / {flows:,} |")
    print(f"| the same rules in product form | {product:,} |")
    print(f"| product form / conjunctive | {product / max(1, on_switches):.1f}x |")
    if on_switches != flows:
        print(f"the switches hold {on_switches} policy flows, the controller computed {flows}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
