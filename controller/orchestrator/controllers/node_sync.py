"""The node sync controller: what runs on each node made equal to what is placed there.

On every ready node, a placed instance that does not run there is started through its agent, and a
container the orchestrator started that is no longer desired is removed.

Starts and removals run on a pool (a start pulls layers: minutes at worst); the pass only decides.
At most `starts_per_node` starts are in flight on one node (the agent's own bound on parallel
starts), so one node's queue of starts never holds the pool while other nodes stand idle.
An instance starts once its application's VIPs are allocated (its /etc/hosts names them). Its
missing layers come from the nearest holder when the app asks for peers; a layer another node is
pulling right now is waited for, then fetched from there, when that node will be a nearer source
than the registry (a peer at the same site: each layer crosses into a site once); otherwise it is
pulled at once (a site does not queue behind another site's access link). A
start that fails is reported on the instance and tried again with back-off (2, 4 ... 30 s).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from component_base.errors import AlreadyExists, DomainError, NotFound

from ..cluster import INSTANCES, NODES, VIPS, ClusterState, ContainerView
from ..ports import Agents, RunRequest
from ..sources import Hops, SwitchGraph, plan_sources, worth_waiting_for
from ..store import AppRecord, InstanceRecord, NodeRecord
from .switch_graph import SwitchGraphCache

log = logging.getLogger("strata.orchestrator")

OWNER_LABEL, OWNER = "strata.io/owner", "orchestrator"
APP_LABEL, SERVICE_LABEL = "strata.io/app", "strata.io/service"
PROGRAM = ["python3", "/opt/strata/program.py"]  # the service program every agent binds in
VNF_PROGRAM = ["python3", "/opt/strata/vnf.py"]  # the VNF programs, bound in the same way
HEARTBEAT_WAIT = 1.0  # s before an action whose outcome the next heartbeat tells is tried again
STARTS_PER_NODE = 4  # starts in flight per node: the agent's default max_parallel_starts
WORKERS = 64  # threads for starts and removals in all (created as needed)


def run_request(state: ClusterState, app: AppRecord, instance: InstanceRecord,
                graph: SwitchGraph | None, registry_host: str) -> RunRequest:
    """What the agent is asked to run (call with the lock held); `graph` None: every layer from the
    registry."""
    spec = app.spec.service(instance.service)
    image = app.images[instance.service]
    held = state.observed[instance.node].layers
    missing = [(d, s) for d, s in image.layers if d not in held]
    sources = {}
    if app.peers and missing and graph is not None:
        holders: dict[str, list[str]] = {}
        for name, observed in state.observed.items():
            if name != instance.node and state.ready(name) and state.nodes[name].blob_address:
                for digest, _ in missing:
                    if digest in observed.layers:
                        holders.setdefault(digest, []).append(name)
        if holders:
            plan = plan_sources(graph, instance.node, missing, holders, registry_host)
            sources = {d: state.nodes[s.host].blob_address for d, s in plan.items() if s.kind == "peer"}
    # a dependency on a version is a call to its service's VIP, by the service's name
    dependencies = ",".join(dict.fromkeys(f"{app.spec.service(d).group}:{app.spec.service(d).port}"
                                          for d in spec.dependencies))
    env = (f"STRATA_APP={app.spec.name}", f"STRATA_SERVICE={spec.name}", f"STRATA_MESH_SERVICE={spec.group}",
           f"STRATA_INSTANCE={instance.name}", f"STRATA_NODE={instance.node}", f"STRATA_PORT={spec.target_port}",
           f"STRATA_DEPENDENCIES={dependencies}")
    hosts = {**{s.name: app.vips[s.group] for s in app.spec.services if not s.vnf_kind}, **app.vips}
    labels = {OWNER_LABEL: OWNER, APP_LABEL: app.spec.name, SERVICE_LABEL: spec.name}
    if spec.vnf_kind:  # one-armed on its pod interface, on a raw socket
        env = (f"STRATA_VNF_KIND={spec.vnf_kind}", f"STRATA_VNF_CONFIG={spec.vnf_config or '{}'}",
               f"STRATA_VNF_NAME={instance.name}", "STRATA_VNF_INTERFACE=eth0")
        return RunRequest(instance.name, image.reference, spec.cpu_millicores, env, tuple(VNF_PROGRAM), labels,
                          hosts, sources, ("CAP_NET_RAW",),
                          memory_limit_mib=spec.memory_limit_mib, memory_request_mib=spec.memory_mib,
                          pids_limit=spec.pids_limit)
    return RunRequest(instance.name, image.reference, spec.cpu_millicores, env, tuple(PROGRAM), labels, hosts,
                      sources, ready_port=spec.target_port, memory_limit_mib=spec.memory_limit_mib,
                      memory_request_mib=spec.memory_mib, pids_limit=spec.pids_limit)


class NodeSyncController:
    name = "node-sync"
    watches = (VIPS, NODES, INSTANCES)

    def __init__(self, state: ClusterState, agents: Agents, graph: SwitchGraphCache, *, registry_host: str,
                 workers: int = WORKERS, starts_per_node: int = STARTS_PER_NODE):
        self.state = state
        self.starts_per_node = starts_per_node
        self.agents = agents
        self.graph = graph
        self.registry_host = registry_host
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="node-sync")
        self._inflight: set[str] = set()        # instance or container names being started/removed
        self._retry_at: dict[str, float] = {}   # instance -> when a failed start is tried again
        self._failures: dict[str, int] = {}

    def _missing_layers(self, instance: InstanceRecord) -> set[str]:
        held = self.state.observed[instance.node].layers
        return {d for d, _ in self.state.apps[instance.app].images[instance.service].layers if d not in held}

    def sync(self) -> float | None:
        state = self.state
        starts, removals, retries = [], [], []
        graph = self._graph()  # asked before taking the lock (the SDN may be slow)
        hops = Hops(graph) if graph is not None else None
        with state.lock:
            now = state.clock()
            # Layers on their way to some node: with peers, another node needing one waits for that
            # pull to finish and then fetches it from there, if that node is nearer than the registry.
            arriving: dict[str, set[str]] = {}  # digest -> the nodes pulling it now
            starting: dict[str, int] = {}  # node -> starts in flight there
            for n in self._inflight:
                if n in state.instances:
                    node_name = state.instances[n].node
                    starting[node_name] = starting.get(node_name, 0) + 1
                    for d in self._missing_layers(state.instances[n]):
                        arriving.setdefault(d, set()).add(node_name)
            holders: dict[str, list[str]] = {}  # digest -> the ready nodes holding it
            for holder, observed in state.observed.items():
                if state.ready(holder):
                    for d in observed.layers:
                        holders.setdefault(d, []).append(holder)
            by_node = state.by_node()
            for name, node in state.nodes.items():
                if not state.ready(name):
                    continue
                seen = state.observed[name].containers
                wanted = {i.name for i in by_node.get(name, [])}
                for instance_name in sorted(wanted - set(seen)):
                    retry_at = self._retry_at.get(instance_name, 0)
                    if retry_at > now:
                        retries.append(retry_at - now)
                        continue
                    instance = state.instances[instance_name]
                    app = state.apps[instance.app]
                    if instance_name in self._inflight or not state.has_vips(app):
                        continue
                    if starting.get(name, 0) >= self.starts_per_node:
                        break  # the next pass, when one of them ends, takes the next
                    missing = self._missing_layers(instance)
                    if app.peers and any(any(
                            puller != name and worth_waiting_for(hops, name, puller, self.registry_host,
                                                                 holders.get(d, ()))
                            for puller in arriving.get(d, ())) for d in missing):
                        continue  # a nearer peer will hold it shortly
                    for d in missing:
                        arriving.setdefault(d, set()).add(name)
                    self._inflight.add(instance_name)
                    starting[name] = starting.get(name, 0) + 1
                    starts.append(instance)
                for container in seen.values():
                    if (container.labels.get(OWNER_LABEL) == OWNER and container.name not in wanted
                            and container.name not in self._inflight):
                        retry_at = self._retry_at.get(container.name, 0)
                        if retry_at > now:
                            retries.append(retry_at - now)
                            continue
                        self._inflight.add(container.name)
                        removals.append((node, container.name))
        for instance in starts:
            self.pool.submit(self._start, instance)
        for node, name in removals:
            self.pool.submit(self._remove, node, name)
        return min(retries) if retries else None

    def _graph(self) -> SwitchGraph | None:
        """The switch graph (cached), or None when the SDN does not answer."""
        try:
            return self.graph.get()
        except DomainError:
            return None

    def _start(self, instance: InstanceRecord) -> None:
        state = self.state
        try:
            try:  # asked before taking the lock; without it, every layer comes from the registry
                app = state.apps.get(instance.app)
                graph = self.graph.get() if app is not None and app.peers else None
            except DomainError as exc:
                log.warning("%s: no switch graph (%s): its layers come from the registry", instance.name, exc)
                graph = None
            with state.lock:
                app = state.apps.get(instance.app)
                node = state.nodes[instance.node]
                if app is None or state.instances.get(instance.name) is not instance:
                    return  # deleted or moved meanwhile
                request = run_request(state, app, instance, graph, self.registry_host)
            try:
                result = self.agents.run(node, request)
            except AlreadyExists:  # started before a restart of ours: the next heartbeat shows it
                with state.lock:
                    self._retry_at[instance.name] = state.clock() + HEARTBEAT_WAIT
                return
            except DomainError as exc:
                with state.lock:
                    failures = self._failures[instance.name] = self._failures.get(instance.name, 0) + 1
                    self._retry_at[instance.name] = state.clock() + min(2.0 ** failures, 30.0)
                    instance.message = f"starting on {instance.node} failed: {exc}"
                    if state.instances.get(instance.name) is instance:
                        state.store.save_instance(instance)
                log.warning("%s: %s", instance.name, instance.message)
                return
            with state.lock:
                instance.ip, instance.started, instance.message = result.ip, True, ""
                instance.pulled_bytes, instance.peer_bytes = result.pulled_bytes, result.peer_bytes
                self._failures.pop(instance.name, None)
                self._retry_at.pop(instance.name, None)
                if state.instances.get(instance.name) is instance:
                    state.store.save_instance(instance)
                # seen at once, not only at the next heartbeat: the route follows sooner, and the
                # layers it pulled can seed the next node straight away
                observed = state.observed[instance.node]
                observed.containers[instance.name] = ContainerView(instance.name, True, result.ip, 0,
                                                                   dict(request.labels), result.ready)
                observed.layers.update(app.images[instance.service].layers)
            log.info("started %s on %s at %s (%d bytes from the registry, %d from peers)", instance.name,
                     instance.node, result.ip, result.pulled_bytes, result.peer_bytes)
        except Exception:
            log.exception("starting %s failed", instance.name)
            with state.lock:
                self._retry_at[instance.name] = state.clock() + HEARTBEAT_WAIT
        finally:
            with state.lock:
                self._inflight.discard(instance.name)
            # whatever happened, a pass follows: the next start, its retry time, the route
            state.changes.notify(INSTANCES)

    def _remove(self, node: NodeRecord, name: str) -> None:
        try:
            try:
                self.agents.remove(node, name)
                log.info("removed %s from %s (no longer desired)", name, node.name)
            except NotFound:
                pass
            with self.state.lock:
                self.state.observed[node.name].containers.pop(name, None)
                self._retry_at.pop(name, None)
        except Exception as exc:  # noqa: BLE001 - tried again later
            if not isinstance(exc, DomainError):
                log.exception("removing %s from %s failed", name, node.name)
            else:
                log.warning("removing %s from %s failed: %s", name, node.name, exc)
            with self.state.lock:
                self._retry_at[name] = self.state.clock() + HEARTBEAT_WAIT
        finally:
            with self.state.lock:
                self._inflight.discard(name)
            self.state.changes.notify(INSTANCES)

    def stop(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
