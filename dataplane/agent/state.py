"""SQLite persistence of a node agent: its containers and the images it has pulled.

Every write commits before the caller goes on, so a killed agent finds, when restarted, every
container it had started and the configuration of every image (a crashed container is
restarted from here without asking the registry: the node keeps working when cut off).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from component_base.sqlite import LockedDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (reference TEXT PRIMARY KEY, record TEXT NOT NULL);
"""

RUNNING, RESTARTING, STOPPED = "running", "restarting", "stopped"
OOM_KILLED = "OOMKilled"  # a termination reason: the OOM killer killed it (Kubernetes' word)


@dataclass
class ImageRecord:
    reference: str            # "name:tag"
    manifest_digest: str
    layers: list[str]         # digests, base first
    layer_sizes: list[int]    # bytes, same order
    args: list[str]           # Entrypoint + Cmd of the image config
    env: list[str]
    cwd: str


@dataclass
class ContainerRecord:
    name: str
    image: str                # reference
    layers: list[str]         # digests, base first
    ip: str
    mac: str
    netns: str                # named network namespace
    host_veth: str            # its switch-side veth
    ofport: int
    cpu_millicores: float
    args: list[str]
    env: list[str]
    cwd: str
    desired: str = RUNNING    # RUNNING or STOPPED: what the user asked for
    state: str = RUNNING      # RUNNING, RESTARTING or STOPPED: what is true now
    pid: int = 0
    restarts: int = 0
    started_at: float = 0.0
    last_exit_code: int = -1
    message: str = ""
    crash_streak: int = 0     # consecutive quick deaths: sets the back-off
    restart_at: float = 0.0   # when a RESTARTING container is started again
    created_at: float = 0.0
    extra: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)  # the caller's, reported back (the orchestrator's owner marks)
    hosts: dict = field(default_factory=dict)   # extra /etc/hosts entries, name -> IPv4
    capabilities: list = field(default_factory=list)  # granted beyond the default set (CAP_NET_RAW)
    ready_port: int = 0       # ready once its process listens on this TCP port; 0 = once it runs
    memory_limit_mib: float = 0.0  # cgroup memory limit, MiB, as asked; 0 = the node's default
    last_termination_reason: str = ""  # why its last process ended: OOM_KILLED, or "" = not known
    memory_request_mib: float = 0.0  # MiB set aside for it on the node; 0 = none
    pids_limit: int = 0  # processes and threads, as asked; 0 = the node's default


class AgentState(LockedDatabase):
    schema = SCHEMA

    def containers(self) -> list[ContainerRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM containers ORDER BY name").fetchall()
        return [ContainerRecord(**json.loads(r)) for (r,) in rows]

    def save_container(self, record: ContainerRecord) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO containers (name, record) VALUES (?, ?)",
                             (record.name, json.dumps(asdict(record))))

    def delete_container(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM containers WHERE name = ?", (name,))

    def image(self, reference: str) -> ImageRecord | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM images WHERE reference = ?", (reference,)).fetchone()
        return ImageRecord(**json.loads(row[0])) if row else None

    def save_image(self, record: ImageRecord) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO images (reference, record) VALUES (?, ?)",
                             (record.reference, json.dumps(asdict(record))))
