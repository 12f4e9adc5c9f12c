"""Network policies (Kubernetes' networking.k8s.io/v1 NetworkPolicy) read, checked and resolved against pods into address rules."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from api.bounds import MAX_LIST, MAX_NAME
from api.names import dns_label_problem
from component_base.errors import InvalidArgument

INGRESS, EGRESS = "Ingress", "Egress"
POLICY_TYPES = (INGRESS, EGRESS)
PROTOCOLS = ("tcp", "udp")  # what the switches' connection tracker follows (SCTP is refused)
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # every namespace (an app) carries its own name
SERVICE_LABEL = "strata.io/service"  # every pod carries the name of the service it is a replica of
INGRESS_FROM_LABEL, EGRESS_TO_LABEL = "strata.io/ingress-from", "strata.io/egress-to"  # the Compose form
MAX_POLICIES = MAX_LIST  # policies of one app


class PolicyError(InvalidArgument, ValueError):
    """A policy that cannot be read; the message names the policy and the field."""


# -- the model ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Requirement:
    """One matchExpressions entry: key In / NotIn values, Exists, DoesNotExist."""

    key: str
    operator: str  # one of OPERATORS
    values: tuple[str, ...] = ()

    def holds(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":  # Kubernetes: a pod without the key is not in the set
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True)
class LabelSelector:
    """matchLabels and matchExpressions, ANDed; the empty selector selects everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and \
            all(r.holds(labels) for r in self.match_expressions)


@dataclass(frozen=True)
class IPBlock:
    cidr: str                       # an IPv4 network, e.g. "10.0.0.0/16"
    excepts: tuple[str, ...] = ()   # networks inside it that are left out

    def networks(self) -> list[str]:
        """The block without its exceptions, as the fewest networks covering exactly that."""
        rest = [ipaddress.IPv4Network(self.cidr)]
        for text in self.excepts:
            hole = ipaddress.IPv4Network(text)
            rest = [part for net in rest
                    for part in (net.address_exclude(hole) if hole.subnet_of(net) else
                                 (() if net.subnet_of(hole) else (net,)))]
        return sorted(str(n) for n in ipaddress.collapse_addresses(rest))


@dataclass(frozen=True)
class Peer:
    """A from/to entry: pods (podSelector, namespaceSelector or both) or an ipBlock."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True)
class PolicyPort:
    protocol: str = "tcp"          # one of PROTOCOLS
    port: int | str | None = None  # a number, a container port's name, or None: every port
    end_port: int | None = None    # the last port of a range starting at `port` (a number)


@dataclass(frozen=True)
class PolicyRule:
    peers: tuple[Peer, ...] = ()        # () = every address
    ports: tuple[PolicyPort, ...] = ()  # () = every protocol and port


@dataclass(frozen=True)
class NetworkPolicy:
    name: str
    app: str                          # its namespace
    pod_selector: LabelSelector       # the pods of `app` it isolates
    policy_types: tuple[str, ...]     # a subset of POLICY_TYPES
    ingress: tuple[PolicyRule, ...] = ()
    egress: tuple[PolicyRule, ...] = ()


# -- reading -----------------------------------------------------------------------------------

def _fail(policy: str, path: str, problem: str) -> PolicyError:
    return PolicyError(f'NetworkPolicy "{policy}": {path}: {problem}')


def _mapping(value: Any, policy: str, path: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(policy, path, f"must be a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, policy: str, path: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(policy, path, f"must be a list, got {type(value).__name__}")
    if len(value) > MAX_LIST:
        raise _fail(policy, path, f"has {len(value)} entries; at most {MAX_LIST}")
    return value


def _string(value: Any, policy: str, path: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise _fail(policy, path, f"must be a non-empty string of at most {MAX_NAME} characters, got {value!r}")
    return value


def _only(mapping: dict, known: set[str], policy: str, path: str) -> None:
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise _fail(policy, f"{path}{unknown[0]}", f"unknown field (expected one of {', '.join(sorted(known))})")


def parse_selector(value: Any, policy: str, path: str) -> LabelSelector:
    body = _mapping(value, policy, path)
    _only(body, {"matchLabels", "matchExpressions"}, policy, f"{path}.")
    labels = _mapping(body.get("matchLabels"), policy, f"{path}.matchLabels")
    if len(labels) > MAX_LIST:
        raise _fail(policy, f"{path}.matchLabels", f"has {len(labels)} entries; at most {MAX_LIST}")
    pairs = tuple(sorted((_string(k, policy, f"{path}.matchLabels"), _label_value(v, policy, f"{path}.matchLabels.{k}"))
                         for k, v in labels.items()))
    requirements = []
    for k, entry in enumerate(_list(body.get("matchExpressions"), policy, f"{path}.matchExpressions")):
        where = f"{path}.matchExpressions[{k}]"
        entry = _mapping(entry, policy, where)
        _only(entry, {"key", "operator", "values"}, policy, f"{where}.")
        key = _string(entry.get("key"), policy, f"{where}.key")
        operator = entry.get("operator")
        if operator not in OPERATORS:
            raise _fail(policy, f"{where}.operator", f"must be one of {', '.join(OPERATORS)}, got {operator!r}")
        values = tuple(_label_value(v, policy, f"{where}.values") for v in _list(entry.get("values"), policy,
                                                                                 f"{where}.values"))
        if operator in ("In", "NotIn") and not values:
            raise _fail(policy, f"{where}.values", f"{operator} needs at least one value")
        if operator in ("Exists", "DoesNotExist") and values:
            raise _fail(policy, f"{where}.values", f"{operator} takes no values")
        requirements.append(Requirement(key, operator, values))
    return LabelSelector(pairs, tuple(requirements))


def _label_value(value: Any, policy: str, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or len(str(value)) > 63:
        raise _fail(policy, path, f"a label value must be a string of at most 63 characters, got {value!r}")
    return str(value)


def _network(value: Any, policy: str, path: str) -> str:
    try:
        return str(ipaddress.IPv4Network(_string(value, policy, path), strict=False))
    except ValueError:
        raise _fail(policy, path, f"must be an IPv4 network such as 10.0.0.0/16, got {value!r}") from None


def _peer(value: Any, policy: str, path: str) -> Peer:
    body = _mapping(value, policy, path)
    _only(body, {"podSelector", "namespaceSelector", "ipBlock"}, policy, f"{path}.")
    if not body:
        raise _fail(policy, path, "an empty peer: give podSelector, namespaceSelector or ipBlock")
    if "ipBlock" in body:
        if len(body) > 1:
            raise _fail(policy, path, "ipBlock cannot be combined with podSelector or namespaceSelector")
        block = _mapping(body["ipBlock"], policy, f"{path}.ipBlock")
        _only(block, {"cidr", "except"}, policy, f"{path}.ipBlock.")
        cidr = _network(block.get("cidr"), policy, f"{path}.ipBlock.cidr")
        excepts = tuple(_network(x, policy, f"{path}.ipBlock.except[{k}]")
                        for k, x in enumerate(_list(block.get("except"), policy, f"{path}.ipBlock.except")))
        for k, hole in enumerate(excepts):
            if not ipaddress.IPv4Network(hole).subnet_of(ipaddress.IPv4Network(cidr)):
                raise _fail(policy, f"{path}.ipBlock.except[{k}]", f"{hole} is not inside {cidr}")
        return Peer(ip_block=IPBlock(cidr, excepts))
    pods = parse_selector(body["podSelector"], policy, f"{path}.podSelector") if "podSelector" in body else None
    spaces = (parse_selector(body["namespaceSelector"], policy, f"{path}.namespaceSelector")
              if "namespaceSelector" in body else None)
    return Peer(pods, spaces)


def _port_number(value: Any, policy: str, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _fail(policy, path, f"must be a port number from 1 to 65535, got {value!r}")
    return value


def _port(value: Any, policy: str, path: str) -> PolicyPort:
    body = _mapping(value, policy, path)
    _only(body, {"protocol", "port", "endPort"}, policy, f"{path}.")
    protocol = body.get("protocol", "TCP")
    if not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS:
        hint = " (SCTP is not supported: the switches track TCP and UDP only)" if protocol == "SCTP" else ""
        raise _fail(policy, f"{path}.protocol", f"must be TCP or UDP, got {protocol!r}{hint}")
    port = body.get("port")
    if isinstance(port, str):
        if dns_label_problem(port) or len(port) > 15:
            raise _fail(policy, f"{path}.port", f"a named port must be a lowercase name of at most 15 characters, "
                        f"got {port!r}")
    elif port is not None:
        port = _port_number(port, policy, f"{path}.port")
    end = body.get("endPort")
    if end is not None:
        if not isinstance(port, int):
            raise _fail(policy, f"{path}.endPort", "needs a numbered port to start the range")
        end = _port_number(end, policy, f"{path}.endPort")
        if end < port:
            raise _fail(policy, f"{path}.endPort", f"{end} is below port {port}")
    return PolicyPort(protocol.lower(), port, end)


def _rules(value: Any, peers_key: str, policy: str, path: str) -> tuple[PolicyRule, ...]:
    rules = []
    for k, entry in enumerate(_list(value, policy, path)):
        where = f"{path}[{k}]"
        body = _mapping(entry, policy, where)
        _only(body, {peers_key, "ports"}, policy, f"{where}.")
        peers = tuple(_peer(p, policy, f"{where}.{peers_key}[{j}]")
                      for j, p in enumerate(_list(body.get(peers_key), policy, f"{where}.{peers_key}")))
        ports = tuple(_port(p, policy, f"{where}.ports[{j}]")
                      for j, p in enumerate(_list(body.get("ports"), policy, f"{where}.ports")))
        rules.append(PolicyRule(peers, ports))
    return tuple(rules)


def parse_network_policy(obj: Any, app: str) -> NetworkPolicy:
    """A NetworkPolicy object (as YAML reads it) of the app `app` (its namespace); PolicyError naming
    the policy and the field otherwise."""
    if not isinstance(obj, dict):
        raise PolicyError(f"a NetworkPolicy must be a mapping, got {type(obj).__name__}")
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = metadata.get("name")
    if not isinstance(name, str) or dns_label_problem(name):
        raise PolicyError(f"NetworkPolicy {name!r}: metadata.name: must be a lowercase DNS label "
                          f"({dns_label_problem(name) if isinstance(name, str) else 'missing'})")
    api = obj.get("apiVersion", "networking.k8s.io/v1")
    if api != "networking.k8s.io/v1":
        raise _fail(name, "apiVersion", f"must be networking.k8s.io/v1, got {api!r}")
    namespace = metadata.get("namespace")
    if namespace not in (None, app):
        raise _fail(name, "metadata.namespace", f"a policy of the app \"{app}\" is in its namespace \"{app}\", "
                    f"got {namespace!r}")
    spec = _mapping(obj.get("spec"), name, "spec")
    _only(spec, {"podSelector", "policyTypes", "ingress", "egress"}, name, "spec.")
    if "podSelector" not in spec:
        raise _fail(name, "spec.podSelector", "missing (write {} to select every pod of the app)")
    selector = parse_selector(spec["podSelector"], name, "spec.podSelector")
    ingress = _rules(spec.get("ingress"), "from", name, "spec.ingress")
    egress = _rules(spec.get("egress"), "to", name, "spec.egress")
    types = spec.get("policyTypes")
    if types is None:  # Kubernetes' default: Ingress, and Egress when there are egress rules
        types = [INGRESS] + ([EGRESS] if spec.get("egress") else [])
    types = _list(types, name, "spec.policyTypes")
    for k, kind in enumerate(types):
        if kind not in POLICY_TYPES:
            raise _fail(name, f"spec.policyTypes[{k}]", f"must be Ingress or Egress, got {kind!r}")
    if not types:
        raise _fail(name, "spec.policyTypes", "must name Ingress, Egress or both")
    return NetworkPolicy(name, app, selector, tuple(t for t in POLICY_TYPES if t in types),
                         ingress if INGRESS in types else (), egress if EGRESS in types else ())


def _compose_peers(value: Any, service: str, label: str, services: Iterable[str]) -> tuple[Peer, ...]:
    policy = f"{service}-{label.split('/')[1]}"
    if not isinstance(value, str):
        raise _fail(policy, f"services.{service}.labels.{label}", f"must be a comma-separated string, got {value!r}")
    known = set(services)
    peers = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if "/" in part:
            peers.append(Peer(ip_block=IPBlock(_network(part, policy, f"services.{service}.labels.{label}"))))
        elif part in known:
            peers.append(Peer(pod_selector=LabelSelector(((SERVICE_LABEL, part),))))
        else:
            raise _fail(policy, f"services.{service}.labels.{label}",
                        f'"{part}" is neither a service of the app ({", ".join(sorted(known))}) nor a network')
    return tuple(peers)


def compose_policies(app: str, service_labels: Mapping[str, Mapping[str, str]]) -> tuple[NetworkPolicy, ...]:
    """The Compose label form: a service's `strata.io/ingress-from: "web,10.0.0.0/24"` admits only
    those services' pods and networks (any port), `strata.io/egress-to` likewise for what it opens;
    an empty value admits nothing. Each label is one policy, `<service>-ingress-from` / `-egress-to`."""
    policies = []
    for service, labels in service_labels.items():
        for label, kind in ((INGRESS_FROM_LABEL, INGRESS), (EGRESS_TO_LABEL, EGRESS)):
            if label not in labels:
                continue
            peers = _compose_peers(labels[label], service, label, service_labels)
            rules = (PolicyRule(peers),) if peers else ()
            policies.append(NetworkPolicy(f"{service}-{label.split('/')[1]}", app,
                                          LabelSelector(((SERVICE_LABEL, service),)), (kind,),
                                          rules if kind == INGRESS else (), rules if kind == EGRESS else ()))
    return tuple(policies)


# -- resolution --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyPod:
    """What resolution needs of a pod: its app (namespace), labels, address and named ports."""

    app: str
    name: str
    ip: str
    labels: tuple[tuple[str, str], ...] = ()
    named_ports: tuple[tuple[str, str, int], ...] = ()  # (name, protocol, number)

    def port_named(self, name: str, protocol: str) -> int | None:
        return next((n for x, p, n in self.named_ports if x == name and p == protocol), None)


@dataclass(frozen=True)
class PortRange:
    protocol: str  # "tcp" | "udp"
    first: int     # 0 with last 0: every port of the protocol
    last: int


ALL_PORTS = 0, 0


@dataclass(frozen=True)
class AddressRule:
    """An allowance: new connections between the `selected` pods and the `peers` (to the pods for
    ingress, from them for egress) on `ports` pass the policy stage of that direction. Addresses
    are IPv4 networks ("a.b.c.d/32" for one pod)."""

    policy: str                          # "<app>/<name>", for reading and tracing
    direction: str                       # INGRESS | EGRESS
    selected: tuple[str, ...]            # the isolated pods it opens (destinations for ingress, sources for egress)
    peers: tuple[str, ...] | None        # the other side's networks; None = any address
    ports: tuple[PortRange, ...] = ()    # () = every protocol and port


@dataclass(frozen=True)
class ResolvedPolicies:
    """What the switches enforce: which pods are isolated in each direction, and the allowances."""

    isolated_ingress: tuple[str, ...] = ()  # pod addresses (/32) whose new incoming connections need an allowance
    isolated_egress: tuple[str, ...] = ()   # pod addresses whose new outgoing connections need one
    rules: tuple[AddressRule, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.isolated_ingress or self.isolated_egress)


def _host(ip: str) -> str:
    return f"{ip}/32"


def _peer_networks(peer: Peer, policy: NetworkPolicy, pods: list[PolicyPod],
                   namespaces: Mapping[str, Mapping[str, str]]) -> tuple[list[PolicyPod], list[str]]:
    """The pods and the networks a peer stands for."""
    if peer.ip_block is not None:
        return [], peer.ip_block.networks()
    if peer.namespace_selector is None:
        apps = {policy.app}
    else:
        apps = {app for app, labels in namespaces.items() if peer.namespace_selector.matches(labels)}
    selector = peer.pod_selector or LabelSelector()
    return [p for p in pods if p.app in apps and selector.matches(dict(p.labels))], []


def _port_ranges(port: PolicyPort, pods: list[PolicyPod]) -> dict[tuple[int, int], list[PolicyPod]]:
    """(first, last) -> the destination pods the port means that range on (named ports differ by pod)."""
    if port.port is None:
        return {ALL_PORTS: pods}
    if isinstance(port.port, int):
        return {(port.port, port.end_port or port.port): pods}
    out: dict[tuple[int, int], list[PolicyPod]] = {}
    for pod in pods:
        number = pod.port_named(port.port, port.protocol)
        if number is not None:  # a pod without that named port is not opened by it
            out.setdefault((number, number), []).append(pod)
    return out


def namespace_labels(apps: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each app as a namespace: its labels (its name under kubernetes.io/metadata.name)."""
    return {app: {NAMESPACE_NAME_LABEL: app} for app in apps}


def resolve(policies: Iterable[NetworkPolicy], pods: Iterable[PolicyPod],
            namespaces: Mapping[str, Mapping[str, str]] | None = None) -> ResolvedPolicies:
    """The policies of every app against every pod: isolated addresses and address allowances.

    Kubernetes' semantics: a pod selected by a policy of a type is isolated for that direction;
    a new connection it opens (egress) or receives (ingress) passes if some rule of a policy
    selecting it allows the other side and the port; both ends' directions must allow it. The
    rules of one policy are ORed, a rule's peers are ORed, and so are its ports."""
    pods = sorted(pods, key=lambda p: (p.app, p.name))
    namespaces = namespaces if namespaces is not None else namespace_labels({p.app for p in pods})
    isolated = {INGRESS: set(), EGRESS: set()}
    rules: list[AddressRule] = []
    for policy in sorted(policies, key=lambda x: (x.app, x.name)):
        selected = [p for p in pods if p.app == policy.app and policy.pod_selector.matches(dict(p.labels))]
        if not selected:
            continue
        for kind in policy.policy_types:
            isolated[kind] |= {_host(p.ip) for p in selected}
            for rule in (policy.ingress if kind == INGRESS else policy.egress):
                rules += _resolve_rule(policy, kind, rule, selected, pods, namespaces)
    return ResolvedPolicies(tuple(sorted(isolated[INGRESS])), tuple(sorted(isolated[EGRESS])), tuple(rules))


def _resolve_rule(policy: NetworkPolicy, kind: str, rule: PolicyRule, selected: list[PolicyPod],
                  pods: list[PolicyPod], namespaces: Mapping[str, Mapping[str, str]]) -> list[AddressRule]:
    name = f"{policy.app}/{policy.name}"
    found: dict[tuple[str, str], PolicyPod] = {}  # (app, name) -> a peer pod, each once
    networks: list[str] = []
    for peer in rule.peers:
        p, n = _peer_networks(peer, policy, pods, namespaces)
        found.update(((x.app, x.name), x) for x in p)
        networks += n
    peer_pods = list(found.values())
    if rule.peers and not (peer_pods or networks):
        return []  # its peers are nobody now: it allows nothing
    any_peer = not rule.peers
    every_peer = None if any_peer else tuple(sorted(set(networks) | {_host(p.ip) for p in peer_pods}))

    def addresses(group: list[PolicyPod]) -> tuple[str, ...]:
        return tuple(sorted({_host(p.ip) for p in group}))

    if not rule.ports:
        return [AddressRule(name, kind, addresses(selected), every_peer)]
    # Ports are numbers, ranges, or names: a name is resolved on the destination pods (the selected
    # ones for ingress, the peers for egress) and may mean a different number on each.
    out: dict[tuple[tuple[str, ...], tuple[str, ...] | None], set[PortRange]] = {}
    for port in rule.ports:
        if kind == INGRESS:
            for (first, last), group in _port_ranges(port, selected).items():
                out.setdefault((addresses(group), every_peer), set()).add(PortRange(port.protocol, first, last))
        elif isinstance(port.port, str):
            # egress: the name is the destination pods' (any pod's for "any address"); an ipBlock's
            # addresses give it no number
            for (first, last), group in _port_ranges(port, pods if any_peer else peer_pods).items():
                out.setdefault((addresses(selected), addresses(group)), set()).add(PortRange(port.protocol, first, last))
        else:
            (first, last), = _port_ranges(port, []).keys()
            out.setdefault((addresses(selected), every_peer), set()).add(PortRange(port.protocol, first, last))
    return [AddressRule(name, kind, sel, peers, tuple(sorted(ports, key=lambda r: (r.protocol, r.first, r.last))))
            for (sel, peers), ports in out.items() if sel and (peers is None or peers)]


# -- the resolved form, as stored and sent -----------------------------------------------------

MAX_RULES = 10000  # address rules in one resolved set (bench/policy_scale.py: 1,000 set at once)
MAX_ADDRESSES = 10000  # networks in one list of a rule or isolated set


def resolved_to_dict(resolved: ResolvedPolicies) -> dict:
    return {"isolated_ingress": list(resolved.isolated_ingress), "isolated_egress": list(resolved.isolated_egress),
            "rules": [{"policy": r.policy, "direction": r.direction, "selected": list(r.selected),
                       "peers": None if r.peers is None else list(r.peers),
                       "ports": [[p.protocol, p.first, p.last] for p in r.ports]} for r in resolved.rules]}


def resolved_from_dict(data: dict) -> ResolvedPolicies:
    return ResolvedPolicies(tuple(data["isolated_ingress"]), tuple(data["isolated_egress"]), tuple(
        AddressRule(r["policy"], r["direction"], tuple(r["selected"]),
                    None if r["peers"] is None else tuple(r["peers"]), tuple(PortRange(*p) for p in r["ports"]))
        for r in data["rules"]))


def _checked_networks(field: str, values: Iterable[str]) -> tuple[str, ...]:
    values = tuple(values)
    if len(values) > MAX_ADDRESSES:
        raise InvalidArgument(f"{field} has {len(values)} entries; at most {MAX_ADDRESSES}")
    out = []
    for k, value in enumerate(values):
        try:
            out.append(_canonical_network(value))
        except (ValueError, TypeError):
            raise InvalidArgument(f"{field}[{k}] must be an IPv4 network such as 10.0.0.0/24 (host bits zero), "
                                  f"got {str(value)[:80]!r}") from None
    return tuple(sorted(set(out)))


@lru_cache(maxsize=65536)  # a resolved set names the same networks many times, and is sent again whole
def _canonical_network(value: str) -> str:
    return str(ipaddress.IPv4Network(value))


def checked_resolved(resolved: ResolvedPolicies) -> ResolvedPolicies:
    """Resolved policies as received: bounded, networks well formed, ports and protocols valid;
    InvalidArgument naming the entry otherwise. Networks come back in canonical form, sorted."""
    if len(resolved.rules) > MAX_RULES:
        raise InvalidArgument(f"rules has {len(resolved.rules)} entries; at most {MAX_RULES}")
    rules = []
    for k, rule in enumerate(resolved.rules):
        where = f"rules[{k}] ({rule.policy[:80]})"
        if len(rule.policy) > 2 * MAX_NAME + 1:
            raise InvalidArgument(f"rules[{k}].policy is longer than {2 * MAX_NAME + 1} characters")
        if rule.direction not in POLICY_TYPES:
            raise InvalidArgument(f"{where}.direction must be Ingress or Egress, got {rule.direction!r}")
        if len(rule.ports) > MAX_LIST:
            raise InvalidArgument(f"{where}.ports has {len(rule.ports)} entries; at most {MAX_LIST}")
        for j, r in enumerate(rule.ports):
            if r.protocol not in PROTOCOLS:
                raise InvalidArgument(f"{where}.ports[{j}].protocol must be tcp or udp, got {r.protocol!r}")
            if (r.first, r.last) != ALL_PORTS and not 1 <= r.first <= r.last <= 65535:
                raise InvalidArgument(f"{where}.ports[{j}] must be a range within 1-65535 (first <= last), or 0-0 "
                                      f"for every port, got {r.first}-{r.last}")
        rules.append(AddressRule(rule.policy, rule.direction, _checked_networks(f"{where}.selected", rule.selected),
                                 None if rule.peers is None else _checked_networks(f"{where}.peers", rule.peers),
                                 rule.ports))
    return ResolvedPolicies(_checked_networks("isolated_ingress", resolved.isolated_ingress),
                            _checked_networks("isolated_egress", resolved.isolated_egress), tuple(rules))


# -- the Kubernetes form, written back (what is stored and sent) --------------------------------

def _selector_to_dict(selector: LabelSelector) -> dict:
    out: dict = {}
    if selector.match_labels:
        out["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        out["matchExpressions"] = [{"key": r.key, "operator": r.operator, **({"values": list(r.values)}
                                                                             if r.values else {})}
                                   for r in selector.match_expressions]
    return out


def _peer_to_dict(peer: Peer) -> dict:
    if peer.ip_block is not None:
        return {"ipBlock": {"cidr": peer.ip_block.cidr,
                            **({"except": list(peer.ip_block.excepts)} if peer.ip_block.excepts else {})}}
    out = {}
    if peer.pod_selector is not None:
        out["podSelector"] = _selector_to_dict(peer.pod_selector)
    if peer.namespace_selector is not None:
        out["namespaceSelector"] = _selector_to_dict(peer.namespace_selector)
    return out


def _rule_to_dict(rule: PolicyRule, peers_key: str) -> dict:
    out: dict = {}
    if rule.peers:
        out[peers_key] = [_peer_to_dict(p) for p in rule.peers]
    if rule.ports:
        out["ports"] = [{"protocol": p.protocol.upper(), **({"port": p.port} if p.port is not None else {}),
                         **({"endPort": p.end_port} if p.end_port is not None else {})} for p in rule.ports]
    return out


def policy_to_dict(policy: NetworkPolicy) -> dict:
    """The NetworkPolicy object (networking.k8s.io/v1) that parse_network_policy reads back as `policy`."""
    spec: dict = {"podSelector": _selector_to_dict(policy.pod_selector), "policyTypes": list(policy.policy_types)}
    if INGRESS in policy.policy_types:
        spec["ingress"] = [_rule_to_dict(r, "from") for r in policy.ingress]
    if EGRESS in policy.policy_types:
        spec["egress"] = [_rule_to_dict(r, "to") for r in policy.egress]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": policy.name, "namespace": policy.app}, "spec": spec}


def check_policies(app: str, policies: Iterable[NetworkPolicy]) -> tuple[NetworkPolicy, ...]:
    """An app's policies: at most MAX_POLICIES, each of this app, names unique; PolicyError otherwise."""
    policies = tuple(policies)
    if len(policies) > MAX_POLICIES:
        raise PolicyError(f'app "{app}": {len(policies)} network policies; at most {MAX_POLICIES}')
    seen = set()
    for p in policies:
        if p.app != app:
            raise PolicyError(f'NetworkPolicy "{p.name}": metadata.namespace: "{p.app}" is not the app "{app}"')
        if p.name in seen:
            raise PolicyError(f'NetworkPolicy "{p.name}": metadata.name: two policies of the app "{app}" have it')
        seen.add(p.name)
    return policies
