"""What an algorithm returns: a placement, the layers it stores, its objective and a proven lower bound."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .client_delay import plan_delay
from .model import Problem
from .rules import violations

STATUSES = ("optimal", "feasible", "infeasible", "error")


@dataclass
class PlacementResult:
    algorithm: str
    status: str  # one of STATUSES; "optimal" only when proven
    objective: float | None  # total size of newly stored layers (the paper's eq. 9; held ones cost 0)
    lower_bound: float | None  # a proven bound on the optimum of the layer-sharing problem, or None
    placement: dict[str, str]  # container -> server
    layers: dict[str, list[str]]  # server -> digests newly stored there (one entry per stored copy; held ones left out)
    seconds: float
    message: str = ""  # why it failed, or how it finished
    details: dict[str, Any] = field(default_factory=dict)  # algorithm-specific figures (rounds, ...)
    client_delay_ms: float | None = None  # mean delay from the declared clients (client_delay.py), ms; None = none declared
    client_delay_max_ms: float | None = None  # the largest delay from one client to a container it is a client of, ms

    @property
    def solved(self) -> bool:
        return self.status in ("optimal", "feasible")

    @property
    def gap(self) -> float | None:
        """Relative gap (objective - bound) / objective, when both are known."""
        if self.objective is None or self.lower_bound is None or self.objective <= 0:
            return None
        return max(0.0, (self.objective - self.lower_bound) / self.objective)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "algorithm": self.algorithm,
            "status": self.status,
            "objective": self.objective,
            "lower_bound": self.lower_bound,
            "placement": self.placement,
            "layers": self.layers,
            "seconds": round(self.seconds, 4),
        }
        if self.message:
            out["message"] = self.message
        if self.details:
            out["details"] = self.details
        if self.client_delay_ms is not None:
            out["client_delay_ms"] = round(self.client_delay_ms, 6)
            out["client_delay_max_ms"] = round(self.client_delay_max_ms, 6)
        return out


def stored_layers(problem: Problem, placement: dict[str, str], *, sharing: bool = True) -> dict[str, list[str]]:
    """Layers each server newly stores: the union of its containers' layers less those it holds,
    or, without sharing, every copy (a held layer does not spare one)."""
    by_name = {c.name: c for c in problem.containers}
    out: dict[str, list[str]] = {s.name: [] for s in problem.servers}
    seen: dict[str, set[str]] = {s.name: set(s.held) if sharing else set() for s in problem.servers}
    for container_name, server in placement.items():
        for digest in by_name[container_name].layers:
            if sharing and digest in seen[server]:
                continue
            seen[server].add(digest)
            out[server].append(digest)
    return {server: sorted(digests) for server, digests in out.items() if digests}


def finished(problem: Problem, algorithm: str, placement: dict[str, str], *, status: str,
             lower_bound: float | None, seconds: float, sharing: bool = True,
             message: str = "", details: dict | None = None) -> PlacementResult:
    """Build the result of a complete placement, deriving stored layers and the objective from it.

    A placement that breaks a hard spread or anti-affinity rule is refused: the result is an
    error naming the rule, so no algorithm can return one. Where containers declare clients,
    the result gives the placement's mean and largest client delay."""
    broken = violations(problem, placement)
    if broken:
        return failed(algorithm, "error", "placement breaks a hard rule: " + "; ".join(broken[:3]),
                      seconds=seconds, details=details)
    layers = stored_layers(problem, placement, sharing=sharing)
    objective = float(sum(problem.layer_size[d] for digests in layers.values() for d in digests))
    if lower_bound is not None and lower_bound >= objective - 1e-6 * max(1.0, objective):
        status = "optimal"  # the bound proves it
    delay = plan_delay(problem, placement)
    return PlacementResult(algorithm, status, objective, lower_bound, dict(placement), layers,
                           seconds, message, details or {}, *(delay or (None, None)))


def failed(algorithm: str, status: str, message: str, *, seconds: float,
           lower_bound: float | None = None, details: dict | None = None) -> PlacementResult:
    """A result with no placement: infeasible, or the algorithm gave up (status "error")."""
    return PlacementResult(algorithm, status, None, lower_bound, {}, {}, seconds, message, details or {})
