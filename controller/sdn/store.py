"""SQLite persistence of the SDN controller's desired state: service routes, reserved paths, attached endpoints."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from controller.sqlite import open_database

from .network import AttachedEndpoint
from .rules import Endpoint, ReservedPath, ServiceRoute

SCHEMA = """
CREATE TABLE IF NOT EXISTS service_routes (
    service TEXT PRIMARY KEY, service_id INTEGER UNIQUE NOT NULL, vip TEXT NOT NULL,
    protocol TEXT NOT NULL, port INTEGER NOT NULL, endpoints TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reserved_paths (
    path_id INTEGER PRIMARY KEY, src TEXT NOT NULL, dst TEXT NOT NULL,
    bandwidth_mbps REAL NOT NULL, hops TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attached_endpoints (
    name TEXT PRIMARY KEY, ip TEXT NOT NULL, mac TEXT NOT NULL, switch TEXT NOT NULL,
    port INTEGER NOT NULL, node TEXT NOT NULL);
"""


class SdnStore:
    """Every write commits before the caller goes on, so a killed daemon loses nothing it confirmed."""

    def __init__(self, path: str | Path):
        self._lock = threading.Lock()
        self._db = open_database(path, SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def routes(self) -> list[ServiceRoute]:
        with self._lock:
            rows = self._db.execute(
                "SELECT service, vip, protocol, port, endpoints, service_id FROM service_routes "
                "ORDER BY service_id").fetchall()
        return [ServiceRoute(s, vip, proto, port, tuple(Endpoint(**e) for e in json.loads(eps)), sid)
                for s, vip, proto, port, eps, sid in rows]

    def save_route(self, route: ServiceRoute) -> None:
        endpoints = json.dumps([e.__dict__ for e in route.endpoints])
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO service_routes (service, service_id, vip, protocol, port, endpoints) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (route.service, route.service_id, route.vip, route.protocol, route.port, endpoints))

    def delete_route(self, service: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM service_routes WHERE service = ?", (service,))

    def paths(self) -> list[ReservedPath]:
        with self._lock:
            rows = self._db.execute(
                "SELECT path_id, src, dst, bandwidth_mbps, hops FROM reserved_paths ORDER BY path_id").fetchall()
        return [ReservedPath(pid, src, dst, bw, tuple(tuple(h) for h in json.loads(hops)))
                for pid, src, dst, bw, hops in rows]

    def save_path(self, path: ReservedPath) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO reserved_paths (path_id, src, dst, bandwidth_mbps, hops) VALUES (?, ?, ?, ?, ?)",
                (path.path_id, path.src, path.dst, path.bandwidth_mbps, json.dumps(path.hops)))

    def delete_path(self, path_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM reserved_paths WHERE path_id = ?", (path_id,))

    def endpoints(self) -> list[AttachedEndpoint]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, ip, mac, switch, port, node FROM attached_endpoints ORDER BY name").fetchall()
        return [AttachedEndpoint(*row) for row in rows]

    def save_endpoint(self, endpoint: AttachedEndpoint) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO attached_endpoints (name, ip, mac, switch, port, node) VALUES (?, ?, ?, ?, ?, ?)",
                (endpoint.name, endpoint.ip, endpoint.mac, endpoint.switch, endpoint.port, endpoint.node))

    def delete_endpoint(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM attached_endpoints WHERE name = ?", (name,))
