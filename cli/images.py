"""`strata images`: build the OCI image cache from the layer dataset, push it to a registry, list what it holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from images import IMAGE_SCALE
from images import credentials as registry_credentials
from images.build import CACHE_ENV, DEFAULT_CACHE, build_images, default_cache, list_images
from images.dataset import DATASET
from images.registry import RegistryError, RegistryUnavailable, push_all

from .common import (IMAGE_SCALE_HELP, EXIT_OK, Unreachable, group_options, guarded, human_bytes, image_scale,
                     json_output, print_json, print_table)


def add_parser(sub) -> None:
    images = sub.add_parser("images", help="OCI images of the Docker Hub layer dataset: build the cache, list it")
    after = group_options(images)
    actions = images.add_subparsers(dest="action", required=True)
    cache_help = (f"OCI layout folder (default: ${CACHE_ENV}, else {DEFAULT_CACHE}; at another --image-scale S, "
                  "the same name with -xS)")
    scale = argparse.ArgumentParser(add_help=False)
    scale.add_argument("--image-scale", type=image_scale, default=IMAGE_SCALE, metavar="S", help=IMAGE_SCALE_HELP)

    build = actions.add_parser("build", parents=[after, scale],
                               help="build every dataset image into the cache (nothing to do if up to date)")
    build.add_argument("--cache", type=Path, default=None, metavar="DIR", help=cache_help)
    build.add_argument("--dataset", type=Path, default=DATASET, metavar="FILE",
                       help="the layer dataset (default: the bundled Docker Hub crawl)")
    build.add_argument("--only", nargs="+", default=None, metavar="NAME", help="build only these dataset images")

    push = actions.add_parser("push", parents=[after, scale],
                              help="push the cache's images to a registry (only the blobs it lacks)")
    push.add_argument("registry", help="registry base URL, e.g. http://10.0.0.2:5000")
    push.add_argument("--cache", type=Path, default=None, metavar="DIR", help=cache_help)
    push.add_argument("--image", action="append", metavar="NAME", help="only this image (repeatable)")
    push.add_argument("--credentials", type=Path, default=None, metavar="FILE",
                      help="the registry's push credentials (a registry `strata up` starts: "
                           "RUN_FOLDER/registry-credentials.json)")

    ls = actions.add_parser("ls", parents=[after, scale, json_output()],
                            help="the images of the cache: layers, size, manifest digest")
    ls.add_argument("--cache", type=Path, default=None, metavar="DIR", help=cache_help)
    # a cache that is a file, a missing dataset, an unknown image name: bad input; a registry that
    # refuses: failed
    images.set_defaults(func=guarded(run, bad_input=(OSError, ValueError), failed=(RegistryError,)))


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "push": _push, "ls": _ls}[args.action](args)


def _build(args: argparse.Namespace) -> int:
    if args.image_scale != IMAGE_SCALE and not args.only:
        raise ValueError(f"at image scale {args.image_scale:g} name the images to build (--only NAME ...): at real "
                         "sizes the whole dataset would not fit on a disk")
    report = build_images(args.cache or default_cache(args.image_scale), dataset=args.dataset, names=args.only,
                          progress=lambda line: print(line, flush=True), scale=args.image_scale)
    if report.up_to_date:
        print(f"{report.cache}: up to date ({report.images} images, {report.distinct_layers} distinct layers, "
              f"{human_bytes(report.layer_bytes)})")
    else:
        print(f"{report.cache}: {report.images} images, {report.distinct_layers} distinct layers, "
              f"{human_bytes(report.layer_bytes)} ({report.layer_bytes} bytes), {report.seconds:.1f} s")
    if report.without_layers:
        print(f"not built (no layer in the dataset): {', '.join(report.without_layers)}")
    return EXIT_OK


def _push(args: argparse.Namespace) -> int:
    cache = args.cache or default_cache(args.image_scale)
    list_images(cache)  # a clear error when the cache is not built
    try:
        push_all(cache, args.registry, names=args.image, progress=lambda line: print(line, flush=True),
                 credentials=registry_credentials.load(args.credentials) if args.credentials else None)
    except RegistryUnavailable as exc:
        raise Unreachable(str(exc)) from None
    return EXIT_OK


def _ls(args: argparse.Namespace) -> int:
    images = list_images(args.cache or default_cache(args.image_scale))
    if args.output == "json":
        print_json([{"name": image.reference, "manifest_digest": image.manifest_digest,
                     "layers": [{"digest": layer.digest, "size": layer.size} for layer in image.layers],
                     "size_bytes": image.size_bytes} for image in images])
        return EXIT_OK
    print_table(["IMAGE", "LAYERS", "SIZE", "MANIFEST"],
                [[image.reference, len(image.layers), human_bytes(image.size_bytes), image.manifest_digest[:19]]
                 for image in images])
    return EXIT_OK
