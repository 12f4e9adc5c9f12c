"""`strata mesh`: services, traffic policies and traffic figures of the service mesh."""

from __future__ import annotations

import argparse
import math

from strata.v1 import mesh_pb2 as pb
from strata.v1 import mesh_pb2_grpc

from .common import (EXIT_OK, INSECURE, BadInput, address_option, daemon, group_options, guarded, human_bytes,
                     json_output, print_json, shown_protocol, stack_option)

OUTLIER_FIELDS = {"consecutive_5xx": int, "interval": float, "base_ejection_time": float,
                  "max_ejection_time": float, "max_ejection_percent": int, "http_path": str, "timeout": float}


def add_parser(sub) -> None:
    mesh = sub.add_parser("mesh", help="the service mesh: services, traffic policies, traffic figures")
    after = group_options(mesh, stack_option(), INSECURE, address_option("--mesh", "the mesh"))
    actions = mesh.add_subparsers(dest="action", required=True)
    with_json = [after, json_output()]

    actions.add_parser("services", parents=with_json, help="every service: VIP, endpoints, subsets, policy")

    policy = actions.add_parser("policy", parents=[after], help="a service's traffic policy: set, get, del")
    verbs = policy.add_subparsers(dest="verb", required=True)
    set_ = verbs.add_parser("set", parents=with_json, help="replace the service's policy (options left out are off)")
    set_.add_argument("service", help="mesh service name, e.g. reviews.bookinfo (see `strata mesh services`)")
    set_.add_argument("--split", metavar="SUBSET=PCT,...", help="share of new connections per version, e.g. v1=90,v2=10")
    set_.add_argument("--locality", action="store_true", help="prefer the instances nearest the client's switch")
    set_.add_argument("--rate-limit", type=float, default=0.0, metavar="MBPS",
                      help="cap the service's traffic per client switch (an OpenFlow meter), Mbit/s")
    set_.add_argument("--outlier", nargs="?", const="", metavar="KEY=VALUE,...",
                      help="outlier detection, Envoy's names: " + ", ".join(OUTLIER_FIELDS) +
                           " (unset keys: Envoy's defaults)")
    for verb in ("get", "del"):
        p = verbs.add_parser(verb, parents=with_json, help="show the service and its policy" if verb == "get"
                             else "back to the default policy (equal shares, nothing else)")
        p.add_argument("service")

    stats = actions.add_parser("stats", parents=with_json,
                               help="connections, bytes and packets per service, subset and endpoint")
    stats.add_argument("services", nargs="*", help="service names (default: every service)")
    mesh.set_defaults(func=guarded(cmd_mesh))


def policy_dict(p: pb.TrafficPolicy) -> dict:
    out = {"split": dict(p.split), "locality": p.locality, "rate_limit_mbps": p.rate_limit_mbps,
           "outlier_detection": None}
    if p.HasField("outlier_detection"):
        o = p.outlier_detection
        out["outlier_detection"] = {name: getattr(o, name) for name in OUTLIER_FIELDS}
    return out


def service_dict(s: pb.MeshServiceInfo) -> dict:
    return {"name": s.name, "vip": s.vip, "protocol": shown_protocol(s.protocol), "port": s.port,
            "routed": s.routed, "problem": s.problem, "policy": policy_dict(s.policy),
            "endpoints": [{"host": e.endpoint.host, "ip": e.endpoint.ip, "port": e.endpoint.port,
                           "subset": e.endpoint.subset, "weight": e.weight, "ejected": e.ejected,
                           "ejected_for": round(e.ejected_for, 1), "ejections": e.ejections,
                           "consecutive_failures": e.consecutive_failures} for e in s.endpoints]}


def counters_dict(c: pb.TrafficCounters) -> dict:
    return {"connections": c.connections, "share": round(c.share, 4), "tx_packets": c.tx_packets,
            "tx_bytes": c.tx_bytes, "rx_packets": c.rx_packets, "rx_bytes": c.rx_bytes}


def traffic_dict(t: pb.ServiceTraffic) -> dict:
    return {"service": t.service, **counters_dict(t.counters), "dropped_packets": t.dropped_packets,
            "dropped_bytes": t.dropped_bytes,
            "subsets": [{"subset": s.subset, **counters_dict(s.counters)} for s in t.subsets],
            "endpoints": [{"host": e.host, "subset": e.subset, **counters_dict(e.counters)} for e in t.endpoints]}


def policy_summary(p: pb.TrafficPolicy) -> str:
    parts = []
    if p.split:
        parts.append("split " + ",".join(f"{k}={v}" for k, v in sorted(p.split.items())))
    if p.locality:
        parts.append("locality")
    if p.rate_limit_mbps:
        parts.append(f"cap {p.rate_limit_mbps:g} Mbit/s")
    if p.HasField("outlier_detection"):
        o = p.outlier_detection
        parts.append(f"outliers {o.consecutive_5xx}x/{o.interval:g}s")
    return "; ".join(parts) or "default"


def parse_split(text: str) -> dict[str, int]:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        subset, sep, percent = item.partition("=")
        if not sep or not percent.strip().isdigit():
            raise BadInput(f"--split: {item!r} is not SUBSET=PERCENT (e.g. v1=90,v2=10)")
        out[subset.strip()] = int(percent)
    return out


def parse_outlier(text: str) -> pb.OutlierDetection:
    values = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in OUTLIER_FIELDS:
            raise BadInput(f"--outlier: {item!r}: expected KEY=VALUE with KEY one of {', '.join(OUTLIER_FIELDS)}")
        kind = OUTLIER_FIELDS[key]
        try:
            values[key] = kind(value.strip().removesuffix("s") if kind is float else value.strip())
        except ValueError:
            raise BadInput(f"--outlier: {key}={value!r} is not {'a number' if kind is not str else 'text'}") from None
        if kind is float and not math.isfinite(values[key]):
            raise BadInput(f"--outlier: {key}={value!r} is not a finite number")
    return pb.OutlierDetection(**values)


def _services(args, stub) -> int:
    services = stub.ListServices(pb.ListServicesRequest(), timeout=10).services
    if args.output == "json":
        print_json([service_dict(s) for s in services])
        return EXIT_OK
    if not services:
        print("no mesh services (the orchestrator registers every deployed application's services)")
        return EXIT_OK
    print(f"{'service':<36} {'vip:port':<21} {'endpoints':>9}  {'subsets':<16} {'routed':<6}  policy")
    for s in services:
        serving = sum(1 for e in s.endpoints if e.weight > 0)
        subsets = ",".join(sorted({e.endpoint.subset for e in s.endpoints if e.endpoint.subset})) or "-"
        print(f"{s.name:<36} {s.vip + ':' + str(s.port):<21} {serving:>4}/{len(s.endpoints):<4}  {subsets:<16} "
              f"{'yes' if s.routed else 'no':<6}  {policy_summary(s.policy)}"
              + (f"  ({s.problem})" if s.problem else ""))
    return EXIT_OK


def _print_service(s: pb.MeshServiceInfo) -> None:
    print(f"{s.name}: {s.vip}:{s.port}/{shown_protocol(s.protocol)}, "
          f"{'routed' if s.routed else 'not routed yet'}" + (f"; {s.problem}" if s.problem else ""))
    print(f"  policy: {policy_summary(s.policy)}")
    if s.endpoints:
        print(f"  {'endpoint':<36} {'address':<21} {'subset':<8} {'weight':>6}  health")
    for e in s.endpoints:
        health = (f"ejected for {e.ejected_for:.0f} s" if e.ejected else
                  f"{e.consecutive_failures} failed probe(s) in a row" if e.consecutive_failures else "ok")
        if e.ejections:
            health += f" ({e.ejections} ejection(s))"
        print(f"  {e.endpoint.host:<36} {e.endpoint.ip + ':' + str(e.endpoint.port):<21} "
              f"{e.endpoint.subset or '-':<8} {e.weight:>6}  {health}")


def _policy(args, stub) -> int:
    if args.verb == "get":
        s = stub.GetService(pb.GetServiceRequest(name=args.service), timeout=10)
    elif args.verb == "del":
        s = stub.DeletePolicy(pb.DeletePolicyRequest(service=args.service), timeout=30)
    else:
        policy = pb.TrafficPolicy(split=parse_split(args.split or ""), locality=args.locality,
                                  rate_limit_mbps=args.rate_limit)
        if args.outlier is not None:
            policy.outlier_detection.CopyFrom(parse_outlier(args.outlier))
        s = stub.SetPolicy(pb.SetPolicyRequest(service=args.service, policy=policy), timeout=30)
    if args.output == "json":
        print_json(service_dict(s))
    else:
        _print_service(s)
    return EXIT_OK


def _stats(args, stub) -> int:
    services = stub.GetStats(pb.GetStatsRequest(services=args.services), timeout=60).services
    if args.output == "json":
        print_json([traffic_dict(t) for t in services])
        return EXIT_OK
    print(f"{'service / subset / endpoint':<44} {'conns':>7} {'share':>6} {'sent':>10} {'received':>10} "
          f"{'packets':>9} {'dropped':>8}")
    for t in services:
        c = t.counters
        print(f"{t.service:<44} {c.connections:>7} {'':>6} {human_bytes(c.tx_bytes):>10} "
              f"{human_bytes(c.rx_bytes):>10} {c.tx_packets + c.rx_packets:>9} {t.dropped_packets:>8}")
        for s in t.subsets if len(t.subsets) > 1 or (t.subsets and t.subsets[0].subset) else ():
            c = s.counters
            print(f"  subset {s.subset or '-':<35} {c.connections:>7} {c.share:>6.1%} {human_bytes(c.tx_bytes):>10} "
                  f"{human_bytes(c.rx_bytes):>10} {c.tx_packets + c.rx_packets:>9}")
        for e in t.endpoints:
            c = e.counters
            print(f"    {e.host:<40} {c.connections:>7} {c.share:>6.1%} {human_bytes(c.tx_bytes):>10} "
                  f"{human_bytes(c.rx_bytes):>10} {c.tx_packets + c.rx_packets:>9}")
    return EXIT_OK


ACTIONS = {"services": _services, "policy": _policy, "stats": _stats}


def cmd_mesh(args: argparse.Namespace) -> int:
    if args.action == "policy" and args.verb == "set":  # checked before connecting
        parse_split(args.split or "")
        if args.outlier is not None:
            parse_outlier(args.outlier)
    return ACTIONS[args.action](args, daemon(args, mesh_pb2_grpc.MeshServiceStub, flag="mesh", component="mesh",
                                             what="mesh"))
