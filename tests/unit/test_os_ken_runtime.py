"""os-ken's OpenFlow runtime as the SDN daemon configures it: closed connections release their
threads, many switches connecting at once are all queued, an app's event loop never waits on its
own queue, and link discovery keeps pace with the number of ports."""

import socket
import threading
import time

import pytest

import os_ken.base.app_manager  # noqa: F401  before os-ken's controller module (circular imports)
from os_ken import cfg
from os_ken.base import app_manager
from os_ken.controller import controller, event, handler
from os_ken.controller.handler import set_ev_cls
from os_ken.lib import hub
import os_ken.topology.switches  # noqa: F401  registers its options before the configuration is parsed

from controller.sdn import os_ken_runtime


@pytest.fixture(scope="module", autouse=True)
def configured():
    cfg.CONF(args=[], project="os_ken")
    os_ken_runtime.configure(cfg.CONF)
    os_ken_runtime.configure(cfg.CONF)  # a second call changes nothing


def _connection(listener):
    switch = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    return switch, accepted


def test_a_closed_switch_connection_ends_its_threads_and_is_announced_dead():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    before = threading.active_count()
    states = []
    for i in range(5):
        switch, accepted = _connection(listener)
        served = threading.Thread(target=controller.datapath_connection_factory, args=(accepted, ("switch", i)),
                                  daemon=True)
        served.start()
        assert switch.recv(8)[1:2] == b"\x00"  # the controller's HELLO arrived (type 0)
        switch.close()
        served.join(5)
        states.append(served.is_alive())
    listener.close()
    assert states == [False] * 5  # serve() returned (unconfigured, it waits for ever on its send thread)
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before


def test_hundreds_of_switches_connecting_at_once_are_all_queued():
    listener = hub.listen(("127.0.0.1", 0))
    clients = []
    try:
        for _ in range(300):  # nobody accepts: a backlog of 50 drops the SYNs past it
            clients.append(socket.create_connection(listener.getsockname(), timeout=2))
    finally:
        for c in clients:
            c.close()
        listener.close()
    assert len(clients) == 300


def test_link_discovery_keeps_os_kens_pace_on_small_networks():
    assert os_ken_runtime.lldp_timing(40) == (0.05, 10.0)
    assert os_ken_runtime.lldp_timing(0) == (0.05, 10.0)


@pytest.mark.parametrize("ports", [400, 884, 3298, 20_000])
def test_on_big_networks_every_link_is_heard_from_well_within_its_timeout(ports):
    guard, timeout = os_ken_runtime.lldp_timing(ports)
    round_seconds = ports * guard  # each port gets one LLDP frame a round
    assert round_seconds <= max(os_ken_runtime.LLDP_ROUND, ports * os_ken_runtime.LLDP_MIN_GUARD) + 1e-9
    assert timeout >= 3 * round_seconds  # a link is not declared down while its frames still come
    assert guard >= os_ken_runtime.LLDP_MIN_GUARD


def test_the_daemon_configures_os_kens_link_discovery_for_its_network():
    from os_ken.topology.switches import Switches

    os_ken_runtime.configure(cfg.CONF, 3298)
    try:
        assert (Switches.LLDP_SEND_GUARD, Switches.LINK_TIMEOUT) == os_ken_runtime.lldp_timing(3298)
    finally:
        os_ken_runtime.configure(cfg.CONF, 0)
    assert (Switches.LLDP_SEND_GUARD, Switches.LINK_TIMEOUT) == (0.05, 10.0)


class Ping(event.EventBase):
    pass


class Burst(event.EventBase):
    pass


class Echoing(app_manager.OSKenApp):
    """An app whose handler queues more events for itself than its queue holds, as os-ken's link
    discovery does when it closes a switch's older connection under load."""

    def __init__(self):
        super().__init__()
        self.pings = 0
        self.all_heard = threading.Event()

    @set_ev_cls(Burst)
    def burst(self, ev):
        for _ in range(3 * self.events.maxsize):
            self._send_event(Ping(), None)

    @set_ev_cls(Ping)
    def ping(self, ev):
        self.pings += 1
        if self.pings == 3 * self.events.maxsize:
            self.all_heard.set()


def test_an_app_queueing_events_for_itself_past_its_queue_does_not_wait_for_itself():
    app = Echoing()
    handler.register_instance(app)
    app.start()
    try:
        app._send_event(Burst(), None)
        assert app.all_heard.wait(10), f"{app.pings} of {3 * app.events.maxsize} events handled: the loop waits"
    finally:
        app.stop()
    assert app._events_sem._value == app.events.maxsize  # every permit back: os-ken's backpressure intact


def test_each_apps_event_queue_has_room_for_every_switch():
    os_ken_runtime.configure(cfg.CONF, 3298, 754)
    try:
        app = Echoing()
        assert app.events.maxsize == 754 * os_ken_runtime.EVENTS_PER_SWITCH
        assert app._events_sem._value == app.events.maxsize
    finally:
        os_ken_runtime.configure(cfg.CONF, 0, 0)
    assert Echoing().events.maxsize == 128
