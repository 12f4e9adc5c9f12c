"""The kube-scheduler extender over HTTP: POST filter and prioritize verbs, JSON in and out, on a stdlib threading server (a thin adapter over kube_extender)."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .kube_extender import (ExtenderRequestError, LayerResolver, NodeView, error_result, filter_nodes, prioritize,
                            read_args, read_node)

DEFAULT_MAX_BODY = 64 * 2**20  # bytes: a NodeList of a few thousand nodes with their image lists
REQUEST_TIMEOUT = 30.0  # seconds a connection may stay silent in the middle of a request


class NodeCache:
    """The nodes the extender has seen, by name, for requests that give NodeNames only (an extender
    configured nodeCacheCapable): filled from every request that carries whole nodes, and from a
    NodeList file (`kubectl get nodes -o json`) read again whenever it changes."""

    def __init__(self, nodes_file: Path | None = None):
        self.nodes_file = nodes_file
        self._nodes: dict[str, NodeView] = {}
        self._file_stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def update(self, nodes: Iterable[NodeView]) -> None:
        with self._lock:
            self._nodes.update((node.name, node) for node in nodes if node.images is not None)

    def get(self, name: str) -> NodeView | None:
        with self._lock:
            return self._nodes.get(name)

    def refresh(self) -> None:
        """Read the nodes file again if it changed since the last read (ValueError if it is not a NodeList)."""
        if self.nodes_file is None:
            return
        stat = self.nodes_file.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._file_stamp:
            return
        try:
            document = json.loads(self.nodes_file.read_bytes())
            items = document.get("items") if isinstance(document, dict) else None
            if not isinstance(items, list):
                raise ValueError("expected a NodeList object with items (kubectl get nodes -o json)")
            nodes = [read_node(item, f"items[{k}]") for k, item in enumerate(items)]
        except (ValueError, ExtenderRequestError) as exc:
            raise ValueError(f"nodes file {self.nodes_file}: {exc}") from None
        self.update(nodes)
        self._file_stamp = stamp


class Extender:
    """The extender's two verbs on request bodies: (HTTP status, JSON answer)."""

    def __init__(self, resolver: LayerResolver, cache: NodeCache | None = None,
                 log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)):
        self.resolver, self.cache, self.log = resolver, cache or NodeCache(), log

    def _args(self, body: bytes):
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise ExtenderRequestError(f"the request body is not JSON: {exc}") from None
        try:
            self.cache.refresh()
        except (OSError, ValueError) as exc:  # the cache keeps what it had; the request goes on
            self.log(f"node cache: {exc}")
        args = read_args(document, self.cache.get)
        if not args.by_name:
            self.cache.update(args.nodes)
        return args

    def filter(self, body: bytes) -> tuple[int, object]:
        return self._answer("filter", lambda: filter_nodes(self._args(body), self.resolver), error_result)

    def prioritize(self, body: bytes) -> tuple[int, object]:
        return self._answer("prioritize", lambda: prioritize(self._args(body), self.resolver),
                            lambda message: {"Error": message})

    def _answer(self, verb: str, compute: Callable[[], object],
                error: Callable[[str], object]) -> tuple[int, object]:
        try:
            return 200, compute()
        except ExtenderRequestError as exc:
            self.log(f"{verb}: bad request: {exc}")
            return 400, error(f"strata extender: bad {verb} request: {exc}")
        except Exception as exc:  # a fault of the extender: the scheduler gets an answer, not a cut connection
            self.log(f"{verb}: failed: {type(exc).__name__}: {exc}")
            return 500, error(f"strata extender: {verb} failed: {type(exc).__name__}: {exc}")


def verb_path(prefix: str, verb: str) -> str:
    """The path the scheduler POSTs a verb to: its urlPrefix's path, then "/" and the verb."""
    return "/" + "/".join(part.strip("/") for part in (prefix, verb) if part.strip("/"))


def create_server(address: tuple[str, int], extender: Extender, *, prefix: str = "", filter_verb: str = "filter",
                  prioritize_verb: str = "prioritize",
                  max_body: int = DEFAULT_MAX_BODY) -> tuple[ThreadingHTTPServer, int]:
    """A server answering POST <prefix>/<filter_verb> and <prefix>/<prioritize_verb> (and GET
    /healthz), not yet serving; (server, the port it bound: give port 0 for any free one)."""
    routes = {verb_path(prefix, filter_verb): extender.filter, verb_path(prefix, prioritize_verb): extender.prioritize}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the scheduler's client keeps connections open
        timeout = REQUEST_TIMEOUT

        def _answer(self, status: int, value: object) -> None:
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _refuse(self, status: int, message: str, *, close: bool = False) -> None:
            if close:  # the body was not read: the connection cannot carry another request
                self.close_connection = True
            self._answer(status, error_result(f"strata extender: {message}") if self.path in routes
                         else {"Error": f"strata extender: {message}"})

        def do_POST(self) -> None:
            verb = routes.get(self.path.split("?", 1)[0])
            if verb is None:
                self._refuse(404, f"no verb at {self.path}; POST to {' or '.join(sorted(routes))}", close=True)
                return
            length = self.headers.get("Content-Length")
            if self.headers.get("Transfer-Encoding") or length is None:
                self._refuse(411, "send the body with a Content-Length", close=True)
                return
            try:
                size = int(length)
            except ValueError:
                size = -1
            if size < 0:
                self._refuse(400, f"bad Content-Length {length!r}", close=True)
                return
            if size > max_body:
                self._refuse(413, f"request body of {size} bytes is over the limit of {max_body} "
                                  "(serve with a larger --max-body, or configure the extender nodeCacheCapable)",
                             close=True)
                return
            try:
                body = self.rfile.read(size)
            except OSError:  # the client stopped sending (REQUEST_TIMEOUT) or went away
                self.close_connection = True
                return
            if len(body) < size:  # closed before the whole body came
                self.close_connection = True
                return
            self._answer(*verb(body))

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, {"status": "ok"})
            else:
                self._refuse(405 if self.path in routes else 404, f"GET {self.path}: the verbs take POST")

        def log_message(self, format: str, *args) -> None:  # errors are logged by the Extender
            pass

    server_class = ThreadingHTTPServer
    if ":" in address[0]:  # an IPv6 address
        server_class = type("ThreadingHTTPServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    server = server_class(address, Handler)
    server.daemon_threads = True
    return server, server.server_address[1]


def serve(server: ThreadingHTTPServer) -> None:
    """Serve until interrupted, then close the socket."""
    try:
        server.serve_forever()
    finally:
        server.server_close()

