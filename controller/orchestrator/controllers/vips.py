"""The VIP controller: a virtual IP per service from the service range.

Versions of a service share one; a VNF gets none. The VIPs of deleted applications go back to the
range; an exhausted range is reported on the deployment and retried when a VIP is freed."""

from __future__ import annotations

import logging

from component_base.errors import FailedPrecondition

from ..cluster import APPS, VIPS, ClusterState

log = logging.getLogger("strata.orchestrator")


class VipController:
    name = "vips"
    watches = (APPS,)

    def __init__(self, state: ClusterState):
        self.state = state

    def sync(self) -> None:
        allocated = False
        with self.state.lock:
            in_use = {vip for app in self.state.apps.values() for vip in app.vips.values()}
            for vip in sorted(str(ip) for ip in self.state.vips.used):
                if vip not in in_use:
                    self.state.vips.release(vip)
            for app in sorted(self.state.apps.values(), key=lambda a: (a.created, a.spec.name)):
                groups = [g for g in dict.fromkeys(s.group for s in app.spec.services if not s.vnf_kind)
                          if g not in app.vips]
                if not groups:
                    continue
                before = len(app.vips)
                try:
                    for group in groups:
                        app.vips[group] = self.state.vips.allocate()
                except FailedPrecondition as exc:
                    self.state.no_vip[app.spec.name] = str(exc)
                if len(app.vips) > before:
                    self.state.store.save_app(app)
                    allocated = True
                if self.state.has_vips(app):
                    self.state.no_vip.pop(app.spec.name, None)
                    log.info("%s: VIPs %s", app.spec.name, ", ".join(f"{g} {v}" for g, v in app.vips.items()))
        if allocated:
            self.state.changes.notify(VIPS)
        return None
