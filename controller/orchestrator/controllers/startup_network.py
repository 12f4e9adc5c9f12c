"""The placement problem's network section from the SDN's switch graph, for start-up-aware and latency-aware placement (pure).

Cables are the switch links that are up both ways, at the bandwidth they have free (declared less
reserved, the narrower direction) and their declared delay (the longer direction); hosts hang where
the SDN places them, behind their declared access links. Sizes in the problem are in units of
`size_unit` bytes.
"""

from __future__ import annotations

import dataclasses
import logging

from controller.placement.model import Problem, ProblemError
from controller.placement.network import START_SECONDS, network_from_dict

from ..sources import SwitchGraph

log = logging.getLogger("strata.orchestrator")


def network_section(graph: SwitchGraph, servers: list[str], registry_host: str, size_unit: float,
                    start_seconds: float = START_SECONDS) -> dict:
    """The "network" section of the problem format (docs/placement.md) for these servers."""
    free: dict[frozenset[str], list[float]] = {}
    down: set[frozenset[str]] = set()
    for src, dst, capacity, reserved, up in graph.switch_links:
        if src == dst:
            continue
        cable = frozenset((src, dst))
        if not up:
            down.add(cable)
        free.setdefault(cable, []).append(capacity - reserved)
    def delay(cable: frozenset[str]) -> float:
        a, b = sorted(cable)
        return max(graph.link_delay.get((a, b), 0.0), graph.link_delay.get((b, a), 0.0), 0.0)

    links = [{"between": sorted(cable), "mbps": min(rates), **({"delay_ms": delay(cable)} if delay(cable) else {})}
             for cable, rates in sorted(free.items(), key=lambda c: sorted(c[0]))
             if cable not in down and len(rates) == 2 and min(rates) > 0]

    def attachment(host: str) -> dict:
        if host not in graph.host_switch:
            raise ProblemError(f"network: the SDN does not place {host}")
        delay_ms = max(graph.host_delay.get(host, 0.0), 0.0)
        return {"switch": graph.host_switch[host], "mbps": max(graph.host_access.get(host, 0.0), 0.0),
                **({"delay_ms": delay_ms} if delay_ms else {})}

    return {"registry": attachment(registry_host), "servers": {name: attachment(name) for name in servers},
            "links": links, "size_bytes": size_unit, "start_seconds": start_seconds}


def with_network(problem: Problem, graph: SwitchGraph, registry_host: str, size_unit: float) -> Problem:
    """The problem with its network section, or unchanged (logged) when the graph cannot give one:
    a host the SDN does not place, or no path from the registry to a server."""
    names = [s.name for s in problem.servers]
    try:
        network = network_from_dict(network_section(graph, names, registry_host, size_unit), names)
    except ProblemError as exc:
        log.warning("placing without the start-up estimate: %s", exc)
        return problem
    return dataclasses.replace(problem, network=network)
