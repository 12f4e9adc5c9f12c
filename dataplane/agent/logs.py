"""Container logs: rotated at a size cap (the newest kept, as the kubelet's containerLogMaxSize) and read with a bound."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MAX_LOG_BYTES = 10 << 20  # per file, as the kubelet's default containerLogMaxSize (10 MiB)
MAX_LOG_READ_BYTES = 1 << 20      # what one ContainerLogs answer carries at most: the newest MiB
READ_BLOCK = 64 << 10


def rotated_path(path: Path) -> Path:
    return path.with_name(path.name + ".1")


def rotate(path: Path, max_bytes: int = DEFAULT_MAX_LOG_BYTES) -> bool:
    """If the log is over `max_bytes`: its newest `max_bytes` become the rotated file (replacing the previous
    one) and the log is truncated to empty. The container's process appends (O_APPEND), so it carries on at
    the start of the emptied file; lines written between the copy and the truncation are lost, as with
    logrotate's copytruncate. A log never holds more than 2 x `max_bytes` on disk. True if it rotated."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size <= max_bytes:
        return False
    rotated = rotated_path(path)
    partial = rotated.with_name(rotated.name + ".partial")
    with open(path, "rb") as log, open(partial, "wb") as out:
        log.seek(size - max_bytes)
        remaining = max_bytes
        while remaining and (block := log.read(min(READ_BLOCK, remaining))):
            out.write(block)
            remaining -= len(block)
    os.replace(partial, rotated)
    os.truncate(path, 0)
    return True


def _tail_bytes(paths: list[Path], max_bytes: int) -> bytes:
    """The last `max_bytes` of the files' contents, as if they were one file (oldest first)."""
    parts: list[bytes] = []
    left = max_bytes
    for path in reversed(paths):
        if left <= 0:
            break
        try:
            with open(path, "rb") as log:
                size = log.seek(0, os.SEEK_END)
                start = max(size - left, 0)
                log.seek(start)
                data = log.read(size - start)
        except FileNotFoundError:
            continue
        parts.append(data)
        left -= len(data)
    return b"".join(reversed(parts))


def read_tail(path: Path, tail_lines: int = 0, max_bytes: int = MAX_LOG_READ_BYTES) -> str:
    """The log's newest lines, the rotated file's first: all of them (tail_lines 0) or the last `tail_lines`,
    never more than the last `max_bytes` (a line cut there starts the text). Invalid UTF-8 is replaced."""
    data = _tail_bytes([rotated_path(path), path], max_bytes)
    text = data.decode("utf-8", errors="replace")
    if tail_lines:
        text = "\n".join(text.splitlines()[-tail_lines:]) + ("\n" if text.endswith("\n") else "")
    return text
