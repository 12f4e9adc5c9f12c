"""Service-aware routes: a VIP served by real HTTP servers, weighted split, link cut, bad requests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import grpc
import pytest
from strata.v1 import common_pb2, sdn_pb2

from conftest import SDN_ADDRESS, launch, wait_for

VIP = "10.0.100.1"
ENDPOINTS = {"edge1": 3, "edge4": 1}  # different sites, so paths differ


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    running = launch("edge-tiered", tmp_path_factory)
    servers = []
    try:
        for name in ENDPOINTS:
            root = running.workdir / f"www-{name}"
            root.mkdir()
            (root / "whoami").write_text(name)
            host = running.host(name)
            servers.append(host.popen(["python3", "-m", "http.server", "8080", "--bind", host.IP(),
                                       "--directory", str(root)]))
        for name in ENDPOINTS:
            host = running.host(name)
            wait_for(lambda: host.cmd(f"curl -s --max-time 1 http://{host.IP()}:8080/whoami") == name, 10,
                     f"the web server on {name}")
        route = running.stub.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
            service="web", vip=VIP, protocol=common_pb2.PROTOCOL_TCP, port=80,
            endpoints=[common_pb2.Endpoint(host=name, port=8080, weight=weight)
                       for name, weight in ENDPOINTS.items()]), timeout=20)
        assert route.cookie
        yield running
    finally:
        for proc in servers:
            proc.terminate()
        running.stop()


def curl(host, path="whoami", timeout=3) -> str:
    return host.cmd(f"curl -s --max-time {timeout} http://{VIP}/{path}").strip()


def test_vip_answers_from_every_device(web):
    for device in web.spec.hosts_with_role("device"):
        assert curl(web.host(device.name)) in ENDPOINTS, device.name


def test_split_follows_the_weights(web):
    client = web.host("dev1")
    out = client.cmd(f"for i in $(seq 200); do curl -s --max-time 3 http://{VIP}/whoami; echo; done")
    counts = Counter(line.strip() for line in out.splitlines() if line.strip())
    assert sum(counts.values()) == 200, counts
    share = counts["edge1"] / 200
    assert abs(share - 0.75) <= 0.15, counts


def test_flows_are_on_the_switches_with_the_service_cookie(web):
    flows = web.stub.ListFlows(sdn_pb2.ListFlowsRequest(service="web"), timeout=20)
    groups = [g for sw in flows.switches for g in sw.groups]
    assert groups
    for g in groups:  # per endpoint (its register value), the weights sum to 3:1
        per_endpoint: dict[str, int] = {}
        for b in g.buckets:
            slot = next(a for a in b.actions.split(",") if a.endswith("->reg1"))
            per_endpoint[slot] = per_endpoint.get(slot, 0) + b.weight
        assert sorted(per_endpoint.values())[1] == 3 * sorted(per_endpoint.values())[0], per_endpoint
    cookies = {f.cookie for sw in flows.switches for f in sw.flows}
    assert len(cookies) == 1 and all(f.service == "web" for sw in flows.switches for f in sw.flows)


def _link_on_path(web, src: str, dst: str) -> tuple[str, str]:
    path = web.stub.ComputePath(sdn_pb2.ComputePathRequest(src=src, dst=dst), timeout=10)
    hops = [h.switch for h in path.hops]
    assert len(hops) >= 2, hops
    return hops[0], hops[1]


def test_traffic_resumes_within_two_seconds_after_a_link_cut(web):
    client = web.host("dev1")  # on site1, like edge1
    a, b = _link_on_path(web, "dev3", "edge1")  # dev3 is on site2: its path to edge1 crosses aggregation
    client3 = web.host("dev3")
    assert curl(client3) in ENDPOINTS
    web.network.net.configLinkStatus(a, b, "down")
    try:
        start = time.monotonic()
        # New connections with a short timeout, until one is served: the time traffic was cut for.
        while curl(client3, timeout=0.3) not in ENDPOINTS and time.monotonic() - start < 10:
            pass
        resumed = time.monotonic() - start
        assert resumed <= 2.0, f"traffic resumed {resumed:.2f} s after the cut"
        topology = web.stub.GetTopology(sdn_pb2.GetTopologyRequest(), timeout=10)
        assert any(not l.up for l in topology.links if {l.src_switch, l.dst_switch} == {a, b})
        assert curl(client) in ENDPOINTS and curl(client3) in ENDPOINTS
    finally:
        web.network.net.configLinkStatus(a, b, "up")


@pytest.mark.parametrize("request_, code", [
    (sdn_pb2.InstallServiceRouteRequest(service="bad-vip", vip="10.0.300.1", protocol=common_pb2.PROTOCOL_TCP,
                                        port=81, endpoints=[common_pb2.Endpoint(host="edge2", port=80, weight=1)]),
     grpc.StatusCode.INVALID_ARGUMENT),
    (sdn_pb2.InstallServiceRouteRequest(service="ghost", vip="10.0.100.9", protocol=common_pb2.PROTOCOL_TCP,
                                        port=81, endpoints=[common_pb2.Endpoint(host="nowhere", port=80, weight=1)]),
     grpc.StatusCode.NOT_FOUND),
    (sdn_pb2.InstallServiceRouteRequest(service="idle", vip="10.0.100.8", protocol=common_pb2.PROTOCOL_TCP,
                                        port=81, endpoints=[common_pb2.Endpoint(host="edge2", port=80, weight=0)]),
     grpc.StatusCode.INVALID_ARGUMENT),
    (sdn_pb2.InstallServiceRouteRequest(service="web", vip="10.0.100.7", protocol=common_pb2.PROTOCOL_TCP,
                                        port=81, endpoints=[common_pb2.Endpoint(host="edge2", port=80, weight=1)]),
     grpc.StatusCode.ALREADY_EXISTS),
])
def test_bad_requests_get_the_right_code_and_disturb_nothing(web, request_, code):
    before = web.stub.ListFlows(sdn_pb2.ListFlowsRequest(service="web"), timeout=20)
    with pytest.raises(grpc.RpcError) as caught:
        web.stub.InstallServiceRoute(request_, timeout=20)
    assert caught.value.code() == code
    assert caught.value.details()
    after = web.stub.ListFlows(sdn_pb2.ListFlowsRequest(service="web"), timeout=20)
    rules = lambda r: sorted((sw.switch, f.match, f.actions) for sw in r.switches for f in sw.flows)  # noqa: E731
    assert rules(before) == rules(after)
    assert curl(web.host("dev2")) in ENDPOINTS


@pytest.mark.parametrize("vip, why", [("255.255.255.255", "broadcast"), ("0.0.0.0", "unspecified"),
                                      ("224.0.0.1", "multicast"), ("127.0.0.1", "loopback"),
                                      ("10.200.0.1", "reachable from no host"), ("10.0.255.254", "gateway"),
                                      ("10.96.0.0", "network address")])
def test_a_vip_no_host_can_reach_is_refused(web, vip, why):
    with pytest.raises(grpc.RpcError) as caught:
        web.stub.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
            service="nowhere", vip=vip, protocol=common_pb2.PROTOCOL_TCP, port=80,
            endpoints=[common_pb2.Endpoint(host="edge2", port=8080, weight=1)]), timeout=20)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert why in caught.value.details()


@pytest.mark.parametrize("name", ["x" * 1_000_000, "web\x00", "Web", "-web", "a" * 64])
def test_a_service_name_that_is_not_a_dns_name_is_refused(web, name):
    with pytest.raises(grpc.RpcError) as caught:
        web.stub.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
            service=name, vip="10.96.0.77", protocol=common_pb2.PROTOCOL_TCP, port=80,
            endpoints=[common_pb2.Endpoint(host="edge2", port=8080, weight=1)]), timeout=20)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(caught.value.details()) < 400


def test_a_vip_from_the_service_range_answers_devices_through_the_gateway(web):
    web.stub.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
        service="ranged", vip="10.96.0.10", protocol=common_pb2.PROTOCOL_TCP, port=80,
        endpoints=[common_pb2.Endpoint(host=name, port=8080, weight=1) for name in ENDPOINTS]), timeout=20)
    try:
        for device in web.spec.hosts_with_role("device"):
            got = web.host(device.name).cmd("curl -s --max-time 3 http://10.96.0.10/whoami").strip()
            assert got in ENDPOINTS, device.name
    finally:
        web.stub.RemoveServiceRoute(sdn_pb2.RemoveServiceRouteRequest(service="ranged"), timeout=20)


def test_an_endpoint_is_reachable_directly_while_it_serves_the_vip(web):
    for name in ENDPOINTS:
        ip = web.host(name).IP()
        assert web.host("dev3").cmd(f"curl -s --max-time 3 http://{ip}:8080/whoami").strip() == name


def test_an_endpoint_calling_its_own_service_reaches_it_every_time(web):
    """Hairpin: edge1 calls the VIP it serves; the group picks edge1 itself for about 3 in 4."""
    out = web.host("edge1").cmd(f"for i in $(seq 20); do curl -s --max-time 3 http://{VIP}/whoami; echo; done")
    counts = Counter(line.strip() for line in out.splitlines() if line.strip())
    assert sum(counts.values()) == 20 and counts["edge1"] > 0, counts


def test_unknown_service_update_is_not_found(web):
    with pytest.raises(grpc.RpcError) as caught:
        web.stub.UpdateServiceRoute(sdn_pb2.UpdateServiceRouteRequest(
            service="nope", endpoints=[common_pb2.Endpoint(host="edge1", port=80, weight=1)]), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_restarted_daemon_restores_every_route_without_duplicates(web):
    def snapshot():
        flows = web.stub.ListFlows(sdn_pb2.ListFlowsRequest(), timeout=20)
        return sorted((sw.switch, f.table_id, f.priority, f.match, f.actions)
                      for sw in flows.switches for f in sw.flows)

    before = snapshot()
    web.sdn.kill()
    web.start_sdn()
    web.wait_connected(60)
    wait_for(lambda: snapshot() == before, 20, "the restarted daemon's rules to equal those before")
    assert len(before) == len(set(before))
    routes = web.stub.ListServiceRoutes(sdn_pb2.ListServiceRoutesRequest(), timeout=10).routes
    assert [r.service for r in routes] == ["web"]
    assert curl(web.host("dev5")) in ENDPOINTS


def strata_sdn(*args: str) -> subprocess.CompletedProcess:
    # --insecure: this SDN daemon serves plaintext on loopback, whatever stack the machine runs besides
    return subprocess.run([sys.executable, "-m", "cli", "sdn", "--sdn", SDN_ADDRESS, "--insecure", *args],
                          capture_output=True, text=True, timeout=60)


def test_sdn_cli_shows_topology_routes_flows_and_paths(web):
    topology = strata_sdn("topology")
    assert topology.returncode == 0 and "6 switches" in topology.stdout and "edge1" in topology.stdout
    routes = strata_sdn("route", "list")
    assert routes.returncode == 0 and VIP in routes.stdout and "web" in routes.stdout
    flows = strata_sdn("flows", "--service", "web")
    assert flows.returncode == 0 and "[web]" in flows.stdout and "group" in flows.stdout
    path = strata_sdn("path", "dev1", "edge4")
    assert path.returncode == 0 and path.stdout.startswith("dev1 -> edge4")


def test_sdn_cli_route_lifecycle_and_errors(web):
    added = strata_sdn("route", "add", "cli-svc", "--vip", "10.0.100.50", "--port", "9000",
                       "--endpoint", "edge2:9000:1")
    assert added.returncode == 0, added.stderr
    assert strata_sdn("route", "update", "cli-svc", "--endpoint", "edge3:9000:2").returncode == 0
    bad = strata_sdn("route", "add", "cli-bad", "--vip", "10.0.100.51", "--port", "9001",
                     "--endpoint", "nowhere:9001:1")
    assert bad.returncode == 2 and "nowhere" in bad.stderr
    assert strata_sdn("route", "del", "cli-svc").returncode == 0
    assert "cli-svc" not in strata_sdn("route", "list").stdout
