"""The life of a configured daemon (agent, orchestrator, mesh, VNF manager), written once: read its
JSON configuration, start its metrics endpoint, build it, serve its gRPC services on its address and
Unix socket, run its periodic loops, and on stop take it all down in order.

A component says only what is its own: a build function from the configuration dict to a `Daemon`
(its services, loops, start and stop steps, and what its ready and stopped lines say).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from component_base.config import load_config
from component_base.metrics import start_metrics
from component_base.rpc import create_server
from component_base.tls import Tls

Registrar = tuple[Callable[[grpc.Server], None], str]  # (register function, full service name)


@dataclass(frozen=True)
class Loop:
    """A step run every `interval` seconds on a thread of its own until the daemon stops; an
    exception is logged and the next round tries again."""
    name: str
    interval: float
    step: Callable[[], None]


@dataclass
class Daemon:
    """What a component's build function returns: its parts, and the words of its two lines.

    The ready line reads "{title} listening on HOST:PORT and unix:SOCKET (mutual TLS as ID | plaintext);
    {ready()}[; metrics on ...]"
    (ready() is asked once everything runs: counts of what was reloaded), the last line
    "{title} stopped; {stopped}"."""
    title: str
    services: Sequence[Registrar]
    ready: Callable[[], str]
    stopped: str
    loops: Sequence[Loop] = ()
    started: Sequence[Callable[[], None]] = ()   # run in order once the server answers, before the loops
    stopping: Sequence[Callable[[], None]] = ()  # run in order before the server stops (leave the others first)
    closing: Sequence[Callable[[], None]] = ()   # run in order once the server and the loops have stopped
    max_workers: int = 8
    tls: Tls | None = None  # its identity's (component_base.tls.from_config): mutual TLS on every listener
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("strata"))


@dataclass(frozen=True)
class Component:
    """A configured daemon as `strata serve` runs it."""
    name: str                                # in its error messages: "mesh configuration FILE: ..."
    required: Iterable[str]                  # the configuration keys it cannot do without
    build: Callable[[dict], Daemon]
    origin: str = "strata up writes it"      # where its configuration file comes from, for the error


def run_daemon(component: Component, config_path: str, stop: threading.Event, metrics: str | None = None) -> int:
    """Run `component` with the configuration at `config_path` until `stop` is set; 0 once stopped.

    Every configuration has `listen` (gRPC address) and `socket` (its Unix socket: a stale one of
    a killed daemon is removed first); optional `db` (its folder is made), `metrics`, and `pki` (the
    run's certificate folder, read by the build function: component_base.tls.from_config). `metrics`
    (the --metrics option) overrides the configuration's: an address, "off", or None. Raises
    DomainError (bad configuration) or OSError (an address in use): nothing is left running."""
    config = load_config(config_path, component.required, component.name)
    # First: a port in use stops us before anything else starts.
    metrics_at, stop_metrics = start_metrics(metrics if metrics is not None else config.get("metrics"),
                                             config["listen"])
    try:
        if config.get("db"):
            Path(config["db"]).parent.mkdir(parents=True, exist_ok=True)
        daemon = component.build(config)
        socket = Path(config["socket"])
        socket.unlink(missing_ok=True)  # a stale socket of a killed daemon
        server, port = create_server(config["listen"], daemon.services, also_listen=[f"unix:{socket}"],
                                     max_workers=daemon.max_workers, tls=daemon.tls)
    except BaseException:
        stop_metrics()
        raise
    server.start()
    for step in daemon.started:
        step()
    threads = [threading.Thread(target=_repeat, args=(loop, stop, daemon.log), name=loop.name, daemon=True)
               for loop in daemon.loops]
    for thread in threads:
        thread.start()
    print(f"{daemon.title} listening on {config['listen'].rsplit(':', 1)[0]}:{port} and unix:{socket} "
          f"({'mutual TLS as ' + str(daemon.tls.identity) if daemon.tls else 'plaintext'}); "
          f"{daemon.ready()}" + (f"; metrics on {metrics_at}" if metrics_at else ""), flush=True)
    stop.wait()
    for step in daemon.stopping:
        step()
    server.stop(grace=2).wait()
    for thread in threads:
        thread.join(timeout=5)
    for step in daemon.closing:
        step()
    stop_metrics()
    print(f"{daemon.title} stopped; {daemon.stopped}", flush=True)
    return 0


def _repeat(loop: Loop, stop: threading.Event, log: logging.Logger) -> None:
    while not stop.wait(loop.interval):
        try:
            loop.step()
        except Exception:  # the loop outlives one bad round
            log.exception(loop.name)
