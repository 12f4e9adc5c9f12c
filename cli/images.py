"""`strata images ...`: build the OCI image cache from the layer dataset, and list what it holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from images.build import CACHE_ENV, DEFAULT_CACHE, build_images, default_cache, list_images
from images.registry import RegistryError, push_all
from images.dataset import DATASET


def add_parser(sub) -> None:
    images = sub.add_parser("images", help="OCI images of the Docker Hub layer dataset: build the cache, list it")
    actions = images.add_subparsers(dest="images_command", required=True)
    cache_help = f"OCI layout folder (default: ${CACHE_ENV}, else {DEFAULT_CACHE})"

    build = actions.add_parser("build", help="build every dataset image into the cache (nothing to do if up to date)")
    build.add_argument("--cache", type=Path, default=None, metavar="DIR", help=cache_help)
    build.add_argument("--dataset", type=Path, default=DATASET, metavar="FILE",
                       help="the layer dataset (default: the bundled Docker Hub crawl)")
    build.add_argument("--only", nargs="+", default=None, metavar="NAME", help="build only these dataset images")

    push = actions.add_parser("push", help="push the cache's images to a registry (only the blobs it lacks)")
    push.add_argument("registry", help="registry base URL, e.g. http://10.0.0.2:5000")
    push.add_argument("--cache", type=Path, default=None, metavar="DIR", help=cache_help)
    push.add_argument("--image", action="append", metavar="NAME", help="only this image (repeatable)")

    ls = actions.add_parser("ls", help="the images of the cache: layers, size, manifest digest")
    ls.add_argument("--cache", type=Path, default=None, metavar="DIR", help=cache_help)
    ls.add_argument("-o", "--output", choices=("table", "json"), default="table")
    images.set_defaults(func=run)


def human_bytes(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000


def run(args: argparse.Namespace) -> int:
    try:
        if args.images_command == "build":
            return _build(args)
        if args.images_command == "push":
            return _push(args)
        return _ls(args)
    except BrokenPipeError:  # output piped into `head`: strata's main handles it
        raise
    except RegistryError as exc:
        print(f"strata images: {exc}", file=sys.stderr)
        return 3
    except (OSError, ValueError) as exc:  # a cache that is a file, a missing dataset, an unknown image name
        print(f"strata images: {exc}", file=sys.stderr)
        return 2


def _build(args: argparse.Namespace) -> int:
    report = build_images(args.cache, dataset=args.dataset, names=args.only,
                          progress=lambda line: print(line, flush=True))
    if report.up_to_date:
        print(f"{report.cache}: up to date ({report.images} images, {report.distinct_layers} distinct layers, "
              f"{human_bytes(report.layer_bytes)})")
    else:
        print(f"{report.cache}: {report.images} images, {report.distinct_layers} distinct layers, "
              f"{human_bytes(report.layer_bytes)} ({report.layer_bytes} bytes), {report.seconds:.1f} s")
    if report.without_layers:
        print(f"not built (no layer in the dataset): {', '.join(report.without_layers)}")
    return 0


def _push(args: argparse.Namespace) -> int:
    cache = args.cache or default_cache()
    list_images(cache)  # a clear error when the cache is not built
    push_all(cache, args.registry, names=args.image, progress=lambda line: print(line, flush=True))
    return 0


def _ls(args: argparse.Namespace) -> int:
    images = list_images(args.cache)
    if args.output == "json":
        print(json.dumps([{"name": image.reference, "manifest_digest": image.manifest_digest,
                           "layers": [{"digest": layer.digest, "size": layer.size} for layer in image.layers],
                           "size_bytes": image.size_bytes} for image in images], indent=1))
        return 0
    width = max([len("IMAGE"), *(len(image.reference) for image in images)])
    print(f"{'IMAGE':<{width}}  {'LAYERS':>6}  {'SIZE':>9}  MANIFEST")
    for image in images:
        print(f"{image.reference:<{width}}  {len(image.layers):>6}  {human_bytes(image.size_bytes):>9}  "
              f"{image.manifest_digest[:19]}")
    return 0
