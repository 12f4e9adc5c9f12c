"""The OpenFlow rules the network should hold, computed from the view and the desired routes (pure).

Two tables on every switch:
  table 0 (classify): ARP to the controller (it answers, nothing is flooded); traffic to a
          service VIP sent to the service's SELECT group, whose weighted buckets rewrite the
          destination to one endpoint and output toward it; replies from an endpoint rewritten
          back to the VIP at the endpoint's switch; everything else on to table 1.
  table 1 (forward): per-destination-IP shortest-path forwarding (baseline), with installed
          bandwidth-reserved paths above it for their (src, dst) pair. Unmatched: dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from .network import NetworkView

TABLE_CLASSIFY, TABLE_FORWARD = 0, 1
PRIORITY_MISS, PRIORITY_ARP, PRIORITY_FORWARD, PRIORITY_PATH = 0, 100, 200, 250
PRIORITY_SERVICE, PRIORITY_REVERSE = 300, 310
ETH_IPV4, ETH_ARP = 0x0800, 0x0806
IP_PROTO = {"tcp": 6, "udp": 17}

COOKIE_BASELINE = 0x1
COOKIE_SERVICE_BASE = 0x5EC0_0000_0000_0000  # | service id
COOKIE_PATH_BASE = 0x9A70_0000_0000_0000     # | path id


def service_cookie(service_id: int) -> int:
    return COOKIE_SERVICE_BASE | service_id


def path_cookie(path_id: int) -> int:
    return COOKIE_PATH_BASE | path_id


def vip_mac(vip: str) -> str:
    """A locally administered MAC standing for the VIP in ARP replies and rewritten replies."""
    return "02:5e:" + ":".join(f"{int(b):02x}" for b in vip.split("."))


@dataclass(frozen=True)
class Endpoint:
    host: str
    ip: str
    port: int
    weight: int


@dataclass(frozen=True)
class ServiceRoute:
    service: str
    vip: str
    protocol: str            # "tcp" | "udp"
    port: int
    endpoints: tuple[Endpoint, ...]
    service_id: int          # stable; gives the cookie and the group id

    @property
    def cookie(self) -> int:
        return service_cookie(self.service_id)

    @property
    def group_id(self) -> int:
        return self.service_id


@dataclass(frozen=True)
class ReservedPath:
    path_id: int
    src: str                 # host names
    dst: str
    bandwidth_mbps: float
    hops: tuple[tuple[int, int, int], ...]  # (dpid, in_port, out_port)

    @property
    def cookie(self) -> int:
        return path_cookie(self.path_id)


Action = tuple  # ("output", port) | ("set_field", name, value) | ("group", id) | ("controller",)


@dataclass(frozen=True)
class Flow:
    dpid: int
    table: int
    priority: int
    match: tuple[tuple[str, object], ...]   # sorted (OXM field, value) pairs
    actions: tuple[Action, ...]             # apply-actions
    goto: int | None                        # goto-table, or None
    cookie: int

    @property
    def key(self) -> tuple:
        return (self.dpid, self.table, self.priority, self.match)


@dataclass(frozen=True)
class Group:
    dpid: int
    group_id: int
    buckets: tuple[tuple[int, tuple[Action, ...]], ...]  # (weight, actions)
    cookie: int  # the owner's cookie (groups have none in OpenFlow; kept for bookkeeping)

    @property
    def key(self) -> tuple:
        return (self.dpid, self.group_id)


def _match(**fields) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(fields.items()))


def baseline_flows(view: NetworkView) -> list[Flow]:
    flows = []
    for dpid in view.switches:
        flows.append(Flow(dpid, TABLE_CLASSIFY, PRIORITY_MISS, (), (), TABLE_FORWARD, COOKIE_BASELINE))
        flows.append(Flow(dpid, TABLE_CLASSIFY, PRIORITY_ARP, _match(eth_type=ETH_ARP), (("controller",),),
                          None, COOKIE_BASELINE))
    for host in view.hosts.values():
        toward = {**view.next_hops(host.dpid), host.dpid: host.port}
        for dpid, port in toward.items():
            flows.append(Flow(dpid, TABLE_FORWARD, PRIORITY_FORWARD, _match(eth_type=ETH_IPV4, ipv4_dst=host.ip),
                              (("output", port),), None, COOKIE_BASELINE))
    return flows


def service_rules(view: NetworkView, route: ServiceRoute) -> tuple[list[Flow], list[Group]]:
    proto = IP_PROTO[route.protocol]
    dst_field, src_field = f"{route.protocol}_dst", f"{route.protocol}_src"
    live = [ep for ep in route.endpoints if ep.weight > 0 and ep.host in view.hosts]
    reach = {ep.host: view.next_hops(view.hosts[ep.host].dpid) for ep in live}
    flows, groups = [], []
    for dpid in view.switches:
        buckets = []
        for ep in live:
            host = view.hosts[ep.host]
            port = host.port if host.dpid == dpid else reach[ep.host].get(dpid)
            if port is None:
                continue  # that endpoint is cut off from this switch
            actions = [("set_field", "eth_dst", host.mac), ("set_field", "ipv4_dst", ep.ip)]
            if ep.port != route.port:
                actions.append(("set_field", dst_field, ep.port))
            actions.append(("output", port))
            buckets.append((ep.weight, tuple(actions)))
        if not buckets:
            continue
        groups.append(Group(dpid, route.group_id, tuple(buckets), route.cookie))
        flows.append(Flow(dpid, TABLE_CLASSIFY, PRIORITY_SERVICE,
                          _match(eth_type=ETH_IPV4, ipv4_dst=route.vip, ip_proto=proto, **{dst_field: route.port}),
                          (("group", route.group_id),), None, route.cookie))
    for ep in route.endpoints:  # replies go back as the VIP, whatever the weight now
        host = view.hosts.get(ep.host)
        if host is None:
            continue
        actions = [("set_field", "ipv4_src", route.vip), ("set_field", "eth_src", vip_mac(route.vip))]
        if ep.port != route.port:
            actions.append(("set_field", src_field, route.port))
        flows.append(Flow(host.dpid, TABLE_CLASSIFY, PRIORITY_REVERSE,
                          _match(in_port=host.port, eth_type=ETH_IPV4, ipv4_src=ep.ip, ip_proto=proto,
                                 **{src_field: ep.port}),
                          tuple(actions), TABLE_FORWARD, route.cookie))
    return flows, groups


def path_flows(view: NetworkView, path: ReservedPath) -> list[Flow]:
    src, dst = view.hosts[path.src], view.hosts[path.dst]
    return [Flow(dpid, TABLE_FORWARD, PRIORITY_PATH,
                 _match(in_port=in_port, eth_type=ETH_IPV4, ipv4_src=src.ip, ipv4_dst=dst.ip),
                 (("output", out_port),), None, path.cookie)
            for dpid, in_port, out_port in path.hops]


@dataclass
class RuleSet:
    flows: dict[tuple, Flow]
    groups: dict[tuple, Group]

    def on(self, dpid: int) -> "RuleSet":
        return self.by_switch().get(dpid, RuleSet({}, {}))

    def by_switch(self) -> dict[int, "RuleSet"]:
        """Every switch's share, in one pass (on() for each switch would be quadratic)."""
        out: dict[int, RuleSet] = {}
        for k, f in self.flows.items():
            out.setdefault(f.dpid, RuleSet({}, {})).flows[k] = f
        for k, g in self.groups.items():
            out.setdefault(g.dpid, RuleSet({}, {})).groups[k] = g
        return out


def desired_rules(view: NetworkView, routes: list[ServiceRoute], paths: list[ReservedPath],
                  cache: "RuleCache | None" = None) -> RuleSet:
    """Everything the switches should hold. With a cache, the baseline and each route's rules are
    reused while the view has not changed (they do not depend on one another)."""
    cache = cache if cache is not None else RuleCache()
    flows: list[Flow] = list(cache.get(view, "baseline", lambda: baseline_flows(view)))
    groups: list[Group] = []
    for route in routes:
        f, g = cache.get(view, route, lambda route=route: service_rules(view, route))
        flows += f
        groups += g
    for path in paths:
        flows += path_flows(view, path)
    cache.retain({"baseline", *routes})  # forget removed and replaced routes
    return RuleSet({f.key: f for f in flows}, {g.key: g for g in groups})


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


@dataclass
class RuleDiff:
    add_groups: list[Group]
    modify_groups: list[Group]
    delete_groups: list[Group]
    add_flows: list[Flow]       # new, or changed (an OpenFlow ADD replaces the same match and priority)
    delete_flows: list[Flow]

    @property
    def empty(self) -> bool:
        return not (self.add_groups or self.modify_groups or self.delete_groups
                    or self.add_flows or self.delete_flows)


def diff(installed: RuleSet, desired: RuleSet) -> RuleDiff:
    """What to send to go from `installed` to `desired`. Apply groups before the flows that use
    them, and delete flows before the groups they used."""
    return RuleDiff(
        add_groups=[g for k, g in desired.groups.items() if k not in installed.groups],
        modify_groups=[g for k, g in desired.groups.items() if k in installed.groups and installed.groups[k] != g],
        delete_groups=[g for k, g in installed.groups.items() if k not in desired.groups],
        add_flows=[f for k, f in desired.flows.items() if installed.flows.get(k) != f],
        delete_flows=[f for k, f in installed.flows.items() if k not in desired.flows],
    )
