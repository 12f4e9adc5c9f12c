"""kube-scheduler extender benchmark: time to answer filter and prioritize over HTTP, by cluster size, against decoding the request alone.

Requests are ExtenderArgs with whole nodes (nodeCacheCapable false, the sample configuration):
N nodes of the recorded document tests/unit/data/extender/args-nodes.json, each reporting
--images Docker Hub images drawn from the catalogue's dataset, and a pod of two images. The
extender resolves layers with the catalogue (offline), cached as `strata extender serve` caches
them; the first request of each size fills the cache and is reported apart (cold). Each verb is
POSTed --repeat times to a server on loopback, the table shows the median. The baseline, in the
same run, is what any extender in Python pays: json.loads of the request and json.dumps of a
HostPriorityList. Ratios are verb / baseline.

    .venv/bin/python bench/extender.py [--nodes 100,1000] [--images 40] [--repeat 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "proto"))

from controller.placement.extender_server import Extender, create_server  # noqa: E402
from controller.placement.layer_resolvers import CachedResolver, CatalogueLayerResolver  # noqa: E402
from images.catalogue import default_catalogue  # noqa: E402

RECORDED = ROOT / "tests" / "unit" / "data" / "extender" / "args-nodes.json"


def request(nodes: int, images: int, seed: int) -> bytes:
    rng = random.Random(seed)
    names = sorted(default_catalogue().dataset)
    recorded = json.loads(RECORDED.read_text())
    template = recorded["Nodes"]["items"][0]
    items = []
    for k in range(nodes):
        node = json.loads(json.dumps(template))
        node["metadata"]["name"] = node["metadata"]["labels"]["kubernetes.io/hostname"] = f"node-{k}"
        node["status"]["images"] = [{"names": [f"docker.io/library/{name}:latest"], "sizeBytes": 100_000_000}
                                    for name in rng.sample(names, images)]
        items.append(node)
    pod = recorded["Pod"]
    pod["spec"].pop("initContainers")
    pod["spec"]["containers"] = [{"name": "app", "image": "python:3"}, {"name": "proxy", "image": "nginx"}]
    return json.dumps({"Pod": pod, "Nodes": {"metadata": {}, "items": items}}).encode()


def post(port: int, path: str, body: bytes) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}")
    return elapsed


def baseline(body: bytes) -> float:
    started = time.perf_counter()
    document = json.loads(body)
    json.dumps([{"Host": node["metadata"]["name"], "Score": 0} for node in document["Nodes"]["items"]]).encode()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="100,1000", help="cluster sizes, comma-separated (default: 100,1000)")
    parser.add_argument("--images", type=int, default=40, help="images each node reports (default: 40)")
    parser.add_argument("--repeat", type=int, default=5, help="requests per verb and size (default: 5)")
    args = parser.parse_args()
    print(f"{'nodes':>6} {'request':>9} {'cold':>9} {'prioritize':>11} {'filter':>9} {'decode':>9} "
          f"{'prio/dec':>9} {'filt/dec':>9}")
    for nodes in (int(n) for n in args.nodes.split(",")):
        body = request(nodes, args.images, seed=nodes)
        extender = Extender(CachedResolver(CatalogueLayerResolver(default_catalogue())), log=lambda line: None)
        server, port = create_server(("127.0.0.1", 0), extender, max_body=len(body))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            cold = post(port, "/prioritize", body)
            prioritize = statistics.median(post(port, "/prioritize", body) for _ in range(args.repeat))
            filtering = statistics.median(post(port, "/filter", body) for _ in range(args.repeat))
        finally:
            server.shutdown()
            server.server_close()
        decode = statistics.median(baseline(body) for _ in range(args.repeat))
        print(f"{nodes:>6} {len(body) / 1e6:>7.1f}MB {cold * 1000:>7.0f}ms {prioritize * 1000:>9.0f}ms "
              f"{filtering * 1000:>7.0f}ms {decode * 1000:>7.0f}ms {prioritize / decode:>9.1f} {filtering / decode:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
