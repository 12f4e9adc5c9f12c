"""The image catalogue: dataset images with their crawled layers, any other a dataset base plus one app layer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from api.app import AppError, AppSpec, ServiceSpec
from images.catalogue import (APP_IMAGES, ASSUMED_SOURCE, DATASET_SOURCE, Catalogue, app_images,
                              app_layer_digest, base_layer_digest, default_catalogue, load_catalogue, resolve_image)
from client.manifests import load_manifest
from images.dataset import load_dataset

APPS = Path(__file__).resolve().parents[2] / "examples" / "apps"
SOCIAL = APPS / "deathstarbench-socialNetwork-docker-compose.yml"
BOUTIQUE = APPS / "online-boutique-kubernetes-manifests.yaml"
BOUTIQUE_IMAGE = "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/{}:v0.10.6"
TEASTORE = APPS / "teastore-kubernetes-clusterip.yaml"
TEASTORE_BASE = "descartesresearch/teastore-base"
TEASTORE_JAVA = ("registry", "persistence", "auth", "image", "recommender", "webui")
BOUTIQUE_SERVICES = ("frontend", "cartservice", "productcatalogservice", "currencyservice", "paymentservice",
                     "shippingservice", "emailservice", "checkoutservice", "recommendationservice", "adservice",
                     "loadgenerator")


@pytest.fixture(scope="module")
def dataset():
    images, _ = load_dataset()
    return {image.name: image for image in images}


@pytest.fixture(scope="module")
def table():
    return json.loads(APP_IMAGES.read_text())


def _layers(image) -> tuple:
    return tuple((layer.digest, layer.size_mib) for layer in image.layers)


@pytest.mark.parametrize("reference", ["redis", "library/redis", "docker.io/library/redis:alpine",
                                       "index.docker.io/library/redis:7", "redis:6.2@sha256:" + "1" * 64])
def test_every_form_and_tag_of_an_official_image_is_the_crawled_version(reference, dataset):
    image = resolve_image(reference)
    assert (image.reference, image.repository, image.source, image.base) == (reference, "redis", DATASET_SOURCE,
                                                                            "redis")
    assert image.layers == _layers(dataset["redis"]) and image.app_layer_mib == 0.0
    assert image.size_mib == pytest.approx(sum(layer.size_mib for layer in dataset["redis"].layers))


def test_mongo_with_a_tag(dataset):
    assert resolve_image("mongo:4.4.6").layers == _layers(dataset["mongo"])


def test_dataset_images_without_layers_do_not_count():
    _, without_layers = load_dataset()
    assert "java" in without_layers
    image = resolve_image("java:8")
    assert image.source == ASSUMED_SOURCE and image.base == "debian"


def test_a_non_official_image_named_like_a_dataset_image_is_assumed():
    image = resolve_image("bitnami/redis:7.2")
    assert image.source == ASSUMED_SOURCE and image.repository == "bitnami/redis"
    image = resolve_image("quay.io/library/redis")  # not Docker Hub
    assert image.source == ASSUMED_SOURCE


@pytest.mark.parametrize("service", BOUTIQUE_SERVICES)
def test_online_boutique_images_come_from_the_table(service, dataset, table):
    image = resolve_image(BOUTIQUE_IMAGE.format(service))
    entry = table["images"][f"microservices-demo/{service}"]
    assert image.source == ASSUMED_SOURCE and image.base == entry["base"]
    assert image.layers[:-1] == _layers(dataset[entry["base"]])
    digest, size = image.layers[-1]
    assert size == image.app_layer_mib == entry["app_layer_mib"]
    assert digest == "sha256:" + hashlib.sha256(f"strata-app-layer:{image.repository}".encode()).hexdigest()
    assert image.repository == BOUTIQUE_IMAGE.format(service).rsplit(":", 1)[0]


@pytest.mark.parametrize("service, base", [("frontend", "alpine"), ("checkoutservice", "alpine"),
                                           ("currencyservice", "alpine"), ("emailservice", "python"),
                                           ("loadgenerator", "python"), ("adservice", "openjdk"),
                                           ("cartservice", "ubuntu")])
def test_table_bases_follow_the_real_dockerfiles(service, base):
    assert resolve_image(BOUTIQUE_IMAGE.format(service)).base == base


@pytest.mark.parametrize("reference, base", [
    ("deathstarbench/social-network-microservices:latest", "ubuntu"),
    ("yg397/openresty-thrift:xenial", "ubuntu"),
    ("yg397/media-frontend:xenial", "ubuntu"),
    ("jaegertracing/all-in-one:latest", "alpine"),
    ("docker.io/jaegertracing/all-in-one:1.57", "alpine"),
])
def test_social_network_images_come_from_the_table(reference, base):
    image = resolve_image(reference)
    assert image.source == ASSUMED_SOURCE and image.base == base and image.app_layer_mib > 1


def test_table_matches_other_registries_by_the_last_two_components():
    here = resolve_image("gcr.io/google-samples/microservices-demo/frontend:v0.8.0")
    there = resolve_image(BOUTIQUE_IMAGE.format("frontend"))
    assert here.base == there.base and here.app_layer_mib == there.app_layer_mib
    # Another repository: its own application layer.
    assert here.layers[-1][0] != there.layers[-1][0]


def test_any_other_image_gets_the_default(dataset, table):
    image = resolve_image("ghcr.io/acme/shop/web:1.2")
    assert image.base == table["default_base"] and image.app_layer_mib == table["default_app_layer_mib"]
    assert image.layers[:-1] == _layers(dataset[table["default_base"]])


def test_a_declared_base_is_used_and_must_be_a_dataset_image(dataset):
    image = resolve_image("acme/api:2", base_image="python:3.12-slim")
    assert image.base == "python" and image.layers[:-1] == _layers(dataset["python"])
    assert resolve_image("docker.io/acme/api", base_image="docker.io/library/node").base == "node"
    # It overrides the table's base; the table's size stays.
    frontend = resolve_image(BOUTIQUE_IMAGE.format("frontend"), base_image="debian")
    assert frontend.base == "debian" and frontend.app_layer_mib == resolve_image(
        BOUTIQUE_IMAGE.format("frontend")).app_layer_mib
    # A dataset image keeps its crawled layers.
    assert resolve_image("redis", base_image="debian").layers == _layers(dataset["redis"])
    for base in ("scratch", "bitnami/python", "gcr.io/distroless/static", "java", "Not Valid"):
        with pytest.raises(AppError, match=f'unknown base image "{base}" for image "acme/api"'):
            resolve_image("acme/api", base_image=base)


def test_the_same_image_always_gives_the_same_layers():
    one, two = resolve_image("acme/web:1"), resolve_image("acme/web:2")
    assert one.layers == two.layers  # every tag maps to the repository's one version
    assert resolve_image("docker.io/acme/web").layers == one.layers
    assert resolve_image("acme/api:1").layers[-1][0] != one.layers[-1][0]
    assert one.layers[-1][0] == app_layer_digest("acme/web")
    assert one.layers[:-1] == resolve_image("acme/api:1").layers[:-1]  # the shared base


@pytest.mark.parametrize("reference, fragment", [
    ("", "empty"),
    ("ngi nx", "spaces"),
    ("Nginx", "uppercase"),
    ("acme/Web:1", "uppercase"),
    ("nginx:", "bad tag"),
    ("nginx:.x", "bad tag"),
    ("nginx:" + "x" * 129, "bad tag"),
    ("nginx@sha256:abc", "after '@'"),
    ("gcr.io/", "no repository"),
    ("acme//web", "components"),
    ("a" * 300, "longer"),
])
def test_invalid_references(reference, fragment):
    with pytest.raises(AppError) as e:
        resolve_image(reference)
    assert str(e.value).startswith(f'invalid image reference "{reference}"') and fragment in str(e.value)


def test_bundled_apps_resolve_every_image_without_the_default(table):
    default = table["default_base"], table["default_app_layer_mib"]
    for path, distinct in ((SOCIAL, 7), (BOUTIQUE, 12), (TEASTORE, 7)):
        app = load_manifest(path, warn=lambda message: None)
        images = app_images(app)
        assert len(images) == distinct
        for image in images.values():
            assert image.source == DATASET_SOURCE or (image.base, image.app_layer_mib) != default


def test_services_of_one_image_share_all_layers():
    app = AppSpec("a", (ServiceSpec("one", "acme/web:1"), ServiceSpec("two", "acme/web:1"),
                        ServiceSpec("cache", "redis")))
    images = app_images(app)
    assert list(images) == ["acme/web:1", "redis"]
    assert images["acme/web:1"] == resolve_image("acme/web:1")


def test_app_images_names_the_service_of_a_bad_base():
    app = AppSpec("a", (ServiceSpec("web", "acme/web", base_image="scratch"),))
    with pytest.raises(AppError, match='service "web": image: unknown base image "scratch"'):
        app_images(app)
    clash = AppSpec("a", (ServiceSpec("a", "acme/web", base_image="python"),
                          ServiceSpec("b", "acme/web", base_image="node")))
    with pytest.raises(AppError, match='service "b": base_image: "node" differs'):
        app_images(clash)


def test_the_table_is_honest_and_complete(table, dataset):
    assert "estimate" in table["assumption"].lower() and "one version per repository" in table["assumption"]
    for key, entry in table["images"].items():
        base = table["shared_bases"][entry["base"]]["base"] if entry["base"] in table["shared_bases"] else entry["base"]
        assert base in dataset and dataset[base].layers, key
        assert entry["app_layer_mib"] > 0 and "estimate" in entry["basis"].lower(), key
    for name, shared in table["shared_bases"].items():
        assert shared["base"] in dataset and shared["dockerfile_base"], name
        for layer in shared["layers"]:
            assert layer["size_mib"] > 0 and layer["instruction"] and "estimate" in layer["basis"].lower(), name
    assert {f"descartesresearch/teastore-{s}" for s in (*TEASTORE_JAVA, "db")} <= set(table["images"])
    assert {f"microservices-demo/{s}" for s in BOUTIQUE_SERVICES} <= set(table["images"])
    assert {"deathstarbench/social-network-microservices", "yg397/openresty-thrift", "yg397/media-frontend",
            "jaegertracing/all-in-one"} <= set(table["images"])


@pytest.mark.parametrize("edit, fragment", [
    (lambda t: t.update(default_base="scratch"), "default_base"),
    (lambda t: t.update(default_app_layer_mib=0), "default_app_layer_mib"),
    (lambda t: t["images"]["yg397/media-frontend"].update(base="centos7"), "images.yg397/media-frontend.base"),
    (lambda t: t["images"]["yg397/media-frontend"].update(app_layer_mib=float("nan")), "app_layer_mib"),
    (lambda t: t["images"]["yg397/media-frontend"].pop("basis"), "basis"),
    (lambda t: t["shared_bases"][TEASTORE_BASE].update(base="tomcat9"), "shared_bases.descartesresearch/teastore-base.base"),
    (lambda t: t["shared_bases"][TEASTORE_BASE].update(layers=[]), "layers"),
    (lambda t: t["shared_bases"][TEASTORE_BASE]["layers"][3].update(size_mib=-1), r"layers[3].size_mib"),
    (lambda t: t["shared_bases"][TEASTORE_BASE]["layers"][0].pop("basis"), r"layers[0]"),
])
def test_a_broken_table_is_refused(edit, fragment, table):
    images, _ = load_dataset()
    broken = json.loads(json.dumps(table))
    edit(broken)
    with pytest.raises(ValueError, match=fragment.replace(".", r"\.").replace("[", r"\[")):
        Catalogue(images, broken)


def test_catalogue_from_files(tmp_path, table):
    path = tmp_path / "table.json"
    table = {**table, "default_base": "alpine", "default_app_layer_mib": 5}
    path.write_text(json.dumps(table))
    catalogue = load_catalogue(table=path)
    assert catalogue.resolve("acme/x").base == "alpine" and catalogue.resolve("acme/x").app_layer_mib == 5
    assert default_catalogue() is default_catalogue()


def test_every_teastore_service_image_is_tomcat_plus_the_shared_base_plus_its_war(dataset, table):
    app = load_manifest(TEASTORE, warn=lambda message: None)
    images = {ref.rsplit("-", 1)[-1]: image for ref, image in app_images(app).items()}
    shared = table["shared_bases"][TEASTORE_BASE]
    base_layers = tuple((base_layer_digest(TEASTORE_BASE, k), layer["size_mib"])
                        for k, layer in enumerate(shared["layers"]))
    for name in TEASTORE_JAVA:
        image = images[name]
        assert (image.source, image.base, image.shared_base) == (ASSUMED_SOURCE, "tomcat", TEASTORE_BASE)
        assert image.layers == _layers(dataset["tomcat"]) + base_layers + (
            (app_layer_digest(f"descartesresearch/teastore-{name}"), image.app_layer_mib),)
        assert [layer.instruction for layer in image.shared_layers] == [l["instruction"] for l in shared["layers"]]
    # Two services differ only in their application layer.
    auth, webui = images["auth"].layers, images["webui"].layers
    assert auth[:-1] == webui[:-1] and auth[-1] != webui[-1]
    # The database is MariaDB's image plus its own small layer, not on the shared base.
    assert (images["db"].base, images["db"].shared_base, len(images["db"].layers)) == (
        "mariadb", "", len(dataset["mariadb"].layers) + 1)


def test_shared_base_digests_are_deterministic_and_distinct():
    digests = [base_layer_digest(TEASTORE_BASE, k) for k in range(16)]
    assert digests == [base_layer_digest(TEASTORE_BASE, k) for k in range(16)] and len(set(digests)) == 16
    assert digests[0] == "sha256:" + hashlib.sha256(f"strata-base-layer:{TEASTORE_BASE}:0".encode()).hexdigest()
    assert base_layer_digest("acme/base", 0) not in digests


def test_a_declared_base_replaces_the_shared_base():
    image = resolve_image("descartesresearch/teastore-auth", base_image="openjdk")
    assert (image.base, image.shared_base, image.shared_layers) == ("openjdk", "", ())
    assert len(image.layers) == len(resolve_image("openjdk").layers) + 1


def test_the_existing_apps_images_have_no_shared_base():
    for path in (SOCIAL, BOUTIQUE):
        for image in app_images(load_manifest(path, warn=lambda message: None)).values():
            assert image.shared_base == "" and image.shared_layers == ()
