"""`strata vnf` and `strata chain`: the VNF manager: descriptors, the VNF lifecycle, service function chains."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from strata.v1 import mano_pb2 as pb
from strata.v1 import mano_pb2_grpc

from api.protocols import CHAIN_PROTOCOLS, protocol_enum

from .common import (EXIT_FAILED, EXIT_OK, INSECURE, BadInput, address_option, daemon, group_options, guarded,
                     json_output, print_json, shown_protocol, stack_option)

CHAIN_CHOICES = {name or "any": name for name in CHAIN_PROTOCOLS}  # --protocol: "any" is api.protocols.ANY
FINAL = ("COMPLETED", "FAILED", "ROLLED_BACK", "FAILED_TEMP")


def add_parser(sub) -> None:
    vnf = sub.add_parser("vnf", help="the VNF manager: descriptors and the VNF lifecycle (ETSI NFV-SOL 003)")
    after = group_options(vnf, *_manager_options())
    with_json = [after, json_output()]
    waiting = [*with_json, _waiting()]
    actions = vnf.add_subparsers(dest="action", required=True)
    onboard = actions.add_parser("onboard", parents=[after],
                                 help="add a VNF descriptor (YAML: name, kind, image, config, ...)")
    onboard.add_argument("file")
    actions.add_parser("vnfds", parents=with_json, help="the onboarded descriptors")
    inst = actions.add_parser("instantiate", parents=waiting,
                              help="start a VNF instance (its containers placed layer-aware)")
    inst.add_argument("name")
    inst.add_argument("--vnfd", required=True, help="descriptor name")
    inst.add_argument("--scale", type=int, default=1, metavar="N", help="containers (default 1)")
    inst.add_argument("--near", metavar="HOST", help="a host whose traffic it serves: on the nodes nearest it")
    scale = actions.add_parser("scale", parents=waiting, help="set an instance's number of containers")
    scale.add_argument("name")
    scale.add_argument("level", type=int)
    for verb, text in (("heal", "replace an instance's containers with new ones"),
                       ("terminate", "remove an instance's containers (NOT_INSTANTIATED again)")):
        actions.add_parser(verb, parents=waiting, help=text).add_argument("name")
    operate = actions.add_parser("operate", parents=waiting, help="start or stop an instance")
    operate.add_argument("name")
    operate.add_argument("state", choices=("start", "stop"))
    actions.add_parser("ls", parents=with_json, help="every VNF instance: states, containers")
    ops = actions.add_parser("ops", parents=with_json, help="the lifecycle operation occurrences (the history)")
    ops.add_argument("instance", nargs="?", help="only this instance's")
    vnf.set_defaults(func=guarded(cmd_vnf))

    chain = sub.add_parser("chain", help="service function chains through VNF instances")
    after = group_options(chain, *_manager_options())
    with_json = [after, json_output()]
    actions = chain.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", parents=with_json,
                              help="steer classified traffic through VNF instances in order")
    create.add_argument("name")
    create.add_argument("--instances", required=True, metavar="A,B,...", help="VNF instances, in order")
    create.add_argument("--src", metavar="CIDR", help="source prefix (default: any)")
    create.add_argument("--dst", metavar="CIDR", help="destination prefix, or a service VIP/32 (default: any)")
    create.add_argument("--protocol", choices=list(CHAIN_CHOICES), default="any")
    create.add_argument("--port", type=int, default=0, help="destination port (default: any)")
    create.add_argument("--symmetric", action="store_true", help="replies back through the VNFs in reverse")
    actions.add_parser("ls", parents=with_json, help="every chain")
    actions.add_parser("del", parents=[after], help="remove a chain").add_argument("name")
    chain.set_defaults(func=guarded(cmd_chain))


def _manager_options():
    return stack_option(), INSECURE, address_option("--mano", "the VNF manager")


def _waiting() -> argparse.ArgumentParser:
    """The options of an action that starts a lifecycle operation and waits for its end."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--no-wait", action="store_true", help="answer with the occurrence at once (PROCESSING)")
    parent.add_argument("--timeout", type=float, default=300.0, metavar="S", help="wait at most S s (default 300)")
    return parent


def op_dict(op: pb.OpOccurrence) -> dict:
    return {"id": op.id, "instance": op.instance, "operation": op.operation, "state": op.state,
            "started_unix": op.started_unix, "entered_unix": op.entered_unix, "detail": op.detail}


def _wait(stub, op: pb.OpOccurrence, timeout: float) -> pb.OpOccurrence:
    deadline = time.monotonic() + timeout
    while op.state not in FINAL or op.state == "FAILED_TEMP" and op.operation == "INSTANTIATE":
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
        op = stub.GetOperation(pb.GetOperationRequest(id=op.id), timeout=10)
    return op


def _report(stub, op: pb.OpOccurrence, args) -> int:
    if args.no_wait:
        if args.output == "json":
            print_json(op_dict(op))
        else:
            print(f"{op.id}: {op.operation.lower()} of {op.instance} {op.state} (see `strata vnf ops {op.instance}`)")
        return EXIT_OK
    op = _wait(stub, op, args.timeout)
    if args.output == "json":
        print_json(op_dict(op))
    else:
        took = op.entered_unix - op.started_unix
        print(f"{op.id}: {op.operation.lower()} of {op.instance} {op.state} in {took:.1f} s"
              + (f" ({op.detail})" if op.detail else ""))
    return EXIT_OK if op.state == "COMPLETED" else EXIT_FAILED


def _onboard(descriptor: str, stub) -> int:
    v = stub.OnboardVnfd(pb.OnboardVnfdRequest(descriptor=descriptor), timeout=10)
    print(f"onboarded {v.name}: {v.kind} from {v.image}, {v.cpu_millicores:g} millicores, "
          f"{v.bandwidth_mbps:g} Mbit/s per container")
    return EXIT_OK


def _vnfds(args, stub) -> int:
    vnfds = stub.ListVnfds(pb.ListVnfdsRequest(), timeout=10).vnfds
    if args.output == "json":
        print_json([{"name": v.name, "kind": v.kind, "image": v.image, "cpu_millicores": v.cpu_millicores,
                     "bandwidth_mbps": v.bandwidth_mbps, "config": json.loads(v.config_json),
                     "scaling": json.loads(v.scaling_json) if v.scaling_json else None,
                     "healing": json.loads(v.healing_json) if v.healing_json else None} for v in vnfds])
        return EXIT_OK
    print(f"{'descriptor':<24} {'kind':<10} {'image':<28} {'cpu (m)':>8} {'Mbit/s':>7}  self-driving")
    for v in vnfds:
        print(f"{v.name:<24} {v.kind:<10} {v.image:<28} {v.cpu_millicores:>8g} {v.bandwidth_mbps:>7g}  "
              f"{_self_driving(v) or '-'}")
    return EXIT_OK


def _self_driving(v: pb.Vnfd) -> str:
    """"1-4 on packets_per_second 1000-5000; heal at 3 restarts in 300 s", or ""."""
    parts = []
    if v.scaling_json:
        p = json.loads(v.scaling_json)
        parts.append(f"{p['min_instances']}-{p['max_instances']} on {p['metric']} "
                     f"{p['scale_in_below']:g}-{p['scale_out_above']:g}")
    if v.healing_json:
        h = json.loads(v.healing_json)
        parts.append(f"heal at {h['restarts']} restarts in {h['window_seconds']:g} s")
    return "; ".join(parts)


def _instantiate(args, stub) -> int:
    return _report(stub, stub.Instantiate(pb.InstantiateRequest(name=args.name, vnfd=args.vnfd,
                                                                scale_level=args.scale, near=args.near or ""),
                                          timeout=30), args)


def _scale(args, stub) -> int:
    return _report(stub, stub.Scale(pb.ScaleVnfRequest(name=args.name, scale_level=args.level), timeout=30), args)


def _heal(args, stub) -> int:
    return _report(stub, stub.Heal(pb.HealRequest(name=args.name), timeout=30), args)


def _operate(args, stub) -> int:
    return _report(stub, stub.Operate(pb.OperateRequest(name=args.name, started=args.state == "start"),
                                      timeout=30), args)


def _terminate(args, stub) -> int:
    return _report(stub, stub.Terminate(pb.TerminateRequest(name=args.name), timeout=30), args)


def _ls(args, stub) -> int:
    instances = stub.ListInstances(pb.ListInstancesRequest(), timeout=30).instances
    if args.output == "json":
        print_json([{"name": i.name, "vnfd": i.vnfd, "instantiation_state": i.instantiation_state,
                     "operational_state": i.operational_state, "scale_level": i.scale_level,
                     "busy_with": i.busy_with,
                     "containers": [{"name": c.name, "node": c.node, "running": c.running} for c in i.containers]}
                    for i in instances])
        return EXIT_OK
    if not instances:
        print("no VNF instances (strata vnf instantiate NAME --vnfd DESCRIPTOR)")
        return EXIT_OK
    print(f"{'instance':<20} {'descriptor':<18} {'state':<17} {'oper.':<8} {'level':>5}  containers")
    for i in instances:
        pods = ", ".join(f"{c.node}/{c.name}{'' if c.running else ' (not running)'}" for c in i.containers) or "-"
        print(f"{i.name:<20} {i.vnfd:<18} {i.instantiation_state:<17} {i.operational_state or '-':<8} "
              f"{i.scale_level:>5}  {pods}" + (f"  [{i.busy_with} in progress]" if i.busy_with else ""))
    return EXIT_OK


def _ops(args, stub) -> int:
    ops = stub.ListOperations(pb.ListOperationsRequest(instance=args.instance or ""), timeout=10).operations
    if args.output == "json":
        print_json([op_dict(o) for o in ops])
        return EXIT_OK
    print(f"{'id':<8} {'instance':<18} {'operation':<12} {'state':<12} {'started':<20} {'took':>7}  detail")
    for o in ops:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(o.started_unix))
        took = f"{o.entered_unix - o.started_unix:.1f} s" if o.state != "PROCESSING" else "-"
        print(f"{o.id:<8} {o.instance:<18} {o.operation:<12} {o.state:<12} {started:<20} {took:>7}  {o.detail}")
    return EXIT_OK


def chain_dict(c: pb.Chain) -> dict:
    return {"name": c.name, "src_cidr": c.src_cidr, "dst_cidr": c.dst_cidr,
            "protocol": shown_protocol(c.protocol), "dst_port": c.dst_port,
            "instances": list(c.instances), "symmetric": c.symmetric, "hops": list(c.hops)}


def _chain_create(args, stub) -> int:
    c = stub.CreateChain(pb.CreateChainRequest(
        name=args.name, src_cidr=args.src or "", dst_cidr=args.dst or "",
        protocol=protocol_enum(CHAIN_CHOICES[args.protocol]),
        dst_port=args.port, instances=args.instances.split(","), symmetric=args.symmetric), timeout=60)
    if args.output == "json":
        print_json(chain_dict(c))
    else:
        print(f"chain {c.name}: {' -> '.join(c.instances)} ({', '.join(c.hops)})"
              + (", replies back through them" if c.symmetric else ""))
    return EXIT_OK


def _chain_ls(args, stub) -> int:
    chains = stub.ListChains(pb.ListChainsRequest(), timeout=30).chains
    if args.output == "json":
        print_json([chain_dict(c) for c in chains])
        return EXIT_OK
    if not chains:
        print("no chains (strata chain create NAME --instances A,B --dst CIDR)")
        return EXIT_OK
    print(f"{'chain':<18} {'classifier':<44} {'sym.':<5} instances (containers)")
    for c in chains:
        classifier = " ".join(p for p in (f"from {c.src_cidr}" if c.src_cidr else "",
                                          f"to {c.dst_cidr}" if c.dst_cidr else "",
                                          shown_protocol(c.protocol) if c.protocol else "",
                                          f"port {c.dst_port}" if c.dst_port else "") if p) or "everything"
        print(f"{c.name:<18} {classifier:<44} {'yes' if c.symmetric else 'no':<5} "
              f"{' -> '.join(c.instances)} ({', '.join(c.hops) or 'none running'})")
    return EXIT_OK


def _chain_del(args, stub) -> int:
    stub.DeleteChain(pb.DeleteChainRequest(name=args.name), timeout=60)
    print(f"removed chain {args.name}: its traffic flows directly again")
    return EXIT_OK


VNF_ACTIONS = {"vnfds": _vnfds, "instantiate": _instantiate, "scale": _scale, "heal": _heal,
               "operate": _operate, "terminate": _terminate, "ls": _ls, "ops": _ops}
CHAIN_ACTIONS = {"create": _chain_create, "ls": _chain_ls, "del": _chain_del}


def _manager(args: argparse.Namespace):
    return daemon(args, mano_pb2_grpc.VnfManagerServiceStub, flag="mano", component="mano", what="VNF manager")


def cmd_vnf(args: argparse.Namespace) -> int:
    if args.action == "onboard":
        try:  # read before connecting
            descriptor = Path(args.file).read_text()
        except OSError as exc:
            raise BadInput(f"cannot read {args.file}: {exc.strerror}") from None
        return _onboard(descriptor, _manager(args))
    return VNF_ACTIONS[args.action](args, _manager(args))


def cmd_chain(args: argparse.Namespace) -> int:
    return CHAIN_ACTIONS[args.action](args, _manager(args))
