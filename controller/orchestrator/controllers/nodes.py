"""The node lifecycle controller: judges nodes by their heartbeats, on time.

A node whose heartbeats stopped for `node_timeout` s is not ready (its instances leave their
routes, unless they answer on the data plane: controllers/dataplane.py); once silent for
`evict_after` s, with none of its pods answering for as long, it is lost, and the scheduler moves
its instances to the ready nodes. A silent node whose pods answer has lost its agent, not itself:
nothing is moved, so nothing runs twice. A node is judged silent only from when we started: a restarted orchestrator waits for
heartbeats before evicting anything. Nodes cut off keep their containers (their agents restart
crashed ones on their own); when they come back they are ready again, and nothing was moved unless
they were lost. The controller wakes on heartbeats and at the next moment a node's state changes.
"""

from __future__ import annotations

import logging

from ..cluster import NODES, ClusterState

log = logging.getLogger("strata.orchestrator")

EPSILON = 0.01  # s past a deadline, so the node is judged after it, not on it


class NodeLifecycleController:
    name = "node-lifecycle"
    watches = (NODES,)

    def __init__(self, state: ClusterState):
        self.state = state
        self._ready: dict[str, bool] = {}

    def sync(self) -> float | None:
        state = self.state
        changed = False
        deadlines = []
        with state.lock:
            lost = set()
            for name in sorted(state.nodes):
                ready = state.ready(name)
                silent = state.silent_for(name)
                if ready:
                    deadlines.append(state.node_timeout - (state.clock() - state.observed[name].last_heartbeat))
                elif silent > state.evict_after and not state.pods_answer(name):
                    lost.add(name)
                elif silent > state.evict_after:  # its agent is gone, its pods are not: judged again soon
                    deadlines.append(1.0)
                else:
                    deadlines.append(state.evict_after - silent)
                if self._ready.get(name) != ready:
                    if name in self._ready:
                        log.info("node %s is %s", name, "ready" if ready else "not ready (no heartbeat)")
                    self._ready[name] = ready
                    changed = True
            for name in sorted(lost - state.lost):
                log.warning("node %s lost (silent for %.0f s): its instances move to the ready nodes", name,
                            state.silent_for(name))
            changed |= lost != state.lost
            state.lost = lost
        if changed:
            state.changes.notify(NODES)
        return max(min(deadlines), 0.0) + EPSILON if deadlines else None
