"""`strata experiment deploy`: the paper's claim measured live. One or more real apps are deployed
together with each placement algorithm in turn, each run on a fresh network, and what happened is
measured, not computed: bytes the registry sent (its interface's counter), bytes nodes sent each
other (their blob servers), bytes stored on the servers (their layer stores on disk), bytes that
crossed the cloud site's uplinks, the seconds until every service of every app answers on its VIP
from a device, per app and in all, each service's first answer (its p50 and p90), and, once every
app runs, the latency of requests from devices to each app's front end through its call graph.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from images import IMAGE_SCALE
from topologies.profiles import DEFAULT_PROFILE
from topologies.spec import TopologySpec

from .request_latency import (DEFAULT_REQUESTS, DeviceStream, LatencySummary, by_site, front_end_address,
                              front_end_choices, measure_request_latency, percentile, sampled_devices, summarize)

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_APPS = {
    "socialNetwork": ROOT / "examples" / "apps" / "deathstarbench-socialNetwork-docker-compose.yml",
    "online-boutique": ROOT / "examples" / "apps" / "online-boutique-kubernetes-manifests.yaml",
    "teastore": ROOT / "examples" / "apps" / "teastore-kubernetes-clusterip.yaml",
}
DEFAULT_APP = "online-boutique"
DEFAULT_ALGORITHMS = ("strata", "ilp", "relax-round", "kube-default", "image-locality", "first-fit", "no-sharing")


def split_algorithm(name: str) -> tuple[str, dict[str, float]]:
    """A run's algorithm as given: "NAME"; "strata@W" for strata with its start-up objective at
    weight W (the orchestrator's startup_weight, 0 < W <= 1); or "NAME@latency=L" for strata or
    ilp with the client delay objective at L MiB per ms (the orchestrator's latency_weight, L > 0).
    (algorithm, the orchestrator's options). ValueError naming the entry when it is malformed
    (unknown algorithms are the caller's check)."""
    from controller.placement.algorithms import LATENCY_AWARE, STARTUP_AWARE

    base, at, weight = name.partition("@")
    if not at:
        return name, {}
    key, equals, latency = weight.partition("=")
    option, allowed, text, top = (("latency_weight", LATENCY_AWARE, latency, math.inf) if equals and key == "latency"
                                  else ("startup_weight", STARTUP_AWARE, weight, 1.0))
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if base not in allowed or not 0 < value <= top or value == math.inf:
        raise ValueError(f"--algorithms {name}: NAME@W is for {', '.join(sorted(STARTUP_AWARE))} with a start-up "
                         f"weight 0 < W <= 1 (docs/placement.md), e.g. strata@0.5; NAME@latency=L for "
                         f"{', '.join(sorted(LATENCY_AWARE))} with a latency weight L > 0 (MiB per ms), "
                         f"e.g. strata@latency=20")
    return base, {option: value}


READY_TIMEOUT = 600.0
PROBE_SECONDS = 1  # a VIP that has not accepted the connection by then is asked again on the next round


@dataclass
class DeployRun:
    """One run (an algorithm, peers on or off): every app of the run, measured together."""
    algorithm: str
    peers: bool
    pulled_bytes: int      # sent by the registry, counted on its interface
    peer_bytes: int        # sent by nodes' blob servers to other nodes
    stored_bytes: int      # layer blobs on the servers' disks
    ready_seconds: float   # first Deploy call to every service of every app answering on its VIP
    uplink_bytes: int      # left the registry's switch towards the edge
    planned_bytes: int     # what the placement said must be stored anew (summed over the apps)
    instances: int
    nodes_used: int
    image_scale: float = IMAGE_SCALE  # layers were this share of their real size (1: real sizes)
    # The settings of the run (older CSVs without these columns read as the defaults).
    apps: str = ""         # the apps deployed, in order, joined by "+"
    replicas: int = 0      # every service's replicas set to this (0: as the manifests say)
    spread: bool = False   # services of several replicas spread over nodes (hard, max skew 1)
    profile: str = DEFAULT_PROFILE  # the edge servers' profile
    service_p50_seconds: float = 0.0  # median of the services' first answers on their VIPs, from the first Deploy
    service_p90_seconds: float = 0.0  # 90th percentile of the same
    delays: bool = False   # the topology's link delays and losses applied (older CSVs: none were)
    # Requests from devices to the apps' front ends once all run (request_latency; 0: not measured).
    requests: int = 0           # GET /call asked, every device and app together
    requests_failed: int = 0    # of them not answered 200 (the whole call tree) in time, or not sent
    request_p50_ms: float = 0.0  # latency of the answered ones (connection included), every app pooled
    request_p90_ms: float = 0.0
    request_p99_ms: float = 0.0


@dataclass
class AppRun:
    """One app of a run: when it and its services were ready, where it ran."""
    algorithm: str
    peers: bool
    app: str
    ready_seconds: float   # first Deploy call of the run to every service of this app answering
    service_p50_seconds: float
    service_p90_seconds: float
    planned_bytes: int
    instances: int
    nodes_used: int
    front_end: str = ""         # the service its requests were sent to ("": not measured)
    requests: int = 0           # as DeployRun's, for this app's front end
    requests_failed: int = 0
    request_p50_ms: float = 0.0
    request_p90_ms: float = 0.0
    request_p99_ms: float = 0.0


@dataclass
class SiteRun:
    """One app's requests from one site's device in a run."""
    algorithm: str
    peers: bool
    app: str
    site: str                   # the switch the device hangs off
    device: str
    requests: int
    requests_failed: int
    request_p50_ms: float
    request_p90_ms: float
    request_p99_ms: float


def with_request_latency(record, summary: LatencySummary):
    """A DeployRun or AppRun with the request latency of `summary`."""
    return dataclasses.replace(record, requests=summary.requests, requests_failed=summary.failed,
                               request_p50_ms=summary.p50_ms, request_p90_ms=summary.p90_ms,
                               request_p99_ms=summary.p99_ms)


def site_rows(algorithm: str, peers: bool, streams: dict[str, list[DeviceStream]]) -> list[SiteRun]:
    """The per-site records of a run's request streams (app -> its devices' streams)."""
    rows = []
    for app, app_streams in streams.items():
        for stream in app_streams:
            s = summarize([stream])
            rows.append(SiteRun(algorithm, peers, app, stream.site, stream.device, s.requests, s.failed,
                                s.p50_ms, s.p90_ms, s.p99_ms))
    return rows


def app_file(name: str) -> Path:
    """A bundled app by name, or a Compose / Kubernetes file."""
    if name in BUNDLED_APPS:
        return BUNDLED_APPS[name]
    path = Path(name)
    if not path.is_file():
        raise ValueError(f"--app {name}: neither a bundled app ({', '.join(BUNDLED_APPS)}) nor a file")
    return path


def app_rows(algorithm: str, peers: bool, apps: Sequence[str], app_ready: dict[str, float],
             first_answers: dict[tuple[str, str], float], deployments: dict[str, tuple[int, int, set[str]]]
             ) -> list[AppRun]:
    """The per-app records of a run: `first_answers` (app, service) -> seconds, `deployments` app ->
    (planned bytes, instances, nodes)."""
    rows = []
    for app in apps:
        answers = [t for (owner, _), t in first_answers.items() if owner == app]
        planned, instances, nodes = deployments[app]
        rows.append(AppRun(algorithm, peers, app, app_ready[app], percentile(answers, 50), percentile(answers, 90),
                           planned, instances, len(nodes)))
    return rows


def whole_run(algorithm: str, peers: bool, rows: Sequence[AppRun], first_answers: dict[tuple[str, str], float],
              deployments: dict[str, tuple[int, int, set[str]]], *, pulled: int, peer: int, stored: int,
              uplink: int, image_scale: float, replicas: int | None, spread: bool, profile: str,
              delays: bool) -> DeployRun:
    """The run's record: bytes as counted for all apps together, readiness of the last app, instances
    and planned bytes summed, nodes used by any app."""
    answers = list(first_answers.values())
    return DeployRun(algorithm, peers, pulled, peer, stored, max(r.ready_seconds for r in rows), uplink,
                     sum(r.planned_bytes for r in rows), sum(r.instances for r in rows),
                     len(set().union(*(nodes for _, _, nodes in deployments.values()))), image_scale,
                     "+".join(r.app for r in rows), replicas or 0, spread, profile,
                     percentile(answers, 50), percentile(answers, 90), delays)


def _write(rows: Sequence, kind: type, path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(kind)])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(row).items()})


def _read(path: Path, kind: type) -> list:
    with path.open() as source:
        rows = list(csv.DictReader(source))
    kinds = {f.name: f.type for f in fields(kind)}
    convert = {"str": str, "bool": lambda v: v == "True", "int": int, "float": float}
    return [kind(**{k: convert[kinds[k]](v) for k, v in row.items()}) for row in rows]


def write_csv(runs: list[DeployRun], path: Path) -> None:
    _write(runs, DeployRun, path)


def read_csv(path: Path) -> list[DeployRun]:
    """The runs of a deploy.csv; one written before the run settings were recorded reads with their defaults."""
    return _read(path, DeployRun)


def write_app_csv(rows: list[AppRun], path: Path) -> None:
    _write(rows, AppRun, path)


def read_app_csv(path: Path) -> list[AppRun]:
    """The rows of a deploy-apps.csv; one written before request latency was measured reads with 0s."""
    return _read(path, AppRun)


def write_site_csv(rows: list[SiteRun], path: Path) -> None:
    _write(rows, SiteRun, path)


def read_site_csv(path: Path) -> list[SiteRun]:
    return _read(path, SiteRun)


def plot(runs: list[DeployRun], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.algorithm}\n{'peers' if r.peers else 'registry'}" for r in runs]
    timed = any(r.requests for r in runs)  # request latency measured: a third panel
    fig, (left, right, *latency) = plt.subplots(1, 3 if timed else 2,
                                                figsize=(max(8.0, 1.3 * len(runs) + 4) + 3 * timed, 4.5),
                                                gridspec_kw={"width_ratios": [3, 1.4, 1.4] if timed else [3, 1.4]})
    x = range(len(runs))
    width = 0.27
    for k, (field, name) in enumerate((("pulled_bytes", "from the registry"), ("peer_bytes", "from peers"),
                                       ("stored_bytes", "stored on servers"))):
        left.bar([i + (k - 1) * width for i in x], [getattr(r, field) / 1e6 for r in runs], width, label=name)
    left.set_xticks(list(x), labels, fontsize=8)
    scale = runs[0].image_scale if runs else IMAGE_SCALE
    left.set_ylabel("MB (real sizes)" if scale == 1 else f"MB (image scale: real bytes x {scale:g})")
    left.legend(fontsize=8)
    left.set_title(textwrap.fill(title, 80, break_on_hyphens=False), fontsize=9)
    right.barh(list(x), [r.ready_seconds for r in runs], color="tab:gray")
    right.set_yticks(list(x), labels, fontsize=7)
    right.invert_yaxis()
    right.set_xlabel("seconds until every VIP answers")
    for panel in latency:
        panel.barh([i - 0.2 for i in x], [r.request_p50_ms for r in runs], 0.4, color="tab:blue", label="p50")
        panel.barh([i + 0.2 for i in x], [r.request_p99_ms for r in runs], 0.4, color="tab:orange", label="p99")
        panel.set_yticks(list(x), labels, fontsize=7)
        panel.invert_yaxis()
        panel.set_xlabel("request latency, ms")
        panel.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _counter(path: str) -> int:
    return int(Path(path).read_text().strip())


def uplink_interfaces(stack) -> list[str]:
    """The registry switch's ends of its switch-to-switch links (root namespace interfaces)."""
    registry = stack.spec.hosts_with_role("registry")[0]
    net = stack.network.net
    names = []
    for link in stack.spec.links:
        if registry.switch in (link.a, link.b):
            for mn_link in net.linksBetween(net.get(link.a), net.get(link.b)):
                for intf in (mn_link.intf1, mn_link.intf2):
                    if intf.node.name == registry.switch:
                        names.append(intf.name)
    return names


def uplink_sent_bytes(interfaces: list[str]) -> int:
    """Bytes sent so far on the given interfaces (uplink_interfaces'), by their counters."""
    return sum(_counter(f"/sys/class/net/{i}/statistics/tx_bytes") for i in interfaces)


def stored_on_disk(workdir: Path) -> int:
    return sum(p.stat().st_size for p in workdir.glob("nodes/*/layers/blobs/sha256/*") if p.is_file())


def with_settings(app, replicas: int | None = None, spread: bool = False):
    """The app with every service's replicas set to `replicas` (when given) and, with `spread`, a hard
    spread over nodes (at most one replica more on any node than on any other) on every service of
    more than one replica that has none over nodes yet."""
    from api.app import AppSpec, SpreadSpec, validate_app

    services = []
    for service in app.services:
        if replicas is not None:
            service = dataclasses.replace(service, replicas=replicas)
        if spread and service.replicas > 1 and not any(s.topology == "node" for s in service.spread):
            service = dataclasses.replace(service, spread=(*service.spread, SpreadSpec("node", 1, True)))
        services.append(service)
    changed = AppSpec(app.name, tuple(services))
    validate_app(changed)
    return changed


def load_app(path: Path, replicas: int | None = None, spread: bool = False):
    """The app of a manifest, with_settings() applied."""
    from client.manifests import load_manifest

    return with_settings(load_manifest(path, warn=lambda _: None), replicas, spread)


def load_apps(names: Sequence[str], replicas: int | None = None, spread: bool = False) -> list:
    """The apps of a run, in order: bundled names or files; ValueError for a bad one or two of one name."""
    apps = [load_app(app_file(name), replicas, spread) for name in names]
    seen: dict[str, str] = {}
    for name, app in zip(names, apps):
        if app.name in seen:
            raise ValueError(f"--app {name}: its app is named {app.name!r}, like --app {seen[app.name]}'s; "
                             "the apps of a run need different names")
        seen[app.name] = name
    return apps


def with_clients(apps: list, values: Sequence[str]) -> list:
    """The apps with --clients SERVICE=SITES applied (`frontend=site3`, `frontend=site1=3,site3`):
    that service of every app that has one declares those clients, as strata.io/clients would.
    ValueError naming the value when it is malformed or no app has the service."""
    from api.app import AppError, AppSpec, parse_clients, validate_app

    for value in values:
        service, equals, listed = value.partition("=")
        try:
            clients = parse_clients(listed) if equals else None
        except AppError as exc:
            raise ValueError(f"--clients {value}: {exc}") from None
        if not clients or not service:
            raise ValueError(f"--clients {value}: expected SERVICE=SITES, e.g. frontend=site3 or frontend=site1=3,site3")
        if not any(s.name == service for app in apps for s in app.services):
            raise ValueError(f"--clients {value}: no app has a service {service!r}")
        apps = [validate_app(AppSpec(app.name, tuple(dataclasses.replace(s, clients=clients) if s.name == service else s
                                                     for s in app.services))) for app in apps]
    return apps


def dataset_images_of(*apps) -> list[str]:
    """The dataset images the apps' images stand on (what a run at another image scale must build)."""
    from images.catalogue import resolve_image

    return sorted({resolve_image(s.image, base_image=s.base_image).base for app in apps for s in app.services})


def probe_command(targets: Sequence[tuple[str, int]]) -> str:
    """A shell command asking every (vip, port) at once; it prints one line per target: its index,
    a space, the answer on one line (empty if none came)."""
    asks = [f'(echo "{k} $(curl -s --connect-timeout {PROBE_SECONDS} --max-time {2 * PROBE_SECONDS} '
            f'http://{vip}:{port}/ | head -c 4096 | tr -d \'\\n\')") &' for k, (vip, port) in enumerate(targets)]
    return "( " + " ".join(asks) + " wait )"  # a subshell: no job-control notices in an interactive shell


def answered(output: str, services: Sequence[str]) -> set[int]:
    """Indexes of the targets whose answer names their service (the service program's JSON)."""
    done = set()
    for line in output.splitlines():
        index, _, text = line.strip().partition(" ")
        if not index.isdigit() or int(index) >= len(services):
            continue
        try:
            if json.loads(text).get("service") == services[int(index)]:
                done.add(int(index))
        except (ValueError, AttributeError):
            pass
    return done


class NotReady(Exception):
    """A run whose apps did not all answer in time (the message says what was still waiting)."""


def waiting_instances(instances: Sequence, shown: int = 3) -> str:
    """What the instances not running wait for, from GetDeployment's instances (name, node, phase,
    message), grouped by reason: "2 instance(s) (web-1, web-2): no server has room; 1 (db-1): on edge2,
    not running yet"."""
    running = 2  # INSTANCE_PHASE_RUNNING
    by_reason: dict[str, list[str]] = {}
    for i in instances:
        if i.phase != running:
            reason = i.message or (f"on {i.node}, not running yet" if i.node else "not placed")
            by_reason.setdefault(reason, []).append(i.name)
    if not by_reason:
        return "every instance runs; a VIP did not answer"
    return "; ".join(f"{len(names)} instance(s) ({', '.join(names[:shown])}{', ...' if len(names) > shown else ''}): "
                     f"{reason}" for reason, names in by_reason.items())


def request_streams(stack, apps: Sequence, deployments: dict, front_ends: dict, requests: int
                    ) -> dict[str, list[DeviceStream]]:
    """App name -> the request streams from one device per site to the app's front end (`front_ends`:
    app name -> FrontEnd; `deployments`: app name -> its GetDeployment answer), app after app."""
    devices = sampled_devices(stack.spec)
    streams = {}
    for app in apps:
        vip, port = front_end_address(app, deployments[app.name].addresses, front_ends[app.name])
        streams[app.name] = measure_request_latency(stack.network.net, devices, vip, port, requests)
    return streams


def latency_words(summary: LatencySummary, streams: Sequence[DeviceStream]) -> str:
    """"requests p50 ... (site1 p50 ..., site2 ...)" for a progress line."""
    sites = by_site(streams)
    per_site = ", ".join(f"{site} {s.p50_ms:.1f}" for site, s in sites.items())
    return f"requests {summary.words()}" + (f" (p50 by site, ms: {per_site})" if len(sites) > 1 else "")


def measure_run(spec: TopologySpec, apps: Sequence, algorithm: str, peers: bool, *, openflow_port: int,
                port_base: int, progress: Callable[[str], None], replicas: int | None = None,
                spread: bool = False, profile: str = DEFAULT_PROFILE, image_scale: float = IMAGE_SCALE,
                ready_timeout: float = READY_TIMEOUT, delays: bool = True, requests: int = DEFAULT_REQUESTS,
                front_ends: dict | None = None) -> tuple[DeployRun, list[AppRun], list[SiteRun]]:
    """Deploy every app, in order, with `algorithm` (a name, strata@W or NAME@latency=L: split_algorithm) on a
    fresh network and measure until all answer; NotReady if they do not within `ready_timeout` seconds.
    Then, with `requests`, that many requests from one device per site to each app's front end
    (`front_ends`: app name -> FrontEnd; default: front_end's choice)."""
    from strata.v1 import agent_pb2, agent_pb2_grpc
    from strata.v1 import orchestrator_pb2 as pb
    from strata.v1 import orchestrator_pb2_grpc

    from api.app_messages import service_message

    from .cleanup import remove_run_folder
    from .stack import Stack, port_addresses

    solver, options = split_algorithm(algorithm)
    front_ends = front_ends or front_end_choices([], apps)
    with Stack(spec, openflow_port=openflow_port, addresses=port_addresses(port_base), images=[],
               log=lambda _: None, image_scale=image_scale,
               orchestrator_options=options or None,
               build_only=None if image_scale == IMAGE_SCALE else dataset_images_of(*apps)) as stack:
        device = stack.network.net.get(stack.spec.hosts_with_role("device")[0].name)
        uplinks = uplink_interfaces(stack)
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(stack.channel("orchestrator"))
        sent_before = stack.registry_sent_bytes()
        uplink_before = uplink_sent_bytes(uplinks)
        started = time.monotonic()
        for app in apps:  # one after the other, each placed knowing where the ones before it went
            stub.Deploy(pb.DeployRequest(application=app.name, services=[service_message(s) for s in app.services],
                                         algorithm=solver, registry_only=not peers), timeout=READY_TIMEOUT)
        first_answers: dict[tuple[str, str], float] = {}
        app_ready: dict[str, float] = {}
        latest = {}
        while len(app_ready) < len(apps):
            targets = []
            for app in apps:
                if app.name in app_ready:
                    continue
                latest[app.name] = d = stub.GetDeployment(pb.GetDeploymentRequest(application=app.name), timeout=10)
                targets += [(app.name, a) for a in d.addresses
                            if (app.name, a.service) not in first_answers and a.vip and a.endpoints]
            if targets:
                output = device.cmd(probe_command([(a.vip, a.port) for _, a in targets]))
                now = time.monotonic() - started
                for k in answered(output, [a.service for _, a in targets]):
                    first_answers[(targets[k][0], targets[k][1].service)] = now
            now = time.monotonic() - started
            for app in apps:
                d = latest[app.name]
                if app.name not in app_ready and d.ready and all(
                        (app.name, a.service) in first_answers for a in d.addresses):
                    app_ready[app.name] = now
            if now > ready_timeout:
                waiting = "; ".join(f"{app.name}: {waiting_instances(latest[app.name].instances)}"
                                    for app in apps if app.name not in app_ready)
                raise NotReady(f"{algorithm}: not every service answered after {ready_timeout:g} s; waiting: {waiting} "
                               f"(the daemons' logs are in {stack.workdir})")
            time.sleep(0.2)
        sent = stack.registry_sent_bytes() - sent_before
        uplink = uplink_sent_bytes(uplinks) - uplink_before
        served = 0
        for node in stack.agent_sockets:
            status = agent_pb2_grpc.NodeAgentStub(stack.agent_channel(node)).GetNode(
                agent_pb2.GetNodeRequest(), timeout=10)
            served += status.served_bytes_total
        # Once every app runs and its bytes are counted: the users' requests load nothing else.
        streams = request_streams(stack, apps, latest, front_ends, requests) if requests else {}
        deployments = {name: (d.planned_bytes, len(d.instances), {i.node for i in d.instances})
                       for name, d in latest.items()}
        rows = app_rows(algorithm, peers, [app.name for app in apps], app_ready, first_answers, deployments)
        run = whole_run(algorithm, peers, rows, first_answers, deployments, pulled=sent, peer=served,
                        stored=stored_on_disk(stack.workdir), uplink=uplink, image_scale=image_scale,
                        replicas=replicas, spread=spread, profile=profile, delays=delays)
        if streams:
            rows = [dataclasses.replace(with_request_latency(r, summarize(streams[r.app])),
                                        front_end=front_ends[r.app].service) for r in rows]
            run = with_request_latency(run, summarize([s for app in streams.values() for s in app]))
    # Measured: the run's folder goes (gigabytes at real image sizes). A run not ready raised above
    # and keeps its folder, whose daemons' logs say why.
    remove_run_folder(stack.workdir, keep=False)
    every = [s for app_streams in streams.values() for s in app_streams]
    progress(f"  {algorithm:<15} peers {'on ' if peers else 'off'}: registry sent {run.pulled_bytes / 1e6:6.2f} MB, "
             f"peers {run.peer_bytes / 1e6:6.2f} MB, stored {run.stored_bytes / 1e6:6.2f} MB, uplink "
             f"{run.uplink_bytes / 1e6:6.2f} MB, {run.nodes_used} node(s), ready in {run.ready_seconds:.1f} s "
             f"(services p50 {run.service_p50_seconds:.1f} s, p90 {run.service_p90_seconds:.1f} s)"
             + (f"; {latency_words(summarize(every), every)}" if every else ""))
    if len(rows) > 1:
        for row in rows:
            progress(f"    {row.app:<40} ready in {row.ready_seconds:.1f} s (services p50 "
                     f"{row.service_p50_seconds:.1f} s, p90 {row.service_p90_seconds:.1f} s), "
                     f"{row.instances} instance(s) on {row.nodes_used} node(s)"
                     + (f"; {latency_words(summarize(streams[row.app]), streams[row.app])} at {row.front_end}"
                        if streams else ""))
    return run, rows, site_rows(algorithm, peers, streams)


def run_deploy_experiment(apps: Sequence[str], topology: str, algorithms: list[str], peers: list[bool], out: Path,
                          *, replicas: int | None = None, spread: bool = False, profile: str = DEFAULT_PROFILE,
                          openflow_port: int = 6663, port_base: int = 50200,
                          progress: Callable[[str], None] = print, image_scale: float = IMAGE_SCALE,
                          ready_timeout: float = READY_TIMEOUT, delays: bool = True, requests: int = DEFAULT_REQUESTS,
                          front_ends: Sequence[str] = (), clients: Sequence[str] = ()) -> tuple[Path, ...]:
    """Every algorithm (and peers setting) in turn, each deploying all `apps` on a fresh network
    (`clients`: --clients values, with_clients).
    Writes deploy.csv (one row per run), deploy-apps.csv (one row per run and app), with `requests`
    deploy-sites.csv (one row per run, app and site: request latency) and deploy.png. `requests`:
    per device and app, to its front end (`front_ends`: --front-end values, front_end_choices).
    A run whose apps do not all answer in time is reported and left out; NotReady at the end names
    those runs, after the others are written."""
    from topologies.catalog import load_topology

    from .daemons import require_root
    from .signals import interrupt_on_signals

    if replicas is not None and replicas < 1:
        raise ValueError(f"--replicas must be at least 1, got {replicas}")
    for algorithm in algorithms:
        split_algorithm(algorithm)  # a malformed strata@W fails here, before any network is built
    if requests < 0:
        raise ValueError(f"--requests must be 0 (no requests) or more, got {requests}")
    specs = with_clients(load_apps(apps, replicas, spread), clients)  # a bad file or --clients fails here, before
    #                                                                    any network is built
    chosen = front_end_choices(front_ends, specs, apps)  # and a bad --front-end
    spec = load_topology(topology, profile=profile, delays=delays)
    require_root("the deploy experiment")
    interrupt_on_signals()  # Ctrl-C or SIGTERM: the network of the run under way is torn down
    out.mkdir(parents=True, exist_ok=True)
    settings = (f"{replicas} replicas per service, " if replicas else "") + f"spread {'on' if spread else 'off'}, " \
        f"profile {profile}, delays {'on' if delays else 'off'}"
    shown = f"{' + '.join(Path(name).stem if name not in BUNDLED_APPS else name for name in apps)} ({settings})"
    progress(f"deploying {shown} on {spec.name} with {', '.join(algorithms)} "
             f"(peers {'/'.join('on' if p else 'off' for p in peers)}), each on a fresh network, "
             f"images at scale {image_scale:g}" + (" (real sizes)" if image_scale == 1 else ""))
    if requests:
        progress(f"then {requests} requests per device from one device per site to each app's front end: "
                 + "; ".join(f"{app}: {f.service}" + (f" ({f.reason})" if f.guessed else "")
                             for app, f in chosen.items()))
    csv_path, apps_path, png_path = out / "deploy.csv", out / "deploy-apps.csv", out / "deploy.png"
    sites_path = out / "deploy-sites.csv"
    runs, rows, sites, failed = [], [], [], []
    for p in peers:
        for algorithm in algorithms:
            try:
                run, app_runs, site_runs = measure_run(
                    spec, specs, algorithm, p, openflow_port=openflow_port, port_base=port_base, progress=progress,
                    replicas=replicas, spread=spread, profile=profile, image_scale=image_scale,
                    ready_timeout=ready_timeout, delays=delays, requests=requests, front_ends=chosen)
            except NotReady as exc:
                progress(f"  {exc}")
                failed.append(f"{algorithm} (peers {'on' if p else 'off'})")
                continue
            runs.append(run)
            rows += app_runs
            write_csv(runs, csv_path)  # after every run: a later run that fails keeps the ones before it
            write_app_csv(rows, apps_path)
            if requests:
                sites += site_runs
                write_site_csv(sites, sites_path)
    if runs:
        plot(runs, png_path, f"{shown} on {spec.name}, image scale {image_scale:g}")
    if failed:
        raise NotReady(f"not ready within {ready_timeout:g} s: {', '.join(failed)}"
                       + (f"; the other runs are in {csv_path} and {apps_path}" if runs else ""))
    return (csv_path, apps_path, *((sites_path,) if requests and runs else ()), png_path)
