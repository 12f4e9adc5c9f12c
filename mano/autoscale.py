"""VNFs that drive themselves (pure): a descriptor's scaling and healing policies, checked field by
field, and the judge that turns samples of the VNF's own counters into a scale level.

    scaling:                         # optional: the manager scales the instance on its own
      metric: packets_per_second     # packets_per_second | bytes_per_second | drops_per_second
      scale_out_above: 500           # per container, averaged over the running ones
      scale_in_below: 100
      threshold_seconds: 10          # the condition must hold this long (every sample) first
      cooldown_seconds: 30           # no scaling this long after one
      min_instances: 1
      max_instances: 4
    healing:                         # optional: a heal when containers keep failing
      restarts: 3                    # restarts of the instance's containers ...
      window_seconds: 60             # ... within this window

No flapping, as OSM's and Kubernetes' autoscalers avoid it: a condition must hold for the whole
threshold time, nothing moves during the cool-down after a change, and a scale-in happens only
when the containers left would still be under the scale-out threshold carrying the same traffic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from component_base.errors import InvalidArgument

# metric -> the /stats counter it is the rate of (programs/vnf/program.py)
METRICS = {"packets_per_second": ("packets", "seen"), "bytes_per_second": ("bytes", "seen"),
           "drops_per_second": ("packets", "dropped")}
MAX_INSTANCES = 16  # the manager's largest scale level
SCALING_FIELDS = ("metric", "scale_out_above", "scale_in_below", "threshold_seconds", "cooldown_seconds",
                  "min_instances", "max_instances")
HEALING_FIELDS = ("restarts", "window_seconds")


@dataclass(frozen=True)
class ScalingPolicy:
    metric: str
    scale_out_above: float
    scale_in_below: float
    threshold_seconds: float = 10.0
    cooldown_seconds: float = 30.0
    min_instances: int = 1
    max_instances: int = 4


@dataclass(frozen=True)
class HealingPolicy:
    restarts: int = 3
    window_seconds: float = 60.0


def _mapping(doc: Any, section: str, fields: tuple[str, ...]) -> dict:
    if not isinstance(doc, dict):
        raise InvalidArgument(f"vnfd {section}: must be a mapping with {', '.join(fields)}")
    unknown = sorted(str(k) for k in doc if k not in fields)
    if unknown:
        raise InvalidArgument(f"vnfd {section}: unknown field(s) {', '.join(unknown)} (known: {', '.join(fields)})")
    return doc


def _positive(doc: dict, section: str, name: str, default: float | None = None, *, whole: bool = False,
              zero: bool = False) -> float:
    if name not in doc:
        if default is None:
            raise InvalidArgument(f"vnfd {section}.{name}: required")
        return default
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not zero) or (whole and value != int(value)):
        kind = "whole number" if whole else "finite number"
        raise InvalidArgument(f"vnfd {section}.{name}: must be a {'non-negative' if zero else 'positive'} {kind}, "
                              f"got {value!r}")
    return int(value) if whole else float(value)


def parse_scaling(doc: Any) -> ScalingPolicy:
    doc = _mapping(doc, "scaling", SCALING_FIELDS)
    metric = doc.get("metric")
    if metric not in METRICS:
        raise InvalidArgument(f"vnfd scaling.metric: {metric!r} is not one of {', '.join(METRICS)}")
    policy = ScalingPolicy(
        metric, _positive(doc, "scaling", "scale_out_above"), _positive(doc, "scaling", "scale_in_below", zero=True),
        _positive(doc, "scaling", "threshold_seconds", 10.0), _positive(doc, "scaling", "cooldown_seconds", 30.0,
                                                                        zero=True),
        _positive(doc, "scaling", "min_instances", 1, whole=True), _positive(doc, "scaling", "max_instances", 4,
                                                                             whole=True))
    if policy.scale_in_below >= policy.scale_out_above:
        raise InvalidArgument(f"vnfd scaling: scale_in_below ({policy.scale_in_below:g}) must be below "
                              f"scale_out_above ({policy.scale_out_above:g})")
    if not policy.min_instances <= policy.max_instances <= MAX_INSTANCES:
        raise InvalidArgument(f"vnfd scaling: min_instances <= max_instances <= {MAX_INSTANCES} does not hold "
                              f"({policy.min_instances}, {policy.max_instances})")
    return policy


def parse_healing(doc: Any) -> HealingPolicy:
    doc = _mapping(doc, "healing", HEALING_FIELDS)
    return HealingPolicy(_positive(doc, "healing", "restarts", 3, whole=True),
                         _positive(doc, "healing", "window_seconds", 60.0))


def policy_json(policy: ScalingPolicy | HealingPolicy | None) -> str:
    """The stored (canonical JSON) form; "" for none."""
    return json.dumps(policy.__dict__, sort_keys=True) if policy is not None else ""


def scaling_of(text: str) -> ScalingPolicy | None:
    return ScalingPolicy(**json.loads(text)) if text else None


def healing_of(text: str) -> HealingPolicy | None:
    return HealingPolicy(**json.loads(text)) if text else None


def counter(stats: Mapping, metric: str) -> float | None:
    """The /stats counter a metric is the rate of; None when the document lacks it."""
    group, name = METRICS[metric]
    section = stats.get(group) if isinstance(stats, Mapping) else None
    value = section.get(name) if isinstance(section, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Decision:
    level: int      # the scale level to go to
    reason: str     # what the occurrence says, e.g. "packets_per_second 812/s above 500 for 10 s"


@dataclass
class Judge:
    """One instance's autoscaling state: the last counters, since when the load has been above or
    below its thresholds, and when it last changed. Feed it samples in time order."""

    policy: ScalingPolicy
    last: dict[str, tuple[float, float]] = field(default_factory=dict)  # container -> (time, counter)
    above_since: float | None = None
    below_since: float | None = None
    changed_at: float = -math.inf
    value: float | None = None  # the last per-container rate

    def observe(self, now: float, counters: Mapping[str, float]) -> float | None:
        """The average rate per container since the last sample (None until two samples of one
        container); a container seen first, or whose counter went back (restarted), gives none."""
        rates = []
        for container, count in counters.items():
            before = self.last.get(container)
            if before is not None and now > before[0] and count >= before[1]:
                rates.append((count - before[1]) / (now - before[0]))
        self.last = {container: (now, count) for container, count in counters.items()}
        self.value = sum(rates) / len(rates) if rates else None
        return self.value

    def decide(self, now: float, level: int) -> Decision | None:
        """The change to make now at scale level `level`, if any (after observe)."""
        p, value = self.policy, self.value
        if value is None:
            self.above_since = self.below_since = None
            return None
        above = value > p.scale_out_above and level < p.max_instances
        # with one container fewer carrying the same traffic, still under the scale-out threshold
        below = (value < p.scale_in_below and level > p.min_instances
                 and value * level / (level - 1) <= p.scale_out_above)
        self.above_since = (self.above_since if self.above_since is not None else now) if above else None
        self.below_since = (self.below_since if self.below_since is not None else now) if below else None
        if now - self.changed_at < p.cooldown_seconds:
            return None
        unit = p.metric.removesuffix("_per_second")
        if above and now - self.above_since >= p.threshold_seconds:
            return self._changed(now, Decision(level + 1, f"{p.metric} {value:,.0f} {unit}/s per container above "
                                               f"{p.scale_out_above:g} for {now - self.above_since:.0f} s"))
        if below and now - self.below_since >= p.threshold_seconds:
            return self._changed(now, Decision(level - 1, f"{p.metric} {value:,.0f} {unit}/s per container below "
                                               f"{p.scale_in_below:g} for {now - self.below_since:.0f} s"))
        return None

    def _changed(self, now: float, decision: Decision) -> Decision:
        self.changed_at, self.above_since, self.below_since, self.last = now, None, None, {}
        return decision


@dataclass
class HealJudge:
    """Restarts of an instance's containers within the policy's window."""

    policy: HealingPolicy
    seen: dict[str, int] = field(default_factory=dict)   # container -> restarts last seen
    events: list[float] = field(default_factory=list)    # times restarts were seen to happen

    def decide(self, now: float, restarts: Mapping[str, int]) -> str | None:
        """Why to heal now ("" never: None when not)."""
        for container, count in restarts.items():
            before = self.seen.get(container)
            if before is not None and count > before:
                self.events.extend([now] * (count - before))
        self.seen = dict(restarts)
        self.events = [t for t in self.events if now - t <= self.policy.window_seconds]
        if len(self.events) >= self.policy.restarts:
            count, self.events, self.seen = len(self.events), [], {}
            return (f"{count} container restarts within {self.policy.window_seconds:g} s "
                    f"(healing at {self.policy.restarts})")
        return None
