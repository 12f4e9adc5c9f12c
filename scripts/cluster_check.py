"""Run a Strata topology on Mininet's cluster edition (mininet.examples.cluster) under Strata's SDN
daemon, with this machine as the cluster's only server, and check it with sampled pings.

What it exercises: MininetCluster itself (its placer and build) with Strata's cluster node, switch
and link classes (dataplane/cluster.py: userspace datapath, OpenFlow 1.3), the runtime topology
(OpenFlow port numbers) read back from the cluster's nodes, the SDN daemon as a network service,
and the same sampled check as `strata topo launch --sample-pairs`. Several servers are what
`strata up --cluster` and `strata topo launch --cluster` run on (docs/emulation.md).

    .venv/bin/python scripts/cluster_check.py [zoo:Abilene] [--sample-pairs 20]      (root)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OPENFLOW_PORT = 6682
SDN_ADDRESS = "127.0.0.1:50419"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("topology", nargs="?", default="zoo:Abilene")
    parser.add_argument("--sample-pairs", type=int, default=20, metavar="N")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("scripts/cluster_check.py needs root (Mininet)", file=sys.stderr)
        return 2

    from mininet.examples.cluster import MininetCluster, SwitchBinPlacer
    from mininet.log import setLogLevel
    from mininet.node import RemoteController

    from dataplane.cluster import ClusterHost, ClusterLink, cluster_switch_class
    from dataplane.network import INACTIVITY_PROBE_MS, ensure_ovs, runtime_topology, sample_check, spec_topo
    from harness.daemons import start_sdn_daemon, wait_switches_connected
    from topologies.catalog import load_topology

    setLogLevel("warning")
    ensure_ovs()
    spec = load_topology(args.topology, delays=False)  # MininetCluster's own build starts no delay element

    workdir = Path(tempfile.mkdtemp(prefix="strata-cluster-"))
    net = MininetCluster(topo=spec_topo(spec), servers=["localhost"], placement=SwitchBinPlacer,
                         host=ClusterHost, link=ClusterLink, autoSetMacs=False, waitConnected=False, build=False,
                         switch=partial(cluster_switch_class(INACTIVITY_PROBE_MS), datapath="user",
                                        protocols="OpenFlow13", failMode="secure"),
                         controller=partial(RemoteController, ip="127.0.0.1", port=OPENFLOW_PORT))
    daemon = None
    started = time.monotonic()
    try:
        net.build()
        servers = sorted({getattr(node, "server", "localhost") for node in net.hosts + net.switches})
        print(f"{spec.name}: {len(net.switches)} RemoteOVSSwitch, {len(net.hosts)} RemoteHost, "
              f"{len(net.links)} RemoteLink on server(s) {', '.join(servers)}")
        topology = runtime_topology(net, spec)
        (workdir / "topology.json").write_text(json.dumps(topology))
        daemon = start_sdn_daemon(workdir, OPENFLOW_PORT, SDN_ADDRESS)
        net.start()
        for host in net.hosts:  # TCP through the userspace datapath needs checksum offload off
            host.cmd("; ".join(f"ethtool -K {i} tx off rx off >/dev/null 2>&1" for i in host.intfNames()))
        wait_switches_connected(SDN_ADDRESS, len(spec.switches), 120 + len(spec.switches))
        print(f"up in {time.monotonic() - started:.1f} s; every switch connected and holding its rules")
        dropped = sample_check(net, spec, args.sample_pairs)
    finally:
        net.stop()
        if daemon is not None:
            daemon.stop()
    return 0 if dropped == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
