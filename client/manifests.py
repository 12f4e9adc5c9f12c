"""Reading an application from a Docker Compose file or Kubernetes manifests into an AppSpec."""

from __future__ import annotations

import dataclasses

import json
import math
import os
import re
from collections import Counter
from fractions import Fraction
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from api.names import DNS_LABEL, MAX_LABEL, dns_label_problem
from api.network_policy import (EGRESS_TO_LABEL, INGRESS_FROM_LABEL, PolicyError, compose_policies,
                                parse_network_policy)
from api.yaml_bounds import BoundedSafeLoader
from api.app import (AppError, AppSpec, ServiceSpec, SpreadSpec,
                     parse_clients, parse_image_reference, validate_app)

BANDWIDTH_KEY = "strata.io/bandwidth-mbps"
BASE_IMAGE_KEY = "strata.io/base-image"
MESH_SERVICE_KEY = "strata.io/mesh-service"  # Compose: the service this one is a version of
VERSION_KEY = "strata.io/version"            # Compose: its version (the mesh subset)
CLIENTS_KEY = "strata.io/clients"            # where its clients are: "site1=3,site2,dev4"
MAX_CLIENT_DELAY_KEY = "strata.io/max-client-delay-ms"  # required: no client farther than this, ms
STRATA_PREFIX = "strata.io/"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
EXTERNAL_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort", "ExternalName"})
PUBLISHING_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort"})  # reachable from outside the cluster
# Names as written (Compose's service grammar, which Kubernetes' names also meet): made DNS labels when
# they are not, but never from a path ("../../etc" is refused, not turned into "etc").
WRITTEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
WRITTEN_NAME_RULE = ("must be 1-253 letters, digits, '.', '_' or '-', starting with a letter or digit "
                     "(no '/' or spaces)")
MAX_LISTED = 12  # entries of the ignored-fields warning before "... and N more"
EXPECTED = ('expected a Docker Compose file (a mapping with "services") or Kubernetes manifests '
            '(YAML documents with "kind", e.g. Deployment and Service, possibly in a "kind: List")')

Warn = Callable[[str], None]


# ---------------------------------------------------------------- YAML

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _Loader(BoundedSafeLoader):
    """YAML as Compose and Kubernetes read it: no base-60 numbers ("22:22" stays a string), no
    duplicate keys (a later key silently replacing an earlier one hides mistakes), aliases bounded."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                            f'found duplicate key "{key_node.value}"',
                                                            key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in BoundedSafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_INT, re.compile(r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""", re.X), list("-+0123456789"))
_Loader.add_implicit_resolver(_FLOAT, re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789."))


def _documents(text: str, source: str) -> list[Any]:
    """The YAML documents of `text` (empty ones dropped); AppError with file, line and column if malformed."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise AppError(f"{where}: malformed YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise AppError(f"{source}: malformed YAML: {e}") from None
    except RecursionError:
        raise AppError(f"{source}: malformed YAML: nested too deeply") from None


# ---------------------------------------------------------------- shared helpers


def _shown(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _error(service: str, path: str, problem: str) -> AppError:
    return AppError(f'service "{service}": {path}: {problem}')


def to_dns_label(text: str, *, prefix: str) -> str:
    """`text` made a DNS-1035 label: lowercase, other characters -> "-", `prefix`- before a leading
    digit, at most 63 characters, no trailing "-"; "" if nothing is left."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if label and not label[0].isalpha():
        label = f"{prefix}-{label}"
    return label[:MAX_LABEL].rstrip("-")


def _checked_app_name(name: str) -> str:
    if (why := dns_label_problem(name)) is not None:
        raise AppError(f"app name: {why}")
    return name


def _stem_name(source: str) -> str:
    stem = Path(source).stem or source
    label = to_dns_label(stem, prefix="app")
    if not label:
        raise AppError(f'{source}: cannot make an app name of "{stem}"; give one (--name)')
    return label


def _whole(value: Any, service: str, path: str) -> int:
    """A whole number >= 0 (an int, or a string of digits)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _error(service, path, f"must be a whole number >= 0, got {_shown(value)}")


def _port_number(value: Any, service: str, path: str) -> int:
    number = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 65535:
        return number
    raise _error(service, path, f"must be a port number 1-65535, got {_shown(value)}")


def _positive_cores(value: Any) -> float | None:
    """Cores of a number or numeric string, or None if not a positive finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def _finite(value: Any) -> float | None:
    """A finite number given as a number or a numeric string; None for anything else."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    if isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number):
        return float(number)
    return None


def _bandwidth(value: Any, service: str, path: str) -> float:
    number = _finite(value)
    if number is not None and number >= 0:
        return number
    raise _error(service, path, f"must be a number of Mbit/s >= 0, got {_shown(value)}")


def _text(value: Any) -> str | None:
    """An environment value as the program sees it (None: no value)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Last words of variables whose bare value is a name but not a host: MYSQL_USER=wordpress,
# POSTGRES_DB=gitea. A "host:port" or URL value counts whatever the variable is called.
NOT_HOST_WORDS = frozenset({"USER", "USERNAME", "LOGIN", "PASSWORD", "PASS", "PWD", "NAME", "DB", "DBNAME",
                            "DATABASE", "SCHEMA", "TABLE", "TOPIC", "QUEUE", "EXCHANGE", "BUCKET", "INDEX", "ID",
                            "TOKEN", "SECRET", "KEY", "ROLE", "TENANT", "REALM", "NAMESPACE"})


def referenced_hosts(value: str, variable: str = "") -> list[str]:
    """Host names an environment value points at: the value itself ("cart"), "host:port", a URL
    ("http://host:port/path", "redis://user:pw@host"), or a comma-separated list of those. A bare
    name does not count when the variable's last word says it is something else (MYSQL_USER)."""
    words = re.split(r"[^A-Za-z0-9]+", variable.upper())
    bare_allowed = not words or words[-1] not in NOT_HOST_WORDS
    hosts = []
    in_url = "://" in value  # "mongodb://u:p@a:1,b:2/db": the hosts after the first carry the path
    for part in value.split(","):
        part = part.strip()
        url = re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)(?:[/?#].*)?", part, re.S)
        if url:
            part = url.group(1).rsplit("@", 1)[-1]
        elif in_url:
            part = re.split(r"[/?#]", part, maxsplit=1)[0]
        match = re.fullmatch(r"([A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?", part)
        if match and (bare_allowed or match.group(2) or in_url):
            hosts.append(match.group(1).lower())
    return hosts


_K8S_DOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.svc(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?")


def _hosts_to_services(variables: list[tuple[str, str]], aliases: dict[str, tuple[str, ...]], *,
                       cluster_dns: bool) -> list[str]:
    """Services of the app that environment variables (name, value) name as hosts; with
    `cluster_dns`, "name.namespace[.svc[.domain]]" too."""
    found = []
    for variable, value in variables:
        for host in referenced_hosts(value, variable):
            targets = aliases.get(host)
            if targets is None and cluster_dns and "." in host:
                first, rest = host.split(".", 1)
                if _K8S_DOMAIN.fullmatch(rest):
                    targets = aliases.get(first)
            found.extend(targets or ())
    return found


@dataclass
class _Ignored:
    """What a file holds that Strata does not use: reported in one warning."""

    fields: list[str] = field(default_factory=list)  # "service.field"
    kinds: Counter = field(default_factory=Counter)  # kind -> objects skipped
    notes: list[str] = field(default_factory=list)  # renames, naming choices

    def extra(self, mapping: dict, used: set[str] | frozenset[str], prefix: str) -> None:
        self.fields.extend(f"{prefix}{key}" for key in mapping if str(key) not in used)

    def message(self, source: str) -> str | None:
        parts = []
        if self.fields:
            parts.append(f"ignored {len(self.fields)} field(s) Strata does not use: {_listing(self.fields)}")
        if self.kinds:
            parts.append("skipped objects of kinds Strata does not model: "
                         + ", ".join(f"{kind} x{n}" for kind, n in self.kinds.items()))
        if self.notes:
            parts.append(_listing(self.notes))
        return f"{source}: " + "; ".join(parts) if parts else None


def _listing(entries: list[str]) -> str:
    shown = ", ".join(entries[:MAX_LISTED])
    return shown + (f", ... and {len(entries) - MAX_LISTED} more" if len(entries) > MAX_LISTED else "")


@dataclass(frozen=True)
class _Settings:
    """What the strata.io/ labels or annotations of a service say."""

    bandwidth: float | None = None  # Mbit/s; None = not said
    base: str = ""  # declared base image
    clients: tuple[tuple[str, float], ...] = ()  # (site or host, weight)
    max_client_delay_ms: float = 0.0  # 0 = no bound


def _strata_settings(keys: dict, service: str, what: str, ignored: _Ignored) -> _Settings:
    """The strata.io/ settings of labels or annotations."""
    bandwidth, base, clients, bound = None, "", (), 0.0
    for key, value in keys.items():
        key = str(key)
        path = f'{what}["{key}"]'
        if key == BANDWIDTH_KEY:
            bandwidth = _bandwidth(value, service, path)
        elif key == BASE_IMAGE_KEY:
            if not isinstance(value, str) or not value.strip():
                raise _error(service, path, f"must be an image name such as \"python\", got {_shown(value)}")
            try:
                parse_image_reference(value.strip())
            except AppError as e:
                raise _error(service, path, str(e)) from None
            base = value.strip()
        elif key == CLIENTS_KEY:
            try:
                clients = parse_clients(value)
            except AppError as e:
                raise _error(service, path, str(e)) from None
        elif key == MAX_CLIENT_DELAY_KEY:
            bound = _milliseconds(value, service, path)
        elif key in (MESH_SERVICE_KEY, VERSION_KEY):
            if not isinstance(value, str) or not value.strip():
                raise _error(service, path, f"must be a name, got {_shown(value)}")
        elif key in (INGRESS_FROM_LABEL, EGRESS_TO_LABEL):
            pass  # the Compose form of network policies: read with the app's other services (compose_policies)
        elif key.startswith(STRATA_PREFIX):
            ignored.fields.append(f"{service}.{path} (unknown; known: {BANDWIDTH_KEY}, {BASE_IMAGE_KEY}, "
                                  f"{CLIENTS_KEY}, {MAX_CLIENT_DELAY_KEY}, {MESH_SERVICE_KEY}, {VERSION_KEY}, "
                                  f"{INGRESS_FROM_LABEL}, {EGRESS_TO_LABEL})")
    return _Settings(bandwidth, base, clients, bound)


def _milliseconds(value: Any, service: str, path: str) -> float:
    number = _finite(value)
    if number is not None and number > 0:
        return number
    raise _error(service, path, f"must be a number of ms > 0, got {_shown(value)}")


def _mapping(value: Any, service: str, path: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(service, path, f"must be a mapping, got {_shown(value)}")
    return value


def _service(name: str, image: str, *, replicas: int, cpu: float | None, bandwidth: float | None,
             memory: tuple[float, float], ports: tuple[int, int] | None, dependencies: list[str],
             base: str) -> ServiceSpec:
    defaults = ServiceSpec(name, image)
    port, target = ports or (defaults.port, defaults.target_port)
    return ServiceSpec(name, image, replicas=replicas,
                       cpu_millicores=defaults.cpu_millicores if cpu is None else cpu,
                       bandwidth_mbps=defaults.bandwidth_mbps if bandwidth is None else bandwidth,
                       memory_mib=memory[0], memory_limit_mib=memory[1],
                       port=port, target_port=target,
                       dependencies=tuple(dict.fromkeys(d for d in dependencies if d != name)),
                       base_image=base)


# ---------------------------------------------------------------- memory

MIB = 1 << 20
MAX_BYTES = (1 << 63) - 1  # the largest quantity Kubernetes and Compose hold (an int64 of bytes)
# k8s.io/apimachinery/pkg/api/resource (quantity.go, suffix.go): a signed decimal number, then a
# binary-SI suffix (Ki ... Ei, powers of 1024), a decimal-SI one (n u m "" k M G T P E, powers of
# 1000) or a decimal exponent (e3, E-2). Case matters: "K" and "mi" are not suffixes.
_QUANTITY = re.compile(r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
                       r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_BINARY_SI = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# github.com/docker/go-units (size.go, RAMInBytes), as compose-go reads byte values: a decimal
# number, an optional space, then nothing, "b", or k m g t p (powers of 1024) with an optional
# "b" or "ib", in either case.
_COMPOSE_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_COMPOSE_UNITS = {"": 0, "b": 0, **{f"{unit}{tail}": power for power, unit in enumerate("kmgtp", 1)
                                   for tail in ("", "b", "ib")}}


def kubernetes_quantity_bytes(value: Any) -> int | None:
    """The bytes of a Kubernetes quantity ("128Mi", "1G", "1.5e9", 268435456), rounded up to a whole
    byte as Quantity.Value() does; None if it is not a quantity. Negative quantities are returned
    (the caller refuses them, as API validation does)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = value if isinstance(value, str) else str(value)  # a YAML number reads as its text
    match = _QUANTITY.fullmatch(text)
    if not text or match is None or (not match["int"] and not match["frac"] and match["suffix"]):
        return None
    digits = (match["int"] or "0") + (match["frac"] or "")
    number = Fraction(int(digits), 10 ** len(match["frac"] or ""))
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SI:
        number *= 1024 ** _BINARY_SI[suffix]
    else:
        exponent = _DECIMAL_SI[suffix] if suffix in _DECIMAL_SI else int(suffix[1:])
        if exponent > 40:
            return MAX_BYTES + 1 if number else 0  # too large; the caller refuses it
        number *= Fraction(10) ** max(exponent, -40)  # below 1e-40 a byte rounds up all the same
    whole = math.ceil(number)
    return -whole if match["sign"] == "-" else whole


def compose_bytes(value: Any) -> int | None:
    """The bytes of a Compose byte value ("512m", "1gb", "2GiB", "1.5g", 1048576), truncated to a
    whole byte as go-units does; None if it is not one (negative sizes included, as go-units says)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    split = max(value.rfind(c) for c in "0123456789. ")  # the number ends at its last digit or "."
    if split < 0:
        return None
    number, unit = (value[:split], value[split + 1:]) if value[split] == " " else (value[:split + 1], value[split + 1:])
    if not _COMPOSE_NUMBER.fullmatch(number) or unit.lower() not in _COMPOSE_UNITS:
        return None
    size = float(number)
    if size < 0 or not math.isfinite(size):
        return None
    return int(size * 1024 ** _COMPOSE_UNITS[unit.lower()])


def _memory_mib(request: tuple[str, Any], limit: tuple[str, Any], service: str,
                parse: Callable[[Any], int | None], example: str) -> tuple[float, float]:
    """(request, limit) in MiB from (path, value) pairs, a value None when absent; a limit alone
    is the request too (Kubernetes' rule); a request above the limit is refused."""
    mib = []
    for path, value in (request, limit):
        if value is None:
            mib.append(None)
            continue
        number = parse(value)
        if number is None or number < 0 or number > MAX_BYTES:
            why = ("must not be negative" if number is not None and number < 0
                   else "is too large" if number is not None else f"must be a memory quantity such as {example}")
            raise _error(service, path, f"{why}, got {_shown(value)}" + _unset_hint(value))
        mib.append(number / MIB)
    wanted, cap = mib
    if wanted is None:
        wanted = cap or 0.0
    if cap is not None and cap > 0 and wanted > cap:
        raise _error(service, request[0], f"{_shown(request[1])} is above the limit, {limit[0]} {_shown(limit[1])}")
    return wanted, cap or 0.0


# ---------------------------------------------------------------- Docker Compose

COMPOSE_TOP_LEVEL = frozenset({"services", "name", "version"})  # version: obsolete, informational
COMPOSE_SERVICE_FIELDS = frozenset({"image", "deploy", "scale", "cpus", "mem_reservation", "mem_limit", "pids_limit",
                                    "ports", "expose", "depends_on", "links",
                                    "environment", "labels", "hostname", "container_name"})
_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\})")


def _substitute(match: re.Match) -> str:
    """A ${VAR:-default} or ${VAR-default} gives its default; $$ gives $; ${VAR:+x} of an unset
    variable gives ""; any other variable is left as written (Strata does not read the environment)."""
    if match.group(0) == "$$":
        return "$"
    braced = match.group("braced")
    if braced is not None:
        named = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-+])(.*)", braced, re.S)
        if named:
            return named.group(3) if named.group(2).endswith("-") else ""
    return match.group(0)


def _interpolated(value: Any) -> Any:
    if isinstance(value, str):
        return _VARIABLE.sub(_substitute, value)
    if isinstance(value, dict):
        return {key: _interpolated(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolated(item) for item in value]
    return value


def _unset_hint(value: Any) -> str:
    if isinstance(value, str) and "$" in value:
        return " (a variable without a default: Strata does not read the environment; write ${VAR:-value})"
    return ""


def _compose_port(entry: Any, service: str, path: str) -> tuple[int, int]:
    """(published or target, target) of a short ("8080:80", "127.0.0.1:8080:80/tcp", "80") or
    long ({target, published}) port entry; ranges count by their first port."""
    def first(value: Any, where: str) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", value):
            value = value.split("-")[0]
        return _port_number(value, service, where)

    if isinstance(entry, dict):
        if "target" not in entry:
            raise _error(service, f"{path}.target", "missing")
        target = first(entry["target"], f"{path}.target")
        published = entry.get("published")
        return (first(published, f"{path}.published") if published not in (None, "") else target), target
    if isinstance(entry, int) and not isinstance(entry, bool):
        number = _port_number(entry, service, path)
        return number, number
    if not isinstance(entry, str):
        raise _error(service, path, f"must be a port such as \"8080:80\" or a mapping with target, got {_shown(entry)}")
    spec = entry.strip().split("/", 1)[0]
    if spec.startswith("["):  # IPv6 host address: [::1]:8080:80
        spec = spec.partition("]:")[2]
    parts = spec.split(":")
    if len(parts) == 3:  # host_ip:published:target (published may be empty)
        parts = parts[1:] if parts[1] else parts[2:]
    if len(parts) not in (1, 2):
        raise _error(service, path, f"must be [[host_ip:]published:]target[/protocol], got {_shown(entry)}"
                     + _unset_hint(entry))
    try:
        target = first(parts[-1], path)
        published = first(parts[0], path) if len(parts) == 2 else target
    except AppError:
        raise _error(service, path, f"invalid port {_shown(entry)}" + _unset_hint(entry)) from None
    return published, target


def _compose_labels(value: Any, service: str, path: str) -> dict:
    if isinstance(value, list):
        labels = {}
        for item in value:
            key, _, text = str(item).partition("=")
            labels[key] = text
        return labels
    return _mapping(value, service, path)


def _compose_environment(value: Any, service: str) -> list[tuple[str, str]]:
    """(name, value) of the variables that have a value."""
    if isinstance(value, list):
        pairs = [str(item).partition("=") for item in value]
        return [(key, text) for key, equals, text in pairs if equals and text]
    return [(str(key), text) for key, item in _mapping(value, service, "environment").items()
            if (text := _text(item))]


def _compose_cpu(body: dict, service: str) -> float | None:
    resources = _mapping(_mapping(body.get("deploy"), service, "deploy").get("resources"), service,
                         "deploy.resources")
    candidates = [(f"deploy.resources.{kind}.cpus", _mapping(resources.get(kind), service,
                                                             f"deploy.resources.{kind}").get("cpus"))
                  for kind in ("reservations", "limits")]
    candidates.append(("cpus", body.get("cpus")))
    for path, value in candidates:
        if value is None:
            continue
        cores = _positive_cores(value)
        if cores is None:
            raise _error(service, path, f"must be a positive number of cores, got {_shown(value)}" + _unset_hint(value))
        return cores * 1000.0
    return None


def _compose_memory(body: dict, service: str) -> tuple[float, float]:
    """(request, limit) MiB: deploy.resources.reservations/limits.memory, or the older service-level
    mem_reservation / mem_limit."""
    resources = _mapping(_mapping(body.get("deploy"), service, "deploy").get("resources"), service,
                         "deploy.resources")
    pairs = []
    for kind, legacy in (("reservations", "mem_reservation"), ("limits", "mem_limit")):
        path = f"deploy.resources.{kind}.memory"
        value = _mapping(resources.get(kind), service, f"deploy.resources.{kind}").get("memory")
        pairs.append((path, value) if value is not None else (legacy, body.get(legacy)))
    return _memory_mib(pairs[0], pairs[1], service, compose_bytes, '"512m" or "1gb"')


def _compose_pids(body: dict, service: str) -> int:
    """deploy.resources.limits.pids, or the service-level pids_limit: processes and threads per
    replica. Docker's "unlimited" (-1, or 0) is the node's default here (0): no container runs
    without a limit."""
    resources = _mapping(_mapping(body.get("deploy"), service, "deploy").get("resources"), service,
                         "deploy.resources")
    value = _mapping(resources.get("limits"), service, "deploy.resources.limits").get("pids")
    path = "deploy.resources.limits.pids"
    if value is None:
        value, path = body.get("pids_limit"), "pids_limit"
    if value is None or value == -1 or value == "-1":
        return 0
    return _whole(value, service, path)


def _compose_replicas(body: dict, service: str, ignored: _Ignored) -> int:
    deploy = _mapping(body.get("deploy"), service, "deploy")
    mode = deploy.get("mode", "replicated")
    if mode not in ("replicated", "global", "replicated-job", "global-job"):
        raise _error(service, "deploy.mode", f'must be "replicated" or "global", got {_shown(mode)}')
    if str(mode).startswith("global"):  # one per node: one replica for Strata to place
        if "replicas" in deploy:
            ignored.fields.append(f"{service}.deploy.replicas (deploy.mode is {mode})")
        return 1
    replicas = _whole(deploy["replicas"], service, "deploy.replicas") if "replicas" in deploy else None
    scale = _whole(body["scale"], service, "scale") if "scale" in body else None
    if replicas is not None and scale is not None and replicas != scale:
        raise _error(service, "scale", f"{scale} differs from deploy.replicas {replicas}")
    return next((n for n in (replicas, scale) if n is not None), 1)


def _compose_max_per_node(body: dict, service: str) -> int:
    """deploy.placement.max_replicas_per_node: at most this many replicas on one node (0: no limit,
    as Docker reads it)."""
    placement = _mapping(_mapping(body.get("deploy"), service, "deploy").get("placement"), service,
                         "deploy.placement")
    value = placement.get("max_replicas_per_node")
    return 0 if value is None else _whole(value, service, "deploy.placement.max_replicas_per_node")


def _compose_ignored(body: dict, service: str, ignored: _Ignored) -> None:
    ignored.extra(body, COMPOSE_SERVICE_FIELDS, f"{service}.")
    deploy = body.get("deploy")
    if isinstance(deploy, dict):
        ignored.extra(deploy, {"replicas", "mode", "resources", "placement"}, f"{service}.deploy.")
        if isinstance(deploy.get("placement"), dict):
            ignored.extra(deploy["placement"], {"max_replicas_per_node"}, f"{service}.deploy.placement.")
        resources = deploy.get("resources")
        if isinstance(resources, dict):
            ignored.extra(resources, {"reservations", "limits"}, f"{service}.deploy.resources.")
            for kind in ("reservations", "limits"):
                if isinstance(resources.get(kind), dict):
                    ignored.extra(resources[kind], {"cpus", "memory", *(("pids",) if kind == "limits" else ())},
                                  f"{service}.deploy.resources.{kind}.")


def _compose_app(doc: dict, source: str, name: str | None, ignored: _Ignored) -> AppSpec:
    doc = _interpolated(doc)
    services = doc.get("services")
    if not isinstance(services, dict) or not services:
        raise AppError(f"{source}: services: expected a mapping of service names to definitions, "
                       f"got {_shown(services)}")
    ignored.fields.extend(str(key) for key in doc if str(key) not in COMPOSE_TOP_LEVEL
                          and not str(key).startswith("x-"))
    if name is not None:
        app_name = _checked_app_name(name)
    elif isinstance(doc.get("name"), str) and to_dns_label(doc["name"], prefix="app"):
        app_name = to_dns_label(doc["name"], prefix="app")
    else:
        app_name = _stem_name(source)

    # Names: Compose allows "my_service" or "Web"; Strata's are DNS labels. The written names stay aliases.
    final: dict[str, str] = {}
    for original in services:
        original = str(original)
        if not WRITTEN_NAME.fullmatch(original):
            raise AppError(f'{source}: service "{original[:80]}": name: {WRITTEN_NAME_RULE}')
        label = original if DNS_LABEL.fullmatch(original) and len(original) <= MAX_LABEL \
            else to_dns_label(original, prefix="svc")
        if not label:
            raise AppError(f'{source}: service "{original}": name: cannot be made a DNS label')
        if label in final.values():
            clash = next(o for o, f in final.items() if f == label)
            raise AppError(f'{source}: service "{original}": name: becomes "{label}" like service "{clash}"')
        if label != original:
            ignored.notes.append(f'renamed service "{original}" to "{label}"')
        final[original] = label
    aliases: dict[str, tuple[str, ...]] = {}
    for original, body in services.items():
        names = {str(original), final[str(original)]}
        if isinstance(body, dict):
            names |= {str(body[key]) for key in ("hostname", "container_name") if isinstance(body.get(key), str)}
        for alias in names:
            aliases.setdefault(alias.lower(), ())
            aliases[alias.lower()] += (final[str(original)],)

    specs = []
    for original, body in services.items():
        service = final[str(original)]
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise AppError(f'service "{service}": must be a mapping of fields, got {_shown(body)}')
        specs.append(_compose_service(service, body, final, aliases, ignored))
    return validate_app(AppSpec(app_name, tuple(specs), _compose_policies(app_name, specs, aliases)))


def _compose_policies(app: str, specs: list[ServiceSpec], aliases: dict[str, tuple[str, ...]]) -> tuple:
    """The policies of the strata.io/ingress-from and egress-to labels, services named as written
    (an alias stands for the services it names)."""
    def final(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return ",".join(",".join(aliases.get(part.strip().lower(), (part.strip(),))) for part in value.split(",")
                        if part.strip())

    labels = {s.name: {k: final(v) for k, v in s.labels if k in (INGRESS_FROM_LABEL, EGRESS_TO_LABEL)}
              for s in specs}
    try:
        return compose_policies(app, labels)
    except PolicyError as exc:
        raise AppError(str(exc)) from None


def _compose_service(service: str, body: dict, final: dict[str, str], aliases: dict[str, tuple[str, ...]],
                     ignored: _Ignored) -> ServiceSpec:
    image = body.get("image")
    if image is None:
        because = " (it has build:, but Strata does not build images: push the image and name it in image:)" \
            if "build" in body else ""
        raise _error(service, "image", f"an image is needed{because}")
    if not isinstance(image, str):
        raise _error(service, "image", f"must be an image reference, got {_shown(image)}")
    try:
        parse_image_reference(image)
    except AppError as e:
        raise _error(service, "image", f"{e}{_unset_hint(image)}") from None
    _compose_ignored(body, service, ignored)

    ports = None
    for key in ("ports", "expose"):
        entries = body.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise _error(service, key, f"must be a list, got {_shown(entries)}")
        if entries and ports is None:
            ports = _compose_port(entries[0], service, f"{key}[0]")
            ignored.fields.extend(f"{service}.{key}[{i}]" for i in range(1, len(entries)))
        elif entries:
            ignored.fields.extend(f"{service}.{key}[{i}]" for i in range(len(entries)))

    dependencies = []
    depends_on = body.get("depends_on") or []
    if not isinstance(depends_on, (list, dict)):
        raise _error(service, "depends_on", f"must be a list or mapping of service names, got {_shown(depends_on)}")
    for dep in depends_on:
        if str(dep) not in final:
            raise _error(service, "depends_on", f'no service "{dep}" in this file')
        if final[str(dep)] == service:
            raise _error(service, "depends_on", "a service cannot depend on itself")
        dependencies.append(final[str(dep)])
    local_aliases = dict(aliases)
    links = body.get("links") or []
    if not isinstance(links, list):
        raise _error(service, "links", f"must be a list of \"service[:alias]\", got {_shown(links)}")
    for link in links:
        target, _, alias = str(link).partition(":")
        if target not in final:
            raise _error(service, "links", f'no service "{target}" in this file')
        if final[target] == service:
            raise _error(service, "links", "a service cannot link to itself")
        dependencies.append(final[target])
        if alias:
            local_aliases[alias.lower()] = (final[target],)
    dependencies += _hosts_to_services(_compose_environment(body.get("environment"), service), local_aliases,
                                       cluster_dns=False)

    labels = _compose_labels(body.get("labels"), service, "labels")
    settings = _strata_settings(labels, service, "labels", ignored)
    spec = _service(service, image, replicas=_compose_replicas(body, service, ignored),
                    cpu=_compose_cpu(body, service), bandwidth=settings.bandwidth,
                    memory=_compose_memory(body, service), ports=ports, dependencies=dependencies, base=settings.base)
    return dataclasses.replace(spec, clients=settings.clients, max_client_delay_ms=settings.max_client_delay_ms,
                               mesh_service=str(labels.get(MESH_SERVICE_KEY, "")).strip(),
                               version=str(labels.get(VERSION_KEY, "")).strip(),
                               max_per_node=_compose_max_per_node(body, service),
                               exposed=bool(body.get("ports")), pids_limit=_compose_pids(body, service),
                               labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())))  # `ports:` publishes, `expose:` does not


# ---------------------------------------------------------------- Kubernetes


@dataclass
class _Workload:
    obj: dict
    kind: str
    name: str  # metadata.name
    namespace: str | None
    pod_labels: dict
    services: list = field(default_factory=list)  # Service objects selecting it
    service_name: str = ""  # the app's name for it
    mesh_service: str = ""  # the Service whose versions it is one of (Istio's pattern), or ""
    version: str = ""       # its pod template's `version` label, then


def _objects(docs: list[Any], source: str) -> list[dict]:
    """The objects of the documents, the items of List kinds flattened."""
    objects = []
    for doc in docs:
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
            raise AppError(f"{source}: {EXPECTED}; found a document without kind: {_shown(doc)[:80]}")
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(_objects([item for item in doc["items"] if item is not None], source))
        else:
            objects.append(doc)
    return objects


def _metadata(obj: dict, source: str, index: int) -> tuple[str, str | None]:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise AppError(f"{source}: object {index + 1} ({obj['kind']}): metadata.name: missing")
    namespace = metadata.get("namespace")
    return name, namespace if isinstance(namespace, str) and namespace else None


def _selects(service: dict, workload: _Workload) -> bool:
    selector = (service.get("spec") or {}).get("selector")
    return (isinstance(selector, dict) and bool(selector)
            and all(workload.pod_labels.get(k) == v for k, v in selector.items()))


def _service_type(service: dict) -> str:
    return (service.get("spec") or {}).get("type") or "ClusterIP"


VERSION_LABEL = "version"  # the pod label Istio's subsets select versions by


def _kubernetes_app(docs: list[Any], source: str, name: str | None, ignored: _Ignored) -> AppSpec:
    objects = _objects(docs, source)
    workloads: list[_Workload] = []
    services: list[tuple[str, str | None, dict]] = []
    policy_objects: list[dict] = []
    for index, obj in enumerate(objects):
        kind = obj["kind"]
        if kind in WORKLOAD_KINDS:
            wname, namespace = _metadata(obj, source, index)
            template = (obj.get("spec") or {}).get("template") if isinstance(obj.get("spec"), dict) else None
            labels = ((template or {}).get("metadata") or {}).get("labels") if isinstance(template, dict) else None
            workloads.append(_Workload(obj, kind, wname, namespace, labels if isinstance(labels, dict) else {}))
        elif kind == "Service":
            sname, namespace = _metadata(obj, source, index)
            services.append((sname, namespace, obj))
        elif kind == "NetworkPolicy":
            policy_objects.append(obj)
        else:
            ignored.kinds[kind] += 1
    if not workloads:
        raise AppError(f"{source}: no Deployment, StatefulSet or DaemonSet: nothing to run"
                       + (f" (found {', '.join(sorted(set(o['kind'] for o in objects)))})" if objects else ""))

    # Which Services select which workloads; a Service's name is an alias of every workload it selects.
    aliases: dict[str, tuple[str, ...]] = {}
    selected_by: dict[int, list[_Workload]] = {}  # id of a Service object -> the workloads it selects
    for sname, namespace, obj in services:
        chosen = [w for w in workloads if w.namespace == namespace and _selects(obj, w)]
        selected_by[id(obj)] = chosen
        if not chosen:
            ignored.notes.append(f"Service/{sname} selects no Deployment, StatefulSet or DaemonSet")
        for workload in chosen:
            workload.services.append(obj)

    # Names: the Service's when exactly one (internal) Service selects only this workload.
    for workload in workloads:
        own = [s for s in workload.services if len(selected_by[id(s)]) == 1]
        internal = [s for s in own if _service_type(s) not in EXTERNAL_SERVICE_TYPES]
        primary = internal[0] if len(internal) == 1 else own[0] if len(own) == 1 else None
        if primary is not None:
            written = primary["metadata"]["name"]
        else:
            written = workload.name
            if len(internal) > 1:
                ignored.notes.append(f"{workload.kind}/{workload.name} is selected by Services "
                                     f"{', '.join(s['metadata']['name'] for s in internal)}: named after the workload")
        if not WRITTEN_NAME.fullmatch(str(written)):
            raise AppError(f'{workload.kind}/{written[:80]}: name: {WRITTEN_NAME_RULE}')
        label = written if DNS_LABEL.fullmatch(written) and len(written) <= MAX_LABEL \
            else to_dns_label(written, prefix="svc")
        if label != written:
            ignored.notes.append(f'renamed "{written}" to "{label}"')
        workload.service_name = label
        # The Service used for the port: the primary, else the first internal one, else the first.
        if primary is not None:
            workload.services.remove(primary)
            workload.services.insert(0, primary)
        else:
            workload.services.sort(key=lambda s: _service_type(s) in EXTERNAL_SERVICE_TYPES)
    for workload in workloads:
        aliases[workload.service_name] = (workload.service_name,)
    for sname, _, obj in services:
        if selected_by[id(obj)]:
            aliases[sname.lower()] = tuple(dict.fromkeys(
                (*aliases.get(sname.lower(), ()), *(w.service_name for w in selected_by[id(obj)]))))
    # Versions, as Istio reads them: an internal Service selecting several workloads that each carry
    # a different `version` label is one mesh service (its VIP) whose subsets they are; calling it
    # is calling its first version's name (every version's name leads to the same VIP).
    for sname, _, obj in services:
        chosen = selected_by[id(obj)]
        labels = [w.pod_labels.get(VERSION_LABEL) for w in chosen]
        if (len(chosen) > 1 and _service_type(obj) not in EXTERNAL_SERVICE_TYPES
                and all(isinstance(v, str) and v for v in labels) and len(set(labels)) == len(labels)
                and not any(w.mesh_service for w in chosen)):
            valid = DNS_LABEL.fullmatch(sname) and len(sname) <= MAX_LABEL
            group = sname if valid else to_dns_label(sname, prefix="svc")
            for workload, version in zip(chosen, labels):
                workload.mesh_service, workload.version = group, version
            aliases[sname.lower()] = (chosen[0].service_name,)

    if name is not None:
        app_name = _checked_app_name(name)
    else:
        namespaces = {w.namespace for w in workloads} | {ns for _, ns, _ in services}
        common = next(iter(namespaces)) if len(namespaces) == 1 else None
        app_name = to_dns_label(common, prefix="app") if common else _stem_name(source)
    specs = tuple(_kubernetes_service(w, aliases, ignored,
                                      [o.pod_labels for o in workloads if o is not w and o.namespace == w.namespace])
                  for w in workloads)
    return validate_app(AppSpec(app_name, specs, _kubernetes_policies(policy_objects, app_name,
                                                                      {w.namespace for w in workloads})))


def _kubernetes_policies(objects: list[dict], app: str, namespaces: set[str | None]) -> tuple:
    """The NetworkPolicy objects, in the app's namespace (the one its workloads are in, or none)."""
    policies = []
    for obj in objects:
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        if metadata.get("namespace") in namespaces:  # the workloads' namespace is the app
            obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "namespace"}}
        try:
            policies.append(parse_network_policy(obj, app))
        except PolicyError as exc:
            raise AppError(str(exc)) from None
    return tuple(policies)


def _k8s_cpu(container: dict, service: str, path: str) -> float | None:
    resources = _mapping(container.get("resources"), service, f"{path}.resources")
    for kind in ("requests", "limits"):
        value = _mapping(resources.get(kind), service, f"{path}.resources.{kind}").get("cpu")
        if value is None:
            continue
        text = str(value).strip() if not isinstance(value, bool) else ""
        milli = text.endswith("m")
        cores = _positive_cores(text[:-1] if milli else value)
        if cores is None:
            raise _error(service, f"{path}.resources.{kind}.cpu",
                         f'must be a positive CPU quantity such as "100m" or "0.5", got {_shown(value)}')
        return cores if milli else cores * 1000.0
    return None


def _k8s_memory(container: dict, service: str, path: str) -> tuple[float, float]:
    resources = _mapping(container.get("resources"), service, f"{path}.resources")
    request, limit = ((f"{path}.resources.{kind}.memory",
                       _mapping(resources.get(kind), service, f"{path}.resources.{kind}").get("memory"))
                      for kind in ("requests", "limits"))
    return _memory_mib(request, limit, service, kubernetes_quantity_bytes, '"128Mi" or "1G"')


def _container_ports(containers: list, service: str) -> tuple[list[int], dict[str, int]]:
    """(containerPorts of the first container in order, port name -> number over all containers)."""
    numbers: list[int] = []
    named: dict[str, int] = {}
    for ci, container in enumerate(containers):
        ports = container.get("ports") or [] if isinstance(container, dict) else []
        if not isinstance(ports, list):
            raise _error(service, f"spec.template.spec.containers[{ci}].ports", f"must be a list, got {_shown(ports)}")
        for pi, port in enumerate(ports):
            path = f"spec.template.spec.containers[{ci}].ports[{pi}]"
            if not isinstance(port, dict) or "containerPort" not in port:
                raise _error(service, f"{path}.containerPort", "missing")
            number = _port_number(port["containerPort"], service, f"{path}.containerPort")
            if ci == 0:
                numbers.append(number)
            if isinstance(port.get("name"), str):
                named.setdefault(port["name"], number)
    return numbers, named


def _k8s_ports(workload: _Workload, service: str, containers: list, ignored: _Ignored) -> tuple[int, int] | None:
    numbers, named = _container_ports(containers, service)
    if not workload.services:
        return (numbers[0], numbers[0]) if numbers else None
    svc = workload.services[0]
    sname = svc["metadata"]["name"]
    entries = (svc.get("spec") or {}).get("ports")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        raise _error(service, f"Service/{sname} spec.ports", "at least one port is needed")
    ignored.fields.extend(f"{service}.Service/{sname}.spec.ports[{i}]" for i in range(1, len(entries)))
    first = entries[0]
    # nodePort publishes the Service on every node's address: Strata exposes it on its VIP only
    ignored.extra(first, {"port", "targetPort", "protocol", "name"}, f"{service}.Service/{sname}.spec.ports[0].")
    port = _port_number(first.get("port"), service, f"Service/{sname} spec.ports[0].port")
    target = first.get("targetPort", port)
    if isinstance(target, str) and not target.strip().isdigit():
        if target not in named:
            raise _error(service, f"Service/{sname} spec.ports[0].targetPort",
                         f'no container port is named "{target}" (named: {", ".join(named) or "none"})')
        return port, named[target]
    return port, _port_number(target, service, f"Service/{sname} spec.ports[0].targetPort")


def _kubernetes_service(workload: _Workload, aliases: dict[str, tuple[str, ...]], ignored: _Ignored,
                        others: list[dict]) -> ServiceSpec:
    """The service of one workload; `others`: the pod labels of the other workloads in its namespace."""
    service, obj = workload.service_name, workload.obj
    spec = _mapping(obj.get("spec"), service, "spec")
    template = _mapping(spec.get("template"), service, "spec.template")
    if not template:
        raise _error(service, "spec.template", "missing: a pod template is needed")
    pod = _mapping(template.get("spec"), service, "spec.template.spec")
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise _error(service, "spec.template.spec.containers", "at least one container is needed")
    container, path = containers[0], "spec.template.spec.containers[0]"
    image = container.get("image")
    if not isinstance(image, str) or not image:
        raise _error(service, f"{path}.image", f"an image is needed, got {_shown(image)}")
    try:
        parse_image_reference(image)
    except AppError as e:
        raise _error(service, f"{path}.image", str(e)) from None

    if workload.kind == "DaemonSet":
        replicas = 1  # one per node: one replica for Strata to place
    else:
        replicas = 1 if spec.get("replicas") is None else _whole(spec["replicas"], service, "spec.replicas")

    env = container.get("env") or []
    if not isinstance(env, list):
        raise _error(service, f"{path}.env", f"must be a list of name/value, got {_shown(env)}")
    variables = [(str(item.get("name", "")), text) for item in env
                 if isinstance(item, dict) and (text := _text(item.get("value")))]
    dependencies = _hosts_to_services(variables, aliases, cluster_dns=True)

    annotations = {**_mapping((obj.get("metadata") or {}).get("annotations"), service, "metadata.annotations"),
                   **_mapping((template.get("metadata") or {}).get("annotations"), service,
                              "spec.template.metadata.annotations")}
    settings = _strata_settings(annotations, service, "annotations", ignored)
    if CLIENTS_KEY in workload.pod_labels and CLIENTS_KEY not in annotations:
        # A label value holds one name only (no "," or "="): "site1"; the annotation holds a list.
        try:
            settings = dataclasses.replace(settings, clients=parse_clients(workload.pod_labels[CLIENTS_KEY]))
        except AppError as e:
            raise _error(service, f'spec.template.metadata.labels["{CLIENTS_KEY}"]', str(e)) from None

    ignored.extra(obj, {"apiVersion", "kind", "metadata", "spec"}, f"{service}.")
    ignored.extra(spec, {"replicas", "selector", "template"}, f"{service}.spec.")
    ignored.extra(template, {"metadata", "spec"}, f"{service}.spec.template.")
    ignored.extra(pod, {"containers", "affinity", "topologySpreadConstraints"}, f"{service}.pod.")
    ignored.fields.extend(f"{service}.pod.containers[{i}]" for i in range(1, len(containers)))
    ignored.extra(container, {"name", "image", "ports", "env", "resources"}, f"{service}.container.")
    resources = container.get("resources")
    if isinstance(resources, dict):
        for kind, amounts in resources.items():
            if kind in ("requests", "limits") and isinstance(amounts, dict):
                ignored.extra(amounts, {"cpu", "memory"}, f"{service}.container.resources.{kind}.")
            else:
                ignored.fields.append(f"{service}.container.resources.{kind}")
    ignored.fields.extend(f"{service}.container.env.{item.get('name')}.valueFrom" for item in env
                          if isinstance(item, dict) and "valueFrom" in item)
    for svc in workload.services:
        ignored.extra(svc.get("spec") or {}, {"selector", "ports", "type", "clusterIP", "clusterIPs"},
                      f"{service}.Service/{svc['metadata']['name']}.spec.")

    spec = _service(service, image, replicas=replicas, cpu=_k8s_cpu(container, service, path),
                    bandwidth=settings.bandwidth, memory=_k8s_memory(container, service, path),
                    ports=_k8s_ports(workload, service, containers, ignored),
                    dependencies=dependencies, base=settings.base)
    pods = _Pods(workload.pod_labels, others)
    max_per_node, prefer_apart = _k8s_anti_affinity(pod, pods, service, ignored)
    _, named = _container_ports(containers, service)
    return dataclasses.replace(spec, clients=settings.clients, max_client_delay_ms=settings.max_client_delay_ms,
                               labels=tuple(sorted((str(k), str(v)) for k, v in workload.pod_labels.items())),
                               port_name=next((n for n, number in named.items() if number == spec.target_port
                                               and not dns_label_problem(n) and len(n) <= 15), ""),
                               mesh_service=workload.mesh_service,
                               version=workload.version,
                               max_per_node=max_per_node, spread=_k8s_spread(pod, pods, service, ignored),
                               prefer_apart=prefer_apart,
                               exposed=any(_service_type(s) in PUBLISHING_SERVICE_TYPES for s in workload.services))


# ---------------------------------------------------------------- Kubernetes spread and anti-affinity

HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEYS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")  # the second: deprecated
WHEN_UNSATISFIABLE = {"DoNotSchedule": True, "ScheduleAnyway": False}  # -> hard
SPREAD_PATH = "spec.template.spec.topologySpreadConstraints"
AFFINITY_PATH = "spec.template.spec.affinity"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


@dataclass(frozen=True)
class _Pods:
    own: dict  # the workload's pod labels
    others: list  # the pod labels of the other workloads in its namespace


def _matches(selector: dict, labels: dict, service: str, path: str) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions, ANDed) selects pods with `labels`."""
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise _error(service, f"{path}.matchExpressions", f"must be a list, got {_shown(expressions)}")
    matched = all(labels.get(k) == v for k, v in
                  _mapping(selector.get("matchLabels"), service, f"{path}.matchLabels").items())
    for k, expression in enumerate(expressions):
        where = f"{path}.matchExpressions[{k}]"
        expression = _mapping(expression, service, where)
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if not isinstance(key, str) or not key:
            raise _error(service, f"{where}.key", f"must be a label key, got {_shown(key)}")
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise _error(service, f"{where}.operator",
                         f'must be "In", "NotIn", "Exists" or "DoesNotExist", got {_shown(operator)}')
        if not isinstance(values, list) or (operator in ("In", "NotIn")) != bool(values):
            raise _error(service, f"{where}.values", f"must be a non-empty list for In and NotIn and absent for "
                                                     f"Exists and DoesNotExist, got {_shown(values)}")
        present = key in labels
        matched &= {"In": present and labels.get(key) in values, "NotIn": labels.get(key) not in values,
                    "Exists": present, "DoesNotExist": not present}[operator]
    return matched


def _selector_problem(selector: Any, pods: _Pods, service: str, path: str) -> str:
    """Why a term's labelSelector is not "the workload's own replicas" ("" when it is): Strata's
    spread and anti-affinity rules are over one service's replicas."""
    if selector is None:
        return "no labelSelector: it selects no pods"
    selector = _mapping(selector, service, path)
    if not _matches(selector, pods.own, service, path):
        return "its labelSelector does not select the workload's own pods"
    if any(_matches(selector, labels, service, path) for labels in pods.others):
        return "its labelSelector selects other workloads' pods too; Strata's rules are over one service's replicas"
    return ""


def _k8s_spread(pod: dict, pods: _Pods, service: str, ignored: _Ignored) -> tuple[SpreadSpec, ...]:
    """topologySpreadConstraints over hostname and zone that select the workload's own pods."""
    items = pod.get("topologySpreadConstraints")
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _error(service, SPREAD_PATH, f"must be a list, got {_shown(items)}")
    found: dict[str, tuple[SpreadSpec, str]] = {}  # topology -> (spread, short path)
    for k, item in enumerate(items):
        where, short = f"{SPREAD_PATH}[{k}]", f"{service}.pod.topologySpreadConstraints[{k}]"
        item = _mapping(item, service, where)
        for key in ("maxSkew", "topologyKey", "whenUnsatisfiable"):
            if key not in item:
                raise _error(service, f"{where}.{key}", "missing")
        skew, key, when = item["maxSkew"], item["topologyKey"], item["whenUnsatisfiable"]
        if isinstance(skew, bool) or not isinstance(skew, int) or skew < 1:
            raise _error(service, f"{where}.maxSkew", f"must be a whole number >= 1, got {_shown(skew)}")
        if not isinstance(key, str) or not key:
            raise _error(service, f"{where}.topologyKey",
                         f"must be a node label key such as {HOSTNAME_KEY}, got {_shown(key)}")
        if when not in WHEN_UNSATISFIABLE:
            raise _error(service, f"{where}.whenUnsatisfiable",
                         f'must be "DoNotSchedule" or "ScheduleAnyway", got {_shown(when)}')
        topology = "node" if key == HOSTNAME_KEY else "zone" if key in ZONE_KEYS else ""
        why = (f"topologyKey {key}: Strata spreads over {HOSTNAME_KEY} and {ZONE_KEYS[0]}" if not topology
               else _selector_problem(item.get("labelSelector"), pods, service, f"{where}.labelSelector"))
        if why:
            ignored.fields.append(f"{short} ({why})")
            continue
        ignored.extra(item, {"maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector"}, f"{short}.")
        spread = SpreadSpec(topology, skew, WHEN_UNSATISFIABLE[when])
        if topology in found:
            earlier, earlier_short = found[topology]
            if earlier.hard == spread.hard:  # Kubernetes refuses these too
                raise _error(service, where, f"a second constraint over {key} with whenUnsatisfiable {when}")
            # Strata holds one spread per topology: the required one
            kept, dropped = (earlier, short) if earlier.hard else (spread, earlier_short)
            ignored.fields.append(f"{dropped} (a preferred spread beside a required one over the same topology)")
            found[topology] = (kept, earlier_short if kept is earlier else short)
            continue
        found[topology] = (spread, short)
    return tuple(spread for spread, _ in found.values())


def _apart_term(term: Any, pods: _Pods, service: str, where: str, short: str, ignored: _Ignored) -> bool:
    """Whether a pod affinity term of podAntiAffinity keeps the workload's own replicas on
    different nodes (topologyKey hostname, a selector of its own pods); reports other terms."""
    term = _mapping(term, service, where)
    key = term.get("topologyKey")
    if not isinstance(key, str) or not key:
        raise _error(service, f"{where}.topologyKey",
                     f"must be a node label key such as {HOSTNAME_KEY}, got {_shown(key)}")
    why = (f"topologyKey {key}: Strata keeps replicas apart per node, {HOSTNAME_KEY}" if key != HOSTNAME_KEY
           else _selector_problem(term.get("labelSelector"), pods, service, f"{where}.labelSelector"))
    if why:
        ignored.fields.append(f"{short} ({why})")
        return False
    ignored.extra(term, {"topologyKey", "labelSelector"}, f"{short}.")
    return True


def _k8s_anti_affinity(pod: dict, pods: _Pods, service: str, ignored: _Ignored) -> tuple[int, bool]:
    """(max_per_node, prefer_apart) of affinity.podAntiAffinity: a required term over hostname
    selecting the workload's own pods allows one replica per node; a preferred one prefers it."""
    affinity = _mapping(pod.get("affinity"), service, AFFINITY_PATH)
    ignored.extra(affinity, {"podAntiAffinity"}, f"{service}.pod.affinity.")
    path, short = f"{AFFINITY_PATH}.podAntiAffinity", f"{service}.pod.affinity.podAntiAffinity"
    anti = _mapping(affinity.get("podAntiAffinity"), service, path)
    ignored.extra(anti, {REQUIRED, PREFERRED}, f"{short}.")
    terms = {}
    for kind in (REQUIRED, PREFERRED):
        terms[kind] = anti.get(kind) or []
        if not isinstance(terms[kind], list):
            raise _error(service, f"{path}.{kind}", f"must be a list, got {_shown(terms[kind])}")
    max_per_node = 0
    for k, term in enumerate(terms[REQUIRED]):
        if _apart_term(term, pods, service, f"{path}.{REQUIRED}[{k}]", f"{short}.{REQUIRED}[{k}]", ignored):
            max_per_node = 1
    prefer_apart = False
    for k, item in enumerate(terms[PREFERRED]):
        where, item_short = f"{path}.{PREFERRED}[{k}]", f"{short}.{PREFERRED}[{k}]"
        item = _mapping(item, service, where)
        weight = item.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            raise _error(service, f"{where}.weight", f"must be a whole number 1-100, got {_shown(weight)}")
        if "podAffinityTerm" not in item:
            raise _error(service, f"{where}.podAffinityTerm", "missing")
        ignored.extra(item, {"weight", "podAffinityTerm"}, f"{item_short}.")
        if _apart_term(item["podAffinityTerm"], pods, service, f"{where}.podAffinityTerm",
                       f"{item_short}.podAffinityTerm", ignored):
            prefer_apart = True
    return max_per_node, prefer_apart


# ---------------------------------------------------------------- entry points


def load_manifest_text(text: str, source_name: str, *, name: str | None = None, warn: Warn) -> AppSpec:
    """The app of a Compose file or Kubernetes manifests given as text; `source_name` names it in
    messages and, without `name` or a name in the file, gives the app its name.

    Calls `warn` at most once, listing what the file holds that Strata does not use.
    """
    docs = _documents(text, source_name)
    ignored = _Ignored()
    if len(docs) == 1 and isinstance(docs[0], dict) and "services" in docs[0] and "kind" not in docs[0]:
        app = _compose_app(docs[0], source_name, name, ignored)
    elif docs and all(isinstance(doc, dict) and isinstance(doc.get("kind"), str) for doc in docs):
        app = _kubernetes_app(docs, source_name, name, ignored)
    else:
        found = "an empty file" if not docs else f"{len(docs)} documents" if len(docs) > 1 \
            else f"a {type(docs[0]).__name__}" if not isinstance(docs[0], dict) \
            else f"a mapping with keys {', '.join(map(str, list(docs[0])[:6]))}"
        raise AppError(f"{source_name}: {EXPECTED}; found {found}")
    message = ignored.message(source_name)
    if message:
        warn(message)
    return app


def load_manifest(path_or_text: str | os.PathLike, *, name: str | None = None, warn: Warn) -> AppSpec:
    """The app of a Compose file or Kubernetes manifests: a path (a Path, or a str without a line
    break) or the text itself (a str with a line break). See load_manifest_text()."""
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return load_manifest_text(path_or_text, "<text>", name=name, warn=warn)
    path = Path(path_or_text)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AppError(f"cannot read {path}: {e.strerror if isinstance(e, OSError) else e}") from None
    return load_manifest_text(text, str(path), name=name, warn=warn)


# ---------------------------------------------------------------- network policies on their own

def load_policies_text(text: str, source_name: str, *, app: str | None = None,
                       warn: Warn) -> tuple[str, tuple]:
    """(application, its network policies) from a file of NetworkPolicy objects (the app: `app`,
    else their namespace), or from an application's own Compose file or Kubernetes manifests
    (its policies, the Compose label form included; the app: `app`, else the file's)."""
    docs = _documents(text, source_name)
    if docs and all(isinstance(d, dict) and isinstance(d.get("kind"), str) for d in docs):
        objects = _objects(docs, source_name)
        if objects and all(o["kind"] == "NetworkPolicy" for o in objects):
            spaces = {(o.get("metadata") or {}).get("namespace") for o in objects if isinstance(o.get("metadata"), dict)}
            name = app or (next(iter(spaces)) if len(spaces) == 1 else None)
            if not name:
                raise AppError(f"{source_name}: say which application the policies are of (--app NAME), or give "
                               "them all metadata.namespace: the application")
            name = _checked_app_name(name)
            return name, _kubernetes_policies(objects, name, {name})
    spec = load_manifest_text(text, source_name, name=app, warn=warn)
    return spec.name, spec.policies


def load_policies(path: str | os.PathLike, *, app: str | None = None, warn: Warn) -> tuple[str, tuple]:
    """load_policies_text() of the file at `path`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AppError(f"cannot read {path}: {e.strerror if isinstance(e, OSError) else e}") from None
    return load_policies_text(text, str(path), app=app, warn=warn)
