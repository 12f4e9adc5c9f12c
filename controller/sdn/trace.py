"""Policy trace: one connection's first packet followed through the switches with Open vSwitch's ofproto/trace, read table by table.

The trace runs on the source's switch with connection tracking states supplied (`--ct-next
trk,new`: every `ct` action resumes as a new tracked connection), then on each switch the packet
is output to, until it reaches a host or is dropped. What Open vSwitch prints is read into steps
(switch, table, the flow that matched, its actions), the verdict and the table that decided; a
policy flow's cookie names the rule that allowed the connection. Running ovs-appctl is the one
piece of I/O, passed in.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from component_base.errors import InvalidArgument, NotFound, Unavailable

from api.network_policy import ResolvedPolicies

from .network import NetworkView
from .pipeline.tables import COOKIE_FAMILY_MASK, COOKIE_POLICY_BASE, Table

MAX_HOPS = 32
TCP_SYN = 0x002
_STEP = re.compile(r"^\s*(\d+)\. (.*)$")
_COOKIE = re.compile(r"cookie (0x[0-9a-f]+)")
_OUTPUT = re.compile(r"^output:(\d+|in_port|IN_PORT)$")

AppCtl = Callable[[list[str]], str]  # ovs-appctl's arguments -> its output; Unavailable when it fails


@dataclass
class Step:
    switch: str
    table: int
    flow: str        # the matched flow as printed ("No match." when none)
    actions: str     # its actions, comma-separated
    policy: str = ""  # the policy rule a policy flow's cookie names

    @property
    def name(self) -> str:
        try:
            return Table(self.table).name.lower()
        except ValueError:
            return f"table {self.table}"


@dataclass
class Trace:
    switch: str
    steps: list[Step] = field(default_factory=list)
    verdict: str = "dropped"
    decided_by: str = ""
    policy: str = ""
    raw: str = ""


def run_appctl(args: list[str], timeout: float = 10.0) -> str:
    """ovs-appctl with these arguments, its standard output; Unavailable if it cannot run or fails."""
    try:
        done = subprocess.run(["ovs-appctl", *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"ovs-appctl could not run: {exc}") from None
    if done.returncode != 0:
        raise Unavailable(f"ovs-appctl {' '.join(args[:2])} failed: {done.stderr.strip()[:300]}")
    return done.stdout


def parse_steps(output: str, switch: str) -> list[Step]:
    """The tables of one switch's ofproto/trace output, in order (every recirculation included)."""
    steps: list[Step] = []
    actions: list[str] | None = None  # the current step's, None between a section's end and the next step

    for line in output.splitlines():
        m = _STEP.match(line)
        if m:
            steps.append(Step(switch, int(m.group(1)), m.group(2).strip(), ""))
            actions = []
        elif line.startswith(("Final flow:", "Megaflow:", "Datapath actions:", "Flow:", "bridge(", "=====",
                              "recirc(")):
            actions = None  # a section's summary or header: no step's action
        elif actions is not None and line.strip() and not line.strip().startswith(("->", "thaw", "Resuming")):
            if line.strip() == "drop" and actions and actions[-1].startswith("ct(") and "table=" in actions[-1]:
                continue  # the packet went on in a recirculated clone: this "drop" is the original's
            actions.append(line.strip())
        if steps and actions is not None:
            steps[-1].actions = ", ".join(actions)
    return steps


def _policy_of(step: Step, policies: ResolvedPolicies) -> str:
    m = _COOKIE.search(step.flow)
    if not m:
        return ""
    cookie = int(m.group(1), 16)
    number = cookie & ~COOKIE_FAMILY_MASK
    if cookie & COOKIE_FAMILY_MASK != COOKIE_POLICY_BASE or not 0 < number <= len(policies.rules):
        return ""
    return policies.rules[number - 1].policy


def _flow_spec(in_port: int, proto: str, src_mac: str, dst_mac: str, src: str, dst: str, sport: int,
               dport: int) -> str:
    spec = (f"in_port={in_port},{proto},dl_src={src_mac},dl_dst={dst_mac},nw_src={src},nw_dst={dst},"
            f"tp_src={sport},tp_dst={dport}")
    return spec + (f",tcp_flags={TCP_SYN:#05x}" if proto == "tcp" else "")


def trace_connection(view: NetworkView, policies: ResolvedPolicies, source: str, destination: str, port: int,
                     protocol: str, source_port: int, dst_mac: str, appctl: AppCtl) -> Trace:
    """The first packet of a connection from `source` (a host or pod of the view, by name or
    address) to destination:port, traced switch after switch. `dst_mac` is what the source's
    ARP gets for the destination (the controller's answer)."""
    if protocol not in ("tcp", "udp"):
        raise InvalidArgument(f"protocol must be tcp or udp, got {protocol!r}")
    for what, value in (("port", port), ("source port", source_port)):
        if not 1 <= value <= 65535:
            raise InvalidArgument(f"{what} must be 1-65535, got {value}")
    try:
        ipaddress.IPv4Address(destination)
    except ValueError:
        raise InvalidArgument(f"destination must be an IPv4 address, got {destination[:80]!r}") from None
    host = view.hosts.get(source) or view.host_by_ip(source)
    if host is None:
        raise NotFound(f"no host or pod {source[:80]!r} in the network")
    trace = Trace(view.switch_name(host.dpid))
    dpid, in_port, mac = host.dpid, host.port, dst_mac
    raws = []
    for _ in range(MAX_HOPS):
        switch = view.switch_name(dpid)
        spec = _flow_spec(in_port, protocol, host.mac, mac, host.ip, destination, source_port, port)
        output = appctl(["ofproto/trace", "--ct-next", "trk,new", switch, spec])
        raws.append(f'bridge("{switch}"): {spec}\n{output}')
        steps = parse_steps(output, switch)
        for step in steps:
            if step.table in (Table.POLICY_EGRESS, Table.POLICY_INGRESS):
                step.policy = _policy_of(step, policies)
                trace.policy = step.policy or trace.policy
        trace.steps += steps
        if steps:
            trace.decided_by = steps[-1].name
        if any(a.strip() == "CONTROLLER:65535" or a.startswith("controller") for s in steps for a in s.actions.split(", ")):
            trace.verdict = "to the controller"
            break
        ports = [m.group(1) for s in steps for a in s.actions.split(", ") if (m := _OUTPUT.match(a.strip()))]
        if not ports:
            dropped_here = steps[-1].table if steps else None
            trace.verdict = ("dropped by policy" if dropped_here in (Table.POLICY_EGRESS, Table.POLICY_INGRESS)
                             else "dropped")
            break
        out = in_port if ports[-1].lower() == "in_port" else int(ports[-1])
        link = view.links.get((dpid, out))
        if link is None:
            reached = next((h.name for h in view.hosts.values() if h.dpid == dpid and h.port == out), f"port {out}")
            trace.verdict = f"delivered to {reached}"
            break
        # the set_field of table 6 gave it the destination's MAC; it enters the next switch by the link
        target = view.host_by_ip(destination)
        mac = target.mac if target is not None else mac
        dpid, in_port = link.dst, link.dst_port
    else:
        trace.verdict = f"still travelling after {MAX_HOPS} switches (a loop?)"
    trace.raw = "\n".join(raws)
    return trace
