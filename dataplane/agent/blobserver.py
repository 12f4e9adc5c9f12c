"""Each node agent serves the layer blobs it holds to its peers: the read-only blob subset of the OCI
distribution API that RegistryClient.fetch_blob uses, so a peer can be pulled from like a registry."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from component_base.errors import NotFound
from dataplane.agent.layers import LayerStore

log = logging.getLogger(__name__)

CHUNK = 256 * 1024  # bytes read from the blob file and written to the socket at a time
SOCKET_TIMEOUT = 120.0  # seconds one read or write of a peer's connection may take
SERVER_NAME = "strata-blobserver/1"
POLL_INTERVAL = 0.1  # seconds: how soon stop() is noticed by the accepting thread

_BLOB_PATH = re.compile(r"/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)")
_MANIFEST_PATH = re.compile(r"/v2/.+/manifests/[^/]+")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class BlobServer:
    """An HTTP server answering GET /v2/ and GET/HEAD /v2/<name>/blobs/<digest> from a LayerStore.

    Any repository name is accepted (the store is content-addressed). Only held layers are served:
    a layer still being pulled is not held, so a peer never receives a partial blob. Thread-safe
    counters: `served_bytes` (blob body bytes written to peers) and `requests` (requests answered).
    """

    def __init__(self, store: LayerStore, address: tuple[str, int]):
        self.store = store
        self.address = address
        self._lock = threading.Lock()
        self._served_bytes = 0
        self._requests = 0
        self._blobs_served = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Binds the address and serves in a background thread; returns once it accepts connections."""
        if self._server is not None:
            raise RuntimeError(f"blob server of {self.store.node} is already started on port {self.port}")
        server = ThreadingHTTPServer(self.address, _handler_for(self))
        server.daemon_threads = True  # a transfer in progress does not hold the agent's exit
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(POLL_INTERVAL,),
                                        name=f"blobserver:{self.port}", daemon=True)
        self._thread.start()
        log.info("serving the layer blobs of %s on %s:%d", self.store.node, self.address[0], self.port)

    def stop(self) -> None:
        """Stops accepting requests and closes the listening socket (idempotent)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> "BlobServer":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- reading -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (the real one when the address asked for port 0)."""
        if self._server is None:
            raise RuntimeError("the blob server is not started")
        return self._server.server_address[1]

    @property
    def served_bytes(self) -> int:
        with self._lock:
            return self._served_bytes

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def blobs_served(self) -> int:
        """GET responses whose whole blob body was written."""
        with self._lock:
            return self._blobs_served

    def _count_request(self) -> None:
        with self._lock:
            self._requests += 1

    def _count_bytes(self, sent: int, blobs: int = 0) -> None:
        """Adds to the counters; negative numbers take back a chunk whose write failed."""
        with self._lock:
            self._served_bytes += sent
            self._blobs_served += blobs


def _handler_for(server: BlobServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_BlobHandler):
        blob_server = server
    return Handler


class _BlobHandler(BaseHTTPRequestHandler):
    blob_server: BlobServer
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    sys_version = ""
    timeout = SOCKET_TIMEOUT

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    # -- dispatch ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse_method(self) -> None:
        self.blob_server._count_request()
        self.close_connection = True  # the request body, if any, is not read
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "UNSUPPORTED",
                    f"{self.command} is not supported: a peer serves blobs read-only (GET, HEAD)",
                    body=True, extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse_method

    def _answer(self, body: bool) -> None:
        self.blob_server._count_request()
        path = urlsplit(self.path).path
        if path in ("/v2", "/v2/"):
            self._json(HTTPStatus.OK, {}, body=body)
            return
        match = _BLOB_PATH.fullmatch(path)
        if match is None:
            if _MANIFEST_PATH.fullmatch(path):
                self._error(HTTPStatus.NOT_FOUND, "MANIFEST_UNKNOWN",
                            "a peer serves layer blobs only; fetch manifests from the registry", body=body)
            else:
                self._error(HTTPStatus.NOT_FOUND, "UNSUPPORTED",
                            f"no such endpoint {path!r}: a peer serves GET/HEAD /v2/<name>/blobs/<digest>",
                            body=body)
            return
        self._blob(match["digest"], body)

    # -- blobs -------------------------------------------------------------------------------

    def _blob(self, digest: str, body: bool) -> None:
        store = self.blob_server.store
        if not _DIGEST.fullmatch(digest):
            self._error(HTTPStatus.BAD_REQUEST, "DIGEST_INVALID",
                        f"digest {digest!r} is not sha256:<64 lowercase hex>", body=body, detail={"digest": digest})
            return
        try:
            # blob_path checks under the store's lock that the layer is held, i.e. complete and committed.
            blob = open(store.blob_path(digest), "rb")
        except (NotFound, FileNotFoundError):
            # FileNotFoundError: pruned between blob_path() and open(); once opened, a prune no longer matters
            self._error(HTTPStatus.NOT_FOUND, "BLOB_UNKNOWN", f"blob {digest} is not held by {store.node}",
                        body=body, detail={"digest": digest})
            return
        with blob:
            size = os.fstat(blob.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
            self.send_header("Cache-Control", "max-age=31536000")  # content-addressed: never changes
            self.end_headers()
            if body:
                self._stream(blob, digest, size)

    def _stream(self, blob, digest: str, size: int) -> None:
        """Copies the open blob to the peer a chunk at a time, counting the bytes as they go.

        A chunk is counted before it is written (and taken back if the write fails): once the peer
        holds the last byte, the counters already include it, so a caller that reads them right
        after its fetch returned sees its own transfer.
        """
        sent = 0
        if size == 0:
            self.blob_server._count_bytes(0, blobs=1)
        try:
            while chunk := blob.read(CHUNK):
                completes = int(sent + len(chunk) == size)
                self.blob_server._count_bytes(len(chunk), blobs=completes)
                try:
                    self.wfile.write(chunk)
                except OSError:
                    self.blob_server._count_bytes(-len(chunk), blobs=-completes)
                    raise
                sent += len(chunk)
        except OSError as exc:  # the peer went away or timed out: nothing to answer any more
            self.close_connection = True
            log.info("peer %s: sending %s stopped after %d of %d bytes: %s",
                     self.address_string(), digest, sent, size, exc or type(exc).__name__)
            return
        if sent != size:  # cannot happen for a held blob; never leave the peer waiting for bytes
            self.close_connection = True
            log.warning("blob %s: sent %d bytes but announced %d", digest, sent, size)

    # -- answers -----------------------------------------------------------------------------

    def _json(self, status: HTTPStatus, document: dict, *, body: bool, extra: dict | None = None) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(self, status: HTTPStatus, code: str, message: str, *, body: bool,
               detail: dict | None = None, extra: dict | None = None) -> None:
        self._json(status, {"errors": [{"code": code, "message": message, "detail": detail or {}}]},
                   body=body, extra=extra)
