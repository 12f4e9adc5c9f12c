"""Opening the SQLite databases that hold desired state: shared by every daemon and agent."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_database(path: str | Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit mode (each write is durable before the caller goes on) with a
    write-ahead log, usable from several threads (callers serialize with a lock of their own),
    and the schema created if it is missing."""
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Several writes, all or nothing (an autocommit connection commits each one otherwise)."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class LockedDatabase:
    """The base of every store of desired state: one connection (open_database) that the
    daemon's threads share, each access under the store's lock. Subclasses set `schema`."""

    schema = ""

    def __init__(self, path: str | Path):
        self._lock = threading.Lock()
        self._db = open_database(path, self.schema)

    def close(self) -> None:
        with self._lock:
            self._db.close()
