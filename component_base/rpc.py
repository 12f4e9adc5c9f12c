"""gRPC plumbing shared by every daemon: servers with health and reflection, errors to status codes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from component_base.metrics import GrpcServerMetrics, MetricsInterceptor
from component_base.pki import Identity
from component_base.tls import AuthorisationInterceptor, Tls, open_channel, refuse_plaintext

# Default listen addresses: loopback only, never every interface by default.
DEFAULT_ADDRESSES = {
    "placement": "127.0.0.1:50051",
    "orchestrator": "127.0.0.1:50052",
    "mesh": "127.0.0.1:50053",
    "sdn": "127.0.0.1:50054",
    "mano": "127.0.0.1:50055",
}


def create_server(address: str, services: Iterable[tuple[Callable[[grpc.Server], None], str]],
                  *, max_workers: int = 8, also_listen: Iterable[str] = (),
                  metrics: GrpcServerMetrics | None = None, tls: Tls | None = None) -> tuple[grpc.Server, int]:
    """A server (not started) for the given (register function, full service name) pairs.

    Also registers gRPC health checking (every service SERVING) and server reflection, so
    generic clients (grpcurl, grpc_health_probe) can discover and call it. Returns the server
    and the bound port (useful with port 0). Raises OSError if the address cannot be bound.
    `also_listen`: more addresses, e.g. "unix:/run/.../sdn.sock", the management channel that
    node agents inside the emulated hosts' network namespaces reach through the filesystem.
    Every call is counted and timed (component_base.metrics.MetricsInterceptor) in `metrics`, a
    component_base.metrics.GrpcServerMetrics (default: the process's, in the default registry).

    With `tls`, every address (TCP and Unix socket alike: every agent reaches every socket through
    the shared filesystem) requires a client certificate of the cluster's CA, and each call is
    checked against component_base.authz (PERMISSION_DENIED otherwise). Without, the server is
    plaintext and only loopback and unix: addresses are allowed (OSError otherwise).
    """
    also_listen = list(also_listen)
    if tls is None:
        for where in (address, *also_listen):
            refuse_plaintext(where)
    interceptors = [MetricsInterceptor(metrics)] + ([AuthorisationInterceptor()] if tls is not None else [])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), interceptors=interceptors)
    names = []
    for register, name in services:
        register(server)
        names.append(name)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    credentials = tls.server_credentials() if tls is not None else None

    def listen(where: str) -> int:
        return (server.add_secure_port(where, credentials) if credentials is not None
                else server.add_insecure_port(where))

    try:
        port = listen(address)
    except RuntimeError as exc:  # grpcio raises RuntimeError when it cannot bind
        raise OSError(f"cannot listen on {address}: {exc}") from exc
    if port == 0 and not address.endswith(":0"):
        raise OSError(f"cannot listen on {address}")
    for extra in also_listen:
        try:
            bound = listen(extra)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {extra}: {exc}") from exc
        if bound == 0 and not extra.startswith("unix:"):
            raise OSError(f"cannot listen on {extra}")
    return server, port


def abort_on_domain_error(method):
    """Decorator for servicer methods: domain errors become gRPC status codes with their message."""
    import functools

    from component_base.errors import (AlreadyExists, DataLoss, DomainError, FailedPrecondition, InvalidArgument,
                                       NotFound, Unavailable)

    codes = {InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT, NotFound: grpc.StatusCode.NOT_FOUND,
             AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
             FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION, Unavailable: grpc.StatusCode.UNAVAILABLE,
             DataLoss: grpc.StatusCode.DATA_LOSS}

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except DomainError as exc:
            code = next((c for kind, c in codes.items() if isinstance(exc, kind)), grpc.StatusCode.FAILED_PRECONDITION)
            context.abort(code, str(exc))

    return wrapper


def call_error(exc: grpc.RpcError, address: str) -> str:
    """A message a person can act on for a failed call."""
    code = exc.code() if hasattr(exc, "code") else None
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach {address}: is the daemon running? ({exc.details()})"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"{address} did not answer in time"
    name = code.name if code else "error"
    return f"{name}: {exc.details() if hasattr(exc, 'details') else exc}"


def call_domain(method, request, *, timeout: float, what: str):
    """Call a stub method; a failure becomes the domain error of its status code, naming `what`
    (the inverse of abort_on_domain_error, for daemons that call each other)."""
    from component_base.errors import (AlreadyExists, DataLoss, FailedPrecondition, InvalidArgument, NotFound,
                                       Unavailable)

    kinds = {grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument, grpc.StatusCode.NOT_FOUND: NotFound,
             grpc.StatusCode.ALREADY_EXISTS: AlreadyExists, grpc.StatusCode.DATA_LOSS: DataLoss,
             grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition}
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as exc:
        kind = kinds.get(exc.code())
        if kind is not None:
            raise kind(f"{what}: {exc.details()}") from None
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise Unavailable(f"cannot reach {what}: {exc.code().name}: {exc.details()}") from None
        raise FailedPrecondition(f"{what}: {exc.code().name}: {exc.details()}") from None


class DomainClient:
    """The base of the daemons' gRPC client adapters: one channel to `address`, a default time
    limit, and calls whose failures become domain errors naming the daemon (call_domain).

    With `tls` (the caller's own certificate), mutual TLS to a server that must be `server`."""

    def __init__(self, stub_class, address: str, what: str, timeout: float, *, server: Identity,
                 tls: Tls | None = None):
        self.address = address
        self.timeout = timeout
        self.channel = open_channel(address, tls, server)
        self.stub = stub_class(self.channel)
        self.what = f"{what} at {address}"

    def _call(self, method, request, timeout: float | None = None):
        return call_domain(method, request, timeout=timeout or self.timeout, what=self.what)
