"""The VNF lifecycle as ETSI GS NFV-SOL 003 describes it (pure): instance states, which operation
each state allows, and the states an operation occurrence goes through.

An instance is NOT_INSTANTIATED until an instantiation completes, then INSTANTIATED with an
operational state STARTED or STOPPED. Every lifecycle operation is an occurrence (an "LCM
operation occurrence"): PROCESSING while it runs, then COMPLETED, or FAILED_TEMP when it failed
part-way (what it started is still there), ROLLED_BACK once that is undone, FAILED when it cannot
be. An instance has at most one occurrence PROCESSING at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from component_base.errors import FailedPrecondition

NOT_INSTANTIATED, INSTANTIATED = "NOT_INSTANTIATED", "INSTANTIATED"
STARTED, STOPPED = "STARTED", "STOPPED"
INSTANTIATE, SCALE, HEAL, OPERATE, TERMINATE = "INSTANTIATE", "SCALE", "HEAL", "OPERATE", "TERMINATE"
OPERATIONS = (INSTANTIATE, SCALE, HEAL, OPERATE, TERMINATE)
PROCESSING, COMPLETED, FAILED_TEMP, FAILED, ROLLING_BACK, ROLLED_BACK = (
    "PROCESSING", "COMPLETED", "FAILED_TEMP", "FAILED", "ROLLING_BACK", "ROLLED_BACK")
OP_STATES = (PROCESSING, COMPLETED, FAILED_TEMP, FAILED, ROLLING_BACK, ROLLED_BACK)
FINAL = (COMPLETED, FAILED, ROLLED_BACK)

# occurrence state -> the states it may move to
OP_TRANSITIONS = {
    PROCESSING: (COMPLETED, FAILED_TEMP),
    FAILED_TEMP: (ROLLING_BACK, FAILED, PROCESSING),  # PROCESSING: a retry
    ROLLING_BACK: (ROLLED_BACK, FAILED_TEMP),
    COMPLETED: (), FAILED: (), ROLLED_BACK: (),
}


@dataclass(frozen=True)
class VnfState:
    instantiation: str = NOT_INSTANTIATED
    operational: str = ""   # STARTED | STOPPED once instantiated
    scale_level: int = 0    # VNFC instances (containers) in service


@dataclass(frozen=True)
class OpOccurrence:
    id: str
    instance: str
    operation: str
    state: str
    started: float
    entered: float           # when it entered its current state
    detail: str = ""         # what the operation asked (e.g. "scale to 3"), or why it failed


def check_allowed(state: VnfState, operation: str, *, busy: bool, instance: str) -> None:
    """FailedPrecondition (SOL003's 409 Conflict) naming why `operation` cannot start now."""
    if busy:
        raise FailedPrecondition(f"VNF instance {instance!r} has an operation in progress; wait for it to finish")
    if operation == INSTANTIATE:
        if state.instantiation == INSTANTIATED:
            raise FailedPrecondition(f"VNF instance {instance!r} is instantiated already")
    elif state.instantiation != INSTANTIATED:
        raise FailedPrecondition(f"VNF instance {instance!r} is not instantiated: {operation.lower()} needs an "
                                 "instantiated VNF")
    if operation in (SCALE, HEAL) and state.operational == STOPPED:
        raise FailedPrecondition(f"VNF instance {instance!r} is stopped: start it (operate) before "
                                 f"{'scaling' if operation == SCALE else 'healing'} it")


def moved(op: OpOccurrence, state: str, now: float, detail: str | None = None) -> OpOccurrence:
    """The occurrence in its next state; ValueError for a move SOL003 does not allow."""
    if state not in OP_TRANSITIONS[op.state]:
        raise ValueError(f"operation {op.id}: {op.state} cannot become {state}")
    return replace(op, state=state, entered=now, detail=op.detail if detail is None else detail)


def after(state: VnfState, operation: str, *, scale_level: int = 0, operational: str = "") -> VnfState:
    """The instance's state once `operation` completed."""
    if operation == INSTANTIATE:
        return VnfState(INSTANTIATED, STARTED, scale_level)
    if operation == TERMINATE:
        return VnfState()
    if operation == SCALE:
        return replace(state, scale_level=scale_level)
    if operation == OPERATE:
        return replace(state, operational=operational)
    return state  # HEAL: the same instance, healthy again
