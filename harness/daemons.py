"""Starting and stopping the control-layer daemons as processes, and waiting for them to be ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from component_base.pki import Identity
from component_base.tls import Tls, open_channel


PARENT_ENV = "STRATA_PARENT_PID"


def exit_with_parent() -> None:
    """Called by a daemon at start: get SIGTERM when the process that started it dies, however
    it dies (PR_SET_PDEATHSIG). Set here, after exec, rather than in a preexec_fn: Python code
    between fork and exec is unsafe in a process with gRPC threads."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    expected = os.environ.get(PARENT_ENV)
    if expected and int(expected) != os.getppid():  # it died before the call took effect
        os.kill(os.getpid(), signal.SIGTERM)


def in_host(pid: int) -> list[str]:
    """A command prefix running a program in the network namespace of process `pid` (a Mininet
    host's shell), as a direct child of the caller (nsenter execs the program).

    Only the network namespace: Mininet hosts also have a private mount namespace with their own
    /sys, where runc finds no cgroups and where mounts (container root folders, named network
    namespaces) would be invisible to the rest of the machine and to cleanup."""
    return ["nsenter", f"--net=/proc/{pid}/ns/net"]


class DaemonProcess:
    """One `strata serve ...` process (or another program, with `argv`); its output goes to a log
    file. `prefix` runs it elsewhere, e.g. in_host(pid) inside a Mininet host."""

    def __init__(self, name: str, args: list[str], log_path: Path, *, prefix: list[str] | None = None,
                 argv: list[str] | None = None):
        self.name = name
        self.args = args
        self.log_path = log_path
        self.prefix = prefix or []
        self.argv = argv
        self.proc: subprocess.Popen | None = None

    def start(self) -> "DaemonProcess":
        log = open(self.log_path, "ab")
        argv = self.argv or [sys.executable, "-m", "cli", "serve", "--exit-with-parent", *self.args]
        self.proc = subprocess.Popen([*self.prefix, *argv],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, PARENT_ENV: str(os.getpid())})
        log.close()
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        """How its process ended (negative: killed by that signal); None while it runs."""
        return self.proc.poll() if self.proc is not None else None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """Sudden death (SIGKILL), as a crash would be."""
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def health(address: str, server: Identity, tls: Tls | None, timeout: float = 3.0) -> str:
    """One gRPC health check: SERVING, NOT_SERVING, or why it could not be asked ("unreachable (CODE)")."""
    try:
        with (open_channel(address, tls, server) if tls is not None else grpc.insecure_channel(address)) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.RpcError as exc:
        return f"unreachable ({exc.code().name})"


def wait_healthy(address: str, timeout: float, daemon: DaemonProcess | None = None, *, tls: Tls | None = None,
                 server: Identity | None = None) -> None:
    """Until the gRPC health check says SERVING; raises RuntimeError with the daemon's log tail.
    With `tls` (the caller's), over mutual TLS to a server that must be `server`."""
    deadline = time.monotonic() + timeout
    with (open_channel(address, tls, server) if tls is not None else grpc.insecure_channel(address)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if daemon is not None and not daemon.alive():
                raise RuntimeError(f"{daemon.name} daemon exited:\n{daemon.tail()}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    tail = f":\n{daemon.tail()}" if daemon else ""
    raise RuntimeError(f"no healthy service at {address} after {timeout:g} s{tail}")


def start_sdn_daemon(workdir: Path, openflow_port: int, listen: str) -> DaemonProcess:
    """`strata serve sdn` on the runtime topology in workdir/topology.json, its database and log
    in workdir, once it answers health checks at `listen`."""
    daemon = DaemonProcess("sdn", ["sdn", "--topology", str(workdir / "topology.json"), "--db", str(workdir / "sdn.db"),
                                   "--openflow", f"127.0.0.1:{openflow_port}", "--listen", listen],
                           workdir / "sdn.log").start()
    wait_healthy(listen, 30, daemon)
    return daemon


def wait_switches_connected(address: str, count: int, timeout: float, progress=None, tls: Tls | None = None) -> float:
    """Until `count` switches have an OpenFlow session with the SDN daemon and have confirmed the
    rules it sent them (a big network's switches take a while to install theirs); returns seconds
    taken. Asks less often on a big network (the answer is big, and the daemon is busy
    connecting); `progress(text)` hears how far it is every 10 s. `tls`: the caller's, for an SDN
    daemon serving mutual TLS."""
    from strata.v1 import sdn_pb2, sdn_pb2_grpc

    start = last_said = time.monotonic()
    interval = 0.2 if count <= 50 else 1.0
    with open_channel(address, tls, Identity("sdn")) as channel:
        stub = sdn_pb2_grpc.SdnServiceStub(channel)
        connected = synced = 0
        while time.monotonic() - start < timeout:
            topology = stub.GetTopology(sdn_pb2.GetTopologyRequest(), timeout=30)
            connected = sum(s.connected for s in topology.switches)
            synced = sum(s.synced for s in topology.switches)
            if synced >= count:
                return time.monotonic() - start
            if progress is not None and time.monotonic() - last_said >= 10:
                progress(f"  {connected} of {count} switches connected to the SDN daemon, {synced} hold their "
                         f"rules ({time.monotonic() - start:.0f} s)")
                last_said = time.monotonic()
            time.sleep(interval)
    raise RuntimeError(f"only {connected} of {count} switches connected to the SDN daemon ({synced} holding their "
                       f"rules) within {timeout:g} s")


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PermissionError(f"{what} needs root (Mininet creates network namespaces and OVS bridges)")


def poll(predicate, timeout: float, interval: float = 0.25):
    """predicate()'s first truthy value within `timeout` seconds, or None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(interval)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.25):
    """predicate()'s first truthy value within `timeout` seconds; TimeoutError naming `what` if
    none came. The tests' one way to wait for something (never a fixed sleep)."""
    value = poll(predicate, timeout, interval)
    if not value:
        raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
    return value
