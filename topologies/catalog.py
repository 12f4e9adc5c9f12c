"""Topologies by name: `edge-tiered` (the default) and `zoo:NAME_OR_PATH`, with a server profile and delays on or off."""

from __future__ import annotations

import dataclasses

from .delays import delay_summary
from .profiles import DEFAULT_PROFILE, apply_profile
from .spec import TopologySpec
from .tiered import edge_tiered
from .zoo import load_zoo, zoo_names

DEFAULT = "edge-tiered"


def topology_names() -> list[str]:
    return [DEFAULT, *(f"zoo:{name}" for name in zoo_names())]


def load_topology(name: str, *, hosts_per_node: int | None = None, profile: str = DEFAULT_PROFILE,
                  delays: bool = True) -> TopologySpec:
    """Raises ValueError (unknown name, bad file, bad option, unknown profile) with a message naming the
    choices. `hosts_per_node` applies to Topology Zoo networks only (None: their default); `profile`
    names the edge servers' capacities (topologies/profiles.py); `delays` False sets every link's and
    access link's delay and loss to 0."""
    if hosts_per_node is not None and not name.startswith("zoo:"):
        raise ValueError(f"hosts per node applies to zoo: networks, not {name!r} (its sites have their own hosts)")
    if name == DEFAULT:
        spec = edge_tiered()
    elif name.startswith("zoo:"):
        try:
            spec = load_zoo(name[4:], **({} if hosts_per_node is None else {"hosts_per_node": hosts_per_node}))
        except FileNotFoundError as exc:
            raise ValueError(str(exc)) from exc
    else:
        raise ValueError(f"unknown topology {name!r}; choose edge-tiered or zoo:NAME_OR_PATH "
                         f"(bundled: {', '.join(zoo_names())})")
    spec = apply_profile(spec, profile)
    return spec if delays else spec.without_delays()


def describe(spec: TopologySpec) -> str:
    """Nodes, links, capacities and delays as text."""
    lines = [f"topology {spec.name}: {len(spec.switches)} switches, {len(spec.hosts)} hosts, "
             f"{len(spec.links)} links"]
    for note in spec.notes:
        lines.append(f"  note: {note}")
    lines.append("")
    lines.append(f"{'host':<10} {'role':<12} {'switch':<8} {'ip':<12} {'cpu m':>7} {'mem MiB':>8} {'stor MiB':>9} "
                 f"{'bw Mb/s':>8} {'access':>7} {'acc ms':>7} {'acc loss%':>9}")
    for h in spec.hosts:
        lines.append(f"{h.name:<10} {h.role:<12} {h.switch:<8} {h.ip:<12} {h.cpu_millicores:>7g} "
                     f"{h.memory_mib:>8g} {h.storage_mib:>9g} {h.bandwidth_mbps:>8g} {h.access_mbps:>7g} "
                     f"{h.access_delay_ms:>7g} {h.access_loss_percent:>9g}")
    lines.append("")
    lines.append(f"{'link':<20} {'Mbit/s':>8} {'delay ms':>8} {'loss %':>6}  source (bandwidth; delay)")
    for link in spec.links:
        lines.append(f"{link.a + '-' + link.b:<20} {link.bandwidth_mbps:>8g} {link.delay_ms:>8g} "
                     f"{link.loss_percent:>6g}  {link.source}; {link.delay_source or '-'}")
    summary = delay_summary(spec)
    lines.append("")
    lines.append(f"link delay (one way): min {summary.link_min_ms:g} ms, median {summary.link_median_ms:g} ms, "
                 f"max {summary.link_max_ms:g} ms"
                 + (f"; {summary.links_without_coordinates} link(s) without coordinates (no delay)"
                    if summary.links_without_coordinates else ""))
    if summary.device_to_cloud_ms is not None:
        lines.append(f"device to cloud (one way, the farthest device, {summary.farthest_device}): "
                     f"{summary.device_to_cloud_ms:g} ms ({2 * summary.device_to_cloud_ms:g} ms round trip)")
    return "\n".join(lines)


def as_dict(spec: TopologySpec) -> dict:
    """The topology as JSON-ready data: every host's and link's fields (delays and losses among them),
    the notes, and the delay summary (`strata topo show -o json`)."""
    return {"name": spec.name, "switches": list(spec.switches),
            "hosts": [dataclasses.asdict(h) for h in spec.hosts],
            "links": [dataclasses.asdict(link) for link in spec.links],
            "notes": list(spec.notes), "delays": dataclasses.asdict(delay_summary(spec))}


def draw(spec: TopologySpec, path: str) -> None:
    """A PNG of the switch graph (edge widths by bandwidth) with hosts per switch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(spec.switches)
    for link in spec.links:
        graph.add_edge(link.a, link.b, bw=link.bandwidth_mbps)
    pos = spec.positions or nx.spring_layout(graph, seed=1)
    top = max((l.bandwidth_mbps for l in spec.links), default=1.0)
    fig, ax = plt.subplots(figsize=(10, 7), dpi=110)
    nx.draw_networkx_edges(graph, pos, ax=ax, width=[0.6 + 3 * d["bw"] / top for *_, d in graph.edges(data=True)],
                           edge_color="#777777")
    hosts_on = {sw: sum(1 for h in spec.hosts if h.switch == sw) for sw in spec.switches}
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=[120 + 60 * hosts_on[s] for s in spec.switches],
                           node_color="#2c7fb8")
    if len(spec.switches) <= 60:
        nx.draw_networkx_labels(graph, pos, ax=ax, font_size=7, font_color="black",
                                verticalalignment="bottom")
    ax.set_title(f"{spec.name}: {len(spec.switches)} switches, {len(spec.hosts)} hosts "
                 f"(edge width ~ bandwidth, max {top:g} Mbit/s)")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
