"""`strata sdn`: the SDN daemon's gRPC API from the command line: topology, flows, service routes, paths, endpoints."""

from __future__ import annotations

import argparse

from strata.v1 import common_pb2, sdn_pb2, sdn_pb2_grpc

from api.protocols import SERVICE_PROTOCOLS, TCP, protocol_enum
from component_base.pki import Identity
from component_base.rpc import DEFAULT_ADDRESSES

from .common import (EXIT_OK, INSECURE, address_option, client, group_options, guarded, json_output, print_json,
                     print_table, shown_protocol, stack_option)


def endpoint(text: str) -> common_pb2.Endpoint:
    """HOST[:PORT[:WEIGHT]], e.g. edge1:8080:3."""
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not parts[0]:
        raise argparse.ArgumentTypeError(f"expected HOST[:PORT[:WEIGHT]], got {text!r}")
    try:
        port = int(parts[1]) if len(parts) > 1 and parts[1] else 0
        weight = int(parts[2]) if len(parts) > 2 else 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"port and weight must be integers in {text!r}") from None
    return common_pb2.Endpoint(host=parts[0], port=port, weight=weight)


def add_parser(sub) -> None:
    sdn = sub.add_parser("sdn", help="talk to the SDN daemon: topology, flows, service routes, paths, endpoints")
    after = group_options(sdn, stack_option(), INSECURE,
                          address_option("--sdn", "the SDN daemon", DEFAULT_ADDRESSES["sdn"]))
    actions = sdn.add_subparsers(dest="action", required=True)

    actions.add_parser("topology", parents=[after], help="switches, links (capacity, reserved, state) and hosts")
    flows = actions.add_parser("flows", parents=[after], help="the rules really on the switches, with counters")
    flows.add_argument("--service", default="", help="only this service's rules and group")
    flows.add_argument("--switch", default="", help="only this switch")

    route = actions.add_parser("route", parents=[after], help="service routes: a VIP load-balanced over endpoints")
    verbs = route.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", parents=[after], help="route a VIP to endpoints")
    add.add_argument("service")
    add.add_argument("--vip", required=True)
    add.add_argument("--port", type=int, required=True)
    add.add_argument("--protocol", choices=SERVICE_PROTOCOLS, default=TCP)
    add.add_argument("--endpoint", type=endpoint, action="append", required=True, metavar="HOST[:PORT[:WEIGHT]]")
    update = verbs.add_parser("update", parents=[after], help="replace a route's endpoints")
    update.add_argument("service")
    update.add_argument("--endpoint", type=endpoint, action="append", required=True, metavar="HOST[:PORT[:WEIGHT]]")
    delete = verbs.add_parser("del", parents=[after], help="remove a route")
    delete.add_argument("service")
    verbs.add_parser("list", parents=[after], help="every route")

    actions.add_parser("endpoints", parents=[after, json_output()],
                       help="the attached endpoints (pods) the controller routes to")

    path = actions.add_parser("path", parents=[after], help="compute (or install) a path between two hosts")
    path.add_argument("src")
    path.add_argument("dst")
    path.add_argument("--min-bandwidth", type=float, default=0.0, metavar="MBPS")
    path.add_argument("--install", action="store_true", help="reserve the bandwidth and install the path")
    sdn.set_defaults(func=guarded(cmd_sdn))


def _print_route(route) -> None:
    eps = ", ".join(f"{e.host}({e.ip}):{e.port} w{e.weight}" for e in route.endpoints)
    print(f"{route.service:<16} {route.vip}:{route.port}/{shown_protocol(route.protocol)}  cookie {route.cookie:#x}  -> {eps}")


def _print_path(path) -> None:
    hops = " -> ".join(f"{h.switch}[{h.in_port}>{h.out_port}]" for h in path.hops)
    print(f"{path.src} -> {path.dst}: {hops}  (bottleneck {path.bottleneck_mbps:g} Mbit/s free)")


ENDPOINT_FIELDS = ("name", "ip", "mac", "switch", "port", "node")


def _print_endpoints(endpoints, output: str) -> None:
    rows = [{f: getattr(e, f) for f in ENDPOINT_FIELDS} for e in endpoints]
    if output == "json":
        print_json(rows)
    elif not rows:
        print("no attached endpoints")
    else:
        print_table(ENDPOINT_FIELDS, [[row[f] for f in ENDPOINT_FIELDS] for row in rows])


def cmd_sdn(args: argparse.Namespace) -> int:
    stub = client(sdn_pb2_grpc.SdnServiceStub, args.sdn, "the SDN daemon", Identity("sdn"), args)
    if args.action == "topology":
        topo = stub.GetTopology(sdn_pb2.GetTopologyRequest(), timeout=10)
        print(f"{len(topo.switches)} switches, {len(topo.links)} directed links, {len(topo.hosts)} hosts")
        for s in topo.switches:
            print(f"  switch {s.name:<8} dpid {s.dpid:<4} {'connected' if s.connected else 'NOT connected'}")
        for l in topo.links:
            print(f"  link {l.src_switch}:{l.src_port} -> {l.dst_switch}:{l.dst_port}  {l.capacity_mbps:g} Mbit/s "
                  f"({l.reserved_mbps:g} reserved)  {'up' if l.up else 'DOWN'}")
        for h in topo.hosts:
            print(f"  host {h.name:<10} {h.ip:<12} {h.mac}  at {h.switch}:{h.port}  {h.role}"
                  f"{'' if h.seen else '  (not seen yet)'}")
    elif args.action == "flows":
        reply = stub.ListFlows(sdn_pb2.ListFlowsRequest(service=args.service, switch=args.switch), timeout=30)
        for sw in reply.switches:
            print(f"{sw.switch}: {len(sw.flows)} flows, {len(sw.groups)} groups")
            for f in sw.flows:
                owner = f" [{f.service}]" if f.service else ""
                print(f"  table={f.table_id} prio={f.priority} cookie={f.cookie:#x}{owner} {f.match or '*'} "
                      f"actions={f.actions} packets={f.packet_count}")
            for g in sw.groups:
                buckets = "; ".join(f"w{b.weight} {b.actions} packets={b.packet_count}" for b in g.buckets)
                print(f"  group {g.group_id} {g.type}: {buckets}")
    elif args.action == "route":
        if args.verb == "add":
            _print_route(stub.InstallServiceRoute(sdn_pb2.InstallServiceRouteRequest(
                service=args.service, vip=args.vip, protocol=protocol_enum(args.protocol), port=args.port,
                endpoints=args.endpoint), timeout=30))
        elif args.verb == "update":
            _print_route(stub.UpdateServiceRoute(sdn_pb2.UpdateServiceRouteRequest(
                service=args.service, endpoints=args.endpoint), timeout=30))
        elif args.verb == "del":
            stub.RemoveServiceRoute(sdn_pb2.RemoveServiceRouteRequest(service=args.service), timeout=30)
            print(f"removed {args.service}")
        else:
            for route in stub.ListServiceRoutes(sdn_pb2.ListServiceRoutesRequest(), timeout=10).routes:
                _print_route(route)
    elif args.action == "endpoints":
        _print_endpoints(stub.ListEndpoints(sdn_pb2.ListEndpointsRequest(), timeout=10).endpoints, args.output)
    elif args.action == "path":
        if args.install:
            installed = stub.InstallPath(sdn_pb2.InstallPathRequest(
                src=args.src, dst=args.dst, bandwidth_mbps=args.min_bandwidth), timeout=30)
            print(f"installed path {installed.id} with {installed.bandwidth_mbps:g} Mbit/s reserved")
            _print_path(installed.path)
        else:
            _print_path(stub.ComputePath(sdn_pb2.ComputePathRequest(
                src=args.src, dst=args.dst, min_bandwidth_mbps=args.min_bandwidth), timeout=10))
    return EXIT_OK
