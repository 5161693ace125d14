"""Redaction and the canonical encoding that the hash chain is computed over.

The encoding is sorted-key, compact JSON of the row's fields including ``prev_hash``. It is built by
string concatenation here and in SQL (:data:`CANONICAL_SQL`), so appends (Python, row by row) and
``verify()`` (DuckDB, vectorised over millions of rows) hash exactly the same bytes. Two details make
that possible: the payload is stored as the canonical JSON text we produced and embedded verbatim,
and strings are escaped the way DuckDB's ``to_json`` does (control characters as upper-case
``\\u001F``, nothing else beyond ``"`` and ``\\``; Python's ``json.dumps`` would write lower case).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
REDACTED = "<redacted>"

_ESCAPES: dict[int, str] = {i: f"\\u{i:04X}" for i in range(0x20)}
_ESCAPES.update({0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x08: "\\b", 0x0C: "\\f"})


def jstr(value: str | None) -> str:
    """A JSON string literal, byte-identical to DuckDB's ``to_json(varchar)``; ``None`` is ``null``."""
    return "null" if value is None else '"' + value.translate(_ESCAPES) + '"'


def canonical(
    *,
    seq: int,
    id: str,
    ts: dt.datetime,
    actor: str,
    action: str,
    object: str | None,
    plan_id: str | None,
    diagnosis_id: str | None,
    runbook_run_id: str | None,
    payload_json: str,
    prev_hash: str,
) -> str:
    """The text that is hashed. Keys in sorted order; keep in step with :data:`CANONICAL_SQL`."""
    return (
        '{"action":' + jstr(action)
        + ',"actor":' + jstr(actor)
        + ',"diagnosis_id":' + jstr(diagnosis_id)
        + ',"id":' + jstr(id)
        + ',"object":' + jstr(object)
        + ',"payload":' + payload_json
        + ',"plan_id":' + jstr(plan_id)
        + ',"prev_hash":' + jstr(prev_hash)
        + ',"runbook_run_id":' + jstr(runbook_run_id)
        + ',"seq":' + str(seq)
        + ',"ts":"' + ts.strftime(TS_FORMAT) + '"}'
    )  # fmt: skip


def _sql_str(column: str) -> str:
    return f"coalesce(to_json({column})::VARCHAR, 'null')"


CANONICAL_SQL = (
    "'{\"action\":' || " + _sql_str("action")
    + " || ',\"actor\":' || " + _sql_str("actor")
    + " || ',\"diagnosis_id\":' || " + _sql_str("diagnosis_id")
    + " || ',\"id\":' || " + _sql_str("id")
    + " || ',\"object\":' || " + _sql_str("object")
    + " || ',\"payload\":' || payload::VARCHAR"
    + " || ',\"plan_id\":' || " + _sql_str("plan_id")
    + " || ',\"prev_hash\":' || " + _sql_str("prev_hash")
    + " || ',\"runbook_run_id\":' || " + _sql_str("runbook_run_id")
    + " || ',\"seq\":' || seq::VARCHAR"
    + " || ',\"ts\":\"' || strftime(ts, '" + TS_FORMAT + "') || '\"}'"
)  # fmt: skip
"""The same encoding as :func:`canonical`, as a DuckDB expression over an ``audit_events`` row."""


def row_hash(canonical_text: str) -> str:
    return hashlib.sha256(canonical_text.encode("utf-8")).hexdigest()


# --- redaction -------------------------------------------------------------------------------------

# A key is secret when its last word is one of these ("db_password", "accessToken", "Authorization").
# "prompt_tokens" / "max_tokens" end in "tokens" and stay readable: LLM usage is not a credential.
_SECRET_WORDS = frozenset(
    {
        "token", "password", "passwd", "pwd", "secret", "authorization", "cookie", "credential",
        "credentials", "apikey", "passphrase", "bearer", "kubeconfig",
    }
)  # fmt: skip
# ...or when it ends with one of these word pairs ("client-key-data", "private_key", "x-api-key").
_SECRET_SUFFIXES = (
    "client-key-data", "client-key", "private-key", "api-key", "access-key", "secret-key", "ssh-key",
    "signing-key", "encryption-key", "set-cookie", "id-token", "refresh-token",
)  # fmt: skip
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_BEARER = re.compile(r"^\s*(bearer|basic)\s+\S", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a credential (see the word lists above for the rule)."""
    norm = re.sub(r"[\s_.]+", "-", _CAMEL.sub("-", key)).lower().strip("-")
    if not norm:
        return False
    if norm.endswith(_SECRET_SUFFIXES):
        return True
    return norm.rsplit("-", 1)[-1] in _SECRET_WORDS


def sanitize(value: Any, _depth: int = 0) -> Any:
    """A JSON-safe copy with credentials replaced by ``"<redacted>"`` (done before hashing and journaling).

    Also redacts the ``data``/``stringData`` of a Kubernetes Secret and ``Bearer ...`` strings, and turns
    values JSON cannot hold (NaN, datetimes, sets, arbitrary objects) into strings.
    """
    if _depth > 64:
        return "<too deep>"
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and _BEARER.match(value):
            return REDACTED
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        is_k8s_secret = value.get("kind") == "Secret"
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            if is_secret_key(key) or (is_k8s_secret and key in ("data", "stringData")):
                out[key] = REDACTED
            else:
                out[key] = sanitize(v, _depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [sanitize(v, _depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((sanitize(v, _depth + 1) for v in value), key=repr)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def dumps_canonical(value: Any) -> str:
    """Sorted keys, compact, UTF-8 kept: the one way payloads and labels become text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_json(payload: Any) -> str:
    """Canonical payload text: sanitized, then :func:`dumps_canonical`. Stored verbatim and hashed verbatim."""
    return dumps_canonical(sanitize(payload if payload is not None else {}))
