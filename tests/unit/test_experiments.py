"""The paper's experiments: rows for every algorithm, failures recorded as such, CSV and PNG written."""

from __future__ import annotations

import csv

import pytest

import cli
from controller.placement import experiments


@pytest.fixture(scope="module")
def rows():
    return experiments.run_fig4("paper", [0, 1], 10.0, lambda _: None, containers=(4, 8))


def test_every_algorithm_runs_at_every_point(rows):
    seen = {(r["x"], r["seed"], r["algorithm"]) for r in rows}
    assert seen == {(x, s, a) for x in (4, 8) for s in (0, 1) for a in experiments.COMPARED}


def test_layer_sharing_beats_no_sharing_and_strata_matches_the_proven_optimum(rows):
    by = {(r["x"], r["seed"], r["algorithm"]): r for r in rows}
    for x in (4, 8):
        for seed in (0, 1):
            ilp, strata = by[x, seed, "ilp"], by[x, seed, "strata"]
            assert strata["objective"] < by[x, seed, "no-sharing"]["objective"]
            if ilp["status"] == "optimal":
                assert strata["objective"] == pytest.approx(ilp["objective"])


def test_a_failed_run_has_no_objective(rows):
    for r in rows:
        assert (r["objective"] is None) == (r["status"] not in ("optimal", "feasible"))


def test_csv_round_trips_and_plot_is_written(rows, tmp_path):
    path = experiments.write_csv(rows, tmp_path / "fig4.csv")
    with path.open() as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    back = experiments.read_csv(path)
    assert [(r["algorithm"], r["x"], r["seed"], r["status"]) for r in back] == \
        [(r["algorithm"], float(r["x"]), r["seed"], r["status"]) for r in rows]
    for read, written in zip(back, rows):
        assert read["objective"] == (pytest.approx(written["objective"]) if written["objective"] is not None else None)
    png = experiments.plot(rows, tmp_path / "fig4.png", "containers")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rejects_a_bad_seed_count(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["experiment", "fig4", "--out", "/tmp/x", "--seeds", "0"])
    assert caught.value.code == 2
