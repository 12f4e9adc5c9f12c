"""Who may call what (component_base.authz): the table, and its enforcement over real mutual-TLS channels."""

from __future__ import annotations

import datetime

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from strata.v1 import agent_pb2, orchestrator_pb2, placement_pb2, placement_pb2_grpc, sdn_pb2

from component_base import authz
from component_base.pki import Identity, Listener, make_cluster
from component_base.rpc import create_server
from component_base.tls import Tls, open_channel, plaintext_allowed
from controller.placement import servicer

AGENT_SERVICE = "strata.v1.NodeAgent"
ORCHESTRATOR_SERVICE = "strata.v1.OrchestratorService"


def allowed(caller, service, method, request=None) -> bool:
    return authz.refusal(caller, service, method, request) is None


def test_only_the_orchestrator_and_the_operator_run_containers_on_an_agent():
    run = agent_pb2.RunContainerRequest(name="web")
    assert allowed(Identity("orchestrator"), AGENT_SERVICE, "RunContainer", run)
    assert allowed(Identity("admin"), AGENT_SERVICE, "RunContainer", run)
    for caller in (Identity.agent("edge1"), Identity.agent("edge2"), Identity("mesh"), Identity("sdn")):
        assert not allowed(caller, AGENT_SERVICE, "RunContainer", run)
        assert not allowed(caller, AGENT_SERVICE, "PruneLayers", agent_pb2.PruneLayersRequest())
    assert not allowed(Identity("orchestrator"), AGENT_SERVICE, "PruneLayers", agent_pb2.PruneLayersRequest())


def test_an_agent_heartbeats_and_registers_for_its_own_node_only():
    edge1 = Identity.agent("edge1")
    assert allowed(edge1, ORCHESTRATOR_SERVICE, "Heartbeat", orchestrator_pb2.HeartbeatRequest(node="edge1"))
    assert allowed(edge1, ORCHESTRATOR_SERVICE, "RegisterNode", orchestrator_pb2.RegisterNodeRequest(name="edge1"))
    why = authz.refusal(edge1, ORCHESTRATOR_SERVICE, "Heartbeat", orchestrator_pb2.HeartbeatRequest(node="edge2"))
    assert why is not None and "spiffe://strata/agent/edge1" in why and "Heartbeat" in why
    assert not allowed(edge1, ORCHESTRATOR_SERVICE, "RegisterNode", orchestrator_pb2.RegisterNodeRequest(name="edge2"))
    assert not allowed(Identity("mano"), ORCHESTRATOR_SERVICE, "Heartbeat", orchestrator_pb2.HeartbeatRequest(node="x"))
    assert not allowed(edge1, ORCHESTRATOR_SERVICE, "Heartbeat")  # no request to read the node from


def test_an_agent_attaches_and_detaches_only_its_own_endpoints():
    edge1 = Identity.agent("edge1")
    sdn = "strata.v1.SdnService"
    assert allowed(edge1, sdn, "AttachEndpoint", sdn_pb2.AttachEndpointRequest(name="edge1/web", node="edge1"))
    assert not allowed(edge1, sdn, "AttachEndpoint", sdn_pb2.AttachEndpointRequest(name="edge2/web", node="edge2"))
    assert allowed(edge1, sdn, "DetachEndpoint", sdn_pb2.DetachEndpointRequest(name="edge1/web"))
    assert not allowed(edge1, sdn, "DetachEndpoint", sdn_pb2.DetachEndpointRequest(name="edge2/web"))
    assert not allowed(edge1, sdn, "InstallServiceRoute", sdn_pb2.InstallServiceRouteRequest())


def test_health_is_open_to_the_cluster_and_every_method_to_the_operator_but_nothing_to_strangers():
    assert allowed(Identity.agent("edge3"), "grpc.health.v1.Health", "Check")
    assert allowed(Identity("admin"), "strata.v1.VnfManagerService", "Instantiate")
    assert not allowed(Identity("orchestrator"), "strata.v1.VnfManagerService", "Instantiate")
    assert not allowed(None, "grpc.health.v1.Health", "Check")
    assert not allowed(Identity("orchestrator"), "strata.v1.Unknown", "Anything")


def test_the_table_names_only_methods_and_callers_that_exist():
    from strata.v1 import agent_pb2 as a, mano_pb2, mesh_pb2, orchestrator_pb2 as o, placement_pb2 as p, sdn_pb2 as s

    services = {svc.full_name: svc for module in (a, mano_pb2, mesh_pb2, o, p, s)
                for svc in module.DESCRIPTOR.services_by_name.values()}
    assert set(authz.TABLE) == set(services)
    for service, methods in authz.TABLE.items():
        for method, callers in methods.items():
            descriptor = services[service].methods_by_name[method]
            for caller in callers:
                if isinstance(caller, authz.OwnNode):
                    assert caller.field in descriptor.input_type.fields_by_name
                else:
                    Identity(caller)  # a component's identity


# -- over real channels -----------------------------------------------------------------------------

NOW = datetime.datetime.now(datetime.timezone.utc)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "pki"
    make_cluster(folder, [Listener(Identity(c)) for c in ("placement", "orchestrator", "admin")]
                 + [Listener(Identity.agent("edge1"))], NOW)
    return folder


@pytest.fixture(scope="module")
def placement(pki, tmp_path_factory):
    socket = tmp_path_factory.mktemp("sock") / "placement.sock"
    server, port = create_server("127.0.0.1:0", [(servicer.register, servicer.SERVICE_NAME)],
                                 also_listen=[f"unix:{socket}"], tls=Tls.from_folder(pki, Identity("placement")))
    server.start()
    yield {"tcp": f"127.0.0.1:{port}", "unix": f"unix:{socket}"}
    server.stop(grace=None)


@pytest.mark.parametrize("where", ["tcp", "unix"])
def test_callers_are_told_apart_by_their_certificates(pki, placement, where):
    for who, expected in ((Identity("orchestrator"), None), (Identity("admin"), None),
                          (Identity.agent("edge1"), grpc.StatusCode.PERMISSION_DENIED)):
        with open_channel(placement[where], Tls.from_folder(pki, who), Identity("placement")) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            stub = placement_pb2_grpc.PlacementServiceStub(channel)
            if expected is None:
                assert stub.ListAlgorithms(placement_pb2.ListAlgorithmsRequest(), timeout=5).algorithms
            else:
                with pytest.raises(grpc.RpcError) as refused:
                    stub.ListAlgorithms(placement_pb2.ListAlgorithmsRequest(), timeout=5)
                assert refused.value.code() == expected
                assert "spiffe://strata/agent/edge1" in refused.value.details()
                assert "ListAlgorithms" in refused.value.details()


@pytest.mark.parametrize("where", ["tcp", "unix"])
def test_plaintext_and_other_cas_are_refused_at_the_handshake(pki, placement, tmp_path, where):
    with grpc.insecure_channel(placement[where]) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    other = tmp_path / "other"
    make_cluster(other, [Listener(Identity("admin"))], NOW)
    forged = Tls.from_folder(other, Identity("admin"))
    ours = Tls.from_folder(pki, Identity("admin"))
    # their admin certificate, trusting our CA (so only our server's check can refuse it)
    with open_channel(placement[where], Tls(ours.ca, forged.cert, forged.key, forged.identity),
                      Identity("placement")) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_checks_the_server_is_the_one_it_names(pki, placement):
    with open_channel(placement["unix"], Tls.from_folder(pki, Identity("admin")), Identity("orchestrator")) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plaintext_listens_only_on_loopback_and_unix_sockets(tmp_path):
    assert plaintext_allowed("127.0.0.1:50051") and plaintext_allowed("[::1]:1") and plaintext_allowed("localhost:1")
    assert plaintext_allowed(f"unix:{tmp_path}/s.sock")
    assert not plaintext_allowed("10.0.0.3:50060") and not plaintext_allowed("0.0.0.0:50051")
    assert not plaintext_allowed("[::]:50051") and not plaintext_allowed("example.org:1")
    with pytest.raises(OSError, match="refusing to serve plaintext gRPC on 0.0.0.0:0"):
        create_server("0.0.0.0:0", [(servicer.register, servicer.SERVICE_NAME)])
    with pytest.raises(OSError, match="refusing to serve plaintext"):
        create_server("127.0.0.1:0", [(servicer.register, servicer.SERVICE_NAME)], also_listen=["10.1.2.3:0"])


def test_a_component_refuses_files_that_are_not_its_identity(pki, tmp_path):
    import shutil

    from component_base.pki import CertificateError

    folder = tmp_path / "swapped"  # the orchestrator's files replaced by the operator's
    shutil.copytree(pki, folder)
    for suffix in (".pem", ".key"):
        shutil.copyfile(pki / f"admin{suffix}", folder / f"orchestrator{suffix}")
    with pytest.raises(CertificateError, match="carries spiffe://strata/admin, not spiffe://strata/orchestrator"):
        Tls.from_folder(folder, Identity("orchestrator"))
