"""The SdnService rpcs of service routes and paths over a real gRPC channel.

A route's endpoints go through the servicer's one conversion and come back filled in (address,
port, subset); paths come back switch by switch with their bottleneck and reserve what they say.
"""

from __future__ import annotations

import grpc
import pytest
from strata.v1 import common_pb2, sdn_pb2, sdn_pb2_grpc

from component_base.rpc import create_server
from controller.sdn import servicer
from test_sdn_core import RING, THIN, VIP, start


def serve(net):
    server, port = create_server("127.0.0.1:0", [(servicer.registrar(net.core), servicer.SERVICE_NAME)])
    server.start()
    return server, grpc.insecure_channel(f"127.0.0.1:{port}")


@pytest.fixture
def ring(tmp_path):
    net = start(RING, tmp_path / "sdn.db")
    server, channel = serve(net)
    yield net, sdn_pb2_grpc.SdnServiceStub(channel)
    channel.close()
    server.stop(grace=None)
    net.store.close()


@pytest.fixture
def thin(tmp_path):
    net = start(THIN, tmp_path / "sdn.db")
    server, channel = serve(net)
    yield net, sdn_pb2_grpc.SdnServiceStub(channel)
    channel.close()
    server.stop(grace=None)
    net.store.close()


def test_a_route_s_endpoints_come_back_filled_in_and_updated(ring):
    net, stub = ring
    route = stub.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
        service="web", vip=VIP, protocol=common_pb2.PROTOCOL_TCP, port=80,
        endpoints=[common_pb2.Endpoint(host="web1", weight=3, subset="v1"),
                   common_pb2.Endpoint(host="web2", ip=net.h("web2").ip, port=8080, weight=1)]), timeout=10)
    assert [(e.host, e.ip, e.port, e.weight, e.subset) for e in route.endpoints] == [
        ("web1", net.h("web1").ip, 80, 3, "v1"), ("web2", net.h("web2").ip, 8080, 1, "")]
    assert route.cookie == net.core.routes["web"].cookie
    updated = stub.UpdateServiceRoute(sdn_pb2.UpdateServiceRouteRequest(
        service="web", endpoints=[common_pb2.Endpoint(host="web3", weight=1)]), timeout=10)
    assert [(e.host, e.ip, e.port) for e in updated.endpoints] == [("web3", net.h("web3").ip, 80)]
    listed = stub.ListServiceRoutes(sdn_pb2.ListServiceRoutesRequest(), timeout=10).routes
    assert list(listed) == [updated]
    with pytest.raises(grpc.RpcError) as refused:
        stub.UpdateServiceRoute(sdn_pb2.UpdateServiceRouteRequest(
            service="web", endpoints=[common_pb2.Endpoint(host="nowhere", weight=1)]), timeout=10)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_paths_come_back_switch_by_switch_and_reserve_their_bandwidth(thin):
    net, stub = thin
    computed = stub.ComputePath(sdn_pb2.ComputePathRequest(src="h1", dst="h3"), timeout=10)
    assert [h.switch for h in computed.hops] == ["s1", "s3"] and computed.bottleneck_mbps == 10
    wide = stub.ComputePath(sdn_pb2.ComputePathRequest(src="h1", dst="h3", min_bandwidth_mbps=50), timeout=10)
    assert [h.switch for h in wide.hops] == ["s1", "s2", "s3"] and wide.bottleneck_mbps == 100
    installed = stub.InstallPath(sdn_pb2.InstallPathRequest(src="h1", dst="h3", bandwidth_mbps=60), timeout=10)
    assert list(installed.path.hops) == list(wide.hops)
    assert installed.bandwidth_mbps == 60 and installed.path.bottleneck_mbps == 40  # 100 less the 60 it holds
    with pytest.raises(grpc.RpcError) as refused:
        stub.InstallPath(sdn_pb2.InstallPathRequest(src="h1", dst="h2", bandwidth_mbps=50), timeout=10)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    stub.RemovePath(sdn_pb2.RemovePathRequest(id=installed.id), timeout=10)
    assert net.core.paths == {}
    with pytest.raises(grpc.RpcError) as gone:
        stub.RemovePath(sdn_pb2.RemovePathRequest(id=installed.id), timeout=10)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
