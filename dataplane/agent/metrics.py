"""A node agent's state as Prometheus metrics, read at scrape time (each read holds one lock briefly)."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from component_base.metrics import register_collector

from .state import RESTARTING, RUNNING, STOPPED


def agent_families(node, blobs=None) -> list:
    """`node`: a dataplane.agent.node.Node; `blobs`: its BlobServer, if it serves peers."""
    states = Counter(record.state for record in node.containers())
    held = node.store.held()

    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, value=value)

    # Each agent is its own scrape target (instance = its address); this names its edge server.
    info = InfoMetricFamily("strata_agent", "The edge server this agent runs on.", value={"node": node.config.name})
    containers = GaugeMetricFamily("strata_agent_containers", "Containers on this node, by state.", labels=["state"])
    for state in (RUNNING, RESTARTING, STOPPED):
        containers.add_metric([state], states[state])
    pulled = CounterMetricFamily("strata_agent_layer_pulled_bytes_total",
                                 "Layer bytes fetched since the agent started, from the registry or from peers.",
                                 labels=["source"])
    pulled.add_metric(["registry"], node.pulled_bytes_total)
    pulled.add_metric(["peer"], node.peer_bytes_total)
    families = [
        info, containers, pulled,
        gauge("strata_agent_layers_held", "Layers in the node's layer store.", len(held)),
        gauge("strata_agent_layer_store_used_bytes", "Layer store bytes held, and reserved by pulls in progress.",
              node.store.used_bytes()),
        gauge("strata_agent_layer_store_capacity_bytes", "Layer store capacity.", node.store.capacity_bytes),
    ]
    if blobs is not None:
        families += [
            CounterMetricFamily("strata_agent_blob_served_bytes_total", "Layer blob bytes sent to peers.",
                                value=blobs.served_bytes),
            CounterMetricFamily("strata_agent_blob_requests_total", "Requests the blob server answered.",
                                value=blobs.requests),
        ]
    return families


def register(node, blobs=None, registry: CollectorRegistry = REGISTRY):
    """Register the collector; returns the function that unregisters it."""
    return register_collector("agent", lambda: agent_families(node, blobs), registry)
