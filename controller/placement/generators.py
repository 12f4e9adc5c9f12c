"""Problem generators: the paper's synthetic setting, and edge clusters running real Docker Hub images.

Paper setting (section 4.3): servers with P in [10000, 12000], S in [2000, 3000], B in [2000, 3000];
layer sizes in [200, 300]; container CPU in [1000, 2500] and bandwidth in [600, 1000]. The paper
does not say how many layers a container has or how they are shared, so `paper_problem` builds
images the way real ones are built: 3 base-OS layers, 6 runtime layers each on one base, and 12
application images, each a base, its runtime and 1-2 layers of its own. Each container runs one
of the 12 images, drawn uniformly, so replicas of an image share all layers and images on the
same runtime or base share those.

Docker Hub setting: the containers run images of the real crawl (images/data), drawn
with probability proportional to their pull count. Real images are small next to the paper's
servers (pull-weighted mean 143 MiB), so layer sizes are multiplied by `size_scale` (default 3.5,
bringing the mean image to about a fifth of a server's storage) for storage to bind; images
then larger than the smallest server's storage are left out.

Replicas and rules (beyond the paper, `replicas` > 1): each drawn image is a service of that many
replicas, and the services take turns among three kinds of rule (RULE_KINDS): at most one
replica per server (required anti-affinity), a hard spread over servers and, with `zones`, over
zones (max_skew 1 each), and the soft kind (prefer apart, and a soft zone spread with `zones`).
`zones` > 0 puts server k in zone k mod zones.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from functools import lru_cache

from images.dataset import DATASET

from .model import Container, Layer, Problem, Server, ServiceRule, Spread

DATA = DATASET

PAPER_SERVER = {"cpu": (10000, 12000), "storage": (2000, 3000), "bandwidth": (2000, 3000)}
PAPER_LAYER_SIZE = (200, 300)
PAPER_CONTAINER = {"cpu": (1000, 2500), "bandwidth": (600, 1000)}


def paper_servers(rng: random.Random, count: int, multiplier: float = 1.0) -> list[Server]:
    """Servers with the paper's capacity ranges, each capacity times `multiplier`."""
    return [
        Server(f"edge{k + 1}",
               rng.randint(*PAPER_SERVER["cpu"]) * multiplier,
               rng.randint(*PAPER_SERVER["storage"]) * multiplier,
               rng.randint(*PAPER_SERVER["bandwidth"]) * multiplier)
        for k in range(count)
    ]


def _demands(rng: random.Random) -> tuple[int, int]:
    return rng.randint(*PAPER_CONTAINER["cpu"]), rng.randint(*PAPER_CONTAINER["bandwidth"])


def paper_problem(n_containers: int, *, seed: int, n_servers: int = 10) -> Problem:
    """The paper's synthetic instance, with the layer structure described in the module docstring."""
    rng = random.Random(seed)
    servers = paper_servers(rng, n_servers)
    layers: list[Layer] = []

    def new_layer(kind: str) -> str:
        digest = f"{kind}-{len(layers) + 1}"
        layers.append(Layer(digest, rng.randint(*PAPER_LAYER_SIZE)))
        return digest

    bases = [new_layer("base") for _ in range(3)]
    runtimes = [(rng.choice(bases), new_layer("runtime")) for _ in range(6)]
    images = []
    for _ in range(12):
        base, runtime = rng.choice(runtimes)
        images.append((base, runtime, *(new_layer("app") for _ in range(rng.randint(1, 2)))))
    containers = []
    for k in range(n_containers):
        image = rng.randrange(len(images))
        cpu, bandwidth = _demands(rng)
        containers.append(Container(f"c{k + 1}", cpu, bandwidth, images[image], f"image{image + 1}"))
    return Problem(tuple(servers), tuple(layers), tuple(containers),
                   {"generator": "paper", "seed": seed})


@lru_cache(maxsize=1)
def dockerhub_images() -> tuple[dict, ...]:
    """The crawled images that have layers: name, pull count, [(digest, size MiB)]."""
    images = []
    for item in json.loads(DATA.read_text()):
        layers = [(l["digest"], float(l["size"])) for l in item.get("layers") or [] if l["size"] > 0]
        if layers:
            images.append({"name": item["name"], "pulls": item.get("pull_count") or 1, "layers": layers})
    return tuple(images)


RULE_KINDS = ("anti-affinity", "hard-spread", "soft")


def service_rule(name: str, kind: str, zones: int) -> ServiceRule:
    """The rule of the given kind (RULE_KINDS) for a service."""
    if kind == "anti-affinity":
        return ServiceRule(name, max_per_server=1)
    if kind == "hard-spread":
        return ServiceRule(name, spread=(Spread("server", 1), *((Spread("zone", 1),) if zones else ())))
    return ServiceRule(name, spread=(Spread("zone", 1, hard=False),) if zones else (), prefer_apart=True)


def dockerhub_problem(n_servers: int, n_containers: int, *, seed: int, size_scale: float = 3.5,
                      multiplier: float | None = None, replicas: int = 1, zones: int = 0) -> Problem:
    """An edge cluster of paper-like servers running containers of real Docker Hub images.

    `multiplier` scales every server capacity; by default it grows with containers per server
    beyond the paper's ten-on-ten, so that large instances stay feasible with capacities binding.
    `replicas` and `zones`: services of several replicas with rules (module docstring).
    """
    rng = random.Random(seed)
    if multiplier is None:
        multiplier = max(1.0, n_containers / n_servers / 2.2)
    servers = paper_servers(rng, n_servers, multiplier)
    if zones:
        servers = [replace(s, zone=f"zone{k % zones + 1}") for k, s in enumerate(servers)]
    smallest = min(s.storage for s in servers)
    catalogue = [im for im in dockerhub_images()
                 if sum(size for _, size in im["layers"]) * size_scale <= smallest]
    weights = [im["pulls"] for im in catalogue]
    if replicas > 1:
        services = rng.choices(catalogue, weights=weights, k=-(-n_containers // replicas))
        chosen = [image for image in services for _ in range(replicas)][:n_containers]
    else:
        chosen = rng.choices(catalogue, weights=weights, k=n_containers)
    sizes: dict[str, float] = {}
    containers = []
    for k, image in enumerate(chosen):
        for digest, size in image["layers"]:
            sizes[digest] = round(size * size_scale, 3)
        cpu, bandwidth = _demands(rng)
        service = f"svc{k // replicas + 1}" if replicas > 1 else ""
        containers.append(Container(f"{image['name']}-{k + 1}", cpu, bandwidth,
                                    tuple(d for d, _ in image["layers"]), image["name"], service))
    rules = ()
    if replicas > 1:
        names = sorted({c.service for c in containers}, key=lambda s: int(s[3:]))
        rules = tuple(service_rule(name, RULE_KINDS[k % len(RULE_KINDS)], zones)
                      for k, name in enumerate(names) if sum(c.service == name for c in containers) > 1)
    layers = tuple(Layer(d, s) for d, s in sizes.items())
    return Problem(tuple(servers), layers, tuple(containers),
                   {"generator": "dockerhub", "seed": seed, "size_scale": size_scale,
                    "multiplier": multiplier, **({"replicas": replicas, "zones": zones} if replicas > 1 else {})},
                   rules)
