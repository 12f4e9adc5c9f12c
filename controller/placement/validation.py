"""Checks of problem input: numbers, names and records, each failing with a ProblemError that says where."""

from __future__ import annotations

import math
from typing import Any


class ProblemError(ValueError):
    """Bad problem input; the message names the offending item."""


def finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def check_number(value: Any, where: str, what: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not finite(value):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ProblemError(f"{where}: {what} must be a finite number, got {shown}")
    if positive and value <= 0:
        raise ProblemError(f"{where}: {what} must be greater than 0, got {value!r}")
    if not positive and value < 0:
        raise ProblemError(f"{where}: {what} must not be negative, got {value!r}")
    return float(value)


def check_name(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProblemError(f"{where}: {what} must be a non-empty string, got {value!r}")
    return value


def check_text(value: Any, where: str, what: str) -> str:
    """An optional name: a string ("" means its default)."""
    if not isinstance(value, str):
        raise ProblemError(f"{where}: {what} must be a string, got {value!r}")
    return value


def check_record(item: Any, where: str, required: set[str], optional: set[str] = frozenset()) -> dict:
    if not isinstance(item, dict):
        raise ProblemError(f"{where}: expected an object, got {type(item).__name__}")
    label = item.get("name", item.get("digest"))
    if isinstance(label, str) and label:
        where = f'{where} ("{label}")'  # name the item in errors about its other fields
    missing = sorted(required - item.keys())
    if missing:
        raise ProblemError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(item.keys() - required - optional)
    if unknown:
        raise ProblemError(f"{where}: unknown field(s) {', '.join(unknown)}")
    return item


def check_list(data: dict, key: str) -> list:
    value = data[key]
    if not isinstance(value, list):
        raise ProblemError(f"{key}: expected a list, got {type(value).__name__}")
    return value


def check_whole(value: Any, where: str, what: str, *, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ProblemError(f"{where}: {what} must be a whole number >= {least}, got {value!r}")
    return value
