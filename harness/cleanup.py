"""Removing every container a run's node agents started: processes, root-folder mounts, pod namespaces.

Used when a stack stops, whatever state it is in (agents killed, the network gone already):
it reads only what is on disk (each node's runc state folder, the mount table, the named
network namespaces of the run's prefix), and every external call has a timeout.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

TIMEOUT = 10.0


def _run(argv: list[str]) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None


def pod_namespaces(prefix: str) -> list[str]:
    """Named network namespaces of a run (their names start with its prefix)."""
    done = _run(["ip", "netns", "list"])
    if done is None or done.returncode != 0:
        return []
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix)]


def remove_containers(nodes_dir: Path, netns_prefix: str) -> None:
    from dataplane.agent.rootfs import mounts_under
    from dataplane.agent.runtime import Runc

    for runc_root in sorted(nodes_dir.glob("*/runc")):
        runc = Runc(runc_root)
        try:
            entries = runc.list()
        except Exception:  # a broken state folder must not stop the rest of the cleanup
            entries = []
        for entry in entries:
            try:
                runc.delete(entry["id"], force=True)
            except Exception:
                pass
    if nodes_dir.exists():
        for mount in sorted(mounts_under(nodes_dir), key=lambda p: len(p.parts), reverse=True):
            _run(["umount", "-l", str(mount)])
    for name in pod_namespaces(netns_prefix):
        _run(["ip", "netns", "del", name])


def remove_run_folder(workdir: Path, keep: bool) -> bool:
    """Delete a stopped run's folder (its daemons' logs, stores and registry: gigabytes at real image
    sizes) unless `keep`, or unless anything is still mounted below it; True if it was deleted."""
    import shutil

    from dataplane.agent.rootfs import mounts_under

    if keep or mounts_under(workdir):
        return False
    shutil.rmtree(workdir, ignore_errors=True)
    return True
