"""The application model: named services, each an image with replicas, CPU, bandwidth, a port and its callees."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from api.bounds import MAX_DOCUMENT, MAX_LIST, MAX_MILLICORES, MAX_PIDS, MAX_REPLICAS
from api.names import dns_label_problem
from api.network_policy import NetworkPolicy, check_policies, parse_network_policy, policy_to_dict
from component_base.errors import InvalidArgument

# Image references as the distribution spec (and `docker pull`) reads them.
_REGISTRY = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
                       r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
MAX_REPOSITORY = 255
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


class AppError(InvalidArgument, ValueError):
    """Bad application input; the message names the service and the field."""


# Spread domains of a service's replicas: one per node (Kubernetes' kubernetes.io/hostname) or
# one per zone (topology.kubernetes.io/zone: a node's zone is its edge site).
SPREAD_TOPOLOGIES = ("node", "zone")


@dataclass(frozen=True)
class SpreadSpec:
    """A topology spread constraint over a service's replicas (Kubernetes' topologySpreadConstraints)."""

    topology: str  # one of SPREAD_TOPOLOGIES
    max_skew: int = 1  # >= 1: replicas in a domain at most this many more than in the domain with fewest
    hard: bool = True  # True: DoNotSchedule (required); False: ScheduleAnyway (preferred)


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # DNS-1035 label: [a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters
    image: str  # image reference as written ("redis", "mongo:4.4.6", "gcr.io/x/y:v1", "x@sha256:...")
    replicas: int = 1  # >= 0 (0: scaled to zero)
    cpu_millicores: float = 100.0  # per replica, > 0
    bandwidth_mbps: float = 10.0  # per replica, >= 0
    memory_mib: float = 0.0  # memory request per replica, MiB (2^20 bytes), >= 0; 0 = requests none
    memory_limit_mib: float = 0.0  # memory limit per replica, MiB; 0 = the node's default; else >= memory_mib
    port: int = 8080  # port of the service's virtual IP, 1-65535
    target_port: int = 8080  # port the container listens on, 1-65535
    dependencies: tuple[str, ...] = ()  # names of services of the same app it calls
    base_image: str = ""  # declared base of an image outside the Docker Hub dataset ("": the catalogue decides)
    mesh_service: str = ""  # the service (VIP) it is a version of, shared with its other versions ("": its own)
    version: str = ""  # its version: the mesh subset its instances form ("" = none)
    vnf_kind: str = ""    # a VNF program's kind (programs/vnf: firewall, ratelimit, monitor) instead of
    vnf_config: str = ""  # the service program; its configuration (JSON). A VNF has no VIP: chains steer to it
    near: str = ""  # a topology host: its instances go on the ready nodes fewest hops from it that fit
    max_per_node: int = 0  # required: at most this many replicas on one node (podAntiAffinity required
    #                        on hostname: 1; Compose deploy.placement.max_replicas_per_node); 0 = no limit
    spread: tuple[SpreadSpec, ...] = ()  # topologySpreadConstraints over its replicas
    prefer_apart: bool = False  # preferred: replicas on different nodes (preferred podAntiAffinity, hostname)
    exposed: bool = False  # published for users outside the app (a Kubernetes Service of type LoadBalancer or
    #                        NodePort, Compose `ports:`): where its users come in (api.front_end)
    clients: tuple[tuple[str, float], ...] = ()  # where its clients are (strata.io/clients): (site or host
    #                                              name, weight > 0), by name, each once; () = not said
    max_client_delay_ms: float = 0.0  # required: no client farther than this from its node, one way, ms
    pids_limit: int = 0  # processes and threads per replica (Compose pids_limit); 0 = the node's default
    #                                   (strata.io/max-client-delay-ms); 0 = no bound; needs clients
    labels: tuple[tuple[str, str], ...] = ()  # its pods' labels (Kubernetes' pod template, Compose's labels),
    #                                           sorted by key: what network policies select
    port_name: str = ""  # the name its pods give target_port (a container port's name), for policies; "" = none

    @property
    def group(self) -> str:
        """The name of the VIP and mesh service its instances serve."""
        return self.mesh_service or self.name


@dataclass(frozen=True)
class AppSpec:
    name: str  # DNS-1035 label, like a service name
    services: tuple[ServiceSpec, ...]
    policies: tuple[NetworkPolicy, ...] = ()  # its network policies (the app is their namespace)

    def service(self, name: str) -> ServiceSpec:
        """The service called `name`; KeyError if the app has none."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f'app "{self.name}" has no service "{name}"')

    def front_ends(self) -> tuple[str, ...]:
        """Services no other service depends on (the app's entry points), in the app's order."""
        called = {dep for service in self.services for dep in service.dependencies if dep != service.name}
        return tuple(service.name for service in self.services if service.name not in called)


@dataclass(frozen=True)
class ImageReference:
    """An image reference taken apart; `registry` is "" for Docker Hub."""

    registry: str  # host[:port], "" for Docker Hub (docker.io and its aliases)
    path: str  # repository path inside the registry; Docker Hub official images are "library/<name>"
    tag: str  # "" when none is written (pulls mean "latest")
    digest: str  # "" when none is written

    @property
    def official(self) -> bool:
        """A Docker Hub official image ("redis", "library/redis", "docker.io/library/redis")."""
        return not self.registry and self.path.startswith("library/") and self.path.count("/") == 1

    @property
    def repository(self) -> str:
        """The repository in its familiar form: "redis", "yg397/media-frontend", "gcr.io/x/y"."""
        if not self.registry:
            return self.path.removeprefix("library/") if self.official else self.path
        return f"{self.registry}/{self.path}"


def parse_image_reference(text: Any) -> ImageReference:
    """`[registry/]path[:tag][@digest]` taken apart; AppError "invalid image reference ..." otherwise."""
    def invalid(why: str) -> AppError:
        return AppError(f'invalid image reference "{text}": {why}')

    if not isinstance(text, str) or not text:
        raise invalid("empty")
    if any(c.isspace() for c in text):
        raise invalid("it contains spaces")
    name, digest = text, ""
    if "@" in text:
        name, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise invalid("after '@' expected sha256:<64 lowercase hex digits>")
    tag = ""
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise invalid(f'bad tag "{tag}": 1-128 letters, digits, "_", "." or "-", not starting with "." or "-"')
    components = name.split("/")
    registry = ""
    first = components[0]
    if len(components) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not _REGISTRY.fullmatch(first):
            raise invalid(f'bad registry host "{first}"')
        registry = "" if first.lower() in DOCKER_HUB_HOSTS else first
        components = components[1:]
    path = "/".join(components)
    if not path:
        raise invalid("no repository")
    for component in components:
        if not _COMPONENT.fullmatch(component):
            if component != component.lower():
                raise invalid(f'repository "{path}" has uppercase letters (repository names are lowercase)')
            raise invalid(f'repository "{path}" must be "/"-separated components of lowercase letters and '
                          'digits joined by ".", "_", "__" or "-"')
    if not registry and len(components) == 1:
        path = f"library/{path}"
    if len(path) > MAX_REPOSITORY:
        raise invalid(f"repository longer than {MAX_REPOSITORY} characters")
    return ImageReference(registry, path, tag, digest)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# A site (a switch) or host name as the topologies write them: "site1", "dev4", "s12", "Amsterdam-dev1".
CLIENT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?")


def parse_clients(text: Any) -> tuple[tuple[str, float], ...]:
    """The strata.io/clients form, "site1=3,site2,dev4": sites or hosts, each with an optional
    weight (default 1), as (name, weight) sorted by name; AppError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise AppError(f'must list sites or hosts, e.g. "site1=3,site2", got {text!r}')
    clients: dict[str, float] = {}
    for part in text.split(","):
        name, equals, weight = (x.strip() for x in part.partition("="))
        if not CLIENT_NAME.fullmatch(name):
            raise AppError(f'"{part.strip()}" is not a site or host name (with an optional =weight)')
        if name in clients:
            raise AppError(f'"{name}" is listed twice')
        try:
            value = float(weight) if equals else 1.0
        except ValueError:
            value = math.nan
        if not (_finite(value) and value > 0):
            raise AppError(f'the weight of "{name}" must be a number > 0, got "{weight}"')
        clients[name] = value
    return tuple(sorted(clients.items()))


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _service_problems(service: ServiceSpec) -> list[tuple[str, str]]:
    """(field, problem) of one service, checked on its own."""
    problems = []
    if (why := dns_label_problem(service.name)) is not None:
        problems.append(("name", why))
    try:
        parse_image_reference(service.image)
    except AppError as e:
        problems.append(("image", str(e)))
    if not _whole(service.replicas) or not 0 <= service.replicas <= MAX_REPLICAS:
        problems.append(("replicas", f"must be a whole number from 0 to {MAX_REPLICAS}, got {service.replicas!r}"))
    if not _number(service.cpu_millicores) or not _finite(service.cpu_millicores) \
            or not 0 < service.cpu_millicores <= MAX_MILLICORES:
        problems.append(("cpu_millicores", f"must be a positive finite number up to {MAX_MILLICORES:g}, "
                                           f"got {service.cpu_millicores!r}"))
    if not _number(service.bandwidth_mbps) or not _finite(service.bandwidth_mbps) or service.bandwidth_mbps < 0:
        problems.append(("bandwidth_mbps", f"must be a finite number >= 0, got {service.bandwidth_mbps!r}"))
    for field in ("memory_mib", "memory_limit_mib"):
        value = getattr(service, field)
        if not _number(value) or not _finite(value) or value < 0:
            problems.append((field, f"must be a finite number of MiB >= 0, got {value!r}"))
    if not problems and 0 < service.memory_limit_mib < service.memory_mib:
        problems.append(("memory_mib", f"the request, {service.memory_mib:g} MiB, is above the limit, "
                                       f"memory_limit_mib {service.memory_limit_mib:g} MiB"))
    if not _whole(service.pids_limit) or not 0 <= service.pids_limit <= MAX_PIDS:
        problems.append(("pids_limit", f"must be a whole number from 0 (the node's default) to {MAX_PIDS}, "
                                       f"got {service.pids_limit!r}"))
    for field in ("port", "target_port"):
        value = getattr(service, field)
        if not _whole(value) or not 1 <= value <= 65535:
            problems.append((field, f"must be a port number 1-65535, got {value!r}"))
    if not isinstance(service.base_image, str) or len(service.base_image) > MAX_REPOSITORY + 200:
        problems.append(("base_image", f"must be an image reference, got {service.base_image!r:.200}"))
    if not isinstance(service.vnf_config, str) or len(service.vnf_config) > MAX_DOCUMENT:
        problems.append(("vnf_config", f"must be a string of at most {MAX_DOCUMENT} characters"))
    if not isinstance(service.dependencies, tuple) or not all(isinstance(d, str) for d in service.dependencies) \
            or len(service.dependencies) > MAX_LIST:
        problems.append(("dependencies", f"must be a tuple of at most {MAX_LIST} service names, "
                                         f"got {service.dependencies!r:.200}"))
    if not isinstance(service.near, str) or len(service.near) > 253 or any(c.isspace() for c in service.near):
        problems.append(("near", f"must be a host name, got {service.near!r}"))
    if not isinstance(service.clients, tuple) or len(service.clients) > MAX_LIST or not all(
            isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str) and CLIENT_NAME.fullmatch(c[0])
            and _number(c[1]) and _finite(c[1]) and c[1] > 0 for c in service.clients):
        problems.append(("clients", f"must be at most {MAX_LIST} (site or host name, weight > 0) pairs, "
                                    f"got {service.clients!r:.200}"))
    elif len({c[0] for c in service.clients}) != len(service.clients):
        problems.append(("clients", "names a site or host twice"))
    bound = service.max_client_delay_ms
    if not _number(bound) or not _finite(bound) or bound < 0:
        problems.append(("max_client_delay_ms", f"must be a finite number of ms >= 0, got {bound!r}"))
    elif bound and not service.clients:
        problems.append(("max_client_delay_ms", "needs clients (where they are: strata.io/clients)"))
    if not _whole(service.max_per_node) or service.max_per_node < 0:
        problems.append(("max_per_node", f"must be a whole number >= 0, got {service.max_per_node!r}"))
    for field in ("prefer_apart", "exposed"):
        if not isinstance(getattr(service, field), bool):
            problems.append((field, f"must be true or false, got {getattr(service, field)!r}"))
    if not isinstance(service.labels, tuple) or len(service.labels) > MAX_LIST or not all(
            isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) and isinstance(x[1], str)
            and 0 < len(x[0]) <= MAX_LABEL_KEY and len(x[1]) <= MAX_LABEL_VALUE for x in service.labels):
        problems.append(("labels", f"must be at most {MAX_LIST} (key, value) pairs, keys of 1-{MAX_LABEL_KEY} and "
                                   f"values of at most {MAX_LABEL_VALUE} characters, got {service.labels!r:.200}"))
    if not isinstance(service.port_name, str) or (service.port_name and (
            dns_label_problem(service.port_name) or len(service.port_name) > 15)):
        problems.append(("port_name", f"must be a lowercase name of at most 15 characters, got {service.port_name!r}"))
    if not isinstance(service.spread, tuple) or not all(isinstance(s, SpreadSpec) for s in service.spread):
        problems.append(("spread", f"must be a tuple of SpreadSpec, got {service.spread!r}"))
    else:
        for k, spread in enumerate(service.spread):
            if spread.topology not in SPREAD_TOPOLOGIES:
                problems.append((f"spread[{k}].topology",
                                 f"must be one of {', '.join(SPREAD_TOPOLOGIES)}, got {spread.topology!r}"))
            if not _whole(spread.max_skew) or spread.max_skew < 1:
                problems.append((f"spread[{k}].max_skew", f"must be a whole number >= 1, got {spread.max_skew!r}"))
            if not isinstance(spread.hard, bool):
                problems.append((f"spread[{k}].hard", f"must be true or false, got {spread.hard!r}"))
        if len({s.topology for s in service.spread}) != len(service.spread):
            problems.append(("spread", "has two constraints over the same topology"))
    if service.vnf_kind or service.vnf_config:
        from programs.vnf.program import KINDS, ConfigError, parse_vnf_config

        if service.vnf_kind not in KINDS:
            problems.append(("vnf_kind", f"must be one of {', '.join(KINDS)}, got {service.vnf_kind!r}"))
        else:
            try:
                parse_vnf_config(service.vnf_kind, service.vnf_config)
            except ConfigError as e:
                problems.append(("vnf_config", str(e).removeprefix("STRATA_VNF_CONFIG: ")))
    return problems


def validate_app(app: AppSpec) -> AppSpec:
    """`app` itself if it is consistent; AppError naming the service and the field otherwise.

    Dependency cycles are allowed (real apps have them); a dependency on a missing service or on
    the service itself is not.
    """
    if (why := dns_label_problem(app.name)) is not None:
        raise AppError(f"app name: {why}")
    if not isinstance(app.services, tuple) or not app.services:
        raise AppError(f'app "{app.name}": no services')
    if len(app.services) > MAX_LIST:
        raise AppError(f'app "{app.name}": {len(app.services)} services; at most {MAX_LIST}')
    names: set[str] = set()
    for service in app.services:
        if not isinstance(service, ServiceSpec):
            raise AppError(f'app "{app.name}": services must be ServiceSpec, got {service!r}')
        for field, why in _service_problems(service):
            raise AppError(f'service "{service.name}": {field}: {why}')
        if service.name in names:
            raise AppError(f'service "{service.name}": name: more than one service has this name')
        names.add(service.name)
    groups: dict[str, ServiceSpec] = {}
    for service in app.services:
        if service.version and not VERSION.fullmatch(service.version):
            raise AppError(f'service "{service.name}": version: "{service.version[:40]}" is not a label (1-63 letters, '
                           "digits, '-', '_' or '.', starting and ending with a letter or digit)")
        if service.mesh_service and (why := dns_label_problem(service.mesh_service)) is not None:
            raise AppError(f'service "{service.name}": mesh_service: {why}')
        first = groups.setdefault(service.group, service)
        if first.port != service.port:
            raise AppError(f'service "{service.name}": port: {service.port}, but "{first.name}", another version of '
                           f'"{service.group}", serves it on {first.port}: versions share one VIP and port')
    for name, first in groups.items():
        if name in names and app.service(name).group != name:
            raise AppError(f'service "{first.name}": mesh_service: "{name}" is the name of another service')
    for service in app.services:
        for dep in service.dependencies:
            if dep == service.name:
                raise AppError(f'service "{service.name}": dependencies: a service cannot depend on itself')
            if dep not in names:
                raise AppError(f'service "{service.name}": dependencies: no service "{dep}" in app "{app.name}"')
        if len(set(service.dependencies)) != len(service.dependencies):
            raise AppError(f'service "{service.name}": dependencies: a service is listed twice')
    if not isinstance(app.policies, tuple) or not all(isinstance(p, NetworkPolicy) for p in app.policies):
        raise AppError(f'app "{app.name}": policies must be a tuple of NetworkPolicy, got {app.policies!r:.200}')
    check_policies(app.name, app.policies)
    return app


SERVICE_FIELDS = ("name", "image", "replicas", "cpu_millicores", "bandwidth_mbps", "memory_mib", "memory_limit_mib",
                  "port", "target_port",
                  "dependencies", "base_image", "mesh_service", "version", "vnf_kind", "vnf_config", "near",
                  "max_per_node", "spread", "prefer_apart", "exposed", "clients", "max_client_delay_ms", "pids_limit",
                  "labels", "port_name")
MAX_LABEL_KEY, MAX_LABEL_VALUE = 317, 63  # Kubernetes: a 253-character prefix, "/", a 63-character name
SPREAD_FIELDS = ("topology", "max_skew", "hard")
VERSION = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def describe_rules(service: ServiceSpec) -> str:
    """A service's placement rules in words ("" when it has none), e.g. "at most 1 per node,
    spread over zones (max skew 1, required)"."""
    words = [f"at most {service.max_per_node} per node"] if service.max_per_node else []
    words += [f"spread over {s.topology}s (max skew {s.max_skew}, {'required' if s.hard else 'preferred'})"
              for s in service.spread]
    if service.prefer_apart:
        words.append("preferably one per node")
    if service.max_client_delay_ms:
        words.append(f"within {service.max_client_delay_ms:g} ms of its clients "
                     f"({', '.join(name for name, _ in service.clients)})")
    return ", ".join(words)


def _field_to_json(service: ServiceSpec, field: str) -> Any:
    value = getattr(service, field)
    if field == "dependencies":
        return list(value)
    if field == "spread":
        return [{name: getattr(s, name) for name in SPREAD_FIELDS} for s in value]
    if field in ("clients", "labels"):
        return dict(value)
    return value


def app_to_dict(app: AppSpec) -> dict:
    """The JSON form: {"name", "services": [{name, image, replicas, cpu_millicores, ...}]}."""
    return {"name": app.name,
            "services": [{field: _field_to_json(s, field) for field in SERVICE_FIELDS} for s in app.services],
            **({"policies": [policy_to_dict(p) for p in app.policies]} if app.policies else {})}


def _spread_from_json(items: Any, label: str) -> tuple[SpreadSpec, ...]:
    if not isinstance(items, (list, tuple)):
        raise AppError(f"{label}: spread: must be a list of {{topology, max_skew, hard}}, got {items!r}")
    spread = []
    for k, item in enumerate(items):
        if not isinstance(item, dict) or "topology" not in item or set(item) - set(SPREAD_FIELDS):
            raise AppError(f"{label}: spread[{k}]: must be an object with topology and optionally max_skew "
                           f"and hard, got {item!r}")
        spread.append(SpreadSpec(**item))
    return tuple(spread)


def _service_from_dict(d: Any, index: int) -> ServiceSpec:
    if not isinstance(d, dict):
        raise AppError(f"services[{index}]: must be an object, got {d!r}")
    label = f'service "{d["name"]}"' if isinstance(d.get("name"), str) else f"services[{index}]"
    unknown = sorted(set(d) - set(SERVICE_FIELDS))
    if unknown:
        raise AppError(f"{label}: unknown field(s) {', '.join(unknown)} (known: {', '.join(SERVICE_FIELDS)})")
    for required in ("name", "image"):
        if required not in d:
            raise AppError(f"{label}: {required}: missing")
    kwargs = dict(d)
    for field in ("replicas", "port", "target_port", "max_per_node"):  # JSON from other languages may write 2.0
        value = kwargs.get(field)
        if isinstance(value, float) and value.is_integer():
            kwargs[field] = int(value)
    deps = kwargs.get("dependencies", [])
    if not isinstance(deps, (list, tuple)) or not all(isinstance(x, str) for x in deps):
        raise AppError(f"{label}: dependencies: must be a list of service names, got {deps!r}")
    kwargs["dependencies"] = tuple(deps)
    kwargs["spread"] = _spread_from_json(kwargs.get("spread", []), label)
    clients = kwargs.get("clients", {})
    if not isinstance(clients, dict):
        raise AppError(f"{label}: clients: must be an object of site or host name to weight, got {clients!r}")
    kwargs["clients"] = tuple(sorted(clients.items()))
    labels = kwargs.get("labels", {})
    if not isinstance(labels, dict):
        raise AppError(f"{label}: labels: must be an object of label to value, got {labels!r:.200}")
    kwargs["labels"] = tuple(sorted(labels.items()))
    service = ServiceSpec(**kwargs)
    for field, why in _service_problems(service):
        raise AppError(f"{label}: {field}: {why}")
    return service


def app_from_dict(d: Any) -> AppSpec:
    """The AppSpec of app_to_dict()'s form, validated; AppError naming the service and field otherwise."""
    if not isinstance(d, dict):
        raise AppError(f"an app must be an object with name and services, got {type(d).__name__}")
    unknown = sorted(set(d) - {"name", "services", "policies"})
    if unknown:
        raise AppError(f"app: unknown field(s) {', '.join(unknown)} (known: name, services, policies)")
    if "name" not in d:
        raise AppError("app: name: missing")
    services = d.get("services")
    if not isinstance(services, list):
        raise AppError(f'app "{d["name"]}": services: must be a list, got {services!r}')
    policies = d.get("policies", [])
    if not isinstance(policies, list):
        raise AppError(f'app "{d["name"]}": policies: must be a list of NetworkPolicy objects, got {policies!r:.200}')
    return validate_app(AppSpec(d["name"], tuple(_service_from_dict(s, i) for i, s in enumerate(services)),
                                tuple(parse_network_policy(p, d["name"]) for p in policies)))
