"""The OpenFlow rules the network should hold, computed from the view and the desired routes (pure).

Seven tables on every switch; service traffic is translated statefully with Open vSwitch's
connection tracker, in zones of the switch's own (NetworkView.zones), as Antrea's proxy and OVN's
load balancers do:

  0 classify   ARP to the controller (it answers, nothing is flooded); TCP and UDP through the
               connection tracker with `nat` (a packet of a translated connection is translated
               again, forward or back) then to 1; packets to the gateway first through the
               hairpin zone (a hairpin connection's replies are un-SNATed, then un-DNATed);
               everything else to 2.
  1 service    a new connection to a VIP goes to the service's SELECT group (through its meter
               when the service is rate-limited), whose buckets load the service and endpoint
               numbers into registers and resubmit to 3. Packets of connections committed here
               are counted per endpoint and direction (their ct_mark names service and endpoint)
               and metered; those of a hairpin connection go through the hairpin zone; the rest
               on to 2.
  3 endpoints  per endpoint: commit the connection with a destination NAT to the endpoint and a
               ct_mark naming service and endpoint (with the hairpin bit when the client is the
               endpoint itself, then on to 4), then 2.
  (2 and 6 below: what leaves the service stage goes to 2.)
  4 hairpin    commit a source NAT to the gateway, so the endpoint answers the gateway, not itself.
  5 un-SNAT    after the hairpin zone, the service zone (as 0 does).
  2 steer      VNF chains: classified traffic gets the next VNF's MAC as destination and goes
               toward it; what a VNF sends back (its MAC as source) goes to the chain's next VNF,
               or on to 6 after the last; replies of a symmetric chain through the VNFs in
               reverse. Everything else on to 6.
  6 forward    per destination IP: set the destination MAC and output along shortest paths (back
               out of the ingress port when the host sits there: hairpin), with bandwidth-reserved
               paths above it for their (src, dst) pair. Unmatched: dropped.

Only connections through a VIP are translated: a client talking to an endpoint's own address gets
its answers from that address, one endpoint can serve several services, and established
connections keep their endpoint when the weights change (the group only picks for new ones).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from api.classifier import Classifier
from api.protocols import ICMP, IP_NUMBERS, SERVICE_PROTOCOLS

from .network import NetworkView

TABLE_CLASSIFY, TABLE_SERVICE, TABLE_STEER, TABLE_ENDPOINT, TABLE_HAIRPIN, TABLE_UNSNAT, TABLE_FORWARD = (
    0, 1, 2, 3, 4, 5, 6)
TABLE_UNTRANSLATED = 7  # replies of chained services, seen before their translation back
TABLE_TOWARD = 8        # a chain's hop of several instances: toward the instance its group chose
CHAIN_GROUP_BASE = 0x2000_0000  # | chain id << 6 | hop: a hop's SELECT group
PRIORITY_MISS, PRIORITY_TRACK, PRIORITY_UNSNAT, PRIORITY_ARP = 0, 50, 60, 100
PRIORITY_FORWARD, PRIORITY_FORWARD_BACK, PRIORITY_PATH = 200, 210, 250
PRIORITY_HAIRPIN_EST, PRIORITY_ACCOUNT, PRIORITY_SERVICE = 250, 260, 300
PRIORITY_ENDPOINT, PRIORITY_ENDPOINT_HAIRPIN = 100, 110
ETH_IPV4, ETH_ARP = 0x0800, 0x0806
IN_PORT = "in_port"  # ("output", IN_PORT): back out of the port the packet came in by

# ct_state bits (Open vSwitch) and the (value, mask) matches the rules use
CT_NEW, CT_EST, CT_RPL, CT_TRK = 0x01, 0x02, 0x08, 0x20
CT_NEW_CONNECTION = (CT_TRK | CT_NEW, CT_TRK | CT_NEW)
# A packet of a committed connection, either way (its ct_mark says which): the client's side is +new
# until the first reply (UDP streams one way stay so), so only the direction is matched.
CT_COMMITTED_FORWARD = (CT_TRK, CT_TRK | CT_RPL)
CT_COMMITTED_REPLY = (CT_TRK | CT_RPL, CT_TRK | CT_RPL)
# ct_mark of a connection committed to a service: service id (16 bits) | endpoint slot (15) | hairpin
HAIRPIN_MARK = 0x1  # the client is the endpoint itself
MAX_SERVICE_ID, MAX_SLOT = 0xFFFF, 0x7FFF
MARK_ENDPOINT_MASK = 0xFFFF_FFFE  # service and endpoint, either hairpin bit


def connection_mark(service_id: int, slot: int, hairpin: bool = False) -> int:
    return service_id << 16 | slot << 1 | int(hairpin)


def mark_fields(mark: int) -> tuple[int, int, bool]:
    """(service id, endpoint slot, hairpin) from a connection's ct_mark."""
    return mark >> 16, (mark >> 1) & MAX_SLOT, bool(mark & HAIRPIN_MARK)

REG_SERVICE, REG_ENDPOINT = "reg0", "reg1"
GATEWAY_MAC = "02:5e:ff:ff:ff:fe"  # answers ARP for the gateway address

COOKIE_BASELINE = 0x1
COOKIE_SERVICE_BASE = 0x5EC0_0000_0000_0000  # | service id
COOKIE_PATH_BASE = 0x9A70_0000_0000_0000     # | path id
COOKIE_CHAIN_BASE = 0xC4A1_0000_0000_0000    # | chain id
PRIORITY_STEER_IN, PRIORITY_STEER_SERVICE, PRIORITY_STEER_TO, PRIORITY_STEER_ON, PRIORITY_STEER_BACK = (
    400, 410, 500, 510, 520)
PRIORITY_STEER_OWN = 530
PRIORITY_CHAIN_REPLY, PRIORITY_CHAIN_REPLY_ON = 55, 57  # table 0, between tracking (50) and un-SNAT (60)
PRIORITY_UNTRANSLATED_REPLY, PRIORITY_UNTRANSLATED_VNF = 10, 20


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
    subset: str = ""  # the version it runs (a mesh subset); locality keeps each subset's share
    slot: int = 0     # stable number within its route (1..MAX_SLOT): registers, marks, counters


@dataclass(frozen=True)
class ServiceRoute:
    service: str
    vip: str
    protocol: str            # "tcp" | "udp"
    port: int
    endpoints: tuple[Endpoint, ...]
    service_id: int          # stable; gives the cookie, the group id and the meter id
    locality: bool = False   # each switch picks among the endpoints (of each subset) nearest to it
    rate_limit_kbps: int = 0  # a meter on every switch caps the service's traffic entering there; 0 = off

    def __post_init__(self):
        if any(not e.slot for e in self.endpoints):  # unnumbered endpoints take the lowest free slots
            taken = {e.slot for e in self.endpoints if e.slot}
            free = (n for n in range(1, MAX_SLOT + 1) if n not in taken)
            numbered = tuple(e if e.slot else replace(e, slot=next(free)) for e in self.endpoints)
            object.__setattr__(self, "endpoints", numbered)

    @property
    def cookie(self) -> int:
        return service_cookie(self.service_id)

    @property
    def group_id(self) -> int:
        return self.service_id

    @property
    def meter_id(self) -> int | None:
        return self.service_id if self.rate_limit_kbps else None


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
#               | ("resubmit", table) | ("ct", Ct)


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


def meter_burst_kbits(rate_kbps: int) -> int:
    """100 ms of traffic at the rate: enough for TCP to keep its window, small enough to cap."""
    return max(rate_kbps // 10, 64)


def _match(**fields) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(fields.items()))


FAILOVER_GROUP_BASE = 0x4000_0000  # fast-failover group ids; a service's group id is its (small) id


def failover_group_id(view: NetworkView, target: int) -> int:
    return FAILOVER_GROUP_BASE + view.switch_index(target)


def baseline_rules(view: NetworkView) -> tuple[list[Flow], list[Group]]:
    flows, groups = [], []
    gateway = view.gateway
    for dpid in view.switches:
        nat_zone, snat_zone = view.zones(dpid)
        flows += [
            Flow(dpid, TABLE_CLASSIFY, PRIORITY_MISS, (), (), TABLE_STEER, COOKIE_BASELINE),
            Flow(dpid, TABLE_CLASSIFY, PRIORITY_ARP, _match(eth_type=ETH_ARP), (("controller",),), None,
                 COOKIE_BASELINE),
            Flow(dpid, TABLE_SERVICE, PRIORITY_MISS, (), (), TABLE_STEER, COOKIE_BASELINE),
            Flow(dpid, TABLE_STEER, PRIORITY_MISS, (), (), TABLE_FORWARD, COOKIE_BASELINE),
            # a packet looked at untranslated (table 0, chained services' replies) that is not
            # steered: translated, on to the service stage as any other
            Flow(dpid, TABLE_UNTRANSLATED, PRIORITY_MISS, _match(eth_type=ETH_IPV4),
                 (("ct", Ct(nat_zone, TABLE_SERVICE)),), None, COOKIE_BASELINE),
            # hairpin connections of services removed since (their own rules went with them)
            Flow(dpid, TABLE_SERVICE, PRIORITY_HAIRPIN_EST,
                 _match(eth_type=ETH_IPV4, ct_state=CT_COMMITTED_FORWARD, ct_mark=(HAIRPIN_MARK, HAIRPIN_MARK)),
                 (("ct", Ct(snat_zone, TABLE_STEER)),), None, COOKIE_BASELINE),
            Flow(dpid, TABLE_UNSNAT, PRIORITY_MISS, _match(eth_type=ETH_IPV4),
                 (("ct", Ct(nat_zone, TABLE_SERVICE)),), None, COOKIE_BASELINE),
        ]
        for proto in (IP_NUMBERS[p] for p in SERVICE_PROTOCOLS):
            flows.append(Flow(dpid, TABLE_CLASSIFY, PRIORITY_TRACK, _match(eth_type=ETH_IPV4, ip_proto=proto),
                              (("ct", Ct(nat_zone, TABLE_SERVICE)),), None, COOKIE_BASELINE))
        if gateway:
            flows += [
                Flow(dpid, TABLE_CLASSIFY, PRIORITY_UNSNAT, _match(eth_type=ETH_IPV4, ipv4_dst=gateway),
                     (("ct", Ct(snat_zone, TABLE_UNSNAT)),), None, COOKIE_BASELINE),
                Flow(dpid, TABLE_HAIRPIN, PRIORITY_MISS, _match(eth_type=ETH_IPV4),
                     (("ct", Ct(snat_zone, TABLE_STEER, commit=True, nat=Nat("src", gateway))),), None,
                     COOKIE_BASELINE),
            ]
    # Fast failover: toward each switch, where a loop-free alternate next hop exists, a group
    # whose first bucket outputs to the primary port and the second to the alternate; the switch
    # itself moves to the alternate the moment the primary port goes down, before the controller
    # hears of it (and recomputes everything).
    failover: dict[tuple[int, int], int] = {}  # (switch, target switch) -> group id
    for target in view.switches if view.fast_failover else ():
        primary, backup = view.next_hops(target), view.backup_next_hops(target)
        group_id = failover_group_id(view, target)
        for dpid, port in backup.items():
            failover[(dpid, target)] = group_id
            groups.append(Group(dpid, group_id, ((0, (("output", primary[dpid]),)), (0, (("output", port),))),
                                COOKIE_BASELINE, "ff", (primary[dpid], port)))
    for host in view.hosts.values():
        toward = {**view.next_hops(host.dpid), host.dpid: host.port}
        for dpid, port in toward.items():
            out = ("group", failover[(dpid, host.dpid)]) if (dpid, host.dpid) in failover else ("output", port)
            flows.append(Flow(dpid, TABLE_FORWARD, PRIORITY_FORWARD, _match(eth_type=ETH_IPV4, ipv4_dst=host.ip),
                              (("set_field", "eth_dst", host.mac), out), None, COOKIE_BASELINE))
        # a hairpin connection's packets go back to the host they came from
        flows.append(Flow(host.dpid, TABLE_FORWARD, PRIORITY_FORWARD_BACK,
                          _match(in_port=host.port, eth_type=ETH_IPV4, ipv4_dst=host.ip),
                          (("set_field", "eth_dst", host.mac), ("output", IN_PORT)), None, COOKIE_BASELINE))
    return flows, groups


def bucket_weights(view: NetworkView, dpid: int, route: ServiceRoute) -> dict[int, int]:
    """Endpoint slot -> bucket weight of the service's group on one switch: the endpoints taking
    traffic that the switch reaches. With locality, each subset's share (the sum of its weights)
    goes to that subset's endpoints fewest hops from the switch, in their own proportions; the
    others of the subset get no new connections here (they are the fallback when those go)."""
    live = []
    for ep in route.endpoints:
        host = view.hosts.get(ep.host)
        if ep.weight > 0 and host is not None:
            hops = view.hop_counts(host.dpid).get(dpid)
            if hops is not None:  # None: cut off from this switch
                live.append((ep, hops))
    if not route.locality:
        return {ep.slot: ep.weight for ep, _ in live}
    subsets: dict[str, list[tuple[Endpoint, int]]] = {}
    for ep, hops in live:
        subsets.setdefault(ep.subset, []).append((ep, hops))
    shares: dict[int, float] = {}
    for members in subsets.values():
        nearest = min(hops for _, hops in members)
        near = [ep for ep, hops in members if hops == nearest]
        total, near_total = sum(ep.weight for ep, _ in members), sum(ep.weight for ep in near)
        for ep in near:
            shares[ep.slot] = ep.weight * total / near_total
    if not shares:
        return {}
    scale = min(1.0, MAX_BUCKET_WEIGHT / max(shares.values()))
    return {slot: max(1, round(share * scale)) for slot, share in shares.items()}


MAX_BUCKET_WEIGHT = 0xFFFF
DP_HASH_SLOTS = 256  # the most hash values Open vSwitch shares among a select group's buckets


def select_buckets(weights: dict[int, int]) -> list[tuple[int, int]]:
    """(endpoint slot, weight) buckets that Open vSwitch's datapath splits to within 1/256.

    The datapath picks a bucket by a hash of the connection's 5-tuple, over n hash values shared
    out among the buckets by weight (Webster's method), with n the power of two above total/least
    weight, at least 16 and at most 256. A 90/10 split thus gets 16 values, 14 and 2: 12.5%, not
    10%. A small extra bucket for the heaviest endpoint (the same actions) brings n to 256; weights
    too small to carry it are scaled up first (only their ratios count)."""
    items = [(slot, w) for slot, w in weights.items() if w > 0]
    total = sum(w for _, w in items)
    if len(items) < 2 or len(items) >= DP_HASH_SLOTS // 2:
        return items
    scale = max(1, min(-(-4 * DP_HASH_SLOTS // total), MAX_BUCKET_WEIGHT // max(w for _, w in items)))
    items = [(slot, w * scale) for slot, w in items]
    total *= scale
    if -(-total // min(w for _, w in items)) > DP_HASH_SLOTS // 2:
        return items  # already n = 256 (or more: then the datapath hashes in the slow path)
    small = -(-total // (DP_HASH_SLOTS - 1))  # total / small in (128, 255]: n = 256
    k = max(range(len(items)), key=lambda i: items[i][1])
    slot, heaviest = items[k]
    if heaviest - small < small:
        return items
    items[k] = (slot, heaviest - small)
    return items + [(slot, small)]


def service_rules(view: NetworkView, route: ServiceRoute) -> tuple[list[Flow], list[Group], list[Meter]]:
    proto = IP_NUMBERS[route.protocol]
    dst_field = f"{route.protocol}_dst"
    vip_match = dict(eth_type=ETH_IPV4, ipv4_dst=route.vip, ip_proto=proto, **{dst_field: route.port})
    meter = route.meter_id
    flows, groups, meters = [], [], []
    for dpid in view.switches:
        nat_zone, snat_zone = view.zones(dpid)
        weights = bucket_weights(view, dpid, route)
        # every endpoint's flows stay on every switch whatever its weight here (and only the group
        # changes with the weights), so its counters live as long as the route
        for ep in route.endpoints:
            chosen = _match(**vip_match, **{REG_SERVICE: route.service_id, REG_ENDPOINT: ep.slot})
            dnat = Nat("dst", ep.ip, ep.port)
            mark = connection_mark(route.service_id, ep.slot)
            flows.append(Flow(dpid, TABLE_ENDPOINT, PRIORITY_ENDPOINT, chosen,
                              (("ct", Ct(nat_zone, TABLE_STEER, commit=True, nat=dnat, mark=mark)),), None,
                              route.cookie))
            if view.gateway:  # the client is this endpoint: translate its source too (table 4)
                flows.append(Flow(dpid, TABLE_ENDPOINT, PRIORITY_ENDPOINT_HAIRPIN,
                                  _match(**dict(chosen), ipv4_src=ep.ip),
                                  (("ct", Ct(nat_zone, TABLE_HAIRPIN, commit=True, nat=dnat,
                                             mark=mark | HAIRPIN_MARK)),), None, route.cookie))
            # the connections committed here, per endpoint and direction: counted, metered, and
            # the hairpin ones sent through the hairpin zone
            flows.append(Flow(dpid, TABLE_SERVICE, PRIORITY_ACCOUNT,
                              _match(eth_type=ETH_IPV4, ct_state=CT_COMMITTED_FORWARD, ct_mark=mark),
                              (), TABLE_STEER, route.cookie, meter))
            flows.append(Flow(dpid, TABLE_SERVICE, PRIORITY_ACCOUNT,
                              _match(eth_type=ETH_IPV4, ct_state=CT_COMMITTED_REPLY,
                                     ct_mark=(mark, MARK_ENDPOINT_MASK)),
                              (), TABLE_STEER, route.cookie, meter))
            if view.gateway:
                flows.append(Flow(dpid, TABLE_SERVICE, PRIORITY_ACCOUNT,
                                  _match(eth_type=ETH_IPV4, ct_state=CT_COMMITTED_FORWARD,
                                         ct_mark=mark | HAIRPIN_MARK),
                                  (("ct", Ct(snat_zone, TABLE_STEER)),), None, route.cookie, meter))
        if meter is not None:
            meters.append(Meter(dpid, meter, route.rate_limit_kbps, meter_burst_kbits(route.rate_limit_kbps),
                                route.cookie))
        if not weights:
            continue  # every endpoint is cut off from this switch: the VIP's traffic falls to forward
        ordered = {ep.slot: weights[ep.slot] for ep in route.endpoints if ep.slot in weights}
        buckets = tuple((weight, (("set_field", REG_SERVICE, route.service_id), ("set_field", REG_ENDPOINT, slot),
                                  ("resubmit", TABLE_ENDPOINT)))
                        for slot, weight in select_buckets(ordered))
        groups.append(Group(dpid, route.group_id, buckets, route.cookie))
        flows.append(Flow(dpid, TABLE_SERVICE, PRIORITY_SERVICE, _match(**vip_match, ct_state=CT_NEW_CONNECTION),
                          (("group", route.group_id),), None, route.cookie, meter))
    return flows, groups, meters


@dataclass(frozen=True)
class Chain:
    name: str
    classifier: Classifier
    hops: tuple[tuple[str, ...], ...]  # per hop, its VNF instances' host names (flows spread over them)
    symmetric: bool
    chain_id: int

    @property
    def cookie(self) -> int:
        return COOKIE_CHAIN_BASE | self.chain_id


def _cidr(text: str) -> tuple[str, str] | str | None:
    """An OXM (address, mask) for a CIDR (the address alone for a /32), None for "" (any)."""
    if not text:
        return None
    net = ipaddress.IPv4Network(text)
    return str(net.network_address) if net.prefixlen == 32 else (str(net.network_address), str(net.netmask))


def _l4_matches(protocol: str, port: int, side: str) -> list[dict]:
    """Match fields for the protocol (and port on `side`: "dst" or "src"); several when "any"."""
    protocols = [protocol] if protocol else (list(SERVICE_PROTOCOLS) if port else [""])
    out = []
    for proto in protocols:
        fields: dict = {}
        if proto == ICMP:
            fields["ip_proto"] = IP_NUMBERS[ICMP]
        elif proto:
            fields["ip_proto"] = IP_NUMBERS[proto]
            if port:
                fields[f"{proto}_{side}"] = port
        out.append(fields)
    return out


def chain_services(chain: Chain, routes: list[ServiceRoute]) -> list[ServiceRoute]:
    """The service routes whose VIP:port the chain's classifier names: their traffic is recognised
    by its connection mark (after the VIP was translated to an endpoint at the client's switch)."""
    c = chain.classifier
    if not c.dst_cidr:
        return []
    net = ipaddress.IPv4Network(c.dst_cidr)
    return [r for r in routes if ipaddress.IPv4Address(r.vip) in net and c.protocol in ("", r.protocol)
            and c.dst_port in (0, r.port)]


def chain_rules(view: NetworkView, chain: Chain, routes: list[ServiceRoute]) -> tuple[list[Flow], list[Group]]:
    """The rules of one chain, on every switch (see the module's table 2).

    A VNF is one-armed: it takes the frames sent to its MAC and sends those it passes back out with
    its MAC as source. So the frames a VNF sends are recognised by their source MAC, wherever they
    are: on to the next hop, after the last on to forwarding. Traffic to a service is recognised
    at the client's switch by its connection's mark (its VIP is translated there, before steering).
    A hop of several instances is a SELECT group: Open vSwitch's datapath hashes the 5-tuple
    symmetrically, so a connection's packets, both ways, go through the same instance."""
    hops = [[view.hosts[h] for h in hop if h in view.hosts] for hop in chain.hops]
    if not hops or any(not hop for hop in hops):
        return [], []  # a VNF not attached (yet): the chain waits, traffic flows directly
    c = chain.classifier
    src, dst = _cidr(c.src_cidr), _cidr(c.dst_cidr)
    services = chain_services(chain, routes)
    flows: list[Flow] = []
    groups: dict[tuple[int, int], Group | None] = {}

    def steer(dpid: int, host) -> tuple | None:
        """Actions sending a frame to a VNF host from switch dpid; None if it is cut off."""
        port = host.port if host.dpid == dpid else view.next_hops(host.dpid).get(dpid)
        return None if port is None else (("set_field", "eth_dst", host.mac), ("output", port))

    def toward(dpid: int, k: int) -> tuple | None:
        """Actions sending a frame on to hop k (one of its instances) from switch dpid."""
        if len(hops[k]) == 1:
            return steer(dpid, hops[k][0])
        if (dpid, k) not in groups:
            reachable = [(i, h) for i, h in enumerate(hops[k]) if steer(dpid, h) is not None]
            buckets = tuple((w, (("set_field", "eth_dst", hops[k][i].mac), ("resubmit", TABLE_TOWARD)))
                            for i, w in select_buckets({i: 1 for i, _ in reachable}))
            groups[(dpid, k)] = Group(dpid, CHAIN_GROUP_BASE | chain.chain_id << 6 | k, buckets, chain.cookie) \
                if buckets else None
        group = groups[(dpid, k)]
        return None if group is None else (("group", group.group_id),)

    def add(dpid: int, priority: int, match: dict, actions: tuple | None, goto: int | None = None,
            table: int = TABLE_STEER) -> None:
        if actions is None and goto is None:
            return
        flows.append(Flow(dpid, table, priority, _match(eth_type=ETH_IPV4, **match), actions or (), goto,
                          chain.cookie))
        if actions and actions[-1][0] == "output":  # it may have to leave by the port it came in by
            port = actions[-1][1]
            flows.append(Flow(dpid, table, priority + 1, _match(eth_type=ETH_IPV4, in_port=port, **match),
                              actions[:-1] + (("output", IN_PORT),), None, chain.cookie))

    # (priority, match): traffic to an address by its fields; to a service by its connection's mark,
    # after the VIP's translation at the client's switch (the only switch that knows the mark)
    forward_in = [(PRIORITY_STEER_IN, dict(l4, **({"ipv4_src": src} if src else {}), **({"ipv4_dst": dst} if dst else {})))
                  for l4 in _l4_matches(c.protocol, c.dst_port, "dst")]
    reply_in = [(PRIORITY_STEER_IN, dict(l4, **({"ipv4_src": dst} if dst else {}), **({"ipv4_dst": src} if src else {})))
                for l4 in _l4_matches(c.protocol, c.dst_port, "src")]
    for route in services:
        forward_in.append((PRIORITY_STEER_SERVICE, dict({"ipv4_src": src} if src else {},
                                                        ct_state=CT_COMMITTED_FORWARD,
                                                        ct_mark=(route.service_id << 16, 0xFFFF_0000))))
    # A service's replies go through the chain before their translation back to the VIP, so a VNF
    # sees one connection both ways (client and instance): they are recognised by their source
    # (an instance of the service); at the client's switch, by their connection (table 7).
    instances = [dict(ip_proto=IP_NUMBERS[r.protocol], ipv4_src=ep.ip, **{f"{r.protocol}_src": ep.port})
                 for r in services for ep in r.endpoints]
    reply_out = list(instances)
    reply_out += [dict(ip_proto=IP_NUMBERS[r.protocol], ipv4_src=r.vip, **{f"{r.protocol}_src": r.port})
                  for r in services]  # after the translation back, at the client's switch
    if dst:
        reply_out += [dict(l4, ipv4_src=dst) for l4 in _l4_matches(c.protocol, c.dst_port, "src")]
    reply_out = list({tuple(sorted(m.items())): m for m in reply_out}.values())  # a VIP named both ways
    for dpid in view.switches:
        nat_zone, _ = view.zones(dpid)
        for k, hop in enumerate(hops):
            nxt = toward(dpid, k + 1) if k + 1 < len(hops) else None
            back = toward(dpid, k - 1) if chain.symmetric and k > 0 else None
            for vnf in hop:
                add(dpid, PRIORITY_STEER_TO, {"eth_dst": vnf.mac}, steer(dpid, vnf))
                if len(hop) > 1:
                    add(dpid, PRIORITY_STEER_TO, {"eth_dst": vnf.mac}, steer(dpid, vnf), table=TABLE_TOWARD)
                # its own traffic (answers from its metrics server, say) is not the chain's
                add(dpid, PRIORITY_STEER_OWN, {"eth_src": vnf.mac, "ipv4_src": vnf.ip}, None, TABLE_FORWARD)
                add(dpid, PRIORITY_STEER_ON, {"eth_src": vnf.mac}, nxt, None if nxt else TABLE_FORWARD)
                if not chain.symmetric:
                    continue
                for match in reply_out:
                    add(dpid, PRIORITY_STEER_BACK, {"eth_src": vnf.mac, **match}, back, None if back else TABLE_FORWARD)
                    if back and match in instances:  # before the service stage could touch it
                        add(dpid, PRIORITY_CHAIN_REPLY_ON, {"eth_src": vnf.mac, **match}, back, table=TABLE_CLASSIFY)
        first = toward(dpid, 0)
        for priority, match in forward_in:
            add(dpid, priority, match, first)
        if not chain.symmetric:
            continue
        last = toward(dpid, len(hops) - 1)
        for priority, match in reply_in:
            add(dpid, priority, match, last)
        for match in instances:
            add(dpid, PRIORITY_CHAIN_REPLY, match, (("ct", Ct(nat_zone, TABLE_UNTRANSLATED, translate=False)),),
                table=TABLE_CLASSIFY)
        for vnf in (v for hop in hops for v in hop):  # a VNF's output: on through the service stage as usual
            add(dpid, PRIORITY_UNTRANSLATED_VNF, {"eth_src": vnf.mac}, (("ct", Ct(nat_zone, TABLE_SERVICE)),),
                table=TABLE_UNTRANSLATED)
        for route in services:
            add(dpid, PRIORITY_UNTRANSLATED_REPLY,
                dict({"ipv4_dst": src} if src else {}, ct_state=CT_COMMITTED_REPLY,
                     ct_mark=(route.service_id << 16, 0xFFFF_0000)), last, table=TABLE_UNTRANSLATED)
    return flows, [g for g in groups.values() if g is not None]


def path_flows(view: NetworkView, path: ReservedPath) -> list[Flow]:
    src, dst = view.hosts[path.src], view.hosts[path.dst]
    return [Flow(dpid, TABLE_FORWARD, PRIORITY_PATH,
                 _match(in_port=in_port, eth_type=ETH_IPV4, ipv4_src=src.ip, ipv4_dst=dst.ip),
                 (("set_field", "eth_dst", dst.mac), ("output", out_port)), None, path.cookie)
            for dpid, in_port, out_port in path.hops]


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


def desired_rules(view: NetworkView, routes: list[ServiceRoute], paths: list[ReservedPath],
                  cache: "RuleCache | None" = None, chains: list[Chain] = ()) -> RuleSet:
    """Everything the switches should hold. With a cache, the baseline and each route's rules are
    reused while the view has not changed (they do not depend on one another)."""
    cache = cache if cache is not None else RuleCache()
    base_flows, base_groups = cache.get(view, "baseline", lambda: baseline_rules(view))
    flows: list[Flow] = list(base_flows)
    groups: list[Group] = list(base_groups)
    meters: list[Meter] = []
    for route in routes:
        f, g, m = cache.get(view, route, lambda route=route: service_rules(view, route))
        flows += f
        groups += g
        meters += m
    for path in paths:
        flows += path_flows(view, path)
    for chain in chains:
        f, g = chain_rules(view, chain, routes)
        flows += f
        groups += g
    cache.retain({"baseline", *routes})  # forget removed and replaced routes
    return RuleSet.of(flows, groups, meters)


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
    add_meters: list[Meter] = field(default_factory=list)
    modify_meters: list[Meter] = field(default_factory=list)
    delete_meters: list[Meter] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add_groups or self.modify_groups or self.delete_groups
                    or self.add_flows or self.delete_flows or self.add_meters or self.modify_meters
                    or self.delete_meters)


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
