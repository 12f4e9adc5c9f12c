"""Ctrl-C and SIGTERM for the long-running commands: stop promptly, and never in the middle of cleaning up.

A process started in the background by a non-interactive shell inherits SIGINT ignored, and
SIGTERM's default ends the process without any cleanup: both are handled explicitly, from the
very start of `strata up` / `demo`, as a KeyboardInterrupt raised in the main thread (even while
it waits in a system call). Teardown holds further signals back until it is done
(dataplane.network.interrupts_after): interrupting it is what leaves bridges and interfaces behind.
"""

from __future__ import annotations

import signal

HANDLED = (signal.SIGINT, signal.SIGTERM)


def _raise(signum, _frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def interrupt_on_signals() -> None:
    """From now on SIGINT and SIGTERM raise KeyboardInterrupt in the main thread."""
    for sig in HANDLED:
        signal.signal(sig, _raise)

