"""Running Debian's docker-registry (CNCF Distribution 2.8) on a folder and an address, in any network namespace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

from images.registry import RegistryClient

REGISTRY_BINARY = "/usr/bin/docker-registry"
LOG_TAIL_BYTES = 2000


def registry_config(storage_dir: Path, listen_addr: str, *, log_level: str = "info") -> str:
    """The registry's YAML configuration: filesystem storage (deletes allowed), no auth, logs to stderr.

    Strings are written as JSON strings, which YAML reads as double-quoted scalars, so any path
    is safe.
    """
    if log_level not in ("error", "warn", "info", "debug"):
        raise ValueError(f"log level must be error, warn, info or debug, not {log_level!r}")
    host, _, port = listen_addr.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen address must be HOST:PORT (e.g. 10.0.0.2:5000), not {listen_addr!r}")
    return "\n".join([
        "version: 0.1",
        "log:",
        f"  level: {log_level}",
        "  formatter: text",
        "  accesslog:",
        "    disabled: true  # the info level already logs one line per request",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {json.dumps(str(Path(storage_dir).resolve()))}",
        "  delete:",
        "    enabled: true",
        "  cache:",
        "    blobdescriptor: inmemory",
        "http:",
        f"  addr: {json.dumps(listen_addr)}",
        "",
    ])


def _probe_url(listen_addr: str) -> str:
    """Where to ask for /v2/: a wildcard listen address is reached on loopback."""
    host, _, port = listen_addr.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


class RegistryServer:
    """One docker-registry process serving `storage_dir` on `listen_addr`.

    `popen` starts it: subprocess.Popen by default, or a Mininet host's `popen` to run it in that
    host's network namespace. `ready` tells whether it answers; by default GET /v2/ from this
    process, which only works where this process can reach `listen_addr` (pass e.g. a check run
    inside the host otherwise). Its configuration and log are written beside `storage_dir`:
    PARENT/registry.yml and PARENT/registry.log.
    """

    def __init__(self, storage_dir: Path, listen_addr: str, *, popen: Callable[..., subprocess.Popen] = subprocess.Popen,
                 ready: Callable[[], bool] | None = None, binary: str = REGISTRY_BINARY, log_level: str = "info"):
        self.storage_dir = Path(storage_dir).resolve()
        self.listen_addr = listen_addr
        self.url = _probe_url(listen_addr)
        self.config_path = self.storage_dir.parent / "registry.yml"
        self.log_path = self.storage_dir.parent / "registry.log"
        self._config = registry_config(self.storage_dir, listen_addr, log_level=log_level)
        self._popen = popen
        self._ready = ready or RegistryClient(self.url, timeout=2.0).ping
        self._binary = binary
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 20.0) -> "RegistryServer":
        """Start the registry and wait until it answers; RuntimeError (with the log's tail) if it
        exits or does not answer within `timeout` seconds."""
        if self.running():
            return self
        if not Path(self._binary).exists():
            raise FileNotFoundError(f"{self._binary} not found (apt-get install docker-registry)")
        if self._ready():  # would pass at once below, and hide that this registry cannot bind
            raise RuntimeError(f"a registry already answers on {self.url}; not starting another on {self.listen_addr}")
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._config)
        with open(self.log_path, "ab") as log:
            self.process = self._popen([self._binary, "serve", str(self.config_path)], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited with code {self.process.returncode} at start "
                                   f"({self.listen_addr}); end of {self.log_path}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry did not answer on {self.url}/v2/ within {timeout:g} s; "
                                   f"end of {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.1)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM by PID, SIGKILL if it is still there after `timeout` seconds."""
        if not self.running():
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> "RegistryServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
