"""`strata chaos`: faults injected at random into the running stack under a steady request stream; what was lost."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import EXIT_FAILED, EXIT_OK, BadInput, guarded, print_json, stack_option


def add_parser(sub) -> None:
    chaos = sub.add_parser("chaos", help="inject faults at random into the running stack while devices send "
                                         "requests to an app; report per fault kind (needs root)")
    stack_option().add(chaos, after_action=False)
    chaos.add_argument("--app", required=True, help="a deployed application: its front end gets the requests")
    chaos.add_argument("--duration", type=float, default=60.0, metavar="S", help="seconds of faults (default 60)")
    chaos.add_argument("--seed", type=int, default=1, help="the faults' random seed (default 1)")
    chaos.add_argument("--devices", type=int, default=3, metavar="N", help="devices sending requests (default 3)")
    chaos.add_argument("--kinds", default=None, metavar="K,K",
                       help="fault kinds to draw from (default all: container, agent, daemon, freeze, link, node)")
    chaos.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="write chaos.json (the report and every fault) and chaos.png (the timeline) there")
    chaos.add_argument("-o", "--output", choices=("table", "json"), default="table", help="a table (default) or JSON")
    chaos.set_defaults(func=guarded(cmd_chaos), json_output=True)


def cmd_chaos(args: argparse.Namespace) -> int:
    from harness.chaos import KINDS, ChaosRun, StackHandle, plot_timeline, print_report

    kinds = tuple(k.strip() for k in args.kinds.split(",")) if args.kinds else KINDS
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise BadInput(f"--kinds: {', '.join(unknown)} unknown (kinds: {', '.join(KINDS)})")
    if not 0 < args.duration <= 86400 or not 1 <= args.devices <= 64:
        raise BadInput("--duration must be in (0, 86400] seconds and --devices in 1-64")
    try:
        handle = StackHandle(Path(args.stack))
    except (OSError, ValueError, KeyError) as exc:
        raise BadInput(f"--stack {args.stack}: {exc}") from None
    report = ChaosRun(handle, args.app, duration=args.duration, seed=args.seed, devices=args.devices, kinds=kinds,
                      say=(lambda line: None) if args.output == "json" else print).run()
    summary = report.summary()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "chaos.json").write_text(json.dumps(summary, indent=1))
        plot_timeline(report, args.out / "chaos.png")
    if args.output == "json":
        print_json(summary)
    else:
        print_report(summary)
    whole = (summary["lost_outside"] == 0 and summary["healed"] == summary["faults"] and not summary["duplicates"]
             and not summary["leftovers"])
    return EXIT_OK if whole else EXIT_FAILED
