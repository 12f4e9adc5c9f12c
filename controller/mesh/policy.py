"""Traffic policies (pure): what a user may ask for, checked field by field, and the weights of a
service's endpoints that carry it out in the switches' SELECT groups."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from api import bounds
from component_base.errors import InvalidArgument

SUBSET = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
SPLIT_SCALE = 600  # a subset's percent x 600, shared by its endpoints: <= 60,000 < 2^16, exact for 1-6 endpoints
MAX_RATE_MBPS = 1e7
MAX_SECONDS = 86400.0


@dataclass(frozen=True)
class OutlierDetection:
    """Envoy's names, meanings and defaults (config.cluster.v3.OutlierDetection)."""
    consecutive_5xx: int = 5
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    max_ejection_percent: int = 10
    http_path: str = ""   # "" = a TCP connect is the probe
    timeout: float = 1.0

    def ejection_time(self, ejections: int) -> float:
        """How long the k-th ejection lasts: k x base, at most max (or base, if that is larger)."""
        return min(self.base_ejection_time * max(ejections, 1), max(self.max_ejection_time, self.base_ejection_time))


@dataclass(frozen=True)
class TrafficPolicy:
    split: tuple[tuple[str, int], ...] = ()  # (subset, percent), sorted by subset
    locality: bool = False
    rate_limit_mbps: float = 0.0
    outlier_detection: OutlierDetection | None = None

    @property
    def shares(self) -> dict[str, int]:
        return dict(self.split)


DEFAULT_POLICY = TrafficPolicy()


def _seconds(value: float, name: str, default: float, *, allow_zero: bool = False) -> float:
    if value == 0 and not allow_zero:
        return default
    if not (0 < value <= MAX_SECONDS) or math.isnan(value):
        raise InvalidArgument(f"outlier_detection.{name} must be a number of seconds in (0, {MAX_SECONDS:g}], "
                              f"got {value!r}")
    return float(value)


def check_subset(name: str, where: str) -> None:
    if not SUBSET.match(name):
        shown = name[:40].encode("unicode_escape").decode()
        raise InvalidArgument(f"{where}: {shown!r} is not a subset name (1-63 letters, digits, '-', '_' or '.', "
                              "starting and ending with a letter or digit)")


def checked_policy(split: dict[str, int], locality: bool, rate_limit_mbps: float,
                   outlier: OutlierDetection | None) -> TrafficPolicy:
    """The policy with Envoy's defaults filled in for zero fields; InvalidArgument naming the field."""
    bounds.count("split", split, bounds.MAX_SUBSETS)
    for subset, percent in split.items():
        check_subset(subset, "split")
        if not 0 <= percent <= 100:
            raise InvalidArgument(f"split[{subset!r}] is {percent}%: a share is 0-100")
    if split and sum(split.values()) != 100:
        shown = ", ".join(f"{s}={p}" for s, p in sorted(split.items()))
        raise InvalidArgument(f"split {shown} sums to {sum(split.values())}%, not 100%")
    if not 0 <= rate_limit_mbps <= MAX_RATE_MBPS:  # also refuses NaN
        raise InvalidArgument(f"rate_limit_mbps must be 0 (no cap) to {MAX_RATE_MBPS:g} Mbit/s, got {rate_limit_mbps!r}")
    if 0 < rate_limit_mbps < 0.001:
        raise InvalidArgument(f"rate_limit_mbps {rate_limit_mbps!r} is below a meter's 1 kbit/s")
    if outlier is not None:
        defaults = OutlierDetection()
        if outlier.max_ejection_percent > 100:
            raise InvalidArgument(f"outlier_detection.max_ejection_percent is {outlier.max_ejection_percent}: "
                                  "a percentage is 0-100")
        if outlier.consecutive_5xx > 1000:
            raise InvalidArgument(f"outlier_detection.consecutive_5xx is {outlier.consecutive_5xx}: at most 1000")
        path = outlier.http_path
        if path and (not path.startswith("/") or len(path) > 1024 or any(c <= " " or c == "\x7f" for c in path)):
            raise InvalidArgument(f"outlier_detection.http_path {path[:40]!r} is not an HTTP path "
                                  "(starts with '/', no spaces or control characters, at most 1024 characters)")
        outlier = OutlierDetection(
            consecutive_5xx=outlier.consecutive_5xx or defaults.consecutive_5xx,
            interval=_seconds(outlier.interval, "interval", defaults.interval),
            base_ejection_time=_seconds(outlier.base_ejection_time, "base_ejection_time", defaults.base_ejection_time),
            max_ejection_time=_seconds(outlier.max_ejection_time, "max_ejection_time", defaults.max_ejection_time),
            max_ejection_percent=outlier.max_ejection_percent or defaults.max_ejection_percent,
            http_path=path,
            timeout=_seconds(outlier.timeout, "timeout", defaults.timeout))
        if outlier.timeout > outlier.interval:
            raise InvalidArgument(f"outlier_detection.timeout {outlier.timeout:g} s is longer than its interval "
                                  f"{outlier.interval:g} s: a probe would still run when the next one is due")
    return TrafficPolicy(tuple(sorted(split.items())), bool(locality), float(rate_limit_mbps), outlier)


@dataclass(frozen=True)
class MeshEndpoint:
    host: str
    ip: str
    port: int
    subset: str = ""


@dataclass(frozen=True)
class Weighted:
    endpoint: MeshEndpoint
    weight: int


@dataclass
class Weights:
    endpoints: list[Weighted] = field(default_factory=list)
    problem: str = ""  # what the policy could not do, for the user

    @property
    def serving(self) -> bool:
        return any(w.weight > 0 for w in self.endpoints)


def endpoint_weights(endpoints: list[MeshEndpoint], policy: TrafficPolicy, ejected: set[str]) -> Weights:
    """Each endpoint's bucket weight. With a split, a subset's percent is shared equally by its
    endpoints that are not ejected (so ejecting one moves its part to its own subset's others, and
    a canary keeps its share); subsets the split does not name get 0. A subset of the split with no
    endpoint serving leaves its share to the others (the switches weigh what is there). If the
    ejections would leave nothing serving, they are ignored (Envoy's panic mode); nothing serving
    for another reason is a problem the caller reports."""
    weights = _weights(endpoints, policy, ejected)
    if ejected and not weights.serving:
        weights = _weights(endpoints, policy, set())
        weights.problem = "; ".join(p for p in ("every endpoint serving would be ejected: ejections ignored "
                                                "(panic mode)", weights.problem) if p)
    if not weights.serving and endpoints:
        weights.problem = "; ".join(p for p in (weights.problem, "no endpoint takes traffic: the VIP refuses") if p)
    return weights


def _weights(endpoints: list[MeshEndpoint], policy: TrafficPolicy, ejected: set[str]) -> Weights:
    active = [e for e in endpoints if e.host not in ejected]
    out = Weights()
    if not policy.split:
        out.endpoints = [Weighted(e, 1 if e in active else 0) for e in endpoints]
    else:
        shares = policy.shares
        members: dict[str, int] = {}
        for e in active:
            members[e.subset] = members.get(e.subset, 0) + 1
        out.endpoints = [Weighted(e, round(shares.get(e.subset, 0) * SPLIT_SCALE / members[e.subset])
                                  if e in active else 0) for e in endpoints]
        empty = sorted(s for s, p in shares.items() if p > 0 and s not in members)
        if empty:
            out.problem = (f"subset(s) {', '.join(empty)} of the split have no endpoint serving: "
                           "their share goes to the others")
    return out
