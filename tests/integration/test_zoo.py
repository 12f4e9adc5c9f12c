"""A real Topology Zoo network (Abilene: 11 nodes, loops) under the SDN controller."""

from __future__ import annotations

from conftest import launch


def test_pingall_abilene(tmp_path_factory):
    running = launch("zoo:Abilene", tmp_path_factory)
    try:
        assert running.network.ping_all(timeout=2) == 0
    finally:
        running.stop()
