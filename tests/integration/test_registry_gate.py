"""The registry as `strata up` runs it, for real (root): docker-registry and its gate started in another network namespace through nsenter, pulls open, writes only with the run's credentials."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataplane.registry.server import REGISTRY_BINARY, RegistryServer
from harness.daemons import in_host

REPO = Path(__file__).resolve().parents[2]
ADDRESS = "127.0.0.1:5000"  # loopback of the test's own namespace: nothing else listens there


@pytest.fixture
def host():
    """A process holding a network namespace of the test's own (its loopback up), standing in for
    the registry's Mininet host."""
    if os.geteuid() != 0:
        pytest.skip("entering a network namespace needs root")
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip(f"{REGISTRY_BINARY} is not installed")
    holder = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    try:
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        subprocess.run([*in_host(holder.pid), "ip", "link", "set", "lo", "up"], check=True, timeout=10)
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def in_namespace(pid: int, code: str) -> dict:
    """Python run in the namespace; its last printed line is JSON."""
    result = subprocess.run([*in_host(pid), sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'proto'}"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_registry_in_a_host_takes_writes_only_with_the_run_s_credentials(host, tmp_path):
    def popen(argv, **kwargs):
        return subprocess.Popen([*in_host(host), *argv], **kwargs)

    def ready() -> bool:
        return subprocess.run([*in_host(host), "curl", "-sf", "-o", "/dev/null", f"http://{ADDRESS}/v2/"],
                              capture_output=True).returncode == 0

    server = RegistryServer(tmp_path / "registry", ADDRESS, popen=popen, ready=ready)
    try:
        server.start(timeout=30)
        data = b"layer bytes"
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (tmp_path / "blob").write_bytes(data)
        outcome = in_namespace(host, f"""
import json
from images import credentials
from images.registry import RegistryClient, RegistryError
url, blob, digest = "http://{ADDRESS}", {str(tmp_path / 'blob')!r}, {digest!r}
out = {{}}
try:
    RegistryClient(url).push_blob("app", digest, blob)
    out["anonymous"] = "accepted"
except RegistryError as exc:
    out["anonymous"] = str(exc)
RegistryClient(url, credentials=credentials.load({str(server.credentials_path)!r})).push_blob("app", digest, blob)
out["pulled"] = RegistryClient(url).has_blob("app", digest)
print(json.dumps(out))
""")
        assert "401" in outcome["anonymous"] and outcome["pulled"] is True
        deleted = subprocess.run([*in_host(host), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                                  f"http://{ADDRESS}/v2/app/blobs/{digest}"], capture_output=True, text=True)
        assert deleted.stdout == "405"
        # Nothing listens for the registry in this (the root) namespace, and its socket is private.
        assert not RegistryServer(tmp_path / "other", ADDRESS)._ready()
    finally:
        server.stop()
    assert server.process.poll() is not None and server.gate.poll() is not None
