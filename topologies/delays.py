"""Link delays from geography (great-circle propagation) and a topology's delays summed up along its paths (pure)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import networkx as nx

from .spec import TopologySpec

EARTH_RADIUS_KM = 6371.0                     # the mean radius: a sphere, as the haversine formula takes it
SPEED_OF_LIGHT_KM_PER_MS = 299_792.458 / 1000
FIBRE_KM_PER_MS = SPEED_OF_LIGHT_KM_PER_MS * 2 / 3  # light in fibre: about 200 km per ms, 5 us per km
GREAT_CIRCLE = "great circle"       # a link's delay_source: propagation over its ends' distance
NO_COORDINATES = "no coordinates"   # a link's delay_source: an end has no coordinates, so no delay


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The distance in km between two points given in degrees, on a sphere of EARTH_RADIUS_KM (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def propagation_delay_ms(km: float) -> float:
    """One-way delay of `km` of fibre, at two thirds of the speed of light."""
    return km / FIBRE_KM_PER_MS


@dataclass(frozen=True)
class DelaySummary:
    """A topology's delays at a glance (milliseconds, one way)."""

    link_min_ms: float
    link_median_ms: float
    link_max_ms: float
    links_without_coordinates: int   # links whose delay is 0 because an end had no coordinates
    device_to_cloud_ms: float | None  # the farthest device's least delay to a cloud host; None: no such pair
    farthest_device: str | None


def path_delays_ms(spec: TopologySpec, source: str) -> dict[str, float]:
    """The least one-way delay from host `source` to every host it reaches: both access links and the
    switch links between (the least-delay path; equal to the shortest path's where delays are uniform
    per tier, as on edge-tiered)."""
    graph = nx.Graph()
    graph.add_nodes_from(spec.switches)
    for link in spec.links:  # parallel links: the faster one counts
        if not graph.has_edge(link.a, link.b) or graph[link.a][link.b]["delay"] > link.delay_ms:
            graph.add_edge(link.a, link.b, delay=link.delay_ms)
    start = spec.host(source)
    to_switch = nx.single_source_dijkstra_path_length(graph, start.switch, weight="delay")
    return {h.name: start.access_delay_ms + to_switch[h.switch] + h.access_delay_ms
            for h in spec.hosts if h.switch in to_switch and h.name != source}


def delay_summary(spec: TopologySpec) -> DelaySummary:
    """Min, median and max link delay, how many links lacked coordinates, and the longest
    one-way delay from a device to its nearest cloud host (the devices' worst case)."""
    delays = [link.delay_ms for link in spec.links] or [0.0]
    nearest: dict[str, float] = {}  # device -> its least delay to any cloud host (delays are the same both ways)
    devices = {h.name for h in spec.hosts_with_role("device")}
    for cloud in spec.hosts_with_role("cloud"):
        for name, ms in path_delays_ms(spec, cloud.name).items():
            if name in devices:
                nearest[name] = min(ms, nearest.get(name, math.inf))
    farthest = max(sorted(nearest), key=nearest.__getitem__, default=None)
    return DelaySummary(min(delays), statistics.median(delays), max(delays),
                        sum(1 for link in spec.links if link.delay_source == NO_COORDINATES),
                        None if farthest is None else nearest[farthest], farthest)
