"""The registry's front door: an HTTP server on the registry's address that applies access.decide and relays the rest to docker-registry on a Unix socket."""

from __future__ import annotations

import argparse
import http.client
import logging
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from images import credentials as registry_credentials
from images.credentials import Credentials

from .access import Refusal, decide

CHUNK = 1 << 20
UPSTREAM_TIMEOUT = 300.0  # seconds without a byte from docker-registry before a relay gives up
# Headers that describe one connection, not the message: never relayed (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade"})

log = logging.getLogger("strata.registry")


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (docker-registry's, unreachable from the network)."""

    def __init__(self, path: str, timeout: float = UPSTREAM_TIMEOUT):
        super().__init__("localhost", timeout=timeout, blocksize=CHUNK)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class GateHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "GateServer"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        log.info("%s %s", self.address_string(), format % args)

    def _refuse(self, refusal: Refusal) -> None:
        body = refusal.body()
        self.send_response(refusal.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for name, value in refusal.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True  # its body, if any, was not read

    def _relay(self) -> None:
        refusal = decide(self.command, self.headers.get("Authorization"), self.server.credentials,
                         deletes=self.server.deletes)
        if refusal is not None:
            self._refuse(refusal)
            return
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            self.send_error(400, "Content-Length must be a whole number of bytes")
            return
        upstream = UnixHTTPConnection(self.server.upstream)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "authorization":
                    upstream.putheader(name, value)  # Host kept: the registry builds its Location URLs on it
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            if chunked:
                upstream.putheader("Transfer-Encoding", "chunked")
            upstream.endheaders()
            if chunked:
                self._relay_chunked_body(upstream)
            else:
                self._relay_body(upstream, int(length))
            response = upstream.getresponse()
        except ValueError:  # a chunk size that is not hexadecimal
            upstream.close()
            self.send_error(400, "malformed chunked body")
            return
        except OSError as exc:
            upstream.close()
            log.warning("relaying %s %s: %s", self.command, self.path, exc)
            self.send_error(502, "the registry behind this address did not answer")
            return
        try:
            self._send_response(response)
        finally:
            upstream.close()

    def _relay_body(self, upstream: http.client.HTTPConnection, length: int) -> None:
        while length > 0:
            data = self.rfile.read(min(CHUNK, length))
            if not data:
                raise ConnectionError("the client closed before sending its whole body")
            upstream.send(data)
            length -= len(data)

    def _relay_chunked_body(self, upstream: http.client.HTTPConnection) -> None:
        """Chunks are relayed as they come (Docker's push sends PATCH bodies this way)."""
        while True:
            size = int(self.rfile.readline(100).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: dropped
                upstream.send(b"0\r\n\r\n")
                return
            remaining = size
            upstream.send(b"%x\r\n" % size)
            while remaining:
                data = self.rfile.read(min(CHUNK, remaining))
                if not data:
                    raise ConnectionError("the client closed inside a chunk")
                upstream.send(data)
                remaining -= len(data)
            self.rfile.readline(8)  # the CRLF after the chunk
            upstream.send(b"\r\n")

    def _send_response(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        if length is None and self.command != "HEAD" and response.status not in (204, 304):
            self.close_connection = True  # no length: the body ends when the connection does
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        while data := response.read(CHUNK):
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _relay


class GateServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listen: tuple[str, int], upstream: str, credentials: Credentials, *, deletes: bool = False):
        self.upstream = upstream
        self.credentials = credentials
        self.deletes = deletes
        super().__init__(listen, GateHandler)


def create_server(listen_addr: str, upstream: str, credentials: Credentials, *,
                  deletes: bool = False) -> tuple[GateServer, int]:
    """The gate bound to HOST:PORT (port 0: any free one), relaying to docker-registry's Unix socket
    `upstream`; (server, port). serve_forever() runs it."""
    host, _, port = listen_addr.rpartition(":")
    server = GateServer((host, int(port)), upstream, credentials, deletes=deletes)
    return server, server.server_address[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dataplane.registry.gate", description=__doc__)
    parser.add_argument("--listen", required=True, help="HOST:PORT the registry is reached at")
    parser.add_argument("--upstream", required=True, help="docker-registry's Unix socket")
    parser.add_argument("--credentials", required=True, type=Path, help="the push credentials file")
    parser.add_argument("--deletes", action="store_true", help="allow deletes (with the credentials)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s gate %(message)s")
    server, _ = create_server(args.listen, args.upstream, registry_credentials.load(args.credentials),
                              deletes=args.deletes)
    server.serve_forever()


if __name__ == "__main__":
    main()
