"""The `strata` command: placement, experiments, daemons, topologies, the SDN API, `up` and `demo`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from controller.placement import generators
from controller.placement.algorithms import ALGORITHMS, DESCRIPTIONS, run
from controller.placement.report import format_comparison
from controller.placement.mip import SOLVERS
from controller.placement.model import Problem, ProblemError, load_problem, problem_to_dict
from controller.placement.result import PlacementResult

EXIT_OK, EXIT_UNSOLVED, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 0, 1, 2, 3
STATE_FILE = Path("/run/strata/stack.json")  # the running stack, as `strata up` describes it


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _solver_options(parser: argparse.ArgumentParser, time_limit: float) -> None:
    parser.add_argument("--solver", choices=SOLVERS, default=None,
                        help="MIP/LP solver (default: cbc; highs for strata's exact finish)")
    parser.add_argument("--time-limit", type=positive_float, default=time_limit, metavar="S",
                        help=f"seconds per algorithm run (default: {time_limit:g})")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")


def _print_result(problem: Problem, result: PlacementResult) -> None:
    print(f"algorithm    {result.algorithm}")
    print(f"status       {result.status}" + (f"  ({result.message})" if result.message else ""))
    if result.objective is not None:
        held = any(s.held for s in problem.servers)
        print(f"objective    {result.objective:g}  "
              f"({'layer size stored anew; held layers cost nothing' if held else 'total stored layer size'})")
    if result.lower_bound is not None:
        gap = f"  (gap {100 * result.gap:.2f}%)" if result.gap is not None else ""
        print(f"lower bound  {result.lower_bound:g}{gap}")
    print(f"seconds      {result.seconds:.2f}")
    if not result.placement:
        return
    by_server: dict[str, list[str]] = {}
    for container, server in result.placement.items():
        by_server.setdefault(server, []).append(container)
    print()
    print(f"{'server':<16} {'containers':>10} {'layers':>7} {'stored':>10}  containers")
    for server in (s.name for s in problem.servers):
        if server not in by_server:
            continue
        digests = result.layers.get(server, [])
        stored = sum(problem.layer_size[d] for d in digests)
        names = ", ".join(by_server[server])
        print(f"{server:<16} {len(by_server[server]):>10} {len(digests):>7} {stored:>10g}  {names}")


CONNECT_TIMEOUT = 5.0


class Unreachable(Exception):
    """No daemon answers at the given address."""


def solve_remote(address: str, problem: Problem, args: argparse.Namespace) -> PlacementResult:
    """Solve through a running placement service; raises grpc.RpcError."""
    import grpc
    from strata.v1 import placement_pb2_grpc

    from controller.placement.convert import problem_to_request, result_from_response

    request = problem_to_request(problem, algorithm=args.algorithm, solver=args.solver,
                                 time_limit=args.time_limit, seed=args.seed)
    with grpc.insecure_channel(address) as channel:
        try:  # fail in seconds, not at the call's long deadline, when nothing listens
            grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT)
        except grpc.FutureTimeoutError:
            raise Unreachable(f"cannot reach the placement service at {address} "
                              f"within {CONNECT_TIMEOUT:g} s: is it running?") from None
        stub = placement_pb2_grpc.PlacementServiceStub(channel)
        response = stub.Solve(request, timeout=args.time_limit + 60)
    return result_from_response(response)


def cmd_place(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    if args.remote:
        import grpc

        from component_base.rpc import call_error

        try:
            result = solve_remote(args.remote, problem, args)
        except Unreachable as exc:
            print(f"strata place: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except grpc.RpcError as exc:
            print(f"strata place: {call_error(exc, args.remote)}", file=sys.stderr)
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return EXIT_BAD_INPUT
            return EXIT_UNREACHABLE
    else:
        result = run(args.algorithm, problem, solver=args.solver, time_limit=args.time_limit, seed=args.seed)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(problem, result)
    if not result.solved:
        if not args.json:
            print(f"strata place: {result.status}: {result.message}", file=sys.stderr)
        return EXIT_UNSOLVED
    return EXIT_OK


def default_problem() -> Problem:
    """The embedded default: 12 edge servers, 60 containers of real Docker Hub images."""
    return generators.dockerhub_problem(12, 60, seed=7)


def comparison_rows(problem: Problem, algorithms: list[str], solver: str, time_limit: float, seed: int,
                    progress=print) -> list[PlacementResult]:
    results = []
    for name in algorithms:
        progress(f"  running {name:<15} ...", end="", flush=True)
        result = run(name, problem, solver=solver, time_limit=time_limit, seed=seed)
        progress(f" {result.status} in {result.seconds:.2f} s")
        results.append(result)
    return results


def cmd_compare(args: argparse.Namespace) -> int:
    if args.problem:
        problem = load_problem(args.problem)
        source = args.problem
    else:
        problem = default_problem()
        source = "embedded default: real Docker Hub images (pull-weighted), paper-range edge servers"
    n_layers = len(problem.used_layers)
    print(f"problem: {source}")
    print(f"         {len(problem.servers)} servers, {len(problem.containers)} containers, "
          f"{n_layers} distinct layers, {len({c.image for c in problem.containers})} images")
    algorithms = args.algorithms.split(",") if args.algorithms else list(ALGORITHMS)
    for name in algorithms:
        if name not in ALGORITHMS:
            raise ProblemError(f"--algorithms: unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    results = comparison_rows(problem, algorithms, args.solver, args.time_limit, args.seed)
    print()
    print(format_comparison(results))
    return EXIT_OK


def cmd_experiment(args: argparse.Namespace) -> int:
    if args.name == "deploy":
        return _deploy_experiment(args)
    from controller.placement.experiments import run_experiment

    csv_path, png_path = run_experiment(args.name, Path(args.out), data=args.data, seeds=args.seeds,
                                        time_limit=args.time_limit, progress=print)
    print(f"wrote {csv_path}")
    print(f"wrote {png_path}")
    return EXIT_OK


def _deploy_experiment(args: argparse.Namespace) -> int:
    from api.app import AppError
    from harness.deploy_experiment import DEFAULT_ALGORITHMS, run_deploy_experiment

    algorithms = [a.strip() for a in args.algorithms.split(",")] if args.algorithms else list(DEFAULT_ALGORITHMS)
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        print(f"strata experiment deploy: unknown algorithm(s) {', '.join(unknown)}; choose from "
              f"{', '.join(ALGORITHMS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    peers = {"on": [True], "off": [False], "both": [True, False]}[args.peers]
    try:
        csv_path, png_path = run_deploy_experiment(args.app, args.topo, algorithms, peers, Path(args.out),
                                                   replicas=args.replicas)
    except (ValueError, ProblemError, AppError) as exc:
        print(f"strata experiment deploy: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"wrote {csv_path}")
    print(f"wrote {png_path}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from harness.serve import serve

    return serve(args)


def cmd_topo(args: argparse.Namespace) -> int:
    from topologies.catalog import describe, draw, load_topology, topology_names

    if args.action == "list":
        print("\n".join(topology_names()))
        return EXIT_OK
    if not args.name:
        raise ProblemError(f"topo {args.action}: name a topology (see `strata topo list`)")
    try:
        spec = load_topology(args.name, hosts_per_node=args.hosts_per_node)
    except ValueError as exc:
        raise ProblemError(str(exc)) from exc
    if args.action == "show":
        print(describe(spec))
        if args.png:
            draw(spec, args.png)
            print(f"wrote {args.png}")
        return EXIT_OK
    from harness.up import launch

    return launch(spec, pingall=args.pingall, openflow_port=args.openflow_port, sdn_address=args.sdn_listen,
                  sample_pairs=args.sample_pairs)


def cmd_up(args: argparse.Namespace) -> int:
    from harness.up import up
    from topologies.catalog import load_topology

    try:
        spec = load_topology(args.topo, hosts_per_node=args.hosts_per_node)
    except ValueError as exc:
        raise ProblemError(str(exc)) from exc
    from harness.stack import port_addresses

    return up(spec, all_in_one=args.all_in_one, openflow_port=args.openflow_port,
              addresses=port_addresses(args.port_base), state_file=Path(args.state), nodes=not args.no_nodes,
              images=args.image or None, sample_pairs=args.sample_pairs)


def cmd_generate(args: argparse.Namespace) -> int:
    if args.kind == "paper":
        problem = generators.paper_problem(args.containers, seed=args.seed, n_servers=args.servers)
    else:
        problem = generators.dockerhub_problem(args.servers, args.containers, seed=args.seed)
    text = json.dumps(problem_to_dict(problem), indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.out}: {len(problem.servers)} servers, {len(problem.containers)} containers")
    else:
        print(text)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="strata", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    place = sub.add_parser("place", help="place containers on servers (layer-sharing aware)")
    place.add_argument("problem", help="problem JSON file (see README: placement problem format)")
    place.add_argument("--algorithm", choices=list(ALGORITHMS), default="strata",
                       help="; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items()))
    _solver_options(place, 60.0)
    place.add_argument("--json", action="store_true", help="print the result as JSON")
    place.add_argument("--remote", metavar="ADDR",
                       help="solve through the placement service at host:port instead of in-process")
    place.set_defaults(func=cmd_place)

    compare = sub.add_parser("compare", help="run every algorithm on one problem and print a table")
    compare.add_argument("problem", nargs="?", help="problem JSON file (default: the embedded edge cluster)")
    compare.add_argument("--algorithms", help="comma-separated subset (default: all)")
    _solver_options(compare, 30.0)
    compare.set_defaults(func=cmd_compare)

    experiment = sub.add_parser("experiment", help="reproduce the paper's Fig. 4 or Fig. 5, or measure deploys live")
    experiment.add_argument("name", choices=["fig4", "fig5", "deploy"],
                            help="fig4, fig5: placement on generated problems; deploy: a real app deployed with "
                                 "each algorithm on a fresh emulated network (root)")
    experiment.add_argument("--out", required=True, help="directory for the CSV and PNG")
    experiment.add_argument("--data", choices=["paper", "dockerhub"], default="paper",
                            help="the paper's synthetic setting or real Docker Hub images")
    experiment.add_argument("--seeds", type=positive_int, default=5, help="instances per point (default: 5)")
    experiment.add_argument("--time-limit", type=positive_float, default=20.0, metavar="S",
                            help="seconds per algorithm run (default: 20)")
    experiment.add_argument("--app", default="online-boutique",
                            help="deploy: socialNetwork, online-boutique, or a Compose / Kubernetes file")
    experiment.add_argument("--topo", default="edge-tiered", help="deploy: topology (edge-tiered or zoo:NAME)")
    experiment.add_argument("--algorithms", help="deploy: comma-separated (default: strata, ilp, relax-round, "
                                                 "image-locality, first-fit, no-sharing)")
    experiment.add_argument("--replicas", type=positive_int, metavar="K",
                            help="deploy: give every service K replicas (default: as the manifest says)")
    experiment.add_argument("--peers", choices=["on", "off", "both"], default="on",
                            help="deploy: layers from the nearest holder (on), the registry only (off), or both")
    experiment.set_defaults(func=cmd_experiment)

    serve = sub.add_parser("serve", help="run a control-layer daemon in the foreground")
    serve.add_argument("component", choices=["placement", "sdn", "all", "agent", "orchestrator", "mesh", "mano"],
                       help="the daemon to run; all = placement and sdn in one process; agent = a node "
                            "agent (inside its edge server's namespace); orchestrator, mesh and mano (the VNF "
                            "manager) at the cloud site")
    serve.add_argument("--exit-with-parent", action="store_true",
                       help="stop when the process that started this one dies (used by strata up/demo)")
    serve.add_argument("--placement-listen", default="127.0.0.1:50051", metavar="ADDR",
                       help="all: gRPC address of the placement service")
    serve.add_argument("--listen", metavar="ADDR",
                       help="gRPC host:port (default: 127.0.0.1:50051 placement, 127.0.0.1:50054 sdn)")
    serve.add_argument("--topology", metavar="FILE", help="sdn: the runtime topology the launcher wrote")
    serve.add_argument("--db", default="/var/lib/strata/sdn.db", help="sdn: SQLite file of desired state")
    serve.add_argument("--openflow", default="127.0.0.1:6653", metavar="ADDR",
                       help="sdn: OpenFlow listen host:port (default: 127.0.0.1:6653)")
    serve.add_argument("--socket", metavar="PATH",
                       help="placement, sdn: also listen on this Unix socket (the management channel)")
    serve.add_argument("--config", metavar="FILE",
                       help="agent, orchestrator, mesh, mano: its configuration (JSON; strata up writes it)")
    serve.add_argument("--metrics", metavar="ADDR",
                       help="Prometheus endpoint host:port, or 'off' (default: the gRPC address's host, its port "
                            "+ 1000, e.g. 127.0.0.1:51051 for placement; agent, orchestrator: the configuration's "
                            "'metrics' key first; all: one endpoint for both daemons); see docs/metrics.md")
    serve.set_defaults(func=cmd_serve)

    topo = sub.add_parser("topo", help="edge topologies: list, show, launch in Mininet")
    topo.add_argument("action", choices=["list", "show", "launch"])
    topo.add_argument("name", nargs="?", help="edge-tiered or zoo:NAME_OR_PATH")
    topo.add_argument("--png", metavar="FILE", help="show: also draw the topology")
    topo.add_argument("--pingall", action="store_true",
                      help="launch: ping every pair of hosts, print the result, exit 1 if anything dropped")
    topo.add_argument("--sample-pairs", type=int, default=0, metavar="N",
                      help="launch: ping N random host pairs (and TCP between a few), print the result, exit 1 "
                           "if anything dropped (for networks too big to ping every pair)")
    topo.add_argument("--hosts-per-node", type=positive_int, metavar="N",
                      help="zoo networks: hosts on each node, an edge server then devices (1-16; default 2: "
                           "a server and a device). Fewer hosts launch faster")
    topo.add_argument("--openflow-port", type=int, default=6653, help="launch: OpenFlow port for the SDN daemon")
    topo.add_argument("--sdn-listen", default="127.0.0.1:50054", metavar="ADDR",
                      help="launch: gRPC address of the SDN daemon")
    topo.set_defaults(func=cmd_topo)

    from cli.app import add_parser as add_app_parser
    from cli.images import add_parser as add_images_parser
    from cli.mesh import add_parser as add_mesh_parser
    from cli.vnf import add_parser as add_vnf_parser
    from cli.node import add_parser as add_node_parser
    from cli.sdn import add_parser as add_sdn_parser

    add_sdn_parser(sub)
    add_images_parser(sub)
    add_node_parser(sub)
    add_app_parser(sub)
    add_mesh_parser(sub)
    add_vnf_parser(sub)

    demo = sub.add_parser("demo", help="the main job end to end on the default edge network (needs root)")
    demo.set_defaults(func=lambda args: __import__("harness.demo", fromlist=["run_demo"]).run_demo())

    up = sub.add_parser("up", help="start OVS, the topology and the daemons; run until interrupted")
    up.add_argument("--topo", default="edge-tiered", help="edge-tiered (default) or zoo:NAME_OR_PATH")
    up.add_argument("--hosts-per-node", type=positive_int, metavar="N",
                    help="zoo networks: hosts on each node, an edge server then devices (1-16; default 2: "
                         "a server and a device). Fewer hosts launch faster")
    up.add_argument("--all-in-one", action="store_true", help="run the daemons in one process")
    up.add_argument("--openflow-port", type=int, default=6653)
    up.add_argument("--port-base", type=int, default=50050, metavar="PORT",
                    help="gRPC ports on loopback: placement PORT+1 ... sdn PORT+4 (default: 50050)")
    up.add_argument("--state", default=str(STATE_FILE), metavar="FILE",
                    help=f"where the running stack is described for other commands (default: {STATE_FILE})")
    up.add_argument("--no-nodes", action="store_true", help="no registry and no node agents")
    up.add_argument("--sample-pairs", type=int, default=0, metavar="N",
                    help="once up, ping N random host pairs (and TCP between a few); stop with exit 1 on any loss")
    up.add_argument("--image", action="append", metavar="NAME",
                    help="push only this image to the registry (repeatable; default: every image)")
    up.set_defaults(func=cmd_up)

    generate = sub.add_parser("generate", help="write a problem file")
    generate.add_argument("kind", choices=["paper", "dockerhub"])
    generate.add_argument("--servers", type=positive_int, default=10)
    generate.add_argument("--containers", type=positive_int, default=10)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", help="file to write (default: standard output)")
    generate.set_defaults(func=cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ProblemError as exc:
        print(f"strata {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"strata {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK

