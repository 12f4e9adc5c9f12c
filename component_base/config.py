"""The JSON configuration files `strata up` writes for the daemons it starts inside Mininet hosts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from component_base.errors import InvalidArgument


def load_config(path: str | Path, required: Iterable[str], what: str) -> dict:
    """The file's object; InvalidArgument naming `what` and the file if it is unreadable or lacks a key."""
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{what} configuration {path}: {exc}") from None
    if not isinstance(config, dict):
        raise InvalidArgument(f"{what} configuration {path}: expected a JSON object")
    missing = [key for key in required if key not in config]
    if missing:
        raise InvalidArgument(f"{what} configuration {path}: missing {', '.join(missing)}")
    return config
