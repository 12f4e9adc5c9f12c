"""The mesh's SDN adapter against a fake stub: an update the SDN answers NOT_FOUND installs the route
only when the SDN says (ListServiceRoutes) it holds none; a NOT_FOUND about an endpoint is raised."""

from __future__ import annotations

import grpc
import pytest
from strata.v1 import common_pb2, sdn_pb2

from component_base.errors import NotFound
from controller.mesh.adapters import SdnRoutes
from controller.mesh.core import SdnRoute


class Status(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


class FakeStub:
    """The SDN's service-route RPCs over a dict of routes; hosts outside `known` are NOT_FOUND,
    with messages worded unlike the real SDN's (the adapter must not read them)."""

    def __init__(self, routes=(), known=("a1", "a2")):
        self.routes = {name: sdn_pb2.ServiceRoute(service=name, vip="10.96.0.10", protocol=common_pb2.PROTOCOL_TCP,
                                                  port=80) for name in routes}
        self.known = set(known)
        self.calls: list[str] = []

    def _check(self, endpoints):
        unknown = [e.host for e in endpoints if e.host not in self.known]
        if unknown:
            raise Status(grpc.StatusCode.NOT_FOUND, f"who is {unknown[0]}?")

    def UpdateServiceRoute(self, request, timeout=None):
        self.calls.append("update")
        if request.service not in self.routes:
            raise Status(grpc.StatusCode.NOT_FOUND, "nothing by that name")
        self._check(request.endpoints)
        return self.routes[request.service]

    def InstallServiceRoute(self, request, timeout=None):
        self.calls.append("install")
        self._check(request.endpoints)
        self.routes[request.service] = sdn_pb2.ServiceRoute(service=request.service, vip=request.vip,
                                                            protocol=request.protocol, port=request.port,
                                                            endpoints=request.endpoints)
        return self.routes[request.service]

    def ListServiceRoutes(self, request, timeout=None):
        self.calls.append("list")
        return sdn_pb2.ListServiceRoutesResponse(routes=list(self.routes.values()))


def adapter(stub: FakeStub) -> SdnRoutes:
    sdn = SdnRoutes("unix:/nowhere/sdn.sock")  # a channel only: nothing connects
    sdn.stub = stub
    return sdn


def route(*hosts: str) -> SdnRoute:
    return SdnRoute("web", "10.96.0.10", "tcp", 80, tuple((h, "10.0.128.5", 8080, 1, "") for h in hosts))


def test_an_update_of_a_route_the_sdn_lost_installs_it():
    stub = FakeStub(routes=())
    adapter(stub).put(route("a1"), exists=True)
    assert stub.calls == ["update", "list", "install"]
    assert [e.host for e in stub.routes["web"].endpoints] == ["a1"]


def test_an_unknown_endpoint_in_an_update_is_raised_not_installed():
    stub = FakeStub(routes=("web",))
    with pytest.raises(NotFound, match="who is zz"):
        adapter(stub).put(route("a1", "zz"), exists=True)
    assert stub.calls == ["update", "list"]


def test_an_unknown_endpoint_in_a_lost_route_is_raised_by_the_install():
    stub = FakeStub(routes=())
    with pytest.raises(NotFound, match="who is zz"):
        adapter(stub).put(route("zz"), exists=True)
    assert stub.calls == ["update", "list", "install"] and "web" not in stub.routes


def test_a_route_known_to_be_new_is_installed_at_once_and_an_update_needs_one_call():
    stub = FakeStub(routes=())
    sdn = adapter(stub)
    sdn.put(route("a1"), exists=False)
    sdn.put(route("a1", "a2"), exists=True)
    assert stub.calls == ["install", "update"]
