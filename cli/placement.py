"""`strata place`, `compare`, `experiment`, `generate`: container placement, solved in-process or by the placement service."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from controller.placement import generators
from controller.placement.algorithms import ALGORITHMS, DESCRIPTIONS, LATENCY_AWARE, STARTUP_AWARE, run
from controller.placement.mip import SOLVERS
from controller.placement.model import Problem, ProblemError, load_problem, problem_to_dict
from controller.placement.report import format_comparison
from controller.placement.result import PlacementResult
from controller.placement.startup import ready_seconds

from harness.request_latency import DEFAULT_REQUESTS
from images import IMAGE_SCALE

from component_base.pki import Identity

from .common import (IMAGE_SCALE_HELP, EXIT_FAILED, EXIT_OK, BadInput, add_delays_option, add_profile_option, client,
                     INSECURE, guarded, image_scale, non_negative_int, positive_float, positive_int, stack_option)


def add_parser(sub) -> None:
    place = sub.add_parser("place", help="place containers on servers (layer-sharing aware)")
    place.add_argument("problem", help="problem JSON file (see README: placement problem format)")
    place.add_argument("--algorithm", choices=list(ALGORITHMS), default="strata",
                       help="; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items()))
    _solver_options(place, 60.0)
    place.add_argument("--startup-weight", type=unit_interval, default=0.0, metavar="W",
                       help="strata: how much the estimated time until every container is ready counts beside "
                            "stored bytes, 0 (the default: least bytes; with the problem's network section, their "
                            "ties broken by that time) to 1 (time alone); above 0 needs the network section "
                            "(docs/placement.md)")
    place.add_argument("--latency-weight", type=non_negative_float, default=0.0, metavar="L",
                       help="strata, ilp: units of layer size that 1 ms of the mean delay from the containers' "
                            "declared clients is worth (0, the default: the clients count for nothing; "
                            "docs/placement.md, \"Latency-aware placement\")")
    place.add_argument("--json", action="store_true", help="print the result as JSON")
    place.add_argument("--remote", metavar="ADDR",
                       help="solve through the placement service at host:port instead of in-process")
    for option in (stack_option(), INSECURE):  # --remote: over mutual TLS when the stack runs it
        option.add(place, after_action=False)
    place.set_defaults(func=guarded(cmd_place, bad_input=(ProblemError,)))

    compare = sub.add_parser("compare", help="run every algorithm on one problem and print a table")
    compare.add_argument("problem", nargs="?", help="problem JSON file (default: the embedded edge cluster)")
    compare.add_argument("--algorithms", help="comma-separated subset (default: all)")
    _solver_options(compare, 30.0)
    compare.set_defaults(func=guarded(cmd_compare, bad_input=(ProblemError,)))

    experiment = sub.add_parser("experiment", help="reproduce the paper's Fig. 4 or Fig. 5, or measure deploys live")
    experiment.add_argument("action", choices=["fig4", "fig5", "deploy"], metavar="fig4|fig5|deploy",
                            help="fig4, fig5: placement on generated problems; deploy: a real app deployed with "
                                 "each algorithm on a fresh emulated network (root)")
    experiment.add_argument("--out", required=True, help="directory for the CSV and PNG")
    experiment.add_argument("--data", choices=["paper", "dockerhub"], default="paper",
                            help="the paper's synthetic setting or real Docker Hub images")
    experiment.add_argument("--seeds", type=positive_int, default=5, help="instances per point (default: 5)")
    experiment.add_argument("--time-limit", type=positive_float, default=20.0, metavar="S",
                            help="seconds per algorithm run (default: 20)")
    experiment.add_argument("--app", action="append", metavar="APP",
                            help="deploy: socialNetwork, online-boutique, teastore, or a Compose / Kubernetes file; "
                                 "repeat it to deploy several apps together, in that order (default: online-boutique)")
    experiment.add_argument("--topo", default="edge-tiered", help="deploy: topology (edge-tiered or zoo:NAME)")
    experiment.add_argument("--algorithms", help="deploy: comma-separated (default: strata, ilp, relax-round, "
                                                 "kube-default, image-locality, first-fit, no-sharing); "
                                                 "strata@W: strata with its start-up objective at weight W; "
                                                 "strata@latency=L (or ilp@latency=L): with the client delay "
                                                 "objective at L MiB per ms, for services that declare clients")
    experiment.add_argument("--replicas", type=positive_int, metavar="K",
                            help="deploy: give every service K replicas (default: as the manifest says)")
    experiment.add_argument("--spread", choices=["on", "off"], default="off",
                            help="deploy: on: every service of several replicas is spread over nodes (hard, at most "
                                 "one replica more on any node than on another); off: as the manifests say")
    add_profile_option(experiment, "deploy: ")
    add_delays_option(experiment, "deploy: ")
    experiment.add_argument("--ready-timeout", type=positive_float, default=600.0, metavar="S",
                            help="deploy: seconds a run waits for every service to answer; a run that takes longer "
                                 "is reported and left out of the results (default: 600)")
    experiment.add_argument("--image-scale", type=image_scale, default=IMAGE_SCALE, metavar="S",
                            help="deploy: " + IMAGE_SCALE_HELP)
    experiment.add_argument("--peers", choices=["on", "off", "both"], default="on",
                            help="deploy: layers from the nearest holder (on), the registry only (off), or both")
    experiment.add_argument("--requests", type=non_negative_int, default=DEFAULT_REQUESTS, metavar="N",
                            help="deploy: once the apps run, N requests (GET /call, one after the other) from one "
                                 "device per site to each app's front end, timed; 0: none "
                                 f"(default: {DEFAULT_REQUESTS})")
    experiment.add_argument("--front-end", action="append", metavar="SERVICE|APP=SERVICE",
                            help="deploy: the service the requests go to, for every app that has it or for APP "
                                 "(default: the service the manifests publish for users, docs/experiments.md)")
    experiment.add_argument("--clients", action="append", metavar="SERVICE=SITES",
                            help="deploy: that service of the apps declares its clients, as the strata.io/clients "
                                 "label does (frontend=site3, frontend=site1=3,site3); with strata@latency=L the "
                                 "placement weighs their delay (docs/placement.md)")
    experiment.set_defaults(func=guarded(cmd_experiment, bad_input=(ProblemError,)))

    generate = sub.add_parser("generate", help="write a problem file")
    generate.add_argument("kind", choices=["paper", "dockerhub"])
    generate.add_argument("--servers", type=positive_int, default=10)
    generate.add_argument("--containers", type=positive_int, default=10)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", help="file to write (default: standard output)")
    generate.set_defaults(func=guarded(cmd_generate))


def _solver_options(parser: argparse.ArgumentParser, time_limit: float) -> None:
    parser.add_argument("--solver", choices=SOLVERS, default=None,
                        help="MIP/LP solver (default: cbc; highs for strata's exact finish)")
    parser.add_argument("--time-limit", type=positive_float, default=time_limit, metavar="S",
                        help=f"seconds per algorithm run (default: {time_limit:g})")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")


def unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


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
    if problem.network is not None:
        print(f"ready in     {ready_seconds(problem, result.placement):.1f} s  (estimated from the network)")
    if result.client_delay_ms is not None:
        print(f"client delay {result.client_delay_ms:.1f} ms mean, {result.client_delay_max_ms:.1f} ms max  "
              "(one way, from the declared clients)")
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


def solve_remote(address: str, problem: Problem, args: argparse.Namespace) -> PlacementResult:
    """Solve through a running placement service."""
    from strata.v1 import placement_pb2_grpc

    from controller.placement.convert import problem_to_request, result_from_response

    request = problem_to_request(problem, algorithm=args.algorithm, solver=args.solver,
                                 time_limit=args.time_limit, seed=args.seed, startup_weight=args.startup_weight,
                                 latency_weight=args.latency_weight)
    service = client(placement_pb2_grpc.PlacementServiceStub, address, "the placement service", Identity("placement"),
                     args)
    response = service.Solve(request, timeout=args.time_limit + 60)
    return result_from_response(response)


def cmd_place(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    if args.startup_weight and args.algorithm not in STARTUP_AWARE:
        raise BadInput(f"--startup-weight: only {', '.join(STARTUP_AWARE)} has a start-up objective")
    if args.startup_weight and problem.network is None:
        raise BadInput(f"--startup-weight: {args.problem} has no network section (the start-up estimate's input)")
    if args.latency_weight and args.algorithm not in LATENCY_AWARE:
        raise BadInput(f"--latency-weight: only {', '.join(LATENCY_AWARE)} have a client delay objective")
    if args.remote:
        result = solve_remote(args.remote, problem, args)
    else:
        result = run(args.algorithm, problem, solver=args.solver, time_limit=args.time_limit, seed=args.seed,
                     startup_weight=args.startup_weight, latency_weight=args.latency_weight)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(problem, result)
    if not result.solved:
        if not args.json:
            print(f"strata place: {result.status}: {result.message}", file=sys.stderr)
        return EXIT_FAILED
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
            raise BadInput(f"--algorithms: unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    results = comparison_rows(problem, algorithms, args.solver, args.time_limit, args.seed)
    print()
    print(format_comparison(results))
    return EXIT_OK


def cmd_experiment(args: argparse.Namespace) -> int:
    if args.action == "deploy":
        return _deploy_experiment(args)
    from controller.placement.experiments import run_experiment

    csv_path, png_path = run_experiment(args.action, Path(args.out), data=args.data, seeds=args.seeds,
                                        time_limit=args.time_limit, progress=print)
    print(f"wrote {csv_path}")
    print(f"wrote {png_path}")
    return EXIT_OK


def _deploy_experiment(args: argparse.Namespace) -> int:
    from api.app import AppError
    from harness.deploy_experiment import (DEFAULT_ALGORITHMS, DEFAULT_APP, NotReady, run_deploy_experiment,
                                           split_algorithm)

    algorithms = [a.strip() for a in args.algorithms.split(",")] if args.algorithms else list(DEFAULT_ALGORITHMS)
    try:
        unknown = [a for a in algorithms if split_algorithm(a)[0] not in ALGORITHMS]
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if unknown:
        raise BadInput(f"unknown algorithm(s) {', '.join(unknown)}; choose from {', '.join(ALGORITHMS)}")
    peers = {"on": [True], "off": [False], "both": [True, False]}[args.peers]
    try:
        written = run_deploy_experiment(args.app or [DEFAULT_APP], args.topo, algorithms, peers, Path(args.out),
                                        replicas=args.replicas, spread=args.spread == "on", profile=args.profile,
                                        image_scale=args.image_scale, ready_timeout=args.ready_timeout,
                                        delays=args.delays == "on", requests=args.requests,
                                        front_ends=args.front_end or [], clients=args.clients or [])
    except (ValueError, AppError) as exc:
        raise BadInput(str(exc)) from None
    except NotReady as exc:
        print(f"strata experiment deploy: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


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
