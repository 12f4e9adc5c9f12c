"""`strata node`: the node agents of a running stack (list nodes, pull, run, inspect and remove containers)."""

from __future__ import annotations

import argparse
import sys

from strata.v1 import agent_pb2, agent_pb2_grpc

from component_base.pki import Identity

from .common import (EXIT_OK, INSECURE, BadInput, CallFailed, IntermixedParser, Unreachable, client, group_options,
                     guarded, human_bytes, json_output, print_json, stack_agents, stack_option)

STATE_NAMES = {agent_pb2.CONTAINER_STATE_RUNNING: "running", agent_pb2.CONTAINER_STATE_RESTARTING: "restarting",
               agent_pb2.CONTAINER_STATE_STOPPED: "stopped"}


def add_parser(sub) -> None:
    node = sub.add_parser("node", help="the node agents: nodes, images and containers on edge servers")
    after = group_options(node, stack_option(), INSECURE)
    # intermixed: `run` takes its options anywhere and the container's command after `--`
    actions = node.add_subparsers(dest="action", required=True, parser_class=IntermixedParser)
    with_json = [after, json_output()]

    actions.add_parser("ls", parents=with_json, help="every node: capacity, storage used, layers held, containers")

    run = actions.add_parser("run", parents=with_json,
                             help="pull an image onto a node (only the layers it lacks) and start it")
    run.add_argument("node", help="edge server, e.g. edge1")
    run.add_argument("image", help="image reference, e.g. nginx or nginx:latest (see `strata images ls`)")
    run.add_argument("--name", help="container name (default: derived from the image)")
    run.add_argument("--cpu", type=float, default=0.0, metavar="MILLICORES", help="CPU request (default: 100)")
    run.add_argument("--memory", type=float, default=0.0, metavar="MIB",
                     help="memory limit, MiB; beyond it the kernel kills the process (default: none); also its "
                          "request unless --memory-request says otherwise (Kubernetes' rule)")
    run.add_argument("--memory-request", type=float, default=None, metavar="MIB",
                     help="memory the node sets aside for it, MiB: refused if the node's other containers leave "
                          "less (default: --memory's value, or none)")
    run.add_argument("--env", action="append", metavar="KEY=VALUE", help="extra environment (repeatable)")
    run.add_argument("--ready-port", type=int, default=0, metavar="PORT",
                     help="ready once it listens on this TCP port (default: once it runs)")
    run.add_argument("--timeout", type=float, default=300.0, metavar="S", help="give up after S seconds")
    run.add_argument("argv", nargs="*", metavar="COMMAND",
                     help="replaces the image's command; put it after -- (e.g. -- python3 -c ...)")

    pull = actions.add_parser("pull", parents=with_json, help="pull an image onto a node without starting it")
    pull.add_argument("node")
    pull.add_argument("image")
    pull.add_argument("--timeout", type=float, default=300.0, metavar="S")

    ps = actions.add_parser("ps", parents=with_json, help="a node's containers")
    ps.add_argument("node")

    for name, text in (("rm", "stop and remove a container (its layers stay: see prune)"),
                       ("stop", "stop a container (it stays stopped)"), ("start", "start a stopped container"),
                       ("logs", "what a container's process wrote")):
        action = actions.add_parser(name, parents=[after], help=text)
        action.add_argument("node")
        action.add_argument("name")
        if name == "logs":
            action.add_argument("--tail", type=int, default=0, metavar="N", help="only the last N lines")

    prune = actions.add_parser("prune", parents=[after], help="remove the layers no container on the node uses")
    prune.add_argument("node")
    node.set_defaults(func=guarded(cmd_node))


def container_dict(c: agent_pb2.Container) -> dict:
    return {"name": c.name, "image": c.image, "state": STATE_NAMES.get(c.state, "unknown"), "ip": c.ip,
            "mac": c.mac, "switch_port": c.switch_port, "pid": c.pid, "restarts": c.restarts,
            "started_at": c.started_at, "last_exit_code": c.last_exit_code, "cpu_millicores": c.cpu_millicores,
            "memory_limit_mib": c.memory_limit_mib, "memory_request_mib": c.memory_request_mib,
            "last_termination_reason": c.last_termination_reason,
            "layers": list(c.layers), "message": c.message, "ready": c.ready, "ready_port": c.ready_port}


def node_dict(n: agent_pb2.NodeStatus) -> dict:
    return {"name": n.name, "ip": n.ip, "switch": n.switch, "pod_cidr": n.pod_cidr,
            "cpu_millicores": n.cpu_millicores, "cpu_requested_millicores": n.cpu_requested_millicores,
            "memory_mib": n.memory_mib, "memory_requested_mib": n.memory_requested_mib,
            "storage_used_bytes": n.storage_used_bytes, "storage_capacity_bytes": n.storage_capacity_bytes,
            "layers": [layer.digest for layer in n.layers],
            "layer_sizes": {layer.digest: layer.size_bytes for layer in n.layers},
            "containers": [c.name for c in n.containers], "pulled_bytes_total": n.pulled_bytes_total,
            "image_scale": n.image_scale, "registry": n.registry}


def pull_dict(p: agent_pb2.PullReport) -> dict:
    return {"image": p.image, "manifest_digest": p.manifest_digest, "pulled_bytes": p.pulled_bytes,
            "reused_bytes": p.reused_bytes, "pulled_layers": len(p.pulled_layers),
            "reused_layers": len(p.reused_layers), "pulled_layer_digests": list(p.pulled_layers),
            "reused_layer_digests": list(p.reused_layers), "seconds": round(p.seconds, 3)}


def _print_containers(containers) -> None:
    print(f"{'NAME':<20} {'IMAGE':<22} {'STATE':<11} {'READY':<5} {'IP':<15} {'PID':>7} {'RESTARTS':>8} "
          f"{'LAST END':<9}  MESSAGE")
    for c in containers:
        print(f"{c.name:<20} {c.image:<22} {STATE_NAMES.get(c.state, '?'):<11} {'yes' if c.ready else 'no':<5} "
              f"{c.ip:<15} {c.pid or '-':>7} {c.restarts:>8} {c.last_termination_reason or '-':<9}  {c.message}")


def _print_pull(p: agent_pb2.PullReport) -> None:
    print(f"pulled {p.image}: {len(p.pulled_layers)} layers, {human_bytes(p.pulled_bytes)} fetched; "
          f"{len(p.reused_layers)} layers, {human_bytes(p.reused_bytes)} already on the node; {p.seconds:.2f} s")


def cmd_node(args: argparse.Namespace) -> int:
    agents = stack_agents(args.stack)
    if args.action == "ls":
        return _ls(args, agents)
    if args.node not in agents:
        raise BadInput(f"no node named {args.node!r}; nodes: {', '.join(sorted(agents))}")
    return ACTIONS[args.action](args, _agent(args.node, agents[args.node], args))


def _agent(node: str, address: str, args: argparse.Namespace):
    """The node agent of `node` at `address` (its management socket)."""
    return client(agent_pb2_grpc.NodeAgentStub, address, f"the node agent of {node}", Identity.agent(node), args)


def _node_status(name: str, address: str, args) -> agent_pb2.NodeStatus | str:
    """The node's status, or why its agent could not tell (it is down, or cut off)."""
    try:
        return _agent(name, address, args).GetNode(agent_pb2.GetNodeRequest(), timeout=10)
    except (Unreachable, CallFailed) as exc:
        return str(exc)


def _ls(args, agents: dict[str, str]) -> int:
    """Every node; one whose agent does not answer is listed as such (its containers may well run on)."""
    answers = {name: _node_status(name, agents[name], args) for name in sorted(agents)}
    nodes = [n for n in answers.values() if not isinstance(n, str)]
    silent = {name: why for name, why in answers.items() if isinstance(why, str)}
    if not nodes and silent:  # no agent at all: the stack is not there
        raise Unreachable(next(iter(silent.values())))
    if args.output == "json":
        print_json([{**node_dict(n), "reachable": True} if not isinstance(n, str)
                    else {"name": name, "reachable": False, "error": n} for name, n in answers.items()])
        return EXIT_OK
    print(f"{'NODE':<10} {'SWITCH':<10} {'POD RANGE':<16} {'CPU REQ/CAP':>15} {'MEM REQ/CAP MiB':>15} "
          f"{'STORAGE USED/CAP':>22} {'LAYERS':>6} {'PULLED':>10}  CONTAINERS")
    for n in nodes:
        cpu = f"{n.cpu_requested_millicores:g}/{n.cpu_millicores:g}"
        # a node not given a memory capacity admits by CPU and storage only: "-"
        memory = f"{n.memory_requested_mib:g}/{n.memory_mib:g}" if n.memory_mib else f"{n.memory_requested_mib:g}/-"
        storage = f"{human_bytes(n.storage_used_bytes)}/{human_bytes(n.storage_capacity_bytes)}"
        print(f"{n.name:<10} {n.switch:<10} {n.pod_cidr:<16} {cpu:>15} {memory:>15} {storage:>22} {len(n.layers):>6} "
              f"{human_bytes(n.pulled_bytes_total):>10}  {', '.join(c.name for c in n.containers) or '-'}")
    for name, why in silent.items():
        print(f"{name:<10} agent unreachable: {why}")
    if nodes:
        print(f"(sizes are the emulation's: real image sizes x {nodes[0].image_scale:g})")
    return EXIT_OK


def _run(args, agent) -> int:
    reply = agent.RunContainer(agent_pb2.RunContainerRequest(
        name=args.name or "", image=args.image, cpu_millicores=args.cpu, env=args.env or [],
        command=args.argv, ready_port=args.ready_port, memory_limit_mib=args.memory,
        memory_request_mib=args.memory if args.memory_request is None else args.memory_request), timeout=args.timeout)
    if args.output == "json":
        print_json({"node": args.node, **container_dict(reply.container), **pull_dict(reply.pull)})
        return EXIT_OK
    _print_pull(reply.pull)
    c = reply.container
    print(f"started {c.name} on {args.node}: {c.ip} (pid {c.pid})")
    return EXIT_OK


def _pull(args, agent) -> int:
    reply = agent.PullImage(agent_pb2.PullImageRequest(image=args.image), timeout=args.timeout)
    if args.output == "json":
        print_json({"node": args.node, **pull_dict(reply.pull)})
    else:
        _print_pull(reply.pull)
    return EXIT_OK


def _ps(args, agent) -> int:
    reply = agent.ListContainers(agent_pb2.ListContainersRequest(), timeout=10)
    if args.output == "json":
        print_json([container_dict(c) for c in reply.containers])
    else:
        _print_containers(reply.containers)
    return EXIT_OK


def _rm(args, agent) -> int:
    agent.RemoveContainer(agent_pb2.RemoveContainerRequest(name=args.name), timeout=60)
    print(f"removed {args.name} from {args.node}")
    return EXIT_OK


def _stop(args, agent) -> int:
    c = agent.StopContainer(agent_pb2.StopContainerRequest(name=args.name), timeout=60)
    print(f"{c.name}: {STATE_NAMES.get(c.state)}")
    return EXIT_OK


def _start(args, agent) -> int:
    c = agent.StartContainer(agent_pb2.StartContainerRequest(name=args.name), timeout=60)
    print(f"{c.name}: {STATE_NAMES.get(c.state)} (pid {c.pid})")
    return EXIT_OK


def _logs(args, agent) -> int:
    reply = agent.ContainerLogs(agent_pb2.ContainerLogsRequest(name=args.name, tail_lines=args.tail), timeout=10)
    sys.stdout.write(reply.text)
    return EXIT_OK


def _prune(args, agent) -> int:
    reply = agent.PruneLayers(agent_pb2.PruneLayersRequest(), timeout=60)
    print(f"removed {len(reply.removed)} unused layers, freed {human_bytes(reply.freed_bytes)}")
    return EXIT_OK


ACTIONS = {"run": _run, "pull": _pull, "ps": _ps, "rm": _rm, "stop": _stop, "start": _start, "logs": _logs,
           "prune": _prune}
