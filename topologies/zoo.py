"""`zoo:NAME_OR_PATH`: a Topology Zoo GraphML network as switches, each with an edge server and a device
(or another number of hosts per node: an edge server, then devices).

What the importer decides, and records in TopologySpec.notes:
- link bandwidth: LinkSpeedRaw (bit/s); else a rate read from LinkType/LinkLabel ("OC-192",
  "10GE", "2.5 Gbps"); else DEFAULT_LINK_BPS. Real rates are scaled down by RATE_SCALE to what
  the emulator carries, and clamped to [MIN_MBPS, MAX_MBPS];
- parallel edges between two nodes become one link with the sum of their rates;
- self-loops are dropped;
- link delay: the propagation delay of the great-circle distance between the link's two nodes
  (their Latitude/Longitude), at two thirds of the speed of light (about 5 us per km); a link
  with a node lacking coordinates gets no delay (0, delay_source "no coordinates"), and the
  notes say how many; hosts' access links have none (they stand at the node's point of presence);
- nodes without coordinates are drawn beside their neighbours (only drawings use positions);
- several components are joined into one: largest first, each further component is linked
  to what has been joined so far by the geographically nearest node pair (or the first
  nodes, without coordinates), at the default rate, so every host can reach every other.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import networkx as nx

from .delays import GREAT_CIRCLE, NO_COORDINATES, great_circle_km, propagation_delay_ms
from .spec import Addresses, HostSpec, LinkSpec, TopologySpec
from .tiered import SERVER_BANDWIDTH, SERVER_CPU, SERVER_STORAGE

ZOO_DIR = Path(__file__).resolve().parent / "zoo"
RATE_SCALE = 100.0            # 10 Gbit/s in the real network -> 100 Mbit/s emulated
MIN_MBPS, MAX_MBPS = 1.0, 1000.0
DEFAULT_LINK_BPS = 1e9        # when the Zoo says nothing: 1 Gbit/s (10 Mbit/s emulated)
ACCESS_MBPS = 20.0            # servers and devices to their switch
HOSTS_PER_NODE = 2            # an edge server and a device
MAX_HOSTS_PER_NODE = 16       # device names take a letter suffix: dev7, dev7b ... dev7p

_SONET = re.compile(r"OC-?(\d+)", re.IGNORECASE)
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*(G|M|K)(?:bits?(?:/s)?|bps|b/s|bE|E|igE|igabit|egabit|ilobit|b)?\b",
                   re.IGNORECASE)
_UNIT = {"G": 1e9, "M": 1e6, "K": 1e3}


def zoo_names() -> list[str]:
    return sorted(p.stem for p in ZOO_DIR.glob("*.graphml"))


def resolve(name_or_path: str) -> Path:
    """A bundled network by name (case-insensitive) or a GraphML file path."""
    path = Path(name_or_path)
    if path.suffix == ".graphml" or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"no such GraphML file: {path}")
        return path
    for name in zoo_names():
        if name.lower() == name_or_path.lower():
            return ZOO_DIR / f"{name}.graphml"
    raise FileNotFoundError(f"unknown Topology Zoo network {name_or_path!r}; bundled: {', '.join(zoo_names())}")


def link_rate_bps(data: dict) -> tuple[float | None, str]:
    """The real rate of a Zoo edge in bit/s and where it came from, or (None, "missing")."""
    raw = data.get("LinkSpeedRaw")
    if raw not in (None, ""):
        try:
            if float(raw) > 0:
                return float(raw), "LinkSpeedRaw"
        except (TypeError, ValueError):
            pass
    for key in ("LinkType", "LinkLabel", "LinkSpeed"):
        text = str(data.get(key) or "")
        sonet = _SONET.search(text)
        if sonet:
            return int(sonet.group(1)) * 51.84e6, key
        rate = _RATE.search(text)
        if rate:
            return float(rate.group(1)) * _UNIT[rate.group(2).upper()], key
    return None, "missing"


def emulated_mbps(bps: float) -> float:
    return min(MAX_MBPS, max(MIN_MBPS, round(bps / 1e6 / RATE_SCALE, 2)))


def _coordinates(data: dict) -> tuple[float, float] | None:
    """(longitude, latitude), or None when missing or not finite numbers."""
    try:
        lon, lat = float(data["Longitude"]), float(data["Latitude"])
    except (KeyError, TypeError, ValueError):
        return None
    return (lon, lat) if math.isfinite(lon) and math.isfinite(lat) else None


def link_delay(a: dict, b: dict) -> tuple[float, str]:
    """The one-way propagation delay (ms, to the microsecond) between two Zoo nodes and its
    delay_source: over their great-circle distance, or (0, NO_COORDINATES) when one lacks coordinates."""
    pa, pb = _coordinates(a), _coordinates(b)
    if pa is None or pb is None:
        return 0.0, NO_COORDINATES
    return round(propagation_delay_ms(great_circle_km(pa[1], pa[0], pb[1], pb[0])), 3), GREAT_CIRCLE


def _distance(a: dict, b: dict) -> float:
    pa, pb = _coordinates(a), _coordinates(b)
    if pa is None or pb is None:
        return math.inf
    return math.hypot(pa[0] - pb[0], pa[1] - pb[1])


def place_nodes(graph, undirected, nodes, switch_of, seed: int) -> dict[str, tuple[float, float]]:
    """Drawing positions (longitude, latitude); a node without coordinates goes to the mean of
    its placed neighbours (repeatedly, so chains of such nodes get placed), with a little jitter."""
    rng = random.Random(seed)
    known = {n: _coordinates(graph.nodes[n]) for n in nodes if _coordinates(graph.nodes[n]) is not None}
    if not known:  # a force layout (numpy alone up to 500 nodes); a circle beyond, for drawing only
        layout = nx.spring_layout(undirected, seed=seed) if len(undirected) < 500 else nx.circular_layout(undirected)
        return {switch_of[n]: (float(layout[n][0]), float(layout[n][1])) for n in nodes}
    centre = (sum(x for x, _ in known.values()) / len(known), sum(y for _, y in known.values()) / len(known))
    pending = [n for n in nodes if n not in known]
    while pending:
        progress = [n for n in pending if any(m in known for m in undirected[n])]
        for n in progress or pending[:1]:
            placed = [known[m] for m in undirected[n] if m in known] or [centre]
            x = sum(p[0] for p in placed) / len(placed) + rng.uniform(-0.5, 0.5)
            y = sum(p[1] for p in placed) / len(placed) + rng.uniform(-0.5, 0.5)
            known[n] = (x, y)
        pending = [n for n in pending if n not in known]
    return {switch_of[n]: known[n] for n in nodes}


def device_name(switch_number: str, k: int) -> str:
    """The k-th device (from 0) of a node: dev7, dev7b, dev7c ..."""
    return f"dev{switch_number}" + (chr(ord("a") + k) if k else "")


def load_zoo(name_or_path: str, *, seed: int = 0, hosts_per_node: int = HOSTS_PER_NODE) -> TopologySpec:
    """The network as a TopologySpec: a switch per node, `hosts_per_node` hosts on each (an edge
    server, then devices)."""
    if isinstance(hosts_per_node, bool) or not isinstance(hosts_per_node, int) \
            or not 1 <= hosts_per_node <= MAX_HOSTS_PER_NODE:
        raise ValueError(f"hosts per node must be a whole number from 1 to {MAX_HOSTS_PER_NODE}, "
                         f"not {hosts_per_node!r}")
    path = resolve(name_or_path)
    try:
        graph = nx.read_graphml(path)
    except Exception as exc:  # networkx raises several kinds on malformed files
        raise ValueError(f"{path}: not a readable GraphML file: {exc}") from exc
    notes: list[str] = []
    if graph.number_of_nodes() == 0:
        raise ValueError(f"{path}: the network has no nodes")

    # Merge parallel edges (summing rates), drop self-loops.
    rates: dict[tuple[str, str], list[tuple[float | None, str]]] = {}
    loops = 0
    for u, v, data in graph.edges(data=True):
        if u == v:
            loops += 1
            continue
        if graph.is_directed() and u > v and graph.has_edge(v, u):
            continue  # the reverse arc of a cable already counted from the other end
        rates.setdefault(tuple(sorted((u, v))), []).append(link_rate_bps(data))
    if graph.is_directed():
        notes.append("directed graph read as undirected: an arc and its reverse are one link")
    if loops:
        notes.append(f"dropped {loops} self-loop(s)")
    parallel = sum(len(r) - 1 for r in rates.values() if len(r) > 1)
    if parallel:
        notes.append(f"merged {parallel} parallel edge(s): one link with the sum of their rates")

    nodes = sorted(graph.nodes, key=lambda n: (len(n), n))
    switch_of = {n: f"z{k + 1}" for k, n in enumerate(nodes)}
    links, missing = [], 0
    for (u, v), found in sorted(rates.items()):
        known = [bps for bps, _ in found if bps is not None]
        missing += len(found) - len(known)
        bps = sum(known) + DEFAULT_LINK_BPS * (len(found) - len(known))
        source = found[0][1] if len(known) == len(found) else ("default" if not known else "mixed")
        delay_ms, delay_source = link_delay(graph.nodes[u], graph.nodes[v])
        links.append(LinkSpec(switch_of[u], switch_of[v], emulated_mbps(bps), delay_ms, source=source,
                              delay_source=delay_source))
    if missing:
        notes.append(f"{missing} of {sum(map(len, rates.values()))} edge(s) give no rate: "
                     f"{DEFAULT_LINK_BPS / 1e9:g} Gbit/s assumed")
    notes.append(f"rates scaled 1/{RATE_SCALE:g} to what the emulator carries, clamped to "
                 f"[{MIN_MBPS:g}, {MAX_MBPS:g}] Mbit/s")

    undirected = nx.Graph()
    undirected.add_nodes_from(nodes)
    undirected.add_edges_from(rates)
    components = sorted(nx.connected_components(undirected), key=lambda c: (-len(c), min(c)))
    if len(components) > 1:
        main = components[0]
        for comp in components[1:]:
            u, v = min(((a, b) for a in comp for b in main),
                       key=lambda p: (_distance(graph.nodes[p[0]], graph.nodes[p[1]]), p))
            delay_ms, delay_source = link_delay(graph.nodes[u], graph.nodes[v])
            links.append(LinkSpec(switch_of[u], switch_of[v], emulated_mbps(DEFAULT_LINK_BPS), delay_ms,
                                  source="joins components", delay_source=delay_source))
            main = main | comp
        notes.append(f"{len(components)} components joined into one by {len(components) - 1} added link(s)")

    without = sum(1 for link in links if link.delay_source == NO_COORDINATES)
    notes.append("link delays: great-circle propagation between the nodes at 2/3 of the speed of light"
                 + (f"; {without} of {len(links)} link(s) have an end without coordinates: no delay" if without else ""))

    positions = place_nodes(graph, undirected, nodes, switch_of, seed)
    missing_coords = sum(1 for n in nodes if _coordinates(graph.nodes[n]) is None)
    if missing_coords:
        notes.append(f"{missing_coords} node(s) without coordinates drawn beside their neighbours")

    rng = random.Random(seed)
    addresses = Addresses()
    hosts = []
    for n in nodes:
        sw = switch_of[n]
        ip, mac = addresses.next()
        hosts.append(HostSpec(f"srv{sw[1:]}", sw, "edge-server", ip, mac,
                              cpu_millicores=rng.randint(*SERVER_CPU), storage_mib=rng.randint(*SERVER_STORAGE),
                              bandwidth_mbps=rng.randint(*SERVER_BANDWIDTH), access_mbps=ACCESS_MBPS))
        for k in range(hosts_per_node - 1):
            ip, mac = addresses.next()
            hosts.append(HostSpec(device_name(sw[1:], k), sw, "device", ip, mac, access_mbps=ACCESS_MBPS))
    if hosts_per_node != HOSTS_PER_NODE:
        notes.append(f"{hosts_per_node} host(s) per node: an edge server"
                     + (f" and {hosts_per_node - 1} device(s)" if hosts_per_node > 1 else ", no device"))
    spec = TopologySpec(f"zoo:{path.stem}", [switch_of[n] for n in nodes], hosts, links, notes, positions)
    spec.validate()
    return spec
