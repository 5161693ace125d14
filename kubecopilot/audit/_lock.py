"""A cross-process lock on a side file, with a timeout.

DuckDB lets one process hold the database file for writing and blocks even read-only opens meanwhile,
so every process takes this lock first: exclusive to write, shared to read. ``flock`` is released by
the kernel when a holder dies (SIGKILL included), so a crashed writer never wedges the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path


class LockTimeout(Exception):
    """Internal: the lock could not be had in time. Callers turn it into a journal write or a public error."""

    def __init__(self, path: Path, holder_pid: int | None) -> None:
        self.path = path
        self.holder_pid = holder_pid
        super().__init__(f"{path} is locked (holder pid {holder_pid})")


def holder_pid(path: Path) -> int | None:
    """The pid holding ``path``'s flock, from /proc/locks, else the pid the last writer left in the file."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks", encoding="ascii") as fh:
            for line in fh:
                parts = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (blocked waiters carry "->" first)
                if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK":
                    continue
                if parts[5].rsplit(":", 1)[-1] == str(inode):
                    return int(parts[4])
    except (OSError, ValueError):
        pass
    try:
        text = path.read_text(encoding="ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def hold(path: Path, *, exclusive: bool, timeout: float) -> Iterator[None]:
    """Hold the flock on ``path`` for the block; raise :class:`LockTimeout` after ``timeout`` seconds.

    Polls with a short, jittered back-off instead of a blocking ``flock`` because a blocking call
    cannot be given a timeout from a non-main thread (no SIGALRM there).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        op = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            try:
                fcntl.flock(fd, op)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(path, holder_pid(path)) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 1.5, 0.005)
        if exclusive:
            # Best effort, for the "locked by pid N" message when /proc/locks is not available.
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the flock
