"""Who may do what to the registry: reads open to all, writes only with the push credentials, deletes only when turned on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from images.credentials import Credentials

READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})  # uploads, manifests and tags
REALM = "strata-registry"


@dataclass(frozen=True)
class Refusal:
    """An answer in the OCI distribution spec's error form, instead of forwarding the request."""

    status: int  # 401, 403 or 405
    code: str  # the spec's error code: UNAUTHORIZED, DENIED, UNSUPPORTED
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps({"errors": [{"code": self.code, "message": self.message, "detail": None}]}).encode()


def decide(method: str, authorization: str | None, credentials: Credentials, *, deletes: bool) -> Refusal | None:
    """None if the request may go to the registry, else how it is refused. Reads (pulls, tag lists,
    the catalogue) need nothing; pushes and tag writes need the credentials; a delete is refused
    outright unless deletes are on, and then needs them too; any other method is refused."""
    if method in READ_METHODS:
        return None
    if method == "DELETE" and not deletes:
        return Refusal(405, "UNSUPPORTED", "deletes are turned off in this registry")
    if method not in WRITE_METHODS and method != "DELETE":
        return Refusal(405, "UNSUPPORTED", f"{method} is not part of the registry API")
    if not authorization:
        return Refusal(401, "UNAUTHORIZED", "pushes, tag writes and deletes need the registry's credentials",
                       {"WWW-Authenticate": f'Basic realm="{REALM}"'})
    if not credentials.accepts(authorization):
        return Refusal(403, "DENIED", "these credentials may not write to this registry")
    return None
