"""Placement problems and results to and from their gRPC messages (strata.v1.placement)."""

from __future__ import annotations

from strata.v1 import common_pb2, placement_pb2

from api.bounds import MAX_ITEMS

from .model import Problem, ProblemError, ServiceRule, problem_from_dict
from .network import Attachment, Network, clients_to_list
from .result import PlacementResult

STATUS_TO_PROTO = {
    "optimal": common_pb2.SOLVE_STATUS_OPTIMAL,
    "feasible": common_pb2.SOLVE_STATUS_FEASIBLE,
    "infeasible": common_pb2.SOLVE_STATUS_INFEASIBLE,
    "error": common_pb2.SOLVE_STATUS_ERROR,
}
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}


def _attachment_message(at: Attachment) -> placement_pb2.PlacementAttachment:
    return placement_pb2.PlacementAttachment(switch=at.switch, mbps=at.mbps, delay_ms=at.delay_ms)


def network_to_message(network: Network) -> placement_pb2.PlacementNetwork:
    return placement_pb2.PlacementNetwork(
        registry=_attachment_message(network.registry),
        servers={name: _attachment_message(at) for name, at in network.servers},
        links=[placement_pb2.PlacementLink(a=link.a, b=link.b, mbps=link.mbps, delay_ms=link.delay_ms)
               for link in network.links],
        size_bytes=network.size_bytes, start_seconds=network.start_seconds,
        parallel_starts=network.parallel_starts, parallel_downloads=network.parallel_downloads)


def network_from_message(message: placement_pb2.PlacementNetwork) -> dict:
    """The problem format's "network" section; 0 (or absent) fields take their defaults."""
    def attachment(at: placement_pb2.PlacementAttachment) -> dict:
        return {"switch": at.switch, "mbps": at.mbps, **({"delay_ms": at.delay_ms} if at.delay_ms else {})}

    out = {"registry": attachment(message.registry),
           "servers": {name: attachment(at) for name, at in message.servers.items()},
           "links": [{"between": [link.a, link.b], "mbps": link.mbps, **({"delay_ms": link.delay_ms} if link.delay_ms else {})}
                     for link in message.links]}
    if message.size_bytes:
        out["size_bytes"] = message.size_bytes
    if message.HasField("start_seconds"):
        out["start_seconds"] = message.start_seconds
    if message.parallel_starts:
        out["parallel_starts"] = message.parallel_starts
    if message.parallel_downloads:
        out["parallel_downloads"] = message.parallel_downloads
    return out


def problem_to_request(problem: Problem, *, algorithm: str, solver: str | None, time_limit: float,
                       seed: int, startup_weight: float = 0.0,
                       latency_weight: float = 0.0) -> placement_pb2.SolveRequest:
    request = placement_pb2.SolveRequest(
        servers=[placement_pb2.PlacementServer(name=s.name, cpu=s.cpu, storage=s.storage, bandwidth=s.bandwidth,
                                               held_layers=sorted(s.held), zone=s.zone,
                                               memory=s.memory)
                 for s in problem.servers],
        layers=[common_pb2.Layer(digest=l.digest, size=l.size) for l in problem.layers],
        containers=[placement_pb2.PlacementContainer(name=c.name, cpu=c.cpu, bandwidth=c.bandwidth,
                                                     layers=list(c.layers), image=c.image, service=c.service,
                                                     memory=c.memory,
                                                     clients=[placement_pb2.PlacementClientSite(**client)
                                                              for client in clients_to_list(c.clients)],
                                                     max_client_delay_ms=c.max_client_delay_ms)
                    for c in problem.containers],
        algorithm=algorithm, solver=solver or "", time_limit_seconds=time_limit, seed=seed,
        rules=[rule_to_proto(r) for r in problem.rules], startup_weight=startup_weight,
        latency_weight=latency_weight)
    if problem.network is not None:
        request.network.CopyFrom(network_to_message(problem.network))
    return request


def rule_to_proto(rule: ServiceRule) -> placement_pb2.PlacementRule:
    return placement_pb2.PlacementRule(
        name=rule.name, max_per_server=rule.max_per_server, prefer_apart=rule.prefer_apart,
        spread=[placement_pb2.PlacementSpread(topology=s.topology, max_skew=s.max_skew, hard=s.hard)
                for s in rule.spread],
        placed=dict(rule.placed))


def rule_to_dict(rule: placement_pb2.PlacementRule) -> dict:
    """A rule message in the problem file's form, for the loader to validate."""
    return {"name": rule.name,
            **({"max_per_server": rule.max_per_server} if rule.max_per_server else {}),
            **({"spread": [{"topology": s.topology, "max_skew": s.max_skew, "hard": s.hard} for s in rule.spread]}
               if rule.spread else {}),
            **({"prefer_apart": True} if rule.prefer_apart else {}),
            **({"placed": dict(rule.placed)} if rule.placed else {})}


def problem_from_request(request: placement_pb2.SolveRequest) -> Problem:
    """Validated exactly as a problem file is, its lists bounded first; raises ProblemError."""
    for what in ("servers", "layers", "containers", "rules"):
        if len(getattr(request, what)) > MAX_ITEMS:
            raise ProblemError(f"{what}: {len(getattr(request, what))} entries; at most {MAX_ITEMS}")
    return problem_from_dict({
        "servers": [{"name": s.name, "cpu": s.cpu, "storage": s.storage, "bandwidth": s.bandwidth,
                     **({"held": list(s.held_layers)} if s.held_layers else {}),
                     **({"zone": s.zone} if s.zone else {}),
                     **({"memory": s.memory} if s.memory else {})}
                    for s in request.servers],
        "layers": [{"digest": l.digest, "size": l.size} for l in request.layers],
        "containers": [{"name": c.name, "cpu": c.cpu, "bandwidth": c.bandwidth, "layers": list(c.layers),
                        **({"image": c.image} if c.image else {}),
                        **({"service": c.service} if c.service else {}),
                        **({"memory": c.memory} if c.memory else {}),
                        **({"clients": [{"switch": x.switch, **({"delay_ms": x.delay_ms} if x.delay_ms else {}),
                                         **({"weight": x.weight} if x.weight else {})} for x in c.clients]}
                           if c.clients else {}),
                        **({"max_client_delay_ms": c.max_client_delay_ms} if c.max_client_delay_ms else {})}
                       for c in request.containers],
        **({"rules": [rule_to_dict(r) for r in request.rules]} if request.rules else {}),
        **({"network": network_from_message(request.network)} if request.HasField("network") else {}),
    })


def result_to_response(result: PlacementResult) -> placement_pb2.SolveResponse:
    response = placement_pb2.SolveResponse(
        algorithm=result.algorithm, status=STATUS_TO_PROTO[result.status],
        objective=result.objective or 0.0, placement=result.placement, seconds=result.seconds,
        message=result.message)
    if result.lower_bound is not None:
        response.lower_bound = result.lower_bound
    if result.client_delay_ms is not None:
        response.client_delay_ms = result.client_delay_ms
        response.client_delay_max_ms = result.client_delay_max_ms
    for server, digests in result.layers.items():
        response.layers[server].digests.extend(digests)
    return response


def result_from_response(response: placement_pb2.SolveResponse) -> PlacementResult:
    status = STATUS_FROM_PROTO.get(response.status, "error")
    solved = status in ("optimal", "feasible")
    return PlacementResult(
        algorithm=response.algorithm, status=status,
        objective=response.objective if solved else None,
        lower_bound=response.lower_bound if response.HasField("lower_bound") else None,
        placement=dict(response.placement),
        layers={server: list(stored.digests) for server, stored in response.layers.items()},
        seconds=response.seconds, message=response.message,
        client_delay_ms=response.client_delay_ms if response.HasField("client_delay_ms") else None,
        client_delay_max_ms=response.client_delay_max_ms if response.HasField("client_delay_max_ms") else None)
