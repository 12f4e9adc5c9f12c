"""The OCI runtime bundle's config.json for one container: a pure function of what the agent decided."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

OCI_VERSION = "1.0.2"

# The synthetic image layers hold no interpreter or shell, so the host's programs and
# libraries are bound read-only into every container. On Debian /bin, /lib, /lib64 and /sbin
# are symlinks into /usr: binding them still works (the kernel resolves the bind source and
# runc creates the destination folder in the root folder, or follows a symlink the root
# folder already has), so every one that exists is bound.
HOST_RUNTIME_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/sbin")

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# runc spec's default set; CAP_NET_BIND_SERVICE lets a server bind port 80 without more. It is a
# subset of Docker's default 14 (no CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_MKNOD,
# CAP_SETUID, CAP_SETGID, CAP_SETFCAP, CAP_SETPCAP or CAP_SYS_CHROOT): nothing here needs them.
CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
EXTRA_CAPABILITIES = ("CAP_NET_RAW",)  # what a container may ask for on top: a VNF's raw socket

MIN_CPU_SHARES = 2
MAX_CPU_SHARES = 262144

READ_ONLY_BIND = ["rbind", "ro", "nosuid", "nodev"]

DEFAULT_PIDS_LIMIT = 1024  # processes and threads per container: a fork bomb stops there
DEFAULT_MEMORY_LIMIT_MIB = 512.0  # a container given no limit gets this (or its request, if larger)

# The default seccomp profile, in the OCI runtime spec's form (linux.seccomp): Docker's default
# profile (moby profiles/seccomp/default.json, Docker 25) in its blocklist form, written for this
# repository from Docker's documented list of blocked syscalls (docs.docker.com/engine/security/seccomp/)
# plus what Docker 25 also leaves out (the new mount API, io_uring): each fails with EPERM, clone with
# a namespace flag too, clone3 with ENOSYS (so libc falls back to clone, whose flags are checked).
# docs/security.md says where it differs from Docker's allow list.
SECCOMP_PROFILE = Path(__file__).with_name("seccomp.json")

# Masked as runc spec's example masks them, plus Docker's /sys/devices/virtual/powercap (power
# readings leak what other tenants compute, CVE-2020-8694).
MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/proc/scsi", "/sys/devices/virtual/powercap",
]
READ_ONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


@lru_cache(maxsize=1)
def _seccomp_text() -> str:
    return SECCOMP_PROFILE.read_text()


def seccomp_profile() -> dict:
    """The default seccomp profile (a fresh copy: callers may change theirs)."""
    return json.loads(_seccomp_text())


def effective_memory_limit_mib(limit_mib: float, request_mib: float, default_mib: float) -> float:
    """The memory limit a container runs with: its own, or else the larger of its request and the
    node's default (a container asking for more than the default keeps what it asked for);
    default_mib 0: none."""
    if limit_mib > 0:
        return limit_mib
    if default_mib <= 0:
        return 0.0
    return max(request_mib, default_mib)


def cpu_shares(millicores: float) -> int:
    """cgroup cpu.shares for a CPU request, as Kubernetes computes it (1000 millicores = 1024)."""
    shares = int(millicores * 1024 / 1000)
    return max(MIN_CPU_SHARES, min(MAX_CPU_SHARES, shares))


def present_host_runtime_dirs() -> tuple[str, ...]:
    """The HOST_RUNTIME_DIRS this machine has (a symlink to a folder counts)."""
    return tuple(path for path in HOST_RUNTIME_DIRS if os.path.isdir(path))


def _read_only_bind(source: str, destination: str) -> dict:
    return {"destination": destination, "type": "bind", "source": source, "options": list(READ_ONLY_BIND)}


def _kernel_mounts() -> list[dict]:
    """The pseudo filesystems runc spec mounts in every container."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ]


def memory_limit_bytes(mib: float) -> int:
    """The cgroup memory limit, bytes, for a limit in MiB."""
    return int(mib * 2**20)


def runtime_config(*, args: list[str], env: list[str], cwd: str, hostname: str, netns_path: str,
                   cpu_millicores: float, memory_limit_mib: float = 0.0, binds: Sequence[tuple[str, str]] = (),
                   files: Sequence[tuple[str, str]] = (), rootfs: str = "rootfs",
                   host_dirs: Sequence[str] | None = None, capabilities: Sequence[str] = (),
                   pids_limit: int = DEFAULT_PIDS_LIMIT) -> dict:
    """config.json (OCI runtime spec 1.0.2, as root) for a container that joins the existing
    network namespace at netns_path. binds are (host folder, container folder) and files
    (host file, container path), both read-only; host_dirs defaults to the host runtime
    folders this machine has. memory_limit_mib > 0 caps the container's memory (and memory plus
    swap, so it cannot swap past it): the kernel OOM-kills it beyond; 0 = no limit (the agent
    passes effective_memory_limit_mib). pids_limit (>= 1) caps its processes and threads: fork
    fails with EAGAIN past it. Always: the default seccomp profile, no new privileges, runc spec's
    capabilities (plus the ones asked for), masked and read-only paths."""
    if not args:
        raise ValueError("a container needs a command: args is empty")
    if isinstance(pids_limit, bool) or not isinstance(pids_limit, int) or pids_limit < 1:
        raise ValueError(f"pids_limit must be a whole number >= 1, got {pids_limit!r}")
    if host_dirs is None:
        host_dirs = present_host_runtime_dirs()
    if not any(entry.startswith("PATH=") for entry in env):
        env = [DEFAULT_PATH, *env]
    mounts = _kernel_mounts()
    mounts += [_read_only_bind(path, path) for path in host_dirs]
    mounts += [_read_only_bind(source, destination) for source, destination in binds]
    mounts += [_read_only_bind(source, destination) for source, destination in files]
    resources: dict = {
        "devices": [{"allow": False, "access": "rwm"}],
        "cpu": {"shares": cpu_shares(cpu_millicores)},
        "pids": {"limit": pids_limit},
    }
    if memory_limit_mib > 0:
        limit = memory_limit_bytes(memory_limit_mib)
        resources["memory"] = {"limit": limit, "swap": limit}
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": list(env),
            "cwd": cwd,
            "capabilities": {kind: [*CAPABILITIES, *capabilities]
                             for kind in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": False},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            "resources": resources,
            "namespaces": [
                {"type": "pid"},
                {"type": "network", "path": netns_path},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READ_ONLY_PATHS),
            "seccomp": seccomp_profile(),
        },
    }
