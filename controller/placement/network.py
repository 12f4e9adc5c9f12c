"""The placement problem's network section: where the registry and the servers hang, and the links between switches."""

from __future__ import annotations

from dataclasses import dataclass
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
    """Where a host hangs: its switch and its access link's rate (each direction)."""

    switch: str
    mbps: float  # Mbit/s; 0 = not known: the access link is never the bottleneck


@dataclass(frozen=True)
class NetworkLink:
    """A cable between two switches, carrying `mbps` each way (full duplex)."""

    a: str
    b: str
    mbps: float  # Mbit/s, > 0


@dataclass(frozen=True)
class Network:
    """The network the layer pulls cross, for the start-up estimate (beyond the paper)."""

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


def _attachment(item: Any, where: str) -> Attachment:
    item = check_record(item, where, {"switch"}, {"mbps"})
    return Attachment(check_name(item["switch"], where, "switch"), check_number(item.get("mbps", 0), where, "mbps", positive=False))


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
        raw = check_record(raw, where, {"between", "mbps"})
        ends = raw["between"]
        if not (isinstance(ends, list) and len(ends) == 2):
            raise ProblemError(f"{where}: between must name two switches, got {ends!r}")
        a, b = (check_name(end, where, "a switch") for end in ends)
        if a == b:
            raise ProblemError(f'{where}: a link from "{a}" to itself')
        if frozenset((a, b)) in seen:
            raise ProblemError(f'{where}: a second link between "{a}" and "{b}"')
        seen.add(frozenset((a, b)))
        links.append(NetworkLink(a, b, check_number(raw["mbps"], where, "mbps", positive=True)))
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
    neighbours: dict[str, set[str]] = {}
    for link in network.links:
        neighbours.setdefault(link.a, set()).add(link.b)
        neighbours.setdefault(link.b, set()).add(link.a)
    reached, stack = {network.registry.switch}, [network.registry.switch]
    while stack:
        for there in neighbours.get(stack.pop(), ()):
            if there not in reached:
                reached.add(there)
                stack.append(there)
    cut = [name for name, at in network.servers if at.switch not in reached]
    if cut:
        raise ProblemError(f"network: no path of links from the registry's switch "
                           f'"{network.registry.switch}" to {", ".join(cut)}')


def network_to_dict(network: Network) -> dict:
    """The JSON form of the network section, inverse of network_from_dict."""
    return {"registry": {"switch": network.registry.switch, "mbps": network.registry.mbps},
            "servers": {name: {"switch": at.switch, "mbps": at.mbps} for name, at in network.servers},
            "links": [{"between": [link.a, link.b], "mbps": link.mbps} for link in network.links],
            "size_bytes": network.size_bytes, "start_seconds": network.start_seconds,
            "parallel_starts": network.parallel_starts, "parallel_downloads": network.parallel_downloads}
