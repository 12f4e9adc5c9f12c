"""The placement problem: servers, image layers and containers, loaded and validated from JSON."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from .network import Client, Network, clients_from_list, clients_to_list, network_from_dict, network_to_dict
from .validation import (ProblemError, check_list, check_name, check_number, check_record, check_text,
                         check_whole)


@dataclass(frozen=True)
class Server:
    name: str
    cpu: float  # P_n, compute capacity
    storage: float  # S_n, storage free for layers it does not hold yet (same unit as layer sizes)
    bandwidth: float  # B_n, communication capacity
    held: frozenset[str] = frozenset()  # H_n, digests it already stores: free there, no new storage
    zone: str = ""  # topology zone (kube-default's PodTopologySpread); "" = no zone
    memory: float = 0.0  # M_n, memory capacity; 0 = not given: the server has no memory limit

    @property
    def memory_limit(self) -> float:
        """M_n as a bound: the capacity, or infinity for a server whose memory is not given."""
        return self.memory if self.memory > 0 else math.inf


@dataclass(frozen=True)
class Layer:
    digest: str
    size: float  # C_l, storage the layer takes once on a server


@dataclass(frozen=True)
class Container:
    name: str
    cpu: float  # d_i
    bandwidth: float  # b_i
    layers: tuple[str, ...]  # the l with z_i^l = 1
    image: str = ""  # the image's name (kube-default's ImageLocality); "" = derived from the layers
    service: str = ""  # the service it is a replica of (kube-default's spreading); "" = its own name
    memory: float = 0.0  # m_i, memory request, in the unit of the servers' memory; 0 = requests none
    clients: tuple[Client, ...] = ()  # where its clients are (latency-aware placement); () = not said
    max_client_delay_ms: float = 0.0  # hard: no client farther than this from its server, ms; 0 = no bound

    @property
    def image_name(self) -> str:
        """The image by name: `image`, or a name derived from the layer list, so that containers
        with identical layer lists run one image."""
        if self.image:
            return self.image
        return "layers@sha256:" + hashlib.sha256("\n".join(self.layers).encode()).hexdigest()[:16]

    @property
    def service_name(self) -> str:
        return self.service or self.name


# Spread domains: one per server (Kubernetes' kubernetes.io/hostname) or one per zone
# (topology.kubernetes.io/zone; servers without a zone are in no domain).
TOPOLOGIES = ("server", "zone")


@dataclass(frozen=True)
class Spread:
    """A topology spread constraint over a service's containers (Kubernetes' topologySpreadConstraints).

    Hard (DoNotSchedule): in every domain, the service's containers number at most `max_skew`
    more than in the domain that has fewest (domains with none count, as in Kubernetes), and a
    hard zone spread keeps the service off servers without a zone. A domain that is already
    past the skew with the containers placed before (`ServiceRule.placed`) may keep them but
    gets no new one. Soft (ScheduleAnyway): preferred, not required.
    """

    topology: str  # one of TOPOLOGIES
    max_skew: int  # >= 1
    hard: bool = True


@dataclass(frozen=True)
class ServiceRule:
    """Placement rules of one service's containers (those whose `service_name` is `name`)."""

    name: str
    max_per_server: int = 0  # hard: at most this many on one server (podAntiAffinity required on
    #                          hostname: 1; Compose max_replicas_per_node: k); 0 = no limit
    spread: tuple[Spread, ...] = ()
    prefer_apart: bool = False  # soft: preferably not two on one server (preferred podAntiAffinity)
    placed: tuple[tuple[str, int], ...] = ()  # (server, count) of its replicas already running there,
    #                                           which count toward max_per_server and the spread

    @property
    def placed_on(self) -> dict[str, int]:
        return dict(self.placed)


@dataclass(frozen=True)
class Problem:
    servers: tuple[Server, ...]
    layers: tuple[Layer, ...]
    containers: tuple[Container, ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    rules: tuple[ServiceRule, ...] = ()  # beyond the paper: spread and anti-affinity per service
    network: Network | None = None  # beyond the paper: for the start-up estimate and client delays; None = not given

    @cached_property
    def layer_size(self) -> dict[str, float]:
        return {layer.digest: layer.size for layer in self.layers}

    def image_size(self, container: Container) -> float:
        """Storage the container needs on a server that holds none of its layers."""
        return sum(self.layer_size[d] for d in container.layers)

    @cached_property
    def used_layers(self) -> tuple[str, ...]:
        """Digests some container needs, in the order they first appear."""
        seen: dict[str, None] = {}
        for c in self.containers:
            for d in c.layers:
                seen.setdefault(d, None)
        return tuple(seen)

    def scaled(self, multiplier: float) -> "Problem":
        """The same problem with every server capacity multiplied (the paper's Fig. 5)."""
        servers = tuple(
            replace(s, cpu=s.cpu * multiplier, storage=s.storage * multiplier, bandwidth=s.bandwidth * multiplier,
                    memory=s.memory * multiplier)
            for s in self.servers
        )
        meta = {**self.meta, "multiplier": self.meta.get("multiplier", 1.0) * multiplier}
        return replace(self, servers=servers, meta=meta)

    @cached_property
    def has_clients(self) -> bool:
        """Some container says where its clients are."""
        return any(c.clients for c in self.containers)

    @cached_property
    def rule_of(self) -> dict[str, ServiceRule]:
        """Service name -> its rules (services without rules are absent)."""
        return {rule.name: rule for rule in self.rules}

    def members(self, service: str) -> tuple[Container, ...]:
        """The problem's containers of a service."""
        return tuple(c for c in self.containers if c.service_name == service)


def _held(value: Any, where: str, sizes: dict[str, float]) -> frozenset[str]:
    """A server's "held" list: digests of the problem's layers, each once."""
    if not isinstance(value, list):
        raise ProblemError(f"{where}: held must be a list of layer digests, got {type(value).__name__}")
    for digest in value:
        if not isinstance(digest, str):
            raise ProblemError(f"{where}: held must list digest strings, got {digest!r}")
        if digest not in sizes:
            raise ProblemError(f'{where}: held layer "{digest}" is not in the problem\'s layers')
    if len(set(value)) != len(value):
        twice = next(d for d in value if value.count(d) > 1)
        raise ProblemError(f'{where}: held lists layer "{twice}" twice')
    return frozenset(value)


def _check_fits_somewhere(digests: list[str], sizes: dict[str, float], servers: list[Server], where: str) -> None:
    """A container fits on a server whose free storage takes the layers of it that server does not hold."""
    shortfalls = []
    for server in servers:
        need = sum(sizes[d] for d in digests if d not in server.held)
        if need <= server.storage * (1 + 1e-9):
            return
        shortfalls.append((need - server.storage, need, server))
    _, need, closest = min(shortfalls, key=lambda t: t[0])
    raise ProblemError(
        f"{where}: its layers need more storage than any server has free for them "
        f'(closest: "{closest.name}" would store {need:g} of them and has {closest.storage:g} free)')


def _spread(item: Any, where: str) -> Spread:
    item = check_record(item, where, {"topology", "max_skew"}, {"hard"})
    if item["topology"] not in TOPOLOGIES:
        raise ProblemError(f"{where}: topology must be one of {', '.join(TOPOLOGIES)}, got {item['topology']!r}")
    hard = item.get("hard", True)
    if not isinstance(hard, bool):
        raise ProblemError(f"{where}: hard must be true or false, got {hard!r}")
    return Spread(item["topology"], check_whole(item["max_skew"], where, "max_skew", least=1), hard)


def _rule(item: Any, where: str, services: set[str], server_names: set[str]) -> ServiceRule:
    item = check_record(item, where, {"name"}, {"max_per_server", "spread", "prefer_apart", "placed"})
    name = check_name(item["name"], where, "name")
    where = f'{where} ("{name}")'
    if name not in services:
        raise ProblemError(f'{where}: no container is of service "{name}"')
    spreads = item.get("spread", [])
    if not isinstance(spreads, list):
        raise ProblemError(f"{where}: spread must be a list, got {type(spreads).__name__}")
    spread = tuple(_spread(s, f"{where}: spread[{k}]") for k, s in enumerate(spreads))
    prefer_apart = item.get("prefer_apart", False)
    if not isinstance(prefer_apart, bool):
        raise ProblemError(f"{where}: prefer_apart must be true or false, got {prefer_apart!r}")
    placed = item.get("placed", {})
    if not isinstance(placed, dict):
        raise ProblemError(f"{where}: placed must be an object of server name to count")
    for server, count in placed.items():
        if server not in server_names:
            raise ProblemError(f'{where}: placed names "{server}", which is not a server')
        check_whole(count, f"{where}: placed", f'the count on "{server}"', least=0)
    return ServiceRule(name, check_whole(item.get("max_per_server", 0), where, "max_per_server", least=0), spread,
                       prefer_apart, tuple(sorted((s, c) for s, c in placed.items() if c)))


def check_rules(problem: Problem) -> None:
    """Raise ProblemError when a service's hard rules cannot hold whatever the capacities:
    more containers than max_per_server lets the servers take, or a hard zone spread
    with no server in a zone."""
    for rule in problem.rules:
        where = f'rules ("{rule.name}")'
        count = len(problem.members(rule.name))
        if rule.max_per_server:
            room = sum(max(rule.max_per_server - rule.placed_on.get(s.name, 0), 0) for s in problem.servers)
            if count > room:
                raise ProblemError(
                    f"{where}: {count} container(s) at most {rule.max_per_server} per server need more "
                    f"servers than the {len(problem.servers)} there are (room for {room})")
        if any(s.hard and s.topology == "zone" for s in rule.spread) and not any(s.zone for s in problem.servers):
            raise ProblemError(f"{where}: a hard zone spread needs servers with a zone; none has one")


def problem_from_dict(data: Any) -> Problem:
    """Validate DESIGN.md's problem format and build a Problem; raises ProblemError."""
    data = check_record(data, "problem", {"servers", "layers", "containers"}, {"meta", "rules", "network"})

    servers: list[Server] = []
    held_lists: list[tuple[str, Any]] = []  # (where, raw "held"), checked once the layers are known
    server_names: set[str] = set()
    for k, item in enumerate(check_list(data, "servers")):
        where = f"servers[{k}]"
        item = check_record(item, where, {"name", "cpu", "storage", "bandwidth"}, {"held", "zone", "memory"})
        name = check_name(item["name"], where, "name")
        where = f'{where} ("{name}")'
        if name in server_names:
            raise ProblemError(f'{where}: duplicate server name "{name}"')
        server_names.add(name)
        servers.append(Server(
            name,
            check_number(item["cpu"], where, "cpu", positive=False),
            check_number(item["storage"], where, "storage", positive=False),
            check_number(item["bandwidth"], where, "bandwidth", positive=False),
            zone=check_text(item.get("zone", ""), where, "zone"),
            memory=check_number(item.get("memory", 0), where, "memory", positive=False),
        ))
        held_lists.append((where, item.get("held", [])))
    if not servers:
        raise ProblemError("servers: at least one server is needed")

    layers: list[Layer] = []
    sizes: dict[str, float] = {}
    for k, item in enumerate(check_list(data, "layers")):
        where = f"layers[{k}]"
        item = check_record(item, where, {"digest", "size"})
        digest = check_name(item["digest"], where, "digest")
        where = f'{where} ("{digest}")'
        if digest in sizes:
            raise ProblemError(f'{where}: duplicate layer digest "{digest}"')
        sizes[digest] = check_number(item["size"], where, "size", positive=False)
        layers.append(Layer(digest, sizes[digest]))

    servers = [replace(server, held=_held(raw, where, sizes))
               for server, (where, raw) in zip(servers, held_lists)]
    network = network_from_dict(data["network"], [s.name for s in servers]) if "network" in data else None
    containers: list[Container] = []
    container_names: set[str] = set()
    for k, item in enumerate(check_list(data, "containers")):
        where = f"containers[{k}]"
        item = check_record(item, where, {"name", "cpu", "bandwidth", "layers"},
                            {"image", "service", "memory", "clients", "max_client_delay_ms"})
        name = check_name(item["name"], where, "name")
        where = f'{where} ("{name}")'
        if name in container_names:
            raise ProblemError(f'{where}: duplicate container name "{name}"')
        container_names.add(name)
        digests = item["layers"]
        if not isinstance(digests, list) or not digests:
            raise ProblemError(f"{where}: layers must be a non-empty list of layer digests")
        for digest in digests:
            if not isinstance(digest, str):
                raise ProblemError(f"{where}: layers must be digest strings, got {digest!r}")
            if digest not in sizes:
                raise ProblemError(f'{where}: unknown layer "{digest}" (not in the problem\'s layers)')
        if len(set(digests)) != len(digests):
            raise ProblemError(f"{where}: a layer is listed twice")
        _check_fits_somewhere(digests, sizes, servers, where)
        containers.append(Container(
            name,
            check_number(item["cpu"], where, "cpu", positive=False),
            check_number(item["bandwidth"], where, "bandwidth", positive=False),
            tuple(digests),
            check_text(item.get("image", ""), where, "image"),
            check_text(item.get("service", ""), where, "service"),
            check_number(item.get("memory", 0), where, "memory", positive=False),
            clients_from_list(item.get("clients", []), where, network),
            check_number(item.get("max_client_delay_ms", 0), where, "max_client_delay_ms", positive=False),
        ))
        if containers[-1].max_client_delay_ms and not containers[-1].clients:
            raise ProblemError(f"{where}: max_client_delay_ms needs clients")
    if not containers:
        raise ProblemError("containers: at least one container is needed")

    rules: list[ServiceRule] = []
    services = {c.service_name for c in containers}
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ProblemError(f"rules: expected a list, got {type(raw_rules).__name__}")
    for k, item in enumerate(raw_rules):
        rule = _rule(item, f"rules[{k}]", services, server_names)
        if any(r.name == rule.name for r in rules):
            raise ProblemError(f'rules[{k}] ("{rule.name}"): a second rule for service "{rule.name}"')
        rules.append(rule)

    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise ProblemError("meta: expected an object")
    problem = Problem(tuple(servers), tuple(layers), tuple(containers), meta, tuple(rules), network)
    check_rules(problem)
    from .client_delay import check_delay_bounds  # client_delay builds on this module

    check_delay_bounds(problem)
    return problem


def load_problem(path: str | Path) -> Problem:
    """Read and validate a problem file; raises ProblemError naming the file on bad JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProblemError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ProblemError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    return problem_from_dict(data)


def problem_to_dict(problem: Problem) -> dict:
    """The JSON form, inverse of problem_from_dict."""
    out: dict[str, Any] = {
        "servers": [{"name": s.name, "cpu": s.cpu, "storage": s.storage, "bandwidth": s.bandwidth,
                     **({"held": sorted(s.held)} if s.held else {}),
                     **({"zone": s.zone} if s.zone else {}),
                     **({"memory": s.memory} if s.memory else {})}
                    for s in problem.servers],
        "layers": [{"digest": l.digest, "size": l.size} for l in problem.layers],
        "containers": [
            {"name": c.name, "cpu": c.cpu, "bandwidth": c.bandwidth, "layers": list(c.layers),
             **({"image": c.image} if c.image else {}),
             **({"service": c.service} if c.service else {}),
             **({"memory": c.memory} if c.memory else {}),
             **({"clients": clients_to_list(c.clients)} if c.clients else {}),
             **({"max_client_delay_ms": c.max_client_delay_ms} if c.max_client_delay_ms else {})}
            for c in problem.containers
        ],
    }
    if problem.rules:
        out["rules"] = [
            {"name": r.name,
             **({"max_per_server": r.max_per_server} if r.max_per_server else {}),
             **({"spread": [{"topology": s.topology, "max_skew": s.max_skew, "hard": s.hard} for s in r.spread]}
                if r.spread else {}),
             **({"prefer_apart": True} if r.prefer_apart else {}),
             **({"placed": dict(r.placed)} if r.placed else {})}
            for r in problem.rules
        ]
    if problem.network is not None:
        out["network"] = network_to_dict(problem.network)
    if problem.meta:
        out["meta"] = problem.meta
    return out
