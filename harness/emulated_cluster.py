"""Servers emulated on this machine for a multi-server run: each its own namespaces, Open vSwitch and SSH server.

A server here is what Mininet's cluster edition expects of a machine, built from namespaces:
its own PID, network, mount and UTS namespaces (held by a small init process, so that killing
it ends every process the server ran), an address on a private segment (a Linux bridge in one
more network namespace, which reaches nothing else: packets have no way off the machine), its
own ovsdb-server and ovs-vswitchd (userspace datapath) and sshd, and private copies of the
folders they use (/run/openvswitch, /etc/openvswitch, /var/log/openvswitch, /run/sshd,
/run/strata) plus /etc/hosts naming every server and /root/.ssh holding one generated key
that every server accepts. The machine's own Open vSwitch, its /etc/hosts and root's SSH
folder are never touched. What to write and run is computed by pure functions below; the
EmulatedCluster class runs it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_FOLDER = Path("/tmp/strata-cluster-emulated")
DEFAULT_SUBNET = "10.254.0.0/24"
SEGMENT_BRIDGE = "seg"        # the Linux bridge joining the servers, in the segment's namespace
SERVER_INTERFACE = "eth0"     # each server's interface on the segment
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
SSHD = "/usr/sbin/sshd"       # sshd re-executes itself: it must be started by its absolute path
TOOLS = ("unshare", "nsenter", "ip", "ssh", "ssh-keygen", "sudo", "ovsdb-tool", "ovsdb-server",
         "ovs-vswitchd", "ovs-vsctl", "mnexec")
COMMAND_TIMEOUT = 30.0        # s, any one setup command
READY_TIMEOUT = 10.0          # s for a namespace holder to exist, or a daemon to listen
STATE_FILE = "cluster.json"

# The init of each server's PID namespace: it reaps orphans (PID 1's duty) and exits when its
# standard input closes, i.e. when the process that started the emulation ends however it ends;
# the kernel then kills every process of the namespace.
INIT = """
import os, select, sys
while True:
    if select.select([sys.stdin], [], [], 1.0)[0] and not os.read(sys.stdin.fileno(), 512):
        sys.exit(0)
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
"""


@dataclass(frozen=True)
class ServerPlan:
    """One emulated server: its name, address on the segment, and folder of private state."""

    name: str
    address: str
    folder: Path


def plan_servers(count: int, folder: Path, subnet: str = DEFAULT_SUBNET) -> list[ServerPlan]:
    """server1..serverN with consecutive addresses of the subnet; ValueError if it has too few."""
    if count < 1:
        raise ValueError("an emulated cluster needs at least one server")
    network = ipaddress.ip_network(subnet)
    if network.prefixlen > 30 or count > network.num_addresses - 2:
        raise ValueError(f"subnet {subnet} has room for {max(0, network.num_addresses - 2)} servers, not {count}")
    return [ServerPlan(f"server{k}", str(network.network_address + k), folder / f"server{k}")
            for k in range(1, count + 1)]


def hosts_file(servers: list[ServerPlan]) -> str:
    """/etc/hosts of every server: loopback, and each server by name (Mininet's cluster edition finds
    a server's address with `getent ahostsv4 NAME`)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    return "\n".join(lines + [f"{s.address}\t{s.name}" for s in servers]) + "\n"


def sshd_config(server: ServerPlan) -> str:
    """sshd's configuration: root by key only, on the segment's address alone, tunnels allowed
    (the cluster edition's links between servers are `ssh -w` tap tunnels)."""
    return "\n".join([
        f"ListenAddress {server.address}",
        "Port 22",
        f"HostKey {server.folder}/ssh_host_ed25519_key",
        f"PidFile {server.folder}/sshd.pid",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "AuthorizedKeysFile /root/.ssh/authorized_keys",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitTunnel yes",
        "UseDNS no",              # the cluster edition asks for it: no reverse lookups per connection
        "StrictModes no",         # the keys live under /tmp
        "MaxStartups 200:30:400",  # one connection per remote node shell, opened in quick succession
        "MaxSessions 200",
        "X11Forwarding no",
        "PrintMotd no",
        "LogLevel ERROR",
    ]) + "\n"


def ssh_client_config() -> str:
    """root's ~/.ssh/config inside the servers: the generated key, the servers' host keys only."""
    return "\n".join([
        "Host *",
        "    IdentityFile /root/.ssh/id_ed25519",
        "    IdentitiesOnly yes",
        "    UserKnownHostsFile /root/.ssh/known_hosts",
        "    StrictHostKeyChecking yes",
        "    ServerAliveInterval 5",
        "    ServerAliveCountMax 6",
        "    LogLevel ERROR",
    ]) + "\n"


def known_hosts(servers: list[ServerPlan], host_keys: dict[str, str]) -> str:
    """Each server's public host key under its name and address (`host_keys`: name -> "type key")."""
    return "".join(f"{s.name},{s.address} {host_keys[s.name]}\n" for s in servers)


def private_mounts(server: ServerPlan, ssh_folder: Path) -> list[tuple[Path, str]]:
    """(source, target) bind mounts of a server's mount namespace: what its OVS, sshd and a
    `strata up` inside it would otherwise share with the machine."""
    return [(server.folder / "run-openvswitch", "/run/openvswitch"),
            (server.folder / "etc-openvswitch", "/etc/openvswitch"),
            (server.folder / "log-openvswitch", "/var/log/openvswitch"),
            (server.folder / "run-sshd", "/run/sshd"),
            (server.folder / "run-strata", "/run/strata"),
            (server.folder / "hosts", "/etc/hosts"),
            (ssh_folder, "/root/.ssh")]


def holder_command(init: str = INIT, python: str = sys.executable) -> list[str]:
    """A process holding new PID, network, mount and UTS namespaces (mounts private, its own /proc)."""
    return ["unshare", "--pid", "--fork", "--mount-proc", "--net", "--mount", "--uts", "--propagation", "private",
            "--", python, "-c", init]


def enter_command(pid: int, argv: list[str], workdir: str = "/") -> list[str]:
    """argv run inside the server whose namespace holder is `pid`."""
    return ["nsenter", f"--target={pid}", "--pid", "--net", "--mount", "--uts", f"--wd={workdir}", "--", *argv]


def segment_commands(bridge: str = SEGMENT_BRIDGE) -> list[list[str]]:
    """Inside the segment's namespace: its bridge up (no address: the segment only joins servers)."""
    return [["ip", "link", "set", "lo", "up"],
            ["ip", "link", "add", bridge, "type", "bridge"],
            ["ip", "link", "set", bridge, "up"]]


def cable_commands(server: ServerPlan, server_pid: int, bridge: str = SEGMENT_BRIDGE) -> list[list[str]]:
    """Inside the segment's network namespace: a veth pair whose far end is the server's eth0."""
    port = f"{server.name}-seg"[:15]
    return [["ip", "link", "add", port, "type", "veth", "peer", "name", SERVER_INTERFACE, "netns", str(server_pid)],
            ["ip", "link", "set", port, "master", bridge],
            ["ip", "link", "set", port, "up"]]


def server_commands(server: ServerPlan, ssh_folder: Path, prefix_len: int) -> list[list[str]]:
    """Inside a server's namespaces, in order: its name, private folders, address, Open vSwitch
    (userspace datapath: no kernel module), and sshd."""
    commands: list[list[str]] = [["hostname", server.name]]
    for source, target in private_mounts(server, ssh_folder):
        commands.append(["mount", "--bind", str(source), target])
    commands += [["ip", "link", "set", "lo", "up"],
                 ["ip", "address", "add", f"{server.address}/{prefix_len}", "dev", SERVER_INTERFACE],
                 ["ip", "link", "set", SERVER_INTERFACE, "up"],
                 ["ovsdb-tool", "create", "/etc/openvswitch/conf.db", OVS_SCHEMA],
                 ["ovsdb-server", "/etc/openvswitch/conf.db", "--remote=punix:/run/openvswitch/db.sock",
                  "--pidfile", "--detach", "--log-file"],
                 ["ovs-vsctl", "--timeout=10", "--no-wait", "init"],
                 ["ovs-vswitchd", "--pidfile", "--detach", "--log-file"],
                 [SSHD, "-f", str(server.folder / "sshd_config")]]
    return commands


def mountpoints(servers: list[ServerPlan], ssh_folder: Path) -> list[tuple[str, bool]]:
    """Targets of the bind mounts that must exist on the machine (path, is a folder). /run/sshd,
    /run/strata and /root/.ssh may be missing: they are created, empty."""
    seen: dict[str, bool] = {}
    for server in servers:
        for source, target in private_mounts(server, ssh_folder):
            seen[target] = target != "/etc/hosts"
    return list(seen.items())


# ------------------------------------------------------------------------------------------------
# running it

@dataclass
class RunningServer:
    """A started server: its name, address, the PID (in the machine's namespace) of its init, and
    its network namespace's id (a PID reused by another process will not match it)."""

    name: str
    address: str
    pid: int
    net: str


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what}: `{shlex.join(argv)}` did not finish within {COMMAND_TIMEOUT:g} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"{what}: `{shlex.join(argv)}` failed: {(done.stderr or done.stdout).strip()[:400]}")
    return done.stdout


def _namespace_id(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


class EmulatedCluster:
    """N servers on this machine; a context manager (started on entry, torn down on exit).
    `folder` holds their private state and cluster.json, which `strata cluster exec` reads."""

    def __init__(self, count: int, folder: Path = DEFAULT_FOLDER, subnet: str = DEFAULT_SUBNET, log=print):
        self.folder = Path(folder)
        self.subnet = subnet
        self.plans = plan_servers(count, self.folder, subnet)
        self.ssh_folder = self.folder / "ssh"
        self.log = log
        self.holders: list[subprocess.Popen] = []  # the segment's first, then each server's
        self.servers: list[RunningServer] = []
        self.segment_pid: int | None = None

    # -- start -------------------------------------------------------------------------------
    def start(self) -> "EmulatedCluster":
        if os.geteuid() != 0:
            raise PermissionError("emulating servers needs root (namespaces, Open vSwitch, sshd)")
        missing = [tool for tool in TOOLS if shutil.which(tool) is None] + ([] if Path(SSHD).exists() else ["sshd"])
        if missing:
            raise RuntimeError(f"missing {', '.join(missing)}: run `make setup` (it installs openssh-server and sudo)")
        existing = read_state(self.folder)
        if existing is not None and any(alive(s) for s in existing["servers"]):
            raise RuntimeError(f"an emulated cluster runs from {self.folder} already (pid {existing['owner']})")
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            self._write_files()
            self.segment_pid = self._hold()
            for argv in segment_commands():
                _run(["nsenter", f"--target={self.segment_pid}", "--net", "--", *argv], "the segment")
            prefix_len = ipaddress.ip_network(self.subnet).prefixlen
            for plan in self.plans:
                pid = self._hold()
                for argv in cable_commands(plan, pid):
                    _run(["nsenter", f"--target={self.segment_pid}", "--net", "--", *argv], plan.name)
                for argv in server_commands(plan, self.ssh_folder, prefix_len):
                    _run(enter_command(pid, argv), plan.name)
                self.servers.append(RunningServer(plan.name, plan.address, pid, _namespace_id(pid, "net")))
            self._await_sshd()
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def _write_files(self) -> None:
        self.ssh_folder.mkdir(parents=True, mode=0o700)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "strata-emulated-cluster",
              "-f", str(self.ssh_folder / "id_ed25519")], "the cluster's key")
        host_keys = {}
        for plan in self.plans:
            for sub in ("run-openvswitch", "etc-openvswitch", "log-openvswitch", "run-sshd", "run-strata"):
                (plan.folder / sub).mkdir(parents=True)
            (plan.folder / "run-sshd").chmod(0o755)
            key = plan.folder / "ssh_host_ed25519_key"
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", plan.name, "-f", str(key)], plan.name)
            host_keys[plan.name] = " ".join(Path(f"{key}.pub").read_text().split()[:2])
            (plan.folder / "sshd_config").write_text(sshd_config(plan))
            (plan.folder / "hosts").write_text(hosts_file(self.plans))
        public = (self.ssh_folder / "id_ed25519.pub").read_text()
        (self.ssh_folder / "authorized_keys").write_text(public)
        (self.ssh_folder / "known_hosts").write_text(known_hosts(self.plans, host_keys))
        (self.ssh_folder / "config").write_text(ssh_client_config())
        for path in self.ssh_folder.iterdir():
            path.chmod(0o600)
        for target, is_folder in mountpoints(self.plans, self.ssh_folder):
            if is_folder and not Path(target).exists():
                Path(target).mkdir(parents=True, mode=0o700 if target.endswith(".ssh") else 0o755)

    def _hold(self) -> int:
        """Start a namespace holder; the PID of its init (unshare's child), once it runs in them."""
        holder = subprocess.Popen(holder_command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.holders.append(holder)
        ours = _namespace_id(os.getpid(), "pid")
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                children = Path(f"/proc/{holder.pid}/task/{holder.pid}/children").read_text().split()
                if children and _namespace_id(int(children[0]), "pid") != ours:
                    return int(children[0])
            if holder.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("could not create a server's namespaces (unshare)")

    def _await_sshd(self) -> None:
        """Until every server's sshd accepts the key from every other (checked from the first)."""
        first = self.servers[0]
        for server in self.servers:
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                done = subprocess.run(enter_command(first.pid, ["ssh", "-o", "BatchMode=yes", server.name,
                                                                "sudo", "-n", "true"]),
                                      capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
                if done.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server.name}'s sshd does not answer: {done.stderr.strip()[:300]}")
                time.sleep(0.2)

    def _write_state(self) -> None:
        state = {"owner": os.getpid(), "subnet": self.subnet, "segment": self.segment_pid,
                 "servers": [asdict(s) for s in self.servers]}
        (self.folder / STATE_FILE).write_text(json.dumps(state, indent=1))

    # -- stop --------------------------------------------------------------------------------
    def stop(self) -> None:
        """End every server (killing a PID namespace's init kills all its processes: Open vSwitch,
        sshd, Mininet's shells, anything run inside) and the segment; their namespaces, interfaces
        and bridges go with them. Then remove the folder. Idempotent."""
        for holder in reversed(self.holders):
            with contextlib.suppress(OSError, ValueError):
                holder.stdin.close()  # the init exits on end of input
        deadline = time.monotonic() + 5.0
        for holder in reversed(self.holders):
            try:
                holder.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait()
        for server in self.servers:  # the init outlived its unshare: end it (and its namespace) directly
            with contextlib.suppress(ProcessLookupError):
                if alive(asdict(server)):
                    os.kill(server.pid, signal.SIGKILL)
        self.holders, self.servers, self.segment_pid = [], [], None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "EmulatedCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def read_state(folder: Path) -> dict | None:
    """The cluster.json of an emulation started from `folder`, or None."""
    try:
        return json.loads((Path(folder) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def alive(server: dict) -> bool:
    """The server's init still runs, and is the same process (its network namespace unchanged)."""
    try:
        return _namespace_id(server["pid"], "net") == server["net"]
    except (OSError, KeyError):
        return False


def find_server(folder: Path, name: str) -> dict:
    """The running server called `name` in the emulation of `folder`; LookupError saying why not."""
    state = read_state(folder)
    if state is None:
        raise LookupError(f"no emulated cluster in {folder} (start one with `strata cluster emulate`)")
    for server in state["servers"]:
        if server["name"] == name:
            if not alive(server):
                raise LookupError(f"{name} of {folder} is not running")
            return server
    raise LookupError(f"no server {name} in {folder}: {', '.join(s['name'] for s in state['servers'])}")
