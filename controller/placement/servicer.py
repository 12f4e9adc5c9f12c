"""PlacementService over gRPC: converts messages, calls the engine, maps errors to status codes."""

from __future__ import annotations

import itertools
import time

import grpc
from prometheus_client import Counter, Histogram
from strata.v1 import placement_pb2, placement_pb2_grpc

from api.bounds import MAX_SOLVE_SECONDS

from .algorithms import ALGORITHMS, DEFAULT_SOLVER, DESCRIPTIONS, LATENCY_AWARE, STARTUP_AWARE, run
from .convert import problem_from_request, result_to_response
from .mip import SOLVERS
from .model import ProblemError
from .result import STATUSES

# A solve holds a worker: longer limits would let a few calls hold them all (docs/security.md).
MAX_TIME_LIMIT = MAX_SOLVE_SECONDS
DEFAULT_TIME_LIMIT = 60.0
SERVICE_NAME = placement_pb2.DESCRIPTOR.services_by_name["PlacementService"].full_name

SOLVES = Counter("strata_placement_solves_total", "Placement problems solved, by algorithm and result status.",
                 ["algorithm", "status"])
SOLVE_SECONDS = Histogram("strata_placement_solve_seconds", "Time an algorithm took to solve a problem.",
                          ["algorithm"], buckets=(.001, .005, .01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900))
for _algorithm, _status in itertools.product(ALGORITHMS, STATUSES):  # zeros from the start: rate() sees the first
    SOLVES.labels(_algorithm, _status)


class PlacementServicer(placement_pb2_grpc.PlacementServiceServicer):
    def Solve(self, request, context):
        algorithm = request.algorithm or "strata"
        if algorithm not in ALGORITHMS:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
        if request.solver and request.solver not in SOLVERS:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"unknown solver {request.solver!r}; choose one of {', '.join(SOLVERS)}")
        if not 0 <= request.time_limit_seconds <= MAX_TIME_LIMIT:  # also refuses NaN and infinity
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"time_limit_seconds must be from 0 to {MAX_TIME_LIMIT:g} s (0 = the default), "
                          f"got {request.time_limit_seconds:g}")
        try:
            problem = problem_from_request(request)
        except ProblemError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        weight = request.startup_weight
        if weight and (not 0 <= weight <= 1 or algorithm not in STARTUP_AWARE or problem.network is None):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"startup_weight must be from 0 to 1 and, above 0, needs the network and an algorithm "
                          f"with a start-up objective ({', '.join(STARTUP_AWARE)}); got {weight:g} for "
                          f"{algorithm}{' without a network' if problem.network is None else ''}")
        latency = request.latency_weight
        if latency and (not 0 <= latency < float("inf") or algorithm not in LATENCY_AWARE):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"latency_weight must be a finite number >= 0 and, above 0, needs an algorithm with a "
                          f"client delay objective ({', '.join(LATENCY_AWARE)}); got {latency:g} for {algorithm}")
        started, status = time.perf_counter(), "error"  # an exception out of run() is an error too
        try:
            result = run(algorithm, problem, solver=request.solver or None,
                         time_limit=request.time_limit_seconds or DEFAULT_TIME_LIMIT, seed=request.seed,
                         startup_weight=weight, latency_weight=latency)
            status = result.status
        finally:
            SOLVES.labels(algorithm, status).inc()
            SOLVE_SECONDS.labels(algorithm).observe(time.perf_counter() - started)
        return result_to_response(result)

    def ListAlgorithms(self, request, context):
        return placement_pb2.ListAlgorithmsResponse(algorithms=[
            placement_pb2.AlgorithmInfo(name=name, description=DESCRIPTIONS[name],
                                        default_solver=DEFAULT_SOLVER.get(name, "cbc"))
            for name in ALGORITHMS])


def register(server: grpc.Server) -> None:
    placement_pb2_grpc.add_PlacementServiceServicer_to_server(PlacementServicer(), server)
