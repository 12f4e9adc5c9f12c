"""Readiness: a container is ready once its process listens on its port (what Kubernetes' tcpSocket
readiness probe checks), read from the kernel's socket tables of the container's own network
namespace (/proc/<pid>/net/tcp and tcp6). Nothing is sent: no probe connection reaches the app,
its access counters or the mesh's, and no network path or timeout is involved.

A process that runs but does not listen yet (a service still importing its code) is not ready,
so the orchestrator keeps it out of its service's endpoints until it is.
"""

from __future__ import annotations

from pathlib import Path

TCP_LISTEN = "0A"  # the `st` column of /proc/net/tcp: TCP_LISTEN in include/net/tcp_states.h
SOCKET_TABLES = ("tcp", "tcp6")


def listening_ports(table: str) -> set[int]:
    """The local ports in LISTEN state in the text of a /proc/net/tcp or tcp6 table."""
    ports = set()
    for line in table.splitlines()[1:]:  # the first line names the columns
        fields = line.split()
        if len(fields) < 4 or fields[3] != TCP_LISTEN:
            continue
        _, _, port = fields[1].rpartition(":")
        try:
            ports.add(int(port, 16))
        except ValueError:
            continue
    return ports


def listens_on(pid: int, port: int, proc: Path = Path("/proc")) -> bool:
    """Whether the network namespace of process `pid` has a TCP socket listening on `port`
    (False when the process is gone)."""
    for table in SOCKET_TABLES:
        try:
            text = (proc / str(pid) / "net" / table).read_text()
        except OSError:  # gone, or no IPv6 in that namespace
            continue
        if port in listening_ports(text):
            return True
    return False
