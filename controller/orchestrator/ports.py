"""What the orchestrator needs from outside, as Protocols.

Placement, the SDN's switch graph, the mesh, the node agents, the image registry: gRPC and HTTP
adapters implement them, tests use fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from api.app import ServiceSpec
from api.network_policy import ResolvedPolicies
from controller.placement.model import Problem
from controller.placement.result import PlacementResult

from .sources import SwitchGraph
from .store import NodeRecord, ServiceImage


class Placer(Protocol):
    def solve(self, problem: Problem, algorithm: str, startup_weight: float = 0.0,
              latency_weight: float = 0.0) -> PlacementResult: ...


class Prober(Protocol):
    """Whether a TCP connection to ip:port is made within `timeout` s (a pod answering on the data plane)."""

    def answers(self, ip: str, port: int, timeout: float) -> bool: ...


class Sdn(Protocol):
    def switch_graph(self) -> SwitchGraph: ...

    def set_policies(self, resolved: ResolvedPolicies) -> None:
        """Has every switch enforce these network policies (replacing the previous ones)."""


@dataclass(frozen=True)
class RouteEndpoint:
    host: str  # "node/container": the SDN's name of the pod
    ip: str
    port: int
    subset: str = ""  # the version it runs


Route = tuple[str, int, tuple[RouteEndpoint, ...]]  # (VIP, port, endpoints sorted by host)


class Mesh(Protocol):
    """The service mesh, which keeps each service's VIP routed to its endpoints (by its policy)."""

    def routes(self) -> dict[str, Route]: ...

    def put_route(self, name: str, vip: str, port: int, endpoints: Sequence[RouteEndpoint]) -> None: ...

    def remove_route(self, name: str) -> None: ...


@dataclass(frozen=True)
class RunRequest:
    name: str
    image: str
    cpu_millicores: float
    env: tuple[str, ...]
    command: tuple[str, ...]
    labels: dict
    hosts: dict
    layer_sources: dict  # digest -> peer blob URL
    capabilities: tuple[str, ...] = ()  # beyond the default set (a VNF's CAP_NET_RAW)
    ready_port: int = 0  # the agent reports it ready once it listens there; 0 = once it runs
    memory_limit_mib: float = 0.0  # the container's cgroup memory limit, MiB; 0 = the node's default
    memory_request_mib: float = 0.0  # what the node sets aside for it, MiB (its admission); 0 = none
    pids_limit: int = 0  # its processes and threads; 0 = the node's default


@dataclass(frozen=True)
class RunResult:
    ip: str
    ready: bool  # listening on its ready port already
    pulled_bytes: int
    peer_bytes: int


class Agents(Protocol):
    def run(self, node: NodeRecord, request: RunRequest) -> RunResult: ...

    def remove(self, node: NodeRecord, name: str) -> None: ...


# The phases an image goes through on its way to the registry (proto ImagePhase).
IMAGE_PENDING, IMAGE_BUILDING, IMAGE_PUSHING, IMAGE_READY, IMAGE_FAILED = (
    "pending", "building", "pushing", "ready", "failed")

ImageProgress = Callable[[str, str], None]  # (phase, what it is doing)


class Images(Protocol):
    def check(self, service: ServiceSpec) -> None:
        """InvalidArgument for what can be told at once (a reference the catalogue cannot resolve,
        an image or base image missing from the image cache); no building, no network."""

    def prepare(self, service: ServiceSpec, progress: ImageProgress) -> ServiceImage:
        """The image built if needed and pushed to the registry (slow), telling `progress` each phase
        it enters. InvalidArgument: it cannot be built; Unavailable: the registry did not answer."""
