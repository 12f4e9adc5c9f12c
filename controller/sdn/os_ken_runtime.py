"""os-ken's OpenFlow runtime, configured for networks of hundreds of switches.

os-ken 4.2 on its native threading hub has three limits that a few hundred switches connecting at
once run into (measured on Topology Zoo's Kdl, 754 switches: 335 connected, the daemon had 12,700
threads and the listen queue overflowed 250,000 times):

- a closed connection's send thread waits for ever on its empty queue, so `Datapath.serve` never
  returns: two threads and the Datapath leak per connection, and its DEAD state is never announced
  (the app never hears the switch went). The receive loop's end now wakes the send thread;
- the OpenFlow listen backlog is 50;
- a send that waits 5 s for a busy ovs-vswitchd (one thread for every bridge) drops the connection.
"""

from __future__ import annotations

import functools
import queue

LISTEN_BACKLOG = 4096      # the kernel clamps it to net.core.somaxconn
SOCKET_TIMEOUT = 60.0      # s a send may wait for the switch to read; receives just retry on it
_WAKE = (b"", True)        # an empty send with close_socket: the send loop sends nothing and ends


def configure(conf) -> None:
    """Apply the settings above to os-ken's configuration and modules (once per process)."""
    import os_ken.base.app_manager  # noqa: F401  first: os-ken's controller module imports it circularly
    from os_ken.controller import controller
    from os_ken.lib import hub

    conf.set_override("socket_timeout", SOCKET_TIMEOUT)
    if not getattr(hub.listen, "strata_backlog", False):
        hub.listen = functools.partial(hub.listen, backlog=LISTEN_BACKLOG)  # StreamServer looks it up per call
        hub.listen.strata_backlog = True
    receive = controller.Datapath._recv_loop
    if not getattr(receive, "strata_wakes_sender", False):
        controller.Datapath._recv_loop = _waking_sender(receive)


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
