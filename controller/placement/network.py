"""The placement problem's network section: where the registry, the servers and the clients hang, and the links between switches."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .validation import ProblemError, check_name, check_number, check_record, check_whole

# Start-up estimate defaults (the network section, controller/placement/startup.py).
# Seconds a node takes to start one container once its layers are there: mount, pod network,
# SDN endpoint, runc, the program listening. Measured by bench/agent_startup.py on edge-tiered on
# the project's 2-core machine (docs/placement.md, "Start-up-aware placement"): N=1 with the
# agent's defaults, all ready in 0.52 s (median of 3), less the 0.11 s its 0.26 MB take to pull
# at 19.1 Mbit/s.
START_SECONDS = 0.4
PARALLEL_STARTS = 4  # the agent's max_parallel_starts (dataplane/agent/node.py)
PARALLEL_DOWNLOADS = 3  # the agent's max_concurrent_downloads: layers one image pull fetches at once
SIZE_BYTES = 1e6  # bytes per unit of layer size when the network section does not say


@dataclass(frozen=True)
class Attachment:
    """Where a host hangs: its switch and its access link's rate and delay (each direction)."""

    switch: str
    mbps: float  # Mbit/s; 0 = not known: the access link is never the bottleneck
    delay_ms: float = 0.0  # one-way delay of the access link, ms


@dataclass(frozen=True)
class NetworkLink:
    """A cable between two switches, carrying `mbps` each way (full duplex) with a one-way delay."""

    a: str
    b: str
    mbps: float  # Mbit/s, > 0
    delay_ms: float = 0.0  # one-way delay, each direction, ms


@dataclass(frozen=True)
class Client:
    """Where some of a container's clients are (beyond the paper): at a switch, behind an access
    link of `delay_ms`, with a weight, their share of its clients relative to the others'."""

    switch: str
    delay_ms: float = 0.0  # one-way delay from the clients to `switch`, ms
    weight: float = 1.0  # > 0


@dataclass(frozen=True)
class Network:
    """The network the layer pulls cross, for the start-up estimate, and the clients' delays cross (beyond the paper)."""

    registry: Attachment
    servers: tuple[tuple[str, Attachment], ...]  # (server, where it hangs), every server of the problem
    links: tuple[NetworkLink, ...]
    size_bytes: float = SIZE_BYTES  # bytes per unit of layer size
    start_seconds: float = START_SECONDS  # a node's time to start one container, s
    parallel_starts: int = PARALLEL_STARTS  # containers a node starts at once
    parallel_downloads: int = PARALLEL_DOWNLOADS  # layers one image pull fetches at once

    @property
    def attachment(self) -> dict[str, Attachment]:
        return dict(self.servers)

    @cached_property
    def reached(self) -> frozenset[str]:
        """The switches a path of links leads to from the registry's (itself included)."""
        neighbours: dict[str, set[str]] = {}
        for link in self.links:
            neighbours.setdefault(link.a, set()).add(link.b)
            neighbours.setdefault(link.b, set()).add(link.a)
        reached, stack = {self.registry.switch}, [self.registry.switch]
        while stack:
            for there in neighbours.get(stack.pop(), ()):
                if there not in reached:
                    reached.add(there)
                    stack.append(there)
        return frozenset(reached)


def _attachment(item: Any, where: str) -> Attachment:
    item = check_record(item, where, {"switch"}, {"mbps", "delay_ms"})
    return Attachment(check_name(item["switch"], where, "switch"),
                      check_number(item.get("mbps", 0), where, "mbps", positive=False),
                      check_number(item.get("delay_ms", 0), where, "delay_ms", positive=False))


def _attachment_to_dict(at: Attachment) -> dict:
    return {"switch": at.switch, "mbps": at.mbps, **({"delay_ms": at.delay_ms} if at.delay_ms else {})}


def network_from_dict(item: Any, server_names: list[str]) -> Network:
    """Validate the optional "network" section (docs/placement.md, "Start-up-aware placement")."""
    item = check_record(item, "network", {"registry", "servers", "links"},
                   {"size_bytes", "start_seconds", "parallel_starts", "parallel_downloads"})
    registry = _attachment(item["registry"], "network: registry")
    attached = item["servers"]
    if not isinstance(attached, dict):
        raise ProblemError("network: servers must be an object of server name to attachment")
    for name in attached:
        if name not in server_names:
            raise ProblemError(f'network: servers names "{name}", which is not a server')
    missing = [name for name in server_names if name not in attached]
    if missing:
        raise ProblemError(f"network: servers does not say where {', '.join(missing)} hang(s)")
    servers = tuple((name, _attachment(attached[name], f'network: servers ("{name}")')) for name in server_names)
    if not isinstance(item["links"], list):
        raise ProblemError(f"network: links must be a list, got {type(item['links']).__name__}")
    links: list[NetworkLink] = []
    seen: set[frozenset[str]] = set()
    for k, raw in enumerate(item["links"]):
        where = f"network: links[{k}]"
        raw = check_record(raw, where, {"between", "mbps"}, {"delay_ms"})
        ends = raw["between"]
        if not (isinstance(ends, list) and len(ends) == 2):
            raise ProblemError(f"{where}: between must name two switches, got {ends!r}")
        a, b = (check_name(end, where, "a switch") for end in ends)
        if a == b:
            raise ProblemError(f'{where}: a link from "{a}" to itself')
        if frozenset((a, b)) in seen:
            raise ProblemError(f'{where}: a second link between "{a}" and "{b}"')
        seen.add(frozenset((a, b)))
        links.append(NetworkLink(a, b, check_number(raw["mbps"], where, "mbps", positive=True),
                                 check_number(raw.get("delay_ms", 0), where, "delay_ms", positive=False)))
    network = Network(
        registry, servers, tuple(links),
        check_number(item.get("size_bytes", SIZE_BYTES), "network", "size_bytes", positive=True),
        check_number(item.get("start_seconds", START_SECONDS), "network", "start_seconds", positive=False),
        check_whole(item.get("parallel_starts", PARALLEL_STARTS), "network", "parallel_starts", least=1),
        check_whole(item.get("parallel_downloads", PARALLEL_DOWNLOADS), "network", "parallel_downloads", least=1))
    _check_connected(network)
    return network


def _check_connected(network: Network) -> None:
    """Every server's switch must be reachable from the registry's: its pulls need a path."""
    cut = [name for name, at in network.servers if at.switch not in network.reached]
    if cut:
        raise ProblemError(f"network: no path of links from the registry's switch "
                           f'"{network.registry.switch}" to {", ".join(cut)}')


def clients_from_list(value: Any, where: str, network: Network | None) -> tuple[Client, ...]:
    """A container's "clients": switches of the network section, each once, with their access
    delays and weights (docs/placement.md, "Latency-aware placement")."""
    if not isinstance(value, list):
        raise ProblemError(f"{where}: clients must be a list of {{switch, delay_ms, weight}}, got {value!r}")
    if value and network is None:
        raise ProblemError(f"{where}: clients need the problem's network section (their delays are over its links)")
    clients = []
    for k, item in enumerate(value):
        at = f"{where}: clients[{k}]"
        item = check_record(item, at, {"switch"}, {"delay_ms", "weight"})
        switch = check_name(item["switch"], at, "switch")
        if switch not in network.reached:
            raise ProblemError(f'{at}: switch "{switch}" is not one the network section links to its servers')
        if any(c.switch == switch for c in clients):
            raise ProblemError(f'{at}: switch "{switch}" is listed twice')
        clients.append(Client(switch, check_number(item.get("delay_ms", 0), at, "delay_ms", positive=False),
                              check_number(item.get("weight", 1), at, "weight", positive=True)))
    return tuple(clients)


def clients_to_list(clients: tuple[Client, ...]) -> list[dict]:
    """The JSON form of a container's clients, inverse of clients_from_list."""
    return [{"switch": c.switch, **({"delay_ms": c.delay_ms} if c.delay_ms else {}),
             **({"weight": c.weight} if c.weight != 1 else {})} for c in clients]


def network_to_dict(network: Network) -> dict:
    """The JSON form of the network section, inverse of network_from_dict."""
    return {"registry": _attachment_to_dict(network.registry),
            "servers": {name: _attachment_to_dict(at) for name, at in network.servers},
            "links": [{"between": [link.a, link.b], "mbps": link.mbps,
                       **({"delay_ms": link.delay_ms} if link.delay_ms else {})} for link in network.links],
            "size_bytes": network.size_bytes, "start_seconds": network.start_seconds,
            "parallel_starts": network.parallel_starts, "parallel_downloads": network.parallel_downloads}
