"""Spread and anti-affinity read from manifests: Kubernetes topologySpreadConstraints and
podAntiAffinity, Compose max_replicas_per_node; what is not used is reported, bad values refused."""

from __future__ import annotations

import json

import pytest
import yaml

from api.app import AppError, AppSpec, ServiceSpec, SpreadSpec, app_from_dict, app_to_dict, describe_rules
from api.app_messages import service_message, service_spec
from client.manifests import load_manifest_text

OWN = {"matchLabels": {"app": "web"}}


def deployment(pod_extra: dict, name: str = "web", labels: dict | None = None) -> dict:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": "nginx"}], **pod_extra}}}}


def k8s(*objects: dict) -> tuple[AppSpec, list[str]]:
    warnings: list[str] = []
    app = load_manifest_text(yaml.safe_dump_all(objects), "app.yaml", name="shop", warn=warnings.append)
    return app, warnings


def web(pod_extra: dict, *others: dict) -> tuple[ServiceSpec, str]:
    """The web service of a Deployment with `pod_extra` in its pod spec, and the warning ("" if none)."""
    app, warnings = k8s(deployment(pod_extra), *others)
    return app.service("web"), "".join(warnings)


def k8s_error(pod_extra: dict) -> str:
    with pytest.raises(AppError) as e:
        k8s(deployment(pod_extra))
    return str(e.value)


def spread(key: str, when: str = "DoNotSchedule", skew=1, selector=OWN, **extra) -> dict:
    item = {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when, **extra}
    if selector is not None:
        item["labelSelector"] = selector
    return item


HOST, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"


# ---------------------------------------------------------------- topologySpreadConstraints

def test_spread_over_hostname_and_zone_hard_and_soft():
    service, warning = web({"topologySpreadConstraints": [spread(HOST), spread(ZONE, "ScheduleAnyway", 2)]})
    assert service.spread == (SpreadSpec("node", 1, True), SpreadSpec("zone", 2, False))
    assert service.max_per_node == 0 and not service.prefer_apart
    assert warning == ""  # everything read


def test_the_deprecated_zone_key_is_a_zone_and_match_expressions_select():
    selector = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "www"]},
                                     {"key": "tier", "operator": "DoesNotExist"}]}
    service, _ = web({"topologySpreadConstraints": [
        spread("failure-domain.beta.kubernetes.io/zone", selector=selector)]})
    assert service.spread == (SpreadSpec("zone", 1, True),)


@pytest.mark.parametrize("item, reason", [
    (spread("example.com/rack"), "topologyKey example.com/rack"),
    (spread(HOST, selector=None), "no labelSelector"),
    (spread(HOST, selector={"matchLabels": {"app": "db"}}), "does not select the workload's own pods"),
    (spread(HOST, selector={"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
     "does not select the workload's own pods"),
    (spread(HOST, selector={"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
     "selects other workloads' pods too"),
])
def test_constraints_strata_cannot_hold_are_reported_not_dropped(item, reason):
    service, warning = web({"topologySpreadConstraints": [item]}, deployment({}, name="db"))
    assert service.spread == ()
    assert "web.pod.topologySpreadConstraints[0]" in warning and reason in warning


def test_fields_of_a_constraint_strata_does_not_use_are_reported():
    service, warning = web({"topologySpreadConstraints": [
        spread(HOST, minDomains=2, nodeAffinityPolicy="Ignore", matchLabelKeys=["pod-template-hash"])]})
    assert service.spread == (SpreadSpec("node", 1, True),)
    for name in ("minDomains", "nodeAffinityPolicy", "matchLabelKeys"):
        assert f"web.pod.topologySpreadConstraints[0].{name}" in warning


def test_a_preferred_spread_beside_a_required_one_over_the_same_topology_gives_way():
    service, warning = web({"topologySpreadConstraints": [spread(HOST, "ScheduleAnyway"), spread(HOST, skew=2)]})
    assert service.spread == (SpreadSpec("node", 2, True),)
    assert "topologySpreadConstraints[0] (a preferred spread beside a required one" in warning


@pytest.mark.parametrize("items, path, fragment", [
    ([spread(HOST, skew=0)], "[0].maxSkew", "must be a whole number >= 1, got 0"),
    ([spread(HOST, skew=-1)], "[0].maxSkew", "got -1"),
    ([spread(HOST, skew="1")], "[0].maxSkew", 'got "1"'),
    ([spread(HOST, skew=True)], "[0].maxSkew", "got true"),
    ([spread(HOST, skew=1.5)], "[0].maxSkew", "got 1.5"),
    ([{"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}], "[0].topologyKey", "missing"),
    ([{"maxSkew": 1, "topologyKey": HOST}], "[0].whenUnsatisfiable", "missing"),
    ([spread("")], "[0].topologyKey", "must be a node label key"),
    ([spread(HOST, "Never")], "[0].whenUnsatisfiable", 'must be "DoNotSchedule" or "ScheduleAnyway"'),
    ([spread(HOST), spread(HOST, skew=2)], "[1]", "a second constraint over kubernetes.io/hostname"),
    ({"maxSkew": 1}, "", "must be a list"),
    (["x"], "[0]", "must be a mapping"),
    ([spread(HOST, selector={"matchExpressions": [{"key": "app", "operator": "Like", "values": ["w"]}]})],
     "[0].labelSelector.matchExpressions[0].operator", 'must be "In", "NotIn"'),
    ([spread(HOST, selector={"matchExpressions": [{"key": "app", "operator": "In"}]})],
     "[0].labelSelector.matchExpressions[0].values", "non-empty list"),
    ([spread(HOST, selector={"matchLabels": ["app"]})], "[0].labelSelector.matchLabels", "must be a mapping"),
])
def test_bad_spread_constraints_are_refused_naming_the_service_and_the_path(items, path, fragment):
    message = k8s_error({"topologySpreadConstraints": items})
    assert message.startswith(f'service "web": spec.template.spec.topologySpreadConstraints{path}: ')
    assert fragment in message


# ---------------------------------------------------------------- podAntiAffinity

def term(key: str = HOST, selector=OWN, **extra) -> dict:
    out = {"topologyKey": key, **extra}
    if selector is not None:
        out["labelSelector"] = selector
    return out


def anti(required=(), preferred=()) -> dict:
    return {"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": list(required),
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": t}
                                                            for t in preferred]}}}


def test_required_anti_affinity_on_hostname_is_one_per_node_and_preferred_is_apart():
    service, warning = web(anti(required=[term()]))
    assert (service.max_per_node, service.prefer_apart) == (1, False) and warning == ""
    service, warning = web(anti(preferred=[term()]))
    assert (service.max_per_node, service.prefer_apart) == (0, True) and warning == ""
    service, _ = web(anti(required=[term()], preferred=[term()]))
    assert (service.max_per_node, service.prefer_apart) == (1, True)


@pytest.mark.parametrize("kind", ["required", "preferred"])
@pytest.mark.parametrize("bad, reason", [
    (term(ZONE), "topologyKey topology.kubernetes.io/zone"),
    (term(selector=None), "no labelSelector"),
    (term(selector={"matchLabels": {"app": "db"}}), "does not select the workload's own pods"),
    (term(selector={}), "selects other workloads' pods too"),
])
def test_anti_affinity_terms_strata_cannot_hold_are_reported(kind, bad, reason):
    service, warning = web(anti(**{kind: [bad]}), deployment({}, name="db"))
    assert (service.max_per_node, service.prefer_apart) == (0, False)
    assert "web.pod.affinity.podAntiAffinity." in warning and reason in warning


def test_other_affinities_and_term_fields_are_reported():
    pod = anti(required=[term(namespaces=["other"])])
    pod["affinity"]["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term()]}
    pod["affinity"]["nodeAffinity"] = {}
    service, warning = web(pod)
    assert service.max_per_node == 1
    assert "web.pod.affinity.podAffinity" in warning and "web.pod.affinity.nodeAffinity" in warning
    assert "requiredDuringSchedulingIgnoredDuringExecution[0].namespaces" in warning


@pytest.mark.parametrize("pod, path, fragment", [
    (anti(required=[{"labelSelector": OWN}]), ".requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
     "must be a node label key"),
    ({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term()}}},
     ".requiredDuringSchedulingIgnoredDuringExecution", "must be a list"),
    ({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 0, "podAffinityTerm": term()}]}}},
     ".preferredDuringSchedulingIgnoredDuringExecution[0].weight", "must be a whole number 1-100, got 0"),
    ({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5}]}}},
     ".preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm", "missing"),
    ({"affinity": {"podAntiAffinity": "yes"}}, "", "must be a mapping"),
])
def test_bad_anti_affinity_is_refused_naming_the_service_and_the_path(pod, path, fragment):
    message = k8s_error(pod)
    assert message.startswith(f'service "web": spec.template.spec.affinity.podAntiAffinity{path}: ')
    assert fragment in message


# ---------------------------------------------------------------- Compose

def compose(deploy: dict) -> tuple[ServiceSpec, str]:
    warnings: list[str] = []
    text = json.dumps({"services": {"web": {"image": "nginx", "deploy": {"replicas": 3, **deploy}}}})
    app = load_manifest_text(text, "docker-compose.yml", warn=warnings.append)
    return app.service("web"), "".join(warnings)


def test_compose_max_replicas_per_node():
    assert compose({"placement": {"max_replicas_per_node": 1}})[0].max_per_node == 1
    assert compose({"placement": {"max_replicas_per_node": "2"}})[0].max_per_node == 2
    assert compose({"placement": {"max_replicas_per_node": 0}})[0].max_per_node == 0  # Docker: no limit
    service, warning = compose({"placement": {"max_replicas_per_node": 1, "constraints": ["node.role==worker"]}})
    assert service.max_per_node == 1 and "web.deploy.placement.constraints" in warning
    assert "max_replicas_per_node" not in warning


@pytest.mark.parametrize("value", [-1, "one", True, 1.5])
def test_bad_compose_max_replicas_per_node_is_refused(value):
    with pytest.raises(AppError) as e:
        compose({"placement": {"max_replicas_per_node": value}})
    assert str(e.value).startswith('service "web": deploy.placement.max_replicas_per_node: must be a whole number')


# ---------------------------------------------------------------- the model's forms

RULED = AppSpec("shop", (ServiceSpec("web", "nginx", replicas=3, max_per_node=1,
                                     spread=(SpreadSpec("zone", 2, False), SpreadSpec("node")), prefer_apart=True),
                         ServiceSpec("db", "redis")))


def test_rules_round_trip_through_the_dict_and_the_message():
    assert app_from_dict(json.loads(json.dumps(app_to_dict(RULED)))) == RULED
    for service in RULED.services:
        assert service_spec(service_message(service)) == service
    message = service_message(RULED.services[0])
    assert [(s.topology, s.max_skew, s.soft) for s in message.spread] == [("zone", 2, True), ("node", 1, False)]


@pytest.mark.parametrize("spread_value, fragment", [
    ("node", "spread: must be a list"),
    ([{"max_skew": 1}], "spread[0]: must be an object with topology"),
    ([{"topology": "node", "skew": 1}], "spread[0]: must be an object with topology"),
    ([{"topology": "rack"}], "spread[0].topology: must be one of node, zone"),
    ([{"topology": "node", "max_skew": 0}], "spread[0].max_skew: must be a whole number >= 1"),
])
def test_bad_rules_in_the_dict_are_refused(spread_value, fragment):
    with pytest.raises(AppError) as e:
        app_from_dict({"name": "m", "services": [{"name": "web", "image": "nginx", "spread": spread_value}]})
    assert str(e.value).startswith('service "web": ') and fragment in str(e.value)


def test_rules_in_words():
    assert describe_rules(RULED.services[0]) == ("at most 1 per node, spread over zones (max skew 2, preferred), "
                                                 "spread over nodes (max skew 1, required), preferably one per node")
    assert describe_rules(RULED.services[1]) == ""
