"""`strata serve`, `up`, `demo`: run the system on this machine (daemons, the emulated network) through the harness."""

from __future__ import annotations

import argparse
from pathlib import Path

from images import IMAGE_SCALE

from .common import (IMAGE_SCALE_HELP, STACK_FILE, add_cluster_option, add_delays_option, add_profile_option,
                     guarded, image_scale, positive_int)
from .topo import check_cluster, load_spec


def add_parser(sub) -> None:
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
    serve.add_argument("--pki", metavar="DIR",
                       help="placement, sdn, all: the run's certificate folder (strata up makes it): serve with "
                            "mutual TLS as spiffe://strata/placement and .../sdn, every caller authorised "
                            "(docs/security.md); without it, plaintext, and only on loopback or a Unix socket")
    serve.add_argument("--config", metavar="FILE",
                       help="agent, orchestrator, mesh, mano: its configuration (JSON; strata up writes it)")
    serve.add_argument("--metrics", metavar="ADDR",
                       help="Prometheus endpoint host:port, or 'off' (default: the gRPC address's host, its port "
                            "+ 1000, e.g. 127.0.0.1:51051 for placement; agent, orchestrator: the configuration's "
                            "'metrics' key first; all: one endpoint for both daemons); see docs/metrics.md")
    serve.set_defaults(func=guarded(cmd_serve))

    up = sub.add_parser("up", help="start OVS, the topology and the daemons; run until interrupted")
    up.add_argument("--topo", default="edge-tiered", help="edge-tiered (default) or zoo:NAME_OR_PATH")
    up.add_argument("--hosts-per-node", type=positive_int, metavar="N",
                    help="zoo networks: hosts on each node, an edge server then devices (1-16; default 2: "
                         "a server and a device). Fewer hosts launch faster")
    add_profile_option(up)
    add_delays_option(up)
    add_cluster_option(up)
    up.add_argument("--all-in-one", action="store_true", help="run the daemons in one process")
    up.add_argument("--openflow-port", type=int, default=6653)
    up.add_argument("--port-base", type=int, default=50050, metavar="PORT",
                    help="gRPC ports on loopback: placement PORT+1 ... sdn PORT+4 (default: 50050)")
    up.add_argument("--state", default=str(STACK_FILE), metavar="FILE",
                    help=f"where the running stack is described for other commands (default: {STACK_FILE})")
    up.add_argument("--no-nodes", action="store_true", help="no registry and no node agents")
    up.add_argument("--sample-pairs", type=int, default=0, metavar="N",
                    help="once up, ping N random host pairs (and TCP between a few); stop with exit 1 on any loss")
    up.add_argument("--image", action="append", metavar="NAME",
                    help="push only this image to the registry (repeatable; default: every image)")
    up.add_argument("--image-scale", type=image_scale, default=IMAGE_SCALE, metavar="S",
                    help=IMAGE_SCALE_HELP + "; at another scale than the default, name the images with --image")
    up.add_argument("--insecure", action="store_true",
                    help="plaintext gRPC instead of mutual TLS between the components (the daemons then "
                         "listen on loopback and Unix sockets only; docs/security.md)")
    up.set_defaults(func=guarded(cmd_up))

    demo = sub.add_parser("demo", help="the main job end to end on the default edge network (needs root)")
    add_delays_option(demo)
    demo.add_argument("--insecure", action="store_true",
                      help="plaintext gRPC instead of mutual TLS between the components (the daemons then "
                           "listen on loopback and Unix sockets only; docs/security.md)")
    demo.set_defaults(func=guarded(cmd_demo))


def cmd_serve(args: argparse.Namespace) -> int:
    from harness.serve import serve

    return serve(args)


def cmd_up(args: argparse.Namespace) -> int:
    spec = load_spec(args.topo, args.hosts_per_node, args.profile, args.delays)
    check_cluster(spec, args.cluster)
    from harness.stack import port_addresses
    from harness.up import up

    return up(spec, all_in_one=args.all_in_one, openflow_port=args.openflow_port,
              addresses=port_addresses(args.port_base), state_file=Path(args.state), nodes=not args.no_nodes,
              images=args.image or None, sample_pairs=args.sample_pairs, image_scale=args.image_scale,
              cluster=args.cluster, tls=not args.insecure)


def cmd_demo(args: argparse.Namespace) -> int:
    from harness.demo import run_demo

    return run_demo(delays=args.delays == "on", tls=not args.insecure)
