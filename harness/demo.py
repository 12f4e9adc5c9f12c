"""`strata demo`: the main job end to end on the default edge network, with a summary of what was measured.

1. Launch edge-tiered in Mininet with the placement and SDN daemons, the OCI registry and a node
   agent on every edge server; every host pings every host.
2. Placement (over gRPC, layer-sharing aware) places an application of real Docker Hub images on
   the edge servers: a web tier of two heavy nginx replicas (each needs more than half a server's
   CPU, so they land on two servers) beside other services.
3. Every container starts where it was placed: the agents pull only the layers their node lacks
   from the registry over the emulated network and run the containers with runc on the pod
   network. The bytes pulled are compared with what pulling every image whole would cost.
4. The SDN daemon publishes the two web containers on a VIP with weights 3:1; every device
   fetches a page through the VIP; 200 new connections show the split.
5. A link on the path from a device to the busier replica is cut; traffic must continue.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
from strata.v1 import common_pb2, placement_pb2, placement_pb2_grpc, sdn_pb2, sdn_pb2_grpc

from controller.placement.convert import result_from_response
from controller.placement.generators import dockerhub_images
from controller.placement.report import format_comparison
from dataplane.agent.node import endpoint_name
from dataplane.images import IMAGE_SCALE
from topologies.catalog import load_topology

from .signals import interrupt_on_signals
from .stack import Stack

VIP, VIP_PORT, HTTP_PORT = "10.0.100.1", 80, 80
WEIGHTS = (3, 1)
# The application: (service, image, replicas, CPU millicores and Mbit/s per replica)
APPLICATION = [("web", "nginx", 2, 7000, 300), ("cache", "redis", 2, 1500, 200), ("db", "postgres", 1, 2500, 300),
               ("api", "python", 2, 2000, 200), ("queue", "rabbitmq", 1, 1500, 200)]
CPU = {f"{service}-{k}": cpu for service, _, replicas, cpu, _ in APPLICATION for k in range(1, replicas + 1)}
IMAGES = {f"{service}-{k}": image for service, image, replicas, _, _ in APPLICATION for k in range(1, replicas + 1)}


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


def placement_request(spec) -> placement_pb2.SolveRequest:
    images = {im["name"]: im for im in dockerhub_images()}
    layers, containers = {}, []
    for service, image, replicas, cpu, bandwidth in APPLICATION:
        for digest, size in images[image]["layers"]:
            layers[digest] = size
        for k in range(1, replicas + 1):
            containers.append(placement_pb2.PlacementContainer(
                name=f"{service}-{k}", cpu=cpu, bandwidth=bandwidth, image=image,
                layers=[d for d, _ in images[image]["layers"]]))
    servers = [placement_pb2.PlacementServer(name=h.name, cpu=h.cpu_millicores, storage=h.storage_mib,
                                             bandwidth=h.bandwidth_mbps)
               for h in spec.hosts_with_role("edge-server")]
    return placement_pb2.SolveRequest(servers=servers, containers=containers, algorithm="strata",
                                      layers=[common_pb2.Layer(digest=d, size=s) for d, s in layers.items()],
                                      time_limit_seconds=30)


def print_comparison(placement, request: placement_pb2.SolveRequest) -> None:
    """Every algorithm on the same application, through the placement service."""
    results = []
    for info in placement.ListAlgorithms(placement_pb2.ListAlgorithmsRequest(), timeout=10).algorithms:
        trial = placement_pb2.SolveRequest()
        trial.CopyFrom(request)
        trial.algorithm, trial.time_limit_seconds = info.name, 10
        results.append(result_from_response(placement.Solve(trial, timeout=60)))
    print(format_comparison(results))


def curl(host, timeout: float = 3) -> str:
    """The name of the container that answered (its /etc/hostname, bound in by its agent)."""
    return host.cmd(f"curl -s --max-time {timeout} http://{VIP}/etc/hostname").strip()


def deploy(stack, placement: dict[str, str], images: dict[str, str]) -> list[tuple[str, str, str, int]]:
    """Runs every container on its server through the node agents: the containers of one node in
    turn, the nodes at once. Returns (container, node, pod IP, bytes its pull fetched) rows."""
    from concurrent.futures import ThreadPoolExecutor

    from strata.v1 import agent_pb2, agent_pb2_grpc

    by_node: dict[str, list[str]] = {}
    for container, node in sorted(placement.items()):
        by_node.setdefault(node, []).append(container)

    def run_node(node: str):
        with grpc.insecure_channel(f"unix:{stack.agent_sockets[node]}") as channel:
            agent = agent_pb2_grpc.NodeAgentStub(channel)
            out = []
            for container in by_node[node]:
                reply = agent.RunContainer(agent_pb2.RunContainerRequest(
                    name=container, image=images[container], cpu_millicores=CPU[container]), timeout=300)
                out.append((container, node, reply.container.ip, reply.pull.pulled_bytes))
            return out

    with ThreadPoolExecutor(max_workers=len(by_node)) as pool:
        return [row for rows in pool.map(run_node, by_node) for row in rows]


def run_demo() -> int:
    spec = load_topology("edge-tiered")
    report = DemoReport()
    print(f"strata demo: {spec.name}, {len(spec.switches)} switches, {len(spec.hosts)} hosts", flush=True)
    interrupt_on_signals()
    images = sorted({image for _, image, *_ in APPLICATION})
    with Stack(spec, images=images) as stack:
        net = stack.network.net
        with grpc.insecure_channel(stack.addresses["placement"]) as pch, \
                grpc.insecure_channel(stack.addresses["sdn"]) as sch:
            placement = placement_pb2_grpc.PlacementServiceStub(pch)
            sdn = sdn_pb2_grpc.SdnServiceStub(sch)

            print("1. connectivity", flush=True)
            loss = stack.network.ping_all(timeout=2)
            report.add("every host reaches every host", loss == 0, f"{loss:g}% dropped")

            print("2. placement", flush=True)
            request = placement_request(spec)
            answer = placement.Solve(request, timeout=90)
            web_hosts = sorted({answer.placement[f"web-{k}"] for k in (1, 2)}) if answer.placement else []
            stored = answer.objective
            size = {layer.digest: layer.size for layer in request.layers}
            no_sharing = sum(size[d] for c in request.containers for d in c.layers)
            print_comparison(placement, request)
            report.add("placement solved (strata, layer-sharing aware)",
                       answer.status in (common_pb2.SOLVE_STATUS_OPTIMAL, common_pb2.SOLVE_STATUS_FEASIBLE),
                       f"{len(answer.placement)} containers, {stored:.0f} MiB of layers stored "
                       f"vs {no_sharing:.0f} MiB without sharing; web on {', '.join(web_hosts)}")
            if len(web_hosts) != 2:
                report.add("web replicas on two servers", False, f"placed on {web_hosts}")
                return _summary(report)

            print("3. containers", flush=True)
            from dataplane.images.build import list_images

            image_bytes = {im.name: im.size_bytes for im in list_images()}
            started = time.monotonic()
            rows = deploy(stack, dict(answer.placement), IMAGES)
            pulled = sum(row[3] for row in rows)
            whole = sum(image_bytes[IMAGES[container]] for container, *_ in rows)
            pods = {container: (node, ip) for container, node, ip, _ in rows}
            report.add("every container runs where it was placed (runc, pod network)",
                       len(rows) == len(answer.placement),
                       f"{len(rows)} containers on {len({n for n, _ in pods.values()})} servers in "
                       f"{time.monotonic() - started:.1f} s")
            report.add("layers pulled once per server (measured)", pulled < whole,
                       f"{pulled / 1e6:.2f} MB pulled over the emulated network vs {whole / 1e6:.2f} MB "
                       f"for every image whole ({100 * (1 - pulled / whole):.0f}% saved; sizes x{IMAGE_SCALE:g})")

            print("4. service route", flush=True)
            weights = {f"web-{k}": w for k, w in zip((1, 2), WEIGHTS)}
            probe = net.get(spec.hosts_with_role("device")[0].name)
            for name in weights:  # readiness: each web container answers on its own pod address first
                deadline = time.monotonic() + 20
                while probe.cmd(f"curl -s --max-time 1 http://{pods[name][1]}/etc/hostname").strip() != name \
                        and time.monotonic() < deadline:
                    time.sleep(0.2)
            endpoints = {name: endpoint_name(pods[name][0], name) for name in weights}
            started = time.monotonic()
            sdn.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
                service="web", vip=VIP, protocol=common_pb2.PROTOCOL_TCP, port=VIP_PORT,
                endpoints=[common_pb2.Endpoint(host=endpoints[n], port=HTTP_PORT, weight=w)
                           for n, w in weights.items()]), timeout=30)
            install_ms = (time.monotonic() - started) * 1000
            devices = [h.name for h in spec.hosts_with_role("device")]
            answers = {d: curl(net.get(d)) for d in devices}
            report.add(f"VIP {VIP}:{VIP_PORT} answers every device", all(a in weights for a in answers.values()),
                       f"{sum(a in weights for a in answers.values())}/{len(devices)} devices; route to the web "
                       f"containers installed on every switch in {install_ms:.0f} ms")
            client = net.get(devices[0])
            out = client.cmd(f"for i in $(seq 200); do curl -s --max-time 3 http://{VIP}/etc/hostname; done")
            counts = Counter(line.strip() for line in out.splitlines() if line.strip())
            share = counts["web-1"] / 200
            expected = WEIGHTS[0] / sum(WEIGHTS)
            report.add("200 new connections split by the weights", abs(share - expected) <= 0.15,
                       f"{dict(counts)} ({100 * share:.0f}% vs {100 * expected:.0f}% expected)")

            print("5. link failure", flush=True)
            busy = endpoints["web-1"]
            busy_switch = spec.host(pods["web-1"][0]).switch
            far = next(d for d in devices if spec.host(d).switch != busy_switch)
            path = sdn.ComputePath(sdn_pb2.ComputePathRequest(src=far, dst=busy), timeout=10)
            a, b = path.hops[0].switch, path.hops[1].switch
            net.configLinkStatus(a, b, "down")
            cut = time.monotonic()
            while time.monotonic() - cut < 10 and curl(net.get(far), timeout=0.3) not in weights:
                pass
            recovered = time.monotonic() - cut
            after = {d: curl(net.get(d)) for d in devices}
            report.add(f"traffic continues after cutting {a}-{b}",
                       all(v in weights for v in after.values()) and recovered < 10,
                       f"{far} served again {recovered:.2f} s after the cut; "
                       f"{sum(v in weights for v in after.values())}/{len(devices)} devices answered")
            net.configLinkStatus(a, b, "up")
            flows = sdn.ListFlows(sdn_pb2.ListFlowsRequest(service="web"), timeout=30)
            report.add("service rules read back from the switches", bool(flows.switches),
                       f"{sum(len(s.flows) for s in flows.switches)} flows and "
                       f"{sum(len(s.groups) for s in flows.switches)} groups with the web cookie on "
                       f"{len(flows.switches)} switches")
    return _summary(report)


def _summary(report: DemoReport) -> int:
    print()
    print("summary")
    width = max(len(c.what) for c in report.checks)
    for c in report.checks:
        print(f"  {'ok  ' if c.ok else 'FAIL'} {c.what:<{width}}  {c.detail}")
    print("everything was shut down; " + ("all checks passed" if report.ok else "SOME CHECKS FAILED"))
    return 0 if report.ok else 1
