"""Where a service's declared clients are (strata.io/clients), as the placement problem's client attachments (pure).

A client name is a host of the network (a device, "dev4"), which puts its clients at the host's
switch behind its access link; or a switch (an edge site, "site1"), which stands for the devices
hanging off it: at that switch, behind the mean of their access links' delays (0 where no device
hangs there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from component_base.errors import FailedPrecondition
from controller.placement.model import Problem
from controller.placement.network import Client

from ..sources import SwitchGraph

DEVICE = "device"


def switches(graph: SwitchGraph) -> set[str]:
    """Every switch the graph knows: ends of its links and the switches hosts hang off."""
    return {end for src, dst, *_ in graph.switch_links for end in (src, dst)} | set(graph.host_switch.values())


def client_at(graph: SwitchGraph, name: str, known_switches: set[str] | None = None) -> Client | None:
    """Where the clients called `name` reach the network (weight 1), or None when it is neither a
    host nor a switch of the graph."""
    if name in graph.host_switch:
        return Client(graph.host_switch[name], max(graph.host_delay.get(name, 0.0), 0.0))
    if name in (known_switches if known_switches is not None else switches(graph)):
        devices = [max(graph.host_delay.get(host, 0.0), 0.0) for host, switch in graph.host_switch.items()
                   if switch == name and graph.host_role.get(host) == DEVICE]
        return Client(name, sum(devices) / len(devices) if devices else 0.0)
    return None


def unknown_clients(graph: SwitchGraph, clients: Mapping[str, tuple[tuple[str, float], ...]]) -> list[tuple[str, str]]:
    """(service, name) of every client name that is neither a host nor a switch of the graph."""
    known = switches(graph)
    return [(service, name) for service, named in clients.items() for name, _ in named
            if client_at(graph, name, known) is None]


def with_clients(problem: Problem, graph: SwitchGraph, clients: Mapping[str, tuple[tuple[str, float], ...]],
                 bounds: Mapping[str, float] | None = None) -> Problem:
    """The problem with each container of a service in `clients` (by the containers' service
    name) given that service's clients, and its bound from `bounds` (max_client_delay_ms, where
    it has clients left); needs the problem's network section (unchanged without).
    Names the graph does not know, and switches the network section's links do not reach, are
    left out (Deploy refused unknown names; a later topology may lack them, or a link be down).
    Two names at one switch (a site and one of its devices) become one client there, their
    weights added and their delays averaged by weight. FailedPrecondition when a bound cannot be
    checked: no network section, or none of the service's clients left."""
    bounds = bounds or {}
    services = {c.service_name for c in problem.containers}
    if problem.network is None:
        if any(service in services for service in bounds):
            raise FailedPrecondition("a client delay bound cannot be checked: the network is not known (the SDN "
                                     "does not place the registry or a node, or no path leads to one)")
        return problem
    known = switches(graph)
    attached: dict[str, tuple[Client, ...]] = {}
    for service, named in clients.items():
        at_switch: dict[str, list[tuple[Client, float]]] = {}
        for name, weight in named:
            client = client_at(graph, name, known)
            if client is not None and client.switch in problem.network.reached:
                at_switch.setdefault(client.switch, []).append((client, weight))
        attached[service] = tuple(
            Client(switch, sum(c.delay_ms * w for c, w in group) / sum(w for _, w in group), sum(w for _, w in group))
            for switch, group in sorted(at_switch.items()))
    for service in bounds:
        if service in services and not attached.get(service):
            raise FailedPrecondition(f"service {service}: no client of it is reachable, so its client delay bound "
                                     "cannot be checked")
    containers = tuple(dataclasses.replace(c, clients=attached[c.service_name],
                                           max_client_delay_ms=bounds.get(c.service_name, 0.0))
                       if attached.get(c.service_name) else c for c in problem.containers)
    return dataclasses.replace(problem, containers=containers)
