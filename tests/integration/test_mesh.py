"""The service mesh for real: policies set through the mesh, enforced by the switches, measured with
real traffic (HTTP connections, UDP floods) from the emulated devices; ejections, restarts, bad input."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import grpc
import pytest
from strata.v1 import common_pb2
from strata.v1 import mesh_pb2 as pb
from strata.v1 import mesh_pb2_grpc
from strata.v1 import orchestrator_pb2 as opb
from strata.v1 import orchestrator_pb2_grpc

from conftest import wait_bound, wait_for
from api.app import ServiceSpec
from api.app_messages import service_message
from harness.stack import Stack, port_addresses
from topologies.catalog import load_topology

ROOT = Path(__file__).resolve().parents[2]
STRATA = [sys.executable, "-m", "cli"]
WEB_VIP, FLOOD_VIP, CALM_VIP = "10.96.200.10", "10.96.200.20", "10.96.200.30"
SERVED = ("edge1", "edge2", "edge3")  # plain HTTP servers answering their own name on :8080


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("mesh") / "stack.json"
    with Stack(load_topology("edge-tiered"), openflow_port=6696, addresses=port_addresses(20300), images=[],
               state_file=state, log=lambda *_: None) as running:
        servers = {}
        for name in SERVED:
            root = running.workdir / f"www-{name}"
            root.mkdir()
            (root / "whoami").write_text(name)
            servers[name] = serve_http(running, name)
        running.http_servers = servers
        yield running
        for proc in running.http_servers.values():
            proc.terminate()


def serve_http(stack, name: str):
    host = stack.network.net.get(name)
    proc = host.popen(["python3", "-m", "http.server", "8080", "--bind", host.IP(),
                       "--directory", str(stack.workdir / f"www-{name}")])
    wait_for(lambda: host.cmd(f"curl -s --max-time 1 http://{host.IP()}:8080/whoami").strip() == name, 10,
             f"{name}'s HTTP server")
    return proc


def mesh(stack):
    return mesh_pb2_grpc.MeshServiceStub(stack.channel("mesh"))


def host_ip(stack, name: str) -> str:
    return stack.network.net.get(name).IP()


def register(stack, name, vip, port, endpoints, protocol=common_pb2.PROTOCOL_TCP):
    stub = mesh(stack)
    stub.RegisterService(pb.RegisterServiceRequest(name=name, vip=vip, protocol=protocol, port=port), timeout=10)
    return stub.SetEndpoints(pb.SetEndpointsRequest(service=name, endpoints=[
        pb.MeshEndpoint(host=h, ip=host_ip(stack, h), port=p, subset=s) for h, p, s in endpoints]), timeout=20)


def whoami(stack, client: str, n: int, vip: str = WEB_VIP, port: int = 80) -> Counter:
    """n new connections from the client, one request each: who answered."""
    out = stack.network.net.get(client).cmd(
        f"for i in $(seq {n}); do curl -s --max-time 3 http://{vip}:{port}/whoami; echo; done")
    return Counter(line.strip() for line in out.splitlines() if line.strip())


def strata(stack, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*STRATA, *args, ], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={"STRATA_STACK": str(stack.state_file), "PATH": "/usr/bin:/bin"})


def stats(stack, service: str) -> pb.ServiceTraffic:
    return mesh(stack).GetStats(pb.GetStatsRequest(services=[service]), timeout=30).services[0]


# -- canary through the orchestrator -----------------------------------------------------------------
@pytest.fixture(scope="module")
def shop(stack):
    """An app whose reviews service runs two versions: v1 (two replicas) and the canary v2."""
    services = [ServiceSpec("web", "redis", replicas=1, cpu_millicores=200, dependencies=("reviews",)),
                ServiceSpec("reviews", "redis", replicas=2, cpu_millicores=200, mesh_service="reviews", version="v1"),
                ServiceSpec("reviews-v2", "redis", replicas=1, cpu_millicores=200, mesh_service="reviews",
                            version="v2")]
    stub = orchestrator_pb2_grpc.OrchestratorServiceStub(stack.channel("orchestrator"))
    stub.Deploy(opb.DeployRequest(application="shop", services=[service_message(s) for s in services]), timeout=300)
    d = wait_for(lambda: (lambda d: d if d.ready else None)(
        stub.GetDeployment(opb.GetDeploymentRequest(application="shop"), timeout=10)), 180, "shop ready")
    return next(a for a in d.addresses if a.service == "reviews")


def versions(stack, client, address, n) -> Counter:
    out = stack.network.net.get(client).cmd(
        f"for i in $(seq {n}); do curl -s --max-time 3 http://{address.vip}:{address.port}/; echo; done")
    return Counter(json.loads(line)["service"] for line in out.splitlines() if line.strip().startswith("{"))


def test_the_orchestrator_registers_versions_as_subsets_of_one_service(stack, shop):
    info = mesh(stack).GetService(pb.GetServiceRequest(name="reviews.shop"), timeout=10)
    assert info.vip == shop.vip and info.routed
    assert sorted(e.endpoint.subset for e in info.endpoints) == ["v1", "v1", "v2"]
    assert "reviews-v2.shop" not in {s.name for s in mesh(stack).ListServices(pb.ListServicesRequest()).services}


def test_a_canary_split_holds_over_400_connections_and_the_counters_agree(stack, shop):
    done = strata(stack, "mesh", "policy", "set", "reviews.shop", "--split", "v1=90,v2=10")
    assert done.returncode == 0, done.stderr
    assert "split v1=90,v2=10" in done.stdout
    before = stats(stack, "reviews.shop")
    seen = versions(stack, "dev1", shop, 400)
    assert sum(seen.values()) == 400, seen
    canary = seen["reviews-v2"] / 400
    assert 0.05 <= canary <= 0.15, seen  # 10% within 5 points
    was = {s.subset: s.counters.connections for s in before.subsets}
    want = {"v1": seen["reviews"], "v2": seen["reviews-v2"]}

    def counted():
        now = stats(stack, "reviews.shop")
        return {s.subset: s.counters.connections - was.get(s.subset, 0) for s in now.subsets}

    # the switches counted exactly the connections the client opened, per version (Open vSwitch
    # folds its datapath's counters into the rules' within about a second)
    wait_for(lambda: counted() == want, 5, f"counters equal to {want}")
    after = stats(stack, "reviews.shop")
    assert after.counters.rx_bytes > before.counters.rx_bytes and after.counters.tx_packets > before.counters.tx_packets
    table = strata(stack, "mesh", "stats", "reviews.shop")
    assert table.returncode == 0 and "subset v2" in table.stdout, table.stdout + table.stderr


def test_an_established_connection_keeps_its_version_when_the_split_changes(stack, shop):
    strata(stack, "mesh", "policy", "set", "reviews.shop", "--split", "v1=0,v2=100")
    client = stack.network.net.get("dev2")
    # half a request on a connection that v2 took; the rest once every new connection goes to v1
    script = (f"import socket, sys, json; s = socket.create_connection(({shop.vip!r}, {shop.port}), timeout=10); "
              "s.sendall(b'GET / HTTP/1.0\\r\\n'); print('open', flush=True); sys.stdin.readline(); "
              "s.sendall(b'\\r\\n'); data = b''\n"
              "while chunk := s.recv(65536): data += chunk\n"
              "print(json.loads(data.split(b'\\r\\n\\r\\n', 1)[1])['service'], flush=True)")
    proc = client.popen(["python3", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    done = strata(stack, "mesh", "policy", "set", "reviews.shop", "--split", "v1=100,v2=0")
    assert done.returncode == 0, done.stderr
    assert set(versions(stack, "dev1", shop, 20)) == {"reviews"}  # new connections: v1 only
    out, _ = proc.communicate("go\n", timeout=15)
    assert out.strip() == "reviews-v2", out  # the old one finished on v2


# -- policies on services of the topology's hosts ---------------------------------------------------
def test_locality_prefers_the_nearest_instance_and_falls_back(stack):
    register(stack, "near", WEB_VIP, 80, [("edge1", 8080, ""), ("edge3", 8080, "")])  # site1 and site2
    mesh(stack).SetPolicy(pb.SetPolicyRequest(service="near", policy=pb.TrafficPolicy(locality=True)), timeout=20)
    assert whoami(stack, "dev1", 20) == Counter({"edge1": 20})   # on site1
    assert whoami(stack, "dev3", 20) == Counter({"edge3": 20})   # on site2
    assert set(whoami(stack, "dev5", 40)) == {"edge1", "edge3"}  # site3: as far from both
    register(stack, "near", WEB_VIP, 80, [("edge3", 8080, "")])   # the nearest goes: the next one serves
    assert whoami(stack, "dev1", 10) == Counter({"edge3": 10})
    mesh(stack).DeregisterService(pb.DeregisterServiceRequest(name="near"), timeout=20)


def test_an_ejected_instance_gets_no_new_connections_until_it_recovers(stack):
    register(stack, "flaky", WEB_VIP, 80, [("edge1", 8080, ""), ("edge2", 8080, "")])
    policy = pb.TrafficPolicy(outlier_detection=pb.OutlierDetection(
        consecutive_5xx=2, interval=0.5, base_ejection_time=4, max_ejection_percent=50, http_path="/whoami",
        timeout=0.4))
    mesh(stack).SetPolicy(pb.SetPolicyRequest(service="flaky", policy=policy), timeout=20)
    assert set(whoami(stack, "dev1", 20)) == {"edge1", "edge2"}
    stack.http_servers["edge2"].terminate()
    stack.http_servers["edge2"].wait()
    ejected = wait_for(lambda: (lambda s: s if s.endpoints[1].ejected else None)(
        mesh(stack).GetService(pb.GetServiceRequest(name="flaky"), timeout=10)), 5, "edge2 ejected")
    assert ejected.endpoints[1].endpoint.host == "edge2" and ejected.endpoints[1].weight == 0
    assert whoami(stack, "dev1", 20) == Counter({"edge1": 20})  # no connection is sent to it
    stack.http_servers["edge2"] = serve_http(stack, "edge2")
    assert whoami(stack, "dev1", 10) == Counter({"edge1": 10})  # recovered, but still serving its time
    wait_for(lambda: not mesh(stack).GetService(pb.GetServiceRequest(name="flaky"), timeout=10).endpoints[1].ejected,
             8, "edge2 back after its ejection time")
    assert set(whoami(stack, "dev1", 20)) == {"edge1", "edge2"}
    info = mesh(stack).GetService(pb.GetServiceRequest(name="flaky"), timeout=10)
    assert info.endpoints[1].ejections == 1
    mesh(stack).DeregisterService(pb.DeregisterServiceRequest(name="flaky"), timeout=20)


UDP_SINK = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
got, first, last = 0, None, None
try:
    while True:
        data = s.recv(2048)
        now = time.monotonic()
        first = first or now
        last = now
        got += len(data)
except socket.timeout:
    pass
print(got, (last - first) if first else 0)
"""

UDP_FLOOD = """
import socket, sys, time
dst, port, mbps, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"x" * 1000
gap = len(payload) * 8 / (mbps * 1e6)
start = time.monotonic()
k = 0
while time.monotonic() - start < seconds:
    due = start + k * gap
    if time.monotonic() < due:
        time.sleep(max(0.0, due - time.monotonic()))
    s.sendto(payload, (dst, port))
    k += 1
print(k * len(payload))
"""


def test_a_rate_limit_caps_a_flood_of_one_service_and_not_another(stack):
    udp = common_pb2.PROTOCOL_UDP
    register(stack, "flood", FLOOD_VIP, 9000, [("edge3", 9000, "")], protocol=udp)
    register(stack, "calm", CALM_VIP, 9001, [("edge4", 9001, "")], protocol=udp)
    mesh(stack).SetPolicy(pb.SetPolicyRequest(service="flood", policy=pb.TrafficPolicy(rate_limit_mbps=5)),
                          timeout=20)
    net = stack.network.net
    sinks = [net.get("edge3").popen([sys.executable, "-c", UDP_SINK, "9000", "1.5"], stdout=subprocess.PIPE, text=True),
             net.get("edge4").popen([sys.executable, "-c", UDP_SINK, "9001", "1.5"], stdout=subprocess.PIPE, text=True)]
    wait_bound(net.get("edge3"), 9000)
    wait_bound(net.get("edge4"), 9001)
    floods = [net.get("dev1").popen([sys.executable, "-c", UDP_FLOOD, FLOOD_VIP, "9000", "20", "3"],
                                    stdout=subprocess.PIPE, text=True),
              net.get("dev2").popen([sys.executable, "-c", UDP_FLOOD, CALM_VIP, "9001", "8", "3"],
                                    stdout=subprocess.PIPE, text=True)]
    sent = [int(p.communicate(timeout=20)[0]) for p in floods]
    got = [p.communicate(timeout=20)[0].split() for p in sinks]
    flood_mbps = int(got[0][0]) * 8 / 3 / 1e6
    calm_mbps = int(got[1][0]) * 8 / 3 / 1e6
    assert sent[0] * 8 / 3 / 1e6 > 15  # the flood was sent at ~20 Mbit/s
    assert 3.5 <= flood_mbps <= 6.5, f"capped at 5 Mbit/s, got {flood_mbps:.2f}"
    assert calm_mbps >= 0.95 * sent[1] * 8 / 3 / 1e6, f"calm got {calm_mbps:.2f} of {sent[1] * 8 / 3e6:.2f} Mbit/s"
    flood, calm = stats(stack, "flood"), stats(stack, "calm")
    assert flood.dropped_packets > 0.5 * (sent[0] - int(got[0][0])) / 1000  # the meters counted the drops
    assert calm.dropped_packets == 0
    for name in ("flood", "calm"):
        mesh(stack).DeregisterService(pb.DeregisterServiceRequest(name=name), timeout=20)


# -- bad input, restarts, metrics ---------------------------------------------------------------------
@pytest.mark.parametrize("policy, code, text", [
    (pb.TrafficPolicy(split={"v1": 90, "v2": 20}), grpc.StatusCode.INVALID_ARGUMENT, "sums to 110%"),
    (pb.TrafficPolicy(rate_limit_mbps=float("nan")), grpc.StatusCode.INVALID_ARGUMENT, "rate_limit_mbps"),
    (pb.TrafficPolicy(outlier_detection=pb.OutlierDetection(interval=-1)), grpc.StatusCode.INVALID_ARGUMENT,
     "outlier_detection.interval"),
    (pb.TrafficPolicy(split={"v 1": 100}), grpc.StatusCode.INVALID_ARGUMENT, "subset"),
])
def test_bad_policies_get_clear_errors_and_change_nothing(stack, shop, policy, code, text):
    before = mesh(stack).GetService(pb.GetServiceRequest(name="reviews.shop"), timeout=10)
    with pytest.raises(grpc.RpcError) as error:
        mesh(stack).SetPolicy(pb.SetPolicyRequest(service="reviews.shop", policy=policy), timeout=10)
    assert error.value.code() == code and text in error.value.details()
    assert mesh(stack).GetService(pb.GetServiceRequest(name="reviews.shop"), timeout=10) == before


def test_bad_requests_from_the_cli_say_what_is_wrong(stack, shop):
    done = strata(stack, "mesh", "policy", "set", "nowhere.shop", "--split", "v1=100")
    assert done.returncode == 2 and "no mesh service named 'nowhere.shop'" in done.stderr
    done = strata(stack, "mesh", "policy", "set", "reviews.shop", "--outlier", "interval=soon")
    assert done.returncode == 2 and "interval" in done.stderr
    register(stack, "dns", "10.96.200.53", 53, [("edge1", 5353, "")], protocol=common_pb2.PROTOCOL_UDP)
    done = strata(stack, "mesh", "policy", "set", "dns", "--outlier")
    assert done.returncode == 2 and "UDP" in done.stderr
    mesh(stack).DeregisterService(pb.DeregisterServiceRequest(name="dns"), timeout=20)


def test_a_restarted_mesh_keeps_its_services_and_policies(stack, shop):
    strata(stack, "mesh", "policy", "set", "reviews.shop", "--split", "v1=50,v2=50", "--locality")
    before = mesh(stack).GetService(pb.GetServiceRequest(name="reviews.shop"), timeout=10)
    stack.restart_mesh(kill=True)
    after = wait_for(lambda: (lambda s: s if s.routed else None)(
        mesh(stack).GetService(pb.GetServiceRequest(name="reviews.shop"), timeout=10)), 10, "routed again")
    assert after.policy == before.policy and after.endpoints == before.endpoints
    assert set(versions(stack, "dev1", shop, 20)) <= {"reviews", "reviews-v2"}
    listed = strata(stack, "mesh", "services", "-o", "json")
    assert any(s["name"] == "reviews.shop" and s["policy"]["locality"] for s in json.loads(listed.stdout))


def test_every_daemon_serves_prometheus_metrics(stack, shop):
    state = json.loads(stack.state_file.read_text())
    for name in ("placement", "sdn"):
        host, port = state["metrics"][name].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            text = b"".join(iter(lambda: s.recv(65536), b"")).decode()
        assert "strata_grpc_server_handled_total" in text, name
    registry = stack.network.net.get("registry")
    for name in ("mesh", "orchestrator"):
        text = registry.cmd(f"curl -s --max-time 10 http://{state['metrics'][name]}/metrics")
        assert "strata_grpc_server_handled_total" in text, name
    text = registry.cmd(f"curl -s --max-time 10 http://{state['metrics']['mesh']}/metrics")
    lines = [l for l in text.splitlines() if l.startswith("strata_mesh_connections_total") and "reviews.shop" in l]
    assert len(lines) == 3 and sum(float(l.split()[-1]) for l in lines) >= 400, lines
