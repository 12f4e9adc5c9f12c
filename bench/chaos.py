"""Chaos benchmark: online-boutique on the default network, supervised as `strata up` runs it, under
`strata chaos` for --duration seconds (default 10 minutes).

A stack is started (edge-tiered, delays on, mutual TLS, supervision), online-boutique deployed and
ready, then the chaos run (harness/chaos.py): devices request the front end every 0.2 s while a
container, an agent, a daemon, a frozen daemon, a cut link or a hung node is injected at seeded
random moments. Printed: the table per fault kind and the totals; written to --out: chaos.json
(every fault with its window) and chaos.png (the timeline). Figures are counts and seconds of this
run; what matters is lost requests outside the fault windows (the goal: none), faults healed
(all), duplicates and leftovers (none).

    .venv/bin/python bench/chaos.py [--duration 600] [--seed 1] [--out docs/figures] (root)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proto"))

ROOT = Path(__file__).resolve().parent.parent
BOUTIQUE = ROOT / "examples" / "apps" / "online-boutique-kubernetes-manifests.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, metavar="S")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures", metavar="DIR")
    args = parser.parse_args(argv)

    from strata.v1 import orchestrator_pb2 as pb
    from strata.v1 import orchestrator_pb2_grpc

    from api.app_messages import service_message
    from client.manifests import load_manifest
    from dataplane.network import ensure_ovs
    from harness.chaos import ChaosRun, StackHandle, plot_timeline, print_report
    from harness.daemons import poll
    from harness.stack import Stack
    from topologies.catalog import load_topology

    ensure_ovs()
    state = Path(tempfile.mkdtemp(prefix="strata-chaos-bench-")) / "stack.json"
    with Stack(load_topology("edge-tiered"), images=[], state_file=state, supervise=True,
               log=lambda line: print(line, flush=True)) as stack:
        spec = load_manifest(BOUTIQUE, name="boutique", warn=lambda _: None)
        with stack.channel("orchestrator") as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            stub.Deploy(pb.DeployRequest(application="boutique",
                                         services=[service_message(s) for s in spec.services]), timeout=60)
            started = time.monotonic()
            if not poll(lambda: stub.GetDeployment(pb.GetDeploymentRequest(application="boutique"),
                                                   timeout=10).ready, 300):
                print("online-boutique was not ready in 300 s", file=sys.stderr)
                return 1
            print(f"online-boutique ready in {time.monotonic() - started:.1f} s", flush=True)
        report = ChaosRun(StackHandle(state), "boutique", duration=args.duration, seed=args.seed).run()
    summary = report.summary()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chaos.json").write_text(json.dumps(summary, indent=1))
    plot_timeline(report, args.out / "chaos.png")
    print_report(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
