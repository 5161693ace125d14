"""Log preprocessing: keep what explains a failure, drop what repeats, stay small.

A crashing container's log is mostly noise for a diagnosis: start-up banners, health-check lines, retries that
differ only in a counter. What matters is the first lines (what started, with which settings), the error lines
(and the stack trace under them) and the last lines before the exit. `preprocess_log` keeps exactly those,
folds runs of lines that differ only in numbers and timestamps into one line with a count, marks what it left
out, and caps the result. `explaining_line` picks the single line a finding quotes.
"""

from __future__ import annotations

import re

__all__ = ["ERROR_RE", "explaining_line", "is_error_line", "normalize_line", "preprocess_log"]

#: Words that make a line worth keeping (case-insensitive).
ERROR_RE = re.compile(
    r"\b(fatal|panic|error|err|exception|traceback|failed|failure|fail|denied|forbidden|refused|unauthorized|"
    r"not found|no such|cannot|can't|could not|couldn't|unable|invalid|timed? ?out|timeout|killed|oom|"
    r"out of memory|segmentation|sigsegv|abort|crash|missing|not set|exited|unreachable)\b",
    re.IGNORECASE,
)
_KLOG_ERROR = re.compile(r"^[EF]\d{4} \d\d:\d\d:\d\d")
_LEVEL = re.compile(r"\b(FATAL|PANIC|CRITICAL|CRIT|ERROR|ERR|WARN|WARNING|INFO|DEBUG)\b")
_TIMESTAMP = re.compile(
    r"^\s*(\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?"
    r"|[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+)\s*"
)
_NUMBER = re.compile(r"\d+")
_CONTINUATION = re.compile(r"^(\s+\S|\t|Caused by|goroutine \d+|created by |\s*at )")

_SEVERITY_ORDER = {"FATAL": 0, "PANIC": 0, "CRITICAL": 1, "CRIT": 1, "ERROR": 2, "ERR": 2}


def normalize_line(line: str) -> str:
    """The line without its leading timestamp and with every number replaced by ``#`` (for folding repeats)."""
    return _NUMBER.sub("#", _TIMESTAMP.sub("", line)).strip()


def is_error_line(line: str) -> bool:
    if _KLOG_ERROR.match(line):
        return True
    level = _LEVEL.search(line[:80])
    if level and level.group(1) in ("INFO", "DEBUG"):
        return False  # "INFO request path=/missing status=404" is not an error line
    return bool(ERROR_RE.search(line))


def _fold(lines: list[str]) -> list[tuple[str, int, str]]:
    """Runs of lines equal up to numbers/timestamps -> (first line, count, last line)."""
    out: list[tuple[str, int, str]] = []
    last_key = None
    for line in lines:
        key = normalize_line(line)
        if out and key == last_key and key:
            first, count, _ = out[-1]
            out[-1] = (first, count + 1, line)
        else:
            out.append((line, 1, line))
        last_key = key
    return out


def preprocess_log(text: str | None, *, head: int = 3, tail: int = 20, max_chars: int = 4000,
                   context: int = 6) -> str:
    """Keep the first ``head`` lines, every error line (plus up to ``context`` continuation lines of a stack
    trace under it) and the last ``tail`` lines; fold repeats; mark omissions; cap at ``max_chars``.

    The cap drops kept lines from the middle outward, never the last lines: what happened just before the exit
    is what explains it.
    """
    if not text:
        return ""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    folded = _fold(lines)
    n = len(folded)
    keep = [False] * n
    for i in range(min(head, n)):
        keep[i] = True
    for i in range(max(0, n - tail), n):
        keep[i] = True
    i = 0
    while i < n:
        if is_error_line(folded[i][0]):
            keep[i] = True
            j = i + 1
            while j < n and j <= i + context and _CONTINUATION.match(folded[j][0]):
                keep[j] = True
                j += 1
            i = j
            continue
        i += 1

    rendered: list[tuple[int, str]] = []   # (priority: 0 = must keep, 1 = may drop), text
    skipped = 0
    for i, (first, count, last) in enumerate(folded):
        if not keep[i]:
            skipped += 1
            continue
        if skipped:
            rendered.append((1, f"… {skipped} line(s) omitted …"))
            skipped = 0
        if count == 1:
            line = first
        elif count == 2:
            line = f"{first}\n{last}"
        else:
            line = f"{first}\n… repeated {count - 2} more time(s) …\n{last}"
        rendered.append((0 if i >= n - tail else 1, line))
    if skipped:
        rendered.append((1, f"… {skipped} line(s) omitted …"))
    return _cap(rendered, max_chars)


def _cap(rendered: list[tuple[int, str]], max_chars: int) -> str:
    text = "\n".join(t for _, t in rendered)
    if len(text) <= max_chars:
        return text
    # Drop droppable entries from the middle outward (keep the head and what precedes the tail).
    items = list(rendered)
    dropped = 0
    while len("\n".join(t for _, t in items)) > max_chars:
        droppable = [i for i, (p, _) in enumerate(items) if p == 1 and not items[i][1].startswith("… [")]
        if not droppable:
            break
        mid = droppable[len(droppable) // 2]
        dropped += items[mid][1].count("\n") + 1
        items[mid] = (2, "")
        items = [it for it in items if it[0] != 2]
    if dropped:
        items.insert(min(3, len(items)), (0, f"… [{dropped} kept line(s) dropped to stay under {max_chars} chars] …"))
    text = "\n".join(t for _, t in items)
    if len(text) > max_chars:  # still too long: the tail alone is bigger than the cap
        text = "…" + text[-(max_chars - 1):]
    return text


def explaining_line(text: str | None) -> str | None:
    """The one line that best explains why the process ended: the last FATAL/PANIC line, else the last
    ERROR line, else the last line matching an error word, else the last non-empty line."""
    if not text:
        return None
    raw = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    raw = [ln for ln in raw if ln.strip() and not (ln.strip().startswith("…") and ln.strip().endswith("…"))]
    lines = [ln.strip() for ln in raw]
    if not lines:
        return None
    best: tuple[int, int] | None = None   # (severity order, -index)
    best_line = None
    for i, line in enumerate(lines):
        if line.startswith("panic:"):
            rank = 0
        elif _KLOG_ERROR.match(line):
            rank = 2 if line[0] == "E" else 0
        else:
            m = _LEVEL.search(line[:80])
            if m and m.group(1) in _SEVERITY_ORDER:
                rank = _SEVERITY_ORDER[m.group(1)]
            elif m and m.group(1) in ("INFO", "DEBUG", "WARN", "WARNING"):
                rank = 4 if m.group(1).startswith("WARN") and ERROR_RE.search(line) else 9
            elif ERROR_RE.search(line):
                rank = 3
            else:
                rank = 9
        key = (rank, -i)
        if best is None or key < best:
            best, best_line = key, line
    if best is not None and best[0] < 9 and best_line is not None:
        return _with_continuation(best_line, raw, -best[1])
    return lines[-1]


def _with_continuation(line: str, raw: list[str], index: int, limit: int = 2, max_chars: int = 300) -> str:
    """A message the program wrapped over indented lines ("Error: ...\n       You must specify X") is one
    message: append up to ``limit`` indented continuation lines (not stack frames)."""
    out = line
    for nxt in raw[index + 1: index + 1 + limit]:
        if not nxt[:1].isspace() or re.match(r"^\s+(at |File |/|\w+\.go:|goroutine )", nxt):
            break
        out += " " + nxt.strip()
    return out if len(out) <= max_chars else out[: max_chars - 1] + "…"
