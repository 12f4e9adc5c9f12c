"""`strata topo`: edge topologies: list them, describe or draw one, launch one in Mininet (root)."""

from __future__ import annotations

import argparse

from .common import (EXIT_OK, OUTPUT, BadInput, add_cluster_option, add_delays_option, add_profile_option,
                     guarded, positive_int, print_json)


def add_parser(sub) -> None:
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
    add_profile_option(topo, "show, launch: ")
    add_delays_option(topo, "show, launch: ")
    add_cluster_option(topo, "launch: ")
    OUTPUT.add(topo, after_action=False)
    topo.set_defaults(json_output=True)  # show prints JSON; list and launch refuse -o json themselves
    topo.add_argument("--openflow-port", type=int, default=6653, help="launch: OpenFlow port for the SDN daemon")
    topo.add_argument("--sdn-listen", default="127.0.0.1:50054", metavar="ADDR",
                      help="launch: gRPC address of the SDN daemon")
    topo.set_defaults(func=guarded(cmd_topo))


def load_spec(name: str, hosts_per_node: int | None, profile: str, delays: str):
    """The named topology with the server profile and delays "on" or "off", or BadInput naming the choices."""
    from topologies.catalog import load_topology

    try:
        return load_topology(name, hosts_per_node=hosts_per_node, profile=profile, delays=delays == "on")
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def check_cluster(spec, servers: list[str] | None) -> None:
    """BadInput unless the network can be split between these servers and each name resolves."""
    if not servers:
        return
    from dataplane.cluster import server_address
    from topologies.split import split_topology

    try:
        split_topology(spec, servers)
        for server in servers:
            server_address(server)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def cmd_topo(args: argparse.Namespace) -> int:
    from topologies.catalog import as_dict, describe, draw, topology_names

    if args.output == "json" and args.action != "show":
        raise BadInput("-o json: only show prints JSON")
    if args.action == "list":
        print("\n".join(topology_names()))
        return EXIT_OK
    if not args.name:
        raise BadInput("name a topology (see `strata topo list`)")
    if args.cluster and args.action != "launch":
        raise BadInput("--cluster: only launch spreads a network over servers")
    spec = load_spec(args.name, args.hosts_per_node, args.profile, args.delays)
    if args.action == "show":
        if args.output == "json":
            if args.png:
                draw(spec, args.png)  # the JSON alone on stdout
            print_json(as_dict(spec))
            return EXIT_OK
        print(describe(spec))
        if args.png:
            draw(spec, args.png)
            print(f"wrote {args.png}")
        return EXIT_OK
    check_cluster(spec, args.cluster)
    from harness.up import launch

    return launch(spec, pingall=args.pingall, openflow_port=args.openflow_port, sdn_address=args.sdn_listen,
                  sample_pairs=args.sample_pairs, cluster=args.cluster)
