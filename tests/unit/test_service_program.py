"""The service program of application containers: real processes on loopback, run as containers run
them (a copy of the one file, the system python3, isolated, without site packages)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from programs.service.program import Dependency, parse_dependencies, tree_ok, tree_services

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "service" / "program.py"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str = "/", timeout: float = 10.0, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        assert response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(body)
    finally:
        connection.close()


class Services:
    """Start service programs; every one is killed at the end of the test."""

    def __init__(self, program: Path, logs: Path):
        self.program = program
        self.logs = logs
        self.processes: list[subprocess.Popen] = []
        self.ports: dict[str, int] = {}

    def port(self, name: str) -> int:
        if name not in self.ports:
            self.ports[name] = free_port()
        return self.ports[name]

    def spawn(self, env: dict) -> subprocess.Popen:
        """The program with exactly `env`; its stderr goes to a file (see `stderr`)."""
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        full_env.update(env)
        with open(self.logs / f"{len(self.processes)}.stderr", "w") as log:
            process = subprocess.Popen([PYTHON, "-I", "-S", str(self.program)], env=full_env,
                                       cwd=self.program.parent, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=log)
        self.processes.append(process)
        return process

    def stderr(self, process: subprocess.Popen) -> str:
        return (self.logs / f"{self.processes.index(process)}.stderr").read_text()

    def start(self, name: str, deps: list[str] = (), **env) -> subprocess.Popen:
        """Service `name` depending on the services `deps` (all on loopback), ready when returned."""
        port = self.port(name)
        env = {"STRATA_SERVICE": name, "STRATA_INSTANCE": f"{name}-0", "STRATA_NODE": "edge-1",
               "STRATA_APP": "shop", "STRATA_PORT": str(port), "STRATA_BIND": "127.0.0.1",
               "STRATA_DEPENDENCIES": ",".join(f"{d}=127.0.0.1:{self.port(d)}" for d in deps),
               **env}
        process = self.spawn(env)
        deadline = time.monotonic() + 5
        while True:
            try:
                if get(port, "/healthz", timeout=1)[0] == 200:
                    return process
            except OSError:
                pass
            if process.poll() is not None:
                raise AssertionError(f"service {name} exited {process.returncode}: {self.stderr(process)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"service {name} did not answer on port {port}")
            time.sleep(0.02)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def services(tmp_path):
    # A copy away from the repository: the program must stand alone, as in /opt/strata/program.py.
    program = tmp_path / "opt" / "strata" / "program.py"
    program.parent.mkdir(parents=True)
    shutil.copy(PROGRAM, program)
    group = Services(program, tmp_path)
    yield group
    group.stop_all()


def calls_by_service(tree: dict) -> dict[str, dict]:
    return {call["service"]: call for call in tree["calls"]}


# ----------------------------------------------------------------------------- pure helpers

def test_parse_dependencies_both_forms():
    assert parse_dependencies("") == []
    assert parse_dependencies(" , ") == []
    assert parse_dependencies(None) == []
    deps = parse_dependencies("cart:8080, db=10.0.0.7:5432,cache=[::1]:6379")
    assert deps == [Dependency("cart", "cart", 8080), Dependency("db", "10.0.0.7", 5432),
                    Dependency("cache", "::1", 6379)]
    assert [d.address for d in deps] == ["cart:8080", "10.0.0.7:5432", "[::1]:6379"]


@pytest.mark.parametrize("text", ["cart", "cart:", "cart:http", "cart:0", "cart:70000", ":8080",
                                  "db=10.0.0.7", "db=:5432", "=h:1", "a b:80", "cart:80,cart:81",
                                  "cache=::1:6379"])
def test_parse_dependencies_rejects_malformed_entries(text):
    with pytest.raises(ValueError):
        parse_dependencies(text)


def test_tree_helpers():
    tree = {"service": "a", "ok": False, "calls": [
        {"service": "b", "ok": True, "calls": [{"service": "a", "ok": True, "skipped": "cycle"}]},
        {"service": "c", "ok": False, "error": "connection refused"},
        {"service": "d", "ok": True, "calls": [{"service": "e", "ok": True, "skipped": "depth"}]},
    ]}
    assert tree_services(tree) == {"a", "b", "d"}
    assert not tree_ok(tree)
    tree["calls"].pop(1)
    tree["ok"] = True
    assert tree_ok(tree)
    assert tree_services({"service": "x", "ok": True, "calls": []}) == {"x"}
    assert not tree_ok({"service": "x", "ok": True, "calls": [{"service": "y", "ok": False, "calls": []}]})


# ----------------------------------------------------------------------------- real processes

def test_identity_health_and_not_found(services):
    process = services.start("web")
    port = services.port("web")
    status, body = get(port, "/")
    assert status == 200
    assert {k: body[k] for k in ("service", "instance", "node", "app", "pid")} == {
        "service": "web", "instance": "web-0", "node": "edge-1", "app": "shop", "pid": process.pid}
    assert body["uptime_seconds"] >= 0 and body["requests"] >= 2  # the readiness probe, then this
    assert get(port, "/healthz") == (200, {"ok": True})
    status, body = get(port, "/nope")
    assert status == 404 and "error" in body
    # the leaf answers /call with an empty, successful tree
    status, tree = get(port, "/call")
    assert status == 200 and tree["ok"] is True and tree["calls"] == [] and tree["service"] == "web"


def test_chain_covers_every_service(services):
    services.start("c")
    services.start("b", ["c"])
    services.start("a", ["b"])
    status, tree = get(services.port("a"), "/call")
    assert status == 200
    assert tree["ok"] is True and tree_ok(tree)
    assert tree_services(tree) == {"a", "b", "c"}
    b = calls_by_service(tree)["b"]
    assert b["address"] == f"127.0.0.1:{services.port('b')}" and b["instance"] == "b-0"
    assert calls_by_service(b)["c"]["node"] == "edge-1"


def test_dependency_down_gives_502_naming_the_failure(services):
    services.start("a", ["gone"], STRATA_CALL_TIMEOUT="1")
    started = time.monotonic()
    status, tree = get(services.port("a"), "/call")
    assert time.monotonic() - started < 1.0
    assert status == 502 and tree["ok"] is False and not tree_ok(tree)
    gone = calls_by_service(tree)["gone"]
    assert gone["ok"] is False and "connection refused" in gone["error"]
    assert tree_services(tree) == {"a"}


def test_hanging_dependency_times_out_and_the_caller_still_gets_the_subtree(services):
    with socket.socket() as hang:  # accepts connections (backlog) but never answers
        hang.bind(("127.0.0.1", 0))
        hang.listen(8)
        services.ports["stuck"] = hang.getsockname()[1]
        services.start("b", ["stuck"], STRATA_CALL_TIMEOUT="3")
        services.start("a", ["b"], STRATA_CALL_TIMEOUT="1")
        started = time.monotonic()
        status, tree = get(services.port("a"), "/call")
        elapsed = time.monotonic() - started
    assert elapsed < 2.0  # a's 1 s budget held (not b's 3 s wait on `stuck`), with room for a loaded machine
    assert status == 502 and tree["ok"] is False
    # b gave up on `stuck` early enough (within a's budget) to answer a with its own tree
    b = calls_by_service(tree)["b"]
    assert "error" not in b and b["ok"] is False and b["instance"] == "b-0"
    stuck = calls_by_service(b)["stuck"]
    assert stuck["ok"] is False and "timeout" in stuck["error"]
    assert tree_services(tree) == {"a", "b"}


def test_cycle_terminates_and_is_reported_as_skipped(services):
    services.start("a", ["b"])
    services.start("b", ["a"])
    status, tree = get(services.port("a"), "/call")
    assert status == 200 and tree["ok"] is True
    b = calls_by_service(tree)["b"]
    assert calls_by_service(b)["a"] == {"service": "a", "address": f"127.0.0.1:{services.port('a')}",
                                        "ok": True, "skipped": "cycle"}
    assert tree_services(tree) == {"a", "b"}


def test_diamond_covers_every_service(services):
    services.start("d")
    services.start("b", ["d"])
    services.start("c", ["d"])
    services.start("a", ["b", "c"])
    status, tree = get(services.port("a"), "/call")
    assert status == 200 and tree_ok(tree)
    assert tree_services(tree) == {"a", "b", "c", "d"}
    assert [call["service"] for call in tree["calls"]] == ["b", "c"]  # in dependency order


def test_depth_beyond_the_limit_is_skipped(services):
    services.start("c")
    services.start("b", ["c"], STRATA_MAX_DEPTH="2")
    services.start("a", ["b"], STRATA_MAX_DEPTH="2")
    status, tree = get(services.port("a"), "/call")
    assert status == 200 and tree["ok"] is True
    b = calls_by_service(tree)["b"]
    assert calls_by_service(b)["c"]["skipped"] == "depth"
    assert tree_services(tree) == {"a", "b"}
    # a path already carried by the caller counts too
    status, tree = get(services.port("a"), "/call", headers={"X-Strata-Path": "x"})
    assert calls_by_service(tree)["b"]["skipped"] == "depth"


@pytest.mark.parametrize("variable, value", [
    ("STRATA_PORT", "http"),
    ("STRATA_PORT", "99999"),
    ("STRATA_DEPENDENCIES", "cart"),
    ("STRATA_DEPENDENCIES", "db=10.0.0.7:x"),
    ("STRATA_CALL_TIMEOUT", "soon"),
    ("STRATA_MAX_DEPTH", "deep"),
])
def test_bad_environment_exits_2_naming_the_variable(services, variable, value):
    process = services.spawn({"STRATA_SERVICE": "a", "STRATA_PORT": str(free_port()),
                              "STRATA_BIND": "127.0.0.1", variable: value})
    assert process.wait(timeout=5) == 2
    assert variable in services.stderr(process)


def test_sigterm_exits_0_promptly(services):
    process = services.start("a")
    idle = socket.create_connection(("127.0.0.1", services.port("a")))  # an open keep-alive client
    try:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(timeout=2) == 0
        assert time.monotonic() - started < 2
    finally:
        idle.close()


def test_a_version_answers_for_its_service_and_another_service_does_not(services):
    """`reviews` may be answered by its v2 (STRATA_MESH_SERVICE=reviews); a stranger is still refused."""
    services.start("reviews-v2", STRATA_MESH_SERVICE="reviews")
    services.start("a", STRATA_DEPENDENCIES=f"reviews=127.0.0.1:{services.port('reviews-v2')}")
    status, tree = get(services.port("a"), "/call")
    assert status == 200 and tree["ok"] is True, tree
    answer = calls_by_service(tree)["reviews"]  # the entry keeps the caller's name for it
    assert (answer["mesh_service"], answer["instance"]) == ("reviews", "reviews-v2-0")
    services.start("stranger")
    services.start("c", STRATA_DEPENDENCIES=f"reviews=127.0.0.1:{services.port('stranger')}")
    status, tree = get(services.port("c"), "/call")
    assert status == 502 and "wrong service" in calls_by_service(tree)["reviews"]["error"]
