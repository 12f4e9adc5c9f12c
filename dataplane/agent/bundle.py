"""The OCI runtime bundle's config.json for one container: a pure function of what the agent decided."""

from __future__ import annotations

import os
from typing import Sequence

OCI_VERSION = "1.0.2"

# The synthetic image layers hold no interpreter or shell, so the host's programs and
# libraries are bound read-only into every container. On Debian /bin, /lib, /lib64 and /sbin
# are symlinks into /usr: binding them still works (the kernel resolves the bind source and
# runc creates the destination folder in the root folder, or follows a symlink the root
# folder already has), so every one that exists is bound.
HOST_RUNTIME_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/sbin")

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# runc spec's default set; CAP_NET_BIND_SERVICE lets a server bind port 80 without more.
CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
EXTRA_CAPABILITIES = ("CAP_NET_RAW",)  # what a container may ask for on top: a VNF's raw socket

MIN_CPU_SHARES = 2
MAX_CPU_SHARES = 262144

READ_ONLY_BIND = ["rbind", "ro", "nosuid", "nodev"]


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
                   host_dirs: Sequence[str] | None = None, capabilities: Sequence[str] = ()) -> dict:
    """config.json (OCI runtime spec 1.0.2, as root) for a container that joins the existing
    network namespace at netns_path. binds are (host folder, container folder) and files
    (host file, container path), both read-only; host_dirs defaults to the host runtime
    folders this machine has. memory_limit_mib > 0 caps the container's memory (and memory plus
    swap, so it cannot swap past it): the kernel OOM-kills it beyond; 0 = no limit."""
    if not args:
        raise ValueError("a container needs a command: args is empty")
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
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
