"""Every switch's rules assembled from the stages, with a cache of what the view has not changed.

The baseline of each stage, then each service route's, reserved path's and chain's own rules, and the
network policies'.
"""

from __future__ import annotations

from api.network_policy import ResolvedPolicies

from ..model import Chain, ReservedPath, ServiceRoute
from ..network import NetworkView
from . import classify, forwarding, gateway, isolation, load_balancing, policy, steering
from .paths import path_flows
from .ruleset import Flow, Group, Meter, RuleSet


def baseline_rules(view: NetworkView) -> tuple[list[Flow], list[Group]]:
    """What every switch holds whatever is installed: each stage's own entries and forwarding."""
    flows: list[Flow] = []
    for dpid in view.switches:
        for stage in (classify, gateway, isolation, load_balancing, steering, policy):
            flows += stage.switch_flows(view, dpid)
    forward_flows, groups = forwarding.forwarding_rules(view)
    return flows + forward_flows, groups


class RuleCache:
    """Rules computed for one view version, by what they were computed for."""

    def __init__(self):
        self.version = -1
        self.entries: dict = {}

    def get(self, view: NetworkView, key, compute):
        if view.version != self.version:
            self.entries.clear()
            self.version = view.version
        if key not in self.entries:
            self.entries[key] = compute()
        return self.entries[key]

    def retain(self, keys: set) -> None:
        self.entries = {k: v for k, v in self.entries.items() if k in keys}


def desired_rules(view: NetworkView, routes: list[ServiceRoute], paths: list[ReservedPath],
                  cache: RuleCache | None = None, chains: list[Chain] = (),
                  policies: ResolvedPolicies = ResolvedPolicies()) -> RuleSet:
    """Everything the switches should hold. With a cache, the baseline and each route's rules are
    reused while the view has not changed (they do not depend on one another)."""
    cache = cache if cache is not None else RuleCache()
    base_flows, base_groups = cache.get(view, "baseline", lambda: baseline_rules(view))
    flows: list[Flow] = list(base_flows)
    groups: list[Group] = list(base_groups)
    meters: list[Meter] = []
    for route in routes:
        f, g, m = cache.get(view, route, lambda route=route: load_balancing.service_rules(view, route))
        flows += f
        groups += g
        meters += m
    for path in paths:
        flows += path_flows(view, path)
    for chain in chains:
        f, g = steering.chain_rules(view, chain, routes)
        flows += f
        groups += g
    if not policies.empty:
        flows += cache.get(view, policies, lambda: policy.policy_flows(view, policies))
    cache.retain({"baseline", *routes, policies})  # forget removed and replaced routes and policies
    return RuleSet.of(flows, groups, meters)


def owner_rules(view: NetworkView, owner: ServiceRoute | ReservedPath | None, cache: RuleCache) -> RuleSet:
    """The rules of one route or path alone (none for None): what changes when it alone changes."""
    if owner is None:
        return RuleSet({}, {})
    if isinstance(owner, ServiceRoute):
        return RuleSet.of(*cache.get(view, owner, lambda: load_balancing.service_rules(view, owner)))
    return RuleSet.of(path_flows(view, owner))
