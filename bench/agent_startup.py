"""Node start-up benchmark: time until N containers on one edge server are ready, serial agent against parallel.

On a real stack (edge-tiered in Mininet: registry, SDN, orchestrator, agents), N containers are
asked of one node's agent at once (RunContainer from 8 callers, as the orchestrator's node-sync
pool sends them), each serving HTTP on port 80 and ready once it listens there; the clock runs
from the first request until the node reports all N ready. The images are the dataset's
smallest with layers of their own, cycled over the containers, so that layer pulls from the
registry (cold: the node's store is pruned before each run) and shared layers both count.

Each N runs twice in the same stack, one after the other:
- serial: max_parallel_starts 1 and max_concurrent_downloads 1, what the agent did before
  (one start at a time, the layers of a pull one after the other);
- parallel: the defaults (4 starts at once, 3 layer downloads per pull, as containerd).
The agent is restarted with each configuration; the two alternate, --repeat times each, and the
table shows each one's median. Ratios are serial / parallel, in this run.

    .venv/bin/python bench/agent_startup.py [--node edge1] [--counts 1,8,32] [--images 8] [--repeat 3] (root)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proto"))

OPENFLOW_PORT = 6698
PORT_BASE = 20680
CALLERS = 8           # concurrent RunContainer calls, as the orchestrator's node-sync pool
CPU_MILLICORES = 10   # each container's request
READY_PORT = 80       # the dataset images serve HTTP there
TIMEOUT = 600.0       # s for one run's containers to be ready


def pick_images(count: int) -> list[str]:
    """The smallest images of the dataset's image cache (not the apps' images, built on demand)."""
    from images.build import list_images

    small = sorted((im for im in list_images() if im.size_bytes > 200_000 and "/" not in im.name),
                   key=lambda im: im.size_bytes)
    return [im.name for im in small[:count]]


def configure(stack, node: str, downloads: int, starts: int) -> None:
    """Rewrites the node agent's bounds and restarts it with them."""
    path = stack.workdir / "agents" / f"{node}.json"
    config = json.loads(path.read_text())
    config.update(max_concurrent_downloads=downloads, max_parallel_starts=starts)
    path.write_text(json.dumps(config, indent=1))
    stack.restart_agent(node, kill=False)


def clear(agent) -> None:
    """No containers, no layers: the next run pulls everything."""
    from strata.v1 import agent_pb2

    for container in agent.ListContainers(agent_pb2.ListContainersRequest(), timeout=30).containers:
        agent.RemoveContainer(agent_pb2.RemoveContainerRequest(name=container.name), timeout=60)
    agent.PruneLayers(agent_pb2.PruneLayersRequest(), timeout=60)


def start_all(agent, images: list[str], count: int) -> dict:
    """Asks for `count` containers at once; returns seconds until all are ready, and bytes pulled."""
    from strata.v1 import agent_pb2

    names = [f"c{k}" for k in range(count)]
    started = time.monotonic()

    def run(k: int):
        return agent.RunContainer(agent_pb2.RunContainerRequest(
            name=names[k], image=images[k % len(images)], cpu_millicores=CPU_MILLICORES, ready_port=READY_PORT),
            timeout=TIMEOUT)

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        calls = [pool.submit(run, k) for k in range(count)]
        deadline = started + TIMEOUT
        while True:
            listed = agent.ListContainers(agent_pb2.ListContainersRequest(), timeout=30).containers
            if sum(c.ready for c in listed) == count:
                ready = time.monotonic() - started
                break
            failed = [f for f in calls if f.done() and f.exception() is not None]
            if failed:
                raise RuntimeError(f"a start failed: {failed[0].exception()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{sum(c.ready for c in listed)} of {count} ready after {TIMEOUT:g} s")
            time.sleep(0.05)
        responses = [f.result() for f in calls]
    return {"ready_seconds": ready, "pulled_bytes": sum(r.pull.pulled_bytes for r in responses)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", default="edge1")
    parser.add_argument("--counts", default="1,8,32", help="numbers of containers, comma-separated")
    parser.add_argument("--images", type=int, default=8, help="distinct images cycled over the containers")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration (the median is shown)")
    args = parser.parse_args()
    counts = [int(n) for n in args.counts.split(",")]

    from strata.v1 import agent_pb2_grpc

    from dataplane.agent.node import DEFAULT_MAX_CONCURRENT_DOWNLOADS, DEFAULT_MAX_PARALLEL_STARTS
    from harness.stack import Stack, port_addresses
    from images.build import build_images
    from topologies.catalog import load_topology

    build_images(progress=lambda *_: None)
    images = pick_images(args.images)
    spec = load_topology("edge-tiered")
    spec.hosts = [dataclasses.replace(h, cpu_millicores=max(h.cpu_millicores, CPU_MILLICORES * max(counts)))
                  if h.name == args.node else h for h in spec.hosts]  # room for every container asked
    modes = {"serial": (1, 1), "parallel": (DEFAULT_MAX_CONCURRENT_DOWNLOADS, DEFAULT_MAX_PARALLEL_STARTS)}
    results: dict[tuple[str, int], list[dict]] = {}
    print(f"{len(images)} images cycled over the containers: {', '.join(images)}", flush=True)
    with Stack(spec, openflow_port=OPENFLOW_PORT, addresses=port_addresses(PORT_BASE), images=images,
               log=lambda *_: None) as stack:
        for count in counts:
            for _ in range(args.repeat):
                for mode, (downloads, starts) in modes.items():
                    configure(stack, args.node, downloads, starts)
                    with stack.agent_channel(args.node) as channel:
                        agent = agent_pb2_grpc.NodeAgentStub(channel)
                        clear(agent)
                        r = start_all(agent, images, count)
                        clear(agent)
                    results.setdefault((mode, count), []).append(r)
                    print(f"  N={count:<3} {mode:<8} (downloads {downloads}, starts {starts}): all ready in "
                          f"{r['ready_seconds']:6.2f} s, {r['pulled_bytes'] / 1e6:5.2f} MB pulled", flush=True)
    print()
    print(f"{'N':>3}  {'serial s':>9}  {'parallel s':>10}  {'serial/parallel':>15}  {'MB pulled':>9}")
    for count in counts:
        serial, parallel = (statistics.median(r["ready_seconds"] for r in results[mode, count])
                            for mode in modes)
        pulled = results["parallel", count][0]["pulled_bytes"]
        print(f"{count:>3}  {serial:9.2f}  {parallel:10.2f}  {serial / parallel:14.2f}x  {pulled / 1e6:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
