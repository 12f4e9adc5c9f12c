"""Memory in the app model and the manifests: quantity parsing, Compose and Kubernetes fields, validation, messages."""

from __future__ import annotations

import pytest

from api.app import AppError, AppSpec, ServiceSpec, app_from_dict, app_to_dict, validate_app
from api.app_messages import service_message, service_spec
from client.manifests import compose_bytes, kubernetes_quantity_bytes, load_manifest_text

MIB = 1 << 20

# Worked by hand from k8s.io/apimachinery/pkg/api/resource: binary suffixes are powers of 1024,
# decimal ones of 1000, "m" is a thousandth, eN an exponent; Value() rounds up to a whole byte.
KUBERNETES = [
    ("128Mi", 128 * MIB), ("1Gi", 1 << 30), ("1Ki", 1024), ("1Ei", 1 << 60),
    ("1G", 10 ** 9), ("1M", 10 ** 6), ("1k", 1000), ("1E", 10 ** 18),
    ("0.5Gi", 1 << 29), (".5Mi", MIB // 2), ("1.G", 10 ** 9), ("+1Mi", MIB),
    ("1e3", 1000), ("1E3", 1000), ("2e+6", 2 * 10 ** 6), ("1e-3", 1),
    ("100m", 1), ("1500m", 2), ("0", 0), ("268435456", 268435456),
    (268435456, 268435456), (1.5, 2), ("-1Mi", -MIB),
]
NOT_KUBERNETES = ["1K", "1mi", "1MB", "1e", "", "Mi", "1 Mi", " 1Mi", "1Gi ", "0x10", "one", True, None, [1]]

# Worked by hand from go-units' RAMInBytes: every unit a power of 1024, case-insensitive, an
# optional "b" or "ib" after it, one space allowed before it; fractions truncated.
COMPOSE = [
    ("512m", 512 * MIB), ("512M", 512 * MIB), ("1gb", 1 << 30), ("2GiB", 2 << 30), ("1.5g", 3 << 29),
    ("100 M", 100 * MIB), ("1k", 1024), ("1 kb", 1024), ("1kib", 1024), ("1t", 1 << 40), ("1p", 1 << 50),
    ("1b", 1), ("1B", 1), ("1 ", 1), ("1048576", MIB), (1048576, MIB), ("1e3", 1000), ("0.5k", 512), ("1.9", 1),
]
NOT_COMPOSE = ["1mi", "1i", "-1m", "1.2.3m", "m", " 1k", "1e400", "1kibb", -5, 1.5, True, None]


@pytest.mark.parametrize("text, expected", KUBERNETES)
def test_kubernetes_quantities(text, expected):
    assert kubernetes_quantity_bytes(text) == expected


@pytest.mark.parametrize("text", NOT_KUBERNETES)
def test_not_kubernetes_quantities(text):
    assert kubernetes_quantity_bytes(text) is None


@pytest.mark.parametrize("text, expected", COMPOSE)
def test_compose_byte_values(text, expected):
    assert compose_bytes(text) == expected


@pytest.mark.parametrize("text", NOT_COMPOSE)
def test_not_compose_byte_values(text):
    assert compose_bytes(text) is None


def load(text: str):
    warnings: list[str] = []
    return load_manifest_text(text, "app.yml", warn=warnings.append), warnings


def compose(resources: str = "", extra: str = "") -> str:
    return ("services:\n  web:\n    image: nginx\n"
            + (f"    deploy:\n      resources:\n{resources}" if resources else "") + extra)


def deployment(resources: str) -> str:
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n"
            "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: c\n"
            f"        image: nginx\n        resources: {resources}\n")


@pytest.mark.parametrize("text, request_mib, limit_mib", [
    (compose(), 0.0, 0.0),
    (compose("        reservations: {memory: 256m}\n        limits: {memory: 1g}\n"), 256.0, 1024.0),
    (compose("        limits: {memory: 512M}\n"), 512.0, 512.0),  # a limit alone is the request too
    (compose("        reservations: {memory: 64m}\n"), 64.0, 0.0),
    (compose(extra="    mem_reservation: 100m\n    mem_limit: 200m\n"), 100.0, 200.0),
    (compose("        limits: {memory: 300m}\n", extra="    mem_limit: 900m\n"), 300.0, 300.0),  # deploy first
    (deployment("{}"), 0.0, 0.0),
    (deployment("{requests: {memory: 128Mi}, limits: {memory: 1Gi}}"), 128.0, 1024.0),
    (deployment("{limits: {memory: 256Mi}}"), 256.0, 256.0),  # Kubernetes' rule: request = limit
    (deployment("{requests: {memory: 1G}}"), 10 ** 9 / MIB, 0.0),
    (deployment("{requests: {memory: 1073741824}}"), 1024.0, 0.0),
])
def test_memory_from_both_formats(text, request_mib, limit_mib):
    app, warnings = load(text)
    web = app.service("web")
    assert (web.memory_mib, web.memory_limit_mib) == pytest.approx((request_mib, limit_mib))
    assert not any("memory" in w for w in warnings)


@pytest.mark.parametrize("text, field, words", [
    (compose("        limits: {memory: 1mi}\n"), "deploy.resources.limits.memory", ['"1mi"', "memory quantity"]),
    (compose("        reservations: {memory: -1m}\n"), "deploy.resources.reservations.memory", ["memory quantity"]),
    (compose(extra="    mem_limit: lots\n"), "mem_limit", ['"lots"']),
    (compose("        reservations: {memory: 2g}\n        limits: {memory: 1g}\n"),
     "deploy.resources.reservations.memory", ["above the limit", "deploy.resources.limits.memory"]),
    (compose("        limits: {memory: '${MEM}'}\n"), "deploy.resources.limits.memory", ["does not read the environment"]),
    (deployment("{requests: {memory: 1K}}"), "spec.template.spec.containers[0].resources.requests.memory",
     ['"1K"', '"128Mi"']),
    (deployment("{limits: {memory: -5Mi}}"), "spec.template.spec.containers[0].resources.limits.memory",
     ["must not be negative"]),
    (deployment("{limits: {memory: 1e100}}"), "spec.template.spec.containers[0].resources.limits.memory",
     ["too large"]),
    (deployment("{requests: {memory: 2Gi}, limits: {memory: 1Gi}}"),
     "spec.template.spec.containers[0].resources.requests.memory", ["above the limit"]),
])
def test_bad_memory_names_the_service_and_the_field(text, field, words):
    with pytest.raises(AppError) as error:
        load(text)
    message = str(error.value)
    assert message.startswith(f'service "web": {field}: '), message
    for word in words:
        assert word in message


def test_the_app_model_validates_memory():
    ok = ServiceSpec("web", "nginx", memory_mib=256, memory_limit_mib=512)
    assert validate_app(AppSpec("shop", (ok,))).services[0].memory_mib == 256
    for kwargs, field in [({"memory_mib": -1}, "memory_mib"), ({"memory_limit_mib": float("nan")}, "memory_limit_mib"),
                          ({"memory_mib": "1Gi"}, "memory_mib"), ({"memory_mib": 600, "memory_limit_mib": 512},
                                                                  "memory_mib")]:
        with pytest.raises(AppError, match=f'service "web": {field}: '):
            validate_app(AppSpec("shop", (ServiceSpec("web", "nginx", **kwargs),)))
    # a request without a limit is fine: the container may use more than it asked for
    validate_app(AppSpec("shop", (ServiceSpec("web", "nginx", memory_mib=600),)))


def test_memory_round_trips_through_the_dict_and_the_message():
    app = AppSpec("shop", (ServiceSpec("web", "nginx", memory_mib=128.5, memory_limit_mib=1024),))
    assert app_from_dict(app_to_dict(app)) == app
    message = service_message(app.services[0])
    assert (message.memory_mib, message.memory_limit_mib) == (128.5, 1024)
    assert service_spec(message) == app.services[0]
    # a client that does not know the fields sends 0: no request, no limit
    assert app_from_dict({"name": "m", "services": [{"name": "web", "image": "nginx"}]}).services[0].memory_mib == 0


# -- the pids limit (processes and threads per replica), beside memory


@pytest.mark.parametrize("text, pids", [
    (compose(), 0),  # none given: the node's default
    (compose("        limits: {pids: 100}\n"), 100),
    (compose(extra="    pids_limit: 200\n"), 200),
    (compose("        limits: {pids: 50}\n", extra="    pids_limit: 200\n"), 50),  # deploy first
    (compose(extra="    pids_limit: -1\n"), 0),  # Docker's unlimited: the node's default, never none
])
def test_the_pids_limit_from_compose(text, pids):
    app, warnings = load(text)
    assert app.service("web").pids_limit == pids
    assert not any("pids" in w for w in warnings)


def test_a_bad_pids_limit_names_the_field():
    with pytest.raises(AppError, match='service "web": pids_limit: '):
        load(compose(extra="    pids_limit: lots\n"))
    with pytest.raises(AppError, match='service "web": deploy.resources.limits.pids: '):
        load(compose("        limits: {pids: -5}\n"))
    for bad in (-1, 2**22 + 1, 1.5, True):
        with pytest.raises(AppError, match='service "web": pids_limit: '):
            validate_app(AppSpec("shop", (ServiceSpec("web", "nginx", pids_limit=bad),)))


def test_the_pids_limit_round_trips_and_reaches_the_message():
    app = AppSpec("shop", (ServiceSpec("web", "nginx", pids_limit=64),))
    assert app_from_dict(app_to_dict(app)) == app
    assert service_message(app.services[0]).pids_limit == 64
    assert service_spec(service_message(app.services[0])) == app.services[0]
