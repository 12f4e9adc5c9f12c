"""`kube-default`: kube-scheduler's default profile, pod by pod in queue order: filter, score, pick.

Each container is a pod of one container, taken in the problem's order (kube's queue: arrival
order). Nodes where it does not fit (CPU, memory, bandwidth, or storage of the layers it would
add; NodeResourcesFit's filter) are filtered out. Every remaining node gets, from each score plugin of
the default profile, a score normalised to 0..100, and the weighted sum of those is its score
(pkg/scheduler/framework/runtime/framework.go, RunScorePlugins). The container goes to a node of
the highest score (NodeResourcesFit and BalancedAllocation score CPU and memory, their default
resources; bandwidth is a filter only), chosen at random among equals (seeded; kube-scheduler's selectHost samples
uniformly among them). What it places counts for the containers after it, as the scheduler
cache assumes a bound pod at once: its resources and its replica. Images do not: the scheduler
learns them from the node's status (node.status.images, which the kubelet reports after
pulling), so within one run a node has the images it held before. Every formula and the
Kubernetes file it comes from are in docs/placement.md.

Spread and anti-affinity rules (Problem.rules) act as a pod's own terms would: hard spreads as
topologySpreadConstraints with DoNotSchedule and max_per_server as required podAntiAffinity on
the hostname are filters (state.Loads.fits: count + 1 - fewest <= maxSkew, and fewer than
max_per_server replicas on the node); soft spreads are ScheduleAnyway constraints, which replace
the system defaults in PodTopologySpread's score for a service that declares any spread (a
service with only hard spreads gets no PodTopologySpread score, as the plugin skips it);
prefer_apart is a preferred podAntiAffinity term on the hostname, scored by InterPodAffinity.
Replicas already running (ServiceRule.placed) count as pods on their nodes.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable

from .image_locality import MAX_NODE_SCORE, image_locality_score
from .diagnose import no_placement
from .model import Problem
from .result import PlacementResult, finished
from .state import Instance, Loads

# pkg/scheduler/apis/config/v1/default_plugins.go: the default profile's score plugins, weights.
WEIGHTS = {
    "TaintToleration": 3,
    "NodeAffinity": 2,
    "NodeResourcesFit": 1,
    "PodTopologySpread": 2,
    "InterPodAffinity": 2,
    "NodeResourcesBalancedAllocation": 1,
    "ImageLocality": 1,
}
# podtopologyspread/plugin.go, systemDefaultConstraints (both ScheduleAnyway: scored, not filtered).
HOSTNAME_MAX_SKEW = 3
ZONE_MAX_SKEW = 5
# The weight of a prefer_apart service's preferred podAntiAffinity term (1..100 in Kubernetes); with
# one term per pod InterPodAffinity's min-max normalisation divides it out, so its value does not
# change a score.
PREFERRED_WEIGHT = 100


def least_allocated(requested: list[float], capacity: list[float]) -> int:
    """NodeResourcesFit's LeastAllocated strategy, every resource of weight 1: the mean over the
    resources of floor((capacity - requested) * 100 / capacity), floored; 0 for an overfull one,
    resources of capacity 0 left out."""
    total, weights = 0, 0
    for req, cap in zip(requested, capacity):
        if cap <= 0:
            continue
        total += 0 if req > cap else math.floor((cap - req) * MAX_NODE_SCORE / cap)
        weights += 1
    return total // weights if weights else 0


def balanced_allocation(requested: list[float], capacity: list[float]) -> int:
    """NodeResourcesBalancedAllocation: int((1 - std) * 100) over the fractions requested/capacity
    (each at most 1, resources of capacity 0 left out); with two resources std = |f1 - f2| / 2."""
    fractions = [min(req / cap, 1.0) for req, cap in zip(requested, capacity) if cap > 0]
    if len(fractions) == 2:
        std = abs(fractions[0] - fractions[1]) / 2
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    else:
        std = 0.0
    return int((1 - std) * MAX_NODE_SCORE)


def scaled_image_score(size: float, nodes_having: int, total_nodes: int) -> float:
    """ImageLocality's scaledImageScore: the image's size times the share of nodes holding it."""
    return size * nodes_having / total_nodes


def normalized_image_name(name: str) -> str:
    """ImageLocality's normalizedImageName: a name without a tag means its `:latest`."""
    return name if name.rfind(":") > name.rfind("/") else name + ":latest"


def spread_score(on_node: int, in_zone: int | None, hostname_weight: float, zone_weight: float) -> int:
    """PodTopologySpread's raw score of a node under the system default constraints: per
    constraint, matching pods in the node's domain * log(domains + 2) + (maxSkew - 1), summed and
    rounded; the zone term only for a node with a zone (`in_zone` None without)."""
    score = on_node * hostname_weight + (HOSTNAME_MAX_SKEW - 1)
    if in_zone is not None:
        score += in_zone * zone_weight + (ZONE_MAX_SKEW - 1)
    return math.floor(score + 0.5)  # Go's math.Round on a non-negative number


def normalize_spread(scores: list[int]) -> list[int]:
    """PodTopologySpread's NormalizeScore: fewer matching pods is better, the fewest gets 100:
    100 * (max + min - s) / max, integer division."""
    low, high = min(scores), max(scores)
    if high == 0:
        return [MAX_NODE_SCORE] * len(scores)
    return [MAX_NODE_SCORE * (high + low - s) // high for s in scores]


def constraint_score(count: int, max_skew: int, weight: float) -> float:
    """PodTopologySpread's scoreForCount: one constraint's part of a node's raw score."""
    return count * weight + (max_skew - 1)


def normalize_explicit_spread(scores: list[int | None]) -> list[int]:
    """PodTopologySpread's NormalizeScore with the pod's own constraints: a node missing a
    constraint's topology (None) is ignored and gets 0; the others as normalize_spread, with max
    and min over the nodes not ignored."""
    kept = [s for s in scores if s is not None]
    if not kept:
        return [0] * len(scores)
    normal = iter(normalize_spread(kept))
    return [0 if s is None else next(normal) for s in scores]


def normalize_affinity(scores: list[int]) -> list[int]:
    """InterPodAffinity's NormalizeScore: int(100 * (s - min) / (max - min)), 0 everywhere when
    all are equal."""
    low, high = min(scores), max(scores)
    if high == low:
        return [0] * len(scores)
    return [int(MAX_NODE_SCORE * ((s - low) / (high - low))) for s in scores]


def default_normalize(scores: list[int], *, reverse: bool) -> list[int]:
    """helper.DefaultNormalizeScore: scale to 0..100 by the highest score, reversed if asked."""
    high = max(scores)
    if high == 0:
        return [MAX_NODE_SCORE if reverse else 0] * len(scores)
    scaled = [MAX_NODE_SCORE * s // high for s in scores]
    return [MAX_NODE_SCORE - s for s in scaled] if reverse else scaled


def weighted_total(plugin_scores: dict[str, int]) -> int:
    """A node's score: the sum over plugins of weight * normalised score."""
    return sum(WEIGHTS[plugin] * score for plugin, score in plugin_scores.items())


class Cluster:
    """The nodes as kube-scheduler's snapshot sees them while containers are bound one by one."""

    def __init__(self, problem: Problem):
        self.inst = Instance(problem)
        self.loads = Loads(self.inst)
        self.image_names = [normalized_image_name(c.image_name) for c in problem.containers]
        self.service = [c.service_name for c in problem.containers]
        self.zone = [s.zone for s in problem.servers]
        # A node has an image when it holds every layer of it (its reported node.status.images);
        # binding a pod does not add the image (cache.go addNodeImageStates reads node status only).
        layers_of = {}
        for c, name in zip(problem.containers, self.image_names):
            layers_of.setdefault(name, set(c.layers))
        self.images = [frozenset(name for name, layers in layers_of.items() if layers <= s.held)
                       for s in problem.servers]
        self.pods: list[Counter] = [Counter() for _ in problem.servers]  # node -> service -> replicas there
        for rule in problem.rules:  # replicas already running are pods on their nodes
            for n, server in enumerate(problem.servers):
                self.pods[n][rule.name] += rule.placed_on.get(server.name, 0)
        self.rule = {rule.name: rule for rule in problem.rules}

    def feasible(self, i: int) -> list[int]:
        """The nodes passing the filters: NodeResourcesFit on CPU, memory, bandwidth and storage;
        PodTopologySpread's DoNotSchedule constraints and InterPodAffinity's required
        anti-affinity (the service's hard rules, state.Loads.allowed)."""
        return [n for n in range(self.inst.n_servers) if self.loads.fits(i, n)]

    def scores(self, i: int, nodes: list[int]) -> list[dict[str, int]]:
        """Each plugin's normalised score (0..100) of each node in `nodes` for container i."""
        inst, loads = self.inst, self.loads
        # Scored resources: CPU and memory, NodeResourcesFit's and BalancedAllocation's defaults
        # (bandwidth is filtered only); a server without memory capacity has allocatable 0 for
        # it, which both plugins leave out.
        requested = [[loads.cpu[n] + inst.d[i], loads.mem[n] + inst.m[i]] for n in nodes]
        capacity = [[inst.P[n], inst.M[n] if math.isfinite(inst.M[n]) else 0.0] for n in nodes]
        fit = [least_allocated(r, c) for r, c in zip(requested, capacity)]
        balanced = [balanced_allocation(r, c) for r, c in zip(requested, capacity)]

        name, total_nodes = self.image_names[i], inst.n_servers
        having = sum(name in images for images in self.images)
        locality = [image_locality_score(scaled_image_score(inst.image[i], having, total_nodes)
                                         if name in self.images[n] else 0.0) for n in nodes]

        service = self.service[i]
        rule = self.rule.get(service)
        if rule is not None and rule.spread:
            spread = self.explicit_spread_scores(service, [s for s in rule.spread if not s.hard], nodes)
        else:
            spread = self.default_spread_scores(service, nodes)
        # A prefer_apart service's preferred anti-affinity term, and its replicas' same term,
        # each count -weight on a node per replica there (processExistingPod, both directions).
        # PreScore skips the plugin while no replica runs anywhere (no key in the scores then).
        pod_affinity = None
        if rule is not None and rule.prefer_apart and any(pods[service] for pods in self.pods):
            pod_affinity = normalize_affinity([-2 * PREFERRED_WEIGHT * self.pods[n][service] for n in nodes])

        # The problem has no taints, tolerations or node affinity: TaintToleration counts 0
        # intolerable taints everywhere, which its reversed normalisation makes 100; NodeAffinity's
        # 0 stays 0.
        taint = default_normalize([0] * len(nodes), reverse=True)
        affinity = default_normalize([0] * len(nodes), reverse=False)
        return [{"NodeResourcesFit": fit[k], "NodeResourcesBalancedAllocation": balanced[k],
                 "ImageLocality": locality[k], "PodTopologySpread": spread[k],
                 **({"InterPodAffinity": pod_affinity[k]} if pod_affinity else {}),
                 "TaintToleration": taint[k], "NodeAffinity": affinity[k]}
                for k in range(len(nodes))]

    def default_spread_scores(self, service: str, nodes: list[int]) -> list[int]:
        """PodTopologySpread under the system default constraints (a pod that declares none)."""
        hostname_weight = math.log(len(nodes) + 2)
        domains = {self.zone[n] for n in nodes}  # "" counts as a value here, as kube's PreScore does
        zone_weight = math.log(len(domains) + 2)
        in_zone = Counter()
        for m, pods in enumerate(self.pods):
            if self.zone[m] in domains:
                in_zone[self.zone[m]] += pods[service]
        return normalize_spread([
            spread_score(self.pods[n][service], in_zone[self.zone[n]] if self.zone[n] else None,
                         hostname_weight, zone_weight) for n in nodes])

    def explicit_spread_scores(self, service: str, soft: list, nodes: list[int]) -> list[int]:
        """PodTopologySpread with the pod's own constraints: only the ScheduleAnyway ones (`soft`)
        are scored, none means the plugin is skipped (0 everywhere). Every topology is required:
        a node without a zone is ignored when a constraint is on zones (initPreScoreState)."""
        if not soft:
            return [0] * len(nodes)
        needs_zone = any(s.topology == "zone" for s in soft)
        kept = [n for n in nodes if self.zone[n] or not needs_zone]
        zones = {self.zone[n] for n in kept}
        in_zone = Counter()
        for m, pods in enumerate(self.pods):  # every node having the zone, passing or not
            if self.zone[m] in zones:
                in_zone[self.zone[m]] += pods[service]
        weight = {"server": math.log(len(kept) + 2), "zone": math.log(len(zones) + 2)}
        raw = []
        for n in nodes:
            if n not in kept:
                raw.append(None)
                continue
            score = sum(constraint_score(self.pods[n][service] if s.topology == "server" else in_zone[self.zone[n]],
                                         s.max_skew, weight[s.topology]) for s in soft)
            raw.append(math.floor(score + 0.5))  # Go's math.Round on a non-negative number
        return normalize_explicit_spread(raw)

    def bind(self, i: int, n: int) -> None:
        self.loads.place(i, n)
        self.pods[n][self.service[i]] += 1


def solve_kube_default(problem: Problem, *, solver: str = "cbc", time_limit: float = 60.0, seed: int = 0,
                       clock: Callable[[], float] = time.monotonic) -> PlacementResult:
    del solver, time_limit
    start = clock()
    rng = random.Random(seed)
    cluster = Cluster(problem)
    inst = cluster.inst
    for i in range(inst.n_containers):  # kube's queue: arrival order
        nodes = cluster.feasible(i)
        if not nodes:
            return no_placement(problem, "kube-default",
                                f'no node passes the filters for container "{inst.container_names[i]}"',
                                seconds=clock() - start)
        totals = [weighted_total(scores) for scores in cluster.scores(i, nodes)]
        best = max(totals)
        cluster.bind(i, rng.choice([n for n, total in zip(nodes, totals) if total == best]))
    return finished(problem, "kube-default", inst.named(cluster.loads.where), status="feasible",
                    lower_bound=None, seconds=clock() - start)
