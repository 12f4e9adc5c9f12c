"""The SDN daemon's state as Prometheus metrics, read from SdnCore at scrape time (read only)."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, REGISTRY
from prometheus_client.core import GaugeMetricFamily

from component_base.metrics import held, register_collector

from .core import SdnCore
from .network import POD


def sdn_families(core: SdnCore) -> list[GaugeMetricFamily]:
    """Counts taken under the core's lock (one consistent moment, a pass over its dicts), turned
    into families after it is released."""
    with held(core._lock):
        view = core.view
        switches, connected = len(view.switches), len(core.connected)
        # LinkInfo is one direction of a cable and both change state together: count each cable once.
        links = Counter("up" if l.up else "down" for l in view.links.values() if l.key < (l.dst, l.dst_port))
        roles = Counter(h.role for h in view.hosts.values() if h.role != POD)
        endpoints = len(core.endpoints)
        routes = len(core.routes)
        route_endpoints = sum(len(r.endpoints) for r in core.routes.values())
        paths = len(core.paths)
        reserved = sum(p.bandwidth_mbps for p in core.paths.values())
        flows = sum(len(rules.flows) for rules in core.installed.values())
        groups = sum(len(rules.groups) for rules in core.installed.values())
        meters = sum(len(getattr(rules, "meters", ())) for rules in core.installed.values())  # rate limits

    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, value=value)

    link_family = GaugeMetricFamily("strata_sdn_links", "Switch-to-switch links (each cable once), by state.",
                                    labels=["state"])
    for state in ("up", "down"):
        link_family.add_metric([state], links[state])
    host_family = GaugeMetricFamily("strata_sdn_hosts", "Hosts of the declared topology, by role.", labels=["role"])
    for role, count in sorted(roles.items()):
        host_family.add_metric([role], count)
    return [
        gauge("strata_sdn_switches", "Switches of the topology.", switches),
        gauge("strata_sdn_switches_connected", "Switches connected to the controller over OpenFlow.", connected),
        link_family,
        host_family,
        gauge("strata_sdn_endpoints_attached", "Pods attached by node agents (AttachEndpoint).", endpoints),
        gauge("strata_sdn_service_routes", "Service routes (a VIP to its endpoints).", routes),
        gauge("strata_sdn_service_route_endpoints", "Endpoints named by all service routes together.",
              route_endpoints),
        gauge("strata_sdn_reserved_paths", "Bandwidth-reserved paths installed.", paths),
        gauge("strata_sdn_reserved_bits_per_second", "Bandwidth reserved by all paths together.", reserved * 1e6),
        gauge("strata_sdn_flows_installed", "Strata's flow entries on the connected switches, as they confirmed.",
              flows),
        gauge("strata_sdn_groups_installed", "Strata's group entries on the connected switches, as they confirmed.",
              groups),
        gauge("strata_sdn_meters_installed", "Strata's meters on the connected switches, as they confirmed.", meters),
    ]


def register(core: SdnCore, registry: CollectorRegistry = REGISTRY):
    """Register the collector; returns the function that unregisters it."""
    return register_collector("sdn", lambda: sdn_families(core), registry)
