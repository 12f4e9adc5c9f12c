"""Mutual TLS for gRPC: a component's certificate files, server and channel credentials, the
plaintext rule (loopback and Unix sockets only), and the interceptor that enforces component_base.authz."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc

from component_base import authz
from component_base.handlers import rewrapped
from component_base.errors import InvalidArgument
from component_base.pki import CA_FILE, CertificateError, Identity, verify


@dataclass(frozen=True)
class Tls:
    """A component's side of mutual TLS: the cluster's CA, its own certificate and key (PEM),
    and the identity its certificate carries."""
    ca: bytes
    cert: bytes
    key: bytes
    identity: Identity

    @classmethod
    def load(cls, ca: Path, cert: Path, key: Path, now: datetime.datetime | None = None) -> "Tls":
        """Read and check the three files: the certificate must be the CA's, valid now, and the key
        its own; CertificateError (or OSError) saying what is wrong."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        ca_pem, cert_pem, key_pem = Path(ca).read_bytes(), Path(cert).read_bytes(), Path(key).read_bytes()
        try:
            identity = verify(cert_pem, ca_pem, now, key_pem)
        except CertificateError as exc:
            raise CertificateError(f"{cert}: {exc}") from None
        return cls(ca_pem, cert_pem, key_pem, identity)

    @classmethod
    def from_folder(cls, folder: str | Path, identity: Identity) -> "Tls":
        """`identity`'s files in a PKI folder (component_base.pki.make_cluster wrote it); its
        certificate must carry that identity."""
        folder = Path(folder)
        tls = cls.load(folder / CA_FILE, folder / f"{identity.file_stem}.pem", folder / f"{identity.file_stem}.key")
        if tls.identity != identity:
            raise CertificateError(f"{folder / identity.file_stem}.pem carries {tls.identity}, not {identity}")
        return tls

    def server_credentials(self) -> grpc.ServerCredentials:
        """Server credentials that require a client certificate signed by the cluster's CA."""
        return grpc.ssl_server_credentials([(self.key, self.cert)], root_certificates=self.ca,
                                           require_client_auth=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)


def from_config(config: dict, identity: Identity) -> Tls | None:
    """The Tls of a configured daemon: its identity's files in the configuration's `pki` folder,
    or None (plaintext) when the configuration names none; InvalidArgument if they cannot serve."""
    if not config.get("pki"):
        return None
    try:
        return Tls.from_folder(config["pki"], identity)
    except (OSError, CertificateError) as exc:
        raise InvalidArgument(f"configuration pki: {exc}") from None


def open_channel(address: str, tls: Tls | None, server: Identity) -> grpc.Channel:
    """A channel to `server` at `address`: with `tls`, mutual TLS checking that the server's
    certificate is the cluster's and names `server` (over a Unix socket as over TCP); without,
    plaintext."""
    if tls is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, tls.channel_credentials(),
                               options=[("grpc.ssl_target_name_override", server.server_name)])


def plaintext_allowed(address: str) -> bool:
    """Whether a plaintext listener or channel may use `address`: a Unix socket, or loopback."""
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_plaintext(address: str) -> None:
    """OSError unless a plaintext server may listen on `address`."""
    if not plaintext_allowed(address):
        raise OSError(f"refusing to serve plaintext gRPC on {address}: without TLS only loopback (127.0.0.0/8, "
                      "::1, localhost) and unix: addresses are allowed; give the component its certificates "
                      "(strata up makes them) or listen on loopback")


def caller_identity(context: grpc.ServicerContext) -> Identity | None:
    """The identity in the peer's client certificate (its SPIFFE ID), or None."""
    ids = context.auth_context().get("peer_spiffe_id") or []
    if len(ids) != 1:
        return None
    try:
        return Identity.parse(ids[0].decode())
    except (ValueError, UnicodeDecodeError):
        return None


class AuthorisationInterceptor(grpc.ServerInterceptor):
    """Refuses (PERMISSION_DENIED, naming the caller and the method) every call that
    component_base.authz.TABLE does not allow the caller to make."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED itself
            return None
        service, _, method = handler_call_details.method.lstrip("/").partition("/")

        def checked(request, context):
            why = authz.refusal(caller_identity(context), service, method, request)
            if why is not None:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, why)

        def unary_request(behavior):
            def wrapper(request, context):
                checked(request, context)
                return behavior(request, context)
            return wrapper

        def stream_request(behavior):  # the request is a stream: only rules without its fields apply
            def wrapper(requests, context):
                checked(None, context)
                return behavior(requests, context)
            return wrapper

        return rewrapped(handler, lambda behavior, request_streams, _: (
            stream_request if request_streams else unary_request)(behavior))
