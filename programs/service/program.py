"""The service program every application container runs (a stand-in for the real microservice).

One self-contained file, standard library only: containers run it as
`python3 /opt/strata/program.py` with the host's Debian python3 and nothing of this repository.
Importing it has no side effects; the orchestrator and the tests use its pure helpers
(`parse_dependencies`, `tree_services`, `tree_ok`).

Configuration (environment):
  STRATA_SERVICE       service name (default "service")
  STRATA_MESH_SERVICE  the service it is a version of, which its callers call (default: STRATA_SERVICE)
  STRATA_INSTANCE      instance / container name (default: the host name)
  STRATA_NODE          edge server name (default "")
  STRATA_APP           application name (default "")
  STRATA_PORT          port to listen on (default 8080)
  STRATA_BIND          address to listen on (default 0.0.0.0)
  STRATA_DEPENDENCIES  comma-separated "name:port" (host = the service name, resolved by the
                       container's /etc/hosts to the service's virtual IP) or "name=host:port"
  STRATA_CALL_TIMEOUT  seconds per dependency call (default 3)
  STRATA_MAX_DEPTH     longest chain of services a /call tree covers (default 8)

HTTP API (JSON bodies):
  GET /         who answered: service, instance, node, app, pid, uptime_seconds, requests
  GET /healthz  {"ok": true}
  GET /call     calls GET /call on every dependency (concurrently, each within the timeout) and
                returns the call tree; 200 when every call of the tree succeeded, else 502.
                The header X-Strata-Path carries the services already on the path (cycles are
                reported as skipped "cycle", too long chains as skipped "depth"); the header
                X-Strata-Budget carries the caller's timeout so that a callee gives up on its
                own dependencies early enough to still answer its caller.
  other         404 {"error": ...}

Exit codes: 0 after SIGTERM/SIGINT, 1 when the port cannot be bound, 2 on bad configuration
(the message on stderr names the variable).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import urlsplit

PATH_HEADER = "X-Strata-Path"
BUDGET_HEADER = "X-Strata-Budget"

DEFAULT_PORT = 8080
DEFAULT_BIND = "0.0.0.0"
DEFAULT_CALL_TIMEOUT = 3.0
DEFAULT_MAX_DEPTH = 8

BUDGET_SHARE = 0.8          # a callee spends at most this share of its caller's budget on its own calls
BUDGET_MARGIN = 0.05        # ... minus this, left for answering
MIN_CALL_TIMEOUT = 0.05     # never wait less than this for a dependency
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_PATH_SERVICES = 256

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


class ConfigError(ValueError):
    """A bad configuration value; the message names the environment variable."""


class Dependency(NamedTuple):
    name: str   # the dependency's service name (what cycle detection compares)
    host: str   # where to call it: the service name (resolved to its VIP) or an explicit host
    port: int

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


# ----------------------------------------------------------------------------- pure helpers

def _parse_port(text: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise ValueError(f"port {text!r} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 1-65535")
    return port


def _split_host_port(text: str) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):                      # [v6]:port
        close = text.find("]")
        if close < 0 or text[close + 1:close + 2] != ":":
            raise ValueError(f"{text!r} is not [host]:port")
        host, port = text[1:close], text[close + 2:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError(f"{text!r} has no port")
        if ":" in host:
            raise ValueError(f"{text!r}: write an IPv6 host as [host]:port")
    host = host.strip()
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"{text!r} has no valid host")
    return host, _parse_port(port)


def parse_dependencies(text: str | None) -> list[Dependency]:
    """Parse STRATA_DEPENDENCIES: comma-separated "name:port" or "name=host:port" entries.

    Empty text (or only commas and blanks) means no dependency. Raises ValueError naming the
    malformed entry.
    """
    deps: list[Dependency] = []
    seen: set[str] = set()
    for raw in (text or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            if "=" in entry:
                name, _, address = entry.partition("=")
                name = name.strip()
                host, port = _split_host_port(address)
            else:
                name, sep, port_text = entry.rpartition(":")
                if not sep:
                    raise ValueError("expected name:port or name=host:port")
                name = name.strip()
                host, port = name, _parse_port(port_text)
            if not _NAME.match(name):
                raise ValueError(f"bad service name {name!r}")
            if name in seen:
                raise ValueError(f"service {name!r} is listed twice")
        except ValueError as error:
            raise ValueError(f"dependency {entry!r}: {error}") from None
        seen.add(name)
        deps.append(Dependency(name, host, port))
    return deps


def tree_services(tree: dict) -> set[str]:
    """Every service name that answered somewhere in a /call tree (skipped or failed calls excluded)."""
    names: set[str] = set()
    if not isinstance(tree, dict):
        return names
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or "error" in node or "skipped" in node:
            continue
        if isinstance(node.get("service"), str):
            names.add(node["service"])
        calls = node.get("calls")
        if isinstance(calls, list):
            stack.extend(calls)
    return names


def tree_ok(tree: dict) -> bool:
    """True iff no node of the tree failed: no "error" and no "ok": false anywhere (skips are fine)."""
    if not isinstance(tree, dict) or "error" in tree or tree.get("ok") is False:
        return False
    calls = tree.get("calls", [])
    if not isinstance(calls, list):
        return False
    return all(tree_ok(call) for call in calls)


def parse_path(header: str | None) -> list[str]:
    """The services already on the call path, from the X-Strata-Path header."""
    names = [part.strip() for part in (header or "").split(",")]
    return [name for name in names if name][:MAX_PATH_SERVICES]


# ----------------------------------------------------------------------------- configuration

class Config(NamedTuple):
    service: str
    instance: str
    node: str
    app: str
    port: int
    bind: str
    dependencies: list[Dependency]
    call_timeout: float
    max_depth: int
    mesh_service: str = ""  # what callers call it (a version answers for its service); "" = service


def load_config(env: dict | None = None) -> Config:
    """The configuration from the environment; ConfigError names the bad variable."""
    env = os.environ if env is None else env

    def text(name: str, default: str) -> str:
        value = env.get(name, "").strip()
        return value or default

    try:
        port = _parse_port(text("STRATA_PORT", str(DEFAULT_PORT)))
    except ValueError as error:
        raise ConfigError(f"STRATA_PORT: {error}") from None
    try:
        dependencies = parse_dependencies(env.get("STRATA_DEPENDENCIES", ""))
    except ValueError as error:
        raise ConfigError(f"STRATA_DEPENDENCIES: {error}") from None
    raw = text("STRATA_CALL_TIMEOUT", str(DEFAULT_CALL_TIMEOUT))
    try:
        call_timeout = float(raw)
    except ValueError:
        raise ConfigError(f"STRATA_CALL_TIMEOUT: {raw!r} is not a number of seconds") from None
    if not 0 < call_timeout < 3600:
        raise ConfigError(f"STRATA_CALL_TIMEOUT: {raw!r} must be between 0 and 3600 seconds")
    raw = text("STRATA_MAX_DEPTH", str(DEFAULT_MAX_DEPTH))
    try:
        max_depth = int(raw)
    except ValueError:
        raise ConfigError(f"STRATA_MAX_DEPTH: {raw!r} is not a whole number") from None
    if max_depth < 1:
        raise ConfigError(f"STRATA_MAX_DEPTH: {raw!r} must be at least 1")
    service = text("STRATA_SERVICE", "service")
    if not _NAME.match(service):
        raise ConfigError(f"STRATA_SERVICE: bad service name {service!r}")
    mesh_service = text("STRATA_MESH_SERVICE", service)
    if not _NAME.match(mesh_service):
        raise ConfigError(f"STRATA_MESH_SERVICE: bad service name {mesh_service!r}")
    return Config(service=service, mesh_service=mesh_service,
                  instance=text("STRATA_INSTANCE", socket.gethostname()),
                  node=text("STRATA_NODE", ""),
                  app=text("STRATA_APP", ""),
                  port=port,
                  bind=text("STRATA_BIND", DEFAULT_BIND),
                  dependencies=dependencies,
                  call_timeout=call_timeout,
                  max_depth=max_depth)


# ----------------------------------------------------------------------------- calling dependencies

def _describe(error: BaseException, dep: Dependency, timeout: float) -> str:
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"timeout after {timeout:g}s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve host {dep.host!r}"
    if isinstance(error, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, http.client.HTTPException):
        return f"bad HTTP response: {type(error).__name__}"
    if isinstance(error, OSError):
        return f"connection failed: {error.strerror or error}"
    return f"{type(error).__name__}: {error}"


def call_dependency(dep: Dependency, path: list[str], timeout: float) -> dict:
    """GET /call on one dependency; the call entry for the tree (never raises)."""
    entry: dict = {"service": dep.name, "address": dep.address}
    started = time.monotonic()
    connection = http.client.HTTPConnection(dep.host, dep.port, timeout=timeout)
    try:
        connection.request("GET", "/call", headers={
            PATH_HEADER: ",".join(path),
            BUDGET_HEADER: f"{timeout:.3f}",
            "Connection": "close",
            "Accept": "application/json",
        })
        response = connection.getresponse()
        body = response.read(MAX_RESPONSE_BYTES + 1)
        status = response.status
    except Exception as error:  # noqa: BLE001 - every failure becomes the entry's error
        entry.update(ok=False, error=_describe(error, dep, timeout),
                     rtt_seconds=round(time.monotonic() - started, 4))
        return entry
    finally:
        connection.close()
    entry["rtt_seconds"] = round(time.monotonic() - started, 4)
    entry["status"] = status
    try:
        if len(body) > MAX_RESPONSE_BYTES:
            raise ValueError("response too large")
        tree = json.loads(body.decode("utf-8"))
        if not isinstance(tree, dict) or not isinstance(tree.get("service"), str):
            raise ValueError("not a call tree")
    except (ValueError, UnicodeDecodeError) as error:
        if status not in (200, 502):
            entry.update(ok=False, error=f"bad status {status}")
        else:
            entry.update(ok=False, error=f"bad JSON from status {status}: {error}")
        return entry
    if status not in (200, 502):
        entry.update(ok=False, error=f"bad status {status}")
        return entry
    for key, value in tree.items():
        if key not in ("service", "address", "status", "rtt_seconds"):
            entry[key] = value
    if dep.name not in (tree["service"], tree.get("mesh_service")):  # a version answers for its service
        entry.update(ok=False, error=f"wrong service: {dep.address} answered as {tree['service']!r}")
        return entry
    entry["ok"] = status == 200 and tree.get("ok") is True and tree_ok(tree)
    return entry


def call_all(deps: list[Dependency], path: list[str], timeout: float) -> list[dict]:
    """Call every dependency concurrently; each answer (or its failure) within `timeout` seconds."""
    results: list[dict | None] = [None] * len(deps)

    def run(index: int, dep: Dependency) -> None:
        results[index] = call_dependency(dep, path, timeout)

    threads = []
    for index, dep in enumerate(deps):
        thread = threading.Thread(target=run, args=(index, dep), daemon=True,
                                  name=f"call-{dep.name}")
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + timeout + 0.05
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    calls = []
    for index, dep in enumerate(deps):
        result = results[index]
        if result is None:  # still waiting: the socket timeout did not catch a slow trickle
            result = {"service": dep.name, "address": dep.address, "ok": False,
                      "error": f"timeout after {timeout:g}s", "rtt_seconds": round(timeout, 4)}
        calls.append(result)
    return calls


# ----------------------------------------------------------------------------- the server

class ServiceState:
    def __init__(self, config: Config):
        self.config = config
        self.started = time.monotonic()
        self.requests = 0
        self.lock = threading.Lock()

    def count(self) -> int:
        with self.lock:
            self.requests += 1
            return self.requests

    def identity(self) -> dict:
        c = self.config
        return {"service": c.service, "mesh_service": c.mesh_service or c.service, "instance": c.instance,
                "node": c.node, "app": c.app,
                "pid": os.getpid(), "uptime_seconds": round(time.monotonic() - self.started, 3),
                "requests": self.requests}

    def call_tree(self, path_header: str | None, budget_header: str | None) -> dict:
        c = self.config
        started = time.monotonic()
        path = parse_path(path_header) + [c.mesh_service or c.service]
        timeout = c.call_timeout
        if budget_header:
            try:
                budget = float(budget_header)
            except ValueError:
                budget = None
            if budget is not None and budget > 0:
                timeout = min(timeout, max(MIN_CALL_TIMEOUT, budget * BUDGET_SHARE - BUDGET_MARGIN))
        calls: list[dict | None] = []
        to_call: list[tuple[int, Dependency]] = []
        for dep in c.dependencies:
            if dep.name in path:
                calls.append({"service": dep.name, "address": dep.address, "ok": True,
                              "skipped": "cycle"})
            elif len(path) >= c.max_depth:
                calls.append({"service": dep.name, "address": dep.address, "ok": True,
                              "skipped": "depth"})
            else:
                to_call.append((len(calls), dep))
                calls.append(None)
        if to_call:
            answers = call_all([dep for _, dep in to_call], path, timeout)
            for (index, _), answer in zip(to_call, answers):
                calls[index] = answer
        tree = {"service": c.service, "mesh_service": c.mesh_service or c.service, "instance": c.instance,
                "node": c.node,
                "ok": all(call.get("ok") is True for call in calls),
                "seconds": round(time.monotonic() - started, 4),
                "calls": calls}
        return tree


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "strata-service/1"
    timeout = 60  # idle keep-alive connections end after this

    def version_string(self) -> str:
        return self.server_version

    @property
    def state(self) -> ServiceState:
        return self.server.state  # type: ignore[attr-defined]

    def send_json(self, status: int, body: dict) -> None:
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        self.state.count()
        route = urlsplit(self.path).path
        if route == "/":
            self.send_json(200, self.state.identity())
        elif route == "/healthz":
            self.send_json(200, {"ok": True})
        elif route == "/call":
            tree = self.state.call_tree(self.headers.get(PATH_HEADER), self.headers.get(BUDGET_HEADER))
            self.send_json(200 if tree["ok"] else 502, tree)
        else:
            self.send_json(404, {"error": f"not found: GET {route}"})

    def _not_found(self) -> None:
        self.state.count()
        self.close_connection = True  # any request body is left unread
        self.send_json(404, {"error": f"not found: {self.command} {urlsplit(self.path).path}"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_found

    def log_request(self, code="-", size="-") -> None:
        c = self.state.config
        sys.stderr.write(f"{c.service}/{c.instance} {self.client_address[0]} "
                         f"{self.command} {self.path} {code}\n")

    def log_error(self, format, *args) -> None:  # noqa: A002 - the base class's signature
        pass  # the request line that follows (log_request) is enough


class ServiceServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, config: Config):
        if ":" in config.bind:
            self.address_family = socket.AF_INET6
        self.state = ServiceState(config)
        super().__init__((config.bind, config.port), Handler)

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return  # the client went away: nothing to report
        sys.stderr.write(f"strata service: error serving {client_address[0]}: "
                         f"{type(error).__name__}: {error}\n")


def main() -> int:
    try:
        config = load_config()
    except ConfigError as error:
        sys.stderr.write(f"strata service: bad configuration: {error}\n")
        return 2
    try:
        server = ServiceServer(config)
    except OSError as error:
        sys.stderr.write(f"strata service: cannot listen on {config.bind}:{config.port}: "
                         f"{error.strerror or error}\n")
        return 1

    def stop(signum, frame) -> None:
        # shutdown() waits for serve_forever, which runs in this (the main) thread: ask from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deps = ",".join(f"{d.name}@{d.address}" for d in config.dependencies) or "none"
    sys.stderr.write(f"strata service {config.service}/{config.instance} listening on "
                     f"{config.bind}:{config.port}, dependencies: {deps}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
