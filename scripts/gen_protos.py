"""Generates the Python gRPC code for proto/strata/v1/*.proto, next to the .proto files.

The generated *_pb2.py, *_pb2.pyi and *_pb2_grpc.py files are never edited by hand; run
`.venv/bin/python scripts/gen_protos.py` after changing a .proto (a test checks they are current).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / "strata" / "v1").glob("*.proto"))


def generate(out_dir: Path = PROTO_ROOT) -> list[Path]:
    """Run protoc (grpcio-tools) on every .proto; returns the files written under out_dir."""
    from importlib.resources import files

    from grpc_tools import protoc

    well_known = str(files("grpc_tools") / "_proto")
    sources = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={out_dir}",
            f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *sources]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on " + " ".join(sources))
    return sorted(p for p in (out_dir / "strata" / "v1").glob("*_pb2*.py*"))


if __name__ == "__main__":
    written = generate()
    print("\n".join(str(p.relative_to(PROTO_ROOT.parent)) for p in written))
    sys.exit(0)
