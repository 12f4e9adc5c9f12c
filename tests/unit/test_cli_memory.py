"""Memory in `strata app nodes` and `strata app get`: nodes' capacity and allocation, services' request and limit."""

from __future__ import annotations

import argparse
import json

from strata.v1 import orchestrator_pb2 as pb

from cli.app import _nodes, deployment_dict, node_dict

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
