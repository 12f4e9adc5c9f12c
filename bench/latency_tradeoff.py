"""Latency trade-off benchmark: bytes stored against the mean delay from a service's declared clients, per latency weight.

On the default network (`edge-tiered` with its declared delays: devices 1 ms from their site, sites
2 ms from the aggregation switches, those 10 ms from the core; the servers' capacities as the
server profile gives them, edge-small by default as in the demo, each server's zone its site), the placement problem is built as the
orchestrator builds it for an app: Google's Online Boutique from its Kubernetes manifests, every
service with --replicas replicas, its images' layers from the catalogue at their real sizes (MiB,
the orchestrator's unit), the network section and the clients from the SDN's view of the
topology (controller/orchestrator/controllers/startup_network.py, client_sites.py). The front end
declares its clients (strata.io/clients) at one site, then at two sites weighted 3:1. Each is
placed by strata with latency weights from 0 (bytes alone) up, and by kube-default for reference;
the table shows the layers stored anew (eq. 9), the mean and largest one-way client delay, and
their ratios against the bytes-alone plan of the same problem, in this run. No emulation: these
are the model's figures (the request latency a device measures is in `strata experiment deploy`).

    .venv/bin/python bench/latency_tradeoff.py [--replicas 2] [--weights 0,1,3,10,30,100] [--profile edge-small]
                                               [--time-limit 20] [--png FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.orchestrator.controllers.client_sites import with_clients  # noqa: E402
from controller.orchestrator.controllers.service_rules import service_rule  # noqa: E402
from controller.orchestrator.controllers.startup_network import with_network  # noqa: E402
from controller.orchestrator.sources import SwitchGraph  # noqa: E402
from controller.placement.algorithms import run  # noqa: E402
from controller.placement.model import Container, Layer, Problem, Server  # noqa: E402
from harness.deploy_experiment import BUNDLED_APPS, load_app  # noqa: E402
from images.catalogue import app_images  # noqa: E402
from topologies.profiles import apply_profile  # noqa: E402
from topologies.tiered import edge_tiered  # noqa: E402

MIB = 2**20
FRONT_END = "frontend"
HOLDING = "site1"  # where the first tenant's copy runs
CLIENTS = (("site3", (("site3", 1.0),)), ("site3=3,site1", (("site1", 1.0), ("site3", 3.0))))


def switch_graph(spec) -> SwitchGraph:
    """The topology as the SDN's GetTopology reports it (every link up, nothing reserved)."""
    links = [(a, b, link.bandwidth_mbps, 0.0, True) for link in spec.links for a, b in ((link.a, link.b), (link.b, link.a))]
    delay = {(a, b): link.delay_ms for link in spec.links for a, b in ((link.a, link.b), (link.b, link.a))}
    return SwitchGraph(links, {h.name: h.switch for h in spec.hosts}, {h.name: h.access_mbps for h in spec.hosts},
                       delay, {h.name: h.access_delay_ms for h in spec.hosts}, {h.name: h.role for h in spec.hosts})


def app_problem(spec, app, holding: str) -> Problem:
    """The problem the orchestrator builds for the app's deploy (sizes in MiB) when the servers at
    site `holding` already hold the layers its images are built on (and nothing runs)."""
    images = app_images(app)
    sizes = {digest: size for image in images.values() for digest, size in image.layers}
    bases = {digest: sizes[digest] for image in images.values() for digest, _ in image.layers[:-1]}
    servers = tuple(Server(h.name, h.cpu_millicores,
                           h.storage_mib - (sum(bases.values()) if h.switch == holding else 0), h.bandwidth_mbps,
                           frozenset(bases) if h.switch == holding else frozenset(), h.switch, h.memory_mib)
                    for h in spec.hosts if h.role == "edge-server")
    containers, rules = [], []
    for service in app.services:
        layers = images[service.image].layers
        name = f"{app.name}/{service.name}"
        containers += [Container(f"{service.name}-{r}", service.cpu_millicores, service.bandwidth_mbps,
                                 tuple(d for d, _ in layers), service.image, name, service.memory_mib)
                       for r in range(service.replicas)]
        rule = service_rule(name, service, {})
        if rule is not None:
            rules.append(rule)
    return Problem(servers, tuple(Layer(d, s) for d, s in sizes.items()), tuple(containers), rules=tuple(rules))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--weights", default="0,1,3,10,30,100", help="latency weights, MiB per ms")
    parser.add_argument("--profile", default="edge-small", help="server profile (default: edge-small, as the demo's)")
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--png", metavar="FILE", help="also plot stored MiB and mean client delay against the weight")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]

    spec = apply_profile(edge_tiered(), args.profile)
    graph = switch_graph(spec)
    app = load_app(BUNDLED_APPS["online-boutique"], replicas=args.replicas, spread=True)
    base = with_network(app_problem(spec, app, HOLDING), graph, "registry", MIB)
    print(f"edge-tiered ({args.profile} profile), online-boutique x {args.replicas} replicas spread over nodes, "
          f"real image sizes (MiB), their base layers held at {HOLDING}; the front end's clients declared; ratios against "
          f"strata by bytes alone in the same problem")
    print(f"{'clients':<14} {'plan':<18} {'stored MiB':>10} {'mean ms':>8} {'max ms':>7}  "
          f"{'stored/bytes':>12} {'mean/bytes':>10}  {'front end on':<22} {'solve s':>7}")
    curves: dict[str, list[tuple[float, float, float]]] = {}  # clients -> (weight, stored MiB, mean ms)
    for label, clients in CLIENTS:
        problem = with_clients(base, graph, {f"{app.name}/{FRONT_END}": clients})
        plans = [(f"strata L={w:g}", "strata", w) for w in weights] + [("kube-default", "kube-default", 0.0)]
        first = None
        curves[label] = []
        for plan, algorithm, weight in plans:
            result = run(algorithm, problem, time_limit=args.time_limit, latency_weight=weight)
            if not result.solved:
                print(f"{label:<14} {plan:<18} {result.status}: {result.message}")
                return 1
            first = first or result
            if algorithm == "strata":
                curves[label].append((weight, result.objective, result.client_delay_ms))
            front = ", ".join(sorted(server for container, server in result.placement.items()
                                     if container.startswith(f"{FRONT_END}-")))
            print(f"{label:<14} {plan:<18} {result.objective:10.0f} {result.client_delay_ms:8.2f} "
                  f"{result.client_delay_max_ms:7.2f}  {result.objective / first.objective:12.2f} "
                  f"{result.client_delay_ms / first.client_delay_ms:10.2f}  {front:<22} {result.seconds:7.2f}")
    if args.png:
        plot(curves, args.png)
        print(f"wrote {args.png}")
    return 0


def plot(curves: dict[str, list[tuple[float, float, float]]], path: str) -> None:
    """Stored MiB and mean client delay against the latency weight, one line per clients' setting
    (weight 0 drawn at the left edge of the log axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, points in curves.items():
        low = min((w for w, _, _ in points if w > 0), default=1.0) / 3
        x = [w if w > 0 else low for w, _, _ in points]
        left.plot(x, [stored for _, stored, _ in points], "o-", drawstyle="steps-post", label=f"clients {label}")
        right.plot(x, [delay for _, _, delay in points], "o-", drawstyle="steps-post", label=f"clients {label}")
    for axis, title, unit in ((left, "layers stored anew", "MiB"), (right, "mean client delay, one way", "ms")):
        axis.set_xscale("log")
        axis.set_xlabel("latency weight L, MiB per ms (leftmost point: L = 0, bytes alone)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
