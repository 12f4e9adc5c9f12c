"""`strata extender serve`: the placement engine's layer-sharing score served to a Kubernetes cluster as a kube-scheduler extender."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.app import DOCKER_HUB_HOSTS
from component_base.metrics import split_address
from controller.placement.extender_server import (DEFAULT_MAX_BODY, Extender, NodeCache, create_server, serve,
                                                  verb_path)
from controller.placement.layer_resolvers import (CachedResolver, CachePolicy, CatalogueLayerResolver,
                                                  RegistryLayerResolver, first_known)
from images.catalogue import default_catalogue
from images.registry import RegistryClient

from .common import EXIT_OK, guarded, positive_float, positive_int

DEFAULT_LISTEN = "127.0.0.1:8888"


def add_parser(sub) -> None:
    extender = sub.add_parser("extender", help="serve layer-sharing placement to a Kubernetes cluster's "
                                               "kube-scheduler (the HTTP extender API; docs/kubernetes.md)")
    actions = extender.add_subparsers(dest="action", required=True)
    run = actions.add_parser("serve", help="answer the scheduler's filter and prioritize calls until interrupted")
    run.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                     help=f"where to listen (default: {DEFAULT_LISTEN}; port 0: any free port, printed)")
    run.add_argument("--registry", action="append", default=[], metavar="[HOST=]URL",
                     help="read image manifests from this registry: HOST=URL for the images of registry HOST "
                          "(docker.io for Docker Hub), a bare URL for every other image (a mirror or pull-through "
                          "cache holding repositories by path, e.g. library/nginx); repeatable")
    run.add_argument("--catalogue", action="store_true",
                     help="also resolve images offline with Strata's image catalogue (after the registries)")
    run.add_argument("--nodes", type=Path, metavar="FILE",
                     help="a NodeList (kubectl get nodes -o json), read again when it changes: the nodes' images "
                          "for a scheduler that sends node names only (nodeCacheCapable: true)")
    run.add_argument("--prefix", default="", metavar="PATH",
                     help="the path of the scheduler configuration's urlPrefix (default: none)")
    run.add_argument("--filter-verb", default="filter", metavar="VERB",
                     help="the configuration's filterVerb (default: filter)")
    run.add_argument("--prioritize-verb", default="prioritize", metavar="VERB",
                     help="the configuration's prioritizeVerb (default: prioritize)")
    run.add_argument("--max-body", type=positive_int, default=DEFAULT_MAX_BODY, metavar="BYTES",
                     help=f"largest request accepted (default: {DEFAULT_MAX_BODY}); larger ones get 413")
    run.add_argument("--registry-timeout", type=positive_float, default=2.0, metavar="S",
                     help="seconds to wait for a registry (default: 2; the scheduler waits 5 s for the extender "
                          "by default)")
    run.add_argument("--tag-seconds", type=positive_float, default=CachePolicy.tag_seconds, metavar="S",
                     help=f"how long an image's layers are kept when asked by tag (default: "
                          f"{CachePolicy.tag_seconds:g}; by digest: for good)")
    extender.set_defaults(func=guarded(cmd_serve, bad_input=(OSError, ValueError)))


def registries(values: list[str], timeout: float) -> tuple[dict[str, RegistryClient], RegistryClient | None]:
    """--registry values: (registry host -> client, the client for every other image or None)."""
    by_host: dict[str, RegistryClient] = {}
    default = None
    for value in values:
        host, equals, url = value.partition("=")
        host = "docker.io" if host.lower() in DOCKER_HUB_HOSTS else host  # as image references name Docker Hub
        if not equals:
            if default is not None:
                raise ValueError(f"--registry {value}: a second registry for every image; give HOST=URL")
            default = RegistryClient(value, timeout=timeout)
        elif not host or host in by_host:
            raise ValueError(f"--registry {value}: " + ("no HOST before '='" if not host else f"{host} given twice"))
        else:
            by_host[host] = RegistryClient(url, timeout=timeout)
    return by_host, default


def cmd_serve(args: argparse.Namespace) -> int:
    if not args.registry and not args.catalogue:
        raise ValueError("give the images' source: --registry URL (repeatable) and/or --catalogue")
    host, port = split_address(args.listen)
    resolvers = []
    if args.registry:
        resolvers.append(RegistryLayerResolver(*registries(args.registry, args.registry_timeout)))
    if args.catalogue:
        resolvers.append(CatalogueLayerResolver(default_catalogue()))

    def log(line: str) -> None:
        print(f"strata extender: {line}", file=sys.stderr, flush=True)

    resolver = CachedResolver(first_known(resolvers), CachePolicy(tag_seconds=args.tag_seconds),
                              on_failure=lambda why: log(f"registry lookup failed: {why}"))
    cache = NodeCache(args.nodes)
    cache.refresh()  # a bad nodes file is refused now, not at the first request
    server, port = create_server((host, port), Extender(resolver, cache, log), prefix=args.prefix,
                                 filter_verb=args.filter_verb, prioritize_verb=args.prioritize_verb,
                                 max_body=args.max_body)
    shown = f"[{host}]" if ":" in host else host
    paths = " and ".join(f"POST http://{shown}:{port}{verb_path(args.prefix, verb)}"
                         for verb in (args.filter_verb, args.prioritize_verb))
    print(f"strata extender: serving {paths}", flush=True)
    serve(server)
    return EXIT_OK
