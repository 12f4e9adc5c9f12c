"""The VNF manager without the network: descriptors checked, each lifecycle operation carried out
through a fake orchestrator and recorded as an occurrence, a failed instantiation rolled back
leaving nothing, chains following their VNFs' pods, and a restart that loses nothing."""

from __future__ import annotations

import pytest

from component_base.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from api.classifier import Classifier
from mano import lifecycle as lc
from mano.core import Pod, VnfManager
from mano.descriptors import parse_vnfd
from mano.store import ManoStore

FIREWALL = """
name: edge-fw
kind: firewall
image: alpine:3.18
cpu_millicores: 200
config: {default: allow, rules: [{protocol: udp, dst_port: 9999, action: deny}]}
"""
MONITOR = "name: mon\nkind: monitor\nimage: alpine:3.18\n"


class FakeOrchestrator:
    def __init__(self):
        self.apps: dict[str, list[Pod]] = {}
        self.specs = {}
        self.fail_deploy = False
        self.counter = 0

    def _pods(self, app, service, n):
        out = []
        for _ in range(n):
            self.counter += 1
            out.append(Pod(f"{service}-{self.counter}", f"edge{self.counter % 3 + 1}", True))
        return out

    def deploy(self, app, service):
        if app in self.apps:
            raise AlreadyExists(app)
        self.specs[app] = service
        self.apps[app] = [] if self.fail_deploy else self._pods(app, service.name, service.replicas)
        if self.fail_deploy:
            self.apps[app] = [Pod(f"{service.name}-x", "edge1", False)]  # never starts

    def scale(self, app, service, replicas):
        pods = self.apps[app]
        self.apps[app] = pods[:replicas] + self._pods(app, service, max(0, replicas - len(pods)))

    def delete(self, app):
        self.apps.pop(app, None)

    def pods(self, app):
        return list(self.apps[app]) if app in self.apps else None


class FakeSdn:
    def __init__(self):
        self.held = {}
        self.known = None  # None: every endpoint is known

    def chains(self):
        return dict(self.held)

    def install_chain(self, chain, hops):
        if chain.name in self.held:
            raise AlreadyExists(chain.name)
        self.held[chain.name] = tuple(hops)

    def update_chain(self, name, hops):
        self.held[name] = tuple(hops)

    def remove_chain(self, name):
        self.held.pop(name, None)


@pytest.fixture
def mano(tmp_path):
    store = ManoStore(tmp_path / "mano.db")
    orch, sdn = FakeOrchestrator(), FakeSdn()
    manager = VnfManager(store, orch, sdn, run=lambda work: work(), ready_timeout=0.05, poll=0.001)
    manager.onboard(parse_vnfd(FIREWALL))
    manager.onboard(parse_vnfd(MONITOR))
    yield manager, orch, sdn, store
    store.close()


def states(manager, name):
    return [(op.operation, op.state) for op in manager.list_operations(name)]


def test_instantiate_deploys_the_vnf_program_through_the_orchestrator(mano):
    manager, orch, _, _ = mano
    op = manager.instantiate("fw1", "edge-fw", 2)
    assert manager.operation(op.id).state == lc.COMPLETED
    spec = orch.specs["vnf-fw1"]
    assert (spec.vnf_kind, spec.replicas, spec.cpu_millicores, spec.image) == ("firewall", 2, 200.0, "alpine:3.18")
    assert '"deny"' in spec.vnf_config
    state = manager.instances["fw1"].state
    assert (state.instantiation, state.operational, state.scale_level) == (lc.INSTANTIATED, lc.STARTED, 2)
    with pytest.raises(FailedPrecondition, match="instantiated already"):
        manager.instantiate("fw1", "edge-fw")


def test_a_failed_instantiation_rolls_back_and_leaves_nothing(mano):
    manager, orch, _, _ = mano
    orch.fail_deploy = True
    op = manager.instantiate("fw1", "edge-fw")
    final = manager.operation(op.id)
    assert final.state == lc.ROLLED_BACK and "waited" in final.detail
    assert "vnf-fw1" not in orch.apps and "fw1" not in manager.instances
    orch.fail_deploy = False
    assert manager.operation(manager.instantiate("fw1", "edge-fw").id).state == lc.COMPLETED  # and can try again


def test_scale_operate_heal_terminate_are_occurrences_in_order(mano):
    manager, orch, _, _ = mano
    manager.instantiate("fw1", "edge-fw")
    manager.scale("fw1", 3)
    assert len(orch.apps["vnf-fw1"]) == 3 and manager.instances["fw1"].state.scale_level == 3
    before = {p.name for p in orch.apps["vnf-fw1"]}
    manager.heal("fw1")
    assert not before & {p.name for p in orch.apps["vnf-fw1"]} and len(orch.apps["vnf-fw1"]) == 3
    manager.operate("fw1", started=False)
    assert orch.apps["vnf-fw1"] == [] and manager.instances["fw1"].state.operational == lc.STOPPED
    with pytest.raises(FailedPrecondition, match="stopped"):
        manager.scale("fw1", 2)
    manager.operate("fw1", started=True)
    assert len(orch.apps["vnf-fw1"]) == 3
    manager.terminate("fw1")
    assert "vnf-fw1" not in orch.apps and manager.instances["fw1"].state.instantiation == lc.NOT_INSTANTIATED
    assert states(manager, "fw1") == [(o, lc.COMPLETED) for o in
                                      (lc.INSTANTIATE, lc.SCALE, lc.HEAL, lc.OPERATE, lc.OPERATE, lc.TERMINATE)]


def test_bad_requests_are_refused_and_change_nothing(mano):
    manager, orch, _, _ = mano
    with pytest.raises(NotFound, match="nope"):
        manager.instantiate("fw1", "nope")
    with pytest.raises(InvalidArgument, match="instance name"):
        manager.instantiate("Fw_1", "edge-fw")
    with pytest.raises(InvalidArgument, match="scale level"):
        manager.instantiate("fw1", "edge-fw", 0)
    with pytest.raises(NotFound):
        manager.terminate("fw1")
    assert not manager.instances and not orch.apps and not manager.list_operations()
    with pytest.raises(InvalidArgument, match="vnfd kind"):
        parse_vnfd("name: x\nkind: router\nimage: alpine\n")


def test_chains_follow_their_vnfs_and_guard_them(mano):
    manager, orch, sdn, _ = mano
    manager.instantiate("fw1", "edge-fw")
    manager.instantiate("mon1", "mon")
    with pytest.raises(InvalidArgument, match="classifier.dst_cidr"):
        manager.create_chain("guard", Classifier(dst_cidr="nonsense"), ["fw1", "mon1"], True)
    with pytest.raises(NotFound, match="ghost"):
        manager.create_chain("guard", Classifier(dst_cidr="10.0.0.8/32"), ["fw1", "ghost"], True)
    assert not sdn.held and not manager.chains
    chain = manager.create_chain("guard", Classifier(dst_cidr="10.0.0.8/32", protocol="tcp"), ["fw1", "mon1"], True)
    assert sdn.held["guard"] == tuple((manager.pods(n)[0].endpoint,) for n in ("fw1", "mon1"))
    with pytest.raises(FailedPrecondition, match="guard"):
        manager.terminate("fw1")
    with pytest.raises(FailedPrecondition, match="guard"):
        manager.operate("fw1", started=False)
    manager.heal("fw1")  # new pods: the steering follows
    assert sdn.held["guard"][0] == (manager.pods("fw1")[0].endpoint,)
    orch.apps["vnf-mon1"] = [Pod("mon1-99", "edge3", True)]  # rescheduled by the orchestrator
    manager.sync_chains()
    assert sdn.held["guard"][1] == ("edge3/mon1-99",)
    manager.scale("mon1", 3)  # scaled out: the hop spreads over its three containers
    manager.sync_chains()
    assert len(sdn.held["guard"][1]) == 3 and set(sdn.held["guard"][1]) == {p.endpoint for p in manager.pods("mon1")}
    manager.delete_chain("guard")
    assert "guard" not in sdn.held
    assert chain.symmetric and chain.dst_cidr == "10.0.0.8/32"


def test_a_restarted_manager_keeps_everything_and_fails_what_was_running(mano, tmp_path):
    manager, orch, sdn, store = mano
    manager.instantiate("fw1", "edge-fw")
    manager.create_chain("guard", Classifier(dst_cidr="10.0.0.8/32"), ["fw1"], False)
    # an instantiation the manager was in the middle of when it was killed
    stuck = VnfManager(store, orch, sdn, run=lambda work: None, ready_timeout=0.05, poll=0.001)
    op = stuck.instantiate("mon1", "mon")
    assert stuck.operation(op.id).state == lc.PROCESSING and "vnf-mon1" not in orch.apps
    again = VnfManager(store, orch, sdn, run=lambda work: work(), ready_timeout=0.05, poll=0.001)
    assert again.operation(op.id).state == lc.ROLLED_BACK and "mon1" not in again.instances
    assert again.instances["fw1"].state.operational == lc.STARTED and "guard" in again.chains
    assert [o.state for o in again.list_operations("fw1")] == [lc.COMPLETED]
    assert again.vnfds.keys() == {"edge-fw", "mon"}


def test_a_slow_sdn_holds_back_only_other_chain_changes(mano):
    """No lock is held across a call to the SDN controller: while a chain's install waits on it,
    reads, descriptors and lifecycle requests answer; the VNFs it steers through are guarded."""
    import threading

    manager, orch, sdn, _ = mano
    manager.instantiate("fw1", "edge-fw")
    entered, release = threading.Event(), threading.Event()
    install = sdn.install_chain

    def slow_install(chain, hops):
        entered.set()
        assert release.wait(10)
        install(chain, hops)

    sdn.install_chain = slow_install
    creating = threading.Thread(target=manager.create_chain, args=("c1", Classifier(dst_cidr="10.0.0.0/24"),
                                                                    ["fw1"], False))
    creating.start()
    try:
        assert entered.wait(5)
        done = threading.Event()

        def others() -> None:
            manager.list_operations()
            manager.list_instances()
            manager.onboard(parse_vnfd(MONITOR.replace("name: mon", "name: mon2")))
            manager.instantiate("mon1", "mon")
            with pytest.raises(FailedPrecondition, match="c1"):  # a chain being installed uses fw1
                manager.terminate("fw1")
            done.set()

        threading.Thread(target=others, daemon=True).start()
        assert done.wait(5), "a request waited behind the SDN call"
    finally:
        release.set()
        creating.join(10)
    assert "c1" in manager.chains and sdn.held["c1"]
