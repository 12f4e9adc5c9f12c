"""`strata policy`: network policies (Kubernetes NetworkPolicy) on the orchestrator, and tracing a connection through the switches."""

from __future__ import annotations

import argparse
import json
import sys

from strata.v1 import common_pb2, orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc, sdn_pb2, sdn_pb2_grpc

from .common import (EXIT_OK, BadInput, address_option, daemon, group_options, guarded, json_output, print_json,
                     print_table, stack_option)


def add_parser(sub) -> None:
    policy = sub.add_parser("policy", help="network policies: apply, list, remove, and trace a connection")
    after = group_options(policy, stack_option(), address_option("--orchestrator", "the orchestrator"),
                          address_option("--sdn", "the SDN daemon"))
    actions = policy.add_subparsers(dest="action", required=True)
    with_json = [after, json_output()]

    apply = actions.add_parser("apply", parents=with_json,
                               help="add network policies to an application (each replaces its namesake)")
    apply.add_argument("-f", "--file", required=True,
                       help="NetworkPolicy objects (YAML), or an application's Compose file or Kubernetes manifests")
    apply.add_argument("--app", default=None, help="the application (default: the policies' namespace, or the file's)")

    ls = actions.add_parser("ls", parents=with_json, help="the network policies of every application, or of one")
    ls.add_argument("--app", default="", help="only this application's")

    rm = actions.add_parser("rm", parents=[after], help="remove one network policy of an application")
    rm.add_argument("name")
    rm.add_argument("--app", required=True, help="the application it is of")

    trace = actions.add_parser("trace", parents=with_json,
                               help="follow a connection's first packet through the switches (ofproto/trace): "
                                    "which table decided what, and the verdict")
    trace.add_argument("--from", dest="source", required=True, metavar="POD|HOST",
                       help="a pod (node/container, as `strata sdn endpoints` lists it) or host name, or its address")
    trace.add_argument("--to", dest="destination", required=True, metavar="IP", help="the destination address")
    trace.add_argument("--port", type=int, required=True, help="the destination port")
    trace.add_argument("--proto", choices=("tcp", "udp"), default="tcp", help="the protocol (default: tcp)")
    trace.add_argument("--verbose", action="store_true", help="also print Open vSwitch's whole output")
    policy.set_defaults(func=guarded(cmd_policy))


def policy_dict(p: pb.NetworkPolicy) -> dict:
    return {"application": p.application, "name": p.name, "policy": json.loads(p.document)}


def _summary(document: dict) -> list[str]:
    spec = document.get("spec") or {}
    selector = spec.get("podSelector") or {}
    labels = ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items())
    expressions = len(selector.get("matchExpressions") or [])
    pods = labels or ("every pod" if not expressions else "")
    pods += f" (+{expressions} expressions)" if expressions else ""
    return [pods, "/".join(spec.get("policyTypes") or []), str(len(spec.get("ingress") or [])),
            str(len(spec.get("egress") or []))]


def _orchestrator(args):
    return daemon(args, orchestrator_pb2_grpc.OrchestratorServiceStub, flag="orchestrator",
                  component="orchestrator", what="orchestrator")


def _apply(args) -> int:
    from api.app import AppError
    from api.app_messages import policy_message
    from client.manifests import load_policies

    try:
        app, policies = load_policies(args.file, app=args.app,
                                      warn=lambda text: print(f"warning: {text}", file=sys.stderr))
    except AppError as exc:
        raise BadInput(str(exc)) from None
    if not policies:
        raise BadInput(f"{args.file}: no network policy in it (kind: NetworkPolicy, or the strata.io/ingress-from "
                       "and strata.io/egress-to labels of a Compose file)")
    listed = _orchestrator(args).ApplyNetworkPolicies(pb.ApplyNetworkPoliciesRequest(
        application=app, policies=[policy_message(p) for p in policies]), timeout=30).policies
    if args.output == "json":
        print_json([policy_dict(p) for p in listed])
    else:
        print(f"{app}: applied {', '.join(p.name for p in policies)}; {len(listed)} policies in all")
    return EXIT_OK


def _ls(args) -> int:
    listed = _orchestrator(args).ListNetworkPolicies(pb.ListNetworkPoliciesRequest(application=args.app),
                                                     timeout=10).policies
    if args.output == "json":
        print_json([policy_dict(p) for p in listed])
    elif not listed:
        print("no network policies (apply some with `strata policy apply -f FILE`)")
    else:
        print_table(("application", "name", "pods", "types", "ingress rules", "egress rules"),
                    [[p.application, p.name, *_summary(json.loads(p.document))] for p in listed])
    return EXIT_OK


def _rm(args) -> int:
    _orchestrator(args).DeleteNetworkPolicy(pb.DeleteNetworkPolicyRequest(application=args.app, name=args.name),
                                            timeout=30)
    print(f"removed {args.app}/{args.name}")
    return EXIT_OK


def trace_dict(t: sdn_pb2.TracePolicyResponse) -> dict:
    return {"switch": t.switch, "verdict": t.verdict, "decided_by": t.decided_by, "policy": t.policy,
            "steps": [{"switch": s.switch, "table": s.table, "name": s.name, "flow": s.flow, "actions": s.actions,
                       "policy": s.policy} for s in t.steps]}


def _trace(args) -> int:
    stub = daemon(args, sdn_pb2_grpc.SdnServiceStub, flag="sdn", component="sdn", what="SDN daemon")
    protocol = common_pb2.PROTOCOL_UDP if args.proto == "udp" else common_pb2.PROTOCOL_TCP
    t = stub.TracePolicy(sdn_pb2.TracePolicyRequest(source=args.source, destination=args.destination,
                                                    port=args.port, protocol=protocol), timeout=60)
    if args.output == "json":
        print_json(trace_dict(t))
        return EXIT_OK
    print(f"{args.source} -> {args.destination}:{args.port}/{args.proto}, traced from {t.switch}")
    print_table(("switch", "table", "matched", "actions", "policy"),
                [[s.switch, f"{s.table} {s.name}", s.flow, s.actions, s.policy] for s in t.steps])
    print(f"verdict: {t.verdict}" + (f" (decided in {t.decided_by})" if t.decided_by else "")
          + (f"; allowed by {t.policy}" if t.policy else ""))
    if args.verbose:
        print(t.raw)
    return EXIT_OK


ACTIONS = {"apply": _apply, "ls": _ls, "rm": _rm, "trace": _trace}


def cmd_policy(args: argparse.Namespace) -> int:
    return ACTIONS[args.action](args)
