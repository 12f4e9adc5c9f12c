"""Registry push credentials: generated once per stack run into a 0600 file, sent as HTTP basic auth, checked by the registry's gate."""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

USERNAME = "orchestrator"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def authorization(self) -> str:
        """The Authorization header's value (HTTP basic, RFC 7617)."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def accepts(self, authorization: str | None) -> bool:
        """Whether an Authorization header carries these credentials: HTTP basic with this user and
        password, or a bearer token equal to the password. Compared in constant time."""
        if not authorization:
            return False
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.encode(), self.password.encode())
        if scheme.lower() != "basic":
            return False
        try:
            pair = base64.b64decode(value, validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(pair, f"{self.username}:{self.password}".encode())


def generate() -> Credentials:
    """Fresh credentials: 256 random bits of password."""
    return Credentials(USERNAME, secrets.token_urlsafe(32))


def load(path: Path) -> Credentials:
    """Read a credentials file ({"username": ..., "password": ...}); ValueError if it is not one."""
    try:
        document = json.loads(Path(path).read_text())
        credentials = Credentials(str(document["username"]), str(document["password"]))
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path}: not a registry credentials file (JSON with username and password)") from None
    if not credentials.username or ":" in credentials.username or not credentials.password:
        raise ValueError(f"{path}: the username must be non-empty without ':', and the password non-empty")
    return credentials


def create(path: Path) -> Credentials:
    """Generate credentials into a new file, mode 0600 from its creation; FileExistsError if the path
    exists (a symlink included: nothing is written through one)."""
    credentials = generate()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"username": credentials.username, "password": credentials.password}, file)
    return credentials


def load_or_create(path: Path) -> Credentials:
    """The credentials in `path`, generated there first if there is no such file."""
    try:
        return create(path)
    except FileExistsError:
        return load(path)
