"""Running Debian's docker-registry (CNCF Distribution 2.8) on a folder behind its gate, on an address, in any network namespace."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from images import credentials as registry_credentials
from images.credentials import Credentials
from images.registry import RegistryClient

REGISTRY_BINARY = "/usr/bin/docker-registry"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # where `python -m dataplane.registry.gate` is found
LOG_TAIL_BYTES = 2000
CREDENTIALS_FILE = "registry-credentials.json"  # beside the storage folder: the run folder under `strata up`


def check_listen_address(listen_addr: str) -> None:
    host, _, port = listen_addr.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen address must be HOST:PORT (e.g. 10.0.0.2:5000), not {listen_addr!r}")


def registry_config(storage_dir: Path, socket_path: Path, *, log_level: str = "info", deletes: bool = False) -> str:
    """The registry's YAML configuration: filesystem storage (deletes only if asked), listening on a
    Unix socket only (the gate in front of it is what the network reaches), no auth of its own (the
    gate's), logs to stderr.

    Strings are written as JSON strings, which YAML reads as double-quoted scalars, so any path
    is safe.
    """
    if log_level not in ("error", "warn", "info", "debug"):
        raise ValueError(f"log level must be error, warn, info or debug, not {log_level!r}")
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
        f"    enabled: {'true' if deletes else 'false'}",
        "  cache:",
        "    blobdescriptor: inmemory",
        "http:",
        "  net: unix",
        f"  addr: {json.dumps(str(socket_path))}",
        "",
    ])


def _probe_url(listen_addr: str) -> str:
    """Where to ask for /v2/: a wildcard listen address is reached on loopback."""
    host, _, port = listen_addr.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


class RegistryServer:
    """One docker-registry process serving `storage_dir` on a Unix socket of its own, and its gate
    (dataplane.registry.gate) on `listen_addr`: reads open, writes only with the push credentials,
    deletes refused unless `deletes`.

    `popen` starts both: subprocess.Popen by default, or a Mininet host's `popen` to run them in that
    host's network namespace. `ready` tells whether it answers; by default GET /v2/ from this
    process, which only works where this process can reach `listen_addr` (pass e.g. a check run
    inside the host otherwise). Its configuration, log and credentials are written beside
    `storage_dir`: PARENT/registry.yml, PARENT/registry.log and PARENT/registry-credentials.json
    (mode 0600, generated at the first start, kept after).
    """

    def __init__(self, storage_dir: Path, listen_addr: str, *, popen: Callable[..., subprocess.Popen] = subprocess.Popen,
                 ready: Callable[[], bool] | None = None, binary: str = REGISTRY_BINARY, log_level: str = "info",
                 deletes: bool = False):
        check_listen_address(listen_addr)
        registry_config(Path(storage_dir), Path("registry.sock"), log_level=log_level)  # a bad level fails here
        self.storage_dir = Path(storage_dir).resolve()
        self.listen_addr = listen_addr
        self.url = _probe_url(listen_addr)
        self.config_path = self.storage_dir.parent / "registry.yml"
        self.log_path = self.storage_dir.parent / "registry.log"
        self.credentials_path = self.storage_dir.parent / CREDENTIALS_FILE
        self.deletes = deletes
        self._log_level = log_level
        self._popen = popen
        self._ready = ready or RegistryClient(self.url, timeout=2.0).ping
        self._binary = binary
        self.process: subprocess.Popen | None = None  # docker-registry
        self.gate: subprocess.Popen | None = None
        self._socket_dir: Path | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def upstream_socket(self) -> Path | None:
        """docker-registry's own Unix socket, behind the gate (None when not started): for measuring
        what the gate costs, never handed to clients."""
        return self._socket_dir / "registry.sock" if self._socket_dir is not None else None

    @property
    def credentials(self) -> Credentials:
        """The push credentials (what the orchestrator is given); generated at start."""
        return registry_credentials.load(self.credentials_path)

    def running(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self.process, self.gate))

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
        registry_credentials.load_or_create(self.credentials_path)
        # A Unix socket path is at most 107 bytes: a short private folder, whatever storage_dir is.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="registry-socket-"))
        socket_path = self._socket_dir / "registry.sock"
        self.config_path.write_text(registry_config(self.storage_dir, socket_path, log_level=self._log_level,
                                                    deletes=self.deletes))
        gate = [sys.executable, "-m", "dataplane.registry.gate", "--listen", self.listen_addr,
                "--upstream", str(socket_path), "--credentials", str(self.credentials_path)]
        with open(self.log_path, "ab") as log:
            self.process = self._popen([self._binary, "serve", str(self.config_path)], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT)
            self.gate = self._popen([*gate, *(["--deletes"] if self.deletes else [])], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=str(PACKAGE_ROOT))
        deadline = time.monotonic() + timeout
        while not self._ready():
            for what, process in (("docker-registry", self.process), ("its gate", self.gate)):
                if process.poll() is not None:
                    code = process.returncode
                    self.stop()
                    raise RuntimeError(f"{what} exited with code {code} at start ({self.listen_addr}); "
                                       f"end of {self.log_path}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry did not answer on {self.url}/v2/ within {timeout:g} s; "
                                   f"end of {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.1)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """The gate, then docker-registry: SIGTERM by PID, SIGKILL if one is still there after
        `timeout` seconds; their socket's folder removed."""
        for process in (self.gate, self.process):
            if process is None or process.poll() is not None:
                continue
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

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
