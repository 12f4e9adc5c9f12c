"""Registry gate benchmark: what the gate's relay costs a pull, against docker-registry reached directly.

A registry as `strata up` starts it (docker-registry on a private Unix socket, the gate on a TCP
address in front of it) holds layer blobs of real image sizes (random bytes, so nothing
compresses). Each blob is fetched whole with curl, the same client both ways, alternating:
- direct: from docker-registry's own Unix socket (what a pull would cost without the gate);
- gated: through the gate on 127.0.0.1 (what every node's pull goes through).
Single pulls and `--parallel` pulls at once (a deploy's nodes pulling together), `--repeat`
times each; the table shows each one's median throughput and the gated / direct ratio of time,
in this run. The emulated links (tens to hundreds of Mbit/s) are what a gated pull must beat.

    .venv/bin/python bench/registry_gate.py [--sizes-mib 32,128,512] [--parallel 4] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proto"))

LISTEN = "127.0.0.1:25011"
REPOSITORY = "bench/layers"


def random_blob(path: Path, size: int) -> str:
    """Write `size` random bytes to path (1 MiB at a time); their sha256 digest."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return "sha256:" + digest.hexdigest()


def fetch_seconds(url: str, unix_socket: Path | None = None) -> float:
    """Seconds curl takes to fetch url whole (its own clock, connection included); fails on a non-200."""
    argv = ["curl", "-sf", "-o", "/dev/null", "-w", "%{time_total}", url]
    if unix_socket is not None:
        argv[1:1] = ["--unix-socket", str(unix_socket)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"curl {url} failed ({result.returncode}): {result.stderr.strip()}")
    return float(result.stdout)


def timed_round(urls: list[str], unix_socket: Path | None, parallel: int) -> float:
    """Wall-clock seconds for `parallel` fetches of each url at once."""
    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda url: fetch_seconds(url, unix_socket), urls * parallel))
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    from dataplane.registry.server import RegistryServer
    from images.registry import RegistryClient

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mib", default="32,128,512", help="blob sizes, MiB (default 32,128,512)")
    parser.add_argument("--parallel", type=int, default=4, help="pulls at once in the parallel rounds (default 4)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per way and size (default 5)")
    args = parser.parse_args(argv)
    sizes = [int(text) << 20 for text in args.sizes_mib.split(",")]
    if args.parallel < 1 or args.repeat < 1 or not all(size > 0 for size in sizes):
        parser.error("sizes, --parallel and --repeat must be positive")

    with tempfile.TemporaryDirectory(prefix="strata-gate-bench-") as work:
        work = Path(work)
        with RegistryServer(work / "registry", LISTEN) as registry:
            client = RegistryClient(registry.url, credentials=registry.credentials)
            blobs = []
            for size in sizes:
                path = work / "blob"
                digest = random_blob(path, size)
                client.push_blob(REPOSITORY, digest, path)
                path.unlink()
                blobs.append((size, digest))
            socket = registry.upstream_socket
            print(f"{'blob':>8} {'pulls':>5} {'direct MB/s':>12} {'gated MB/s':>11} {'gated/direct time':>18}")
            for size, digest in blobs:
                path = f"/v2/{REPOSITORY}/blobs/{digest}"
                for parallel in sorted({1, args.parallel}):
                    times = {"direct": [], "gated": []}
                    for _ in range(args.repeat):  # alternate, so that noise falls on both alike
                        times["direct"].append(timed_round([f"http://registry{path}"], socket, parallel))
                        times["gated"].append(timed_round([f"{registry.url}{path}"], None, parallel))
                    direct, gated = (statistics.median(times[way]) for way in ("direct", "gated"))
                    moved = size * parallel / 1e6
                    print(f"{size >> 20:>5} MiB {parallel:>5} {moved / direct:>12.0f} {moved / gated:>11.0f} "
                          f"{gated / direct:>17.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
