"""Switch synchronisation: what each switch holds, the differences sent to it, barrier confirmations, resync.

Each connected switch is sent the difference from the desired rules through the Southbound; a
switch whose state is unknown (it reconnected, or did not confirm) is cleared and sent everything.

Not thread-safe: SdnCore holds its lock around every call. Nothing here waits on a switch: a
change returns its barriers (`Sent`), which the caller waits on after releasing the lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .model import ReservedPath, ServiceRoute
from .network import NetworkView
from .pipeline.desired import RuleCache, owner_rules
from .pipeline.ruleset import RuleDiff, RuleSet, diff


class Southbound(Protocol):
    def clear(self, dpid: int) -> None:
        """Remove every Strata rule and group from the switch (before resending them all)."""

    def apply(self, dpid: int, change: RuleDiff) -> Callable[[float], bool]:
        """Send the change to a switch; returns a wait(timeout) -> confirmed function (a barrier)."""


@dataclass(frozen=True)
class Sent:
    """A change sent to a switch: `target` is what the switch holds once `confirmed(timeout)` is True."""
    dpid: int
    target: RuleSet
    confirmed: Callable[[float], bool]


class SwitchSync:
    def __init__(self, view: NetworkView, desired: Callable[[RuleCache], RuleSet],
                 southbound: Southbound | None = None):
        """`desired(cache)`: every switch's rules for the desired state as it is now."""
        self.view = view
        self.southbound = southbound
        self._desired_rules = desired
        self.connected: set[int] = set()
        self.installed: dict[int, RuleSet] = {}  # per switch: what it holds, as far as it confirmed
        self._unconfirmed: set[int] = set()      # switches whose last change was not confirmed in time
        self._last_sent: dict[int, Callable[[float], bool]] = {}  # per switch: its last change's barrier
        self._reconciled_version = -1            # the view version of the last full pass
        self._rules = RuleCache()  # reused while the network view is unchanged
        # every switch's rules as the last full pass computed them; None once a change made them stale
        self._desired: dict[int, RuleSet] | None = None

    def switch_connected(self, dpid: int) -> None:
        """A switch (re)connected: the app cleared its Strata rules; send it everything."""
        if dpid in self.view.switches:
            self.view.switches[dpid].connected = True
        self.connected.add(dpid)
        self.installed[dpid] = RuleSet({}, {})
        self._unconfirmed.discard(dpid)  # the app cleared it already
        if (self._desired is None or self.view.version != self._reconciled_version or self._unconfirmed
                or self.southbound is None):
            self.reconcile()
            return
        # nothing else changed: send this switch its rules alone (a big network connects its
        # switches one by one; a full pass for each would cost switches x rules each time)
        target = self._desired.get(dpid, RuleSet({}, {}))
        change = diff(RuleSet({}, {}), target)
        if not change.empty:
            self._apply(dpid, change)
        self.installed[dpid] = target

    def switch_disconnected(self, dpid: int) -> None:
        if dpid in self.view.switches:
            self.view.switches[dpid].connected = False
        self.connected.discard(dpid)
        self._last_sent.pop(dpid, None)
        self.installed.pop(dpid, None)
        self._unconfirmed.discard(dpid)

    def synced(self, dpid: int) -> bool:
        """The switch is connected and confirmed every change sent to it (its rules are in)."""
        if dpid not in self.connected:
            return False
        wait = self._last_sent.get(dpid)
        if wait is None or wait(0):
            self._last_sent.pop(dpid, None)
            return True
        return False

    def reconcile(self) -> list[Sent]:
        """A full pass: every connected switch is sent the difference between what it holds and
        the desired rules (a switch whose state is unknown is cleared and sent everything)."""
        if self.southbound is None:
            return []
        self._reconciled_version = self.view.version
        desired = self._desired_rules(self._rules).by_switch()
        self._desired = desired
        sent = []
        for dpid in sorted(self.connected):
            if dpid in self._unconfirmed:  # what it holds is unknown: start it from nothing
                self.southbound.clear(dpid)
                self.installed[dpid] = RuleSet({}, {})
                self._unconfirmed.discard(dpid)
            target = desired.get(dpid, RuleSet({}, {}))
            change = diff(self.installed.get(dpid, RuleSet({}, {})), target)
            if not change.empty:
                sent.append(Sent(dpid, target, self._apply(dpid, change)))
            self.installed[dpid] = target
        return sent

    def change(self, old: ServiceRoute | ReservedPath | None, new: ServiceRoute | ReservedPath | None) -> list[Sent]:
        """One route or path replaced: send each switch the difference between their two rule
        sets alone, so a request costs what it changes, not what is installed. Anything else
        changed since the last full pass (a link, a host, an unconfirmed switch): a full pass."""
        if self.southbound is None:
            return []
        if self.view.version != self._reconciled_version or self._unconfirmed:
            return self.reconcile()
        self._desired = None  # the installed sets change below, in place
        before = owner_rules(self.view, old, self._rules).by_switch()
        after = owner_rules(self.view, new, self._rules).by_switch()
        sent = []
        for dpid in sorted(self.connected & (before.keys() | after.keys())):
            change = diff(before.get(dpid, RuleSet({}, {})), after.get(dpid, RuleSet({}, {})))
            if change.empty:
                continue
            installed = self.installed.setdefault(dpid, RuleSet({}, {}))
            change.apply_to(installed)
            sent.append(Sent(dpid, installed, self._apply(dpid, change)))
        return sent

    def not_confirmed(self, late: list[Sent]) -> None:
        """These changes were not confirmed in time: their switches are not counted as holding
        them (unless something newer was sent since), and the next pass resends everything."""
        for sent in late:
            if self.installed.get(sent.dpid) is sent.target:
                self._unconfirmed.add(sent.dpid)

    def _apply(self, dpid: int, change: RuleDiff) -> Callable[[float], bool]:
        """Send a switch a change; its barrier is remembered: a switch answers barriers in order,
        so once the last one is answered it holds everything it was sent."""
        wait = self.southbound.apply(dpid, change)
        self._last_sent[dpid] = wait
        return wait
