"""`edge-tiered`: a cloud site on a core switch, aggregation switches, and edge sites of servers and devices.

Each edge site's switch is homed on two aggregation switches (when there are two or more),
so every site keeps a path to the core when one uplink is cut: the network has loops, and
the SDN controller must forward without flooding storms.

Delays (one way, each direction; docs/topologies.md gives the sources):
- a device's access link, DEVICE_DELAY_MS = 1 ms: the 5G radio's user-plane latency target for
  low-latency service (ITU-R M.2410, 3GPP TR 38.913: 1 ms; 4 ms for broadband);
- an edge server's access link, 0: a server in the site's rack is microseconds from its switch;
- a site's uplinks to aggregation, AGGREGATION_DELAY_MS = 2 ms: a regional aggregation point a
  few hundred km of fibre away (ITU-T G.114: 5 us per km);
- the core's links to aggregation, CORE_DELAY_MS = 10 ms: they stand for the path to the cloud
  region, so a device is 13 ms from the cloud and the registry one way (26 ms round trip: what
  users measure to their nearest cloud region, tens of ms) and 1 ms from a server at its own
  site (2 ms round trip).
"""

from __future__ import annotations

import random

from .spec import Addresses, HostSpec, LinkSpec, TopologySpec

# Edge-server capacities: the placement paper's ranges (P, S, B), read as millicores, MiB, Mbit/s.
SERVER_CPU = (10000, 12000)
SERVER_STORAGE = (2000, 3000)
SERVER_BANDWIDTH = (2000, 3000)

# One-way delays in ms, each direction (see the module's docstring for the figures behind them).
DEVICE_DELAY_MS = 1.0
SERVER_DELAY_MS = 0.0
AGGREGATION_DELAY_MS = 2.0
CORE_DELAY_MS = 10.0


def edge_tiered(*, sites: int = 3, aggregations: int = 2, servers_per_site: int = 2,
                devices_per_site: int = 2, core_mbps: float = 100.0, aggregation_mbps: float = 50.0,
                access_mbps: float = 20.0, device_delay_ms: float = DEVICE_DELAY_MS,
                server_delay_ms: float = SERVER_DELAY_MS, aggregation_delay_ms: float = AGGREGATION_DELAY_MS,
                core_delay_ms: float = CORE_DELAY_MS, seed: int = 0) -> TopologySpec:
    """The network; ValueError on a count below its minimum or a negative or non-finite delay."""
    if min(sites, aggregations, servers_per_site) < 1 or devices_per_site < 0:
        raise ValueError("edge-tiered needs at least one site, aggregation switch and server per site")
    rng = random.Random(seed)
    addresses = Addresses()
    switches = ["core", *(f"agg{k}" for k in range(1, aggregations + 1)),
                *(f"site{k}" for k in range(1, sites + 1))]
    links = [LinkSpec("core", f"agg{k}", core_mbps, core_delay_ms, source="core tier", delay_source="cloud region")
             for k in range(1, aggregations + 1)]
    for k in range(1, sites + 1):
        homes = {(k - 1) % aggregations + 1, k % aggregations + 1}
        for agg in sorted(homes):
            links.append(LinkSpec(f"agg{agg}", f"site{k}", aggregation_mbps, aggregation_delay_ms,
                                  source="aggregation tier", delay_source="regional aggregation"))

    hosts = []

    def add(name: str, switch: str, role: str, **capacity) -> None:
        ip, mac = addresses.next()
        hosts.append(HostSpec(name, switch, role, ip, mac, **capacity))

    add("cloud", "core", "cloud", cpu_millicores=64000, storage_mib=100000, bandwidth_mbps=core_mbps,
        access_mbps=core_mbps)
    add("registry", "core", "registry", access_mbps=core_mbps)
    server = device = 0
    for k in range(1, sites + 1):
        for _ in range(servers_per_site):
            server += 1
            add(f"edge{server}", f"site{k}", "edge-server",
                cpu_millicores=rng.randint(*SERVER_CPU), storage_mib=rng.randint(*SERVER_STORAGE),
                bandwidth_mbps=rng.randint(*SERVER_BANDWIDTH), access_mbps=access_mbps,
                access_delay_ms=server_delay_ms)
        for _ in range(devices_per_site):
            device += 1
            add(f"dev{device}", f"site{k}", "device", access_mbps=access_mbps, access_delay_ms=device_delay_ms)
    # Drawn in tiers: core on top, aggregation in the middle, edge sites at the bottom.
    positions = {"core": (0.0, 2.0)}
    for k in range(1, aggregations + 1):
        positions[f"agg{k}"] = (k - (aggregations + 1) / 2, 1.0)
    for k in range(1, sites + 1):
        positions[f"site{k}"] = ((k - (sites + 1) / 2) * 1.5, 0.0)
    spec = TopologySpec("edge-tiered", switches, hosts, links, positions=positions)
    spec.validate()
    return spec
