"""Whether the usable nodes could hold every instance at all: the cluster's CPU, memory and bandwidth
against what all instances request, checked before a deploy or a scale is accepted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from api.app import ServiceSpec
from component_base.errors import FailedPrecondition

from .store import NodeRecord


@dataclass(frozen=True)
class Requests:
    cpu_millicores: float = 0.0
    memory_mib: float = 0.0
    bandwidth_mbps: float = 0.0

    def __add__(self, other: "Requests") -> "Requests":
        return Requests(self.cpu_millicores + other.cpu_millicores, self.memory_mib + other.memory_mib,
                        self.bandwidth_mbps + other.bandwidth_mbps)


def requests_of(service: ServiceSpec, replicas: int = 1) -> Requests:
    return Requests(service.cpu_millicores * replicas, service.memory_mib * replicas,
                    service.bandwidth_mbps * replicas)


def total(requests: Iterable[Requests]) -> Requests:
    return sum(requests, Requests())


def check_capacity(what: str, nodes: list[NodeRecord], existing: Requests, adding: Requests) -> None:
    """FailedPrecondition, saying which resource and by how much, when `existing` (every instance the
    cluster already has, placed or pending) plus `adding` is more than `nodes` hold in all. Memory
    counts only when every node gives its memory (a node that does not is not limited by it)."""
    capacities = [("CPU", "millicores", existing.cpu_millicores, adding.cpu_millicores,
                   sum(n.cpu_millicores for n in nodes))]
    if nodes and all(n.memory_mib > 0 for n in nodes):
        capacities.append(("memory", "MiB", existing.memory_mib, adding.memory_mib, sum(n.memory_mib for n in nodes)))
    capacities.append(("bandwidth", "Mbit/s", existing.bandwidth_mbps, adding.bandwidth_mbps,
                       sum(n.bandwidth_mbps for n in nodes)))
    for resource, unit, used, more, capacity in capacities:
        if more > 0 and used + more > capacity + 1e-9:
            raise FailedPrecondition(
                f"{what} needs {more:,.0f} {unit} of {resource} more, and the {len(nodes)} usable node(s) have "
                f"{max(capacity - used, 0):,.0f} left of {capacity:,.0f} ({used:,.0f} already requested): "
                "nothing was changed")
