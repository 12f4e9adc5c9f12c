"""The restart back-off shared by the agents' container supervisor and the stack's daemon supervisor."""

from __future__ import annotations

QUICK_DEATH_SECONDS = 60.0  # a process that dies sooner than this after its start counts towards the back-off
MAX_BACKOFF_SECONDS = 30.0


def restart_delay(streak: int) -> float:
    """Seconds before starting again a process that died `streak` times in a row (each within a
    minute of its start): at once the first time (a crash after a long life costs only the start),
    then 1, 2, 4 ... up to 30 (as the kubelet's CrashLoopBackOff, on the emulation's time scale)."""
    if streak <= 1:
        return 0.0
    return min(2.0 ** (streak - 2), MAX_BACKOFF_SECONDS)
