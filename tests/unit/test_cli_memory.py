"""Memory in the CLI: `strata app nodes`, `app get` (requests, limits, OOM kills), `node ls`, `node run --memory`."""

from __future__ import annotations

import argparse
import json

import pytest
from strata.v1 import agent_pb2
from strata.v1 import orchestrator_pb2 as pb

import cli
from cli import node as cli_node
from cli.app import _nodes, _show, deployment_dict, node_dict

NODES = [pb.Node(name="edge1", ready=True, cpu_millicores=4000, cpu_allocated_millicores=500,
                 memory_mib=2048, memory_allocated_mib=768),
         pb.Node(name="edge2", ready=True, cpu_millicores=4000)]  # its agent reports no memory


class Stub:
    def ListNodes(self, request, timeout):
        return pb.ListNodesResponse(nodes=NODES)


def test_the_nodes_table_shows_memory_allocated_of_capacity(capsys):
    assert _nodes(argparse.Namespace(output="table"), Stub()) == 0
    header, edge1, edge2 = capsys.readouterr().out.splitlines()
    assert "memory (MiB)" in header
    assert "    768/2048" in edge1
    assert "      0/-" in edge2  # no capacity reported: no memory limit


def test_the_nodes_json_carries_memory(capsys):
    assert _nodes(argparse.Namespace(output="json"), Stub()) == 0
    first, second = json.loads(capsys.readouterr().out)
    assert (first["memory_mib"], first["memory_allocated_mib"]) == (2048, 768)
    assert second["memory_mib"] == 0
    assert node_dict(NODES[0])["memory_allocated_mib"] == 768


def test_the_deployment_json_carries_each_service_s_memory():
    d = pb.Deployment(application="shop", services=[pb.ServiceSpec(name="web", image="nginx", memory_mib=256,
                                                                    memory_limit_mib=512)])
    [web] = deployment_dict(d)["services"]
    assert (web["memory_mib"], web["memory_limit_mib"]) == (256, 512)


def test_app_get_shows_each_instance_s_restarts_and_last_termination_reason(capsys):
    d = pb.Deployment(application="shop", services=[pb.ServiceSpec(name="api", image="api", replicas=2)], instances=[
        pb.Instance(name="api-1", service="api", node="edge1", phase=pb.INSTANCE_PHASE_FAILED, restarts=3,
                    last_termination_reason="OOMKilled", message="its process went over its memory limit"),
        pb.Instance(name="api-2", service="api", node="edge2", phase=pb.INSTANCE_PHASE_RUNNING)])
    _show(d, "table")
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("instance"))
    rows = {line.split()[0]: line for line in lines if line.lstrip().startswith("api-")}
    column = header.index("last end")
    assert rows["api-1"][column:].split()[0] == "OOMKilled" and rows["api-2"][column:].split()[0] == "-"
    assert rows["api-1"][:column].split()[-1] == "3"  # the restarts column
    instances = {i["name"]: i for i in deployment_dict(d)["instances"]}
    assert (instances["api-1"]["restarts"], instances["api-1"]["last_termination_reason"]) == (3, "OOMKilled")
    assert instances["api-2"]["last_termination_reason"] == ""


class Agent:
    """A node agent stub: records RunContainer's request, answers GetNode."""

    def __init__(self):
        self.sent = None

    def RunContainer(self, request, timeout):
        self.sent = request
        return agent_pb2.RunContainerResponse(container=agent_pb2.Container(name=request.name))

    def GetNode(self, request, timeout):
        return agent_pb2.NodeStatus(name="edge1", memory_mib=1024, memory_requested_mib=256, image_scale=0.01)


@pytest.mark.parametrize("options, request_mib, limit_mib", [
    ([], 0, 0), (["--memory", "64"], 64, 64), (["--memory", "64", "--memory-request", "16"], 16, 64),
    (["--memory-request", "16"], 16, 0)])
def test_node_run_memory_is_the_limit_and_by_default_the_request(options, request_mib, limit_mib, capsys):
    args = cli.build_parser().parse_args(["node", "run", "edge1", "web", "--name", "web", *options])
    agent = Agent()
    assert cli_node._run(args, agent) == 0
    assert (agent.sent.memory_request_mib, agent.sent.memory_limit_mib) == (request_mib, limit_mib)


def test_node_ls_shows_memory_requested_of_capacity(capsys, monkeypatch):
    monkeypatch.setattr(cli_node, "_agent", lambda name, address, args: Agent())
    agents = {"edge1": "unix:/x/edge1.sock"}
    assert cli_node._ls(argparse.Namespace(output="table"), agents) == 0
    header, row, _ = capsys.readouterr().out.splitlines()
    assert "MEM REQ/CAP" in header and "256/1024" in row
    assert cli_node._ls(argparse.Namespace(output="json"), agents) == 0
    [node] = json.loads(capsys.readouterr().out)
    assert (node["memory_mib"], node["memory_requested_mib"]) == (1024, 256)
