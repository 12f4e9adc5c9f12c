"""Ctrl-C and SIGTERM for the long-running commands: stop promptly, and never in the middle of cleaning up.

A process started in the background by a non-interactive shell inherits SIGINT ignored, and
SIGTERM's default ends the process without any cleanup: both are handled explicitly, from the
very start of `strata up` / `demo`, as a KeyboardInterrupt raised in the main thread (even while
it waits in a system call). During teardown a further signal is only noted: teardown is bounded
in time by itself, and interrupting it is what leaves bridges and interfaces behind.
"""

from __future__ import annotations

import contextlib
import signal

HANDLED = (signal.SIGINT, signal.SIGTERM)


def _raise(signum, _frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def interrupt_on_signals() -> None:
    """From now on SIGINT and SIGTERM raise KeyboardInterrupt in the main thread."""
    for sig in HANDLED:
        signal.signal(sig, _raise)


@contextlib.contextmanager
def deferred_signals():
    """Within the block, SIGINT/SIGTERM are only noted (the list it yields); afterwards the
    previous handlers are back."""
    noted: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in HANDLED}
    for sig in HANDLED:
        signal.signal(sig, lambda signum, _frame: noted.append(signum))
    try:
        yield noted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
