"""The mesh as Prometheus metrics: its services and ejections from its own state, the traffic from
the switches' counters (one GetServiceStats call to the SDN daemon per scrape)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from component_base.metrics import register_collector

from .core import MeshCore


def mesh_families(core: MeshCore) -> list:
    statuses = core.list()
    services = GaugeMetricFamily("strata_mesh_services", "Services registered with the mesh.", value=len(statuses))
    routed = GaugeMetricFamily("strata_mesh_service_routed",
                               "1 when the switches hold the service's route as the mesh wants it.", labels=["service"])
    weight = GaugeMetricFamily("strata_mesh_endpoint_weight", "An endpoint's share weight in the switches' groups.",
                               labels=["service", "subset", "endpoint"])
    ejected = GaugeMetricFamily("strata_mesh_endpoint_ejected", "1 while outlier detection ejects the endpoint.",
                                labels=["service", "subset", "endpoint"])
    ejections = CounterMetricFamily("strata_mesh_endpoint_ejections_total",
                                    "Times outlier detection ejected the endpoint.", labels=["service", "subset", "endpoint"])
    for status in statuses:
        name = status.service.name
        routed.add_metric([name], int(status.routed))
        for e in status.endpoints:
            labels = [name, e.endpoint.subset, e.endpoint.host]
            weight.add_metric(labels, e.weight)
            ejected.add_metric(labels, int(e.ejected))
            ejections.add_metric(labels, e.ejections)
    families = [services, routed, weight, ejected, ejections]
    if not statuses:
        return families
    labels = ["service", "subset", "endpoint"]
    connections = CounterMetricFamily("strata_mesh_connections_total",
                                      "Connections opened to an endpoint through the service's VIP.", labels=labels)
    packets = CounterMetricFamily("strata_mesh_packets_total", "Packets of the service's connections, by direction "
                                  "(request: from clients; response: their answers).", labels=[*labels, "direction"])
    octets = CounterMetricFamily("strata_mesh_bytes_total", "Bytes of the service's connections, by direction.",
                                 labels=[*labels, "direction"])
    dropped = CounterMetricFamily("strata_mesh_rate_limited_packets_total",
                                  "Packets the service's rate-limit meters dropped.", labels=["service"])
    for name, counters in core.stats([]).items():
        dropped.add_metric([name], counters.dropped_packets)
        for e in counters.endpoints:
            at = [name, e.subset, e.host]
            connections.add_metric(at, e.connections)
            packets.add_metric([*at, "request"], e.tx_packets)
            packets.add_metric([*at, "response"], e.rx_packets)
            octets.add_metric([*at, "request"], e.tx_bytes)
            octets.add_metric([*at, "response"], e.rx_bytes)
    return families + [connections, packets, octets, dropped]


def register(core: MeshCore, registry: CollectorRegistry = REGISTRY):
    """Register the collector; returns the function that unregisters it."""
    return register_collector("mesh", lambda: mesh_families(core), registry)
