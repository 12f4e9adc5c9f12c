"""The orchestrator's desired state in SQLite: nodes, applications, their instances and VIPs.

Every change commits before the caller goes on, so a restarted orchestrator reloads exactly what
was desired: it neither forgets a container nor starts a second copy of one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from component_base.sqlite import LockedDatabase, transaction

from api.app import AppSpec, app_from_dict, app_to_dict

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instances (name TEXT PRIMARY KEY, app TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass
class NodeRecord:
    name: str
    agent_address: str
    ip: str
    switch: str
    blob_address: str
    cpu_millicores: float
    storage_bytes: int
    bandwidth_mbps: float
    memory_mib: float = 0.0  # memory for containers, MiB; 0 = unknown (an agent that does not say): no limit


@dataclass
class ServiceImage:
    reference: str                   # what the agents pull from the registry
    layers: list[tuple[str, int]]    # (digest, bytes), base first


@dataclass
class AppRecord:
    spec: AppSpec
    algorithm: str
    peers: bool
    created: float
    images: dict[str, ServiceImage]  # service -> its image in the registry
    vips: dict[str, str]             # service -> VIP
    planned_bytes: int = 0

    def to_json(self) -> str:
        return json.dumps({"spec": app_to_dict(self.spec), "algorithm": self.algorithm, "peers": self.peers,
                           "created": self.created, "vips": self.vips, "planned_bytes": self.planned_bytes,
                           "images": {k: asdict(v) for k, v in self.images.items()}})

    @staticmethod
    def from_json(text: str) -> "AppRecord":
        data = json.loads(text)
        images = {k: ServiceImage(v["reference"], [tuple(layer) for layer in v["layers"]])
                  for k, v in data["images"].items()}
        return AppRecord(app_from_dict(data["spec"]), data["algorithm"], data["peers"], data["created"], images,
                         data["vips"], data.get("planned_bytes", 0))


@dataclass
class InstanceRecord:
    name: str          # container name on its node, unique across the cluster
    app: str
    service: str
    node: str
    created: float
    ip: str = ""       # pod IP once started
    started: bool = False
    pulled_bytes: int = 0
    peer_bytes: int = 0
    message: str = ""  # why the last start failed
    extra: dict = field(default_factory=dict)


class Store(LockedDatabase):
    schema = SCHEMA

    # -- nodes ---------------------------------------------------------------------------------
    def nodes(self) -> list[NodeRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM nodes ORDER BY name").fetchall()
        return [NodeRecord(**json.loads(r)) for (r,) in rows]

    def save_node(self, node: NodeRecord) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO nodes (name, record) VALUES (?, ?)",
                             (node.name, json.dumps(asdict(node))))

    # -- applications and instances -----------------------------------------------------------
    def apps(self) -> list[AppRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM apps ORDER BY name").fetchall()
        return [AppRecord.from_json(r) for (r,) in rows]

    def instances(self) -> list[InstanceRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM instances ORDER BY name").fetchall()
        return [InstanceRecord(**json.loads(r)) for (r,) in rows]

    def save_app(self, app: AppRecord, instances: list[InstanceRecord] = (),
                 removed_instances: list[str] = ()) -> None:
        """The application and a change of its instances, in one transaction."""
        with self._lock, transaction(self._db):
            self._db.execute("INSERT OR REPLACE INTO apps (name, record) VALUES (?, ?)",
                             (app.spec.name, app.to_json()))
            self._write_instances(instances, removed_instances)

    def save_instance(self, instance: InstanceRecord) -> None:
        self.replace_instances([instance], [])

    def replace_instances(self, new: list[InstanceRecord], removed: list[str]) -> None:
        """Instances added or updated and others removed, in one transaction."""
        with self._lock, transaction(self._db):
            self._write_instances(new, removed)

    def _write_instances(self, new: list[InstanceRecord], removed: list[str]) -> None:
        for name in removed:
            self._db.execute("DELETE FROM instances WHERE name = ?", (name,))
        for instance in new:
            self._db.execute("INSERT OR REPLACE INTO instances (name, app, record) VALUES (?, ?, ?)",
                             (instance.name, instance.app, json.dumps(asdict(instance))))

    def delete_app(self, name: str) -> None:
        with self._lock, transaction(self._db):
            self._db.execute("DELETE FROM instances WHERE app = ?", (name,))
            self._db.execute("DELETE FROM apps WHERE name = ?", (name,))

    def next_number(self, counter: str) -> int:
        """1, 2, 3 ... per counter, never repeating across restarts (instance names)."""
        with self._lock, transaction(self._db):
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (counter,)).fetchone()
            value = (row[0] if row else 0) + 1
            self._db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", (counter, value))
        return value
