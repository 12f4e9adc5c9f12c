"""Prometheus metrics shared by every daemon: the text endpoint, a gRPC server interceptor counting
every call, and collectors that read a daemon's live state at scrape time.

Names follow Prometheus conventions with a `strata_` prefix; the gRPC ones are go-grpc-prometheus's
(`grpc_server_handled_total`, `grpc_server_handling_seconds`). docs/metrics.md lists them all.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import start_http_server
from prometheus_client.metrics_core import Metric

from component_base.handlers import rewrapped

log = logging.getLogger("strata.metrics")

# A daemon's metrics port by default: its gRPC port + this (placement 50051 -> 51051, sdn 50054 -> 51054).
METRICS_PORT_OFFSET = 1000
OFF = ("off", "none", "")  # what --metrics / the "metrics" key take to turn the endpoint off

# The default buckets end at 10 s; Solve runs up to its time limit (60 s by default), so go further.
GRPC_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300)


# -- the endpoint --------------------------------------------------------------------------------
def split_address(address: str) -> tuple[str, int]:
    """("host", port) of "host:port" ("[::1]:9100" too); ValueError if it is not one."""
    host, _, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host, int(port)


def derived_address(grpc_address: str) -> str:
    """The default metrics address of a daemon listening on `grpc_address`: the same host, the
    port METRICS_PORT_OFFSET above (port 0 stays 0: any free port)."""
    host, port = split_address(grpc_address)
    if port + METRICS_PORT_OFFSET > 65535:
        raise ValueError(f"gRPC port {port} has no default metrics port ({port} + {METRICS_PORT_OFFSET} is past "
                         "65535): give a metrics address, or off")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port + METRICS_PORT_OFFSET if port else 0}"


def metrics_setting(value: str | None, grpc_address: str) -> str | None:
    """The metrics address a daemon uses: `value` if given, derived from its gRPC address if
    None, no endpoint (None) if `value` is one of OFF."""
    if value is None:
        return derived_address(grpc_address)
    return None if value.strip().lower() in OFF else value


def start_metrics(value: str | None, grpc_address: str) -> tuple[str | None, Callable[[], None]]:
    """A daemon's endpoint, where metrics_setting says: (the "host:port" it listens on, its stop
    function), or (None, a no-op) when turned off. OSError if it cannot listen there."""
    try:
        address = metrics_setting(value, grpc_address)
    except ValueError as exc:
        raise OSError(f"metrics: {exc}") from None
    if address is None:
        return None, lambda: None
    port, stop = serve_metrics(address)
    return f"{address.rpartition(':')[0]}:{port}", stop


def serve_metrics(address: str, registry: CollectorRegistry = REGISTRY) -> tuple[int, Callable[[], None]]:
    """Serve `registry` in Prometheus' text format on "host:port" (any path; /metrics is the
    convention) from a daemon thread. Returns the bound port (useful with port 0) and a function
    that stops the server. Raises OSError naming the address if it cannot listen there."""
    try:
        host, port = split_address(address)
    except ValueError as exc:
        raise OSError(f"metrics: {exc}") from None
    # Every counter and histogram would get a `_created` series too: clutter in the text format.
    disable_created_metrics()
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise OSError(f"metrics: cannot listen on {address}: {exc.strerror or exc}") from None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return server.server_port, stop


# -- gRPC ------------------------------------------------------------------------------------------
class GrpcServerMetrics:
    """The two families the interceptor records, in one registry (one instance per registry)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.handled = Counter("strata_grpc_server_handled_total",
                               "RPCs completed on the server, whatever their status code.",
                               ["grpc_service", "grpc_method", "grpc_code"], registry=registry)
        self.handling = Histogram("strata_grpc_server_handling_seconds",
                                  "Time from the start of an RPC to its status on the server.",
                                  ["grpc_service", "grpc_method"], buckets=GRPC_BUCKETS, registry=registry)

    def record(self, service: str, method: str, code: str, seconds: float) -> None:
        self.handled.labels(service, method, code).inc()
        self.handling.labels(service, method).observe(seconds)


_default_metrics: GrpcServerMetrics | None = None
_default_lock = threading.Lock()


def default_grpc_metrics() -> GrpcServerMetrics:
    """The process's families in the default registry, created once (every server shares them:
    a registry refuses the same name twice)."""
    global _default_metrics
    with _default_lock:
        if _default_metrics is None:
            _default_metrics = GrpcServerMetrics()
        return _default_metrics


def split_method(full_method: str) -> tuple[str, str]:
    """"/strata.v1.PlacementService/Solve" -> ("strata.v1.PlacementService", "Solve")."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


def _status(context: grpc.ServicerContext, failed: bool) -> str:
    """The status the client gets. context.code() is what abort() or set_code() set (grpc sends
    that code even when an exception follows); nothing set means OK, or UNKNOWN after an exception."""
    code = context.code()
    if code is None:
        return "UNKNOWN" if failed else "OK"
    return getattr(code, "name", str(code))


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts every RPC by service, method and status code, and times it. Streaming responses are
    timed until the stream ends (or the client goes away: CANCELLED)."""

    def __init__(self, metrics: GrpcServerMetrics | None = None):
        self.metrics = metrics or default_grpc_metrics()

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED itself
            return None
        service, method = split_method(handler_call_details.method)
        record = self.metrics.record

        def unary(behavior):
            def wrapper(request, context):
                started, failed = time.perf_counter(), True
                try:
                    response = behavior(request, context)
                    failed = False
                    return response
                finally:
                    record(service, method, _status(context, failed), time.perf_counter() - started)
            return wrapper

        def streaming(behavior):
            def wrapper(request, context):
                started, status = time.perf_counter(), None
                try:
                    yield from behavior(request, context)
                    status = _status(context, False)
                except GeneratorExit:  # grpc closed the stream: the client cancelled or went away
                    status = "CANCELLED"
                    raise
                except BaseException:
                    status = _status(context, True)
                    raise
                finally:
                    record(service, method, status or "UNKNOWN", time.perf_counter() - started)
            return wrapper

        return rewrapped(handler, lambda behavior, _, response_streams: (
            streaming if response_streams else unary)(behavior))


# -- live state at scrape time ---------------------------------------------------------------------
class StateCollector:
    """A custom collector: `read()` returns the metric families (GaugeMetricFamily,
    CounterMetricFamily ...) of a daemon's state as it is at scrape time.

    A failing read never fails the scrape: it is logged and this collector yields nothing that
    time (never a partial set). Readers copy what they need under the daemon's lock (see `held`)
    and build the families after letting go."""

    def __init__(self, name: str, read: Callable[[], Iterable[Metric]]):
        self.name = name
        self._read = read

    def collect(self) -> Iterator[Metric]:
        try:
            families = list(self._read())
        except Exception:
            log.exception("metrics: reading the %s state failed; this scrape goes without it", self.name)
            return
        yield from families


def register_collector(name: str, read: Callable[[], Iterable[Metric]],
                       registry: CollectorRegistry = REGISTRY) -> Callable[[], None]:
    """Register a StateCollector; returns the function that unregisters it (a daemon that stops
    in a process that goes on, as in tests)."""
    collector = StateCollector(name, read)
    registry.register(collector)
    return lambda: registry.unregister(collector)


@contextlib.contextmanager
def held(lock, timeout: float = 2.0):
    """Hold a daemon's lock for a read, waiting at most `timeout` seconds: a scrape must not
    hang behind a long operation (the collector then skips this scrape)."""
    if not lock.acquire(timeout=timeout):
        raise TimeoutError(f"the state stayed locked for {timeout:g} s")
    try:
        yield
    finally:
        lock.release()
