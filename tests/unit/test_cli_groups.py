"""The `strata` command groups against real gRPC servers on loopback port 0: documented forms, option places, exit codes."""

from __future__ import annotations

import argparse
import json
from concurrent import futures

import grpc
import pytest
from google.protobuf import message_factory
from strata.v1 import (agent_pb2, agent_pb2_grpc, common_pb2, mano_pb2, mano_pb2_grpc, mesh_pb2, mesh_pb2_grpc,
                       orchestrator_pb2, orchestrator_pb2_grpc, placement_pb2, placement_pb2_grpc, sdn_pb2,
                       sdn_pb2_grpc)

import cli
from cli import common


class FakeDaemon:
    """One gRPC service on a real server at 127.0.0.1:0. Each call is recorded; it answers the reply
    the test set for its method, aborts with the status the test set, or answers an empty message."""

    def __init__(self, pb2, service: str, add_to_server):
        self.replies: dict = {}
        self.calls: list[tuple[str, object]] = []
        self._methods = pb2.DESCRIPTOR.services_by_name[service].methods_by_name
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        add_to_server(self, self.server)
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def __getattr__(self, method: str):
        if method not in self.__dict__.get("_methods", {}):
            raise AttributeError(method)
        empty = message_factory.GetMessageClass(self._methods[method].output_type)

        def answer(request, context):
            self.calls.append((method, request))
            reply = self.replies.get(method, empty())
            if isinstance(reply, grpc.StatusCode):
                context.abort(reply, f"{method} refused")
            return reply

        return answer

    def request(self, method: str):
        """The last request of `method`."""
        return [r for m, r in self.calls if m == method][-1]


DAEMONS = {  # the stack's component name -> its service
    "agent": (agent_pb2, "NodeAgent", agent_pb2_grpc.add_NodeAgentServicer_to_server),
    "orchestrator": (orchestrator_pb2, "OrchestratorService",
                     orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server),
    "mesh": (mesh_pb2, "MeshService", mesh_pb2_grpc.add_MeshServiceServicer_to_server),
    "mano": (mano_pb2, "VnfManagerService", mano_pb2_grpc.add_VnfManagerServiceServicer_to_server),
    "sdn": (sdn_pb2, "SdnService", sdn_pb2_grpc.add_SdnServiceServicer_to_server),
    "placement": (placement_pb2, "PlacementService", placement_pb2_grpc.add_PlacementServiceServicer_to_server),
}


@pytest.fixture(scope="module")
def daemons():
    running = {name: FakeDaemon(*spec) for name, spec in DAEMONS.items()}
    yield running
    for daemon in running.values():
        daemon.server.stop(None)


@pytest.fixture
def fakes(daemons):
    for daemon in daemons.values():
        daemon.replies.clear()
        daemon.calls.clear()
    return daemons


@pytest.fixture
def stack(fakes, tmp_path, monkeypatch):
    """A stack description naming the fake daemons, found through $STRATA_STACK."""
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"addresses": {name: fakes[name].address for name in ("orchestrator", "mesh", "mano")},
                                "agents": {"edge1": fakes["agent"].address}}))
    monkeypatch.setenv("STRATA_STACK", str(path))
    return path


def strata(*argv: str) -> int:
    return cli.main([str(a) for a in argv])


# -- every documented form parses


PROBLEM = {"servers": [{"name": "edge1", "cpu": 10, "storage": 100, "bandwidth": 10}],
           "layers": [{"digest": "base", "size": 50}],
           "containers": [{"name": "web", "cpu": 1, "bandwidth": 1, "layers": ["base"]}]}

# README "CLI" and docs/*.md, each form with what it must parse to
PARSED = [
    (["place", "p.json", "--algorithm", "ilp", "--solver", "highs", "--time-limit", "5", "--seed", "3", "--json"],
     dict(problem="p.json", algorithm="ilp", solver="highs", time_limit=5.0, seed=3, json=True)),
    (["compare", "p.json", "--algorithms", "ilp,strata", "--time-limit", "5"],
     dict(problem="p.json", algorithms="ilp,strata")),
    (["compare"], dict(problem=None)),
    (["experiment", "fig4", "--out", "docs/figures", "--data", "dockerhub", "--seeds", "5", "--time-limit", "20"],
     dict(action="fig4", data="dockerhub", seeds=5, time_limit=20.0)),
    (["experiment", "fig5", "--out", "d", "--data", "paper"], dict(action="fig5", data="paper")),
    (["experiment", "deploy", "--app", "socialNetwork", "--topo", "edge-tiered", "--algorithms", "strata,ilp",
      "--peers", "both", "--replicas", "3", "--out", "d"],
     dict(action="deploy", app=["socialNetwork"], peers="both", replicas=3)),
    (["experiment", "deploy", "--app", "online-boutique", "--app", "teastore", "--replicas", "2", "--spread", "on",
      "--profile", "edge-small", "--out", "d"],
     dict(app=["online-boutique", "teastore"], replicas=2, spread="on", profile="edge-small")),
    (["up", "--profile", "edge-small"], dict(profile="edge-small")),
    (["generate", "dockerhub", "--servers", "10", "--containers", "40", "--seed", "2", "--out", "c.json"],
     dict(kind="dockerhub", servers=10, containers=40, seed=2, out="c.json")),
    (["topo", "list"], dict(action="list")),
    (["policy", "apply", "-f", "p.yaml", "--app", "shop", "-o", "json"], dict(action="apply", file="p.yaml", app="shop")),
    (["policy", "ls", "--app", "shop"], dict(action="ls", app="shop")),
    (["policy", "rm", "deny", "--app", "shop"], dict(action="rm", name="deny", app="shop")),
    (["policy", "trace", "--from", "edge1/a-1", "--to", "10.0.129.2", "--port", "8080", "--proto", "udp"],
     dict(action="trace", source="edge1/a-1", destination="10.0.129.2", port=8080, proto="udp")),
    (["topo", "show", "edge-tiered", "--png", "t.png"], dict(action="show", name="edge-tiered", png="t.png")),
    (["topo", "show", "zoo:Geant2012", "-o", "json", "--delays", "off"], dict(output="json", delays="off")),
    (["up", "--delays", "off"], dict(delays="off")),
    (["demo", "--delays", "off"], dict(command="demo", delays="off")),
    (["experiment", "deploy", "--app", "online-boutique", "--delays", "off", "--out", "d"], dict(delays="off")),
    (["topo", "launch", "zoo:Abilene", "--pingall", "--hosts-per-node", "2"],
     dict(action="launch", pingall=True, hosts_per_node=2)),
    (["topo", "launch", "zoo:Geant2012", "--sample-pairs", "80"], dict(sample_pairs=80)),
    (["up", "--topo", "zoo:Kdl.graphml", "--all-in-one", "--image", "nginx", "--image", "redis", "--no-nodes",
      "--port-base", "50100", "--state", "s.json", "--sample-pairs", "50", "--hosts-per-node", "1"],
     dict(topo="zoo:Kdl.graphml", all_in_one=True, image=["nginx", "redis"], no_nodes=True, port_base=50100)),
    (["demo"], dict(command="demo")),
    (["serve", "sdn", "--listen", "127.0.0.1:50054", "--metrics", "off", "--openflow", "127.0.0.1:6653"],
     dict(component="sdn", metrics="off")),
    (["serve", "mano", "--config", "m.json", "--exit-with-parent"], dict(component="mano", exit_with_parent=True)),
    (["serve", "all", "--placement-listen", "127.0.0.1:50051", "--listen", "127.0.0.1:50054", "--topology", "t.json",
      "--db", "sdn.db", "--socket", "/run/s.sock", "--metrics", "127.0.0.1:51051"],
     dict(component="all", topology="t.json", db="sdn.db", socket="/run/s.sock")),
    *[(["serve", component, "--config", "c.json"], dict(component=component))
      for component in ("placement", "agent", "orchestrator", "mesh")],
    (["app", "deploy", "shop.yml", "--name", "shop", "--algorithm", "ilp", "--registry-only", "--wait", "-o", "json"],
     dict(action="deploy", name="shop", registry_only=True, wait=300.0, output="json")),
    (["app", "deploy", "shop.yml", "--wait", "60"], dict(wait=60.0)),
    (["app", "scale", "shop", "web", "3", "--wait", "-o", "json"], dict(replicas=3, wait=300.0)),
    (["mesh", "policy", "set", "reviews.shop", "--split", "v1=90,v2=10", "--locality", "--rate-limit", "5",
      "--outlier", "consecutive_5xx=3,interval=1s,base_ejection_time=30s"],
     dict(action="policy", verb="set", split="v1=90,v2=10", locality=True, rate_limit=5.0)),
    (["mesh", "policy", "set", "dns", "--outlier"], dict(outlier="")),
    (["mesh", "stats", "a.shop", "b.shop", "-o", "json"], dict(services=["a.shop", "b.shop"], output="json")),
    (["vnf", "instantiate", "fw1", "--vnfd", "edge-firewall", "--scale", "2", "--near", "dev1", "--no-wait"],
     dict(vnfd="edge-firewall", scale=2, near="dev1", no_wait=True)),
    (["vnf", "operate", "fw1", "stop"], dict(action="operate", state="stop")),
    (["vnf", "ops"], dict(instance=None)),
    (["chain", "create", "guard", "--instances", "fw1,mon1", "--src", "10.0.0.0/24", "--dst", "10.96.0.5/32",
      "--protocol", "tcp", "--port", "80", "--symmetric"],
     dict(instances="fw1,mon1", protocol="tcp", port=80, symmetric=True)),
    (["images", "build", "--only", "nginx", "redis"], dict(action="build", only=["nginx", "redis"])),
    (["images", "push", "http://10.0.0.2:5000", "--image", "nginx", "--image", "redis"],
     dict(registry="http://10.0.0.2:5000", image=["nginx", "redis"])),
    (["node", "run", "edge1", "nginx", "--name", "web", "--cpu", "200", "--env", "A=1", "--env", "B=2",
      "--ready-port", "80", "-o", "json", "--", "python3", "-c", "print(1)"],
     dict(node="edge1", image="nginx", name="web", cpu=200.0, env=["A=1", "B=2"], ready_port=80, output="json",
          argv=["python3", "-c", "print(1)"])),
    (["node", "run", "edge1", "nginx", "--", "sh", "-c", "sleep 1; echo --name x"],
     dict(name=None, argv=["sh", "-c", "sleep 1; echo --name x"])),
    (["node", "run", "--name", "web", "edge1", "nginx"], dict(name="web", argv=[])),
    (["node", "logs", "edge1", "web", "--tail", "20"], dict(tail=20)),
    (["sdn", "route", "add", "web", "--vip", "10.96.0.9", "--port", "80", "--protocol", "udp",
      "--endpoint", "edge1:8080:3", "--endpoint", "edge2"], dict(verb="add", vip="10.96.0.9", protocol="udp")),
    (["sdn", "path", "dev1", "edge4", "--min-bandwidth", "5", "--install"], dict(min_bandwidth=5.0, install=True)),
    # the options shared by a group, before or after the action
    (["app", "--stack", "s.json", "ls"], dict(stack="s.json")),
    (["app", "ls", "--stack", "s.json"], dict(stack="s.json")),
    (["app", "--stack", "a.json", "ls", "--stack", "b.json"], dict(stack="b.json")),
    (["app", "-o", "json", "ls"], dict(output="json")),
    (["app", "--orchestrator", "unix:/o.sock", "get", "shop"], dict(orchestrator="unix:/o.sock")),
    (["app", "get", "shop", "--orchestrator", "unix:/o.sock", "-o", "json"], dict(orchestrator="unix:/o.sock")),
    (["node", "ls", "--stack", "s.json", "-o", "json"], dict(stack="s.json", output="json")),
    (["node", "run", "edge1", "nginx", "--stack", "s.json", "--", "true"], dict(stack="s.json", argv=["true"])),
    (["mesh", "policy", "get", "r.shop", "--stack", "s.json", "--mesh", "unix:/m.sock"],
     dict(stack="s.json", mesh="unix:/m.sock")),
    (["mesh", "policy", "--stack", "s.json", "del", "r.shop"], dict(stack="s.json")),
    (["vnf", "ls", "--mano", "unix:/v.sock"], dict(mano="unix:/v.sock")),
    (["chain", "ls", "--stack", "s.json"], dict(stack="s.json")),
    (["sdn", "endpoints", "--sdn", "127.0.0.1:1"], dict(sdn="127.0.0.1:1")),
    (["sdn", "route", "list", "--sdn", "127.0.0.1:1"], dict(sdn="127.0.0.1:1")),
    (["images", "-o", "json", "ls"], dict(output="json")),
]


@pytest.mark.parametrize("argv, expected", PARSED, ids=[" ".join(argv) for argv, _ in PARSED])
def test_documented_forms_parse(argv, expected):
    args = cli.build_parser().parse_args(argv)
    assert {key: getattr(args, key) for key in expected} == expected


def test_the_stack_defaults_to_the_environment_then_the_run_folder(monkeypatch):
    monkeypatch.delenv("STRATA_STACK", raising=False)
    assert cli.build_parser().parse_args(["node", "ls"]).stack == "/run/strata/stack.json"
    monkeypatch.setenv("STRATA_STACK", "/tmp/elsewhere.json")
    assert cli.build_parser().parse_args(["node", "ls"]).stack == "/tmp/elsewhere.json"
    assert cli.build_parser().parse_args(["app", "ls"]).stack == "/tmp/elsewhere.json"


def every_parser(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from every_parser(child)


def test_every_command_has_its_help():
    for parser in every_parser(cli.build_parser()):
        assert parser.format_help().startswith(f"usage: {parser.prog}")


@pytest.mark.parametrize("argv", [["app", "rm", "shop", "-o", "json"], ["node", "run", "edge1"],
                                  ["mesh", "policy", "set"], ["bogus"], ["sdn", "route", "add", "w", "--vip", "1"]])
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        strata(*argv)
    assert caught.value.code == common.EXIT_BAD_INPUT
    assert "usage:" in capsys.readouterr().err


# -- every documented form runs against the daemons


def test_node_forms(fakes, stack, monkeypatch, capsys):
    agent = fakes["agent"]
    agent.replies["GetNode"] = agent_pb2.NodeStatus(name="edge1", switch="s1", image_scale=0.01)
    assert strata("node", "ls", "-o", "json") == 0
    assert [n["name"] for n in json.loads(capsys.readouterr().out)] == ["edge1"]
    assert strata("node", "ls") == 0
    assert "edge1" in capsys.readouterr().out
    monkeypatch.delenv("STRATA_STACK")
    for argv in (["node", "--stack", stack, "ls"], ["node", "ls", "--stack", stack]):
        agent.calls.clear()
        assert strata(*argv) == 0 and agent.calls, argv
    monkeypatch.setenv("STRATA_STACK", str(stack))
    capsys.readouterr()
    agent.replies["RunContainer"] = agent_pb2.RunContainerResponse(
        container=agent_pb2.Container(name="web", ip="10.1.0.2"), pull=agent_pb2.PullReport(image="nginx"))
    assert strata("node", "run", "edge1", "nginx", "--name", "web", "--cpu", "200", "-o", "json",
                  "--", "sh", "-c", "echo hi") == 0
    sent = agent.request("RunContainer")
    assert (sent.name, sent.image, sent.cpu_millicores, list(sent.command)) == ("web", "nginx", 200, ["sh", "-c",
                                                                                                       "echo hi"])
    assert json.loads(capsys.readouterr().out)["ip"] == "10.1.0.2"
    assert strata("node", "run", "edge1", "nginx") == 0
    assert list(agent.request("RunContainer").command) == [] and "started web on edge1" in capsys.readouterr().out
    for argv, method in ((["pull", "edge1", "nginx", "-o", "json"], "PullImage"),
                         (["ps", "edge1", "-o", "json"], "ListContainers"), (["ps", "edge1"], "ListContainers"),
                         (["logs", "edge1", "web", "--tail", "5"], "ContainerLogs"),
                         (["stop", "edge1", "web"], "StopContainer"), (["start", "edge1", "web"], "StartContainer"),
                         (["rm", "edge1", "web"], "RemoveContainer"), (["prune", "edge1"], "PruneLayers")):
        assert strata("node", *argv) == 0, argv
        assert agent.calls[-1][0] == method
    assert agent.request("ContainerLogs").tail_lines == 5


def test_node_unknown_is_bad_input(fakes, stack, capsys):
    assert strata("node", "ps", "edge9") == common.EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith("strata node ps: no node named 'edge9'")


def test_app_forms(fakes, stack, tmp_path, capsys):
    orchestrator = fakes["orchestrator"]
    compose = tmp_path / "shop.yml"
    compose.write_text("services:\n  web:\n    image: nginx\n")
    ready = orchestrator_pb2.Deployment(application="shop", ready=True)
    orchestrator.replies.update(Deploy=ready, GetDeployment=ready, Scale=ready,
                                ListDeployments=orchestrator_pb2.ListDeploymentsResponse(deployments=[ready]))
    assert strata("app", "deploy", compose, "--name", "shop", "--algorithm", "ilp", "--registry-only", "--wait",
                  "5", "-o", "json") == 0
    sent = orchestrator.request("Deploy")
    assert (sent.application, sent.algorithm, sent.registry_only) == ("shop", "ilp", True)
    assert [s.name for s in sent.services] == ["web"]
    assert json.loads(capsys.readouterr().out)["ready"] is True
    assert strata("app", "deploy", compose) == 0 and "deployed shop" in capsys.readouterr().out
    for argv in (["ls"], ["ls", "-o", "json"], ["get", "shop"], ["get", "shop", "-o", "json"],
                 ["scale", "shop", "web", "3", "--wait", "5"], ["rm", "shop"], ["nodes"], ["nodes", "-o", "json"]):
        assert strata("app", *argv) == 0, argv
    assert orchestrator.request("Scale").replicas == 3
    assert strata("app", "--orchestrator", orchestrator.address, "--stack", tmp_path / "none.json", "ls") == 0


def test_policy_forms(fakes, stack, tmp_path, capsys):
    orchestrator, sdn = fakes["orchestrator"], fakes["sdn"]
    policies = tmp_path / "deny.yaml"
    policies.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\n"
                        "spec: {podSelector: {}, policyTypes: [Ingress]}\n")
    listed = orchestrator_pb2.ListNetworkPoliciesResponse(policies=[orchestrator_pb2.NetworkPolicy(
        application="shop", name="deny", document='{"spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}')])
    orchestrator.replies.update(ApplyNetworkPolicies=listed, ListNetworkPolicies=listed)
    assert strata("policy", "apply", "-f", policies) == 0
    sent = orchestrator.request("ApplyNetworkPolicies")
    assert sent.application == "shop" and [p.name for p in sent.policies] == ["deny"]
    assert json.loads(sent.policies[0].document)["spec"]["policyTypes"] == ["Ingress"]
    compose = tmp_path / "shop.yml"
    compose.write_text('services:\n  web:\n    image: nginx\n    labels: {"strata.io/ingress-from": ""}\n')
    assert strata("policy", "apply", "-f", compose, "--app", "blog") == 0
    assert [p.name for p in orchestrator.request("ApplyNetworkPolicies").policies] == ["web-ingress-from"]
    assert orchestrator.request("ApplyNetworkPolicies").application == "blog"
    capsys.readouterr()
    assert strata("policy", "ls", "-o", "json") == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "deny"
    assert strata("policy", "ls", "--app", "shop") == 0 and "every pod" in capsys.readouterr().out
    assert strata("policy", "rm", "deny", "--app", "shop") == 0
    assert orchestrator.request("DeleteNetworkPolicy").name == "deny"
    sdn.replies["TracePolicy"] = sdn_pb2.TracePolicyResponse(
        switch="site1", verdict="dropped by policy", decided_by="policy_ingress",
        steps=[sdn_pb2.TraceStep(switch="site1", table=11, name="policy_ingress", flow="ct_state=+new+trk,ip",
                                 actions="drop")])
    capsys.readouterr()
    assert strata("policy", "trace", "--from", "edge1/web-1", "--to", "10.0.128.3", "--port", "80", "--proto", "udp",
                  "--sdn", sdn.address) == 0
    out = capsys.readouterr().out
    assert "verdict: dropped by policy (decided in policy_ingress)" in out and "11 policy_ingress" in out
    traced = sdn.request("TracePolicy")
    assert (traced.source, traced.destination, traced.port, traced.protocol) == (
        "edge1/web-1", "10.0.128.3", 80, common_pb2.PROTOCOL_UDP)
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec: {podSelector: {}, ingress: "
                   "[{ports: [{protocol: SCTP}]}]}\n")
    assert strata("policy", "apply", "-f", bad) == common.EXIT_BAD_INPUT
    assert 'NetworkPolicy "x": spec.ingress[0].ports[0].protocol' in capsys.readouterr().err


def test_app_wait_that_runs_out_fails(fakes, stack, capsys):
    fakes["orchestrator"].replies["Scale"] = orchestrator_pb2.Deployment(application="shop")
    assert strata("app", "scale", "shop", "web", "2", "--wait", "0.01") == common.EXIT_FAILED
    assert "strata app scale: shop not ready" in capsys.readouterr().err


def test_app_wait_ends_at_once_on_a_failed_image_and_names_it(fakes, stack, capsys):
    fakes["orchestrator"].replies["GetDeployment"] = orchestrator_pb2.Deployment(
        application="shop", instances=[orchestrator_pb2.Instance(name="web-1", service="web")],
        images=[orchestrator_pb2.ServiceImageStatus(service="web", phase=orchestrator_pb2.IMAGE_PHASE_FAILED,
                                                    message="no base image 'nope' in the image cache")])
    fakes["orchestrator"].replies["Scale"] = orchestrator_pb2.Deployment(application="shop")
    assert strata("app", "scale", "shop", "web", "2", "--wait", "60") == common.EXIT_FAILED
    err = capsys.readouterr().err
    assert "image of web failed: no base image 'nope'" in err


def test_app_wait_that_runs_out_names_why_instances_are_pending(fakes, stack, capsys):
    fakes["orchestrator"].replies["GetDeployment"] = orchestrator_pb2.Deployment(
        application="shop", instances=[orchestrator_pb2.Instance(
            name="web-1", service="web", phase=orchestrator_pb2.INSTANCE_PHASE_PENDING,
            message="no placement fits the ready nodes")])
    fakes["orchestrator"].replies["Scale"] = orchestrator_pb2.Deployment(application="shop")
    assert strata("app", "scale", "shop", "web", "2", "--wait", "0.01") == common.EXIT_FAILED
    assert "0/1 instances running): no placement fits the ready nodes" in capsys.readouterr().err


def test_mesh_forms(fakes, stack, capsys):
    mesh = fakes["mesh"]
    mesh.replies["ListServices"] = mesh_pb2.ListServicesResponse(services=[mesh_pb2.MeshServiceInfo(
        name="reviews.shop", vip="10.96.0.7", port=9080, protocol=common_pb2.PROTOCOL_TCP)])
    assert strata("mesh", "services", "-o", "json") == 0
    assert json.loads(capsys.readouterr().out)[0]["protocol"] == "tcp"
    assert strata("mesh", "policy", "set", "reviews.shop", "--split", "v1=90,v2=10", "--locality",
                  "--rate-limit", "5", "--outlier", "consecutive_5xx=3,interval=1s") == 0
    policy = mesh.request("SetPolicy").policy
    assert dict(policy.split) == {"v1": 90, "v2": 10} and policy.locality and policy.rate_limit_mbps == 5
    assert (policy.outlier_detection.consecutive_5xx, policy.outlier_detection.interval) == (3, 1.0)
    for argv in (["services"], ["policy", "get", "reviews.shop"], ["policy", "del", "reviews.shop", "-o", "json"],
                 ["stats"], ["stats", "reviews.shop", "-o", "json"]):
        assert strata("mesh", *argv) == 0, argv
    assert list(mesh.request("GetStats").services) == ["reviews.shop"]


@pytest.mark.parametrize("option", [["--split", "v1=most"], ["--outlier", "interval=soon"], ["--outlier", "nope=1"]])
def test_mesh_bad_policy_options_are_refused_before_connecting(option, tmp_path, capsys):
    assert strata("mesh", "--stack", tmp_path / "none.json", "policy", "set", "r.shop", *option) == 2
    assert capsys.readouterr().err.startswith("strata mesh policy set: --")


def test_vnf_and_chain_forms(fakes, stack, tmp_path, capsys):
    mano = fakes["mano"]
    done = mano_pb2.OpOccurrence(id="op1", instance="fw1", operation="INSTANTIATE", state="COMPLETED")
    mano.replies.update(Instantiate=done, Scale=done, Heal=done, Operate=done, Terminate=done,
                        ListVnfds=mano_pb2.ListVnfdsResponse(vnfds=[mano_pb2.Vnfd(name="fw", config_json="{}")]))
    descriptor = tmp_path / "fw.yaml"
    descriptor.write_text("name: fw\n")
    assert strata("vnf", "onboard", descriptor) == 0
    assert mano.request("OnboardVnfd").descriptor == "name: fw\n"
    assert strata("vnf", "instantiate", "fw1", "--vnfd", "fw", "--scale", "2", "--near", "dev1") == 0
    sent = mano.request("Instantiate")
    assert (sent.name, sent.vnfd, sent.scale_level, sent.near) == ("fw1", "fw", 2, "dev1")
    for argv in (["vnfds"], ["vnfds", "-o", "json"], ["scale", "fw1", "3"], ["operate", "fw1", "stop"],
                 ["heal", "fw1", "-o", "json"], ["terminate", "fw1", "--no-wait"], ["ls"], ["ls", "-o", "json"],
                 ["ops"], ["ops", "fw1", "-o", "json"]):
        assert strata("vnf", *argv) == 0, argv
    assert mano.request("Operate").started is False
    assert strata("chain", "create", "guard", "--instances", "fw1,mon1", "--dst", "10.96.0.5/32", "--protocol", "tcp",
                  "--port", "80", "--symmetric", "-o", "json") == 0
    sent = mano.request("CreateChain")
    assert (list(sent.instances), sent.protocol, sent.dst_port, sent.symmetric) == (
        ["fw1", "mon1"], common_pb2.PROTOCOL_TCP, 80, True)
    assert strata("chain", "create", "all", "--instances", "fw1") == 0
    assert mano.request("CreateChain").protocol == common_pb2.PROTOCOL_UNSPECIFIED
    for argv in (["ls"], ["ls", "-o", "json"], ["del", "guard"]):
        assert strata("chain", *argv) == 0, argv


def test_a_lifecycle_operation_that_fails_exits_1(fakes, stack, capsys):
    fakes["mano"].replies["Heal"] = mano_pb2.OpOccurrence(id="op2", instance="fw1", operation="HEAL", state="FAILED")
    assert strata("vnf", "heal", "fw1") == common.EXIT_FAILED
    assert "FAILED" in capsys.readouterr().out


def test_an_unreadable_descriptor_is_bad_input(tmp_path, capsys):
    assert strata("vnf", "--stack", tmp_path / "none.json", "onboard", tmp_path / "missing.yaml") == 2
    assert capsys.readouterr().err.startswith("strata vnf onboard: cannot read")


def test_sdn_forms(fakes, capsys):
    sdn = fakes["sdn"]
    address = sdn.address
    sdn.replies["ListEndpoints"] = sdn_pb2.ListEndpointsResponse(endpoints=[sdn_pb2.AttachedEndpoint(
        name="web-1", ip="10.1.0.2", mac="02:00:00:00:00:01", switch="s1", port=5, node="edge1")])
    assert strata("sdn", "--sdn", address, "endpoints", "-o", "json") == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "web-1"
    assert strata("sdn", "endpoints", "--sdn", address) == 0
    assert capsys.readouterr().out.split()[:6] == ["name", "ip", "mac", "switch", "port", "node"]
    sdn.replies["InstallServiceRoute"] = sdn_pb2.ServiceRoute(service="web", vip="10.96.0.9", port=80,
                                                              protocol=common_pb2.PROTOCOL_UDP)
    assert strata("sdn", "--sdn", address, "route", "add", "web", "--vip", "10.96.0.9", "--port", "80",
                  "--protocol", "udp", "--endpoint", "edge1:8080:3", "--endpoint", "edge2") == 0
    sent = sdn.request("InstallServiceRoute")
    assert sent.protocol == common_pb2.PROTOCOL_UDP
    assert [(e.host, e.port, e.weight) for e in sent.endpoints] == [("edge1", 8080, 3), ("edge2", 0, 1)]
    assert "10.96.0.9:80/udp" in capsys.readouterr().out
    for argv in (["topology"], ["flows", "--service", "web", "--switch", "s1"],
                 ["route", "update", "web", "--endpoint", "edge3:9000:2"], ["route", "del", "web"], ["route", "list"],
                 ["path", "dev1", "edge4", "--min-bandwidth", "5"], ["path", "dev1", "edge4", "--install"]):
        assert strata("sdn", "--sdn", address, *argv) == 0, argv
    assert sdn.request("ListFlows").switch == "s1"


def test_local_forms(tmp_path, capsys):
    problem = tmp_path / "cluster.json"
    assert strata("generate", "paper", "--servers", "3", "--containers", "4", "--seed", "1", "--out", problem) == 0
    assert len(json.loads(problem.read_text())["containers"]) == 4
    assert strata("place", problem, "--algorithm", "first-fit", "--solver", "cbc", "--time-limit", "5", "--seed",
                  "1", "--json") == 0
    assert strata("compare", problem, "--algorithms", "first-fit,no-sharing", "--time-limit", "5") == 0
    assert strata("topo", "list") == 0
    assert "edge-tiered" in capsys.readouterr().out
    assert strata("topo", "show", "edge-tiered") == 0
    assert strata("topo", "show", "nowhere") == common.EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith("strata topo show: unknown topology")
    assert strata("images", "ls", "--cache", tmp_path / "no-cache") == common.EXIT_BAD_INPUT


# -- one exit code per gRPC status, in every group

EXPECTED_EXIT = {  # README "CLI": bad input 2, unreachable 3, any other failure 1
    grpc.StatusCode.INVALID_ARGUMENT: 2, grpc.StatusCode.NOT_FOUND: 2, grpc.StatusCode.ALREADY_EXISTS: 2,
    grpc.StatusCode.FAILED_PRECONDITION: 2, grpc.StatusCode.UNAVAILABLE: 3, grpc.StatusCode.DEADLINE_EXCEEDED: 3,
    grpc.StatusCode.UNKNOWN: 1, grpc.StatusCode.INTERNAL: 1, grpc.StatusCode.PERMISSION_DENIED: 1,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 1, grpc.StatusCode.ABORTED: 1, grpc.StatusCode.OUT_OF_RANGE: 1,
    grpc.StatusCode.UNIMPLEMENTED: 1, grpc.StatusCode.DATA_LOSS: 1, grpc.StatusCode.UNAUTHENTICATED: 1,
}

GROUPS = {  # group -> (daemon, the method its command calls, the command, its message prefix)
    "node": ("agent", "ListContainers", ["node", "ps", "edge1"], "strata node ps: "),
    "app": ("orchestrator", "ListDeployments", ["app", "ls"], "strata app ls: "),
    "mesh": ("mesh", "SetPolicy", ["mesh", "policy", "set", "r.shop"], "strata mesh policy set: "),
    "vnf": ("mano", "Terminate", ["vnf", "terminate", "fw1"], "strata vnf terminate: "),
    "chain": ("mano", "DeleteChain", ["chain", "del", "guard"], "strata chain del: "),
    "sdn": ("sdn", "RemoveServiceRoute", ["sdn", "route", "del", "web"], "strata sdn route del: "),
    "place": ("placement", "Solve", ["place"], "strata place: "),
}


@pytest.mark.parametrize("status", list(EXPECTED_EXIT), ids=lambda s: s.name)
@pytest.mark.parametrize("group", list(GROUPS))
def test_every_group_maps_a_status_to_the_same_exit_code(group, status, fakes, stack, tmp_path, capsys):
    daemon, method, argv, prefix = GROUPS[group]
    fakes[daemon].replies[method] = status
    if group == "sdn":
        argv = [*argv, "--sdn", fakes["sdn"].address]
    if group == "place":
        problem = tmp_path / "p.json"
        problem.write_text(json.dumps(PROBLEM))
        argv = [*argv, problem, "--remote", fakes["placement"].address]
    assert strata(*argv) == EXPECTED_EXIT[status]
    err = capsys.readouterr().err
    assert err.startswith(prefix) and err.count("\n") == 1, err


def test_the_table_is_the_one_documented():
    assert {status: common.exit_code(status) for status in EXPECTED_EXIT} == EXPECTED_EXIT


# -- unreachable: no stack, the daemon not in it, nothing listening


STACK_GROUPS = [["node", "ls"], ["app", "ls"], ["mesh", "services"], ["vnf", "ls"], ["chain", "ls"]]


@pytest.mark.parametrize("argv", STACK_GROUPS, ids=lambda argv: argv[0])
def test_without_a_stack_every_group_says_how_to_start_one(argv, tmp_path, capsys):
    assert strata(*argv, "--stack", tmp_path / "none.json") == common.EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert err.startswith(f"strata {' '.join(argv)}: ") and "strata up" in err


@pytest.mark.parametrize("argv", STACK_GROUPS, ids=lambda argv: argv[0])
def test_a_daemon_missing_from_the_stack_is_unreachable(argv, tmp_path, capsys):
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"addresses": {}, "agents": {}}))
    assert strata(*argv, "--stack", path) == common.EXIT_UNREACHABLE
    assert "runs no" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [*STACK_GROUPS, ["sdn", "topology"]], ids=lambda argv: argv[0])
def test_nothing_listening_is_unreachable(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(common, "CONNECT_TIMEOUT", 0.2)
    nowhere = f"unix:{tmp_path / 'nobody.sock'}"
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"addresses": {name: nowhere for name in ("orchestrator", "mesh", "mano")},
                                "agents": {"edge1": nowhere}}))
    assert strata(*argv, "--stack" if argv[0] != "sdn" else "--sdn", path if argv[0] != "sdn" else nowhere) == 3
    assert "cannot reach" in capsys.readouterr().err


def test_json_from_an_action_that_prints_none_is_bad_input(fakes, stack, capsys):
    assert strata("app", "-o", "json", "rm", "shop") == common.EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith("strata app rm: -o json")
    assert not fakes["orchestrator"].calls


def test_node_ls_lists_a_node_whose_agent_does_not_answer_as_such(tmp_path, monkeypatch, capsys):
    from strata.v1 import agent_pb2

    from cli import node as node_cli

    monkeypatch.setattr(common, "CONNECT_TIMEOUT", 0.2)
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"addresses": {}, "agents": {"edge1": "unix:/x/edge1.sock",
                                                            "edge2": f"unix:{tmp_path}/nothing.sock"}}))

    original = node_cli._node_status
    monkeypatch.setattr(node_cli, "_node_status", lambda name, address, args: (
        agent_pb2.NodeStatus(name="edge1", switch="s1", image_scale=0.01) if name == "edge1"
        else original(name, address, args)))
    assert strata("node", "ls", "--stack", path, "--insecure") == common.EXIT_OK
    out = capsys.readouterr().out
    assert "edge1" in out and "edge2      agent unreachable: cannot reach the node agent of edge2" in out
    assert strata("node", "ls", "--stack", path, "--insecure", "-o", "json") == common.EXIT_OK
    listed = {n["name"]: n for n in json.loads(capsys.readouterr().out)}
    assert listed["edge1"]["reachable"] and not listed["edge2"]["reachable"]
