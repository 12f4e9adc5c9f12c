"""The orchestrator's network policies: stored with the application, applied and removed by name, resolved against the
pods whenever they change and pushed to the SDN; kept across a restart; refused when they do not read."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
import yaml
from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc

from api.app_messages import policy_message
from api.network_policy import parse_network_policy
from component_base.errors import InvalidArgument, NotFound
from component_base.rpc import create_server
from controller.orchestrator import servicer
from test_orchestrator_core import Cluster, app

DENY_DB = parse_network_policy(yaml.safe_load(
    "metadata: {name: db-from-api}\nspec: {podSelector: {matchLabels: {strata.io/service: db}}, ingress: "
    "[{from: [{podSelector: {matchLabels: {strata.io/service: api}}}]}]}"), "shop")
WEB_OUT = parse_network_policy(yaml.safe_load(
    "metadata: {name: web-out}\nspec: {podSelector: {matchLabels: {strata.io/service: web}}, policyTypes: [Egress]}"),
    "shop")


def pod_ips(c, service):
    return sorted(f"{i.ip}/32" for i in c.o.deployment("shop").instances if i.record.service == service)


def test_policies_deployed_with_the_app_are_resolved_against_its_pods_and_follow_them(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(dataclasses.replace(app(), policies=(DENY_DB,)))
    c.settle()
    pushed = c.sdn.policies
    assert pushed.isolated_ingress == tuple(pod_ips(c, "db"))
    (rule,) = pushed.rules
    assert rule.policy == "shop/db-from-api" and rule.peers == tuple(pod_ips(c, "api"))
    c.o.scale("shop", "api", 2)  # a new api pod is a new peer
    c.settle()
    assert len(c.sdn.policies.rules[0].peers) == 2 == len(pod_ips(c, "api"))
    c.o.apply_policies("shop", [WEB_OUT])
    c.settle()
    assert c.sdn.policies.isolated_egress == tuple(pod_ips(c, "web"))
    assert [p.name for p in c.o.list_policies("shop")] == ["db-from-api", "web-out"]
    again = c.o.apply_policies("shop", [dataclasses.replace(WEB_OUT, policy_types=("Ingress",))])  # same name: replaced
    assert [p.policy_types for p in again if p.name == "web-out"] == [("Ingress",)]
    c.o.delete_policy("shop", "web-out")
    c.settle()
    assert c.sdn.policies.isolated_egress == () and [p.name for p in c.o.list_policies()] == ["db-from-api"]
    with pytest.raises(NotFound):
        c.o.delete_policy("shop", "web-out")
    restarted = c.orchestrator()  # a restarted orchestrator reads them back with the app
    assert [p.name for p in restarted.list_policies("shop")] == ["db-from-api"]
    c.o.delete("shop")
    c.settle()
    assert c.sdn.policies.empty and c.sdn.policies.rules == ()


def test_a_policy_of_another_app_or_a_duplicate_is_refused(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app())
    with pytest.raises(InvalidArgument):
        c.o.apply_policies("shop", [dataclasses.replace(DENY_DB, app="blog")])
    with pytest.raises(InvalidArgument):
        c.o.deploy(dataclasses.replace(app("blog"), policies=(DENY_DB,)))  # DENY_DB is shop's
    with pytest.raises(NotFound):
        c.o.apply_policies("nowhere", [DENY_DB])


def test_the_rpcs_carry_policies_as_kubernetes_documents(tmp_path):
    c = Cluster(tmp_path)
    c.o.deploy(app())
    server, port = create_server("127.0.0.1:0", [(servicer.register(c.o), servicer.SERVICE_NAME)])
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        listed = stub.ApplyNetworkPolicies(pb.ApplyNetworkPoliciesRequest(
            application="shop", policies=[policy_message(DENY_DB)]), timeout=10)
        assert [(p.application, p.name) for p in listed.policies] == [("shop", "db-from-api")]
        assert '"podSelector"' in listed.policies[0].document
        bad = pb.NetworkPolicy(name="x", document='{"metadata": {"name": "x"}, "spec": {"podSelector": {}, '
                                                  '"ingress": [{"ports": [{"protocol": "SCTP"}]}]}}')
        with pytest.raises(grpc.RpcError) as refused:
            stub.ApplyNetworkPolicies(pb.ApplyNetworkPoliciesRequest(application="shop", policies=[bad]), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert 'NetworkPolicy "x": spec.ingress[0].ports[0].protocol' in refused.value.details()
        stub.DeleteNetworkPolicy(pb.DeleteNetworkPolicyRequest(application="shop", name="db-from-api"), timeout=10)
        assert list(stub.ListNetworkPolicies(pb.ListNetworkPoliciesRequest(), timeout=10).policies) == []
    server.stop(grace=None)
