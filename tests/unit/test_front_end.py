"""Which service users call: exposure read from both manifest formats, and the front end chosen from it."""

from __future__ import annotations

import json

import pytest

from api.app import AppError, AppSpec, ServiceSpec, app_from_dict, app_to_dict
from api.app_messages import service_message, service_spec
from api.front_end import call_tree, front_end
from client.manifests import load_manifest, load_manifest_text
from harness.deploy_experiment import BUNDLED_APPS


def kubernetes(service_type: str | None, *, second: str | None = None) -> str:
    """A Deployment "web" (calling "db") and a Deployment "db", each with a ClusterIP Service; "web"
    also selected by a Service "web-external" of `service_type` (none when None)."""
    def workload(name: str, env: list) -> list[dict]:
        labels = {"app": name}
        return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                 "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                     "containers": [{"name": name, "image": "nginx", "env": env}]}}}},
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                 "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}]
    objects = workload("web", [{"name": "DB_ADDR", "value": "db:80"}]) + workload("db", [])
    for name, kind in (("web-external", service_type), ("db-external", second)):
        if kind is not None:
            objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                            "spec": {"type": kind, "selector": {"app": name.split("-")[0]},
                                     "ports": [{"port": 80, "targetPort": 8080}]}})
    return "---\n".join(json.dumps(o) + "\n" for o in objects)


def load(text: str) -> AppSpec:
    return load_manifest_text(text, "app.yml", warn=lambda _: None)


@pytest.mark.parametrize("kind, exposed", [("LoadBalancer", True), ("NodePort", True), ("ClusterIP", False),
                                           (None, False)])
def test_a_kubernetes_service_of_type_load_balancer_or_node_port_exposes_what_it_selects(kind, exposed):
    app = load(kubernetes(kind))
    assert app.service("web").exposed is exposed
    assert app.service("db").exposed is False


def test_compose_ports_publish_and_expose_does_not():
    app = load("services:\n"
               "  web: {image: nginx, ports: ['8080:80'], depends_on: [api]}\n"
               "  api: {image: nginx, ports: ['9000']}\n"
               "  db: {image: redis, expose: ['6379']}\n"
               "  cache: {image: memcached}\n")
    assert {s.name: s.exposed for s in app.services} == {"web": True, "api": True, "db": False, "cache": False}


def test_exposure_round_trips_through_the_dict_and_the_message():
    app = AppSpec("shop", (ServiceSpec("web", "nginx", exposed=True), ServiceSpec("db", "redis")))
    assert app_from_dict(json.loads(json.dumps(app_to_dict(app)))) == app
    assert [service_spec(service_message(s)) for s in app.services] == list(app.services)
    assert app_from_dict({"name": "m", "services": [{"name": "web", "image": "nginx"}]}).services[0].exposed is False
    with pytest.raises(AppError, match='service "web": exposed: must be true or false'):
        app_from_dict({"name": "m", "services": [{"name": "web", "image": "nginx", "exposed": "yes"}]})


@pytest.mark.parametrize("app, service, guessed", [
    ("online-boutique", "frontend", False),   # frontend-external, a LoadBalancer; not the loadgenerator calling it
    ("teastore", "teastore-webui", False),    # its NodePort Service
    ("socialNetwork", "nginx-thrift", True),  # four publish ports; nginx-thrift on 8080, the HTTP port, nothing calls it
])
def test_the_bundled_apps_front_ends_are_the_ones_their_users_call(app, service, guessed):
    chosen = front_end(load_manifest(BUNDLED_APPS[app], warn=lambda _: None))
    assert (chosen.service, chosen.guessed) == (service, guessed)


def svc(name: str, *deps: str, **fields) -> ServiceSpec:
    return ServiceSpec(name, "nginx", dependencies=deps, **fields)


def test_without_exposure_the_root_with_the_largest_call_tree_is_a_guess():
    # a load generator calls the front end; a batch job calls one service; nothing calls either
    app = AppSpec("shop", (svc("batch", "db"), svc("loadgen", "web"), svc("web", "api", "db"), svc("api", "db"),
                           svc("db")))
    assert call_tree(app, "loadgen") == {"loadgen", "web", "api", "db"} and call_tree(app, "db") == {"db"}
    chosen = front_end(app)
    assert (chosen.service, chosen.guessed) == ("loadgen", True)
    assert "batch" in chosen.reason and "loadgen" in chosen.reason
    # exposure decides over the call graph's shape
    exposed = AppSpec("shop", tuple(s if s.name != "web" else svc("web", "api", "db", exposed=True)
                                    for s in app.services))
    assert front_end(exposed) == front_end(exposed, "") and front_end(exposed).service == "web"
    assert not front_end(exposed).guessed


def test_of_several_published_one_nothing_calls_then_an_http_port_then_the_largest_tree():
    tracing = svc("tracing", exposed=True, port=16686)
    app = AppSpec("shop", (svc("web", "api", "tracing", exposed=True, port=8080),
                           svc("api", "tracing", "db", exposed=True, port=9090), svc("db", "tracing"), tracing))
    assert front_end(app).service == "web"  # api has the larger tree, but web calls it
    apart = AppSpec("shop", (svc("admin", "db", "tracing", exposed=True, port=9000),
                             svc("web", "tracing", exposed=True, port=80), svc("db"), tracing))
    assert front_end(apart).service == "web"  # on HTTP's port, with the smaller tree
    same_port = AppSpec("shop", (svc("a", "db", exposed=True), svc("b", "db", "c", exposed=True), svc("c"), svc("db")))
    assert front_end(same_port).service == "b"  # the largest tree
    tie = AppSpec("shop", (svc("a", exposed=True), svc("b", exposed=True)))
    assert front_end(tie).service == "a" and front_end(tie).guessed  # the app's order


def test_every_service_in_a_cycle_still_gives_a_front_end():
    app = AppSpec("shop", (svc("web", "api"), svc("api", "web", "db"), svc("db", "web")))
    chosen = front_end(app)
    assert chosen.service == "web" and chosen.guessed  # every tree is the whole app: the first


def test_versions_are_called_by_their_mesh_service_and_vnfs_never_are_front_ends():
    app = AppSpec("shop", (svc("fw", vnf_kind="firewall", vnf_config='{"default": "allow"}'),
                           svc("web-v1", "db", mesh_service="web", version="v1"),
                           svc("web-v2", "db", mesh_service="web", version="v2", exposed=True), svc("db")))
    assert front_end(app).service == "web" and call_tree(app, "web") == {"web-v1", "db"}
    with pytest.raises(AppError, match="no such service"):
        front_end(app, "fw")


def test_the_users_choice_wins_and_must_name_a_service():
    app = load_manifest(BUNDLED_APPS["online-boutique"], warn=lambda _: None)
    chosen = front_end(app, "checkoutservice")
    assert (chosen.service, chosen.guessed) == ("checkoutservice", False)
    with pytest.raises(AppError, match='front end "nosuch"'):
        front_end(app, "nosuch")
