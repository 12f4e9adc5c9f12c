"""The image controller: each deployed service's image made ready, out of the Deploy request.

Resolved, built if it is an application image, pushed to the registry; its phase recorded for
GetDeployment.

Images are prepared one at a time, in deployment order, on this controller's thread. A registry
that does not answer is tried again with back-off (2, 4 s) up to `attempts` times; any other
failure (an image that cannot be built) fails the image at once. A failed image stays failed, with
its message on the deployment, until the application is deleted and deployed again.
"""

from __future__ import annotations

import logging

from api.app import ServiceSpec
from component_base.errors import DomainError, Unavailable

from ..cluster import APPS, IMAGES, ClusterState, ImageStatus
from ..ports import IMAGE_FAILED, IMAGE_PENDING, IMAGE_READY, Images
from ..store import AppRecord

log = logging.getLogger("strata.orchestrator")


class ImageController:
    name = "images"
    watches = (APPS,)

    def __init__(self, state: ClusterState, images: Images, *, attempts: int = 3):
        self.state = state
        self.images = images
        self.attempts = attempts

    def sync(self) -> float | None:
        while True:
            with self.state.lock:
                now = self.state.clock()
                todo = [(app, spec) for app in sorted(self.state.apps.values(), key=lambda a: (a.created, a.spec.name))
                        for spec in app.spec.services
                        if spec.name not in app.images
                        and self._status(app.spec.name, spec.name).phase == IMAGE_PENDING]
                waiting = [self._status(a.spec.name, s.name).retry_at - now for a, s in todo]
                due = next(((a, s) for a, s in todo if self._status(a.spec.name, s.name).retry_at <= now), None)
            if due is None:
                return min(waiting) if waiting else None
            self._prepare(*due)

    def _status(self, app: str, service: str) -> ImageStatus:
        return self.state.images.setdefault((app, service), ImageStatus())

    def _set(self, app: AppRecord, service: str, phase: str, message: str) -> None:
        with self.state.lock:
            if self.state.apps.get(app.spec.name) is app:  # not deleted meanwhile
                status = self._status(app.spec.name, service)
                status.phase, status.message = phase, message

    def _prepare(self, app: AppRecord, spec: ServiceSpec) -> None:
        name = app.spec.name
        try:
            image = self.images.prepare(spec, lambda phase, message: self._set(app, spec.name, phase, message))
        except Exception as exc:  # noqa: BLE001 - whatever happened, the deployment says so
            if not isinstance(exc, DomainError):
                log.exception("%s/%s: preparing image %s", name, spec.name, spec.image)
            with self.state.lock:
                if self.state.apps.get(name) is not app:
                    return
                status = self._status(name, spec.name)
                status.attempts += 1
                if isinstance(exc, Unavailable) and status.attempts < self.attempts:
                    delay = 2.0 ** status.attempts
                    status.phase, status.retry_at = IMAGE_PENDING, self.state.clock() + delay
                    status.message = f"{exc}; trying again in {delay:g} s (attempt {status.attempts + 1} of " \
                                     f"{self.attempts})"
                    log.warning("%s/%s: %s", name, spec.name, status.message)
                    return
                status.phase, status.message = IMAGE_FAILED, str(exc)
            log.warning("%s/%s: image %s failed: %s", name, spec.name, spec.image, exc)
            self.state.changes.notify(IMAGES)
            return
        with self.state.lock:
            if self.state.apps.get(name) is not app:
                return
            app.images[spec.name] = image
            self.state.store.save_app(app)
            status = self._status(name, spec.name)
            status.phase, status.message = IMAGE_READY, ""
        self.state.changes.notify(IMAGES)
