"""SQLite persistence of the VNF manager: descriptors, instances, operation occurrences (the
lifecycle's history) and chains. Every write commits before the caller goes on."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from component_base.sqlite import LockedDatabase

from .descriptors import Vnfd
from .lifecycle import OpOccurrence, VnfState

SCHEMA = """
CREATE TABLE IF NOT EXISTS vnfds (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instances (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY, seq INTEGER UNIQUE NOT NULL, instance TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chains (name TEXT PRIMARY KEY, record TEXT NOT NULL);
"""


@dataclass(frozen=True)
class VnfInstance:
    name: str
    vnfd: str
    state: VnfState
    app: str  # the orchestrator application running it


@dataclass(frozen=True)
class ChainRecord:
    name: str
    src_cidr: str
    dst_cidr: str
    protocol: str          # "" | tcp | udp | icmp
    dst_port: int
    instances: tuple[str, ...]
    symmetric: bool


class ManoStore(LockedDatabase):
    schema = SCHEMA

    def _all(self, table: str) -> list[dict]:
        with self._lock:
            rows = self._db.execute(f"SELECT record FROM {table} ORDER BY rowid").fetchall()
        return [json.loads(r) for (r,) in rows]

    def _put(self, table: str, key: str, record: object) -> None:
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO {table} (name, record) VALUES (?, ?)",
                             (key, json.dumps(dataclasses.asdict(record))))

    def _delete(self, table: str, key: str) -> None:
        with self._lock:
            self._db.execute(f"DELETE FROM {table} WHERE name = ?", (key,))

    def vnfds(self) -> list[Vnfd]:
        return [Vnfd(**d) for d in self._all("vnfds")]

    def save_vnfd(self, vnfd: Vnfd) -> None:
        self._put("vnfds", vnfd.name, vnfd)

    def delete_vnfd(self, name: str) -> None:
        self._delete("vnfds", name)

    def instances(self) -> list[VnfInstance]:
        return [VnfInstance(d["name"], d["vnfd"], VnfState(**d["state"]), d["app"]) for d in self._all("instances")]

    def save_instance(self, instance: VnfInstance) -> None:
        self._put("instances", instance.name, instance)

    def delete_instance(self, name: str) -> None:
        self._delete("instances", name)

    def chains(self) -> list[ChainRecord]:
        return [ChainRecord(**dict(d, instances=tuple(d["instances"]))) for d in self._all("chains")]

    def save_chain(self, chain: ChainRecord) -> None:
        self._put("chains", chain.name, chain)

    def delete_chain(self, name: str) -> None:
        self._delete("chains", name)

    def operations(self) -> list[OpOccurrence]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM operations ORDER BY seq").fetchall()
        return [OpOccurrence(**json.loads(r)) for (r,) in rows]

    def save_operation(self, op: OpOccurrence) -> None:
        with self._lock:
            row = self._db.execute("SELECT seq FROM operations WHERE id = ?", (op.id,)).fetchone()
            seq = row[0] if row else (self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM operations")
                                      .fetchone()[0])
            self._db.execute("INSERT OR REPLACE INTO operations (id, seq, instance, record) VALUES (?, ?, ?, ?)",
                             (op.id, seq, op.instance, json.dumps(dataclasses.asdict(op))))

    def next_operation_number(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM operations").fetchone()[0]
