"""`strata status`: every component of the running stack, its process, uptime, restarts and health."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from component_base.pki import Identity

from .common import EXIT_FAILED, EXIT_OK, INSECURE, guarded, print_json, read_stack, stack_option, stack_tls


def add_parser(sub) -> None:
    status = sub.add_parser("status", help="the running stack's components: pid, uptime, restarts, health")
    for option in (stack_option(), INSECURE):
        option.add(status, after_action=False)
    status.add_argument("-o", "--output", choices=("table", "json"), default="table", help="a table (default) or JSON")
    status.set_defaults(func=guarded(cmd_status), json_output=True)


def cmd_status(args: argparse.Namespace) -> int:
    from harness.daemons import health
    from harness.supervisor import SUPERVISION_FILE, read_status

    stack = read_stack(args.stack)
    supervision = read_status(Path(stack["workdir"]) / SUPERVISION_FILE)
    if not supervision:
        print(f"the stack described at {args.stack} runs without supervision (no {SUPERVISION_FILE} in its "
              "run folder): nothing restarts its components")
        return EXIT_FAILED
    tls, now = stack_tls(args), time.time()  # the operator's certificate, read once
    rows = []
    for c in supervision["components"]:
        if c["state"] != "running":
            state = f"restarting in {max(c['next_try'] - now, 0):.0f} s"
        elif c["health"]:
            state = health(c["health"], Identity.parse(c["identity"]), tls)
        else:
            state = "running"
        rows.append({**c, "uptime_seconds": round(now - c["started_at"], 1) if c["state"] == "running" else 0.0,
                     "status": state})
    if args.output == "json":
        print_json({"supervisor_pid": supervision["supervisor_pid"], "components": rows})
    else:
        print(f"{'COMPONENT':<16} {'KIND':<9} {'PID':>8} {'UPTIME':>9} {'RESTARTS':>8}  {'LAST EXIT':<10} STATUS")
        for r in rows:
            uptime = _duration(r["uptime_seconds"]) if r["state"] == "running" else "-"
            last = "-" if r["last_exit"] is None else str(r["last_exit"])
            print(f"{r['name']:<16} {r['kind']:<9} {r['pid'] or '-':>8} {uptime:>9} {r['restarts']:>8}  {last:<10} "
                  f"{r['status']}")
        print(f"(supervised by `strata up`, pid {supervision['supervisor_pid']}: a component that dies is started "
              "again at once, then after 1, 2, 4 ... 30 s)")
    healthy = all(r["status"] in ("SERVING", "running") for r in rows)
    return EXIT_OK if healthy else EXIT_FAILED


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
