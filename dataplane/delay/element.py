"""The delay element process: frames read on one side of each spliced link leave the other side after the link's delay.

One process serves every delayed link of a network. It runs in a network namespace of its own
(unshared at start, held by nothing but the process): each spliced link has two interfaces in
it, the peers of the link's two ends, and when the process ends, however it ends, the namespace
goes and the kernel deletes those interfaces with their peers. Nothing is left behind.

Timing: each frame is stamped by the kernel when it reaches the element's interface
(SO_TIMESTAMPNS), so a late read does not lengthen its delay; the loop sleeps in select() on
the epoll of every socket (microsecond timeouts; epoll's own are whole milliseconds) until the
next frame is due. It asks for real-time scheduling (SCHED_FIFO, lowest priority): a link's
delay is then not stretched by whatever else the machine runs, as netem's would not be in the
kernel. Without the privilege it runs at normal priority and says so.

Control: JSON lines on stdin, one answer line on stdout each. End of stdin (the launcher closed
it, or died) ends the process.
  {"links": [{"a": IF, "b": IF, "delay_ms": D, "loss_percent": P, "rate_mbps": R}, ...]}
      serve these pairs: frames read on a leave on b after D ms, and the other way; each frame
      lost with probability P/100 in each direction; each direction's queue bounded from R
      (Mbit/s, 0 = unshaped) and D.
      -> {"ok": number of links served}
  {"stats": true} -> {"links": [{"a", "b", "a_to_b": counters, "b_to_a": counters}], where counters
      are frames accepted, sent, lost (at random), overflowed (queue full) and socket_drops
      (dropped by the kernel before the element read them),
      "send_errors": frames the kernel refused, "lateness_ms": {"<bound": departures}}
  anything else -> {"error": message}
At start it prints {"ready": true, "pid": PID, "realtime": bool} once its namespace exists.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import fcntl
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time

from dataplane.delay.queue import Departures, DelayLine, queue_bound

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23   # frames sent on the interface (by this socket too) are not read back
PACKET_STATISTICS = 6         # struct tpacket_stats {packets, drops}
PACKET_STATS = struct.Struct("II")
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35           # each frame's arrival time (CLOCK_REALTIME) as ancillary data
TIMESPEC = struct.Struct("qq")
ANCILLARY_BUFFER = 64
SOCKET_BUFFER = 4 * 1024 * 1024
FRAME_BUFFER = 65536          # offloads are off, so frames are at most the MTU; room for a stray big one
BATCH = 64                    # frames read from one socket before the departures are looked at again
REALTIME_PRIORITY = 1         # SCHED_FIFO's lowest: above every normal process, below the kernel's threads
LATENESS_BOUNDS_MS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, float("inf"))  # the lateness histogram's upper bounds
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
SIOCETHTOOL = 0x8946
IFF_UP, IFF_PROMISC = 0x1, 0x100
# ethtool's legacy set commands: tx/rx checksum, segmentation and receive offloads. TCP through
# the userspace datapath needs the checksums off; with receive offload (GRO) off, frames read stay
# MTU-sized (what the element sends on a raw socket is never segmented anyway).
ETHTOOL_OFFLOADS_OFF = (0x17, 0x15, 0x1f, 0x24, 0x2c)  # STXCSUM, SRXCSUM, STSO, SGSO, SGRO
NO_IPV6 = ("/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6")


class ElementError(Exception):
    """A request the element cannot carry out (no such interface, bad parameters)."""


def unshare_network() -> None:
    """Move this process into a new, unnamed network namespace whose interfaces send nothing of
    their own: no IPv6 (router solicitations, duplicate address detection) would leak into the links."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWNET): {os.strerror(code)}")
    for path in NO_IPV6:
        try:
            with open(path, "w") as f:
                f.write("1\n")
        except FileNotFoundError:  # a kernel without IPv6
            pass


def open_files_limit() -> None:
    """Raise this process's open files limit to its hard limit: two sockets per link (a big
    network's links pass the usual soft limit of 1,024)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def realtime() -> bool:
    """Ask for SCHED_FIFO; False when not allowed."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except OSError:
        return False
    return True


def prepare_interface(control: socket.socket, name: str) -> None:
    """Offloads off, then up and promiscuous (it forwards frames addressed to anyone)."""
    for command in ETHTOOL_OFFLOADS_OFF:
        value = ctypes.create_string_buffer(struct.pack("II", command, 0))
        try:
            fcntl.ioctl(control, SIOCETHTOOL, struct.pack("16sP", name.encode(), ctypes.addressof(value)))
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                raise ElementError(f"no interface {name!r} in the delay element's namespace") from None
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # an offload this driver lacks
                raise
    request = struct.pack("16sH", name.encode(), 0)
    flags = struct.unpack_from("H", fcntl.ioctl(control, SIOCGIFFLAGS, request), 16)[0]
    fcntl.ioctl(control, SIOCSIFFLAGS, struct.pack("16sH", name.encode(), flags | IFF_UP | IFF_PROMISC))


def open_socket(name: str) -> socket.socket:
    """A non-blocking raw socket reading every frame that arrives on `name`, stamped with its
    arrival time, never those sent on it."""
    # protocol 0 at creation, ETH_P_ALL at bind: a socket created with a protocol already listens on
    # every interface, and binding it to one then waits for an RCU grace period (about 20 ms a socket)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((name, ETH_P_ALL))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclasses.dataclass
class Link:
    """A spliced link: its two interfaces here and their sockets."""

    a: str
    b: str
    sock_a: socket.socket
    sock_b: socket.socket
    socket_drops: list[int] = dataclasses.field(default_factory=lambda: [0, 0])  # frames the kernel dropped
    # before the element read them (its receive buffer full), on sock_a and on sock_b

    def count_drops(self) -> list[int]:
        """Add what the kernel dropped since the last call (PACKET_STATISTICS resets when read)."""
        for k, sock in enumerate((self.sock_a, self.sock_b)):
            if sock.family == socket.AF_PACKET:
                self.socket_drops[k] += PACKET_STATS.unpack(sock.getsockopt(SOL_PACKET, PACKET_STATISTICS,
                                                                            PACKET_STATS.size))[1]
        return self.socket_drops


class Element:
    """The event loop over every link's two sockets and the control channel."""

    def __init__(self, control_in: int, control_out):
        self.control_in, self.control_out = control_in, control_out
        self.departures = Departures()
        self.links: list[Link] = []
        self.readers: dict[int, tuple[socket.socket, int]] = {}   # fd -> (its socket, the line its frames join)
        self.senders: dict[int, socket.socket] = {}               # line -> the socket its frames leave by
        self.send_errors = 0
        self.lateness = [0] * len(LATENESS_BOUNDS_MS)   # departures by how late the first frame due left
        self.poller = select.epoll()
        self.poller.register(control_in, select.EPOLLIN)
        self.ioctl_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.pending = b""

    def add_links(self, specs: list[dict]) -> int:
        """Serve these links (the control request's entries); the number served in all."""
        for spec in specs:
            a, b = str(spec["a"]), str(spec["b"])
            delay_ms = float(spec.get("delay_ms", 0.0))
            loss = float(spec.get("loss_percent", 0.0)) / 100
            bound = queue_bound(float(spec.get("rate_mbps", 0.0)), delay_ms)
            lines = [DelayLine(delay_ms / 1e3, loss, bound)
                     for _ in range(2)]   # raises ValueError on a bad delay or loss, before any change
            for name in (a, b):
                prepare_interface(self.ioctl_socket, name)
            self.attach(Link(a, b, open_socket(a), open_socket(b)), lines)
        return len(self.links)

    def attach(self, link: Link, lines: list[DelayLine]) -> None:
        """Serve a link whose sockets are open: frames read on sock_a join lines[0] and leave by
        sock_b, those read on sock_b join lines[1] and leave by sock_a."""
        key = 2 * len(self.links)
        for k, (sock_in, sock_out) in enumerate(((link.sock_a, link.sock_b), (link.sock_b, link.sock_a))):
            self.departures.add(key + k, lines[k])
            self.readers[sock_in.fileno()] = (sock_in, key + k)
            self.senders[key + k] = sock_out
            self.poller.register(sock_in.fileno(), select.EPOLLIN)
        self.links.append(link)

    def stats(self) -> dict:
        lines = self.departures.lines
        return {"links": [{"a": link.a, "b": link.b,
                           "a_to_b": {**dataclasses.asdict(lines[2 * k].counters), "socket_drops": drops[0]},
                           "b_to_a": {**dataclasses.asdict(lines[2 * k + 1].counters), "socket_drops": drops[1]}}
                          for k, link in enumerate(self.links) for drops in [link.count_drops()]],
                "send_errors": self.send_errors,
                "lateness_ms": {f"<{bound:g}": count for bound, count in zip(LATENESS_BOUNDS_MS, self.lateness)}}

    def answer(self, request: dict) -> dict:
        try:
            if "links" in request:
                return {"ok": self.add_links(request["links"])}
            if request.get("stats"):
                return self.stats()
            return {"error": f"unknown request {sorted(request)}"}
        except (ElementError, KeyError, TypeError, ValueError, OSError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}

    def control(self) -> bool:
        """Answer every complete request line; False at end of input."""
        data = os.read(self.control_in, 1 << 16)
        if not data:
            return False
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            if line.strip():
                try:
                    reply = self.answer(json.loads(line))
                except (json.JSONDecodeError, AttributeError) as exc:   # not JSON, or not an object
                    reply = {"error": f"not a JSON object: {exc}"}
                self.control_out.write(json.dumps(reply) + "\n")
                self.control_out.flush()
        return True

    def receive(self, sock: socket.socket, line: int) -> None:
        """Up to BATCH frames waiting on `sock` onto `line`, each stamped with its arrival."""
        enqueue, clock = self.departures.enqueue, time.monotonic
        offset = time.time_ns() - time.monotonic_ns()   # realtime stamps to the monotonic clock
        for _ in range(BATCH):
            try:
                frame, ancillary, _, _ = sock.recvmsg(FRAME_BUFFER, ANCILLARY_BUFFER)
            except BlockingIOError:
                return
            arrived = read = clock()
            for _, kind, data in ancillary:
                if kind == SO_TIMESTAMPNS:   # never later than the read (the two clocks' offset may drift)
                    sec, nsec = TIMESPEC.unpack_from(data)
                    arrived = min(read, (sec * 1_000_000_000 + nsec - offset) / 1e9)
            enqueue(line, frame, arrived)

    def send_due(self) -> None:
        """Send every frame due by now, and note how late the first one is."""
        now = time.monotonic()
        due = self.departures.next_due()
        if due is None or due > now:
            return
        late_ms = (now - due) * 1e3
        self.lateness[next(k for k, bound in enumerate(LATENESS_BOUNDS_MS) if late_ms < bound)] += 1
        for line, frames in self.departures.pop_due(now):
            send = self.senders[line].send
            for frame in frames:
                try:
                    send(frame)
                except OSError:   # the peer's queue is full (ENOBUFS), or it went away
                    self.send_errors += 1

    def run(self) -> None:
        """Until the control channel ends."""
        departures, readers, poll = self.departures, self.readers, self.poller.poll
        epoll_fd = [self.poller.fileno()]
        while True:
            due = departures.next_due()
            timeout = None if due is None else max(0.0, due - time.monotonic())
            if select.select(epoll_fd, (), (), timeout)[0]:
                for fd, _ in poll(0):
                    if fd != self.control_in:
                        self.receive(*readers[fd])
                    elif not self.control():
                        return
            self.send_due()


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        unshare_network()
    except OSError as exc:
        sys.stderr.write(f"strata delay element: cannot start: {exc} (root needed)\n")
        return 1
    open_files_limit()
    element = Element(sys.stdin.fileno(), sys.stdout)
    sys.stdout.write(json.dumps({"ready": True, "pid": os.getpid(), "realtime": realtime()}) + "\n")
    sys.stdout.flush()
    element.run()
    return 0
