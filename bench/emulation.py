"""Emulation benchmark: what a network's size costs, Strata's launch against plain Mininet's.

For Topology Zoo networks of growing size (the bundled ones, and any GraphML file given, such as
Kdl), in one run and one after the other:

- Strata: `strata up --no-nodes` as a library (the network, the placement and SDN daemons), from
  nothing to every switch connected to the SDN daemon; a sampled reachability check (ping between
  random host pairs, TCP between a few); the teardown.
- the baseline, plain Mininet with the same switches (Open vSwitch, userspace datapath,
  OpenFlow 1.3, secure fail mode), the same hosts and the same shaped links, built Mininet's
  way: TCLink and one ovs-vsctl call per switch, Mininet's `net.start()` and `net.stop()`. It
  connects to the same SDN daemon, so the same sampled check runs on it. Networks above
  --baseline-max-switches are not run on the baseline (the time is said instead).

Memory is what the machine lost while the network was up (MemAvailable before the launch and
once it is ready). A stop returns once the processes, namespaces and interfaces are gone and the
bridges are out of Open vSwitch's database; ovs-vswitchd then deletes their ports one by one,
and "OVS done" says when it has (the next network waits for it). Times are wall-clock seconds
on this machine; the ratio column is baseline / Strata, both measured in this run.

    .venv/bin/python bench/emulation.py [--networks Abilene,GtsCe] [--graphml Kdl.graphml]
        [--sample-pairs 30] [--baseline-max-switches 200] [--csv docs/emulation.csv] (root)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OPENFLOW_PORT = 6680
PORT_BASE = 50400


def mem_available_mb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def quiet(*_args, **_kwargs) -> None:
    pass


def ovs_entries() -> int:
    """Bridges and ports ovs-vswitchd still holds (`ovs-appctl dpif/show`, a line each)."""
    import subprocess

    try:
        done = subprocess.run(["ovs-appctl", "dpif/show"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:  # too busy deleting ports to answer
        return sys.maxsize
    return len(done.stdout.splitlines()) if done.returncode == 0 else 0


def until_ovs_settles(base: int, since: float, timeout: float = 1200.0) -> float:
    """Seconds from `since` until ovs-vswitchd holds no more than `base` bridges and ports: a
    stop removes the bridges from the database at once, and ovs-vswitchd deletes their ports
    afterwards, one by one (and a launch meanwhile waits for it)."""
    deadline = time.monotonic() + timeout
    while ovs_entries() > base and time.monotonic() < deadline:
        time.sleep(1.0)
    return time.monotonic() - since


def run_strata(spec, pairs: int) -> dict:
    """Launch with Strata's Stack (placement + SDN daemons, no nodes), check, stop."""
    from harness.stack import Stack, port_addresses

    base = ovs_entries()
    before = mem_available_mb()
    started = time.monotonic()
    stack = Stack(spec, openflow_port=OPENFLOW_PORT, addresses=port_addresses(PORT_BASE), nodes=False, log=quiet)
    try:
        stack.start()
        ready = time.monotonic() - started
        memory = before - mem_available_mb()
        dropped = stack.network.sample_check(pairs, out=quiet)
    finally:
        stopping = time.monotonic()
        stack.__exit__(None, None, None)
        stop_s = time.monotonic() - stopping
        settled_s = until_ovs_settles(base, stopping)
    return {"launch_s": ready, "stop_s": stop_s, "ovs_done_s": settled_s, "memory_mb": memory, "dropped": dropped}


def run_baseline(spec, pairs: int) -> dict:
    """The same network built and torn down the way Mininet does it, on the same SDN daemon."""
    from mininet.link import TCLink
    from mininet.log import setLogLevel
    from mininet.net import Mininet
    from mininet.node import OVSSwitch, RemoteController

    from dataplane.network import runtime_topology, sample_check, spec_topo
    from harness.daemons import start_sdn_daemon, wait_switches_connected

    setLogLevel("critical")

    workdir = Path(tempfile.mkdtemp(prefix="strata-bench-"))
    base = ovs_entries()
    before = mem_available_mb()
    started = time.monotonic()
    net = Mininet(topo=spec_topo(spec), link=TCLink, autoSetMacs=False, waitConnected=False, build=False,
                  switch=partial(OVSSwitch, datapath="user", protocols="OpenFlow13", failMode="secure"),
                  controller=partial(RemoteController, ip="127.0.0.1", port=OPENFLOW_PORT))
    daemon = None
    try:
        net.build()
        topology = runtime_topology(net, spec)
        topology["fast_failover"] = True
        (workdir / "topology.json").write_text(json.dumps(topology))
        address = f"127.0.0.1:{PORT_BASE + 9}"
        daemon = start_sdn_daemon(workdir, OPENFLOW_PORT, address)
        net.start()
        for host in net.hosts:  # as Strata does: TCP through the userspace datapath needs it
            host.cmd("; ".join(f"ethtool -K {i} tx off rx off >/dev/null 2>&1" for i in host.intfNames()))
        wait_switches_connected(address, len(spec.switches), 120 + len(spec.switches))
        ready = time.monotonic() - started
        memory = before - mem_available_mb()
        dropped = sample_check(net, spec, pairs, out=quiet)
    finally:
        stopping = time.monotonic()
        net.stop()
        stop_s = time.monotonic() - stopping
        if daemon is not None:
            daemon.stop()
        settled_s = until_ovs_settles(base, stopping)
    return {"launch_s": ready, "stop_s": stop_s, "ovs_done_s": settled_s, "memory_mb": memory, "dropped": dropped}


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table; "-" where the baseline was not run."""
    def cell(row: dict, key: str, fmt: str = "{:.1f}") -> str:
        return fmt.format(row[key]) if key in row else "-"

    lines = ["| network | switches | hosts | links | Strata up (s) | Mininet up (s) | Mininet / Strata | "
             "Strata stop (s) | Mininet stop (s) | OVS done after Strata's stop (s) | after Mininet's (s) | "
             "Strata memory (MB) | Mininet memory (MB) | dropped (Strata, Mininet) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['mininet_launch_s'] / r['strata_launch_s']:.1f}x" if "mininet_launch_s" in r else "-"
        lines.append(" | ".join([
            f"| {r['network']}", str(r["switches"]), str(r["hosts"]), str(r["links"]),
            cell(r, "strata_launch_s"), cell(r, "mininet_launch_s"), ratio,
            cell(r, "strata_stop_s"), cell(r, "mininet_stop_s"),
            cell(r, "strata_ovs_done_s"), cell(r, "mininet_ovs_done_s"),
            cell(r, "strata_memory_mb", "{:.0f}"), cell(r, "mininet_memory_mb", "{:.0f}"),
            cell(r, "strata_dropped", "{:.0f}%") + ", " + cell(r, "mininet_dropped", "{:.0f}%")]) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    """Launch time and memory against the number of switches, Strata and the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label, style, color in (("strata", "Strata", "o-", "tab:blue"),
                                     ("mininet", "plain Mininet", "s--", "tab:orange")):
        mine = [r for r in rows if f"{key}_launch_s" in r]
        x = [r["switches"] for r in mine]
        left.plot(x, [r[f"{key}_launch_s"] for r in mine], style, color=color, label=f"{label}: up")
        left.plot(x, [r[f"{key}_stop_s"] for r in mine], style, color=color, alpha=0.4, label=f"{label}: stop")
        left.plot(x, [r[f"{key}_ovs_done_s"] for r in mine], ":", color=color, alpha=0.7,
                  label=f"{label}: stop until OVS is done")
        right.plot(x, [r[f"{key}_memory_mb"] for r in mine], style, color=color, label=label)
    for axis, title, unit in ((left, "launch and stop", "seconds"), (right, "memory while up", "MB")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("switches (Topology Zoo networks, 2 hosts each)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def read_csv(path: str) -> list[dict]:
    """Rows an earlier run wrote (numbers as numbers), or none."""
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return [{k: (v if k == "network" else float(v) if "." in v else int(v)) for k, v in r.items() if v != ""}
                for r in csv.DictReader(f)]


def write_csv(rows: list[dict], path: str) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def networks(names: list[str], graphml: list[str], hosts_per_node: int | None):
    from topologies.catalog import load_topology

    specs = [load_topology(f"zoo:{n}", hosts_per_node=hosts_per_node) for n in names]
    specs += [load_topology(f"zoo:{p}", hosts_per_node=hosts_per_node) for p in graphml]
    return sorted(specs, key=lambda s: (len(s.switches), len(s.links)))


def main() -> int:
    from topologies.zoo import zoo_names

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", default=",".join(zoo_names()),
                        help="bundled Topology Zoo networks, comma-separated (default: all)")
    parser.add_argument("--graphml", action="append", default=[], metavar="FILE",
                        help="another Topology Zoo GraphML file (repeatable), e.g. Kdl.graphml")
    parser.add_argument("--sample-pairs", type=int, default=30, metavar="N")
    parser.add_argument("--hosts-per-node", type=int, default=None, metavar="N")
    parser.add_argument("--baseline-max-switches", type=int, default=200, metavar="N",
                        help="run the plain-Mininet baseline on networks up to this many switches")
    parser.add_argument("--csv", metavar="FILE",
                        help="also write the rows as CSV, after each network; rows already in FILE for other "
                             "networks are kept (so one network can be measured again on its own)")
    parser.add_argument("--plot", metavar="FILE", help="also draw launch time and memory against size (PNG)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/emulation.py needs root (Mininet)", file=sys.stderr)
        return 2
    specs = networks([n for n in args.networks.split(",") if n], args.graphml, args.hosts_per_node)
    print(f"machine: {os.cpu_count()} cores, {mem_available_mb() / 1024:.1f} GiB available; "
          f"{args.sample_pairs} sampled pairs (+3 TCP) per network", flush=True)
    rows = read_csv(args.csv) if args.csv else []
    for spec in specs:
        row = {"network": spec.name.removeprefix("zoo:"), "switches": len(spec.switches),
               "hosts": len(spec.hosts), "links": len(spec.links)}
        print(f"{row['network']}: {row['switches']} switches, {row['hosts']} hosts, {row['links']} links",
              flush=True)
        strata = run_strata(spec, args.sample_pairs)
        row.update({f"strata_{k}": v for k, v in strata.items()})
        print(f"  strata:   up in {strata['launch_s']:.1f} s, stopped in {strata['stop_s']:.1f} s "
              f"(OVS done after {strata['ovs_done_s']:.1f} s), "
              f"{strata['memory_mb']:.0f} MB, {strata['dropped']:.0f}% dropped", flush=True)
        if len(spec.switches) <= args.baseline_max_switches:
            base = run_baseline(spec, args.sample_pairs)
            row.update({f"mininet_{k}": v for k, v in base.items()})
            print(f"  mininet:  up in {base['launch_s']:.1f} s, stopped in {base['stop_s']:.1f} s "
                  f"(OVS done after {base['ovs_done_s']:.1f} s), "
                  f"{base['memory_mb']:.0f} MB, {base['dropped']:.0f}% dropped", flush=True)
        rows = sorted([r for r in rows if r["network"] != row["network"]] + [row],
                      key=lambda r: (r["switches"], r["links"]))
        if args.csv:
            write_csv(rows, args.csv)
    print()
    print(table(rows))
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
