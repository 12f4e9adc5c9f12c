"""The CLI over mutual TLS: the certificate the stack's description names is used without asking;
--insecure and plaintext daemons still work."""

from __future__ import annotations

import datetime
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import cli
from component_base.pki import Identity, Listener, make_cluster
from component_base.rpc import create_server
from component_base.tls import Tls, open_channel
from controller.placement import servicer

PROBLEM = {"servers": [{"name": "edge1", "cpu": 10, "storage": 100, "bandwidth": 10}],
           "layers": [{"digest": "base", "size": 50}],
           "containers": [{"name": "web", "cpu": 1, "bandwidth": 1, "layers": ["base"]}]}


@pytest.fixture
def tls_stack(tmp_path):
    """A placement daemon serving mutual TLS, and a stack description naming the operator's files."""
    pki = tmp_path / "pki"
    make_cluster(pki, [Listener(Identity("placement")), Listener(Identity("admin")), Listener(Identity("mesh"))],
                 datetime.datetime.now(datetime.timezone.utc))
    server, port = create_server("127.0.0.1:0", [(servicer.register, servicer.SERVICE_NAME)],
                                 tls=Tls.from_folder(pki, Identity("placement")))
    server.start()
    state = tmp_path / "stack.json"
    files = {"ca": str(pki / "ca.pem"), "cert": str(pki / "admin.pem"), "key": str(pki / "admin.key")}
    state.write_text(json.dumps({"addresses": {"placement": f"127.0.0.1:{port}"}, "tls": files}))
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(PROBLEM))
    yield {"address": f"127.0.0.1:{port}", "state": state, "problem": problem, "files": files}
    server.stop(grace=None)


def test_the_cli_calls_a_tls_stack_with_its_operator_certificate(tls_stack, capsys):
    argv = ["place", str(tls_stack["problem"]), "--json", "--remote", tls_stack["address"]]
    assert cli.main([*argv, "--stack", str(tls_stack["state"])]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["placement"] == {"web": "edge1"}


def test_without_the_certificate_or_with_insecure_the_tls_stack_is_not_reached(tls_stack, capsys):
    argv = ["place", str(tls_stack["problem"]), "--json", "--remote", tls_stack["address"]]
    assert cli.main(argv) == cli.EXIT_UNREACHABLE  # no description: plaintext, refused at the handshake
    assert "needs its description" in capsys.readouterr().err
    assert cli.main([*argv, "--stack", str(tls_stack["state"]), "--insecure"]) == cli.EXIT_UNREACHABLE


def test_a_certificate_the_daemon_refuses_to_serve_is_refused_by_the_cli_too(tls_stack, capsys):
    """The description naming another identity's files: the daemon refuses the call (PERMISSION_DENIED, exit 1)."""
    pki = tls_stack["state"].parent / "pki"
    files = {**tls_stack["files"], "cert": str(pki / "mesh.pem"), "key": str(pki / "mesh.key")}
    tls_stack["state"].write_text(json.dumps({"tls": files}))
    argv = ["place", str(tls_stack["problem"]), "--json", "--remote", tls_stack["address"],
            "--stack", str(tls_stack["state"])]
    assert cli.main(argv) == cli.EXIT_FAILED
    assert "spiffe://strata/mesh may not call /strata.v1.PlacementService/Solve" in capsys.readouterr().err


def test_a_plaintext_daemon_is_reached_without_a_stack(tmp_path, capsys):
    server, port = create_server("127.0.0.1:0", [(servicer.register, servicer.SERVICE_NAME)])
    server.start()
    try:
        problem = tmp_path / "problem.json"
        problem.write_text(json.dumps(PROBLEM))
        assert cli.main(["place", str(problem), "--json", "--remote", f"127.0.0.1:{port}"]) == cli.EXIT_OK
    finally:
        server.stop(grace=None)


def test_strata_serve_placement_with_pki_serves_mutual_tls(tmp_path):
    pki = tmp_path / "pki"
    make_cluster(pki, [Listener(Identity("placement")), Listener(Identity("admin"))],
                 datetime.datetime.now(datetime.timezone.utc))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "placement", "--listen", f"127.0.0.1:{port}",
                             "--metrics", "off", "--pki", str(pki)], cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "(mutual TLS;" in proc.stdout.readline()
        with open_channel(f"127.0.0.1:{port}", Tls.from_folder(pki, Identity("admin")),
                          Identity("placement")) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
