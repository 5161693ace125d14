"""The local fallback journal: JSONL next to the ledger, appended with fsync, drained by the next writer.

Appends must never be lost, even when the ledger is locked for longer than the timeout, so the
event goes here instead. Each line carries a ``jid``; the writer that drains the journal stores the
last ``jid`` it wrote in the same transaction as the rows, so a crash between COMMIT and truncating
the file cannot write the same events twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Drain:
    """What a writer found in the journal; call :meth:`done` after the rows are committed."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.committed = False

    def done(self) -> None:
        self.committed = True


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    def has_pending(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Append whole lines under the journal's own flock and fsync before returning."""
        data = "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in entries).encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a writer died mid-line: keep our lines whole
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    def count(self) -> int:
        try:
            with open(self.path, "rb") as fh:
                return sum(1 for line in fh if line.strip())
        except FileNotFoundError:
            return 0

    @contextlib.contextmanager
    def drain(self) -> Iterator[Drain]:
        """Read every whole line under the journal lock; truncate the file only if the caller committed."""
        if not self.has_pending():
            yield Drain([])
            return
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = b""
            while chunk := os.read(fd, 1 << 20):
                raw += chunk
            entries, bad = _parse(raw)
            if bad:
                rejected = self.path.with_name(self.path.name + ".rejected")
                with open(rejected, "ab") as fh:
                    fh.write(b"".join(line + b"\n" for line in bad))
            drain = Drain(entries)
            yield drain
            if drain.committed:
                os.ftruncate(fd, 0)
                os.fsync(fd)
        finally:
            os.close(fd)


def _parse(raw: bytes) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Whole JSON lines become entries; torn lines (a writer killed mid-write) are set aside, not guessed at."""
    entries: list[dict[str, Any]] = []
    bad: list[bytes] = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if isinstance(entry, dict) and "jid" in entry and "kind" in entry:
            entries.append(entry)
        else:
            bad.append(line)
    return entries, bad
