"""The house plan: the import contracts in pyproject.toml hold, and they cover every package."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_every_import_follows_the_contracts():
    """A wrong-way import (a component importing another, the base importing a component) fails here."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_package_of_the_tree_is_placed_in_the_layers():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} | {"strata"}
    assert packages == set(CONFIG["root_packages"])
    layers = next(c for c in CONFIG["contracts"] if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    assert placed == packages
