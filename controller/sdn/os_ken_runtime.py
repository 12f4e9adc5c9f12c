"""os-ken's OpenFlow runtime, configured for networks of hundreds of switches.

os-ken 4.2 on its native threading hub has six limits that a few hundred switches connecting at
once run into (found on Topology Zoo's Kdl, 754 switches: 335 stayed connected, the daemon had
12,700 threads and the listen queue overflowed 250,000 times; docs/emulation.md):

- a closed connection's send thread waits for ever on its empty queue, so `Datapath.serve` never
  returns: two threads and the Datapath leak per connection, and its DEAD state is never announced
  (the app never hears the switch went). The receive loop's end now wakes the send thread;
- the OpenFlow listen backlog is 50;
- a send that waits 5 s for a busy ovs-vswitchd (one thread for every bridge) drops the connection;
- each app's event queue holds 128 events; a connection thread that finds it full waits, and
  answers nothing meanwhile (not even the switch's echo requests, so the switch drops the
  connection). With hundreds of switches, a few events each fill it while the app computes:
  queues now hold EVENTS_PER_SWITCH events per switch;
- an app's event loop that sends an event to an app whose queue (128 events) is full waits for
  room; when that app is itself (os-ken's link discovery closes a switch's older connection from
  its handler, which queues the DEAD state for it), it waits for ever, and then every connection
  thread waits behind it. An event loop now never waits: what finds no room is queued by a
  helper thread that does;
- link discovery sends one LLDP frame every 50 ms, so each port gets one every ports x 50 ms (165 s
  on Kdl's 3,298 ports), yet a link not heard from for 10 s is declared down: on a big network
  every link went down again and again, and each time the routes were recomputed. The pace and
  the timeout now follow the number of ports (lldp_timing).
"""

from __future__ import annotations

import functools
import queue
import threading

LISTEN_BACKLOG = 4096      # the kernel clamps it to net.core.somaxconn
EVENTS_PER_SWITCH = 16     # room in each app's event queue (os-ken's 128 at least)
LLDP_ROUND = 20.0          # s to send every port an LLDP frame, once ports x os-ken's 50 ms exceed it
LLDP_MIN_GUARD = 0.002     # s between two LLDP frames at most (500 a second)
OS_KEN_GUARD, OS_KEN_LINK_TIMEOUT = 0.05, 10.0  # s, os-ken 4.2's Switches defaults
LINK_ROUNDS = 3            # a link is down when not heard from for this many rounds (and at least 10 s)
SOCKET_TIMEOUT = 60.0      # s a send may wait for the switch to read; receives just retry on it
_WAKE = (b"", True)        # an empty send with close_socket: the send loop sends nothing and ends
_in_event_loop = threading.local()  # .app: the app whose event loop this thread runs


def lldp_timing(ports: int, guard: float = OS_KEN_GUARD, timeout: float = OS_KEN_LINK_TIMEOUT) -> tuple[float, float]:
    """(seconds between two LLDP frames, seconds without LLDP before a link is down) for a network
    of `ports` switch ports: each port hears from its neighbour once a round of ports x guard, a
    round of at most LLDP_ROUND when the guard can shrink that far."""
    if ports > 0 and ports * guard > LLDP_ROUND:
        guard = max(LLDP_MIN_GUARD, LLDP_ROUND / ports)
    return guard, max(timeout, LINK_ROUNDS * ports * guard)


def configure(conf, ports: int = 0, switches: int = 0) -> None:
    """Apply the settings above to os-ken's configuration and modules, for a network of `ports`
    switch ports and `switches` switches (before the apps are instantiated)."""
    import os_ken.base.app_manager  # first: os-ken's controller module imports it circularly
    from os_ken.controller import controller
    from os_ken.lib import hub
    from os_ken.topology.switches import Switches

    conf.set_override("socket_timeout", SOCKET_TIMEOUT)
    Switches.LLDP_SEND_GUARD, Switches.LINK_TIMEOUT = lldp_timing(ports)
    if not getattr(hub.listen, "strata_backlog", False):
        hub.listen = functools.partial(hub.listen, backlog=LISTEN_BACKLOG)  # StreamServer looks it up per call
        hub.listen.strata_backlog = True
    receive = controller.Datapath._recv_loop
    if not getattr(receive, "strata_wakes_sender", False):
        controller.Datapath._recv_loop = _waking_sender(receive)
    app_class = os_ken.base.app_manager.OSKenApp
    app_class.strata_queue_size = max(128, EVENTS_PER_SWITCH * switches)
    if not getattr(app_class.__init__, "strata_sized_queue", False):
        app_class.__init__ = _sized_queue(app_class.__init__)
    if not getattr(app_class._send_event, "strata_never_waits_in_a_loop", False):
        app_class._event_loop = _marked_loop(app_class._event_loop)
        app_class._send_event = _never_waiting_in_a_loop(app_class._send_event)


def _waking_sender(receive):
    """The receive loop, then a wake-up for the send thread blocked on its queue."""

    @functools.wraps(receive)
    def recv_loop(datapath) -> None:
        try:
            receive(datapath)
        finally:
            wake_sender(datapath)

    recv_loop.strata_wakes_sender = True
    return recv_loop


def wake_sender(datapath) -> None:
    """Queue an empty, closing send unless the queue is full or gone (then the send thread is not
    waiting on it): the thread returns, `serve` returns, and os-ken announces the DEAD state."""
    sends = datapath.send_q
    if sends is not None and datapath._send_q_sem.acquire(blocking=False):
        try:
            sends.put_nowait(_WAKE)
        except queue.Full:  # full after all: the sender is busy and ends on the closed socket
            datapath._send_q_sem.release()


def _sized_queue(init):
    """OSKenApp.__init__, then an event queue of the configured size (and its semaphore)."""
    from os_ken.lib import hub

    @functools.wraps(init)
    def __init__(app, *args, **kwargs) -> None:
        init(app, *args, **kwargs)
        app.events = hub.Queue(app.strata_queue_size)
        app._events_sem = hub.BoundedSemaphore(app.strata_queue_size)

    __init__.strata_sized_queue = True
    return __init__


def _marked_loop(loop):
    """An app's event loop that marks its thread as such."""

    @functools.wraps(loop)
    def event_loop(app) -> None:
        _in_event_loop.app = app
        loop(app)

    return event_loop


def _never_waiting_in_a_loop(send):
    """os-ken's _send_event (wait for room in the app's queue, then queue), except in an event
    loop: there, with no room, a helper thread waits and queues instead."""
    from os_ken.lib import hub

    @functools.wraps(send)
    def send_event(app, ev, state) -> None:
        if getattr(_in_event_loop, "app", None) is None:
            send(app, ev, state)
        elif app._events_sem.acquire(blocking=False):
            app.events.put((ev, state))
        else:
            hub.spawn(send, app, ev, state)

    send_event.strata_never_waits_in_a_loop = True
    return send_event
