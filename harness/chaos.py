"""The chaos run: a running stack judged by what keeps answering while faults are injected at random.

A steady, bounded request stream goes from devices to an application's front end (one request
every 0.2 s per device, each with a 2 s limit), while faults of six kinds are injected one after
the other at seeded random moments:
  container  a container of the app SIGKILLed (its node restarts it)
  agent      a node agent SIGKILLed (the supervisor starts it again; its pods answer meanwhile)
  daemon     the orchestrator, mesh, VNF manager or SDN daemon SIGKILLed (the supervisor)
  freeze     one of those daemons SIGSTOPped for a few seconds, then SIGCONT
  link       a link between two switches cut for a few seconds (the SDN fails over), then restored
  node       a node hung: its agent and every container SIGSTOPped for a few seconds, then SIGCONT
Each fault's window runs from its injection until the stack is whole again (the component healthy,
the deployment ready) plus a second of grace. The report, per kind: faults, time to detect (the
supervisor noticing a death, a node restarting a container), time to recover, requests lost inside
and outside the windows; then duplicates (more instances than desired, seen at any time) and
leftovers after the stop. It runs against any stack `strata up` describes (its state file names
the hosts, links, sockets and certificates; supervision.json the processes).
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
from strata.v1 import agent_pb2, agent_pb2_grpc
from strata.v1 import orchestrator_pb2 as opb
from strata.v1 import orchestrator_pb2_grpc

from component_base.pki import Identity
from component_base.tls import Tls, open_channel

from .daemons import health
from .supervisor import SUPERVISION_FILE, read_status

KINDS = ("container", "agent", "daemon", "freeze", "link", "node")
DAEMONS = ("orchestrator", "mesh", "mano", "sdn")
REQUEST_EVERY = 0.2     # s between two requests of one device
REQUEST_LIMIT = 2.0     # s a request may take
GRACE = 1.0             # s after a fault's recovery still inside its window
HOLD = (3.0, 8.0)       # s a freeze, a cut link or a hung node lasts
GAP = (5.0, 15.0)       # s between a recovery and the next fault
RECOVERY_LIMIT = 90.0   # s to wait for a fault's recovery before giving up on it

# One line per request: its start (Unix seconds) and HTTP status (000: no answer in time).
STREAM = ("while :; do t=$(date +%s.%N); c=$(curl -s -o /dev/null -w '%{{http_code}}' --max-time {limit} {url}); "
          "echo \"$t $c\"; sleep {every}; done")


@dataclass
class Fault:
    kind: str
    target: str
    injected: float
    detected: float | None = None   # when the stack was seen reacting
    recovered: float | None = None  # when it was whole again
    note: str = ""

    @property
    def window(self) -> tuple[float, float]:
        return self.injected, (self.recovered or self.injected + RECOVERY_LIMIT) + GRACE


@dataclass
class Report:
    seed: int
    duration: float
    app: str
    devices: list[str]
    requests: list[tuple[float, str, str]] = field(default_factory=list)  # (start, device, status)
    faults: list[Fault] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def in_window(self, t: float) -> Fault | None:
        return next((f for f in self.faults if f.window[0] <= t <= f.window[1]), None)

    def table(self) -> list[dict]:
        rows = []
        for kind in KINDS:
            faults = [f for f in self.faults if f.kind == kind]
            if not faults:
                continue
            lost = sum(1 for t, _, code in self.requests if code != "200" and (f := self.in_window(t))
                       and f.kind == kind)
            inside = sum(1 for t, _, _ in self.requests if (f := self.in_window(t)) and f.kind == kind)
            detect = [f.detected - f.injected for f in faults if f.detected is not None]
            recover = [f.recovered - f.injected for f in faults if f.recovered is not None]
            rows.append({"kind": kind, "faults": len(faults), "healed": len(recover),
                         "detect_s_median": round(statistics.median(detect), 2) if detect else None,
                         "recover_s_median": round(statistics.median(recover), 2) if recover else None,
                         "recover_s_max": round(max(recover), 2) if recover else None,
                         "requests_inside": inside, "lost_inside": lost})
        return rows

    def summary(self) -> dict:
        outside = [(t, code) for t, _, code in self.requests if self.in_window(t) is None]
        return {"seed": self.seed, "duration_s": self.duration, "app": self.app, "devices": self.devices,
                "requests": len(self.requests), "lost": sum(1 for *_, code in self.requests if code != "200"),
                "requests_outside": len(outside), "lost_outside": sum(1 for _, code in outside if code != "200"),
                "faults": len(self.faults), "healed": sum(1 for f in self.faults if f.recovered is not None),
                "duplicates": self.duplicates, "leftovers": self.leftovers, "by_kind": self.table(),
                "fault_log": [asdict(f) for f in self.faults]}


class StackHandle:
    """What the chaos run needs of a running stack, from its description (state file)."""

    def __init__(self, state_file: Path):
        self.state = json.loads(Path(state_file).read_text())
        if "hosts" not in self.state:
            raise ValueError(f"{state_file} names no hosts: the chaos run needs a stack on one machine (strata up)")
        files = self.state.get("tls")
        self.tls = Tls.load(Path(files["ca"]), Path(files["cert"]), Path(files["key"])) if files else None
        self.workdir = Path(self.state["workdir"])

    def channel(self, address: str, server: Identity) -> grpc.Channel:
        return open_channel(address, self.tls, server) if self.tls else grpc.insecure_channel(address)

    def orchestrator(self):
        return orchestrator_pb2_grpc.OrchestratorServiceStub(
            self.channel(self.state["addresses"]["orchestrator"], Identity("orchestrator")))

    def agent(self, node: str):
        return agent_pb2_grpc.NodeAgentStub(self.channel(self.state["agents"][node], Identity.agent(node)))

    def supervised(self) -> dict[str, dict]:
        return {c["name"]: c for c in read_status(self.workdir / SUPERVISION_FILE).get("components", [])}

    def in_host(self, host: str) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.state['hosts'][host]['pid']}/ns/net"]

    def devices(self) -> list[str]:
        return sorted(name for name, h in self.state["hosts"].items() if h["role"] == "device")

    def healthy(self, name: str) -> bool:
        """The supervised component runs, its health check serving (or its process alive)."""
        entry = self.supervised().get(name)
        if entry is None or entry["state"] != "running":
            return False
        return not entry["health"] or health(entry["health"], Identity.parse(entry["identity"]), self.tls,
                                             timeout=2) == "SERVING"


def _wait(condition: Callable[[], bool], limit: float, every: float = 0.2) -> float | None:
    """When the condition first held (Unix seconds), or None within `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if condition():
                return time.time()
        except (grpc.RpcError, OSError, KeyError, ValueError):
            pass
        time.sleep(every)
    return None


class ChaosRun:
    def __init__(self, handle: StackHandle, app: str, *, duration: float, seed: int, devices: int = 3,
                 kinds: tuple[str, ...] = KINDS, say: Callable[[str], None] = print):
        self.h = handle
        self.app = app
        self.duration = duration
        self.random = random.Random(seed)
        self.kinds = kinds
        self.say = say
        self.report = Report(seed, duration, app, handle.devices()[:devices])
        self._streams: list[tuple[str, subprocess.Popen]] = []
        self._stop = threading.Event()
        self._desired: dict[str, int] = {}

    # -- the stream ------------------------------------------------------------------------------
    def _front_end(self) -> str:
        from api.app import AppSpec
        from api.app_messages import service_spec
        from api.front_end import front_end

        d = self.h.orchestrator().GetDeployment(opb.GetDeploymentRequest(application=self.app), timeout=10)
        spec = AppSpec(d.application, tuple(service_spec(m) for m in d.services))
        front = front_end(spec).service
        address = next(a for a in d.addresses if spec.service(a.service).group == front and a.vip)
        self._desired = {s.name: s.replicas for s in spec.services}
        return f"http://{address.vip}:{address.port}/"

    def _start_stream(self, url: str) -> None:
        for device in self.report.devices:
            command = STREAM.format(limit=REQUEST_LIMIT, url=url, every=REQUEST_EVERY)
            self._streams.append((device, subprocess.Popen([*self.h.in_host(device), "sh", "-c", command],
                                                           stdout=subprocess.PIPE, text=True)))

    def _stop_stream(self) -> None:
        for device, stream in self._streams:
            stream.send_signal(signal.SIGTERM)
            out, _ = stream.communicate(timeout=30)
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 2:
                    self.report.requests.append((float(parts[0]), device, parts[1]))
        self.report.requests.sort()

    # -- faults ----------------------------------------------------------------------------------
    def _deployment(self):
        return self.h.orchestrator().GetDeployment(opb.GetDeploymentRequest(application=self.app), timeout=10)

    def _whole(self) -> bool:
        """Every supervised component healthy and the deployment ready."""
        return all(self.h.healthy(name) for name in self.h.supervised()) and self._deployment().ready

    def _watch_duplicates(self) -> None:
        while not self._stop.wait(1.0):
            try:
                d = self._deployment()
            except grpc.RpcError:
                continue  # the orchestrator down: another fault's business
            counts: dict[str, int] = {}
            for i in d.instances:
                counts[i.service] = counts.get(i.service, 0) + 1
            for service, n in counts.items():
                if n > self._desired.get(service, n):
                    self.report.duplicates.append(f"{time.time():.1f}: {service} has {n} instances, "
                                                  f"{self._desired[service]} desired")

    def _inject(self, kind: str) -> Fault:
        h, rnd = self.h, self.random
        d = self._deployment()
        running = [i for i in d.instances if i.phase == opb.INSTANCE_PHASE_RUNNING]
        if kind == "container":
            victim = rnd.choice(running)
            agent = h.agent(victim.node)
            before = agent.GetContainer(agent_pb2.GetContainerRequest(name=victim.name), timeout=10)
            fault = Fault(kind, f"{victim.node}/{victim.name}", time.time())
            os.kill(before.pid, signal.SIGKILL)
            fault.detected = _wait(lambda: agent.GetContainer(agent_pb2.GetContainerRequest(name=victim.name),
                                                              timeout=5).restarts > before.restarts, RECOVERY_LIMIT)
        elif kind in ("agent", "daemon"):
            names = ([n for n in h.supervised() if n.startswith("agent/")] if kind == "agent"
                     else [n for n in DAEMONS if n in h.supervised()])
            name = rnd.choice(sorted(names))
            entry = h.supervised()[name]
            fault = Fault(kind, name, time.time())
            os.kill(entry["pid"], signal.SIGKILL)
            fault.detected = _wait(lambda: h.supervised()[name]["restarts"] > entry["restarts"], RECOVERY_LIMIT)
        elif kind == "freeze":
            name = rnd.choice([n for n in DAEMONS if n in h.supervised()])
            pid = h.supervised()[name]["pid"]
            fault = Fault(kind, name, time.time())
            os.kill(pid, signal.SIGSTOP)
            time.sleep(rnd.uniform(*HOLD))
            os.kill(pid, signal.SIGCONT)
            fault.detected = time.time()
        elif kind == "link":
            link = rnd.choice(h.state["switch_links"])
            fault = Fault(kind, f"{link['a']}-{link['b']}", time.time())
            cut = [i for i in link["interfaces"] if _ip_link(i, "down")]
            fault.note = f"{len(cut)} interface(s) down"
            time.sleep(rnd.uniform(*HOLD))
            for interface in cut:
                _ip_link(interface, "up")
            fault.detected = time.time()
        elif kind == "node":
            node = rnd.choice(sorted({i.node for i in running}))
            agent_pid = h.supervised()[f"agent/{node}"]["pid"]
            pids = [c.pid for c in h.agent(node).ListContainers(agent_pb2.ListContainersRequest(),
                                                                 timeout=10).containers if c.pid]
            fault = Fault(kind, node, time.time())
            frozen = [pid for pid in [agent_pid, *pids] if _signal(pid, signal.SIGSTOP)]
            time.sleep(rnd.uniform(*HOLD))
            for pid in frozen:
                _signal(pid, signal.SIGCONT)
            fault.detected = time.time()
            fault.note = f"{len(frozen)} processes frozen"
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault.recovered = _wait(self._whole, RECOVERY_LIMIT, every=0.5)
        return fault

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> Report:
        url = self._front_end()
        if not _wait(self._whole, 60):
            raise RuntimeError("the stack is not whole before the run (a component unhealthy or the app not ready)")
        self.say(f"chaos: {self.duration:g} s, seed {self.report.seed}, requests from "
                 f"{', '.join(self.report.devices)} to {url} every {REQUEST_EVERY:g} s")
        self._start_stream(url)
        watcher = threading.Thread(target=self._watch_duplicates, daemon=True)
        watcher.start()
        started = time.monotonic()
        try:
            while time.monotonic() - started < self.duration:
                time.sleep(min(self.random.uniform(*GAP), max(0.0, self.duration - (time.monotonic() - started))))
                if time.monotonic() - started >= self.duration:
                    break
                kind = self.random.choice(self.kinds)
                fault = self._inject(kind)
                self.report.faults.append(fault)
                self.say(f"  {time.monotonic() - started:6.1f} s  {kind:<9} {fault.target:<24} "
                         + (f"recovered in {fault.recovered - fault.injected:.1f} s" if fault.recovered
                            else "NOT recovered") + (f" ({fault.note})" if fault.note else ""))
            time.sleep(2.0)
        finally:
            self._stop.set()
            self._stop_stream()
            watcher.join(timeout=5)
        self.report.leftovers = self._leftovers()
        return self.report

    def _leftovers(self) -> list[str]:
        """Containers of the app on the nodes that are not its instances, once all is whole."""
        _wait(self._whole, RECOVERY_LIMIT)
        d = self._deployment()
        instances = {(i.node, i.name) for i in d.instances}
        found = []
        for node in self.h.state["agents"]:
            for c in self.h.agent(node).ListContainers(agent_pb2.ListContainersRequest(), timeout=10).containers:
                if c.labels.get("strata.io/app") == self.app and (node, c.name) not in instances:
                    found.append(f"{node}/{c.name}")
        return found


def _ip_link(interface: str, state: str) -> bool:
    return subprocess.run(["ip", "link", "set", interface, state], capture_output=True).returncode == 0


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def print_report(summary: dict) -> None:
    print(f"{'fault':<10} {'count':>5} {'healed':>6} {'detect s':>9} {'recover s':>10} {'max s':>7} "
          f"{'requests in':>11} {'lost in':>8}")
    for row in summary["by_kind"]:
        def show(value):
            return "-" if value is None else f"{value:.1f}"
        print(f"{row['kind']:<10} {row['faults']:>5} {row['healed']:>6} {show(row['detect_s_median']):>9} "
              f"{show(row['recover_s_median']):>10} {show(row['recover_s_max']):>7} {row['requests_inside']:>11} "
              f"{row['lost_inside']:>8}")
    print(f"requests: {summary['requests']}, lost {summary['lost']}; outside the fault windows "
          f"{summary['requests_outside']}, lost {summary['lost_outside']}; faults {summary['faults']}, healed "
          f"{summary['healed']}; duplicates {len(summary['duplicates'])}; leftovers {len(summary['leftovers'])}")


def plot_timeline(report: Report, path: Path) -> None:
    """Requests answered and failed per second, with the fault windows shaded (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not report.requests:
        return
    t0 = report.requests[0][0]
    seconds = int(report.requests[-1][0] - t0) + 1
    ok, failed = [0] * seconds, [0] * seconds
    for t, _, code in report.requests:
        (ok if code == "200" else failed)[int(t - t0)] += 1
    fig, ax = plt.subplots(figsize=(12, 3.5))
    ax.plot(range(seconds), ok, label="answered / s", color="tab:green", linewidth=1)
    ax.plot(range(seconds), failed, label="failed / s", color="tab:red", linewidth=1)
    colours = dict(zip(KINDS, ("tab:blue", "tab:orange", "tab:purple", "tab:gray", "tab:olive", "tab:brown")))
    for fault in report.faults:
        start, end = (x - t0 for x in fault.window)
        ax.axvspan(start, end, alpha=0.2, color=colours[fault.kind], label=fault.kind)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize=8, ncol=4)
    ax.set_xlabel("seconds")
    ax.set_ylabel("requests")
    ax.set_title(f"chaos run, seed {report.seed}: {len(report.faults)} faults, "
                 f"{sum(1 for *_, c in report.requests if c != '200')} of {len(report.requests)} requests failed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
