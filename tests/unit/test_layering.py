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


def _readme_layout() -> list[str]:
    """The first word of each line of the README's layout block (the one that starts with proto/)."""
    text = (ROOT / "README.md").read_text()
    start = text.index("```\nproto/strata/v1/")
    block = text[start + 4:text.index("```", start + 4)]
    return [line.split()[0] for line in block.splitlines() if line and not line.startswith(" ")]


def test_the_readme_layout_names_every_top_level_folder_and_only_folders_that_exist():
    named = _readme_layout()
    for path in named:
        assert (ROOT / path.rstrip("/")).exists(), f"README layout names {path}, which is not in the tree"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    top = {p.split("/")[0] for p in tracked if "/" in p and not p.startswith(".")}
    tops = {path.split("/")[0] for path in named}
    assert top <= tops, f"folders missing from the README layout: {sorted(top - tops)}"


def test_the_architecture_page_places_every_package_in_its_layer():
    text = (ROOT / "docs" / "architecture.md").read_text()
    layers = next(c for c in CONFIG["contracts"] if c["type"] == "layers")["layers"]
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(layers)
    for row, layer in zip(rows, layers):  # the page lists the layers top first, as the contract does
        packages = {name.strip() for name in layer.split("|")}
        cell = row.split("|")[2]
        assert {name.strip(" `") for name in cell.split(",")} == packages, row


def test_test_modules_have_unique_names_across_the_suites():
    """pytest imports test modules by their base name (no packages under tests/): two files of one
    name in unit/ and integration/ stop `make test` at collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
