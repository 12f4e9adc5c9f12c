"""SQLite persistence of the SDN controller's desired state: service routes, reserved paths, attached endpoints, network policies."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from component_base.sqlite import LockedDatabase

from api.classifier import Classifier
from api.network_policy import ResolvedPolicies, resolved_from_dict, resolved_to_dict

from .model import AttachedEndpoint, Chain, ReservedPath, ServiceEndpoint, ServiceRoute

SCHEMA = """
CREATE TABLE IF NOT EXISTS service_routes (
    service TEXT PRIMARY KEY, service_id INTEGER UNIQUE NOT NULL, vip TEXT NOT NULL,
    protocol TEXT NOT NULL, port INTEGER NOT NULL, endpoints TEXT NOT NULL,
    locality INTEGER NOT NULL DEFAULT 0, rate_limit_kbps INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS reserved_paths (
    path_id INTEGER PRIMARY KEY, src TEXT NOT NULL, dst TEXT NOT NULL,
    bandwidth_mbps REAL NOT NULL, hops TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chains (
    name TEXT PRIMARY KEY, chain_id INTEGER UNIQUE NOT NULL, classifier TEXT NOT NULL, hops TEXT NOT NULL,
    symmetric INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS attached_endpoints (
    name TEXT PRIMARY KEY, ip TEXT NOT NULL, mac TEXT NOT NULL, switch TEXT NOT NULL,
    port INTEGER NOT NULL, node TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS network_policies (id INTEGER PRIMARY KEY CHECK (id = 1), resolved TEXT NOT NULL);
"""


class SdnStore(LockedDatabase):
    """Every write commits before the caller goes on, so a killed daemon loses nothing it confirmed."""

    schema = SCHEMA

    def __init__(self, path: str | Path):
        super().__init__(path)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(service_routes)")}
        for column in ("locality", "rate_limit_kbps"):  # a database from before traffic policies
            if column not in columns:
                self._db.execute(f"ALTER TABLE service_routes ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")

    def routes(self) -> list[ServiceRoute]:
        with self._lock:
            rows = self._db.execute(
                "SELECT service, vip, protocol, port, endpoints, service_id, locality, rate_limit_kbps "
                "FROM service_routes ORDER BY service_id").fetchall()
        routes = []
        for s, vip, proto, port, eps, sid, locality, rate in rows:
            endpoints = tuple(ServiceEndpoint(**e) for e in json.loads(eps))  # saved without slots: numbered in order
            routes.append(ServiceRoute(s, vip, proto, port, endpoints, sid, bool(locality), rate))
        return routes

    def save_route(self, route: ServiceRoute) -> None:
        endpoints = json.dumps([dataclasses.asdict(e) for e in route.endpoints])
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO service_routes (service, service_id, vip, protocol, port, endpoints, "
                "locality, rate_limit_kbps) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (route.service, route.service_id, route.vip, route.protocol, route.port, endpoints,
                 int(route.locality), route.rate_limit_kbps))

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

    def chains(self) -> list[Chain]:
        with self._lock:
            rows = self._db.execute("SELECT name, chain_id, classifier, hops, symmetric FROM chains "
                                    "ORDER BY chain_id").fetchall()
        return [Chain(name, Classifier(**json.loads(c)),
                      tuple(tuple(hop) if isinstance(hop, list) else (hop,) for hop in json.loads(h)), bool(sym), cid)
                for name, cid, c, h, sym in rows]

    def save_chain(self, chain: Chain) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO chains (name, chain_id, classifier, hops, symmetric) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (chain.name, chain.chain_id, json.dumps(dataclasses.asdict(chain.classifier)),
                              json.dumps([list(hop) for hop in chain.hops]), int(chain.symmetric)))

    def delete_chain(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM chains WHERE name = ?", (name,))

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

    def policies(self) -> ResolvedPolicies:
        with self._lock:
            row = self._db.execute("SELECT resolved FROM network_policies WHERE id = 1").fetchone()
        return resolved_from_dict(json.loads(row[0])) if row else ResolvedPolicies()

    def save_policies(self, resolved: ResolvedPolicies) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO network_policies (id, resolved) VALUES (1, ?)",
                             (json.dumps(resolved_to_dict(resolved)),))
