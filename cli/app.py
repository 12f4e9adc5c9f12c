"""`strata app`: applications on the orchestrator (deploy a Compose or Kubernetes file, scale, remove, inspect)."""

from __future__ import annotations

import argparse
import sys
import time

from strata.v1 import orchestrator_pb2 as pb
from strata.v1 import orchestrator_pb2_grpc

from .common import (EXIT_OK, INSECURE, BadInput, address_option, daemon, group_options, guarded, human_bytes,
                     json_output, print_json, stack_option)

PHASES = {pb.INSTANCE_PHASE_PENDING: "pending", pb.INSTANCE_PHASE_RUNNING: "running",
          pb.INSTANCE_PHASE_FAILED: "failed", pb.INSTANCE_PHASE_UNKNOWN: "unknown",
          pb.INSTANCE_PHASE_STARTING: "starting"}


def add_parser(sub) -> None:
    app = sub.add_parser("app", help="applications on the orchestrator: deploy, scale, remove, inspect")
    after = group_options(app, stack_option(), INSECURE, address_option("--orchestrator", "the orchestrator"))
    actions = app.add_subparsers(dest="action", required=True)
    with_json = [after, json_output()]

    deploy = actions.add_parser("deploy", parents=with_json, help="deploy a Docker Compose file or Kubernetes manifests")
    deploy.add_argument("file", help="docker-compose.yml or Kubernetes YAML (Deployments, StatefulSets, Services)")
    deploy.add_argument("--name", help="application name (default: from the file)")
    deploy.add_argument("--algorithm", default="",
                        help="placement algorithm (default: strata; see `strata place --help`)")
    deploy.add_argument("--registry-only", action="store_true",
                        help="pull every layer from the registry (default: from the nearest node holding it)")
    deploy.add_argument("--wait", type=float, nargs="?", const=300.0, default=0.0, metavar="S",
                        help="wait until every service answers on its VIP (at most S s, default 300)")

    get = actions.add_parser("get", parents=with_json,
                             help="one application: services, VIPs, instances and where they run")
    get.add_argument("application")

    actions.add_parser("ls", parents=with_json, help="every application")

    scale = actions.add_parser("scale", parents=with_json, help="change a service's number of replicas")
    scale.add_argument("application")
    scale.add_argument("service")
    scale.add_argument("replicas", type=int)
    scale.add_argument("--wait", type=float, nargs="?", const=300.0, default=0.0, metavar="S",
                       help="wait until every service answers on its VIP (at most S s, default 300)")

    rm = actions.add_parser("rm", parents=[after], help="remove an application (its containers and VIPs)")
    rm.add_argument("application")

    actions.add_parser("nodes", parents=with_json,
                       help="the nodes the orchestrator knows: zone (the switch a node hangs off), readiness, "
                            "allocation, storage")
    app.set_defaults(func=guarded(cmd_app, failed=(TimeoutError, DeploymentFailed)))


def deployment_dict(d: pb.Deployment) -> dict:
    return {
        "application": d.application, "ready": d.ready, "algorithm": d.placement_algorithm, "peers": d.peers,
        "planned_bytes": d.planned_bytes, "pulled_bytes": d.pulled_bytes, "peer_bytes": d.peer_bytes,
        "services": [{"name": s.name, "image": s.image, "replicas": s.replicas, "cpu_millicores": s.cpu_millicores,
                      "bandwidth_mbps": s.bandwidth_mbps, "memory_mib": s.memory_mib,
                      "memory_limit_mib": s.memory_limit_mib, "port": s.port, "target_port": s.target_port,
                      "dependencies": list(s.dependencies), "max_per_node": s.max_per_node,
                      "spread": [{"topology": x.topology, "max_skew": x.max_skew, "hard": not x.soft} for x in s.spread],
                      "prefer_apart": s.prefer_apart, "exposed": s.exposed, "clients": dict(s.clients),
                      "max_client_delay_ms": s.max_client_delay_ms} for s in d.services],
        "addresses": [{"service": a.service, "vip": a.vip, "port": a.port, "endpoints": a.endpoints}
                      for a in d.addresses],
        "instances": [{"name": i.name, "service": i.service, "node": i.node, "ip": i.ip,
                       "phase": PHASES.get(i.phase, "unknown"), "restarts": i.restarts, "message": i.message,
                       "pulled_bytes": i.pulled_bytes, "peer_bytes": i.peer_bytes,
                       "last_termination_reason": i.last_termination_reason} for i in d.instances],
        "images": [{"service": i.service, "phase": pb.ImagePhase.Name(i.phase).removeprefix("IMAGE_PHASE_").lower(),
                    "message": i.message, "reference": i.reference, "layers": i.layers, "size_bytes": i.size_bytes}
                   for i in d.images],
    }


def node_dict(n: pb.Node) -> dict:
    return {"name": n.name, "ready": n.ready, "ip": n.ip, "switch": n.switch,
            "cpu_millicores": n.cpu_millicores, "cpu_allocated_millicores": n.cpu_allocated_millicores,
            "storage_bytes": n.storage_bytes, "storage_used_bytes": n.storage_used_bytes,
            "bandwidth_mbps": n.bandwidth_mbps, "bandwidth_allocated_mbps": n.bandwidth_allocated_mbps,
            "memory_mib": n.memory_mib, "memory_allocated_mib": n.memory_allocated_mib,
            "layers": n.layers, "containers": n.containers, "last_heartbeat_unix": n.last_heartbeat_unix,
            "condition": n.condition}


def _print_deployment(d: pb.Deployment) -> None:
    from api.app import describe_rules
    from api.app_messages import service_spec

    running = sum(1 for i in d.instances if i.phase == pb.INSTANCE_PHASE_RUNNING)
    print(f"{d.application}: {'ready' if d.ready else 'not ready'}, {running}/{len(d.instances)} instances running; "
          f"placed by {d.placement_algorithm}; layers {'from the nearest holder' if d.peers else 'from the registry'}")
    print(f"  planned to store anew {human_bytes(d.planned_bytes)}; pulled {human_bytes(d.pulled_bytes)} from the "
          f"registry, {human_bytes(d.peer_bytes)} from peers")
    for s in d.services:
        if words := describe_rules(service_spec(s)):
            print(f"  rules of {s.name}: {words}")
        if s.clients:
            print(f"  clients of {s.name}: "
                  + ", ".join(f"{name}" + (f" x{weight:g}" if weight != 1 else "") for name, weight in sorted(s.clients.items())))
    vips = {a.service: a for a in d.addresses}
    images = {i.service: i for i in d.images}
    print(f"  {'service':<28} {'vip:port':<22} {'ready':>5}  image [its phase]")
    for s in d.services:
        a, i = vips.get(s.name), images.get(s.name)
        phase = pb.ImagePhase.Name(i.phase).removeprefix("IMAGE_PHASE_").lower() if i else "?"
        detail = f": {i.message}" if i and i.message else ""
        print(f"  {s.name:<28} {(a.vip + ':' + str(a.port)) if a and a.vip else '-':<22} "
              f"{(a.endpoints if a else 0)}/{s.replicas:<3}  {s.image} [{phase}{detail}]")
    print(f"  {'instance':<32} {'node':<10} {'ip':<15} {'phase':<9} {'restarts':>8} {'last end':<9}  message")
    for i in d.instances:
        print(f"  {i.name:<32} {i.node or '-':<10} {i.ip or '-':<15} {PHASES.get(i.phase, '?'):<9} {i.restarts:>8} "
              f"{i.last_termination_reason or '-':<9}  {i.message}")


class DeploymentFailed(Exception):
    """The deployment cannot become ready by waiting: an image failed (exit 1)."""


def wait_ready(stub, application: str, timeout: float, *, progress=print) -> tuple[pb.Deployment, float]:
    """Poll until every instance runs and every service's VIP has its endpoints; (deployment, seconds).
    A failed image ends the wait at once (DeploymentFailed); at the time limit, TimeoutError names
    what still holds the instances back (the orchestrator's reasons)."""
    started = time.monotonic()
    last = ""
    while True:
        d = stub.GetDeployment(pb.GetDeploymentRequest(application=application), timeout=10)
        seconds = time.monotonic() - started
        if d.ready:
            return d, seconds
        failed = [i for i in d.images if i.phase == pb.IMAGE_PHASE_FAILED]
        if failed:
            raise DeploymentFailed("; ".join(f"image of {i.service} failed: {i.message}" for i in failed)
                                   + f" (`strata app rm {application}`, fix it, and deploy again)")
        running = sum(1 for i in d.instances if i.phase == pb.INSTANCE_PHASE_RUNNING)
        line = f"  {running}/{len(d.instances)} instances running"
        if d.images:
            ready = sum(1 for i in d.images if i.phase == pb.IMAGE_PHASE_READY)
            line += f", {ready}/{len(d.images)} images ready"
        unplaced = next((i.message for i in d.instances if i.phase == pb.INSTANCE_PHASE_PENDING and not i.node
                         and i.message.startswith("not placed: ")), "")
        if unplaced:  # the scheduler's reason (a rule or the capacities): it waits for nodes or a change
            line += f"; {unplaced}"
        if line != last:
            progress(f"{line} ({seconds:.0f} s)")
            last = line
        if seconds > timeout:
            reasons = sorted({i.message for i in d.instances if i.phase != pb.INSTANCE_PHASE_RUNNING and i.message})
            raise TimeoutError(f"{application} not ready after {timeout:g} s ({running}/{len(d.instances)} "
                               "instances running)" + (f": {'; '.join(reasons[:3])}" if reasons else "")
                               + "; see `strata app get`")
        time.sleep(0.5)


def load_spec(args):
    """The manifest, read and checked before anything is asked of the orchestrator."""
    from api.app import AppError
    from client.manifests import load_manifest

    try:
        return load_manifest(args.file, name=args.name, warn=lambda text: print(f"warning: {text}", file=sys.stderr))
    except AppError as exc:
        raise BadInput(str(exc)) from None


def _deploy(args, stub, spec) -> int:
    from api.app_messages import policy_message, service_message

    request = pb.DeployRequest(application=spec.name, services=[service_message(s) for s in spec.services],
                               algorithm=args.algorithm, registry_only=args.registry_only,
                               policies=[policy_message(p) for p in spec.policies])
    started = time.monotonic()
    d = stub.Deploy(request, timeout=600)
    if args.output == "table":
        print(f"deployed {d.application} ({len(d.services)} services, {len(d.instances)} instances) in "
              f"{time.monotonic() - started:.1f} s")
    if args.wait:
        d, seconds = wait_ready(stub, d.application, args.wait,
                                progress=(lambda t: print(t, file=sys.stderr)) if args.output == "json" else print)
        if args.output == "table":
            print(f"ready in {seconds:.1f} s")
    _show(d, args.output)
    return EXIT_OK


def _show(d: pb.Deployment, output: str) -> None:
    if output == "json":
        print_json(deployment_dict(d))
    else:
        _print_deployment(d)


def _get(args, stub) -> int:
    _show(stub.GetDeployment(pb.GetDeploymentRequest(application=args.application), timeout=10), args.output)
    return EXIT_OK


def _ls(args, stub) -> int:
    apps = stub.ListDeployments(pb.ListDeploymentsRequest(), timeout=10).deployments
    if args.output == "json":
        print_json([deployment_dict(d) for d in apps])
        return EXIT_OK
    if not apps:
        print("no applications (deploy one with `strata app deploy FILE`)")
        return EXIT_OK
    print(f"{'application':<28} {'ready':<6} {'services':>8} {'instances':>9} {'running':>7}  {'algorithm':<14} "
          f"{'pulled':>10} {'from peers':>10}")
    for d in apps:
        running = sum(1 for i in d.instances if i.phase == pb.INSTANCE_PHASE_RUNNING)
        print(f"{d.application:<28} {'yes' if d.ready else 'no':<6} {len(d.services):>8} {len(d.instances):>9} "
              f"{running:>7}  {d.placement_algorithm:<14} {human_bytes(d.pulled_bytes):>10} "
              f"{human_bytes(d.peer_bytes):>10}")
    return EXIT_OK


def _scale(args, stub) -> int:
    d = stub.Scale(pb.ScaleRequest(application=args.application, service=args.service, replicas=args.replicas),
                   timeout=120)
    if args.wait:
        d, _ = wait_ready(stub, d.application, args.wait, progress=lambda t: print(t, file=sys.stderr))
    _show(d, args.output)
    return EXIT_OK


def _rm(args, stub) -> int:
    stub.DeleteDeployment(pb.DeleteDeploymentRequest(application=args.application), timeout=30)
    print(f"removed {args.application}: its containers are stopped and its VIPs withdrawn")
    return EXIT_OK


def _nodes(args, stub) -> int:
    nodes = stub.ListNodes(pb.ListNodesRequest(), timeout=10).nodes
    if args.output == "json":
        print_json([node_dict(n) for n in nodes])
        return EXIT_OK
    print(f"{'node':<10} {'zone':<8} {'condition':<17} {'cpu (m)':>15} {'memory (MiB)':>15} {'storage':>21} {'layers':>6} "
          f"{'containers':>10}")
    for n in nodes:
        # A node whose agent reports no memory capacity has no memory limit: "-".
        memory = f"{n.memory_allocated_mib:>7.0f}/{n.memory_mib:<7.0f}" if n.memory_mib else \
            f"{n.memory_allocated_mib:>7.0f}/{'-':<7}"
        print(f"{n.name:<10} {n.switch or '-':<8} {n.condition or ('ready' if n.ready else 'not-ready'):<17} "
              f"{n.cpu_allocated_millicores:>7.0f}/{n.cpu_millicores:<7.0f} {memory} "
              f"{human_bytes(n.storage_used_bytes):>10}/{human_bytes(n.storage_bytes):<10} {n.layers:>6} "
              f"{n.containers:>10}")
    return EXIT_OK


ACTIONS = {"get": _get, "ls": _ls, "scale": _scale, "rm": _rm, "nodes": _nodes}


def _orchestrator(args: argparse.Namespace):
    return daemon(args, orchestrator_pb2_grpc.OrchestratorServiceStub, flag="orchestrator",
                  component="orchestrator", what="orchestrator")


def cmd_app(args: argparse.Namespace) -> int:
    if args.action == "deploy":
        spec = load_spec(args)
        return _deploy(args, _orchestrator(args), spec)
    return ACTIONS[args.action](args, _orchestrator(args))
