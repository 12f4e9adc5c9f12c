"""Outlier detection (pure): probe results in, ejections out, with Envoy's rules.

An endpoint failing `consecutive_5xx` probes in a row is ejected, unless that would put more than
`max_ejection_percent` of the service's endpoints out at once (one may always be); its k-th
ejection lasts k x `base_ejection_time` (at most `max_ejection_time`), after which it returns
whatever its health, and a passed probe after that lowers the multiplier again. Ejected endpoints
are not probed: like Envoy's detector, the mesh gives them their time out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .policy import OutlierDetection


@dataclass
class Health:
    consecutive_failures: int = 0
    ejections: int = 0                # the multiplier of the next ejection's time
    total_ejections: int = 0          # times ejected, for the telemetry
    ejected_until: float | None = None
    next_probe: float = 0.0


class OutlierTracker:
    """The health of one service's endpoints, by host."""

    def __init__(self):
        self.health: dict[str, Health] = {}

    def sync(self, hosts: list[str], now: float) -> None:
        """Follow the service's endpoints: new ones are probed at once, removed ones forgotten."""
        self.health = {h: self.health.get(h) or Health(next_probe=now) for h in hosts}

    def ejected(self) -> set[str]:
        return {h for h, s in self.health.items() if s.ejected_until is not None}

    def due(self, now: float) -> list[str]:
        return sorted(h for h, s in self.health.items() if s.ejected_until is None and s.next_probe <= now)

    def record(self, host: str, ok: bool, now: float, config: OutlierDetection) -> bool:
        """A probe's result; True when the host was ejected by it."""
        state = self.health.get(host)
        if state is None or state.ejected_until is not None:
            return False  # removed meanwhile, or ejected by an earlier result
        state.next_probe = now + config.interval
        if ok:
            state.consecutive_failures = 0
            state.ejections = max(0, state.ejections - 1)
            return False
        state.consecutive_failures += 1
        if state.consecutive_failures < config.consecutive_5xx:
            return False
        out = len(self.ejected())
        if out and 100 * (out + 1) > config.max_ejection_percent * len(self.health):
            return False  # too many out already: it stays, and keeps failing its probes
        state.ejections += 1
        state.total_ejections += 1
        state.ejected_until = now + config.ejection_time(state.ejections)
        state.consecutive_failures = 0
        return True

    def expire(self, now: float, config: OutlierDetection) -> list[str]:
        """Endpoints whose ejection is over: back, probed again after an interval."""
        back = []
        for host, state in self.health.items():
            if state.ejected_until is not None and state.ejected_until <= now:
                state.ejected_until = None
                state.next_probe = now + config.interval
                back.append(host)
        return sorted(back)

    def clear(self) -> None:
        """Outlier detection switched off: everyone back."""
        for state in self.health.values():
            state.ejected_until = None
            state.consecutive_failures = 0
