"""SQLite persistence of the mesh's desired state: services, their endpoints and policies, and the
names of the SDN routes the mesh owns (so a restarted mesh removes what it no longer wants)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from component_base.sqlite import LockedDatabase

from .policy import MeshEndpoint, OutlierDetection, TrafficPolicy

SCHEMA = """
CREATE TABLE IF NOT EXISTS services (
    name TEXT PRIMARY KEY, vip TEXT NOT NULL, protocol TEXT NOT NULL, port INTEGER NOT NULL,
    endpoints TEXT NOT NULL, policy TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS owned_routes (name TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class Service:
    name: str
    vip: str
    protocol: str  # "tcp" | "udp"
    port: int
    endpoints: tuple[MeshEndpoint, ...] = ()
    policy: TrafficPolicy = TrafficPolicy()


def policy_to_json(policy: TrafficPolicy) -> str:
    data = {"split": dict(policy.split), "locality": policy.locality, "rate_limit_mbps": policy.rate_limit_mbps,
            "outlier_detection": dataclasses.asdict(policy.outlier_detection) if policy.outlier_detection else None}
    return json.dumps(data, sort_keys=True)


def policy_from_json(text: str) -> TrafficPolicy:
    data = json.loads(text)
    outlier = data.get("outlier_detection")
    return TrafficPolicy(tuple(sorted(data.get("split", {}).items())), bool(data.get("locality")),
                         float(data.get("rate_limit_mbps", 0.0)), OutlierDetection(**outlier) if outlier else None)


class MeshStore(LockedDatabase):
    """Every write commits before the caller goes on."""

    schema = SCHEMA

    def services(self) -> list[Service]:
        with self._lock:
            rows = self._db.execute("SELECT name, vip, protocol, port, endpoints, policy FROM services "
                                    "ORDER BY name").fetchall()
        return [Service(name, vip, protocol, port, tuple(MeshEndpoint(**e) for e in json.loads(eps)),
                        policy_from_json(policy)) for name, vip, protocol, port, eps, policy in rows]

    def save(self, service: Service) -> None:
        endpoints = json.dumps([dataclasses.asdict(e) for e in service.endpoints])
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO services (name, vip, protocol, port, endpoints, policy) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (service.name, service.vip, service.protocol, service.port,
                                                           endpoints, policy_to_json(service.policy)))

    def delete(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM services WHERE name = ?", (name,))

    def owned(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT name FROM owned_routes")}

    def own(self, name: str, owned: bool) -> None:
        with self._lock:
            if owned:
                self._db.execute("INSERT OR IGNORE INTO owned_routes (name) VALUES (?)", (name,))
            else:
                self._db.execute("DELETE FROM owned_routes WHERE name = ?", (name,))
