"""Names the platform accepts: DNS labels for apps, services and chains, DNS names for services."""

from __future__ import annotations

import re
from typing import Any

from component_base.errors import InvalidArgument

DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
MAX_LABEL = 63


def dns_label_problem(name: Any) -> str | None:
    """Why `name` is not a DNS-1035 label, or None if it is one."""
    if not isinstance(name, str):
        return f"must be a string, got {name!r}"
    if len(name) > MAX_LABEL:
        return f'"{name}" is longer than {MAX_LABEL} characters'
    if not DNS_LABEL.fullmatch(name):
        return (f'"{name}" is not a DNS label: lowercase letters, digits and "-", starting with a letter '
                "and not ending with \"-\"")
    return None


SERVICE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_service_name(name: str) -> None:
    """A DNS name, as Kubernetes requires of services: lower-case labels of letters, digits and
    '-' (at most 63 characters each) joined by dots, 253 characters in all."""
    if not name:
        raise InvalidArgument("service name is empty")
    if len(name) > 253:
        raise InvalidArgument(f"service name is {len(name)} characters long; at most 253")
    if not SERVICE_NAME.match(name) or any(len(label) > 63 for label in name.split(".")):
        shown = name[:40].encode("unicode_escape").decode() + ("..." if len(name) > 40 else "")
        raise InvalidArgument(f"service name {shown!r} is not a DNS name: lower-case letters, digits and '-' "
                              "in labels of at most 63, starting and ending with a letter or digit, joined by '.'")
