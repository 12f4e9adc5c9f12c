"""The VNF manager's domain logic: the catalogue, the lifecycle operations carried out through the
orchestrator (a VNF instance is an application of one service running the VNF program, so its
image's layers count in layer-aware placement), and chains steered by the SDN controller.

Operations are asynchronous, as in ETSI NFV-SOL 003: a request is checked, recorded as an
occurrence PROCESSING and answered at once; a worker carries it out and records how it ended.
A failed instantiation is rolled back (its application removed, the instance forgotten). A
restarted manager finds occurrences that were PROCESSING: they failed with it (FAILED_TEMP, an
instantiation rolled back). Chains follow their VNFs: the loop sends the SDN controller the
instances' current pods whenever they change (a heal, a rescheduling). Imports no grpc.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from component_base.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from api import bounds
from api.app import ServiceSpec
from api.classifier import Classifier, checked_classifier
from api.names import check_service_name, dns_label_problem

from . import lifecycle as lc
from .autoscale import HealJudge, Judge, counter, healing_of, scaling_of
from .descriptors import Vnfd
from .lifecycle import OpOccurrence, VnfState
from .store import ChainRecord, ManoStore, VnfInstance

log = logging.getLogger("strata.mano")
APP_PREFIX = "vnf-"
MAX_SCALE = 16


@dataclass(frozen=True)
class Pod:
    name: str   # container
    node: str
    running: bool
    ip: str = ""       # once started
    restarts: int = 0  # times its node restarted it

    @property
    def endpoint(self) -> str:
        """The SDN controller's name for it."""
        return f"{self.node}/{self.name}"


class Orchestrator(Protocol):
    def deploy(self, app: str, service: ServiceSpec) -> None: ...

    def scale(self, app: str, service: str, replicas: int) -> None: ...

    def delete(self, app: str) -> None: ...

    def pods(self, app: str) -> list[Pod] | None: ...   # None: no such application


class Stats(Protocol):
    def read(self, ip: str) -> dict | None: ...   # a VNF container's /stats document; None: no answer


class Sdn(Protocol):
    def chains(self) -> dict[str, tuple[tuple[str, ...], ...]]: ...   # per hop, its containers

    def install_chain(self, chain: ChainRecord, hops: list[tuple[str, ...]]) -> None: ...

    def update_chain(self, name: str, hops: list[tuple[str, ...]]) -> None: ...

    def remove_chain(self, name: str) -> None: ...


class VnfManager:
    def __init__(self, store: ManoStore, orchestrator: Orchestrator, sdn: Sdn, *,
                 clock: Callable[[], float] = time.time, ready_timeout: float = 120.0, poll: float = 0.5,
                 run: Callable[[Callable[[], None]], None] | None = None, stats: Stats | None = None):
        self._lock = threading.RLock()
        self.stats = stats  # None: no autoscaling on counters (healing still works)
        self._judges: dict[str, Judge] = {}        # instance -> its autoscaling state
        self._healers: dict[str, HealJudge] = {}   # instance -> its restarts seen
        self.store, self.orchestrator, self.sdn, self.clock = store, orchestrator, sdn, clock
        self.ready_timeout, self.poll = ready_timeout, poll
        self._run = run or (lambda work: threading.Thread(target=work, daemon=True).start())
        self.vnfds = {v.name: v for v in store.vnfds()}
        self.instances = {i.name: i for i in store.instances()}
        self.operations = {op.id: op for op in store.operations()}
        self.chains = {c.name: c for c in store.chains()}
        self._busy: set[str] = set()
        self._steered: dict[str, tuple] | None = None  # the SDN's chains, as last read or sent
        # Chain changes and the chain sync take turns, across their calls to the SDN controller and
        # the orchestrator; the state lock (_lock) is never held across a call, so lifecycle
        # requests and reads do not wait behind a slow daemon.
        self._chain_changes = threading.Lock()
        self._creating: dict[str, ChainRecord] = {}  # chains being installed: their instances are in use
        self._recover()

    # -- the catalogue -----------------------------------------------------------------------------
    def onboard(self, vnfd: Vnfd) -> Vnfd:
        with self._lock:
            users = [i.name for i in self.instances.values() if i.vnfd == vnfd.name
                     and i.state.instantiation == lc.INSTANTIATED]
            if vnfd.name in self.vnfds and self.vnfds[vnfd.name] != vnfd and users:
                raise FailedPrecondition(f"descriptor {vnfd.name!r} has instances ({', '.join(users)}): terminate "
                                         "them before replacing it")
            self.store.save_vnfd(vnfd)
            self.vnfds[vnfd.name] = vnfd
            return vnfd

    def delete_vnfd(self, name: str) -> None:
        with self._lock:
            self._vnfd(name)
            users = [i.name for i in self.instances.values() if i.vnfd == name]
            if users:
                raise FailedPrecondition(f"descriptor {name!r} has instances ({', '.join(users)})")
            self.store.delete_vnfd(name)
            del self.vnfds[name]

    # -- lifecycle ---------------------------------------------------------------------------------
    def instantiate(self, name: str, vnfd: str, scale_level: int = 1, near: str = "") -> OpOccurrence:
        """`near`: a host whose traffic it will serve (on or near its path): the containers go on
        the nodes fewest hops from it that fit."""
        if (why := dns_label_problem(name)) is not None:
            raise InvalidArgument(f"instance name: {why}")
        if len(APP_PREFIX + name) > 63:
            raise InvalidArgument(f"instance name {name!r} is too long: at most {63 - len(APP_PREFIX)} characters")
        self._check_level(scale_level)
        bounds.text("near", near, bounds.MAX_NAME)
        if any(c.isspace() for c in near):
            raise InvalidArgument(f"near: {near[:60]!r} is not a host name")
        with self._lock:
            descriptor = self._vnfd(vnfd)
            instance = self.instances.get(name) or VnfInstance(name, vnfd, VnfState(), APP_PREFIX + name)
            if instance.vnfd != vnfd:
                raise AlreadyExists(f"VNF instance {name!r} is of descriptor {instance.vnfd!r}")
            lc.check_allowed(instance.state, lc.INSTANTIATE, busy=name in self._busy, instance=name)
            self.instances[name] = instance
            self.store.save_instance(instance)
            op = self._begin(name, lc.INSTANTIATE, f"{vnfd} x{scale_level}" + (f" near {near}" if near else ""))

        def work() -> None:
            self.orchestrator.deploy(instance.app, self._service(name, descriptor, scale_level, near))
            self._wait_running(instance.app, scale_level)
            self._set_state(name, lc.after(instance.state, lc.INSTANTIATE, scale_level=scale_level))

        self._launch(op, work, rollback=lambda: self._undo_instantiate(name))
        return op

    def terminate(self, name: str) -> OpOccurrence:
        with self._lock:
            instance = self._instance(name)
            lc.check_allowed(instance.state, lc.TERMINATE, busy=name in self._busy, instance=name)
            self._check_unchained(name, "terminating")
            op = self._begin(name, lc.TERMINATE, "")

        def work() -> None:
            self.orchestrator.delete(instance.app)
            self._wait(lambda: self.orchestrator.pods(instance.app) is None, "its application to go")
            self._set_state(name, VnfState())

        self._launch(op, work)
        return op

    def scale(self, name: str, scale_level: int, cause: str = "") -> OpOccurrence:
        """`cause`: why, when the manager decided it (the occurrence's detail says so)."""
        self._check_level(scale_level)
        with self._lock:
            instance = self._instance(name)
            lc.check_allowed(instance.state, lc.SCALE, busy=name in self._busy, instance=name)
            op = self._begin(name, lc.SCALE, f"to {scale_level}" + (f" ({cause})" if cause else ""))

        def work() -> None:
            self.orchestrator.scale(instance.app, name, scale_level)
            self._wait_running(instance.app, scale_level)
            self._set_state(name, lc.after(self.instances[name].state, lc.SCALE, scale_level=scale_level))

        self._launch(op, work)
        return op

    def operate(self, name: str, started: bool) -> OpOccurrence:
        with self._lock:
            instance = self._instance(name)
            lc.check_allowed(instance.state, lc.OPERATE, busy=name in self._busy, instance=name)
            if not started:
                self._check_unchained(name, "stopping")
            op = self._begin(name, lc.OPERATE, "start" if started else "stop")
        level = instance.state.scale_level

        def work() -> None:
            self.orchestrator.scale(instance.app, name, level if started else 0)
            self._wait_running(instance.app, level if started else 0)
            self._set_state(name, lc.after(self.instances[name].state, lc.OPERATE,
                                           operational=lc.STARTED if started else lc.STOPPED))

        self._launch(op, work)
        return op

    def heal(self, name: str, cause: str = "") -> OpOccurrence:
        """Replaces every container of the instance with new ones (placed anew); chains follow."""
        with self._lock:
            instance = self._instance(name)
            lc.check_allowed(instance.state, lc.HEAL, busy=name in self._busy, instance=name)
            op = self._begin(name, lc.HEAL, cause)
        level = instance.state.scale_level

        def work() -> None:
            old = {p.name for p in self.orchestrator.pods(instance.app) or []}
            self.orchestrator.scale(instance.app, name, 0)
            self._wait_running(instance.app, 0)
            self.orchestrator.scale(instance.app, name, level)
            self._wait(lambda: (lambda pods: pods is not None and sum(p.running for p in pods) == level
                                and not old & {p.name for p in pods})(self.orchestrator.pods(instance.app)),
                       f"{level} new container(s)")
            self.sync_chains()

        self._launch(op, work)
        return op

    # -- self-driving ------------------------------------------------------------------------------
    def autoscale_once(self) -> None:
        """One look at every started instance whose descriptor has a policy: heal it when its
        containers keep restarting, scale it when its counters say so (mano.autoscale), each
        through an ordinary occurrence. An instance busy with an operation is left alone."""
        with self._lock:
            started = [(i.name, i.app, i.state.scale_level, self.vnfds.get(i.vnfd)) for i in self.instances.values()
                       if i.state.instantiation == lc.INSTANTIATED and i.state.operational == lc.STARTED
                       and i.name not in self._busy]
        watched = {name for name, _, _, vnfd in started if vnfd is not None and (vnfd.scaling or vnfd.healing)}
        for gone in set(self._judges) - watched:
            del self._judges[gone]
        for gone in set(self._healers) - watched:
            del self._healers[gone]
        for name, app, level, vnfd in started:
            if name not in watched:
                continue
            try:
                pods = self.orchestrator.pods(app) or []
                if vnfd.healing and (why := self._healer(name, vnfd).decide(self.clock(), {p.name: p.restarts
                                                                                           for p in pods})):
                    log.info("healing %s: %s", name, why)
                    self._judges.pop(name, None)
                    self.heal(name, cause=f"auto: {why}")
                    continue
                if vnfd.scaling and self.stats is not None:
                    judge = self._judge(name, vnfd)
                    counters = {}
                    for pod in pods:
                        if pod.running and pod.ip:
                            value = counter(self.stats.read(pod.ip) or {}, judge.policy.metric)
                            if value is not None:
                                counters[pod.name] = value
                    now = self.clock()
                    judge.observe(now, counters)
                    if decision := judge.decide(now, level):
                        log.info("scaling %s to %d: %s", name, decision.level, decision.reason)
                        self.scale(name, decision.level, cause=f"auto: {decision.reason}")
            except DomainError as exc:  # the orchestrator away, or the instance just became busy
                log.warning("autoscaling %s: %s", name, exc)

    def _judge(self, name: str, vnfd: Vnfd) -> Judge:
        policy = scaling_of(vnfd.scaling)
        if name not in self._judges or self._judges[name].policy != policy:  # a replaced descriptor: anew
            self._judges[name] = Judge(policy)
        return self._judges[name]

    def _healer(self, name: str, vnfd: Vnfd) -> HealJudge:
        policy = healing_of(vnfd.healing)
        if name not in self._healers or self._healers[name].policy != policy:
            self._healers[name] = HealJudge(policy)
        return self._healers[name]

    # -- chains ------------------------------------------------------------------------------------
    def create_chain(self, name: str, classifier: Classifier, instances: list[str], symmetric: bool) -> ChainRecord:
        check_service_name(name)
        bounds.strings("instances", instances, count=bounds.MAX_LIST, each=bounds.MAX_NAME)
        c = checked_classifier(classifier)
        if symmetric and not c.dst_cidr:
            raise InvalidArgument("a symmetric chain needs a destination (dst_cidr)")
        with self._chain_changes:
            with self._lock:
                if name in self.chains:
                    raise AlreadyExists(f"chain {name!r} exists")
                if not instances:
                    raise InvalidArgument("a chain needs at least one VNF instance")
                for k, instance in enumerate(instances):
                    record = self.instances.get(instance)
                    if record is None:
                        raise NotFound(f"instances[{k}]: no VNF instance named {instance!r}")
                    if record.state.operational != lc.STARTED:
                        raise FailedPrecondition(f"instances[{k}]: VNF instance {instance!r} is not instantiated "
                                                 "and started")
                chain = ChainRecord(name, c.src_cidr, c.dst_cidr, c.protocol, c.dst_port, tuple(instances),
                                    symmetric)
                apps = self._apps_of(chain)
                self._creating[name] = chain
            try:
                hops = self._hops(apps, self._pods(apps))
                if hops is None:
                    raise FailedPrecondition(f"a VNF instance of chain {name!r} has no running container yet")
                self.sdn.install_chain(chain, hops)  # refused: nothing is stored
                with self._lock:
                    self.store.save_chain(chain)
                    self.chains[name] = chain
                    if self._steered is not None:
                        self._steered[name] = tuple(hops)
            finally:
                with self._lock:
                    self._creating.pop(name, None)
            return chain

    def delete_chain(self, name: str) -> None:
        with self._chain_changes:
            with self._lock:
                if name not in self.chains:
                    raise NotFound(f"no chain named {name!r} (chains: {', '.join(sorted(self.chains)) or 'none'})")
            self.sdn.remove_chain(name)
            with self._lock:
                self.store.delete_chain(name)
                del self.chains[name]
                if self._steered is not None:
                    self._steered.pop(name, None)

    def sync_chains(self) -> None:
        """Send the SDN controller each chain's current pods where they changed; install chains it
        lost (a restarted controller keeps them, but a new one would not)."""
        with self._chain_changes:
            with self._lock:
                chains = list(self.chains.values())
                steered = self._steered
                apps = {chain.name: self._apps_of(chain) for chain in chains}
            try:
                if steered is None:
                    steered = dict(self.sdn.chains())
                pods = self._pods([app for chain_apps in apps.values() for app in chain_apps])
                for chain in chains:
                    hops = self._hops(apps[chain.name], pods)
                    if hops is None or steered.get(chain.name) == tuple(hops):
                        continue
                    if chain.name in steered:
                        self.sdn.update_chain(chain.name, hops)
                    else:
                        self.sdn.install_chain(chain, hops)
                    log.info("chain %s now steers through %s", chain.name, " -> ".join("|".join(h) for h in hops))
                    steered[chain.name] = tuple(hops)
                with self._lock:
                    self._steered = steered
            except DomainError as exc:
                with self._lock:
                    self._steered = None
                log.warning("chains not in step with the SDN controller yet: %s", exc)

    # -- reading -------------------------------------------------------------------------------------
    def list_operations(self, instance: str = "") -> list[OpOccurrence]:
        with self._lock:
            return [op for op in self.operations.values() if not instance or op.instance == instance]

    def operation(self, op_id: str) -> OpOccurrence:
        with self._lock:
            if op_id not in self.operations:
                raise NotFound(f"no operation occurrence {op_id!r}")
            return self.operations[op_id]

    def pods(self, name: str) -> list[Pod]:
        instance = self._instance(name)
        return self.orchestrator.pods(instance.app) or []

    def list_instances(self) -> list[tuple[VnfInstance, list[Pod], str]]:
        """Every instance by name, with its containers now and the occurrence it is busy with ("")."""
        with self._lock:
            instances = sorted(self.instances.values(), key=lambda i: i.name)
            busy = {op.instance: op.id for op in self.operations.values() if op.state == lc.PROCESSING}
        return [(i, self.orchestrator.pods(i.app) or [], busy.get(i.name, "")) for i in instances]

    def list_chains(self) -> list[tuple[ChainRecord, list[tuple[str, ...]]]]:
        """Every chain by name, with the containers it steers through now (per instance)."""
        with self._lock:
            chains = sorted(self.chains.values(), key=lambda c: c.name)
        return [(c, self.hops_of(c)) for c in chains]

    def hops_of(self, chain: ChainRecord) -> list[tuple[str, ...]]:
        """The containers the chain steers through now, per instance ([] while one has none)."""
        with self._lock:
            apps = self._apps_of(chain)
        return self._hops(apps, self._pods(apps)) or []

    # -- internals -----------------------------------------------------------------------------------
    def _vnfd(self, name: str) -> Vnfd:
        if name not in self.vnfds:
            raise NotFound(f"no VNF descriptor named {name!r} (onboarded: {', '.join(sorted(self.vnfds)) or 'none'})")
        return self.vnfds[name]

    def _instance(self, name: str) -> VnfInstance:
        with self._lock:
            if name not in self.instances:
                raise NotFound(f"no VNF instance named {name!r} (instances: "
                               f"{', '.join(sorted(self.instances)) or 'none'})")
            return self.instances[name]

    @staticmethod
    def _check_level(level: int) -> None:
        if not 1 <= level <= MAX_SCALE:
            raise InvalidArgument(f"scale level {level} is not in 1-{MAX_SCALE}")

    def _check_unchained(self, name: str, doing: str) -> None:
        users = sorted(c.name for c in (*self.chains.values(), *self._creating.values()) if name in c.instances)
        if users:
            raise FailedPrecondition(f"chain(s) {', '.join(users)} steer through {name!r}: delete them before "
                                     f"{doing} it")

    @staticmethod
    def _service(name: str, vnfd: Vnfd, level: int, near: str = "") -> ServiceSpec:
        return ServiceSpec(name, vnfd.image, replicas=level, cpu_millicores=vnfd.cpu_millicores,
                           bandwidth_mbps=vnfd.bandwidth_mbps, vnf_kind=vnfd.kind, vnf_config=vnfd.config, near=near)

    def _apps_of(self, chain: ChainRecord) -> list[str | None]:
        """Per instance of the chain, its application (None for an instance that is gone). Under _lock."""
        return [self.instances[name].app if name in self.instances else None for name in chain.instances]

    def _pods(self, apps: list[str | None]) -> dict[str, list[Pod]]:
        """Each application's containers, asked of the orchestrator (no lock held)."""
        return {app: self.orchestrator.pods(app) or [] for app in dict.fromkeys(apps) if app is not None}

    @staticmethod
    def _hops(apps: list[str | None], pods: dict[str, list[Pod]]) -> list[tuple[str, ...]] | None:
        """Per instance, its running containers (the SDN spreads flows over them), or None if one
        has none."""
        hops = []
        for app in apps:
            running = sorted(p.endpoint for p in pods.get(app, []) if p.running) if app is not None else []
            if not running:
                return None
            hops.append(tuple(running))
        return hops

    def _begin(self, instance: str, operation: str, detail: str) -> OpOccurrence:
        now = self.clock()
        op = OpOccurrence(f"op-{self.store.next_operation_number()}", instance, operation, lc.PROCESSING, now, now,
                          detail)
        self._record(op)
        self._busy.add(instance)
        return op

    def _record(self, op: OpOccurrence) -> None:
        self.store.save_operation(op)
        self.operations[op.id] = op

    def _set_state(self, name: str, state: VnfState) -> None:
        with self._lock:
            instance = dataclasses.replace(self.instances[name], state=state)
            self.store.save_instance(instance)
            self.instances[name] = instance

    def _launch(self, op: OpOccurrence, work: Callable[[], None], rollback: Callable[[], None] | None = None) -> None:
        def run() -> None:
            try:
                work()
                self._finish(op.id, lc.COMPLETED)
            except Exception as exc:  # the occurrence says why; the manager goes on
                why = str(exc) if isinstance(exc, (DomainError, TimeoutError)) else f"{type(exc).__name__}: {exc}"
                log.warning("%s %s of %s failed: %s", op.id, op.operation.lower(), op.instance, why)
                self._finish(op.id, lc.FAILED_TEMP, why)
                if rollback is not None:
                    self._roll_back(op.id, rollback)
            finally:
                with self._lock:
                    self._busy.discard(op.instance)

        self._run(run)

    def _finish(self, op_id: str, state: str, detail: str | None = None) -> None:
        with self._lock:
            self._record(lc.moved(self.operations[op_id], state, self.clock(), detail))

    def _roll_back(self, op_id: str, rollback: Callable[[], None]) -> None:
        self._finish(op_id, lc.ROLLING_BACK)
        try:
            rollback()
            self._finish(op_id, lc.ROLLED_BACK)
        except Exception as exc:
            log.error("%s: rolling back failed: %s", op_id, exc)
            self._finish(op_id, lc.FAILED_TEMP, f"rolling back failed: {exc}")

    def _undo_instantiate(self, name: str) -> None:
        app = self.instances[name].app
        self.orchestrator.delete(app)
        self._wait(lambda: self.orchestrator.pods(app) is None, "its application to go")
        with self._lock:
            self.store.delete_instance(name)
            self.instances.pop(name, None)

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {self.ready_timeout:g} s for {what}")
            time.sleep(self.poll)

    def _wait_running(self, app: str, level: int) -> None:
        def running() -> bool:
            pods = self.orchestrator.pods(app)
            return pods is not None and len(pods) == level and all(p.running for p in pods)

        self._wait(running, f"{level} running container(s) of {app}")

    def _recover(self) -> None:
        """Occurrences a stopped manager left PROCESSING failed with it; instantiations roll back."""
        for op in list(self.operations.values()):
            if op.state in (lc.PROCESSING, lc.ROLLING_BACK):
                self._record(dataclasses.replace(op, state=lc.FAILED_TEMP, entered=self.clock(),
                                                 detail="the VNF manager stopped during the operation"))
                if op.operation == lc.INSTANTIATE and op.instance in self.instances \
                        and self.instances[op.instance].state.instantiation != lc.INSTANTIATED:
                    self._busy.add(op.instance)
                    op_id, name = op.id, op.instance

                    def undo(op_id=op_id, name=name) -> None:
                        try:
                            self._roll_back(op_id, lambda: self._undo_instantiate(name))
                        finally:
                            with self._lock:
                                self._busy.discard(name)

                    self._run(undo)
