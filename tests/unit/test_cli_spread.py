"""Spread rules in `strata app get` and its JSON, nodes' zones in `strata app nodes`, the scheduler's
reason in `--wait`'s progress."""

from __future__ import annotations

import argparse

from strata.v1 import orchestrator_pb2 as pb

from cli.app import _nodes, _print_deployment, deployment_dict, wait_ready

WEB = pb.ServiceSpec(name="web", image="nginx", replicas=3, max_per_node=1, prefer_apart=True,
                     spread=[pb.ServiceSpread(topology="zone", max_skew=2, soft=True)])
DB = pb.ServiceSpec(name="db", image="redis", replicas=1)
SHOP = pb.Deployment(application="shop", services=[WEB, DB])


def test_app_get_shows_the_rules_of_the_services_that_have_any(capsys):
    _print_deployment(SHOP)
    rules = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("rules of")]
    assert rules == ["rules of web: at most 1 per node, spread over zones (max skew 2, preferred), "
                     "preferably one per node"]
    _print_deployment(pb.Deployment(application="shop", services=[DB]))
    assert "rules of" not in capsys.readouterr().out


def test_the_deployment_json_carries_the_rules():
    web, db = deployment_dict(SHOP)["services"]
    assert (web["max_per_node"], web["prefer_apart"]) == (1, True)
    assert web["spread"] == [{"topology": "zone", "max_skew": 2, "hard": False}]
    assert (db["max_per_node"], db["spread"], db["prefer_apart"]) == (0, [], False)


def test_app_nodes_shows_each_node_s_zone(capsys):
    class Stub:
        def ListNodes(self, request, timeout):
            return pb.ListNodesResponse(nodes=[pb.Node(name="edge1", switch="s4", ready=True),
                                               pb.Node(name="edge2", ready=True)])

    assert _nodes(argparse.Namespace(output="table"), Stub()) == 0
    header, edge1, edge2 = capsys.readouterr().out.splitlines()
    assert header.split()[:2] == ["node", "zone"]
    assert edge1.split()[:2] == ["edge1", "s4"] and edge2.split()[:2] == ["edge2", "-"]


def test_wait_prints_why_instances_are_not_placed_while_it_waits():
    reason = ('not placed: no placement fits the ready nodes (infeasible: ...); ready: edge1 ...; under the rules: '
              'service "web": at most 1 per node')
    pending = pb.Deployment(application="shop", instances=[
        pb.Instance(name="web-1", service="web", phase=pb.INSTANCE_PHASE_PENDING, message=reason),
        pb.Instance(name="web-2", service="web", node="edge1", phase=pb.INSTANCE_PHASE_RUNNING)])
    replies = [pending, pb.Deployment(application="shop", ready=True)]

    class Stub:
        def GetDeployment(self, request, timeout):
            return replies.pop(0)

    lines: list[str] = []
    d, _ = wait_ready(Stub(), "shop", 60, progress=lines.append)
    assert d.ready and lines == [f"  1/2 instances running; {reason} (0 s)"]
