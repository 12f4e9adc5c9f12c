"""The app model and the manifest loaders: the bundled apps, other real-world Compose and Kubernetes files, errors."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from component_base.errors import InvalidArgument
from api.app import (AppError, AppSpec, ServiceSpec, app_from_dict, app_to_dict,
                     parse_image_reference, validate_app)
from client.manifests import load_manifest, load_manifest_text, referenced_hosts, to_dns_label

APPS = Path(__file__).resolve().parents[2] / "examples" / "apps"
SOCIAL = APPS / "deathstarbench-socialNetwork-docker-compose.yml"
BOUTIQUE = APPS / "online-boutique-kubernetes-manifests.yaml"
TEASTORE = APPS / "teastore-kubernetes-clusterip.yaml"


def load(text: str, source: str = "app.yml", **kwargs):
    """(app, warnings) of a manifest text."""
    warnings: list[str] = []
    return load_manifest_text(text, source, warn=warnings.append, **kwargs), warnings


def error_of(text: str, source: str = "app.yml", **kwargs) -> str:
    with pytest.raises(AppError) as e:
        load(text, source, **kwargs)
    return str(e.value)


# ---------------------------------------------------------------- the bundled apps


@pytest.fixture(scope="module")
def social():
    warnings: list[str] = []
    return load_manifest(SOCIAL, warn=warnings.append), warnings


@pytest.fixture(scope="module")
def boutique():
    warnings: list[str] = []
    return load_manifest(BOUTIQUE, warn=warnings.append), warnings


def test_social_network_has_its_27_services(social):
    app, warnings = social
    assert app.name == "deathstarbench-socialnetwork-docker-compose"
    assert len(app.services) == 27
    assert len({s.image for s in app.services}) == 7
    assert app.service("social-graph-mongodb").image == "mongo:4.4.6"
    assert app.service("user-memcached").image == "memcached"
    assert app.service("compose-post-service").image == "deathstarbench/social-network-microservices:latest"
    assert len(warnings) == 1


def test_social_network_dependencies_come_from_depends_on(social):
    app, _ = social
    assert app.service("social-graph-service").dependencies == ("jaeger-agent", "social-graph-mongodb")
    assert app.service("text-service").dependencies == ("jaeger-agent",)
    assert app.service("jaeger-agent").dependencies == ()
    fronts = app.front_ends()
    assert "nginx-thrift" in fronts and "media-frontend" in fronts
    assert "jaeger-agent" not in fronts and "user-mongodb" not in fronts


def test_social_network_ports_published_then_target(social):
    app, _ = social
    assert (app.service("post-storage-service").port, app.service("post-storage-service").target_port) == (10002, 9090)
    assert (app.service("media-frontend").port, app.service("media-frontend").target_port) == (8081, 8080)
    assert (app.service("jaeger-agent").port, app.service("jaeger-agent").target_port) == (16686, 16686)
    # Commented-out ports: the defaults.
    assert (app.service("user-service").port, app.service("user-service").target_port) == (8080, 8080)
    assert all(s.replicas == 1 and s.cpu_millicores == 100.0 and s.bandwidth_mbps == 10.0 for s in app.services)


def test_social_network_warning_lists_unused_fields(social):
    _, [warning] = social
    assert "social-graph-service.restart" in warning and "social-graph-service.volumes" in warning
    assert "more" in warning  # truncated
    assert "hostname" not in warning  # used: an alias for dependency detection


def test_online_boutique_has_its_12_services(boutique):
    app, warnings = boutique
    assert app.name == "online-boutique-kubernetes-manifests"
    assert [s.name for s in app.services] == [
        "frontend", "adservice", "currencyservice", "cartservice", "redis-cart", "loadgenerator",
        "recommendationservice", "checkoutservice", "emailservice", "paymentservice", "shippingservice",
        "productcatalogservice"]
    assert app.service("loadgenerator").image.endswith("microservices-demo/loadgenerator:v0.10.6")
    assert app.service("redis-cart").image == "redis:alpine"
    assert len(warnings) == 1


def test_online_boutique_ports_from_the_cluster_ip_service(boutique):
    app, _ = boutique
    frontend = app.service("frontend")
    assert (frontend.port, frontend.target_port) == (80, 8080)
    assert (app.service("emailservice").port, app.service("emailservice").target_port) == (5000, 8080)
    assert (app.service("cartservice").port, app.service("cartservice").target_port) == (7070, 7070)
    # loadgenerator: no Service and no containerPort -> defaults.
    assert (app.service("loadgenerator").port, app.service("loadgenerator").target_port) == (8080, 8080)


def test_online_boutique_cpu_from_requests(boutique):
    app, _ = boutique
    assert app.service("frontend").cpu_millicores == 100.0
    assert app.service("adservice").cpu_millicores == 200.0
    assert app.service("redis-cart").cpu_millicores == 70.0
    assert app.service("loadgenerator").cpu_millicores == 300.0


def test_online_boutique_dependencies_from_environment(boutique):
    app, _ = boutique
    assert app.service("checkoutservice").dependencies == (
        "productcatalogservice", "shippingservice", "paymentservice", "emailservice", "currencyservice",
        "cartservice")
    assert app.service("cartservice").dependencies == ("redis-cart",)
    assert app.service("recommendationservice").dependencies == ("productcatalogservice",)
    assert app.service("loadgenerator").dependencies == ("frontend",)  # not from the busybox init container
    # shoppingassistantservice is named in frontend's environment but is not part of the app.
    assert "shoppingassistantservice" not in app.service("frontend").dependencies
    assert set(app.service("frontend").dependencies) == {
        "productcatalogservice", "currencyservice", "cartservice", "recommendationservice", "shippingservice",
        "checkoutservice", "adservice"}
    assert app.front_ends() == ("loadgenerator",)


def test_online_boutique_warning_skips_other_kinds(boutique):
    _, [warning] = boutique
    assert "ServiceAccount x11" in warning
    assert "frontend.container.readinessProbe" in warning


def test_bundled_apps_round_trip_through_json(social, boutique):
    for app in (social[0], boutique[0], load_manifest(TEASTORE, warn=lambda _: None)):
        assert app_from_dict(json.loads(json.dumps(app_to_dict(app)))) == app


def test_teastore_as_published():
    warnings: list[str] = []
    app = load_manifest(TEASTORE, warn=warnings.append)
    assert [s.name for s in app.services] == ["teastore-db", "teastore-registry", "teastore-persistence",
                                              "teastore-auth", "teastore-image", "teastore-recommender",
                                              "teastore-webui"]
    assert (app.service("teastore-db").port, app.service("teastore-db").target_port) == (3306, 3306)
    assert {(s.port, s.target_port) for s in app.services[1:]} == {(8080, 8080)}
    # Every service finds the registry through REGISTRY_HOST; persistence reaches the database by DB_HOST.
    assert app.service("teastore-persistence").dependencies == ("teastore-registry", "teastore-db")
    assert all(s.dependencies == ("teastore-registry",)
               for s in app.services if s.name not in ("teastore-db", "teastore-registry", "teastore-persistence"))
    # The webui's NodePort is reported, not silently dropped: Strata exposes services on their VIPs.
    assert warnings == [f"{TEASTORE}: ignored 1 field(s) Strata does not use: "
                        "teastore-webui.Service/teastore-webui.spec.ports[0].nodePort"]


def test_a_service_port_field_strata_does_not_use_is_reported():
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 8080, targetPort: 80, protocol: TCP, nodePort: 30080, appProtocol: http}]
"""
    app, [warning] = load(text, "web.yaml")
    assert (app.service("web").port, app.service("web").target_port) == (8080, 80)
    assert "web.Service/web.spec.ports[0].nodePort" in warning and "spec.ports[0].appProtocol" in warning
    assert "ports[0].name" not in warning and "ports[0].protocol" not in warning


# ---------------------------------------------------------------- Docker Compose

WEB_COMPOSE = """
name: Shop_Demo
services:
  web:
    build: ./web
    image: registry.example.com:5000/shop/web:1.2
    ports:
      - target: 8000
        published: "80"
        protocol: tcp
    environment:
      - API_URL=http://api:9000/v1
      - CACHE=cache:6379
      - DEBUG=1
    deploy:
      replicas: 3
      resources:
        reservations: {cpus: "0.25"}
        limits: {cpus: "1", memory: 512M}
    labels:
      - strata.io/bandwidth-mbps=25
      - com.example.team=shop
  api:
    image: python:3.12-slim
    expose: ["9000"]
    environment:
      DATABASE_URL: postgres://shop:secret@db:5432/shop
      PEERS: "web:80,worker"
    depends_on:
      db:
        condition: service_healthy
    labels:
      strata.io/base-image: python
  worker:
    image: shop/worker
    scale: 2
    cpus: 0.5
    links: ["db:database"]
    environment:
      DB_HOST: database
  cache:
    image: redis:7-alpine
  db:
    image: postgres:16
    deploy: {mode: global}
volumes:
  data: {}
"""


def test_compose_realistic_file():
    app, warnings = load(WEB_COMPOSE, "docker-compose.yml")
    assert app.name == "shop-demo"
    web, api, worker = app.service("web"), app.service("api"), app.service("worker")
    assert web.image == "registry.example.com:5000/shop/web:1.2"
    assert (web.port, web.target_port) == (80, 8000)
    assert web.replicas == 3 and web.cpu_millicores == 250.0 and web.bandwidth_mbps == 25.0
    assert web.dependencies == ("api", "cache")
    assert (api.port, api.target_port) == (9000, 9000)
    assert api.base_image == "python" and api.dependencies == ("db", "web", "worker")
    assert worker.replicas == 2 and worker.cpu_millicores == 500.0
    assert worker.dependencies == ("db",)  # the link, and its alias "database" in the environment
    assert app.service("db").replicas == 1
    assert app.front_ends() == ()  # web and api call each other
    [warning] = warnings
    assert "web.build" in warning and "volumes" in warning and "memory" not in warning
    # limits.memory 512M alone: Compose's M is 1024^2 bytes, and the request is the limit
    assert (web.memory_mib, web.memory_limit_mib) == (512.0, 512.0)
    assert (api.memory_mib, api.memory_limit_mib) == (0.0, 0.0)  # none given: none requested, no limit


def test_compose_build_without_image_is_refused():
    message = error_of("services:\n  api:\n    build: .\n")
    assert message.startswith('service "api": image: an image is needed')
    assert "build" in message


def test_compose_service_without_image():
    assert error_of("services:\n  api:\n    ports: ['80']\n").startswith('service "api": image: an image is needed')


@pytest.mark.parametrize("entry, expected", [
    ('"80"', (80, 80)),
    ("80", (80, 80)),
    ('"8080:80"', (8080, 80)),
    ("8080:80", (8080, 80)),  # unquoted: YAML 1.1 would read 8080:80 as a base-60 number
    ("22:22", (22, 22)),
    ('"127.0.0.1:8080:80/tcp"', (8080, 80)),
    ('"127.0.0.1::80"', (80, 80)),
    ('"[::1]:9000:90"', (9000, 90)),
    ('"8000-8010:9000-9010"', (8000, 9000)),
    ('"53:53/udp"', (53, 53)),
    ("{target: 80}", (80, 80)),
    ("{target: 80, published: 8081, host_ip: 0.0.0.0, mode: host}", (8081, 80)),
    ('{target: 80, published: "8081-8085"}', (8081, 80)),
])
def test_compose_port_syntaxes(entry, expected):
    app, _ = load(f"services:\n  web:\n    image: nginx\n    ports:\n      - {entry}\n")
    assert (app.service("web").port, app.service("web").target_port) == expected


def test_compose_first_port_wins_and_others_are_reported():
    app, [warning] = load("services:\n  web:\n    image: nginx\n    ports: ['8443:443', '8080:80']\n"
                          "    expose: ['9000']\n")
    assert (app.service("web").port, app.service("web").target_port) == (8443, 443)
    assert "web.ports[1]" in warning and "web.expose[0]" in warning


@pytest.mark.parametrize("ports, field", [
    ("['70000:80']", "ports[0]"),
    ("['http']", "ports[0]"),
    ("['1:2:3:4']", "ports[0]"),
    ("[{published: 80}]", "ports[0].target"),
    ("[{target: 0}]", "ports[0].target"),
])
def test_compose_bad_ports_are_named(ports, field):
    message = error_of(f"services:\n  web:\n    image: nginx\n    ports: {ports}\n")
    assert message.startswith(f'service "web": {field}: ')


@pytest.mark.parametrize("deploy, millicores", [
    ("deploy: {resources: {reservations: {cpus: '0.5'}, limits: {cpus: 2}}}", 500.0),
    ("deploy: {resources: {limits: {cpus: 2}}}", 2000.0),
    ("deploy: {resources: {limits: {cpus: '1.5'}}}", 1500.0),
    ("cpus: 0.25", 250.0),
    ("restart: always", 100.0),
])
def test_compose_cpu(deploy, millicores):
    app, _ = load(f"services:\n  cart:\n    image: redis\n    {deploy}\n")
    assert app.service("cart").cpu_millicores == millicores


def test_compose_negative_cpu_is_named():
    message = error_of("services:\n  cart:\n    image: redis\n"
                       "    deploy: {resources: {reservations: {cpus: '-1'}}}\n")
    assert message == ('service "cart": deploy.resources.reservations.cpus: '
                       'must be a positive number of cores, got "-1"')


@pytest.mark.parametrize("body, field", [
    ("deploy: {resources: {limits: {cpus: 0}}}", "deploy.resources.limits.cpus"),
    ("deploy: {resources: {limits: {cpus: .nan}}}", "deploy.resources.limits.cpus"),
    ("deploy: {resources: {limits: {cpus: lots}}}", "deploy.resources.limits.cpus"),
    ("deploy: {replicas: -1}", "deploy.replicas"),
    ("deploy: {replicas: 1.5}", "deploy.replicas"),
    ("deploy: {mode: everywhere}", "deploy.mode"),
    ("scale: two", "scale"),
    ("deploy: {replicas: 2}\n    scale: 3", "scale"),
    ("labels: {strata.io/bandwidth-mbps: fast}", 'labels["strata.io/bandwidth-mbps"]'),
    ("labels: ['strata.io/bandwidth-mbps=-3']", 'labels["strata.io/bandwidth-mbps"]'),
    ("labels: {strata.io/base-image: ''}", 'labels["strata.io/base-image"]'),
    ("labels: {strata.io/base-image: Python}", 'labels["strata.io/base-image"]'),
    ("depends_on: [nosuch]", "depends_on"),
    ("depends_on: [cart]", "depends_on"),
    ("links: ['nosuch:db']", "links"),
    ("ports: '80:80'", "ports"),
    ("environment: 3", "environment"),
])
def test_compose_bad_values_are_named(body, field):
    text = f"services:\n  cart:\n    image: redis\n    {body}\n"
    assert error_of(text).startswith(f'service "cart": {field}: ')


def test_compose_replicas_forms():
    app, _ = load("services:\n"
                  "  a: {image: redis, deploy: {replicas: 0}}\n"
                  "  b: {image: redis, scale: '4'}\n"
                  "  c: {image: redis, deploy: {mode: global, replicas: 5}}\n"
                  "  d: {image: redis, deploy: {replicas: 2}, scale: 2}\n")
    assert [s.replicas for s in app.services] == [0, 4, 1, 2]


def test_compose_bad_image_is_named():
    assert error_of("services:\n  web:\n    image: My/Web\n").startswith(
        'service "web": image: invalid image reference "My/Web"')


def test_compose_variables_take_their_defaults():
    app, _ = load("services:\n  web:\n"
                  "    image: ${REGISTRY:-ghcr.io}/acme/web:${TAG-1.0}\n"
                  "    ports: ['${PORT:-8080}:80']\n"
                  "    environment: ['PRICE=$$5', 'API=${API_HOST:-api}:9000']\n"
                  "  api:\n    image: acme/api\n")
    web = app.service("web")
    assert web.image == "ghcr.io/acme/web:1.0" and web.port == 8080 and web.dependencies == ("api",)


def test_compose_variable_without_default_is_explained():
    message = error_of("services:\n  web:\n    image: acme/web:${TAG}\n")
    assert message.startswith('service "web": image: ') and "default" in message


def test_compose_environment_forms_and_hosts():
    app, _ = load("services:\n"
                  "  gateway:\n    image: nginx\n"
                  "    environment:\n"
                  "      UPSTREAMS: 'orders:8080, users:8080'\n"
                  "      MONGO: mongodb://admin:pw@mongo:27017,mongo-2:27017/shop?replicaSet=rs0\n"
                  "      UNSET:\n"
                  "      FLAG: true\n"
                  "      PATH_LIKE: users/data\n"
                  "      SELF: gateway\n"
                  "      OTHER: www.example.com:443\n"
                  "  orders: {image: acme/orders}\n"
                  "  users: {image: acme/users, hostname: users-host, container_name: users_ctr}\n"
                  "  mongo: {image: mongo}\n"
                  "  mongo-2: {image: mongo}\n"
                  "  billing:\n    image: acme/billing\n    environment: [USERS=users-host, CTR=users_ctr, EMPTY]\n")
    assert app.service("gateway").dependencies == ("orders", "users", "mongo", "mongo-2")
    assert app.service("billing").dependencies == ("users",)


def test_names_that_are_credentials_are_not_hosts():
    app, _ = load("services:\n"
                  "  db:\n    image: mariadb\n"
                  "    environment: [MYSQL_DATABASE=wordpress, MYSQL_USER=wordpress, MYSQL_PASSWORD=wordpress]\n"
                  "  wordpress:\n    image: wordpress\n"
                  "    environment: {WORDPRESS_DB_HOST: db, WORDPRESS_DB_NAME: wordpress}\n"
                  "  backup:\n    image: acme/backup\n"
                  "    environment: {BACKUP_DB: 'db:3306', SOURCE_USER: wordpress}\n")
    assert app.service("db").dependencies == ()
    assert app.service("wordpress").dependencies == ("db",)
    assert app.service("backup").dependencies == ("db",)  # host:port counts whatever the variable's name
    assert app.front_ends() == ("wordpress", "backup")


def test_compose_names_become_dns_labels():
    app, [warning] = load("services:\n  My_Service:\n    image: redis\n"
                          "  client:\n    image: acme/client\n    depends_on: [My_Service]\n"
                          "    environment: [HOST=My_Service:6379]\n")
    assert [s.name for s in app.services] == ["my-service", "client"]
    assert app.service("client").dependencies == ("my-service",)
    assert 'renamed service "My_Service" to "my-service"' in warning


def test_compose_names_that_collide_are_refused():
    assert "becomes" in error_of("services:\n  my_db: {image: redis}\n  my-db: {image: redis}\n")


def test_compose_unknown_strata_label_is_reported():
    _, [warning] = load("services:\n  web:\n    image: nginx\n    labels: {strata.io/bandwith-mbps: '5'}\n")
    assert "strata.io/bandwith-mbps" in warning


def test_compose_extension_fields_and_anchors():
    app, warnings = load("x-common: &common\n  image: acme/app\n  deploy: {replicas: 2}\n"
                         "services:\n  a:\n    <<: *common\n  b:\n    <<: *common\n    image: acme/b\n")
    assert [(s.image, s.replicas) for s in app.services] == [("acme/app", 2), ("acme/b", 2)]
    assert warnings == []  # nothing unused: no warning at all


def test_app_name_sources():
    text = "services:\n  web: {image: nginx}\n"
    assert load(text, "/srv/My Shop.compose.yaml")[0].name == "my-shop-compose"
    assert load(text, "2024-demo.yml")[0].name == "app-2024-demo"
    assert load(text, "x.yml", name="given")[0].name == "given"
    assert load("name: from-file\n" + text, "x.yml")[0].name == "from-file"
    assert load(text, "a" * 80 + "-b.yml")[0].name == "a" * 63
    assert error_of(text, name="Bad_Name").startswith("app name: ")


# ---------------------------------------------------------------- Kubernetes

NAMED_PORT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  annotations:
    strata.io/bandwidth-mbps: "40"
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata:
      labels: {app: api, tier: backend}
      annotations:
        strata.io/base-image: node
    spec:
      initContainers:
      - name: migrate
        image: busybox
        env: [{name: X, value: "web:80"}]
      containers:
      - name: server
        image: ghcr.io/acme/api:2.1
        ports:
        - {name: metrics, containerPort: 9090}
        - {name: http, containerPort: 3000}
        env:
        - {name: DB, value: "postgres://db.shop.svc.cluster.local:5432/shop"}
        - {name: CACHE_HOST, value: cache.shop}
        - {name: SECRET, valueFrom: {secretKeyRef: {name: s, key: k}}}
        - {name: REPLICAS, value: 3}
        resources:
          requests: {cpu: "0.5", memory: 128Mi}
      - name: envoy
        image: envoyproxy/envoy:v1.30
---
apiVersion: v1
kind: Service
metadata: {name: api-svc, namespace: shop}
spec:
  selector: {app: api}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9090, targetPort: metrics}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: postgres
        image: postgres:16
        ports: [{containerPort: 5432}]
        resources:
          limits: {cpu: 1}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: cache, namespace: shop}
spec:
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers:
      - {name: redis, image: "redis:7", ports: [{containerPort: 6379}], resources: {requests: {cpu: 250m}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {a: b}
"""


def test_kubernetes_realistic_manifests():
    app, [warning] = load(NAMED_PORT, "shop.yaml")
    assert app.name == "shop"  # the common namespace
    api, db, cache = app.services
    assert api.name == "api-svc"  # the Service's name
    assert api.image == "ghcr.io/acme/api:2.1"
    assert (api.port, api.target_port) == (80, 3000)  # named targetPort resolved
    assert api.replicas == 3 and api.cpu_millicores == 500.0
    assert api.bandwidth_mbps == 40.0 and api.base_image == "node"
    assert api.dependencies == ("db", "cache")  # cluster DNS names; not the init container's web:80
    assert (db.name, db.replicas, db.cpu_millicores, db.port, db.target_port) == ("db", 2, 1000.0, 5432, 5432)
    assert (cache.name, cache.replicas, cache.cpu_millicores) == ("cache", 1, 250.0)
    assert (cache.port, cache.target_port) == (6379, 6379)  # no Service: the containerPort
    for entry in ("api-svc.pod.initContainers", "api-svc.pod.containers[1]", "api-svc.Service/api-svc.spec.ports[1]",
                  "api-svc.container.env.SECRET.valueFrom", "db.spec.serviceName", "ConfigMap x1"):
        assert entry in warning


def test_kubernetes_list_kind_and_two_services_per_workload():
    items = {
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"replicas": 0, "template": {"metadata": {"labels": {"app": "web"}},
                                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-public"},
             "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 30080, "targetPort": 80}]}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-internal"},
             "spec": {"selector": {"app": "web"}, "ports": [{"port": 8000, "targetPort": 80}]}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "orphan"},
             "spec": {"selector": {"app": "nothing"}, "ports": [{"port": 1}]}},
        ]}
    app, [warning] = load(json.dumps(items), "list.json")  # JSON is YAML
    [web] = app.services
    assert (web.name, web.port, web.target_port, web.replicas) == ("web-internal", 8000, 80, 0)
    assert app.name == "list"
    assert "Service/orphan selects no" in warning


def test_kubernetes_two_internal_services_name_the_workload():
    text = """
kind: Deployment
apiVersion: apps/v1
metadata: {name: api}
spec:
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: c, image: acme/api}]}
---
kind: Service
apiVersion: v1
metadata: {name: api-grpc}
spec: {selector: {app: api}, ports: [{port: 9000}]}
---
kind: Service
apiVersion: v1
metadata: {name: api-http}
spec: {selector: {app: api}, ports: [{port: 80, targetPort: "8080"}]}
---
kind: Deployment
apiVersion: apps/v1
metadata: {name: client}
spec:
  template:
    metadata: {labels: {app: client}}
    spec:
      containers:
      - name: c
        image: acme/client
        env: [{name: A, value: "http://api-http/v1"}, {name: B, value: "api-grpc:9000"}]
"""
    app, [warning] = load(text, "two.yaml")
    assert [s.name for s in app.services] == ["api", "client"]
    assert (app.service("api").port, app.service("api").target_port) == (9000, 9000)
    assert app.service("client").dependencies == ("api",)
    assert "named after the workload" in warning


@pytest.mark.parametrize("cpu, millicores", [("100m", 100.0), ("0.5", 500.0), (1, 1000.0), (0.25, 250.0),
                                             ("1500m", 1500.0), ('"2"', 2000.0)])
def test_kubernetes_cpu_quantities(cpu, millicores):
    app, _ = load(_deployment(f"resources: {{requests: {{cpu: {cpu}}}}}"))
    assert app.service("web").cpu_millicores == millicores


def _deployment(container_extra: str = "", spec_extra: str = "", image: str = "nginx") -> str:
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
            + (f"  {spec_extra}\n" if spec_extra else "")
            + "  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
            + f"      - name: c\n        image: {image}\n"
            + (f"        {container_extra}\n" if container_extra else ""))


def test_kubernetes_cpu_falls_back_to_limits():
    app, _ = load(_deployment("resources: {requests: {memory: 1Gi}, limits: {cpu: 300m}}"))
    assert app.service("web").cpu_millicores == 300.0


@pytest.mark.parametrize("text, field", [
    (_deployment("resources: {requests: {cpu: -1}}"), "spec.template.spec.containers[0].resources.requests.cpu"),
    (_deployment("resources: {requests: {cpu: 0m}}"), "spec.template.spec.containers[0].resources.requests.cpu"),
    (_deployment("resources: {limits: {cpu: 1Gi}}"), "spec.template.spec.containers[0].resources.limits.cpu"),
    (_deployment(spec_extra="replicas: -2"), "spec.replicas"),
    (_deployment(image="''"), "spec.template.spec.containers[0].image"),
    (_deployment(image="Acme/Web"), "spec.template.spec.containers[0].image"),
    (_deployment("ports: [{containerPort: 99999}]"), "spec.template.spec.containers[0].ports[0].containerPort"),
    (_deployment("env: {A: b}"), "spec.template.spec.containers[0].env"),
    ("kind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n", "spec.template"),
    ("kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec: {containers: []}\n",
     "spec.template.spec.containers"),
    (_deployment().replace("metadata: {name: web}",
                           "metadata: {name: web, annotations: {strata.io/bandwidth-mbps: '-1'}}"),
     'annotations["strata.io/bandwidth-mbps"]'),
])
def test_kubernetes_bad_values_are_named(text, field):
    assert error_of(text).startswith(f'service "web": {field}: ')


def test_kubernetes_unresolved_named_target_port():
    text = _deployment("ports: [{name: http, containerPort: 8080}]") + (
        "---\nkind: Service\nmetadata: {name: web}\n"
        "spec: {selector: {app: web}, ports: [{port: 80, targetPort: web}]}\n")
    message = error_of(text)
    assert message.startswith('service "web": Service/web spec.ports[0].targetPort: no container port is named "web"')


def test_kubernetes_service_port_without_target_port():
    text = _deployment() + ("---\nkind: Service\nmetadata: {name: web}\n"
                            "spec: {selector: {app: web}, ports: [{port: 81}]}\n")
    app, _ = load(text)
    assert (app.service("web").port, app.service("web").target_port) == (81, 81)


def test_kubernetes_without_workloads():
    assert "nothing to run" in error_of("kind: ConfigMap\nmetadata: {name: a}\n")


def test_kubernetes_object_without_name():
    assert "metadata.name: missing" in error_of("kind: Deployment\nspec: {}\n")


def test_kubernetes_workload_names_become_dns_labels():
    app, [warning] = load(_deployment().replace("name: web}", "name: web.v2}"))
    assert app.services[0].name == "web-v2" and 'renamed "web.v2" to "web-v2"' in warning


# ---------------------------------------------------------------- files, formats, warnings


def test_malformed_yaml_names_file_line_and_column():
    message = error_of("services:\n  web:\n    image: [nginx\n", "broken.yml")
    assert message.startswith("broken.yml:") and "malformed YAML" in message
    line, column = message.split(":")[1:3]
    assert int(line) >= 3 and int(column) >= 1


def test_duplicate_keys_are_refused_with_their_line():
    message = error_of("services:\n  web:\n    image: nginx\n    image: redis\n", "dup.yml")
    assert message.startswith("dup.yml:4:5: malformed YAML") and 'duplicate key "image"' in message


@pytest.mark.parametrize("text", ["", "just a string\n", "- a\n- b\n", "services: 3\n", "foo: {bar: 1}\n",
                                  "services:\n  a: {image: x}\n---\nkind: Service\n"])
def test_neither_format_says_what_was_expected(text):
    message = error_of(text)
    assert "expected" in message


def test_load_manifest_reads_paths_and_text(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text("services:\n  web: {image: nginx}\n")
    warnings: list[str] = []
    assert load_manifest(path, warn=warnings.append).name == "mini"
    assert load_manifest(str(path), warn=warnings.append).name == "mini"
    assert load_manifest("services:\n  web: {image: nginx}\n", name="t", warn=warnings.append).name == "t"
    with pytest.raises(AppError, match="cannot read"):
        load_manifest(tmp_path / "missing.yaml", warn=warnings.append)
    assert warnings == []


def test_one_warning_per_file_even_with_many_entries():
    services = "".join(f"  s{i}: {{image: redis, restart: always, volumes: [a], tty: true}}\n" for i in range(30))
    app, warnings = load("services:\n" + services)
    assert len(app.services) == 30 and len(warnings) == 1
    assert "90 field(s)" in warnings[0] and "... and 78 more" in warnings[0]


def test_referenced_hosts():
    assert referenced_hosts("cart") == ["cart"]
    assert referenced_hosts("cart:7070") == ["cart"]
    assert referenced_hosts("http://user:pw@Cart:80/x?y#z") == ["cart"]
    assert referenced_hosts("a:1, b:2,c") == ["a", "b", "c"]
    assert referenced_hosts("/var/lib/cart") == [] and referenced_hosts("cart/data") == []
    assert referenced_hosts("hello world") == []
    assert referenced_hosts("mongodb://u:p@m1:27017,m2:27017/db?rs=x") == ["m1", "m2"]
    assert referenced_hosts("wordpress", "MYSQL_USER") == [] and referenced_hosts("db", "DB_HOSTNAME") == ["db"]
    assert referenced_hosts("db:5432", "POSTGRES_DB") == ["db"]


def test_to_dns_label():
    assert to_dns_label("DeathStarBench-socialNetwork", prefix="app") == "deathstarbench-socialnetwork"
    assert to_dns_label("__x__", prefix="svc") == "x"
    assert to_dns_label("9lives", prefix="svc") == "svc-9lives"
    assert to_dns_label("___", prefix="svc") == ""


# ---------------------------------------------------------------- the model

GOOD = AppSpec("shop", (ServiceSpec("web", "nginx", dependencies=("api",)),
                        ServiceSpec("api", "acme/api@sha256:" + "a" * 64, replicas=0, dependencies=("web",))))


def test_valid_app_with_a_cycle_is_accepted():
    assert validate_app(GOOD) is GOOD
    assert GOOD.front_ends() == ()
    assert GOOD.service("api").replicas == 0
    with pytest.raises(KeyError):
        GOOD.service("nosuch")


def test_front_ends_in_order():
    app = AppSpec("a", (ServiceSpec("lb", "nginx", dependencies=("web",)), ServiceSpec("web", "nginx"),
                        ServiceSpec("batch", "python", dependencies=("web",))))
    assert app.front_ends() == ("lb", "batch")


def _with(service_changes: dict, index: int = 0) -> AppSpec:
    services = list(GOOD.services)
    services[index] = replace(services[index], **service_changes)
    return AppSpec(GOOD.name, tuple(services))


@pytest.mark.parametrize("changes, field", [
    ({"name": "Web"}, "name"),
    ({"name": "web-"}, "name"),
    ({"name": "1web"}, "name"),
    ({"name": "w" * 64}, "name"),
    ({"image": ""}, "image"),
    ({"image": "nginx:bad tag"}, "image"),
    ({"image": "NGINX"}, "image"),
    ({"replicas": -1}, "replicas"),
    ({"replicas": True}, "replicas"),
    ({"cpu_millicores": 0}, "cpu_millicores"),
    ({"cpu_millicores": -5.0}, "cpu_millicores"),
    ({"cpu_millicores": math.nan}, "cpu_millicores"),
    ({"cpu_millicores": math.inf}, "cpu_millicores"),
    ({"bandwidth_mbps": -0.1}, "bandwidth_mbps"),
    ({"bandwidth_mbps": math.inf}, "bandwidth_mbps"),
    ({"port": 0}, "port"),
    ({"port": 65536}, "port"),
    ({"target_port": -80}, "target_port"),
    ({"dependencies": ("nosuch",)}, "dependencies"),
    ({"dependencies": ("web",)}, "dependencies"),
    ({"dependencies": ("api", "api")}, "dependencies"),
])
def test_validate_app_names_service_and_field(changes, field):
    app = _with(changes)
    with pytest.raises(AppError) as e:
        validate_app(app)
    assert str(e.value).startswith(f'service "{app.services[0].name}": {field}: ')


def test_validate_app_level_errors():
    with pytest.raises(AppError, match="no services"):
        validate_app(AppSpec("shop", ()))
    with pytest.raises(AppError, match="app name"):
        validate_app(AppSpec("Shop", GOOD.services))
    with pytest.raises(AppError, match='service "web": name: more than one'):
        validate_app(AppSpec("shop", (ServiceSpec("web", "nginx"), ServiceSpec("web", "redis"))))


def test_app_error_is_an_invalid_argument():
    assert issubclass(AppError, ValueError) and issubclass(AppError, InvalidArgument)


def test_app_dict_round_trip_and_defaults():
    d = app_to_dict(GOOD)
    assert d["services"][0] == {"name": "web", "image": "nginx", "replicas": 1, "cpu_millicores": 100.0,
                                "bandwidth_mbps": 10.0, "memory_mib": 0.0, "memory_limit_mib": 0.0,
                                "port": 8080, "target_port": 8080,
                                "dependencies": ["api"], "base_image": "", "mesh_service": "", "version": "",
                                "vnf_kind": "", "vnf_config": "", "near": "", "max_per_node": 0, "spread": [],
                                "prefer_apart": False, "exposed": False, "clients": {},
                                "max_client_delay_ms": 0.0, "pids_limit": 0, "labels": {}, "port_name": ""}
    assert app_from_dict(d) == GOOD
    minimal = app_from_dict({"name": "m", "services": [{"name": "web", "image": "nginx", "replicas": 2.0}]})
    assert minimal.services[0] == ServiceSpec("web", "nginx", replicas=2)


@pytest.mark.parametrize("d, fragment", [
    ([], "must be an object"),
    ({"services": []}, "app: name: missing"),
    ({"name": "m", "services": {}}, "services: must be a list"),
    ({"name": "m", "services": [], "extra": 1}, "unknown field(s) extra"),
    ({"name": "m", "services": []}, "no services"),
    ({"name": "m", "services": ["web"]}, "services[0]: must be an object"),
    ({"name": "m", "services": [{"image": "nginx"}]}, "services[0]: name: missing"),
    ({"name": "m", "services": [{"name": "web"}]}, 'service "web": image: missing'),
    ({"name": "m", "services": [{"name": "web", "image": "nginx", "cpu": 1}]}, 'service "web": unknown field(s) cpu'),
    ({"name": "m", "services": [{"name": "web", "image": "nginx", "cpu_millicores": "1"}]},
     'service "web": cpu_millicores: '),
    ({"name": "m", "services": [{"name": "web", "image": "nginx", "dependencies": "api"}]},
     'service "web": dependencies: '),
    ({"name": "m", "services": [{"name": "web", "image": "nginx", "dependencies": ["api"]}]},
     'service "web": dependencies: no service "api"'),
])
def test_app_from_dict_errors(d, fragment):
    with pytest.raises(AppError) as e:
        app_from_dict(d)
    assert fragment in str(e.value)


@pytest.mark.parametrize("text, registry, path, tag, digest", [
    ("redis", "", "library/redis", "", ""),
    ("docker.io/library/redis:alpine", "", "library/redis", "alpine", ""),
    ("localhost:5000/a/b:c", "localhost:5000", "a/b", "c", ""),
    ("gcr.io/x/y:v1@sha256:" + "0" * 64, "gcr.io", "x/y", "v1", "sha256:" + "0" * 64),
    ("yg397/media-frontend:xenial", "", "yg397/media-frontend", "xenial", ""),
])
def test_parse_image_reference(text, registry, path, tag, digest):
    ref = parse_image_reference(text)
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (registry, path, tag, digest)


BOOKINFO_REVIEWS = """
kind: Service
apiVersion: v1
metadata: {name: reviews}
spec: {selector: {app: reviews}, ports: [{port: 9080}]}
---
kind: Deployment
apiVersion: apps/v1
metadata: {name: reviews-v1}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec: {containers: [{name: reviews, image: "docker.io/istio/examples-bookinfo-reviews-v1:1.18.0",
                         ports: [{containerPort: 9080}]}]}
---
kind: Deployment
apiVersion: apps/v1
metadata: {name: reviews-v2}
spec:
  template:
    metadata: {labels: {app: reviews, version: v2}}
    spec: {containers: [{name: reviews, image: "docker.io/istio/examples-bookinfo-reviews-v2:1.18.0",
                         ports: [{containerPort: 9080}]}]}
---
kind: Deployment
apiVersion: apps/v1
metadata: {name: productpage-v1}
spec:
  template:
    metadata: {labels: {app: productpage, version: v1}}
    spec:
      containers:
      - {name: productpage, image: "docker.io/istio/examples-bookinfo-productpage-v1:1.18.0",
         env: [{name: REVIEWS_HOSTNAME, value: reviews}]}
"""


def test_kubernetes_versions_behind_one_service_become_its_subsets():
    """Istio's pattern: one Service selecting Deployments that differ by their `version` label."""
    app, _ = load(BOOKINFO_REVIEWS, name="bookinfo")
    reviews = {s.name: s for s in app.services if s.group == "reviews"}
    assert {n: (s.mesh_service, s.version, s.replicas, s.port) for n, s in reviews.items()} == {
        "reviews-v1": ("reviews", "v1", 2, 9080), "reviews-v2": ("reviews", "v2", 1, 9080)}
    page = app.service("productpage-v1")
    assert (page.mesh_service, page.version) == ("", "")  # alone: no Service groups it
    assert page.dependencies == ("reviews-v1",)  # calls the Service once (any version's name leads to its VIP)


def test_kubernetes_a_service_over_unversioned_workloads_groups_nothing():
    text = BOOKINFO_REVIEWS.replace("version: v2", "track: canary")
    app, _ = load(text, name="bookinfo")
    assert all(not s.mesh_service for s in app.services)


def test_compose_labels_declare_versions():
    text = """
services:
  reviews:
    image: redis
    labels: {strata.io/version: v1}
  reviews-v2:
    image: redis
    labels: {strata.io/mesh-service: reviews, strata.io/version: v2}
"""
    app, warnings = load(text, name="shop")
    assert [(s.name, s.group, s.version) for s in app.services] == [("reviews", "reviews", "v1"),
                                                                    ("reviews-v2", "reviews", "v2")]
    assert not warnings
    assert "version" in error_of(text.replace("v2}", "'v 2'}"), name="shop")
