"""Builds a TopologySpec in Mininet on Open vSwitch (userspace datapath), and tears it down at any moment.

Teardown never talks to a node's shell (Mininet's own net.stop() does, and blocks for ever on a
shell that died): it kills the shells' process groups, deletes the spec's bridges in one OVSDB
transaction (split only if the command line gets long) and the link interfaces left in the root
namespace in one `ip -batch`, every call with a timeout. What to run is computed by pure
functions from the spec and what is found on the machine.

Links with a delay or a loss are spliced through the delay element (dataplane/delay), one process
for the network, started with it and stopped first; the others stay plain veth pairs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial

from dataplane.delay.launcher import DelayedLink, DelayElement
from topologies.spec import TopologySpec

log = logging.getLogger("strata.network")
OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
HOST_PREFIX_LEN = 16          # every host's address is configured as a /16
OVSDB_TIMEOUT = 10            # s, ovs-vsctl's own limit on reaching the database and committing
VSWITCHD_GRACE = 5.0          # s to wait for ovs-vswitchd to remove the deleted bridges' own interfaces
COMMAND_TIMEOUT = 15.0        # s, any external command of the teardown
SECONDS_PER_INTERFACE = 0.02  # s added to an `ip -batch` timeout per interface it deletes
TEARDOWN_GROUP = 0x57A7_0000   # | (pid & 0xFFFF): the device group a teardown gathers its interfaces in
INACTIVITY_PROBE_MS = 30_000  # OVS's 5 s default drops a controller that is busy for 10 s (a big network's first pass)
MAX_COMMAND_CHARS = 32 * 1024  # one ovs-vsctl command line (far below ARG_MAX; keeps a transaction modest)
STEP_PATIENCE = 5.0           # s a build step may hold back an interrupt before it takes effect inside it
REAP_SECONDS = 3.0            # s to wait for killed shells to be reaped
SHELL_TAG = "mininet:"        # Mininet starts each node's shell as `bash ... -is mininet:<node>`
PROGRESS_SECONDS = 10.0       # a long launch says how far it is this often
THIS_MACHINE = "localhost"   # the server a launch runs on (Mininet's cluster edition's name for it)
SECONDS_PER_HOP = 0.15        # a sampled ping's extra wait per switch on its path (Kdl: ~30 ms a switch each way)


def shaping_batch(interfaces: Iterable[tuple[str, float]]) -> str:
    """`tc -batch` input shaping each (interface, Mbit/s) with an HTB class, as Mininet's TCLink
    does one command at a time: a launch sends each namespace its whole set at once."""
    lines = []
    for name, mbps in interfaces:
        lines += [f"qdisc add dev {name} root handle 5:0 htb default 1",
                  f"class add dev {name} parent 5:0 classid 5:1 htb rate {mbps:f}Mbit burst 15k"]
    return "\n".join(lines) + ("\n" if lines else "")


def sample_pairs(hosts: list[str], count: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` distinct ordered pairs of distinct hosts, chosen at random (reproducibly by seed);
    every pair when there are no more than that."""
    import random

    every = len(hosts) * (len(hosts) - 1)
    if count <= 0 or every == 0:
        return []
    if count >= every:
        return [(a, b) for a in hosts for b in hosts if a != b]
    rng = random.Random(seed)
    chosen: dict[tuple[str, str], None] = {}
    while len(chosen) < count:
        a, b = rng.sample(hosts, 2)
        chosen[(a, b)] = None
    return list(chosen)


TCP_PORT = 5599
TCP_LISTEN = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
s.settimeout(float(sys.argv[2]))
c, _ = s.accept()
c.sendall(c.recv(1))
"""
TCP_CONNECT = """
import socket, sys, time
for _ in range(40):  # until the listener is up
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
        break
    except ConnectionRefusedError:
        time.sleep(0.05)
else:
    sys.exit(1)
c.sendall(b"x")
print(c.recv(1) == b"x")
"""


def tcp_reachable(src, dst, timeout: float) -> bool:
    """A TCP connection from host src to a one-shot listener on dst carries a byte each way."""
    import shlex

    server = dst.popen(["python3", "-c", TCP_LISTEN, str(TCP_PORT), str(timeout + 3)])
    try:
        answer = src.cmd(f"python3 -c {shlex.quote(TCP_CONNECT)} {dst.IP()} {TCP_PORT} {timeout:g}")
        return answer.strip().endswith("True")
    finally:
        server.kill()
        server.wait()


def spec_topo(spec: TopologySpec, servers: dict[str, str] | None = None):
    """The spec as a Mininet Topo: its switches (with their datapath ids), hosts (addresses) and
    links, each with its bandwidth (`bw`, for the link classes that shape); with `servers`
    (node -> server), each node's server for Mininet's cluster edition."""
    from mininet.topo import Topo

    def where(node: str) -> dict:
        return {"server": servers[node]} if servers is not None else {}

    class SpecTopo(Topo):
        def build(self):
            for sw in spec.switches:
                self.addSwitch(sw, dpid=f"{spec.dpid(sw):016x}", **where(sw))
            for h in spec.hosts:
                self.addHost(h.name, ip=f"{h.ip}/{HOST_PREFIX_LEN}", mac=h.mac, **where(h.name))
            for link in spec.links:
                self.addLink(link.a, link.b, bw=link.bandwidth_mbps, **delay_params(link.delay_ms, link.loss_percent))
            for h in spec.hosts:
                self.addLink(h.name, h.switch, **({"bw": h.access_mbps} if h.access_mbps else {}),
                             **delay_params(*access_delay(h)))

    return SpecTopo()


def access_delay(host) -> tuple[float, float]:
    """A host's access link's one-way delay (ms) and loss (%): 0, 0 for a spec without them."""
    return getattr(host, "access_delay_ms", 0.0), getattr(host, "access_loss_percent", 0.0)


def delay_params(delay_ms: float, loss_percent: float) -> dict:
    """A link's parameters for the delay element: none for a link with neither delay nor loss, which
    stays a plain veth pair."""
    if delay_ms < 0 or not 0 <= loss_percent <= 100:
        raise ValueError(f"a link's delay ({delay_ms} ms) or loss ({loss_percent} %) is out of range")
    return {"delay_ms": delay_ms, "loss_percent": loss_percent} if delay_ms > 0 or loss_percent > 0 else {}


def delayed_link_count(spec: TopologySpec) -> int:
    """How many of the spec's links (switch links and hosts' access links) go through the delay element."""
    return (sum(1 for link in spec.links if delay_params(link.delay_ms, link.loss_percent))
            + sum(1 for h in spec.hosts if delay_params(*access_delay(h))))


def runtime_topology(net, spec: TopologySpec) -> dict:
    """The spec with the OpenFlow port numbers of a Mininet network built from it, for the SDN
    controller."""
    links = []
    for link in spec.links:
        a, b = net.get(link.a), net.get(link.b)
        intf_a, intf_b = a.connectionsTo(b)[0]
        links.append({"a": link.a, "a_port": a.ports[intf_a], "b": link.b, "b_port": b.ports[intf_b],
                      "bandwidth_mbps": link.bandwidth_mbps, "delay_ms": link.delay_ms})
    hosts = []
    for h in spec.hosts:
        node, sw = net.get(h.name), net.get(h.switch)
        _, intf_sw = node.connectionsTo(sw)[0]
        hosts.append({"name": h.name, "ip": h.ip, "mac": h.mac, "switch": h.switch, "port": sw.ports[intf_sw],
                      "role": h.role, "access_mbps": h.access_mbps, "access_delay_ms": access_delay(h)[0]})
    return {"name": spec.name, "switches": [{"name": s, "dpid": spec.dpid(s)} for s in spec.switches],
            "links": links, "hosts": hosts}


def switch_hops(spec: TopologySpec, pairs: list[tuple[str, str]]) -> list[int]:
    """The number of switches on the shortest path between each pair of hosts."""
    import networkx as nx

    graph = nx.Graph((link.a, link.b) for link in spec.links)
    graph.add_nodes_from(spec.switches)
    switch_of = {h.name: h.switch for h in spec.hosts}
    lengths: dict[str, dict[str, int]] = {}  # from each source switch, computed once
    hops = []
    for a, b in pairs:
        source = switch_of[a]
        if source not in lengths:
            lengths[source] = nx.single_source_shortest_path_length(graph, source)
        hops.append(lengths[source].get(switch_of[b], len(spec.switches) - 1) + 1)
    return hops


def sample_check(net, spec: TopologySpec, pairs: int, *, tcp_pairs: int = 3, seed: int = 0,
                 timeout: float = 2.0, out=print) -> float:
    """Ping `pairs` random host pairs of a Mininet network built from `spec` and open a TCP
    connection between a few of them (all pairs of a big network is millions of pings). Prints
    Mininet's lines and its summary, `Results: X% dropped (a/b received)`; returns the percentage
    dropped. Each pair waits `timeout` plus SECONDS_PER_HOP for each switch on its path: one
    ovs-vswitchd forwards for every bridge, and on a network of thousands of ports each switch
    adds tens of milliseconds (docs/emulation.md)."""
    names = [h.name for h in spec.hosts]
    chosen = sample_pairs(names, pairs, seed)
    waits = [timeout + SECONDS_PER_HOP * hops for hops in switch_hops(spec, chosen)]
    out(f"*** Ping: testing ping reachability of {len(chosen)} random host pairs (of "
        f"{len(names) * (len(names) - 1)}), TCP between {min(tcp_pairs, len(chosen))}")
    received = 0
    for (src, dst), wait in zip(chosen, waits):
        reply = net.get(src).cmd(f"ping -c1 -W {wait:.1f} {net.get(dst).IP()}")
        ok = " 0% packet loss" in reply
        received += ok
        out(f"{src} -> {dst if ok else 'X'}")
    connected = 0
    for (src, dst), wait in list(zip(chosen, waits))[:tcp_pairs]:
        ok = tcp_reachable(net.get(src), net.get(dst), wait)
        connected += ok
        out(f"{src} -> {dst} tcp {'ok' if ok else 'X'}")
    total = len(chosen) + min(tcp_pairs, len(chosen))
    got = received + connected
    dropped = 100.0 * (total - got) / total if total else 0.0
    out(f"*** Results: {dropped:.0f}% dropped ({got}/{total} received)")
    return dropped


def ensure_ovs() -> None:
    """Start Open vSwitch if it is not running (the kernel module is not needed: userspace datapath)."""
    if shutil.which("ovs-vsctl") is None:
        raise RuntimeError("Open vSwitch is not installed: run `make setup` (or apt-get install openvswitch-switch)")
    if subprocess.run(["ovs-vsctl", "--timeout=3", "show"], capture_output=True).returncode == 0:
        return
    result = subprocess.run([OVS_CTL, "start", "--system-id=random"], capture_output=True, text=True)
    if subprocess.run(["ovs-vsctl", "--timeout=5", "show"], capture_output=True).returncode != 0:
        raise RuntimeError(f"could not start Open vSwitch: {result.stderr.strip() or result.stdout.strip()}")


# ------------------------------------------------------------------------------------------------
# the teardown plan (pure)

@dataclass(frozen=True)
class Command:
    """An external command of the teardown: argv, what it reads on stdin, and its time limit (s)."""

    argv: tuple[str, ...]
    stdin: str | None = None
    timeout: float = COMMAND_TIMEOUT


def node_names(spec: TopologySpec) -> set[str]:
    return set(spec.switches) | {h.name for h in spec.hosts}


def interface_names(spec: TopologySpec) -> list[str]:
    """Both ends of every link, as Mininet names them: <node>-eth<N>. A switch's ports are numbered
    1..degree and a host's 0..degree-1 whatever the order the links are made in."""
    degree: Counter[str] = Counter()
    for link in spec.links:
        degree[link.a] += 1
        degree[link.b] += 1
    for h in spec.hosts:
        degree[h.name] += 1
        degree[h.switch] += 1
    names = [f"{sw}-eth{k}" for sw in spec.switches for k in range(1, degree[sw] + 1)]
    return names + [f"{h.name}-eth{k}" for h in spec.hosts for k in range(degree[h.name])]


def is_link_interface(name: str, nodes: set[str]) -> bool:
    """<node>-eth<digits> for a node of the spec: one end of a link, possibly half-created."""
    node, sep, number = name.rpartition("-eth")
    return bool(sep) and number.isdigit() and node in nodes


def shell_node(argv: list[str]) -> str | None:
    """The node a Mininet shell serves (its command line ends with mininet:<node>), else None."""
    if len(argv) >= 2 and argv[0].endswith("bash") and argv[-1].startswith(SHELL_TAG):
        return argv[-1][len(SHELL_TAG):]
    return None


def shells_to_kill(processes: dict[int, tuple[int, list[str]]], parent: int, nodes: set[str]) -> list[int]:
    """Of the processes (pid -> (parent pid, argv)), the Mininet shells of these nodes that `parent`
    started. Each leads its own process group (mnexec -d makes it a session leader)."""
    return sorted(pid for pid, (ppid, argv) in processes.items() if ppid == parent and shell_node(argv) in nodes)


def ssh_children(processes: dict[int, tuple[int, list[str]]], parent: int) -> list[int]:
    """Of the processes, the SSH clients `parent` started (directly or through sudo): the shells of
    nodes on other servers and the tunnels between servers. Each leads its own process group."""
    return sorted(pid for pid, (ppid, argv) in processes.items()
                  if ppid == parent and argv[:1] in (["ssh"], ["sudo"]) and "ssh" in argv)


def bridge_commands(bridges: Iterable[str], max_chars: int = MAX_COMMAND_CHARS) -> list[Command]:
    """`ovs-vsctl --no-wait -- --if-exists del-br A -- --if-exists del-br B ...`: one transaction per
    command line of at most max_chars. The bridges leave the database at once; ovs-vswitchd then
    removes their ports and interfaces at its own pace (about 16 ms a port on the userspace datapath)."""
    head = ("ovs-vsctl", f"--timeout={OVSDB_TIMEOUT}", "--no-wait")
    commands: list[Command] = []
    argv, chars = list(head), sum(len(a) + 1 for a in head)
    for bridge in bridges:
        part = ["--", "--if-exists", "del-br", bridge]
        size = sum(len(a) + 1 for a in part)
        if len(argv) > len(head) and chars + size > max_chars:
            commands.append(Command(tuple(argv)))
            argv, chars = list(head), sum(len(a) + 1 for a in head)
        argv += part
        chars += size
    if len(argv) > len(head):
        commands.append(Command(tuple(argv)))
    return commands


def with_inactivity_probe(vsctl_args: str, probe_ms: int) -> str:
    """Mininet's ovs-vsctl arguments for a switch, its Controller records created with an
    inactivity probe: how long the switch waits for a silent controller before it probes it, and
    as long again for the answer before it drops the connection. Set at creation, the probe holds
    from the switch's first connection (the launch is when the controller is busiest)."""
    return vsctl_args.replace("create Controller ", f"create Controller inactivity_probe={probe_ms} ")


def interface_command(interfaces: Iterable[str], nodes: set[str], group: int) -> Command | None:
    """`ip -force -batch -` deleting the spec's link interfaces among those present in the root
    namespace in one go: it puts them in device group `group`, then deletes the group (the kernel
    then unregisters them in one batch: about 0.3 ms each instead of 20 ms one by one). Deleting
    one end of a veth deletes the other."""
    if group <= 0:  # `ip link delete group 0` would delete every interface of the namespace
        raise ValueError(f"device group {group} is not a private one")
    doomed = sorted(name for name in interfaces if is_link_interface(name, nodes))
    if not doomed:
        return None
    script = "".join(f"link set dev {name} group {group}\n" for name in doomed) + f"link delete group {group}\n"
    return Command(("ip", "-force", "-batch", "-"), script, COMMAND_TIMEOUT + SECONDS_PER_INTERFACE * len(doomed))


# ------------------------------------------------------------------------------------------------
# running it (adapters)

def _processes() -> dict[int, tuple[int, list[str]]]:
    """Every process: pid -> (parent pid, argv)."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")[:-1]
        except OSError:  # it ended meanwhile
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])  # after "(comm) state"
        out[int(entry.name)] = (ppid, argv)
    return out


def _root_interfaces() -> list[str]:
    """Names of the interfaces of this network namespace."""
    try:
        done = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        return [link["ifname"] for link in json.loads(done.stdout or "[]")]
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        log.warning("cannot list the network interfaces: %s", exc)
        return []


def _await_removal(interfaces: set[str], seconds: float) -> None:
    """Wait until none of these interfaces is in the root namespace, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while left := interfaces.intersection(_root_interfaces()):
        if time.monotonic() >= deadline:
            log.info("ovs-vswitchd is still removing %d deleted bridges; they go by themselves", len(left))
            return
        time.sleep(0.1)


def _run(command: Command) -> bool:
    try:
        done = subprocess.run(command.argv, input=command.stdin, capture_output=True, text=True,
                              timeout=command.timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not finish within %.0f s", command.argv[0], command.timeout)
        return False
    except OSError as exc:
        log.warning("cannot run %s: %s", command.argv[0], exc)
        return False
    # `ip -force` reports interfaces that went meanwhile (with their namespace) as errors
    return done.returncode == 0 or command.argv[0] == "ip"


def _kill_groups(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + REAP_SECONDS
    waiting = set(pids)
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    waiting.discard(pid)
            except ChildProcessError:  # reaped already
                waiting.discard(pid)
        if waiting:
            time.sleep(0.01)
    if waiting:
        log.warning("%d killed shell(s) not reaped within %.0f s", len(waiting), REAP_SECONDS)


def _release(net) -> None:
    """Forget the nodes' shells (dead now): reap those killed by someone else, close their terminals."""
    from mininet.node import Node

    for node in [*net.hosts, *net.switches]:
        if node.shell is None:
            continue
        if isinstance(node.shell, subprocess.Popen):
            node.shell.poll()
        with contextlib.suppress(OSError, ValueError):
            fd = node.stdin.fileno()
            Node.inToNode.pop(fd, None)
            Node.outToNode.pop(fd, None)
            node.stdin.close()
        with contextlib.suppress(OSError):
            os.close(node.slave)
        node.shell = None


DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _deliver(handler, signum: int, frame) -> None:
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


@contextlib.contextmanager
def interrupts_after(patience: float | None):
    """SIGINT and SIGTERM arriving inside the block take effect when it ends (their handler runs
    then), so that an interrupt lands between two steps, never inside one. With a patience (s), a
    second signal, or the block running that long with a signal pending (a step stuck on a dead
    shell), makes it take effect at once. Does nothing outside the main thread (Python runs
    signal handlers in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    started = time.monotonic()
    pending: list[tuple[int, object]] = []
    timers: list[threading.Timer] = []
    previous = {sig: signal.getsignal(sig) for sig in DEFERRED_SIGNALS}
    previous = {sig: h for sig, h in previous.items() if h is not None}  # installed outside Python: left alone

    def note(signum, frame):
        if patience is not None and (pending or time.monotonic() - started > patience):
            pending.clear()  # this one takes effect now, and stands for those noted before
            _deliver(previous[signum], signum, frame)
            return
        pending.append((signum, frame))
        if patience is not None:  # signal again once the patience is over: a real signal ends a blocked wait
            timer = threading.Timer(max(0.0, patience - (time.monotonic() - started)), signal.pthread_kill,
                                    (threading.main_thread().ident, signum))
            timer.daemon = True
            timers.append(timer)
            timer.start()

    for sig in previous:
        signal.signal(sig, note)
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            signum, frame = pending[0]
            _deliver(previous[signum], signum, frame)


@dataclass
class RemoteControllerTarget:
    """The OpenFlow controller the switches connect to, as Mininet's switches need it. Unlike
    mininet.node.RemoteController it has no shell: it runs elsewhere, there is nothing to start."""

    name: str
    ip: str
    port: int
    protocol: str = "tcp"

    def IP(self) -> str:  # noqa: N802 (Mininet's name)
        return self.ip

    def start(self) -> None:
        """Mininet starts every controller with the network; this one runs already."""

    def stop(self) -> None:
        """Nor is it stopped with the network."""


class LaunchProgress:
    """How far a launch is: nodes and links created, hosts configured, or what it waits for. A
    thread prints it every `every` seconds while the launch runs (including inside one long call),
    so a launch done within that prints nothing."""

    def __init__(self, spec: TopologySpec, out=None, every: float = PROGRESS_SECONDS):
        self.out, self.every = out, every
        self.totals = {"switches": len(spec.switches), "hosts": len(spec.hosts),
                       "links": len(spec.links) + len(spec.hosts), "hosts configured": len(spec.hosts)}
        self.counts: Counter[str] = Counter()
        self.doing = ""
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self, what: str) -> None:
        """One more of `what` (a key of totals) is done."""
        self.counts[what] += 1

    def phase(self, doing: str) -> None:
        """Now doing something not counted step by step (say what it waits for)."""
        self.doing = doing

    def line(self) -> str:
        if self.doing:
            return self.doing
        done = [f"{self.counts[k]}/{n} {k}" for k, n in self.totals.items()
                if self.counts[k] or k != "hosts configured"]  # configuring starts once all is created
        return "created " + ", ".join(done)

    def __enter__(self) -> "LaunchProgress":
        self._stop.clear()
        if self.out is not None:
            self._thread = threading.Thread(target=self._report, name="launch-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _report(self) -> None:
        while not self._stop.wait(self.every):
            self.out(f"  network: {self.line()} ({time.monotonic() - self.started:.0f} s)")


def spliced_link_class(element: DelayElement | None):
    """Mininet's link class for a network whose delayed links go through `element`: a link given
    delay_ms or loss_percent (delay_params) becomes two veth pairs, node1's end <-> a peer of the
    same name in the element's namespace, and likewise for node2; other links stay one veth pair.
    The nodes' interfaces are named and configured as Mininet's; the element serves the pairs
    once given them (EdgeNetwork.build)."""
    from mininet.link import Link

    class SplicedLink(Link):
        def __init__(self, node1, node2, *args, delay_ms: float = 0.0, loss_percent: float = 0.0, **params):
            self.delayed: DelayedLink | None = None
            if delay_ms > 0 or loss_percent > 0:
                if element is None:
                    raise RuntimeError("a delayed link needs the delay element")
                self.delayed = DelayedLink("", "", delay_ms, loss_percent, params.get("bw") or 0.0)
            super().__init__(node1, node2, *args, **params)
            if self.delayed is not None:
                self.delayed = replace(self.delayed, a=self.intf1.name, b=self.intf2.name)

        def makeIntfPair(self, intfname1, intfname2, addr1=None, addr2=None, node1=None, node2=None,  # noqa: N802
                         deleteIntfs=True):  # noqa: N803  (Mininet's names)
            if self.delayed is None:
                return super().makeIntfPair(intfname1, intfname2, addr1, addr2, node1, node2, deleteIntfs)
            for node, name, addr in ((node1, intfname1, addr1), (node2, intfname2, addr2)):
                splice(node, name, addr, element.pid)
            return None

    return SplicedLink


def splice(node, name: str, addr: str | None, element_pid: int) -> None:
    """A node's end of a delayed link: interface `name` of the node, whose veth peer of the same name
    is in the delay element's namespace (element_pid: the element's process, on the node's server)."""
    address = f"address {addr} " if addr else ""
    out = node.cmd(f"ip link add name {name} {address}type veth peer name {name} netns {element_pid}")
    if out.strip():
        raise RuntimeError(f"cannot splice {name} to the delay element: {out.strip()}")


def _stepwise_mininet(progress: LaunchProgress):
    """Mininet whose every node and link is created as one step an interrupt never lands inside,
    each counted in `progress`."""
    from mininet.net import Mininet

    class StepwiseMininet(Mininet):
        def addHost(self, name, cls=None, **params):  # noqa: N802
            with interrupts_after(STEP_PATIENCE):
                host = super().addHost(name, cls, **params)
            progress.step("hosts")
            return host

        def addSwitch(self, name, cls=None, **params):  # noqa: N802
            with interrupts_after(STEP_PATIENCE):
                switch = super().addSwitch(name, cls, **params)
            progress.step("switches")
            return switch

        def addLink(self, node1, node2, port1=None, port2=None, cls=None, **params):  # noqa: N802
            with interrupts_after(STEP_PATIENCE):
                link = super().addLink(node1, node2, port1, port2, cls, **params)
            progress.step("links")
            return link

        def configHosts(self):  # noqa: N802  Mininet's, counted host by host
            for host in self.hosts:
                host.configDefault(**({} if host.defaultIntf() else {"ip": None, "mac": None}))
                progress.step("hosts configured")

    return StepwiseMininet


class EdgeNetwork:
    """A Mininet network for a spec: build(), then start(); as a context manager it is built on
    entry and always torn down on exit. stop() works at any moment (during build or start too,
    and when parts of the network are gone already), within seconds, leaving nothing behind.

    Names are the spec's (bridges, interfaces, shells): one network per spec on a machine.

    With `split` (topologies.split), the network is spread over servers with Mininet's cluster
    edition (dataplane.cluster): the first server is this machine, the others are reached over
    SSH (root, or sudo without a password), each running its own Open vSwitch; links between
    servers are SSH tunnels. The controller's address must then be one every server reaches.
    Each server with delayed links runs its own delay element (over SSH on the others); a delayed
    link between servers is spliced into the element of the server its tunnel starts from."""

    def __init__(self, spec: TopologySpec, *, controller: tuple[str, int] = ("127.0.0.1", 6653), progress=None,
                 split=None):
        self.spec = spec
        self.controller = controller
        self.split = split  # a topologies.split.Split, or None: everything on this machine
        self.servers: dict[str, str] = {}  # node -> its server, as the cluster edition names it (master: localhost)
        self.server_ips: dict[str, str] = {}  # each other server's address
        self.progress = LaunchProgress(spec, progress)  # `progress(text)` hears how a long launch goes
        self.net = None
        self._may_have_bridges = False  # start() began: switches may have created their bridges
        # server -> the delay element serving the delayed links there (THIS_MACHINE: here); none without them
        self.delay_elements: dict[str, DelayElement] = {}
        self.teardown_seconds: float | None = None  # how long the last stop() took

    @property
    def delay_element(self) -> DelayElement | None:
        """The delay element of this machine, or None."""
        return self.delay_elements.get(THIS_MACHINE)

    def bridge_names(self) -> list[str]:
        """The OVS bridges this network creates (one per switch)."""
        return list(self.spec.switches)

    def _here(self, node: str) -> bool:
        """The node runs on this machine."""
        return not self.split or self.servers[node] == THIS_MACHINE

    def interface_names(self) -> list[str]:
        """Both ends of every link of this network."""
        return interface_names(self.spec)

    def build(self) -> "EdgeNetwork":
        """Create hosts, switches and links (OpenFlow port numbers are known from here on). If it
        fails or is interrupted, what it created is torn down."""
        from mininet.log import setLogLevel
        from mininet.node import OVSSwitch

        setLogLevel("critical")  # tc's HTB "quantum is big" warnings are logged as errors
        ensure_ovs()
        spec = self.spec

        class ProbedOVSSwitch(OVSSwitch):
            def vsctl(self, *args, **kwargs):  # Mininet's, with the controller's probe set at creation
                return super().vsctl(*(with_inactivity_probe(str(a), INACTIVITY_PROBE_MS) for a in args), **kwargs)

        # batch: every bridge and port in a few ovs-vsctl transactions (one per switch is slow)
        switch = partial(ProbedOVSSwitch, datapath="user", protocols="OpenFlow13", failMode="secure", batch=True)
        classes = {}
        if self.split:
            classes = self._cluster_classes()
            switch = classes.pop("switch")
        host_ip, port = self.controller
        try:
            if delayed_link_count(spec) and not self.split:  # it must exist before links are spliced into it
                self.delay_elements[THIS_MACHINE] = DelayElement().start()

            # Known to stop() before anything exists, so that whatever build creates is torn down.
            # plain links, shaped afterwards in one tc batch per namespace (_shape): Mininet's TCLink
            # runs a shell command per setting, and again for every port a switch adds
            classes = {"link": spliced_link_class(self.delay_element), **classes}
            self.net = _stepwise_mininet(self.progress)(topo=spec_topo(spec, self.servers if self.split else None),
                                                        switch=switch, **classes, controller=None, autoSetMacs=False,
                                                        autoStaticArp=False, waitConnected=False, build=False)
            self.net.controllers.append(RemoteControllerTarget("c0", host_ip, port))
            with self.progress:
                self.net.build()
                for server, element in self.delay_elements.items():
                    self.progress.phase("the delay element takes its links")
                    element.add_links([link.delayed for link in self.net.links
                                       if link.delayed and getattr(link, "delay_server", THIS_MACHINE) == server])
        except BaseException:
            self.stop()
            raise
        return self

    def _cluster_classes(self) -> dict:
        """The cluster edition's node and link classes, once every other server answers over SSH."""
        from dataplane.cluster import (ClusterHost, check_servers, cluster_link_class, cluster_switch_class,
                                       remote_delay_command, server_address, user)

        master = self.split.servers[0]
        self.servers = {node: (THIS_MACHINE if where == master else where) for node, where in self.split.server.items()}
        self.server_ips = {server: server_address(server) for server in self.split.servers[1:]}
        check_servers(self.server_ips)

        def element_for(server: str) -> DelayElement:
            """The server's delay element, started when its first delayed link is made."""
            if server not in self.delay_elements:
                argv = None if server == THIS_MACHINE else remote_delay_command(user(), self.server_ips[server])
                self.delay_elements[server] = DelayElement(argv=argv).start()
            return self.delay_elements[server]

        switch = partial(cluster_switch_class(INACTIVITY_PROBE_MS), datapath="user", protocols="OpenFlow13",
                         failMode="secure", batch=True)
        return {"switch": switch, "host": ClusterHost, "link": cluster_link_class(element_for)}

    def start(self) -> "EdgeNetwork":
        """Start the switches (they connect to the controller) and prepare the hosts."""
        if self.net is None:
            self.build()
        spec = self.spec
        progress = self.progress
        try:
            self._may_have_bridges = True
            with progress:
                progress.phase(f"starting {len(spec.switches)} switches: Open vSwitch adds their bridges and ports")
                self.net.start()
                progress.phase("shaping the links (tc)")
                self._shape()
                for k, h in enumerate(spec.hosts):  # TCP through the userspace datapath needs checksum offload off
                    progress.phase(f"checksum offload off on the hosts' interfaces: {k}/{len(spec.hosts)} hosts")
                    node = self.net.get(h.name)
                    node.cmd("; ".join(f"ethtool -K {intf} tx off rx off >/dev/null 2>&1" for intf in node.intfNames()))
        except BaseException:
            self.stop()
            raise
        return self

    def _shape(self) -> None:
        """Each link's bandwidth on both its ends (HTB), after the switches added their ports (OVS
        resets a port's qdisc when it adds it): one `tc -batch` for the switches' ends (all in the
        machine's namespace; on a cluster, one per server), one per host for its end. A tunnel's
        ends are shaped as any link's."""
        root: dict[str, list] = {}
        by_host = {}
        for link in self.net.links:
            for intf in (link.intf1, link.intf2):
                mbps = intf.params.get("bw")
                if not mbps:
                    continue
                if intf.node.inNamespace:
                    by_host.setdefault(intf.node, []).append((intf.name, mbps))
                else:
                    root.setdefault(self.servers.get(intf.node.name, ""), []).append((intf.name, mbps))
        for server, interfaces in root.items():
            argv = ["tc", "-force", "-batch", "-"]
            if self.split and server != THIS_MACHINE:
                from dataplane.cluster import ssh_command, user

                argv = ssh_command(user(), self.server_ips[server], argv)
            done = subprocess.run(argv, input=shaping_batch(interfaces), capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"shaping the switches' links failed: {done.stderr.strip()[:300]}")
        for node, interfaces in by_host.items():
            node.cmd(f"tc -force -batch - <<'EOF'\n{shaping_batch(interfaces)}EOF")

    def runtime_topology(self) -> dict:
        """The spec with OpenFlow port numbers filled in, for the SDN controller."""
        return runtime_topology(self.net, self.spec)

    def sample_check(self, pairs: int, *, tcp_pairs: int = 3, seed: int = 0, timeout: float = 2.0,
                     out=print) -> float:
        """sample_check on this network."""
        return sample_check(self.net, self.spec, pairs, tcp_pairs=tcp_pairs, seed=seed, timeout=timeout, out=out)

    def delay_stats(self) -> dict:
        """The delay element's counters (see dataplane.delay.element); empty when no link is delayed. On
        a cluster, every server's element's together."""
        stats = [element.stats() for element in self.delay_elements.values()]
        if len(stats) <= 1:
            return stats[0] if stats else {}
        return {"links": [link for s in stats for link in s["links"]],
                "send_errors": sum(s["send_errors"] for s in stats),
                "lateness_ms": {bound: sum(s["lateness_ms"][bound] for s in stats)
                                for bound in stats[0]["lateness_ms"]}}

    def ping_all(self, timeout: float = 2.0) -> float:
        """Mininet's pingAll, printing its own lines and its `Results: N% dropped` summary."""
        from mininet.log import setLogLevel

        setLogLevel("output")
        try:
            return self.net.pingAll(timeout=timeout)
        finally:
            setLogLevel("error")

    def stop(self) -> None:
        """Tear down what build() and start() created: the delay element (its namespace takes the
        spliced links' interfaces with it), the nodes' shells (killed with their process groups; host
        namespaces go with them), the bridges, the link interfaces. Never talks to a shell; every
        external call has a timeout; interrupts wait until it is done. Idempotent."""
        if self.delay_elements:
            with interrupts_after(None):
                for element in self.delay_elements.values():
                    element.stop()
            self.delay_elements = {}
        if self.net is None:
            return
        started = time.monotonic()
        with interrupts_after(None):
            group = TEARDOWN_GROUP | os.getpid() & 0xFFFF
            done = self._stop_other_servers(group) if self.split else []
            local = {node for node in node_names(self.spec) if self._here(node)}
            processes = _processes()
            _kill_groups(shells_to_kill(processes, os.getpid(), local)
                         + (ssh_children(processes, os.getpid()) if self.split else []))
            _release(self.net)
            # Host namespaces went with their shells, and their veth ends with them. The bridges leave
            # the database (in as few transactions as fit), the link interfaces still in the root
            # namespace go in one batch, then ovs-vswitchd is given a moment to catch up.
            switches = [sw for sw in self.spec.switches if self._here(sw)]
            done += [_run(c) for c in bridge_commands(switches)] if self._may_have_bridges else []
            delete = interface_command(_root_interfaces(), local, group)
            done += [_run(delete)] if delete else []
            if self._may_have_bridges:
                _await_removal(set(switches), VSWITCHD_GRACE)
            if all(done):
                self.net, self._may_have_bridges = None, False
            else:
                log.warning("the teardown of %s is incomplete; stop() again retries it", self.spec.name)
            self.teardown_seconds = time.monotonic() - started

    def _stop_other_servers(self, group: int) -> list[bool]:
        """On each other server, over SSH: end this network's shells there, delete its bridges and
        the link interfaces left (tunnels' ends). One script per server; never `mn -c`."""
        from dataplane.cluster import ssh_command, teardown_script, user

        done = []
        nodes = {node.name: node for node in [*self.net.hosts, *self.net.switches]}
        for server, address in self.server_ips.items():
            names = [name for name, where in self.servers.items() if where == server]
            pids = [nodes[name].pid for name in names if name in nodes and nodes[name].pid]
            bridges = [name for name in names if name in self.spec.switches] if self._may_have_bridges else []
            interfaces = [i for i in interface_names(self.spec) if is_link_interface(i, set(names))]
            script = teardown_script(pids, bridges, interfaces, group)
            done.append(_run(Command(tuple(ssh_command(user(), address, ["bash", "-c", script])), "",
                                     COMMAND_TIMEOUT + SECONDS_PER_INTERFACE * len(interfaces))))
        return done

    def __enter__(self) -> "EdgeNetwork":
        return self.build()

    def __exit__(self, *exc) -> None:
        self.stop()
