"""Mininet's cluster edition (mininet.examples.cluster) as EdgeNetwork uses it to spread a network over servers.

Its RemoteHost, RemoteOVSSwitch and RemoteLink run a node's shell over SSH on its server and
turn a link between two servers into an `ssh -w` tap tunnel (RemoteGRELink's gretap is not
available on every kernel, and SSH needs nothing but the SSH server the cluster edition needs
anyway). The classes here fix what breaks under Python 3 and at Strata's sizes (found here):
its `rcmd` adds bytes to a string, its tunnel waits for the str '@' on a bytes pipe, its remote
commands are joined by ssh and split again by the remote shell (a `python3 -c SCRIPT` argument
falls apart), and its batched switch start sends one long `ovs-vsctl` line through a node's
interactive shell, whose terminal cuts lines at 4,096 characters.

The cluster edition also registers a cleanup that runs `mn -c` on every server over SSH: it is
never registered here (it would end every Mininet network of a server, not only this one);
EdgeNetwork's teardown removes exactly what it created, on each server.
"""

from __future__ import annotations

import itertools
import shlex
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import replace

from mininet.examples import cluster as mininet_cluster
from mininet.examples.cluster import RemoteHost, RemoteLink, RemoteOVSSwitch
from mininet.node import OVSSwitch

from dataplane.delay.launcher import REPO, DelayedLink, DelayElement
from dataplane.network import THIS_MACHINE, splice, with_inactivity_probe

MASTER = THIS_MACHINE  # the cluster edition's name for the server the launch runs on
TAP_BASE = 100         # tunnels use tap devices tapN, N from here, one per link of the run

# Never let the cluster edition register its `ssh SERVER sudo mn -c` cleanup (see the docstring).
mininet_cluster.ClusterCleanup.inited = True


def ssh_command(user: str, address: str, argv: list[str], *, login_user: str = "root") -> list[str]:
    """argv run as root on a server over SSH, the way the cluster edition reaches its servers:
    as `user` (its keys), then sudo. Every argument is quoted for the remote shell."""
    local = [] if user == login_user else ["sudo", "-E", "-u", user]
    return [*local, "ssh", "-q", "-o", "BatchMode=yes", f"{user}@{address}", "sudo", "-n",
            *(shlex.quote(a) for a in argv)]


def teardown_script(pids: Iterable[int], bridges: Iterable[str], interfaces: Iterable[str], group: int) -> str:
    """A bash script ending on one server what a launch created there: its nodes' shells (by
    pid; their namespaces go with them), its bridges (one OVSDB transaction), and the link
    interfaces left (tunnels' tap devices and veth ends, gathered in a device group and deleted
    at once). Missing items are skipped."""
    pids, bridges, interfaces = sorted(set(pids)), list(bridges), sorted(set(interfaces))
    if group <= 0:
        raise ValueError(f"device group {group} is not a private one")
    lines = ["status=0"]
    if pids:
        lines.append(f"kill -9 {' '.join(map(str, pids))} 2>/dev/null")
    if bridges:
        deletions = " ".join(f"-- --if-exists del-br {shlex.quote(b)}" for b in bridges)
        lines.append(f"ovs-vsctl --timeout=10 --no-wait {deletions} || status=1")
    if interfaces:  # `ip -force` goes on past the interfaces gone already (and then exits 1)
        batch = "".join(f"link set dev {name} group {group}\n" for name in interfaces)
        lines.append(f"ip -force -batch - >/dev/null 2>&1 <<'EOF'\n{batch}link delete group {group}\nEOF")
    return "\n".join([*lines, "exit $status"]) + "\n"


def remote_delay_command(user: str, address: str, repo: str = str(REPO)) -> list[str]:
    """The delay element run on a server over SSH, from this checkout's path there (the element is
    stdlib Python: the server's python3 runs it). Its requests and answers cross SSH's standard
    input and output; when the SSH client ends, its input closes and it exits."""
    return ssh_command(user, address, ["bash", "-c", f"cd {shlex.quote(repo)} && exec python3 -m dataplane.delay"])


def user() -> str:
    """Who the cluster edition logs in to the servers as (the user behind sudo, else this one)."""
    return mininet_cluster.findUser()


def server_address(server: str) -> str:
    """A server's IPv4 address, as the cluster edition finds it (an address, or the name looked up
    with `getent ahostsv4`); ValueError if the name does not resolve."""
    address = RemoteHost.findServerIP(server)
    if not address:
        raise ValueError(f"server {server!r} has no IPv4 address (getent ahostsv4 {server} finds none)")
    return address


def check_servers(addresses: dict[str, str], timeout: float = 20.0) -> None:
    """Every server (name -> address) answers over SSH as the cluster edition logs in, and runs
    sudo without a password; RuntimeError naming those that do not, and why."""
    failures = []
    for server, address in addresses.items():
        try:
            done = subprocess.run(ssh_command(user(), address, ["true"]), capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                failures.append(f"{server} ({address}): {(done.stderr or done.stdout).strip()[:200] or 'refused'}")
        except subprocess.TimeoutExpired:
            failures.append(f"{server} ({address}): no answer within {timeout:g} s")
    if failures:
        raise RuntimeError("cannot run commands as root over SSH on " + "; ".join(failures)
                           + " (each server needs passwordless SSH and sudo: docs/emulation.md)")


class _QuotedRemote:
    """A cluster node whose remote commands arrive whole (quoted for the remote shell) and whose
    rcmd returns text."""

    def _popen(self, cmd, sudo=True, tt=True, **params):
        if self.isRemote and not isinstance(cmd, str):
            cmd = [shlex.quote(str(c)) for c in cmd]
        return super()._popen(cmd, sudo=sudo, tt=tt, **params)

    def rcmd(self, *cmd, **opts):
        out, _ = self.rpopen(*cmd, **opts).communicate()
        return out.decode(errors="replace") if isinstance(out, bytes) else out


class ClusterHost(_QuotedRemote, RemoteHost):
    """A host on its server (the master's hosts are local nodes)."""


def cluster_switch_class(probe_ms: int):
    """RemoteOVSSwitch whose Controller records are created with an inactivity probe (see
    dataplane.network.with_inactivity_probe) and whose batch start runs one `ovs-vsctl` process
    per server instead of a line typed into a node's shell."""

    class ClusterOVSSwitch(_QuotedRemote, RemoteOVSSwitch):
        def vsctl(self, *args, **kwargs):
            return super().vsctl(*(with_inactivity_probe(str(a), probe_ms) for a in args), **kwargs)

        @classmethod
        def batchStartup(cls, switches, **_kwargs):  # noqa: N802 (Mininet's name)
            by_server = itertools.groupby(sorted(switches, key=lambda s: s.server), key=lambda s: s.server)
            for _, group in by_server:
                group = tuple(group)
                first = group[0]

                def run(command, first=first, **_):
                    out = first.rcmd(["bash", "-c", command])
                    if "ovs-vsctl:" in out:  # its errors; success prints nothing
                        raise RuntimeError(f"starting the switches on {first.server} failed: {out.strip()[:300]}")

                OVSSwitch.batchStartup(group, run=run)
            return switches

    return ClusterOVSSwitch


class ClusterLink(RemoteLink):
    """A link; between two servers, an `ssh -w` tap tunnel whose ends take the link's interface
    names (so OpenFlow port numbers and shaping work as on any link). Frames cross it whole: the
    tunnel carries Ethernet frames inside SSH's TCP stream, so no MTU is lost.

    A link given delay_ms or loss_percent is spliced into a delay element (cluster_link_class):
    inside one server, into that server's element, as dataplane.network.spliced_link_class does;
    between servers, the tunnel's first end (the master's, when one end is there) is a veth pair
    into that server's element, and the tunnel's tap device is the element's other interface."""

    numbers = itertools.count(TAP_BASE)
    element_for: Callable[[str], DelayElement] | None = None  # server -> its delay element

    def __init__(self, node1, node2, delay_ms: float = 0.0, loss_percent: float = 0.0, **params):
        self.delayed: DelayedLink | None = None
        self.delay_server: str | None = None  # whose element serves it
        if delay_ms > 0 or loss_percent > 0:
            if self.element_for is None:
                raise RuntimeError("a delayed link needs the delay element")
            self.delayed = DelayedLink("", "", delay_ms, loss_percent, params.get("bw") or 0.0)
        super().__init__(node1, node2, **params)
        if self.delayed is not None:
            self.delayed = replace(self.delayed, a=self.intf1.name, b=self.intf2.name)

    def makeIntfPair(self, intfname1, intfname2, addr1=None, addr2=None, node1=None, node2=None,  # noqa: N802
                     deleteIntfs=True):  # noqa: N803  (Mininet's names)
        node1 = self.node1 if node1 is None else node1
        node2 = self.node2 if node2 is None else node2
        if self.delayed is None or node1.server != node2.server:
            return super().makeIntfPair(intfname1, intfname2, addr1, addr2, node1, node2, deleteIntfs)
        element = self.element_for(node1.server)
        self.delay_server = node1.server
        for node, name, addr in ((node1, intfname1, addr1), (node2, intfname2, addr2)):
            splice(node, name, addr, element.pid)
        return None

    def makeTunnel(self, node1, node2, intfname1, intfname2, addr1=None, addr2=None):  # noqa: N802, N803
        if node2.server == MASTER:  # the tunnel's client runs on the master when one end is there
            return self.makeTunnel(node2, node1, intfname2, intfname1, addr2, addr1)
        number = next(self.numbers)
        tap = f"tap{number}"
        for node in (node1, node2):
            out = node.rcmd(["ip", "tuntap", "add", "dev", tap, "mode", "tap", "user", node.user])
            if out.strip():
                raise RuntimeError(f"cannot create {tap} on {node.server}: {out.strip()}")
        self.cmd = ["ssh", "-n", "-o", "BatchMode=yes", "-o", "Tunnel=Ethernet", "-w", f"{number}:{number}",
                    f"{node2.user}@{node2.serverIP}", "echo", "@"]
        tunnel = node1.rpopen(self.cmd, sudo=False)
        if tunnel.stdout.read(1) != b"@":  # the far end answers once the tunnel is up
            tunnel.kill()
            raise RuntimeError(f"the SSH tunnel from {node1.server} to {node2.server} did not come up: "
                               f"{shlex.join(self.cmd)}")
        self.tunnel = tunnel
        ends = [(node1, intfname1, addr1), (node2, intfname2, addr2)]
        if self.delayed is not None:  # node1's end through its server's element, which holds the tap
            element = self.element_for(node1.server)
            self.delay_server = node1.server
            splice(node1, intfname1, addr1, element.pid)
            for argv in (["ip", "link", "set", tap, "netns", str(element.pid)],
                         ["nsenter", f"--net=/proc/{element.pid}/ns/net", "ip", "link", "set", tap, "name", intfname2]):
                out = node1.rcmd(argv)
                if out.strip():
                    raise RuntimeError(f"cannot splice the tunnel {tap} to the delay element: {out.strip()}")
            ends = ends[1:]
        for node, name, addr in ends:
            self.moveIntf(tap, node)
            out = node.cmd(f"ip link set {tap} name {name}" + (f" address {addr}" if addr else ""))
            if out.strip():
                raise RuntimeError(f"cannot name the tunnel's end {name} on {node.server}: {out.strip()}")
        return tunnel


def cluster_link_class(element_for: Callable[[str], DelayElement]) -> type[ClusterLink]:
    """ClusterLink whose delayed links go through `element_for(server)`, that server's delay element."""
    return type("DelayedClusterLink", (ClusterLink,), {"element_for": staticmethod(element_for)})
