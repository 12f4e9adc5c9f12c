"""Data-plane failover measured: a 1 ms UDP stream across a cut of its path's first link, with the
SDN daemon stopped just before the cut, so only the switches' fast-failover groups can repair it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_failover", ROOT / "bench" / "failover.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fast_failover_repairs_a_cut_without_the_controller_within_100_ms():
    sent, lost = _bench().measure(True, 2.0, 6694, 20500, freeze=True)
    assert sent > 1500  # the stream ran (one datagram a millisecond, 2 s)
    assert lost < 100, f"{lost} datagrams (ms) lost across the cut"
