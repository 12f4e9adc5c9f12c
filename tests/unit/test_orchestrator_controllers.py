"""The orchestrator's controllers: wake-ups, resync, images out of Deploy, no lock across calls."""

from __future__ import annotations

import threading
import time

import pytest

from component_base.errors import InvalidArgument, Unavailable
from api.app import AppSpec, ServiceSpec
from controller.orchestrator.cluster import APPS, IMAGES, INSTANCES, NODES, VIPS, Changes
from controller.orchestrator.controllers.base import ControllerLoop
from controller.orchestrator.servicer import deployment_message
from strata.v1 import orchestrator_pb2 as pb

from test_orchestrator_core import IMAGES as IMAGE_TABLE, Cluster, FakeImages, app


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class Counting:
    """A controller that counts its passes."""

    def __init__(self, watches, after=None):
        self.name = "counting"
        self.watches = watches
        self.after = after
        self.passes = 0
        self.passed = threading.Event()

    def sync(self):
        self.passes += 1
        self.passed.set()
        return self.after


@pytest.fixture
def loops():
    started = []

    def start(controller, changes, resync):
        loop = ControllerLoop(controller, changes, resync)
        loop.start()
        started.append(loop)
        assert controller.passed.wait(5)  # its first pass, at start
        controller.passed.clear()
        return loop

    yield start
    for loop in started:
        loop.stop()


def test_a_controller_is_woken_by_the_changes_it_watches_and_only_those(loops):
    changes = Changes()
    controller = Counting((NODES, INSTANCES))
    loops(controller, changes, resync=60)
    for kind in (APPS, IMAGES, VIPS):
        changes.notify(kind)
    assert not controller.passed.wait(0.3)
    assert controller.passes == 1
    changes.notify(INSTANCES)
    assert controller.passed.wait(5)
    controller.passed.clear()
    changes.notify(NODES)
    assert controller.passed.wait(5)


def test_a_controller_resyncs_when_nothing_changes(loops):
    controller = Counting((APPS,))
    loops(controller, Changes(), resync=0.05)
    assert wait_until(lambda: controller.passes >= 4, 5)


def test_a_controller_runs_again_when_it_asked_to(loops):
    controller = Counting((APPS,), after=0.05)
    loops(controller, Changes(), resync=60)
    assert wait_until(lambda: controller.passes >= 4, 5)


def test_every_controller_watches_what_takes_a_deploy_forward(tmp_path):
    c = Cluster(tmp_path)
    watches = {controller.name: set(controller.watches) for controller in c.o.controllers}
    assert watches == {"images": {APPS}, "vips": {APPS}, "node-lifecycle": {NODES},
                       "scheduler": {APPS, IMAGES, NODES}, "node-sync": {VIPS, NODES, INSTANCES},
                       "routes": {APPS, VIPS, NODES, INSTANCES}, "policies": {APPS, NODES, INSTANCES}}


def test_a_deploy_becomes_ready_through_notifications_alone(tmp_path):
    """With a resync of a minute, only the changes each step notifies can take the deploy forward."""
    c = Cluster(tmp_path)
    c.o.resync = 60
    c.o.start()
    try:
        c.o.deploy(app())
        assert wait_until(lambda: c.o.deployment("shop").ready, 10), c.o.deployment("shop")
        assert len(c.sdn.routes_now["web.shop"][2]) == 2
        c.o.scale("shop", "web", 3)
        assert wait_until(lambda: c.o.deployment("shop").ready and len(c.sdn.routes_now["web.shop"][2]) == 3, 10)
        c.o.delete("shop")
        assert wait_until(lambda: not c.sdn.routes_now and c.running() == {}, 10)
    finally:
        c.o.stop()


class BlockingImages(FakeImages):
    """Images whose preparation waits for `release`, saying it builds, then pushes."""

    def __init__(self):
        self.release = threading.Event()
        self.building = threading.Event()
        self.prepared = []

    def prepare(self, service, progress):
        progress("building", f"building {service.image}")
        self.building.set()
        assert self.release.wait(10)
        progress("pushing", f"pushing {service.image}")
        self.prepared.append(service.name)
        return IMAGE_TABLE[service.image]


def test_deploy_returns_before_the_image_is_built_and_the_deployment_shows_its_progress(tmp_path):
    c = Cluster(tmp_path)
    images = c.o.images = c.o.controllers[0].images = BlockingImages()
    c.o.resync = 60
    c.o.start()
    try:
        view = c.o.deploy(AppSpec("solo", (ServiceSpec("api", "api", replicas=2, cpu_millicores=100),)))
        assert not images.release.is_set() and not view.ready
        assert images.building.wait(5)
        view = c.o.deployment("solo")
        assert view.images["api"].phase == "building" and "building api" in view.images["api"].message
        assert {i.phase for i in view.instances} == {"pending"}
        assert all("waiting for its image (building" in i.message for i in view.instances)
        message = deployment_message(view)
        assert [(i.service, i.phase) for i in message.images] == [("api", pb.IMAGE_PHASE_BUILDING)]
        images.release.set()
        assert wait_until(lambda: c.o.deployment("solo").ready, 10)
        ready = deployment_message(c.o.deployment("solo")).images[0]
        assert (ready.phase, ready.reference, ready.layers) == (pb.IMAGE_PHASE_READY, "api:latest", 2)
        assert ready.size_bytes == sum(s for _, s in IMAGE_TABLE["api"].layers)
    finally:
        images.release.set()
        c.o.stop()


class FailingImages(FakeImages):
    def __init__(self, error):
        self.error = error
        self.calls = 0

    def prepare(self, service, progress):
        self.calls += 1
        raise self.error


def test_an_image_that_cannot_be_built_fails_once_and_its_instances_say_why(tmp_path):
    c = Cluster(tmp_path)
    images = c.o.controllers[0].images = FailingImages(InvalidArgument("base image python:latest is not cached"))
    c.o.deploy(AppSpec("solo", (ServiceSpec("api", "api", cpu_millicores=100),)))
    c.settle()
    c.clock.now += 100
    c.settle()
    view = c.o.deployment("solo")
    assert images.calls == 1  # not retried
    assert view.images["api"].phase == "failed" and "not cached" in view.images["api"].message
    assert view.instances[0].phase == "pending" and "its image failed" in view.instances[0].message
    assert not c.agents.requests and not view.ready


def test_an_unanswering_registry_is_tried_again_with_back_off_then_fails(tmp_path):
    c = Cluster(tmp_path)
    images = c.o.controllers[0].images = FailingImages(Unavailable("the registry did not answer"))
    c.o.deploy(AppSpec("solo", (ServiceSpec("api", "api", cpu_millicores=100),)))
    controller = c.o.controllers[0]
    assert controller.sync() == pytest.approx(2.0)  # the first retry in 2 s
    status = c.o.deployment("solo").images["api"]
    assert status.phase == "pending" and "trying again in 2 s" in status.message
    assert controller.sync() == pytest.approx(2.0) and images.calls == 1  # not before its time
    c.clock.now += 2
    assert controller.sync() == pytest.approx(4.0) and images.calls == 2
    c.clock.now += 4
    assert controller.sync() is None and images.calls == 3
    status = c.o.deployment("solo").images["api"]
    assert status.phase == "failed" and "did not answer" in status.message


def test_an_exhausted_service_range_waits_for_a_freed_vip(tmp_path):
    c = Cluster(tmp_path)
    c.o.state.vips = type(c.o.vips)("10.0.127.0/30")  # two addresses
    c.o.deploy(AppSpec("first", (ServiceSpec("a", "api", cpu_millicores=100), ServiceSpec("b", "api", cpu_millicores=100))))
    c.settle()
    c.o.deploy(AppSpec("second", (ServiceSpec("web", "web", cpu_millicores=100),)))
    c.settle()
    view = c.o.deployment("second")
    assert view.app.vips == {} and not view.ready
    assert "waiting for its VIPs" in view.instances[0].message and "no free address" in view.instances[0].message
    assert not any(r.name.startswith("web") for _, r in c.agents.requests)  # its /etc/hosts would lack them
    c.o.delete("first")
    c.settle()
    assert c.o.deployment("second").ready and c.o.deployment("second").app.vips["web"] in ("10.0.127.1", "10.0.127.2")


def test_a_node_falling_silent_leaves_the_routes_when_its_timeout_passes(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app())
    c.settle()
    lifecycle = next(x for x in c.o.controllers if x.name == "node-lifecycle")
    woken = []
    c.o.state.changes.watch((NODES,), lambda: woken.append(1))
    assert lifecycle.sync() == pytest.approx(4.01)  # the next heartbeat is due within node_timeout
    victim = next(n for n, names in c.running().items() if names)
    c.alive.discard(victim)
    c.clock.now += 4.02
    c.beat()
    assert lifecycle.sync() is not None and woken  # the victim is not ready any more: said so
    c.o.reconcile_once()
    assert all(not e.host.startswith(victim + "/") for r in c.sdn.routes_now.values() for e in r[2])


def test_heartbeats_that_report_nothing_new_wake_nobody(tmp_path):
    c = Cluster(tmp_path)
    woken = []
    c.o.state.changes.watch((NODES,), lambda: woken.append(1))
    c.beat()
    assert not woken
    c.agents.layers["edge1"] = {"sha256:new": 1}
    c.beat()
    assert len(woken) == 1


class LockChecks:
    """Wraps a port: every call fails the test if the orchestrator's store lock is held meanwhile."""

    def __init__(self, port, lock, calls):
        self.port, self.lock, self.calls = port, lock, calls

    def __getattr__(self, name):
        method = getattr(self.port, name)

        def call(*args, **kwargs):
            free = []

            def probe():  # another thread can take the lock only if nobody holds it
                if self.lock.acquire(timeout=2):
                    self.lock.release()
                    free.append(True)

            prober = threading.Thread(target=probe)
            prober.start()
            prober.join()
            assert free, f"{name} called with the store's lock held"
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


def test_no_lock_is_held_while_another_component_is_called(tmp_path):
    c = Cluster(tmp_path)
    calls = []
    lock = c.o.state.lock
    scheduler = next(x for x in c.o.controllers if x.name == "scheduler")
    routes = next(x for x in c.o.controllers if x.name == "routes")
    scheduler.placer = LockChecks(scheduler.placer, lock, calls)
    routes.mesh = LockChecks(routes.mesh, lock, calls)
    c.o.node_sync.agents = LockChecks(c.o.node_sync.agents, lock, calls)
    c.o.graph.sdn = LockChecks(c.o.graph.sdn, lock, calls)
    c.o.deploy(AppSpec("near", (ServiceSpec("mon", "api", cpu_millicores=100, near="edge3", vnf_kind="monitor"),)))
    c.o.deploy(app())
    c.settle()
    assert c.o.deployment("shop").ready and c.o.deployment("near").ready
    c.o.delete("shop")
    c.settle()
    assert {"solve", "routes", "put_route", "remove_route", "run", "remove", "switch_graph"} <= set(calls)


@pytest.mark.parametrize("image, named", [
    ("Not An Image!", "invalid image reference"),
    ("redis", "strata images build"),  # a dataset image the (empty) image cache lacks
    ("gcr.io/google-samples/microservices-demo/frontend:v0.8.0", "strata images build"),  # its base is lacking
])
def test_what_deploy_can_tell_at_once_about_an_image_is_refused_at_once(tmp_path, image, named):
    from controller.orchestrator.registry_images import RegistryImages

    images = RegistryImages("http://127.0.0.1:9", tmp_path / "cache", log=lambda _: None)
    with pytest.raises(InvalidArgument, match=named):
        images.check(ServiceSpec("web", image))


def test_a_restarted_orchestrator_changes_no_route_before_the_first_round_of_heartbeats(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app())
    c.settle()
    before = dict(c.sdn.routes_now)
    assert before and all(route[2] for route in before.values())
    c.o = c.orchestrator()  # a new process on the same store: it has heard from no node yet
    routes = next(x for x in c.o.controllers if x.name == "routes")
    assert routes.sync() == pytest.approx(4.0)  # waits for the heartbeats, at most a node timeout
    c.o.reconcile_once()
    assert c.sdn.routes_now == before
    victim = next(n for n, names in c.running().items() if names)
    c.alive.discard(victim)
    c.beat()  # every node but the victim
    c.o.reconcile_once()
    assert c.sdn.routes_now == before  # the victim may yet speak
    c.clock.now += 4.01
    c.beat()
    c.o.reconcile_once()
    assert all(not e.host.startswith(victim + "/") for r in c.sdn.routes_now.values() for e in r[2])


class FakeProber:
    def __init__(self):
        self.answering: set[str] = set()  # pod IPs that answer
        self.asked: list[tuple[str, int]] = []

    def answers(self, ip, port, timeout):
        self.asked.append((ip, port))
        return ip in self.answering


def test_a_silent_agent_whose_pods_answer_keeps_them_in_their_routes_and_nothing_moves(tmp_path):
    from controller.orchestrator.controllers.dataplane import DataPlaneProbe

    c = Cluster(tmp_path)
    prober = FakeProber()
    c.o.controllers.insert(2, DataPlaneProbe(c.o.state, prober))
    c.o.deploy(app(web=3))
    c.settle()
    victim = max(c.running(), key=lambda n: len(c.running()[n]))
    pods = {i.name: c.o.state.observed[victim].containers[i.name].ip for i in c.o.state.instances.values()
            if i.node == victim}
    ports = {i.name: c.o.state.apps["shop"].spec.service(i.service).target_port
             for i in c.o.state.instances.values() if i.node == victim}
    before = dict(c.sdn.routes_now)
    started = len(c.agents.requests)
    prober.answering = set(pods.values())
    c.alive.discard(victim)  # its agent dies; its containers run on
    for _ in range(15):  # 15 s: past node_timeout and evict_after
        c.clock.now += 1
        c.beat()
        c.o.reconcile_once()
    assert c.sdn.routes_now == before  # its pods still serve
    assert victim not in c.o.state.lost and len(c.agents.requests) == started  # nothing started twice
    assert c.o.node_view(victim).condition == "agent-unreachable"
    assert {(pods[name], ports[name]) for name in pods} <= set(prober.asked)  # each on its ready port
    # then its pods stop answering: out of the routes at once, the node lost after evict_after
    prober.answering = set()
    c.clock.now += 1
    c.beat()
    c.o.reconcile_once()
    assert all(not e.host.startswith(victim + "/") for r in c.sdn.routes_now.values() for e in r[2])
    for _ in range(11):
        c.clock.now += 1
        c.beat()
        c.settle(passes=1)
    assert victim in c.o.state.lost and c.o.node_view(victim).condition == "lost"
    assert victim not in {i.node for i in c.o.state.instances.values()}
