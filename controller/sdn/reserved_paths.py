"""Bandwidth-reserved paths and their admission: reserved only where the bandwidth is free, moved when links do.

A path is admitted only over links (and hosts' access links) with the bandwidth unreserved, holds
its reservation, and moves when its links or hosts do.

Not thread-safe: SdnCore holds its lock around every call.
"""

from __future__ import annotations

import logging

from component_base.errors import AlreadyExists, FailedPrecondition, NotFound

from .model import ReservedPath
from .network import NetworkView, check_bandwidth
from .store import SdnStore

log = logging.getLogger("strata.sdn")


class ReservedPaths:
    def __init__(self, view: NetworkView, store: SdnStore):
        """The paths of the store whose hosts the view has (the others are dropped), reserved."""
        self.view = view
        self.store = store
        self.paths: dict[int, ReservedPath] = {}
        for path in store.paths():
            if path.src not in view.hosts or path.dst not in view.hosts:
                log.warning("path %d %s->%s names a host the topology does not have: dropped",
                            path.path_id, path.src, path.dst)
                store.delete_path(path.path_id)
                continue
            self.paths[path.path_id] = path
            self._reserve(path, +1)

    def compute(self, src: str, dst: str, min_bandwidth_mbps: float = 0.0):
        """(hops, bottleneck Mbit/s) of the shortest path with the bandwidth unreserved; reserves nothing."""
        check_bandwidth(min_bandwidth_mbps, "min_bandwidth_mbps")
        hops = self.view.path(src, dst, min_bandwidth_mbps)
        return hops, self.view.bottleneck(hops)

    def install(self, src: str, dst: str, bandwidth_mbps: float) -> ReservedPath:
        check_bandwidth(bandwidth_mbps, "bandwidth_mbps")
        for other in self.paths.values():
            if (other.src, other.dst) == (src, dst):  # its rules would be shadowed by the new ones
                raise AlreadyExists(f"a path from {src} to {dst} is installed already (id {other.path_id}); "
                                    "remove it first")
        hops = self.view.path(src, dst, bandwidth_mbps)
        path_id = max(self.paths, default=0) + 1
        path = ReservedPath(path_id, src, dst, bandwidth_mbps, tuple(hops))
        self.store.save_path(path)
        self.paths[path_id] = path
        self._reserve(path, +1)
        return path

    def remove(self, path_id: int) -> ReservedPath:
        if path_id not in self.paths:
            raise NotFound(f"no installed path with id {path_id}")
        path = self.paths.pop(path_id)
        self._reserve(path, -1)
        self.store.delete_path(path_id)
        return path

    def remove_host(self, name: str) -> None:
        """Paths to or from a host that went away (a detached endpoint) go with it."""
        for path_id, path in list(self.paths.items()):
            if name in (path.src, path.dst):
                log.info("path %d %s->%s removed: endpoint %s was detached", path_id, path.src, path.dst, name)
                self.remove(path_id)

    def reroute(self) -> None:
        """Paths over a link that went down, or from or to a host that moved, take a new path with
        the same reservation."""
        for path_id, path in list(self.paths.items()):
            if self._is_current(path):
                continue
            self._reserve(path, -1)
            try:
                hops = self.view.path(path.src, path.dst, path.bandwidth_mbps)
            except FailedPrecondition:
                try:
                    hops = self.view.path(path.src, path.dst)
                    log.warning("path %d %s->%s: no path with %.1f Mbit/s free; using the shortest one",
                                path_id, path.src, path.dst, path.bandwidth_mbps)
                except FailedPrecondition:
                    log.warning("path %d %s->%s: no path at all; kept until the network heals",
                                path_id, path.src, path.dst)
                    self._reserve(path, +1)
                    continue
            new = ReservedPath(path_id, path.src, path.dst, path.bandwidth_mbps, tuple(hops))
            self.paths[path_id] = new
            self._reserve(new, +1)
            self.store.save_path(new)

    def _is_current(self, path: ReservedPath) -> bool:
        """Its links are up and it starts and ends where its hosts are attached now."""
        src, dst = self.view.hosts[path.src], self.view.hosts[path.dst]
        (first_dpid, first_in, _), (last_dpid, _, last_out) = path.hops[0], path.hops[-1]
        return ((first_dpid, first_in) == (src.dpid, src.port) and (last_dpid, last_out) == (dst.dpid, dst.port)
                and all(self.view.links[(d, o)].up for d, _, o in path.hops[:-1]))

    def _reserve(self, path: ReservedPath, sign: int) -> None:
        src, dst = self.view.hosts.get(path.src), self.view.hosts.get(path.dst)
        if src is not None:
            src.reserved_up = max(0.0, src.reserved_up + sign * path.bandwidth_mbps)
        if dst is not None:
            dst.reserved_down = max(0.0, dst.reserved_down + sign * path.bandwidth_mbps)
        for dpid, _, out in path.hops[:-1]:
            link = self.view.links.get((dpid, out))
            if link is not None:
                link.reserved_mbps = max(0.0, link.reserved_mbps + sign * path.bandwidth_mbps)
