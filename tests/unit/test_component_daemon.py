"""The configured daemons' shared life (component_base.daemon): start order, loops, stop order, the
two lines users read, failures that leave nothing running; and `strata serve mesh` as a process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from component_base.daemon import Component, Daemon, Loop, run_daemon
from component_base.errors import InvalidArgument
from harness.daemons import wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(tmp_path: Path, **extra) -> Path:
    config = {"listen": "127.0.0.1:0", "socket": str(tmp_path / "d.sock"), "db": str(tmp_path / "db" / "d.db"),
              "metrics": "off", **extra}
    path = tmp_path / "d.json"
    path.write_text(json.dumps(config))
    return path


class Recorder:
    """A component whose parts write down when they run."""

    def __init__(self, fail_rounds: int = 0):
        self.events: list[str] = []
        self.rounds = 0
        self.fail_rounds = fail_rounds

    def step(self) -> None:
        self.rounds += 1
        if self.rounds <= self.fail_rounds:
            raise RuntimeError("a bad round")

    def build(self, config: dict) -> Daemon:
        self.events.append("build")
        return Daemon("thing", [], ready=lambda: "3 widget(s) reloaded",
                      stopped="its widgets stay",
                      loops=[Loop("thing-loop", 0.01, self.step)],
                      started=[lambda: self.events.append("started")],
                      stopping=[lambda: self.events.append("stopping")],
                      closing=[lambda: self.events.append("close 1"), lambda: self.events.append("close 2")])


def run_in_thread(component: Component, config: Path, **kwargs):
    stop = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.update(code=run_daemon(component, str(config), stop, **kwargs)))
    thread.start()
    return stop, thread, result


def test_a_daemon_serves_runs_its_loops_and_stops_in_order(tmp_path, capsys):
    recorder = Recorder(fail_rounds=2)
    config = write_config(tmp_path)
    (tmp_path / "d.sock").write_text("stale")  # a killed daemon's socket is replaced
    stop, thread, result = run_in_thread(Component("thing", ("listen", "socket"), recorder.build), config)
    try:
        wait_for(lambda: recorder.rounds > 3, 10, "the loop to run on past its failing rounds")
        with grpc.insecure_channel(f"unix:{tmp_path / 'd.sock'}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert (tmp_path / "db").is_dir()
    finally:
        stop.set()
        thread.join(10)
    assert result == {"code": 0}
    assert recorder.events == ["build", "started", "stopping", "close 1", "close 2"]
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("thing listening on 127.0.0.1:") and out[0].endswith(
        f"and unix:{tmp_path / 'd.sock'} (plaintext); 3 widget(s) reloaded")
    assert out[-1] == "thing stopped; its widgets stay"


def test_a_missing_key_names_it_and_builds_nothing(tmp_path):
    recorder = Recorder()
    with pytest.raises(InvalidArgument, match="thing configuration .*: missing sdn"):
        run_daemon(Component("thing", ("listen", "socket", "sdn"), recorder.build), str(write_config(tmp_path)),
                   threading.Event())
    assert recorder.events == []


def test_a_failed_start_leaves_no_metrics_endpoint_behind(tmp_path):
    metrics_port = free_port()
    config = write_config(tmp_path, metrics=f"127.0.0.1:{metrics_port}")

    def build(config: dict) -> Daemon:
        raise OSError("cannot open the store")

    with pytest.raises(OSError, match="cannot open the store"):
        run_daemon(Component("thing", (), build), str(config), threading.Event())
    with socket.socket() as again:  # the endpoint's port is free again
        again.bind(("127.0.0.1", metrics_port))


def test_strata_serve_mesh_says_ready_and_stopped_and_exits_0(tmp_path):
    config = write_config(tmp_path, sdn=f"unix:{tmp_path / 'no-sdn.sock'}", tick=0.05)
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "mesh", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = proc.stdout.readline()
        assert ready.startswith("mesh listening on 127.0.0.1:"), ready
        assert ready.rstrip().endswith(f"and unix:{tmp_path / 'd.sock'} (plaintext); 0 service(s) reloaded"), ready
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert proc.stdout.read().splitlines()[-1] == "mesh stopped; the switches keep the services' routes"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_strata_serve_mano_without_its_configuration_key_exits_1(tmp_path):
    config = write_config(tmp_path, sdn="unix:/nowhere.sock")
    done = subprocess.run([sys.executable, "-m", "cli", "serve", "mano", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "strata serve mano: mano configuration" in done.stderr and "missing orchestrator" in done.stderr


def _pki(tmp_path: Path) -> Path:
    import datetime

    from component_base.pki import Identity, Listener, make_cluster

    folder = tmp_path / "pki"
    make_cluster(folder, [Listener(Identity("mesh")), Listener(Identity("admin"))],
                 datetime.datetime.now(datetime.timezone.utc))
    return folder


def test_strata_serve_mesh_with_its_certificates_serves_mutual_tls_only(tmp_path):
    from component_base.pki import Identity
    from component_base.tls import Tls, open_channel

    pki = _pki(tmp_path)
    config = write_config(tmp_path, sdn=f"unix:{tmp_path / 'no-sdn.sock'}", tick=0.05, pki=str(pki))
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "mesh", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = proc.stdout.readline()
        assert "(mutual TLS as spiffe://strata/mesh)" in ready, ready
        address = f"unix:{tmp_path / 'd.sock'}"
        with open_channel(address, Tls.from_folder(pki, Identity("admin")), Identity("mesh")) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(address) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_daemon_without_certificates_refuses_to_serve_beyond_loopback(tmp_path):
    recorder = Recorder()
    config = write_config(tmp_path, listen="0.0.0.0:0")
    with pytest.raises(OSError, match="refusing to serve plaintext gRPC on 0.0.0.0:0"):
        run_daemon(Component("thing", ("listen", "socket"), recorder.build), str(config), threading.Event())


def test_a_daemon_whose_certificate_is_not_its_own_does_not_start(tmp_path):
    config = write_config(tmp_path, sdn="unix:/nowhere.sock", orchestrator="unix:/nowhere.sock",
                          pki=str(_pki(tmp_path)))  # no mano certificate in it
    done = subprocess.run([sys.executable, "-m", "cli", "serve", "mano", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "configuration pki" in done.stderr and "mano.pem" in done.stderr, done.stderr
