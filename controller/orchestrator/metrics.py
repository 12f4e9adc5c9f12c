"""The orchestrator's state as Prometheus metrics, read at scrape time.

Read through its public views (list_nodes, deployments: each holds the store's lock briefly and
does no I/O)."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from component_base.metrics import register_collector

from .core import Orchestrator

PHASES = ("pending", "starting", "running", "failed", "unknown")  # InstanceView.phase


def orchestrator_families(orchestrator: Orchestrator) -> list:
    nodes = orchestrator.list_nodes()
    deployments = orchestrator.deployments()
    phases = Counter(i.phase for d in deployments for i in d.instances)

    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, value=value)

    instances = GaugeMetricFamily("strata_orchestrator_instances", "Desired instances, by phase.", labels=["phase"])
    for phase in PHASES:
        instances.add_metric([phase], phases[phase])
    # What each node's agent last reported: its own totals since it started (a restart resets them).
    pulled = CounterMetricFamily("strata_orchestrator_node_pulled_bytes_total",
                                 "Layer bytes a node pulled, from the registry or from peers, as it last reported.",
                                 labels=["node", "source"])
    stored = GaugeMetricFamily("strata_orchestrator_node_storage_used_bytes",
                               "Bytes in a node's layer store, as it last reported.", labels=["node"])
    for view in nodes:
        name = view.record.name
        pulled.add_metric([name, "registry"], view.observed.pulled_bytes_total)
        pulled.add_metric([name, "peer"], view.observed.peer_bytes_total)
        stored.add_metric([name], view.observed.storage_used)
    planned = GaugeMetricFamily("strata_orchestrator_deployment_planned_bytes",
                                "Layer bytes placement planned to store anew for a deployment.", labels=["app"])
    fetched = GaugeMetricFamily("strata_orchestrator_deployment_pulled_bytes",
                                "Layer bytes the nodes fetched to start a deployment's current instances.",
                                labels=["app", "source"])
    for d in deployments:
        name = d.app.spec.name
        planned.add_metric([name], d.app.planned_bytes)
        fetched.add_metric([name, "registry"], sum(i.record.pulled_bytes for i in d.instances))
        fetched.add_metric([name, "peer"], sum(i.record.peer_bytes for i in d.instances))
    return [
        gauge("strata_orchestrator_nodes", "Nodes registered.", len(nodes)),
        gauge("strata_orchestrator_nodes_ready", "Nodes heartbeating.", sum(v.ready for v in nodes)),
        gauge("strata_orchestrator_deployments", "Applications deployed.", len(deployments)),
        gauge("strata_orchestrator_deployments_ready", "Applications whose instances all run and are routed.",
              sum(d.ready for d in deployments)),
        instances, pulled, stored, planned, fetched,
    ]


def register(orchestrator: Orchestrator, registry: CollectorRegistry = REGISTRY):
    """Register the collector; returns the function that unregisters it."""
    return register_collector("orchestrator", lambda: orchestrator_families(orchestrator), registry)
