"""Start-up trade-off benchmark: bytes stored against the estimated time until the app is ready, per objective.

On the default network (`edge-tiered`: the registry on the core switch behind 100 Mbit/s, three
edge sites on 50 Mbit/s uplinks, six edge servers behind 20 Mbit/s access links, the servers'
capacities as the topology declares them, each server's zone its site, as the orchestrator
gives them), each problem is an app of services with replicas running real Docker Hub images at
their real sizes (MiB; drawn by pull count, as the dockerhub generator does; a service's
replicas run its image); with --spread, each service has a hard spread over servers (max skew
1), as `strata experiment deploy --spread on` gives it. Each is placed by

- strata by bytes alone (the problem without its network section),
- strata with startup_weight 0, the default: bytes first, their ties broken by the estimate,
- strata with startup_weight 0.5 and 1 (docs/placement.md, "Start-up-aware placement"),
- kube-default (kube-scheduler's default profile),

and for each placement the table shows the layers stored anew (eq. 9), the bytes pulled from the
registry and the estimated seconds until every container is ready (controller/placement/
startup.py, the agent's defaults and the measured start cost), with ratios against kube-default's
plan of the same problem, in this run; the last lines give the geometric mean of each ratio.
No emulation: these are the estimate's figures, not measurements.

    .venv/bin/python bench/startup_tradeoff.py [--seeds 5] [--services 8] [--replicas 3] [--spread] [--time-limit 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.placement.algorithms import run  # noqa: E402
from controller.placement.generators import dockerhub_images  # noqa: E402
from controller.placement.model import (Container, Layer, Problem, Server, ServiceRule,  # noqa: E402
                                        Spread, network_from_dict)
from controller.placement.startup import estimate  # noqa: E402
from topologies.tiered import edge_tiered  # noqa: E402

MIB = 2**20
# (label, algorithm, startup weight, the problem's network given): without the network strata
# places by bytes alone; with it, w = 0 keeps bytes first and breaks their ties by the estimate.
PLANS = (("strata, bytes alone", "strata", 0.0, False), ("strata w=0 (default)", "strata", 0.0, True),
         ("strata w=0.5", "strata", 0.5, True), ("strata w=1", "strata", 1.0, True),
         ("kube-default", "kube-default", 0.0, True))
CPU = (500, 1500)  # millicores per container: a few services per server
BANDWIDTH = (100, 300)  # Mbit/s per container (the servers' B_n is 2000-3000)


def network_section(spec) -> dict:
    """The problem's network section from a declared topology (sizes in MiB)."""
    hosts = {h.name: h for h in spec.hosts}
    registry = next(h for h in spec.hosts if h.role == "registry")
    return {"registry": {"switch": registry.switch, "mbps": registry.access_mbps},
            "servers": {h.name: {"switch": h.switch, "mbps": h.access_mbps}
                        for h in hosts.values() if h.role == "edge-server"},
            "links": [{"between": [link.a, link.b], "mbps": link.bandwidth_mbps} for link in spec.links],
            "size_bytes": MIB}


def app_problem(spec, services: int, replicas: int, seed: int, spread: bool = False) -> Problem:
    rng = random.Random(seed)
    servers = tuple(Server(h.name, h.cpu_millicores, h.storage_mib, h.bandwidth_mbps, zone=h.switch)
                    for h in spec.hosts if h.role == "edge-server")
    catalogue = list(dockerhub_images())
    images = []
    while len(images) < services:  # distinct images, by pull count
        image = rng.choices(catalogue, weights=[im["pulls"] for im in catalogue])[0]
        if image not in images:
            images.append(image)
    sizes, containers = {}, []
    for image in images:
        sizes.update(dict(image["layers"]))
        cpu, bandwidth = rng.randint(*CPU), rng.randint(*BANDWIDTH)
        for r in range(replicas):
            containers.append(Container(f"{image['name']}-{r}", cpu, bandwidth, tuple(d for d, _ in image["layers"]),
                                        image["name"], image["name"]))
    network = network_from_dict(network_section(spec), [s.name for s in servers])
    rules = tuple(ServiceRule(image["name"], spread=(Spread("server", 1),)) for image in images) if spread else ()
    return Problem(servers, tuple(Layer(d, s) for d, s in sizes.items()), tuple(containers),
                   {"seed": seed}, rules, network)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--services", type=int, default=8)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--spread", action="store_true", help="a hard spread over servers for every service")
    parser.add_argument("--time-limit", type=float, default=20.0)
    args = parser.parse_args()

    spec = edge_tiered()
    ratios: dict[str, dict[str, list[float]]] = {label: {"stored": [], "registry": [], "ready": []}
                                                 for label, *_ in PLANS}
    print(f"edge-tiered, {args.services} services x {args.replicas} replicas of real Docker Hub images "
          f"(MiB, real sizes){', spread over servers' if args.spread else ''}; ratios against kube-default "
          f"in the same problem")
    print(f"{'seed':>4}  {'plan':<20} {'stored MiB':>10} {'registry MiB':>12} {'ready s':>8}  "
          f"{'stored/kd':>9} {'registry/kd':>11} {'ready/kd':>8}  {'solve s':>7}")
    for seed in range(args.seeds):
        problem = app_problem(spec, args.services, args.replicas, seed, args.spread)
        rows = []
        for label, algorithm, weight, networked in PLANS:
            given = problem if networked else dataclasses.replace(problem, network=None)
            result = run(algorithm, given, time_limit=args.time_limit, seed=seed, startup_weight=weight)
            if not result.solved:
                print(f"{seed:>4}  {label:<20} {result.status}: {result.message}")
                return 1
            figures = estimate(problem, result.placement)
            rows.append((label, result.objective, figures.registry_bytes / MIB, figures.seconds, result.seconds))
        kd = rows[-1]
        for label, stored, registry, ready, seconds in rows:
            ratio = (stored / kd[1], registry / kd[2], ready / kd[3])
            for key, value in zip(("stored", "registry", "ready"), ratio):
                ratios[label][key].append(value)
            print(f"{seed:>4}  {label:<20} {stored:10.0f} {registry:12.0f} {ready:8.1f}  "
                  f"{ratio[0]:9.2f} {ratio[1]:11.2f} {ratio[2]:8.2f}  {seconds:7.2f}")
    print()
    print(f"geometric means over {args.seeds} problems")
    for label, *_ in PLANS:
        means = [math.exp(sum(map(math.log, ratios[label][key])) / len(ratios[label][key]))
                 for key in ("stored", "registry", "ready")]
        print(f"      {label:<20} stored/kd {means[0]:.2f}  registry/kd {means[1]:.2f}  ready/kd {means[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
