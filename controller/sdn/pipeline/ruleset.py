"""Rules as plain data (flows, groups, meters), sets of them per switch, and the difference of two sets."""

from __future__ import annotations

from dataclasses import dataclass, field

IN_PORT = "in_port"  # ("output", IN_PORT): back out of the port the packet came in by


@dataclass(frozen=True)
class Nat:
    """The translation a connection is committed with: destination or source, to ip[:port]."""
    kind: str            # "dst" | "src"
    ip: str
    port: int | None = None


@dataclass(frozen=True)
class Ct:
    """Through the connection tracker in `zone`, then on in `table` (recirculation). Every lookup
    applies the translation of a connection already committed (`nat` in ovs-ofctl); a commit
    records the connection, with `nat` as its translation and `mark` as its ct_mark."""
    zone: int
    table: int
    commit: bool = False
    nat: Nat | None = None
    mark: int | None = None
    translate: bool = True  # False: a lookup that leaves the packet as it is (state and mark only)


Action = tuple  # ("output", port | IN_PORT) | ("set_field", name, value) | ("group", id) | ("controller",)
#               | ("resubmit", table) | ("ct", Ct) | ("conjunction", id, k, n): clause k (from 1) of n


@dataclass(frozen=True)
class Flow:
    dpid: int
    table: int
    priority: int
    match: tuple[tuple[str, object], ...]   # sorted (OXM field, value) pairs
    actions: tuple[Action, ...]             # apply-actions
    goto: int | None                        # goto-table, or None
    cookie: int
    meter: int | None = None                # meter instruction (before the actions), or None

    @property
    def key(self) -> tuple:
        return (self.dpid, self.table, self.priority, self.match)


@dataclass(frozen=True)
class Group:
    dpid: int
    group_id: int
    buckets: tuple[tuple[int, tuple[Action, ...]], ...]  # (weight, actions)
    cookie: int  # the owner's cookie (groups have none in OpenFlow; kept for bookkeeping)
    kind: str = "select"              # "select": weighted; "ff": fast failover, the first live bucket
    watch_ports: tuple[int, ...] = ()  # ff: the port each bucket's liveness follows

    @property
    def key(self) -> tuple:
        return (self.dpid, self.group_id)


@dataclass(frozen=True)
class Meter:
    """An OpenFlow meter with one drop band: traffic above rate_kbps (after a burst) is dropped."""
    dpid: int
    meter_id: int
    rate_kbps: int
    burst_kbits: int
    cookie: int  # the owner's cookie (bookkeeping, as for groups)

    @property
    def key(self) -> tuple:
        return (self.dpid, self.meter_id)


def flow_match(**fields) -> tuple[tuple[str, object], ...]:
    """A Flow's match: the (field, value) pairs in a canonical order."""
    return tuple(sorted(fields.items()))


@dataclass
class RuleSet:
    flows: dict[tuple, Flow]
    groups: dict[tuple, Group]
    meters: dict[tuple, Meter] = field(default_factory=dict)

    def on(self, dpid: int) -> "RuleSet":
        return self.by_switch().get(dpid, RuleSet({}, {}))

    def by_switch(self) -> dict[int, "RuleSet"]:
        """Every switch's share, in one pass (on() for each switch would be quadratic)."""
        out: dict[int, RuleSet] = {}
        for k, f in self.flows.items():
            out.setdefault(f.dpid, RuleSet({}, {})).flows[k] = f
        for k, g in self.groups.items():
            out.setdefault(g.dpid, RuleSet({}, {})).groups[k] = g
        for k, m in self.meters.items():
            out.setdefault(m.dpid, RuleSet({}, {})).meters[k] = m
        return out

    @classmethod
    def of(cls, flows=(), groups=(), meters=()) -> "RuleSet":
        return cls({f.key: f for f in flows}, {g.key: g for g in groups}, {m.key: m for m in meters})


@dataclass
class RuleDiff:
    add_groups: list[Group]
    modify_groups: list[Group]
    delete_groups: list[Group]
    add_flows: list[Flow]       # new, or changed (an OpenFlow ADD replaces the same match and priority)
    delete_flows: list[Flow]
    add_meters: list[Meter] = field(default_factory=list)
    modify_meters: list[Meter] = field(default_factory=list)
    delete_meters: list[Meter] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add_groups or self.modify_groups or self.delete_groups
                    or self.add_flows or self.delete_flows or self.add_meters or self.modify_meters
                    or self.delete_meters)

    def apply_to(self, rules: RuleSet) -> None:
        """Change `rules` in place into what a switch holding them holds once it applied this."""
        for flow in self.delete_flows:
            rules.flows.pop(flow.key, None)
        for group in self.delete_groups:
            rules.groups.pop(group.key, None)
        for meter in self.delete_meters:
            rules.meters.pop(meter.key, None)
        rules.flows.update((f.key, f) for f in self.add_flows)
        rules.groups.update((g.key, g) for g in self.add_groups + self.modify_groups)
        rules.meters.update((m.key, m) for m in self.add_meters + self.modify_meters)


def diff(installed: RuleSet, desired: RuleSet) -> RuleDiff:
    """What to send to go from `installed` to `desired`. Apply meters and groups before the flows
    that use them, and delete flows before the meters and groups they used."""
    return RuleDiff(
        add_groups=[g for k, g in desired.groups.items() if k not in installed.groups],
        modify_groups=[g for k, g in desired.groups.items() if k in installed.groups and installed.groups[k] != g],
        delete_groups=[g for k, g in installed.groups.items() if k not in desired.groups],
        add_flows=[f for k, f in desired.flows.items() if installed.flows.get(k) != f],
        delete_flows=[f for k, f in installed.flows.items() if k not in desired.flows],
        add_meters=[m for k, m in desired.meters.items() if k not in installed.meters],
        modify_meters=[m for k, m in desired.meters.items() if k in installed.meters and installed.meters[k] != m],
        delete_meters=[m for k, m in installed.meters.items() if k not in desired.meters],
    )
