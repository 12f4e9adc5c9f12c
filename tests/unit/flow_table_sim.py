"""A fake OpenFlow 1.3 data plane for the SDN unit tests: switches that hold a pipeline.ruleset.RuleSet, wired
as a NetworkView says, forwarding a packet hop by hop and reporting where every copy ended.

What it models (and so what the tests check):
  * a packet enters at a host's switch port; per table the highest-priority matching flow wins
    (a missing match field is a wildcard); two flows of the same priority that both match are
    an error (OpenFlow leaves the choice undefined); a table miss with no flow drops the packet;
  * apply-actions run in order on the packet: set_field rewrites it, output emits a copy as it is
    at that point, group runs one bucket of a SELECT group on a clone, controller punts a copy;
    then goto-table (forward only) continues with the rewritten packet, or the pipeline ends;
  * an output to the port the packet came in on is dropped unless it is OFPP_IN_PORT (IN_PORT);
    an output onto a link that is down is dropped;
  * a copy that crosses more than `max_hops` switches is reported as a loop;
  * matches may be (value, mask) pairs (ct_state, registers);
  * fast-failover groups run their first bucket whose watched port is live (a link that is up,
    or a host's port), none if none is;
  * connection tracking as Open vSwitch does it: `ct` looks the packet's 5-tuple up in the zone's
    connection table: as a connection's original direction (ct_state +trk+est, the connection's
    translation applied), as its reply direction (+trk+est+rpl, the translation undone), or not
    (+trk+new); a commit records a new connection with its translation and mark (applying the
    translation); then the pipeline goes on in the ct's table (recirculation). The table lives in
    the DataPlane, across `send` calls, so replies find their connections; `explore` leaves it as
    it was. `resubmit` runs a table's matching flow and comes back.

SELECT groups: `send` takes a `choose(group, packet) -> bucket index` (e.g. `by_hash(x)`), and
`explore` follows every bucket of every group met, giving each branch its probability from the
bucket weights, so tests can check weights as traffic shares.

Also here: `declared`, a compact way to write the launcher's topology dict, packet builders,
and `FakeSwitch`, a table that applies a pipeline.ruleset.RuleDiff with OpenFlow's (OVS's) semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from controller.sdn.network import HostInfo, NetworkView
from api.protocols import IP_NUMBERS
from controller.sdn.pipeline.ruleset import IN_PORT, Ct, Flow, Group, RuleDiff, RuleSet
from controller.sdn.pipeline.tables import CT_EST, CT_NEW, CT_RPL, CT_TRK, ETH_ARP, ETH_IPV4

DELIVERED, DROPPED, CONTROLLER, LOOP = "delivered", "dropped", "controller", "loop"
MAX_HOPS = 32
ETH_IPV6, ETH_LLDP = 0x86DD, 0x88CC

Chooser = Callable[[Group, dict], int]


class AmbiguousMatch(AssertionError):
    """Two flows of the same table and priority both match a packet."""


class NeedsChoice(AssertionError):
    """A SELECT group with several buckets was met and no chooser was given."""


# ------------------------------------------------------------------------------------------------
# topologies and packets

def declared(links: list[tuple], hosts: dict[str, str], *, dpid_base: int = 0xA0,
             bandwidth_mbps: float = 100.0) -> dict:
    """The launcher's runtime topology dict for NetworkView.from_declared.

    links: (a, b) or (a, b, bandwidth_mbps) switch-name pairs; hosts: host name -> switch name,
    in order. Switches are numbered in order of first mention, dpid = dpid_base + index; ports
    are given per switch in declaration order, links first (so host ports are not 1 everywhere).
    Host k (from 0) gets 10.0.0.(k+1) and 00:00:00:00:00:(k+1) (carrying into the next octet past 255).
    """
    names: list[str] = []
    for link in links:
        for sw in link[:2]:
            if sw not in names:
                names.append(sw)
    for sw in hosts.values():
        if sw not in names:
            names.append(sw)
    next_port = {sw: 1 for sw in names}

    def port(sw: str) -> int:
        next_port[sw] += 1
        return next_port[sw] - 1

    out_links = []
    for link in links:
        a, b = link[:2]
        bw = link[2] if len(link) > 2 else bandwidth_mbps
        out_links.append({"a": a, "a_port": port(a), "b": b, "b_port": port(b), "bandwidth_mbps": bw})
    out_hosts = [{"name": h, "ip": f"10.0.{(k + 1) >> 8}.{(k + 1) & 0xFF}",
                  "mac": f"00:00:00:00:{(k + 1) >> 8:02x}:{(k + 1) & 0xFF:02x}", "switch": sw,
                  "port": port(sw), "role": "device"} for k, (h, sw) in enumerate(hosts.items())]
    return {"switches": [{"name": sw, "dpid": dpid_base + k} for k, sw in enumerate(names)],
            "links": out_links, "hosts": out_hosts}


def ip_packet(src: HostInfo, dst_ip: str, dst_mac: str, *, proto: str = "tcp", dst_port: int = 80,
              src_port: int = 40000) -> dict:
    """A TCP or UDP packet from host `src` as its stack would send it (dst_mac from proxy ARP)."""
    return {"eth_type": ETH_IPV4, "eth_src": src.mac, "eth_dst": dst_mac, "ipv4_src": src.ip,
            "ipv4_dst": dst_ip, "ip_proto": IP_NUMBERS[proto], f"{proto}_src": src_port, f"{proto}_dst": dst_port}


def to_host(src: HostInfo, dst: HostInfo, **kw) -> dict:
    return ip_packet(src, dst.ip, dst.mac, **kw)


def answer(view: NetworkView, delivered) -> dict:
    """The packet a host's stack sends back for a packet it received (a Copy delivered to it):
    addresses and ports swapped, to the peer's MAC (every peer is on the hosts' subnet; the
    gateway, a hairpin connection's source, is answered at the gateway's MAC)."""
    from controller.sdn.pipeline.gateway import GATEWAY_MAC

    got = delivered.packet
    proto = {6: "tcp", 17: "udp"}[got["ip_proto"]]
    peer = view.host_by_ip(got["ipv4_src"])
    return {"eth_type": ETH_IPV4, "eth_src": view.hosts[delivered.host].mac,
            "eth_dst": peer.mac if peer else GATEWAY_MAC, "ipv4_src": got["ipv4_dst"], "ipv4_dst": got["ipv4_src"],
            "ip_proto": got["ip_proto"], f"{proto}_src": got[f"{proto}_dst"], f"{proto}_dst": got[f"{proto}_src"]}


def arp_request(src: HostInfo, target_ip: str) -> dict:
    return {"eth_type": ETH_ARP, "eth_src": src.mac, "eth_dst": "ff:ff:ff:ff:ff:ff",
            "arp_spa": src.ip, "arp_tpa": target_ip, "arp_op": 1}


def by_hash(x: float) -> Chooser:
    """Pick the bucket whose share of the total weight covers x in [0, 1), as a weighted hash would."""

    def choose(group: Group, packet: dict) -> int:
        total = sum(w for w, _ in group.buckets)
        acc = 0
        for k, (w, _) in enumerate(group.buckets):
            acc += w
            if w > 0 and x * total < acc:
                return k
        raise AssertionError(f"group {group.group_id} on dpid {group.dpid} has no bucket with weight")

    return choose


# ------------------------------------------------------------------------------------------------
# the data plane

@dataclass(frozen=True)
class Hop:
    dpid: int
    in_port: int
    out_port: int | None  # None where the copy ended inside the switch (drop, controller)


@dataclass
class Copy:
    """Where one copy of the packet ended, with its headers at that moment."""

    fate: str                # DELIVERED | DROPPED | CONTROLLER | LOOP
    packet: dict
    hops: list[Hop]
    host: str | None = None  # DELIVERED: the host attached to the port it left by
    reason: str = ""

    @property
    def dpid(self) -> int:
        return self.hops[-1].dpid

    @property
    def switches(self) -> list[int]:
        return [h.dpid for h in self.hops]

    def __str__(self) -> str:
        where = f" to {self.host}" if self.host else ""
        return f"{self.fate}{where} via {[(h.dpid, h.in_port, h.out_port) for h in self.hops]} {self.reason}"


@dataclass
class Branch:
    """One combination of SELECT-bucket choices and what it does to the packet."""

    probability: Fraction
    choices: tuple[tuple[int, int, int], ...]  # (dpid, group id, bucket index)
    copies: list[Copy]

    @property
    def only(self) -> Copy:
        assert len(self.copies) == 1, f"expected exactly one copy, got {[str(c) for c in self.copies]}"
        return self.copies[0]


L4 = {6: "tcp", 17: "udp"}


def _ip(text: str) -> int:
    return int.from_bytes(bytes(int(b) for b in text.split(".")), "big")


def five_tuple(packet: dict) -> tuple | None:
    proto = L4.get(packet.get("ip_proto"))
    if packet.get("eth_type") != ETH_IPV4 or proto is None:
        return None
    return (packet["ip_proto"], packet["ipv4_src"], packet.get(f"{proto}_src"), packet["ipv4_dst"],
            packet.get(f"{proto}_dst"))


def _rewrite(packet: dict, side: str, ip: str, port: int | None) -> None:
    proto = L4[packet["ip_proto"]]
    packet[f"ipv4_{side}"] = ip
    if port is not None:
        packet[f"{proto}_{side}"] = port


def _reverse(key: tuple) -> tuple:
    proto, src, sport, dst, dport = key
    return proto, dst, dport, src, sport


@dataclass
class Connection:
    original: tuple
    reply: tuple
    nat: object  # pipeline.ruleset.Nat or None
    mark: int
    replied: bool = False  # Open vSwitch calls a connection established once it saw a reply


class DataPlane:
    def __init__(self, rules: RuleSet, view: NetworkView, *, max_hops: int = MAX_HOPS):
        self.view = view
        self.max_hops = max_hops
        self.tables: dict[tuple[int, int], list[Flow]] = {}
        for flow in rules.flows.values():
            self.tables.setdefault((flow.dpid, flow.table), []).append(flow)
        self.groups: dict[tuple[int, int], Group] = dict(rules.groups)
        self.host_at = {(h.dpid, h.port): h.name for h in view.hosts.values()}
        self.conntrack: dict[int, list[Connection]] = {}  # zone -> connections
        self.hits: dict[tuple, int] = {}  # flow key -> packets it matched (a switch's packet counter)

    def load(self, rules: RuleSet) -> "DataPlane":
        """New rules on the same switches: the connections tracked so far stay (as in OVS)."""
        self.tables = {}
        for flow in rules.flows.values():
            self.tables.setdefault((flow.dpid, flow.table), []).append(flow)
        self.groups = dict(rules.groups)
        self.host_at = {(h.dpid, h.port): h.name for h in self.view.hosts.values()}
        return self

    @classmethod
    def from_switches(cls, switches: dict[int, "FakeSwitch"], view: NetworkView, **kw) -> "DataPlane":
        """The data plane made of what fake switches really hold."""
        flows, groups = {}, {}
        for sw in switches.values():
            flows.update(sw.flows)
            groups.update(sw.groups)
        return cls(RuleSet(flows, groups), view, **kw)

    # -- one switch ------------------------------------------------------------------------------
    @staticmethod
    def _matches(packet: dict, name: str, value) -> bool:
        if isinstance(value, tuple):
            want, mask = value
            if isinstance(want, str):  # an IPv4 prefix: (address, netmask)
                have = packet.get(name)
                return have is not None and _ip(have) & _ip(mask) == _ip(want)
            return (packet.get(name, 0) & mask) == want
        return packet.get(name) == value

    def lookup(self, dpid: int, table: int, packet: dict, conjunctions: bool = True) -> Flow | None:
        hits = [f for f in self.tables.get((dpid, table), ())
                if all(self._matches(packet, name, value) for name, value in f.match)]
        conjunctive = [f for f in hits if any(a[0] == "conjunction" for a in f.actions)]
        if conjunctive:
            if conjunctions:
                return self._conjunction(dpid, table, packet, hits, conjunctive)
            hits = [f for f in hits if f not in conjunctive]
        if not hits:
            return None
        top = max(f.priority for f in hits)
        winners = [f for f in hits if f.priority == top]
        if len(winners) > 1:
            raise AmbiguousMatch(f"dpid {dpid} table {table}: {len(winners)} flows of priority {top} match "
                                 f"{packet}: {winners}")
        self.hits[winners[0].key] = self.hits.get(winners[0].key, 0) + 1
        return winners[0]

    def _conjunction(self, dpid: int, table: int, packet: dict, hits: list[Flow], conjunctive: list[Flow]) -> Flow | None:
        """Open vSwitch's conjunctive match: from the highest priority down, a conjunction whose every
        clause some flow of that priority matched wins (through its conj_id flow), unless a plain flow
        of that priority matches too (an error here); one that does not complete matches nothing."""
        for priority in sorted({f.priority for f in hits}, reverse=True):
            plain = [f for f in hits if f.priority == priority and f not in conjunctive]
            clauses: dict[int, set[int]] = {}
            sizes: dict[int, int] = {}
            for f in conjunctive:
                if f.priority == priority:
                    for _, number, k, n in (a for a in f.actions if a[0] == "conjunction"):
                        clauses.setdefault(number, set()).add(k)
                        sizes[number] = n
            complete = sorted(number for number, seen in clauses.items() if len(seen) == sizes[number])
            if plain and complete:
                raise AmbiguousMatch(f"dpid {dpid} table {table}: a conjunction and a flow of priority {priority} "
                                     f"both match {packet}")
            if len(plain) > 1:
                raise AmbiguousMatch(f"dpid {dpid} table {table}: {len(plain)} flows of priority {priority} match "
                                     f"{packet}: {plain}")
            if plain:
                self.hits[plain[0].key] = self.hits.get(plain[0].key, 0) + 1
                return plain[0]
            if complete:  # several complete: Open vSwitch takes any one; the lowest id here.
                # The second lookup, with conj_id set, matches no conjunctive flow (as in Open vSwitch).
                return self.lookup(dpid, table, {**packet, "conj_id": complete[0]}, conjunctions=False)
        return None

    def _track(self, ct: Ct, packet: dict) -> None:
        """The connection tracker on `packet`, in place: state, mark, and translation."""
        key = five_tuple(packet)
        assert key is not None, f"ct on a packet without a TCP/UDP 5-tuple: {packet}"
        table = self.conntrack.setdefault(ct.zone, [])
        found = next((c for c in table if key in (c.original, c.reply)), None)
        if found is None:  # an already translated packet: Open vSwitch looks it up by its reply's reverse
            found = next((c for c in table if c.nat is not None and key == _reverse(c.reply)), None)
            if found is not None:
                packet["ct_state"] = CT_TRK | (CT_EST if found.replied else CT_NEW)
                packet["ct_mark"] = found.mark
                return
        if found is not None:
            forward = key == found.original
            found.replied = found.replied or not forward
            # the client's packets are +new until the first reply (a one-way UDP stream stays so)
            packet["ct_state"] = CT_TRK | (CT_EST if found.replied else CT_NEW) | (0 if forward else CT_RPL)
            packet["ct_mark"] = found.mark
            if found.nat is not None and ct.translate:
                _, src, sport, dst, dport = found.original
                if forward:
                    _rewrite(packet, found.nat.kind, found.nat.ip, found.nat.port)
                elif found.nat.kind == "dst":  # the reply comes from the translated destination
                    _rewrite(packet, "src", dst, dport if found.nat.port is not None else None)
                else:
                    _rewrite(packet, "dst", src, sport)
            return
        packet["ct_state"], packet["ct_mark"] = CT_TRK | CT_NEW, 0
        if ct.commit:
            if ct.nat is not None:
                _rewrite(packet, ct.nat.kind, ct.nat.ip, ct.nat.port)
            proto, src, sport, dst, dport = five_tuple(packet)
            table.append(Connection(key, (proto, dst, dport, src, sport), ct.nat, ct.mark or 0))
            packet["ct_mark"] = ct.mark or 0

    def _pipeline(self, dpid, table, packet, emitted, choose, choices, seen) -> None:
        seen.append(table)
        flow = self.lookup(dpid, table, packet)
        if flow is None:
            return  # table miss without a table-miss flow: the pipeline ends here
        self._actions(dpid, flow.actions, packet, emitted, choose, choices, seen)
        if flow.goto is not None:
            assert flow.goto > table, f"goto-table {flow.goto} from table {table} (must go forward)"
            self._pipeline(dpid, flow.goto, packet, emitted, choose, choices, seen)

    def _actions(self, dpid, actions, packet, emitted, choose, choices, seen) -> None:
        for action in actions:
            kind = action[0]
            if kind == "output":
                emitted.append(("output", action[1], dict(packet)))
            elif kind == "set_field":
                packet[action[1]] = action[2]
            elif kind == "controller":
                emitted.append(("controller", None, dict(packet)))
            elif kind == "conjunction":
                raise AssertionError("a conjunction action ran: its flow should only ever be matched as a clause")
            elif kind == "resubmit":
                self._pipeline(dpid, action[1], packet, emitted, choose, choices, seen)
            elif kind == "ct":
                assert action is actions[-1], "ct must be the last action (it recirculates)"
                self._track(action[1], packet)
                self._pipeline(dpid, action[1].table, packet, emitted, choose, choices, seen)
            elif kind == "group":
                group = self.groups.get((dpid, action[1]))
                if group is None:
                    raise AssertionError(f"dpid {dpid}: a flow uses group {action[1]}, which does not exist")
                if not group.buckets:
                    continue
                if group.kind == "ff":  # fast failover: the first bucket whose watched port is live
                    live = [k for k, port in enumerate(group.watch_ports) if self._port_live(dpid, port)]
                    if live:
                        self._actions(dpid, group.buckets[live[0]][1], dict(packet), emitted, choose, choices, seen)
                    continue
                k = choose(group, dict(packet))
                choices.append((dpid, group.group_id, k))
                self._actions(dpid, group.buckets[k][1], dict(packet), emitted, choose, choices, seen)
            else:
                raise AssertionError(f"unknown action {action!r}")

    def _port_live(self, dpid: int, port: int) -> bool:
        """A port's liveness as the switch sees it: a link's follows the link, a host's is up."""
        link = self.view.links.get((dpid, port))
        return link.up if link is not None else (dpid, port) in self.host_at

    def _switch(self, dpid, in_port, packet, hops, choose, choices, out: list[Copy]) -> None:
        packet = dict(packet, in_port=in_port)
        for transient in ("ct_state", "ct_mark", "reg0", "reg1", "reg2", "reg3"):  # pipeline metadata ends at the switch
            packet.pop(transient, None)
        emitted: list = []
        tables_seen: list[int] = []
        self._pipeline(dpid, 0, packet, emitted, choose, choices, tables_seen)
        if not emitted:
            out.append(Copy(DROPPED, packet, hops + [Hop(dpid, in_port, None)],
                            reason=f"no output (tables {tables_seen})"))
        for kind, port, pkt in emitted:
            for transient in ("ct_state", "ct_mark", "reg0", "reg1", "reg2", "reg3", "in_port"):
                pkt.pop(transient, None)
            if kind == "controller":
                out.append(Copy(CONTROLLER, pkt, hops + [Hop(dpid, in_port, None)]))
            elif port == IN_PORT:
                self._egress(dpid, None, in_port, pkt, hops + [Hop(dpid, in_port, in_port)], choose, choices, out)
            else:
                self._egress(dpid, in_port, port, pkt, hops + [Hop(dpid, in_port, port)], choose, choices, out)

    def _egress(self, dpid, in_port, port, packet, hops, choose, choices, out) -> None:
        if port == in_port:
            out.append(Copy(DROPPED, packet, hops, reason="output to the ingress port"))
            return
        link = self.view.links.get((dpid, port))
        if link is not None:
            if not link.up:
                out.append(Copy(DROPPED, packet, hops, reason="output onto a link that is down"))
            elif len(hops) >= self.max_hops:
                out.append(Copy(LOOP, packet, hops, reason=f"more than {self.max_hops} hops"))
            else:
                self._switch(link.dst, link.dst_port, packet, hops, choose, choices, out)
            return
        host = self.host_at.get((dpid, port))
        if host is not None:
            out.append(Copy(DELIVERED, packet, hops, host=host))
        else:
            out.append(Copy(DROPPED, packet, hops, reason=f"port {port} leads nowhere"))

    # -- entry points ----------------------------------------------------------------------------
    def _run(self, src: str, packet: dict, choose: Chooser) -> tuple[list[Copy], list]:
        host = self.view.hosts[src]
        out: list[Copy] = []
        choices: list = []
        self._switch(host.dpid, host.port, packet, [], choose, choices, out)
        return out, choices

    def send(self, src: str, packet: dict, choose: Chooser | None = None) -> list[Copy]:
        """Every copy the packet sent by host `src` turns into (one bucket choice per group)."""

        def refuse(group: Group, _packet: dict) -> int:
            if len(group.buckets) == 1:
                return 0
            raise NeedsChoice(f"group {group.group_id} on dpid {group.dpid} has {len(group.buckets)} buckets")

        return self._run(src, packet, choose or refuse)[0]

    def send_one(self, src: str, packet: dict, choose: Chooser | None = None) -> Copy:
        """The single copy the packet turns into (fails on flooding or duplication)."""
        copies = self.send(src, packet, choose)
        assert len(copies) == 1, f"expected exactly one copy, got {[str(c) for c in copies]}"
        return copies[0]

    def explore(self, src: str, packet: dict) -> list[Branch]:
        """Every combination of bucket choices (weight-0 buckets too, with probability 0); the
        connection table is left as it was."""
        import copy

        saved = copy.deepcopy(self.conntrack)
        try:
            return self._explore(src, packet, saved)
        finally:
            self.conntrack = saved

    def _explore(self, src: str, packet: dict, saved: dict) -> list[Branch]:
        import copy

        branches: list[Branch] = []
        pending: list[list[int]] = [[]]
        while pending:
            script = pending.pop()
            seen: list[tuple[Group, int]] = []

            def follow(group: Group, _packet: dict, script=script, seen=seen) -> int:
                depth = len(seen)
                k = script[depth] if depth < len(script) else 0
                if depth >= len(script):  # a new decision point: the other buckets are branches
                    for other in range(1, len(group.buckets)):
                        pending.append(script + [b for _, b in seen[len(script):]] + [other])
                seen.append((group, k))
                return k

            self.conntrack = copy.deepcopy(saved)
            copies, choices = self._run(src, packet, follow)
            probability = Fraction(1)
            for group, k in seen:
                total = sum(w for w, _ in group.buckets)
                probability *= Fraction(group.buckets[k][0], total) if total else Fraction(0)
            branches.append(Branch(probability, tuple(choices), copies))
        return branches


def shares(branches: list[Branch]) -> dict[str | None, Fraction]:
    """Host -> probability that the (single) copy is delivered there; None collects the rest."""
    out: dict[str | None, Fraction] = {}
    for b in branches:
        c = b.only
        key = c.host if c.fate == DELIVERED else None
        out[key] = out.get(key, Fraction(0)) + b.probability
    return {k: v for k, v in out.items() if v}


# ------------------------------------------------------------------------------------------------
# a switch's tables, changed as OpenFlow (OVS) would change them

@dataclass
class FakeSwitch:
    """Flows keyed like Flow.key and groups like Group.key (pipeline.ruleset); `apply` follows the order the
    os-ken app sends a RuleDiff in: add groups, modify groups, delete flows (strict), add flows,
    delete groups. OpenFlow errors are recorded in `errors` (and the message has no effect)."""

    dpid: int
    flows: dict[tuple, Flow] = field(default_factory=dict)
    groups: dict[tuple, Group] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.flows.clear()
        self.groups.clear()

    def rules(self) -> RuleSet:
        return RuleSet(dict(self.flows), dict(self.groups))

    def _uses(self, flow: Flow) -> set[int]:
        return {a[1] for a in flow.actions if a[0] == "group"}

    def apply(self, change: RuleDiff) -> None:
        for g in change.add_groups + change.modify_groups + change.delete_groups:
            assert g.dpid == self.dpid, f"group for dpid {g.dpid} sent to {self.dpid}"
        for f in change.add_flows + change.delete_flows:
            assert f.dpid == self.dpid, f"flow for dpid {f.dpid} sent to {self.dpid}"
        for g in change.add_groups + change.modify_groups:
            bad = [w for w, _ in g.buckets if not 0 <= w <= 0xFFFF]
            if bad:  # a bucket weight is 16 bits in OpenFlow 1.3: such a message cannot even be encoded
                self.errors.append(f"bucket weight {bad} of group {g.group_id} does not fit 16 bits")
        for g in change.add_groups:
            if g.key in self.groups:
                self.errors.append(f"OFPGMFC_GROUP_EXISTS {g.group_id}")
            else:
                self.groups[g.key] = g
        for g in change.modify_groups:
            if g.key not in self.groups:
                self.errors.append(f"OFPGMFC_UNKNOWN_GROUP {g.group_id}")
            else:
                self.groups[g.key] = g
        for f in change.delete_flows:
            # DELETE_STRICT with the flow's cookie under a full mask
            if f.key in self.flows and self.flows[f.key].cookie == f.cookie:
                del self.flows[f.key]
        for f in change.add_flows:
            missing = [gid for gid in self._uses(f) if (self.dpid, gid) not in self.groups]
            if missing:
                self.errors.append(f"OFPBAC_BAD_OUT_GROUP {missing} for {f}")
            else:
                self.flows[f.key] = f  # ADD replaces a flow of the same table, priority and match
        for g in change.delete_groups:
            self.groups.pop(g.key, None)
            # deleting a group removes the flows that use it
            for key in [k for k, f in self.flows.items() if g.group_id in self._uses(f)]:
                self.errors.append(f"group {g.group_id} deleted under a flow that uses it: {self.flows[key]}")
                del self.flows[key]
