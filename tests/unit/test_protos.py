"""The .proto contracts: the generated gRPC code is current and every rpc, field and enum value is commented."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_matches_the_protos(tmp_path):
    gen = _generator()
    fresh = gen.generate(tmp_path)
    assert fresh, "protoc generated nothing"
    committed_dir = ROOT / "proto" / "strata" / "v1"
    fresh_names = {p.name for p in fresh}
    committed_names = {p.name for p in committed_dir.glob("*_pb2*.py*")}
    assert fresh_names == committed_names, "generated files differ: run scripts/gen_protos.py"
    for path in fresh:
        assert path.read_text() == (committed_dir / path.name).read_text(), \
            f"{path.name} is stale: run scripts/gen_protos.py"


# A message field (plain, repeated, optional or map<...>), an enum value, or an rpc.
FIELD = re.compile(r"^\s*(repeated\s+|optional\s+)?(map<[^>]+>|[\w.]+)\s+\w+\s*=\s*\d+\s*;")
ENUM_VALUE = re.compile(r"^\s*[A-Z0-9_]+\s*=\s*\d+\s*;")
RPC = re.compile(r"^\s*rpc\s")


def test_every_rpc_and_field_is_commented():
    """Each rpc, message field and enum value in the .proto files has a comment (units live there):
    a `//` comment trailing on the same line or on the line directly above."""
    missing = []
    checked = 0
    for proto in sorted((ROOT / "proto" / "strata" / "v1").glob("*.proto")):
        lines = proto.read_text().splitlines()
        for k, line in enumerate(lines):
            if not (RPC.match(line) or FIELD.match(line) or ENUM_VALUE.match(line)):
                continue
            checked += 1
            above = lines[k - 1].strip() if k else ""
            if "//" not in line and not above.startswith("//"):
                missing.append(f"{proto.name}:{k + 1}: {line.strip()}")
    assert checked, "no rpc, field or enum value found: is the proto directory right?"
    assert not missing, "rpcs, fields or enum values without a comment:\n" + "\n".join(missing)
