"""runc, driven as a command: start detached containers, read their state, stop and delete them."""

# What `runc run --detach` does here (runc 1.1.5, cgroup v1/hybrid), checked for real:
# - runc returns once the container's process runs. That process is not runc's caller's child
#   (no CLONE_PARENT towards the caller; right after `runc run` returns its parent is already
#   PID 1): runc exits and the process is reparented to the nearest child subreaper, or PID 1
#   when there is none. It has a session of its own, so it survives its caller's death (even a
#   SIGKILL of the caller's whole process group): a restarted agent finds its containers running.
# - Its exit code reaches only its parent. runc does not keep it (`runc state` says "stopped",
#   pid 0). So the agent learns exit codes only by making itself a child subreaper
#   (become_child_subreaper) before starting containers: they are then its children and
#   process_alive (or stop, through the PID run_detached keeps in the bundle's pid file) reaps
#   them with waitpid and records the code. Otherwise the code is unknown
#   (None) and the dead process stays a zombie of PID 1 until PID 1 reaps it, which is why
#   process_alive counts a zombie as dead.
# - The container's process is PID 1 of its PID namespace, so signals it has no handler for
#   are ignored: SIGTERM does not stop `sh` or `python3 -m http.server`; stop() then SIGKILLs
#   it after the timeout (SIGKILL from outside the namespace always works).
# - Without a cgroupsPath in config.json, runc makes each container's cgroups under its
#   caller's own (memory: /sys/fs/cgroup/memory/<agent's cgroup>/<container id>) and keeps them
#   until `runc delete`. A memory limit lands there as memory.limit_in_bytes; a process
#   allocating past it is SIGKILLed by the kernel, and memory.oom_control's oom_kill counter
#   counts it (memory.failcnt stayed 0 here: read oom_kill).

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
PID_FILE = "container.pid"  # in the bundle: the PID of the container's process, kept after it dies

# Exit codes of our child processes that process_alive reaped, by PID. A signal's death is
# recorded as 128 + the signal's number, as shells and container engines report it.
_exit_codes: dict[int, int] = {}


class RuncError(Exception):
    """A runc command failed; the message carries runc's own error output."""


def become_child_subreaper() -> None:
    """Makes this process adopt its orphaned descendants, so that containers it starts stay
    its children and their exit codes can be learned (see the notes at the top of this module)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(errno)}")


def _exit_code(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def process_alive(pid: int) -> bool:
    """Whether pid exists and is not a zombie. A zombie that is our own child is reaped here
    (waitpid on that PID only, so that subprocess's own waits keep working) and its exit code
    recorded for reaped_exit_code."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The command name in parentheses may itself hold spaces or parentheses: the state
    # is the first field after the last ')'.
    state = stat[stat.rindex(")") + 2]
    if state not in ("Z", "X"):
        return True
    try:
        reaped, wait_status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    if reaped == pid:
        _exit_codes[pid] = _exit_code(wait_status)
    return False


def reaped_exit_code(pid: int) -> int | None:
    """The exit code of process pid if process_alive reaped it (our child); None otherwise."""
    return _exit_codes.get(pid)


def own_memory_cgroup() -> Path:
    """This process's memory cgroup folder (cgroup v1), where runc puts its containers' ones."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    return Path("/sys/fs/cgroup/memory")


def oom_kills(cgroup: Path) -> int:
    """How many processes the OOM killer killed in a memory cgroup; 0 when it has no such file."""
    try:
        text = (cgroup / "memory.oom_control").read_text()
    except OSError:
        return 0
    counts = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
    return int(counts.get("oom_kill", 0))


class Runc:
    """runc with a state folder of its own (`runc --root`), so that every node keeps its own
    containers apart."""

    def __init__(self, state_root: Path):
        self.state_root = Path(state_root)

    def _command(self, *args: str) -> list[str]:
        runc = shutil.which("runc")
        if runc is None:
            raise RuncError("runc is not installed (apt-get install runc)")
        return [runc, "--root", str(self.state_root), *args]

    def _run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        command = self._command(*args)
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuncError(f"runc {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def run_detached(self, container_id: str, bundle: Path, log_path: Path) -> int:
        """Starts the bundle's container and returns its host PID once it runs. Its stdout and
        stderr are appended to log_path; so is runc's error output when it cannot start (and
        the RuncError carries it)."""
        bundle = Path(bundle)
        log_path = Path(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_root.mkdir(parents=True, exist_ok=True)
        pid_file = bundle / PID_FILE
        pid_file.unlink(missing_ok=True)
        command = self._command("run", "--detach", "--pid-file", str(pid_file), "--bundle", str(bundle),
                                container_id)
        with open(log_path, "ab") as log:
            start_offset = log.tell()
            # The container inherits these descriptors as its stdio; close_fds (the default)
            # keeps every other descriptor of the agent, such as its sockets, out of it.
            result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=60)
        if result.returncode != 0:
            with open(log_path, "rb") as log:
                log.seek(start_offset)
                runc_output = log.read().decode(errors="replace").strip()
            raise RuncError(f"runc run {container_id} failed: {runc_output}")
        pid = int(pid_file.read_text().strip())
        _exit_codes.pop(pid, None)  # a code recorded for an earlier process with this PID
        return pid

    def state(self, container_id: str) -> dict | None:
        """runc's state of the container (id, pid, status, bundle ...); None if runc does not know it."""
        result = subprocess.run(self._command("state", container_id), capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            if "does not exist" in result.stderr:
                return None
            raise RuncError(f"runc state {container_id} failed: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def kill(self, container_id: str, sig: str = "TERM") -> None:
        """Sends sig (a name such as TERM or KILL) to the container's process."""
        self._run("kill", container_id, sig)

    def delete(self, container_id: str, *, force: bool = True) -> None:
        """Deletes the container (force: kills it first if it runs); nothing if runc does not know it."""
        args = ["delete", "--force", container_id] if force else ["delete", container_id]
        result = subprocess.run(self._command(*args), capture_output=True, text=True, timeout=30)
        if result.returncode != 0 and "does not exist" not in result.stderr:
            raise RuncError(f"runc {' '.join(args)} failed: {result.stderr.strip()}")

    def oom_killed(self, container_id: str) -> bool:
        """Whether the OOM killer killed a process of the container since it was last started
        (its memory cgroup is made anew by each `runc run`)."""
        return oom_kills(own_memory_cgroup() / container_id) > 0

    def list(self) -> list[dict]:
        """Every container runc knows under this state folder."""
        return json.loads(self._run("list", "--format", "json").stdout) or []

    def stop(self, container_id: str, timeout: float = 10.0) -> int | None:
        """SIGTERM, SIGKILL if the process still runs after timeout seconds, then delete. Returns
        the exit code if it is known (see the notes at the top of this module); doing it again does nothing."""
        state = self.state(container_id)
        if state is None:
            return None
        pid = state.get("pid") or 0
        if pid and process_alive(pid):
            self._signal_if_running(container_id, "TERM")
            if not _wait_for_exit(pid, timeout):
                self._signal_if_running(container_id, "KILL")
                if not _wait_for_exit(pid, 10.0):
                    raise RuncError(f"container {container_id} (pid {pid}) survived SIGKILL for 10 s")
        elif not pid:
            # runc reports pid 0 once the process has died; its PID is still in the pid file,
            # and if the process is our child it is reaped here.
            pid = _recorded_pid(Path(state["bundle"])) if state.get("bundle") else 0
            if pid:
                process_alive(pid)
        self.delete(container_id, force=True)
        return reaped_exit_code(pid) if pid else None

    def _signal_if_running(self, container_id: str, sig: str) -> None:
        try:
            self.kill(container_id, sig)
        except RuncError:
            state = self.state(container_id)
            if state is not None and state.get("status") == "running":
                raise


def _recorded_pid(bundle: Path) -> int:
    """The PID run_detached recorded in the bundle; 0 when there is none."""
    try:
        return int((bundle / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return 0


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Whether pid is dead (or a zombie) within timeout seconds."""
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True

