"""The data-plane probe controller: whether a silent node's pods still answer.

A node agent that dies (or loses its management channel) stops heartbeating, yet its containers
run on and answer on their pod addresses. While a node is silent, this controller opens a TCP
connection to each of its pods that was ready, on the port that made it ready (what the agent's
own readiness check watched for), every PROBE_INTERVAL s. A pod that answers stays in its
service's routes (routes.desired_routes), and a node with a pod that answers is not lost however
long its agent is silent (nodes.NodeLifecycleController): its instances are not started again
elsewhere while they still run. When the agent heartbeats again it reports them as before.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from ..cluster import INSTANCES, NODES, ClusterState
from ..ports import Prober

log = logging.getLogger("strata.orchestrator")

PROBE_INTERVAL = 1.0   # s between two probes of a silent node's pods
PROBE_TIMEOUT = 0.5    # s for a connection to be made
PROBES_AT_ONCE = 16


class DataPlaneProbe:
    name = "dataplane-probe"
    watches = (NODES,)

    def __init__(self, state: ClusterState, prober: Prober):
        self.state = state
        self.prober = prober
        self.pool = ThreadPoolExecutor(max_workers=PROBES_AT_ONCE, thread_name_prefix="probe")

    def targets(self) -> list[tuple[str, str, str, int]]:
        """(node, instance, ip, port) of every silent node's pod that was ready when last reported
        (lock held)."""
        state = self.state
        out = []
        for instance in state.instances.values():
            if not instance.node or instance.node not in state.nodes or state.ready(instance.node):
                continue
            seen = state.observed[instance.node].containers.get(instance.name)
            spec = state.apps[instance.app].spec.service(instance.service)
            if seen is not None and seen.ready and seen.ip and spec.target_port and not spec.vnf_kind:
                out.append((instance.node, instance.name, seen.ip, spec.target_port))
        return out

    def sync(self) -> float | None:
        state = self.state
        with state.lock:
            targets = self.targets()
            silent = any(not state.ready(name) for name in state.nodes)
        if not targets:
            return PROBE_INTERVAL if silent else None
        answers = list(self.pool.map(lambda t: self.prober.answers(t[2], t[3], PROBE_TIMEOUT), targets))
        now = state.clock()
        flipped = False
        with state.lock:
            for (node, instance, ip, port), answered in zip(targets, answers):
                before = state.answering(instance)
                if answered:
                    state.probed[instance] = now
                    state.node_answered[node] = now
                elif before:
                    state.probed.pop(instance, None)
                    log.info("pod %s/%s (%s:%d) no longer answers", node, instance, ip, port)
                flipped |= before != answered
            for name in list(state.probed):  # instances gone, or on nodes heard from again
                if name not in state.instances or state.ready(state.instances[name].node):
                    del state.probed[name]
        if flipped:
            state.changes.notify(INSTANCES, NODES)
        return PROBE_INTERVAL

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
