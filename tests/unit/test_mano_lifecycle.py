"""The VNF lifecycle's rules (ETSI NFV-SOL 003): which operation each state allows, how an
operation occurrence moves, and the instance's state after each operation."""

from __future__ import annotations

import pytest

from component_base.errors import FailedPrecondition
from mano.lifecycle import (COMPLETED, FAILED, FAILED_TEMP, HEAL, INSTANTIATE, INSTANTIATED, NOT_INSTANTIATED,
                            OPERATE, PROCESSING, ROLLED_BACK, ROLLING_BACK, SCALE, STARTED, STOPPED, TERMINATE,
                            OpOccurrence, VnfState, after, check_allowed, moved)

FRESH, RUNNING, HALTED = VnfState(), VnfState(INSTANTIATED, STARTED, 1), VnfState(INSTANTIATED, STOPPED, 1)


@pytest.mark.parametrize("state, operation, allowed", [
    (FRESH, INSTANTIATE, True), (FRESH, SCALE, False), (FRESH, HEAL, False), (FRESH, OPERATE, False),
    (FRESH, TERMINATE, False),
    (RUNNING, INSTANTIATE, False), (RUNNING, SCALE, True), (RUNNING, HEAL, True), (RUNNING, OPERATE, True),
    (RUNNING, TERMINATE, True),
    (HALTED, SCALE, False), (HALTED, HEAL, False), (HALTED, OPERATE, True), (HALTED, TERMINATE, True),
])
def test_each_state_allows_what_sol003_allows(state, operation, allowed):
    if allowed:
        check_allowed(state, operation, busy=False, instance="fw1")
    else:
        with pytest.raises(FailedPrecondition, match="fw1"):
            check_allowed(state, operation, busy=False, instance="fw1")


def test_one_operation_at_a_time():
    with pytest.raises(FailedPrecondition, match="in progress"):
        check_allowed(RUNNING, SCALE, busy=True, instance="fw1")


def test_occurrences_move_only_as_sol003_says():
    op = OpOccurrence("op-1", "fw1", INSTANTIATE, PROCESSING, 10.0, 10.0)
    failed = moved(op, FAILED_TEMP, 12.0, "node edge3: storage full")
    assert (failed.state, failed.entered, failed.started, failed.detail) == (FAILED_TEMP, 12.0, 10.0,
                                                                           "node edge3: storage full")
    undone = moved(moved(failed, ROLLING_BACK, 13.0), ROLLED_BACK, 14.0)
    assert undone.state == ROLLED_BACK and undone.detail == "node edge3: storage full"
    for final in (undone, moved(op, COMPLETED, 11.0), moved(failed, FAILED, 13.0)):
        for state in (PROCESSING, COMPLETED, FAILED_TEMP, ROLLING_BACK):
            with pytest.raises(ValueError):
                moved(final, state, 20.0)
    with pytest.raises(ValueError):
        moved(op, ROLLED_BACK, 11.0)  # only a failed operation is rolled back


def test_the_state_after_each_operation():
    assert after(FRESH, INSTANTIATE, scale_level=2) == VnfState(INSTANTIATED, STARTED, 2)
    assert after(RUNNING, SCALE, scale_level=3).scale_level == 3
    assert after(RUNNING, OPERATE, operational=STOPPED) == HALTED
    assert after(RUNNING, HEAL) == RUNNING
    assert after(RUNNING, TERMINATE) == VnfState(NOT_INSTANTIATED, "", 0)
