"""Bandwidth admission and bad numbers: paths count hosts' access links too; NaN and absurd values are refused."""

from __future__ import annotations

import math

import pytest

from component_base.errors import FailedPrecondition, InvalidArgument
from controller.sdn.core import SdnCore
from controller.sdn.network import NetworkView
from controller.sdn.store import SdnStore
from flow_table_sim import declared

ONE_SWITCH = declared([("s1", "s2")], {"a": "s1", "b": "s1", "c": "s2"})


@pytest.fixture
def core(tmp_path):
    topo = dict(ONE_SWITCH, hosts=[dict(h, access_mbps=20.0) for h in ONE_SWITCH["hosts"]])
    store = SdnStore(tmp_path / "sdn.db")
    yield SdnCore(NetworkView.from_declared(topo), store)
    store.close()


def test_two_hosts_on_one_switch_cannot_reserve_more_than_their_access_links(core):
    with pytest.raises(FailedPrecondition, match="access link"):
        core.install_path("a", "b", 1e6, wait=0)
    core.install_path("a", "b", 15, wait=0)
    with pytest.raises(FailedPrecondition, match="from a has 5"):
        core.install_path("a", "c", 10, wait=0)  # a's uplink has 5 of 20 left
    core.install_path("c", "b", 5, wait=0)       # b's downlink: 5 of 20 left, taken now
    with pytest.raises(FailedPrecondition, match="to b has 0"):
        core.compute_path("c", "b", 1)


def test_removing_a_path_gives_its_access_bandwidth_back(core):
    path = core.install_path("a", "b", 20, wait=0)
    core.remove_path(path.path_id, wait=0)
    core.install_path("a", "b", 20, wait=0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 1e18])
def test_bad_bandwidths_are_refused(core, value):
    with pytest.raises(InvalidArgument):
        core.compute_path("a", "c", value)
    with pytest.raises(InvalidArgument):
        core.install_path("a", "c", value, wait=0)
    assert core.paths == {}
