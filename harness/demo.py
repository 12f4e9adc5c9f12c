"""`strata demo`: the main job end to end on the default edge network, with a summary of what was measured.

1. Launch edge-tiered (with its declared link delays unless `--delays off`) in Mininet on the constrained server profile (`edge-small`: 4 cores, 4 GiB of
   memory, 1 GiB of disk per edge server, at the image scale) with the placement and SDN daemons,
   the OCI registry, the orchestrator at the cloud site and a node agent on every edge server,
   mutual TLS between them (unless `--insecure`); every host pings every host, every gRPC listener
   refuses plaintext, and one agent's certificate cannot start a container on another node.
2. Deploy a real application (Google's online-boutique, its Kubernetes manifests) with two
   replicas of every service, spread over nodes (a hard topology spread, maxSkew 1), twice on the
   same empty nodes: first as kube-scheduler's default profile would place it (`kube-default`),
   measured and removed with its layers, then with Strata's layer-aware algorithm, which the rest
   of the demo uses. For both: bytes the registry sent (counted on its interface), bytes over
   the cloud site's uplinks, bytes stored on the servers' disks, the seconds until every
   service answers on its VIP, from the moment its images are in the registry, and the latency
   of requests from one device per site to the app's front end through its call graph (p50, p90,
   p99). The agents pull only the layers their node lacks, from the nearest holder.
3. From a device, every service answers on its VIP, and a request at the front end walks its whole
   call tree: every service calls its dependencies by name, through the SDN's service routes.
4. Scale the front end out; new connections spread over its replicas.
5. The service mesh: a second version of a service (its canary, deployed with the app) gets 10%
   of new connections through a policy the switches enforce; the switches' counters give the
   same split; then the canary is promoted to all new connections.
6. NFV: a firewall and a monitor, onboarded as descriptors and instantiated by the VNF manager
   as containers (placed layer-aware by the orchestrator), chained in front of the front end: the
   firewall blocks a banned device, every other request passes both VNFs both ways and the
   monitor counts each connection; the firewall's process is killed and its node restarts it, a
   heal replaces the monitor's container and the chain follows it.
7. Faults: a container's process is killed (its node restarts it), and a link on the path from a
   far device to the front end is cut (the SDN reroutes); the front end answers throughout.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from strata.v1 import agent_pb2, agent_pb2_grpc, mano_pb2, mano_pb2_grpc, mesh_pb2, mesh_pb2_grpc, sdn_pb2, sdn_pb2_grpc
from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc

from api.app import AppSpec
from component_base.pki import Identity
from api.front_end import call_tree, front_end
from client.manifests import load_manifest
from api.app_messages import service_message
from images import IMAGE_SCALE
from programs.service.program import tree_services
from topologies.catalog import load_topology

from .cleanup import remove_run_folder
from .daemons import poll
from .deploy_experiment import stored_on_disk, uplink_interfaces, uplink_sent_bytes, with_settings
from .request_latency import LatencySummary, front_end_address, measure_request_latency, sampled_devices, summarize
from .signals import interrupt_on_signals
from .stack import Stack

APP_FILE = Path(__file__).resolve().parents[1] / "examples" / "apps" / "online-boutique-kubernetes-manifests.yaml"
APP = "boutique"
CANARY = "currencyservice"  # the service a second version of is deployed with the app
CANARY_SHARE = 10           # percent of new connections the canary gets
CANARY_CONNECTIONS = 400     # 5 points is 3.3 sigma of a 10% binomial at 400 (1 run in 1,000 off)
PROFILE = "edge-small"      # the paper's regime: small edge servers the apps do not all fit on
REPLICAS = 2                # of every service, spread over nodes
BASELINE = "kube-default"   # kube-scheduler's default profile, deployed first for comparison
READY_SECONDS = 180
REQUESTS = 50               # per device, one device per site: the request stream to the front end, per plan
ANSWERED_SHARE = 0.99       # of those requests, at least this share answered by the whole call tree


def with_canary(app: AppSpec, service: str) -> AppSpec:
    """The app with `service` as version v1 and a v2 of it beside (same image, one replica)."""
    v1 = dataclasses.replace(app.service(service), mesh_service=service, version="v1")
    v2 = dataclasses.replace(v1, name=f"{service}-v2", replicas=1, version="v2")
    services = tuple(v1 if s.name == service else s for s in app.services) + (v2,)
    return dataclasses.replace(app, services=services)


@dataclass
class Check:
    what: str
    ok: bool
    detail: str


@dataclass
class DemoReport:
    checks: list[Check] = field(default_factory=list)

    def add(self, what: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(what, ok, detail))
        print(f"  [{'ok' if ok else 'FAIL'}] {what}: {detail}", flush=True)
        return ok

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def get_json(host, url: str, timeout: float = 5) -> dict | None:
    try:
        return json.loads(host.cmd(f"curl -s --max-time {timeout} {url}").strip())
    except ValueError:
        return None


def print_tree(tree: dict, depth: int = 1) -> None:
    status = "ok" if tree.get("ok") else (tree.get("skipped") or tree.get("error") or "failed")
    where = f"{tree.get('instance', '')} on {tree.get('node', '')}" if tree.get("instance") else ""
    print(f"{'    ' * depth}{tree.get('service', '?'):<24} {where:<36} {status}")
    for call in tree.get("calls", []):
        print_tree(call, depth + 1)


def run_demo(*, delays: bool = True, tls: bool = True) -> int:
    """The demo on edge-tiered with its declared link delays (`delays` False: every delay 0), with
    mutual TLS between the components (`tls` False: plaintext)."""
    spec = load_topology("edge-tiered", profile=PROFILE, delays=delays)
    report = DemoReport()
    print(f"strata demo: {spec.name} on the {PROFILE} server profile, {len(spec.switches)} switches, "
          f"{len(spec.hosts)} hosts, delays {'on' if delays else 'off'}, "
          f"{'mutual TLS' if tls else 'plaintext gRPC'} between the components", flush=True)
    interrupt_on_signals()
    with Stack(spec, images=[], tls=tls, supervise=True) as stack:
        net = stack.network.net
        devices = [h.name for h in spec.hosts_with_role("device")]
        with stack.channel("orchestrator") as och, stack.channel("sdn") as sch:
            orchestrator = orchestrator_pb2_grpc.OrchestratorServiceStub(och)
            sdn = sdn_pb2_grpc.SdnServiceStub(sch)

            print("1. connectivity", flush=True)
            loss = stack.network.ping_all(timeout=2)
            report.add("every host reaches every host", loss == 0, f"{loss:g}% dropped")
            nodes = poll(lambda: (lambda n: n if all(x.ready for x in n) and len(n) == len(stack.agents)
                                        else None)(orchestrator.ListNodes(pb.ListNodesRequest(), timeout=10).nodes), 30)
            report.add("every node agent registered with the orchestrator", bool(nodes),
                       f"{len(nodes or [])} edge servers heartbeating")
            if tls:
                _mutual_tls(stack, report)

            print(f"2. deploy online-boutique ({APP_FILE.name}), {REPLICAS} replicas of every service spread "
                  f"over nodes: {BASELINE} first, then strata", flush=True)
            app = with_canary(with_settings(load_manifest(APP_FILE, name=APP, warn=lambda _: None), REPLICAS,
                                            spread=True), CANARY)
            group = {s.name: s.group for s in app.services}  # a version's name -> its service's
            uplinks = uplink_interfaces(stack)
            baseline, _ = _measured_deploy(stack, orchestrator, app, f"{APP}-kube", BASELINE, uplinks)
            report.add(f"{BASELINE}'s plan deployed, measured and removed with its layers", baseline is not None,
                       baseline.line() if baseline else f"not ready after {READY_SECONDS} s")
            ours, d = _measured_deploy(stack, orchestrator, app, APP, "strata", uplinks, remove=False)
            if ours is None:
                report.add("the app runs", False, f"not ready after {READY_SECONDS} s (see strata app get)")
                return _summary(report)
            whole = sum(sum(status_layer_sizes(stack, i).values()) for i in d.instances)
            report.add("every container of the app runs where placement put it",
                       all(i.phase == pb.INSTANCE_PHASE_RUNNING for i in d.instances),
                       f"{len(d.services)} services, {len(d.instances)} containers on "
                       f"{len({i.node for i in d.instances})} server(s), ready in {ours.ready_seconds:.1f} s")
            report.add("layers pulled once per server (counted on the registry's interface)", ours.sent < whole,
                       f"{ours.sent / 1e6:.2f} MB sent by the registry vs {whole / 1e6:.2f} MB for every container's "
                       f"image whole ({100 * (1 - ours.sent / whole):.0f}% saved; sizes x{IMAGE_SCALE:g})")
            if baseline is not None:
                _print_comparison(baseline, ours)
                report.add(f"layer-aware placement stores no more than {BASELINE}'s under the same spread",
                           ours.stored <= baseline.stored,
                           f"{ours.stored / 1e6:.2f} MB against {baseline.stored / 1e6:.2f} MB on the servers' disks "
                           f"({_ratio(ours.stored, baseline.stored)}); ready in {ours.ready_seconds:.1f} s against "
                           f"{baseline.ready_seconds:.1f} s")
            _latency_check(report, [f for f in (baseline, ours) if f is not None], front_end(app).service)

            print("3. services on their VIPs, and the call graph", flush=True)
            answered = [a.service for a in d.addresses if group.get((get_json(
                net.get(devices[0]), f"http://{a.vip}:{a.port}/") or {}).get("service")) == group[a.service]]
            report.add("every service answers on its VIP from a device", len(answered) == len(d.addresses),
                       f"{len(answered)}/{len(d.addresses)} services (VIPs from {stack.service_range})")
            front = front_end(app).service
            front_vip = next(a for a in d.addresses if group[a.service] == front)
            tree = get_json(net.get(devices[-1]), f"http://{front_vip.vip}:{front_vip.port}/call", timeout=15) or {}
            if tree:
                print_tree(tree)
            covered = {group.get(name) for name in tree_services(tree)} if tree else set()
            services = {group[name] for name in call_tree(app, front)}
            report.add(f"a request at the front end ({front}) walks its whole call tree",
                       bool(tree.get("ok")) and covered == services,
                       f"{len(covered)}/{len(services)} services answered, every call through a VIP")

            print("4. scale out", flush=True)
            web = "frontend"
            orchestrator.Scale(pb.ScaleRequest(application=APP, service=web, replicas=3), timeout=120)
            d = poll(lambda: (lambda d: d if d.ready else None)(
                orchestrator.GetDeployment(pb.GetDeploymentRequest(application=APP), timeout=10)), 120)
            vip = next(a for a in d.addresses if a.service == web)
            seen = {(get_json(net.get(devices[1]), f"http://{vip.vip}:{vip.port}/") or {}).get("instance")
                    for _ in range(20)}
            report.add(f"{web} scaled to 3: new connections spread over the replicas", len(seen - {None}) >= 2,
                       f"20 requests answered by {len(seen - {None})} replicas; the VIP has {vip.endpoints} endpoints")

            print(f"5. service mesh: a canary of {CANARY} ({CANARY_SHARE}% of new connections)", flush=True)
            _canary(stack, report, d, devices[2])

            print("6. NFV: a firewall and a monitor chained in front of the front end", flush=True)
            _vnf_chain(stack, report, d, devices)

            print("7. network policies, and pods kept off the control plane", flush=True)
            _network_policy(stack, report, orchestrator, devices[0], front_vip)

            print("8. faults", flush=True)
            victim = next(i for i in d.instances if i.service == "productcatalogservice")
            agent = agent_pb2_grpc.NodeAgentStub(stack.agent_channel(victim.node))
            pid = agent.GetContainer(agent_pb2.GetContainerRequest(name=victim.name), timeout=10).pid
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            healed = poll(lambda: (lambda t: t if t and t.get("ok") else None)(
                get_json(net.get(devices[0]), f"http://{front_vip.vip}:{front_vip.port}/call", timeout=5)), 30)
            # With replicas the call graph may answer through another one before the restart: wait for it.
            restarts = poll(lambda: agent.GetContainer(agent_pb2.GetContainerRequest(name=victim.name),
                                                       timeout=10).restarts, 30) or 0
            report.add("a killed container is restarted by its node", bool(healed) and restarts >= 1,
                       f"{victim.name} on {victim.node}: whole call graph answering again "
                       f"{time.monotonic() - killed:.1f} s after the kill")
            replica = next(i for i in d.instances if i.service == web)
            far = next(dv for dv in devices if spec.host(dv).switch != spec.host(replica.node).switch)
            path = sdn.ComputePath(sdn_pb2.ComputePathRequest(src=far, dst=f"{replica.node}/{replica.name}"),
                                   timeout=10)
            a, b = path.hops[0].switch, path.hops[1].switch
            net.configLinkStatus(a, b, "down")
            cut = time.monotonic()
            back = poll(lambda: get_json(net.get(far), f"http://{vip.vip}:{vip.port}/", timeout=0.5), 10)
            report.add(f"the front end answers a far device after cutting {a}-{b}", bool(back),
                       f"{far} served {time.monotonic() - cut:.2f} s after the cut")
            net.configLinkStatus(a, b, "up")
            _supervised_agent(stack, report, replica.node, devices[0], front_vip)
            flows = sdn.ListFlows(sdn_pb2.ListFlowsRequest(), timeout=30)
            report.add("service rules read back from the switches", bool(flows.switches),
                       f"{sum(len(s.flows) for s in flows.switches)} flows and "
                       f"{sum(len(s.groups) for s in flows.switches)} groups on {len(flows.switches)} switches")
    code = _summary(report)
    _remove_run_folder(stack.workdir, report.ok)
    return code


POLICY_SERVICE, POLICY_CALLERS, POLICY_OUTSIDER = "cartservice", ("frontend", "checkoutservice"), "adservice"


def _pod_connects(stack, instance, address: str, port: int) -> bool:
    """Whether a TCP connection opened from inside the instance's pod is made within 2 s."""
    import subprocess

    netns = Path("/var/run/netns") / f"{stack.netns_prefix}{instance.node}-{instance.name}"
    command = f"timeout 2 bash -c 'exec 3<>/dev/tcp/{address}/{port}' 2>/dev/null && echo open"
    result = subprocess.run(["nsenter", f"--net={netns}", "sh", "-c", command], capture_output=True, text=True,
                            timeout=15)
    return result.stdout.strip() == "open"


def _network_policy(stack, report: DemoReport, orchestrator, device: str, front) -> None:
    """An ingress NetworkPolicy lets only cartservice's callers in (docs/policy.md): the call graph
    still answers whole, another service's pod is refused; and no pod reaches a node agent."""
    from api.app_messages import policy_message
    from api.network_policy import parse_network_policy
    from .stack import AGENT_PORT

    d = orchestrator.GetDeployment(pb.GetDeploymentRequest(application=APP), timeout=10)
    port = next(s.target_port for s in d.services if s.name == POLICY_SERVICE)
    policy = parse_network_policy({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "cart-from-its-callers"},
        "spec": {"podSelector": {"matchLabels": {"strata.io/service": POLICY_SERVICE}}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                     {"key": "strata.io/service", "operator": "In", "values": list(POLICY_CALLERS)}]}}],
                     "ports": [{"protocol": "TCP", "port": port}]}]}}, APP)
    orchestrator.ApplyNetworkPolicies(pb.ApplyNetworkPoliciesRequest(application=APP, policies=[policy_message(policy)]),
                                      timeout=30)
    running = [i for i in d.instances if i.phase == pb.INSTANCE_PHASE_RUNNING]
    cart = next(i for i in running if i.service == POLICY_SERVICE)
    outsider = next(i for i in running if i.service == POLICY_OUTSIDER)
    caller = next(i for i in running if i.service == POLICY_CALLERS[0])
    refused = poll(lambda: not _pod_connects(stack, outsider, cart.ip, port), 30)
    allowed = _pod_connects(stack, caller, cart.ip, port)
    tree = get_json(stack.network.net.get(device), f"http://{front.vip}:{front.port}/call", timeout=15) or {}
    report.add(f"a network policy lets only {POLICY_SERVICE}'s callers in",
               bool(refused) and allowed and bool(tree.get("ok")),
               f"{POLICY_OUTSIDER}'s pod refused, {POLICY_CALLERS[0]}'s let in; the call graph "
               f"{'answered whole' if tree.get('ok') else 'FAILED'} through the switches' tables 10-11")
    agent_ip = stack.spec.host(outsider.node).ip
    reached = _pod_connects(stack, outsider, agent_ip, AGENT_PORT)
    report.add("a pod cannot open a connection to its node's agent", not reached,
               f"{outsider.name} to {agent_ip}:{AGENT_PORT}: {'OPEN' if reached else 'dropped by the switch (table 9)'}")


def _supervised_agent(stack, report: DemoReport, node: str, device: str, front) -> None:
    """A node agent killed (SIGKILL, as a crash): the supervisor starts it again, and the app answers
    throughout (its pods run on and stay in their routes: docs/orchestrator.md)."""
    old = stack.agents[node].pid
    stack.agents[node].kill()
    killed = time.monotonic()
    answered = failed = 0
    while time.monotonic() - killed < 6:
        if get_json(stack.network.net.get(device), f"http://{front.vip}:{front.port}/", timeout=2):
            answered += 1
        else:
            failed += 1
        time.sleep(0.2)
    back = poll(lambda: stack.agents[node].alive() and stack.agents[node].pid != old and stack.supervisor.watched[
        f"agent/{node}"].restarts >= 1, 30)
    report.add(f"a killed node agent ({node}) is started again by the supervisor, the app answering meanwhile",
               bool(back) and failed == 0,
               f"pid {old} -> {stack.agents[node].pid} after {time.monotonic() - killed:.1f} s; "
               f"{answered}/{answered + failed} requests answered while it was down")


def _mutual_tls(stack, report: DemoReport) -> None:
    """Every gRPC listener of the stack refuses plaintext, and one agent's certificate cannot start
    a container on another node (docs/security.md, "Certificates and who may call what")."""
    nodes = sorted(stack.agent_sockets)
    listeners = ([stack.addresses[name] for name in ("placement", "sdn")]
                 + [f"unix:{stack.socket(name)}" for name in ("orchestrator", "mesh", "mano")]
                 + [f"unix:{stack.agent_sockets[node]}" for node in nodes])
    refused = 0
    for address in listeners:
        with grpc.insecure_channel(address) as channel:
            try:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
            except grpc.RpcError as exc:
                refused += exc.code() == grpc.StatusCode.UNAVAILABLE
    report.add("every gRPC listener refuses plaintext (mutual TLS)", refused == len(listeners),
               f"{refused}/{len(listeners)} listeners (daemons and agents, TCP and Unix sockets)")
    caller, target = nodes[0], nodes[1]
    with stack.agent_channel(target, identity=Identity.agent(caller)) as channel:
        try:
            agent_pb2_grpc.NodeAgentStub(channel).RunContainer(
                agent_pb2.RunContainerRequest(name="intruder", image="nginx"), timeout=30)
            code, details = grpc.StatusCode.OK, "it was accepted"
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
    report.add(f"{caller}'s agent may not run a container on {target}", code == grpc.StatusCode.PERMISSION_DENIED,
               f"{code.name}: {details}")


@dataclass
class DeployFigures:
    algorithm: str
    sent: int            # bytes the registry sent, counted on its interface
    uplink: int          # bytes that left the cloud site's switch towards the edge
    stored: int          # layer bytes on the servers' disks once the app runs
    ready_seconds: float  # its images in the registry to every service answering on its VIP
    containers: int
    servers: int
    latency: LatencySummary = field(default_factory=LatencySummary)  # devices' requests to the front end, once ready

    def line(self) -> str:
        return (f"{self.containers} containers on {self.servers} servers, registry sent {self.sent / 1e6:.2f} MB, "
                f"uplink {self.uplink / 1e6:.2f} MB, stored {self.stored / 1e6:.2f} MB, ready in "
                f"{self.ready_seconds:.1f} s; requests {self.latency.words()}")


def _request_latency(stack, app: AppSpec, d) -> LatencySummary:
    """REQUESTS from one device per site to the app's front end, each through its whole call tree."""
    vip, port = front_end_address(app, d.addresses, front_end(app))
    return summarize(measure_request_latency(stack.network.net, sampled_devices(stack.spec), vip, port, REQUESTS))


def _latency_check(report: DemoReport, plans: list[DeployFigures], front: str) -> None:
    answered = all(f.latency.requests and f.latency.failed <= (1 - ANSWERED_SHARE) * f.latency.requests
                   for f in plans)
    report.add(f"requests from the devices to the front end ({front}) answered through its call tree", answered,
               "; ".join(f"{f.algorithm} {f.latency.words()}" for f in plans)
               + f" ({REQUESTS} per device, one device per site)")


def _ratio(ours: float, theirs: float) -> str:
    return f"{100 * (1 - ours / theirs):.0f}% less" if theirs and ours <= theirs else \
        f"{ours / theirs:.2f}x" if theirs else "n/a"


def _measured_deploy(stack, orchestrator, app: AppSpec, name: str, algorithm: str, uplinks: list[str], *,
                     remove: bool = True):
    """Deploy `app` as `name` with `algorithm` on the nodes as they are; measure it until every service
    answers on its VIP from a device. With `remove`, delete it afterwards and prune every node's
    layers, waiting until the orchestrator sees the nodes empty again, so the next deploy starts as
    this one did. (figures or None if not ready in time, the deployment)."""
    net = stack.network.net
    device = net.get(stack.spec.hosts_with_role("device")[0].name)
    group = {s.name: s.group for s in app.services}
    sent_before, uplink_before = stack.registry_sent_bytes(), uplink_sent_bytes(uplinks)
    stored_before = stored_on_disk(stack.workdir)
    orchestrator.Deploy(pb.DeployRequest(application=name, algorithm=algorithm,
                                         services=[service_message(s) for s in app.services]), timeout=300)
    # Timed from its images being in the registry: the first deploy also builds and pushes them,
    # the next finds them there; placement, pulls and starts are what the algorithms change.
    poll(lambda: (lambda images: images and all(i.phase == pb.IMAGE_PHASE_READY for i in images))(
        orchestrator.GetDeployment(pb.GetDeploymentRequest(application=name), timeout=10).images),
        READY_SECONDS, interval=0.1)
    started = time.monotonic()

    def answering():
        d = orchestrator.GetDeployment(pb.GetDeploymentRequest(application=name), timeout=10)
        if not d.ready:
            return None
        ok = all(group.get((get_json(device, f"http://{a.vip}:{a.port}/", timeout=2) or {}).get("service"))
                 == group[a.service] for a in d.addresses)
        return d if ok else None

    d = poll(answering, READY_SECONDS)
    figures = None
    if d is not None:
        figures = DeployFigures(algorithm, stack.registry_sent_bytes() - sent_before,
                                uplink_sent_bytes(uplinks) - uplink_before,
                                stored_on_disk(stack.workdir) - stored_before, time.monotonic() - started,
                                len(d.instances), len({i.node for i in d.instances}))
        figures.latency = _request_latency(stack, app, d)  # counted bytes first: the requests add none to them
    if remove:
        orchestrator.DeleteDeployment(pb.DeleteDeploymentRequest(application=name), timeout=60)
        agents = {node: agent_pb2_grpc.NodeAgentStub(stack.agent_channel(node)) for node in stack.agent_sockets}
        poll(lambda: all(not a.ListContainers(agent_pb2.ListContainersRequest(), timeout=10).containers
                         for a in agents.values()), 60)
        for agent in agents.values():
            agent.PruneLayers(agent_pb2.PruneLayersRequest(), timeout=60)
        poll(lambda: all(n.layers == 0 for n in orchestrator.ListNodes(pb.ListNodesRequest(), timeout=10).nodes), 30)
    return figures, d


def _print_comparison(baseline: DeployFigures, ours: DeployFigures) -> None:
    print(f"      {'placement':<14}{'registry sent':>15}{'uplink':>12}{'stored':>12}{'ready':>9}{'servers':>9}"
          f"{'requests p50 / p90 / p99 ms':>31}")
    for f in (baseline, ours):
        print(f"      {f.algorithm:<14}{f.sent / 1e6:>12.2f} MB{f.uplink / 1e6:>9.2f} MB{f.stored / 1e6:>9.2f} MB"
              f"{f.ready_seconds:>7.1f} s{f.servers:>9}"
              f"{f.latency.p50_ms:>12.1f} /{f.latency.p90_ms:>6.1f} /{f.latency.p99_ms:>6.1f} ms", flush=True)
    print(f"      strata against {BASELINE}: registry {_ratio(ours.sent, baseline.sent)}, uplink "
          f"{_ratio(ours.uplink, baseline.uplink)}, stored {_ratio(ours.stored, baseline.stored)}, ready "
          f"{ours.ready_seconds / baseline.ready_seconds:.2f}x the time, request p50 "
          f"{_times(ours.latency.p50_ms, baseline.latency.p50_ms)} (sizes x{IMAGE_SCALE:g})", flush=True)


def _times(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "n/a"


def _remove_run_folder(workdir: Path, ok: bool) -> None:
    """A passing demo leaves nothing behind; a failing one keeps its daemons' logs for a look."""
    if not remove_run_folder(workdir, keep=not ok):
        print(f"the daemons' logs are kept in {workdir}")


def _canary(stack, report: DemoReport, d, client: str) -> None:
    """Split the canary's service 90/10 in the switches, measure it from a device and from the
    switches' counters, then promote the canary."""
    name = f"{CANARY}.{APP}"
    vip = next(a for a in d.addresses if a.service == CANARY)
    host = stack.network.net.get(client)

    def versions(n: int) -> dict[str, int]:
        out = host.cmd(f"for i in $(seq {n}); do curl -s --max-time 3 http://{vip.vip}:{vip.port}/; echo; done")
        counts: dict[str, int] = {}
        for line in out.splitlines():
            if line.startswith("{"):
                service = json.loads(line).get("service", "?")
                counts[service] = counts.get(service, 0) + 1
        return counts

    def by_subset(mesh) -> dict[str, int]:
        stats = mesh.GetStats(mesh_pb2.GetStatsRequest(services=[name]), timeout=30).services[0]
        return {s.subset: s.counters.connections for s in stats.subsets}

    with stack.channel("mesh") as channel:
        mesh = mesh_pb2_grpc.MeshServiceStub(channel)
        mesh.SetPolicy(mesh_pb2.SetPolicyRequest(service=name, policy=mesh_pb2.TrafficPolicy(
            split={"v1": 100 - CANARY_SHARE, "v2": CANARY_SHARE})), timeout=30)
        before = by_subset(mesh)
        seen = versions(CANARY_CONNECTIONS)
        canary = seen.get(f"{CANARY}-v2", 0)
        share = 100 * canary / max(1, sum(seen.values()))
        report.add(f"the switches split {name} {100 - CANARY_SHARE}/{CANARY_SHARE} between its versions",
                   sum(seen.values()) == CANARY_CONNECTIONS and abs(share - CANARY_SHARE) <= 5,
                   f"{canary}/{sum(seen.values())} connections from {client} reached v2 ({share:.1f}%)")
        want = {"v1": seen.get(CANARY, 0), "v2": canary}
        counted = poll(lambda: (lambda now: now if now == want else None)(
            {k: v - before.get(k, 0) for k, v in by_subset(mesh).items()}), 5)
        stats = mesh.GetStats(mesh_pb2.GetStatsRequest(services=[name]), timeout=30).services[0]
        for s in stats.subsets:
            c = s.counters
            print(f"      subset {s.subset}: {c.connections} connections ({100 * c.share:.1f}%), "
                  f"{c.tx_bytes / 1e3:.1f} kB sent, {c.rx_bytes / 1e3:.1f} kB received", flush=True)
        report.add("the switches' counters count the same connections per version", counted is not None,
                   f"v1 {want['v1']}, v2 {want['v2']} (flow counters of the service's rules)")
        mesh.SetPolicy(mesh_pb2.SetPolicyRequest(service=name, policy=mesh_pb2.TrafficPolicy(
            split={"v2": 100})), timeout=30)
        promoted = versions(20)
        report.add("the canary promoted: every new connection to v2", promoted == {f"{CANARY}-v2": 20},
                   f"20 connections answered by {', '.join(f'{k} x{v}' for k, v in sorted(promoted.items()))}")
        mesh.DeletePolicy(mesh_pb2.DeletePolicyRequest(service=name), timeout=30)


VNF_DIR = Path(__file__).resolve().parents[1] / "examples" / "vnfd"


def _vnf_chain(stack, report: DemoReport, d, devices: list[str]) -> None:
    """Firewall -> monitor in front of the front end, through the VNF manager."""
    net = stack.network.net
    front = next(a for a in d.addresses if a.service == "frontend")
    banned, client = devices[3], devices[0]
    firewall = (f"name: demo-firewall\nkind: firewall\nimage: alpine:3.18\ncpu_millicores: 200\n"
                f"config: {{default: allow, rules: [{{name: banned, src_cidr: {net.get(banned).IP()}/32, "
                f"action: deny}}]}}\n")
    with stack.channel("mano") as channel:
        mano = mano_pb2_grpc.VnfManagerServiceStub(channel)
        mano.OnboardVnfd(mano_pb2.OnboardVnfdRequest(descriptor=firewall), timeout=10)
        mano.OnboardVnfd(mano_pb2.OnboardVnfdRequest(descriptor=(VNF_DIR / "monitor.yaml").read_text()), timeout=10)
        started = time.monotonic()
        served = next(i.node for i in d.instances if i.service == "frontend")  # near the front end
        ops = [mano.Instantiate(mano_pb2.InstantiateRequest(name=n, vnfd=v, near=served), timeout=30)
               for n, v in (("fw1", "demo-firewall"), ("mon1", "edge-monitor"))]
        done = [poll(lambda op=op: (lambda o: o if o.state not in ("PROCESSING", "FAILED_TEMP") else None)(
            mano.GetOperation(mano_pb2.GetOperationRequest(id=op.id), timeout=10)), 120) for op in ops]
        ok = all(o is not None and o.state == "COMPLETED" for o in done)
        pods = {i.name: i.containers for i in mano.ListInstances(mano_pb2.ListInstancesRequest(), timeout=30).instances}
        report.add("the VNF manager instantiated a firewall and a monitor as containers", ok,
                   f"{', '.join(f'{n} on {c[0].node}' for n, c in pods.items() if c)} (near {served}) in "
                   f"{time.monotonic() - started:.1f} s (ETSI lifecycle: {', '.join(o.state for o in done if o)})")
        if not ok:
            return
        mano.CreateChain(mano_pb2.CreateChainRequest(name="guard", dst_cidr=f"{front.vip}/32", dst_port=front.port,
                                                     instances=["fw1", "mon1"], symmetric=True), timeout=60)

        def monitor() -> dict:
            pod = mano.ListInstances(mano_pb2.ListInstancesRequest(), timeout=30)
            mon = next(i for i in pod.instances if i.name == "mon1").containers[0]
            agent = agent_pb2_grpc.NodeAgentStub(stack.agent_channel(mon.node))
            ip = agent.GetContainer(agent_pb2.GetContainerRequest(name=mon.name), timeout=10).ip
            return get_json(net.get(devices[1]), f"http://{ip}:9100/stats") or {}

        before = monitor()
        url = f"http://{front.vip}:{front.port}/"
        answered = sum(1 for _ in range(20) if (get_json(net.get(client), url) or {}).get("service") == "frontend")
        blocked = get_json(net.get(banned), url, timeout=2) is None
        time.sleep(0.5)
        after = monitor()
        flows = after.get("flows", {}).get("total", 0) - before.get("flows", {}).get("total", 0)
        back = after.get("directions", {}).get("reverse", {}).get("packets", 0) - \
            before.get("directions", {}).get("reverse", {}).get("packets", 0)
        report.add("the chain filters and counts traffic to the front end, both ways",
                   answered == 20 and blocked and flows == 20 and back > 0,
                   f"{client}: {answered}/20 answered through firewall and monitor (the monitor saw {flows} "
                   f"connections, {back} packets back); {banned}: {'blocked' if blocked else 'NOT blocked'}")
        # the firewall's process killed: its node restarts it, the chain works again
        fw = next(i for i in mano.ListInstances(mano_pb2.ListInstancesRequest()).instances if i.name == "fw1")
        pod = fw.containers[0]
        agent = agent_pb2_grpc.NodeAgentStub(stack.agent_channel(pod.node))
        os.kill(agent.GetContainer(agent_pb2.GetContainerRequest(name=pod.name), timeout=10).pid, signal.SIGKILL)
        killed = time.monotonic()
        back_up = poll(lambda: (get_json(net.get(client), url, timeout=1) or {}).get("service") == "frontend" or None, 30)
        report.add("a killed firewall process is restarted and the chain answers again", bool(back_up),
                   f"{time.monotonic() - killed:.1f} s after the kill")
        # a heal: the monitor's container replaced, the chain follows
        heal = mano.Heal(mano_pb2.HealRequest(name="mon1"), timeout=30)
        healed = poll(lambda: (lambda o: o if o.state != "PROCESSING" else None)(
            mano.GetOperation(mano_pb2.GetOperationRequest(id=heal.id), timeout=10)), 120)
        hops = poll(lambda: (lambda c: c if c.hops and pod_name(c.hops[1]) not in
                             {x.name for x in pods["mon1"]} else None)(
            mano.ListChains(mano_pb2.ListChainsRequest(), timeout=30).chains[0]), 15)
        works = (get_json(net.get(client), url) or {}).get("service") == "frontend"
        report.add("a heal replaces the monitor's container and the chain follows it",
                   bool(healed) and healed.state == "COMPLETED" and bool(hops) and works,
                   f"{healed.state if healed else 'no answer'}; now through {hops.hops[1] if hops else '?'}")
        mano.DeleteChain(mano_pb2.DeleteChainRequest(name="guard"), timeout=60)
        report.add("the chain removed: traffic flows directly again",
                   get_json(net.get(banned), url, timeout=3) is not None, f"{banned} answered without the firewall")


def pod_name(hop: str) -> str:
    return hop.split("|")[0].split("/", 1)[-1]


def status_layer_sizes(stack, instance) -> dict[str, int]:
    """The instance's image layers (digest -> bytes), from its node's agent."""
    agent = agent_pb2_grpc.NodeAgentStub(stack.agent_channel(instance.node))
    status = agent.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    held = {l.digest: l.size_bytes for l in status.layers}
    container = next(c for c in status.containers if c.name == instance.name)
    return {d: held[d] for d in container.layers}


def _summary(report: DemoReport) -> int:
    print()
    print("summary")
    width = max(len(c.what) for c in report.checks)
    for c in report.checks:
        print(f"  {'ok  ' if c.ok else 'FAIL'} {c.what:<{width}}  {c.detail}")
    print("everything was shut down; " + ("all checks passed" if report.ok else "SOME CHECKS FAILED"))
    return 0 if report.ok else 1
