"""What link delays cost a launch: the same network up with its declared delays and with `--delays off`.

For each network (edge-tiered and Topology Zoo networks), alternately with delays off and on,
`--runs` times each: `strata up --no-nodes` as a library (the network, the placement and SDN
daemons), from nothing to every switch connected; a sampled reachability check; the teardown
(bench/emulation.py's run_strata). With delays on, every link with a delay is spliced through
the delay element (docs/emulation.md). Printed: the median launch time of each and their ratio
(on / off, measured in this run), and the sampled check's losses.

    .venv/bin/python bench/delay_launch.py [--networks edge-tiered,zoo:Abilene,zoo:GtsCe] [--runs 3]   (root)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from emulation import run_strata  # noqa: E402

from dataplane.network import delayed_link_count  # noqa: E402
from topologies.catalog import load_topology  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="edge-tiered,zoo:Abilene,zoo:GtsCe",
                        help="topologies as `strata up` names them, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="launches of each network per setting (default 3)")
    parser.add_argument("--sample-pairs", type=int, default=20, metavar="N")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/delay_launch.py needs root (Mininet)", file=sys.stderr)
        return 2
    rows = []
    for name in [n for n in args.networks.split(",") if n]:
        spec = load_topology(name)
        settings = {"off": spec.without_delays(), "on": spec}
        print(f"{name}: {len(spec.switches)} switches, {len(spec.hosts)} hosts, "
              f"{delayed_link_count(spec)} links with delay or loss", flush=True)
        times: dict[str, list[float]] = {"off": [], "on": []}
        dropped: dict[str, list[float]] = {"off": [], "on": []}
        for run in range(args.runs):
            for setting, chosen in settings.items():  # alternate, so a noisy minute hurts both
                result = run_strata(chosen, args.sample_pairs)
                times[setting].append(result["launch_s"])
                dropped[setting].append(result["dropped"])
                print(f"  run {run + 1}, delays {setting}: up in {result['launch_s']:.1f} s, "
                      f"{result['dropped']:.0f}% dropped", flush=True)
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        rows.append((name, len(spec.switches), delayed_link_count(spec), off, on, max(dropped["off"]),
                     max(dropped["on"])))
    print()
    print("| network | switches | delayed links | up, delays off (s) | up, delays on (s) | on / off | "
          "dropped (off, on) |")
    print("|---|---|---|---|---|---|---|")
    for name, switches, delayed, off, on, d_off, d_on in rows:
        print(f"| {name} | {switches} | {delayed} | {off:.1f} | {on:.1f} | {on / off:.2f}x | "
              f"{d_off:.0f}%, {d_on:.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
