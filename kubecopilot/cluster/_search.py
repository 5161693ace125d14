"""``ws.search("text")``: one case-insensitive look across the common kinds for names, labels, annotations and
container images.

Each kind is listed in its own thread. Kinds whose objects carry pod specs (pods and workloads) are listed in full,
because images live in the spec; every other kind is read as ``PartialObjectMetadataList`` (names, labels and
annotations only), which is lighter and means a Secret's values never travel. A kind the identity may not list, or
that this server does not serve, is recorded in ``.skipped`` with the reason; it never fails the search.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubecopilot.cluster._browse import SHORTCUTS
from kubecopilot.cluster._columns import redact_secret
from kubecopilot.cluster._discovery import Kind, resolve_kind
from kubecopilot.cluster._related import list_kind
from kubecopilot.cluster._table import render_text
from kubecopilot.errors import ClusterApiError, ClusterForbiddenError, UnknownKindError

__all__ = ["Match", "SearchResult", "match_object", "search"]

COLUMNS = ["KIND", "NAMESPACE", "NAME", "WHERE", "MATCH"]
_SPEC_KINDS = {"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"}
_SNIPPET = 60


@dataclass(frozen=True)
class Match:
    """One hit: the object and where the text was found (``name``, ``label``, ``annotation``, ``image``)."""

    kind: str
    namespace: str
    name: str
    where: str
    match: str


def _snippet(text: str, needle: str) -> str:
    """``text`` cut to about 60 characters around the first occurrence of ``needle``."""
    if len(text) <= _SNIPPET:
        return text
    i = text.lower().find(needle)
    start = max(0, i - (_SNIPPET - len(needle)) // 2)
    end = min(len(text), start + max(_SNIPPET, len(needle)))
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _containers(kind: str, obj: dict[str, Any]) -> Iterable[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    if kind != "Pod":
        spec = ((spec.get("template") or {}).get("spec")) or {}
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def match_object(kind: str, obj: dict[str, Any], needle: str) -> list[tuple[str, str]]:
    """(where, match) pairs of a case-insensitive ``needle`` in ``obj``'s name, labels, annotations and images."""
    n = needle.lower()
    meta = obj.get("metadata") or {}
    out: list[tuple[str, str]] = []
    name = meta.get("name") or ""
    if n in name.lower():
        out.append(("name", name))
    for where, values in (("label", meta.get("labels") or {}), ("annotation", meta.get("annotations") or {})):
        for k, v in values.items():
            if n in k.lower() or n in str(v).lower():
                out.append((where, f"{k}={_snippet(str(v), n) if n in str(v).lower() else _snippet(str(v), '')}"))
    if kind in _SPEC_KINDS:
        for c in _containers(kind, obj):
            if n in (c.get("image") or "").lower():
                out.append(("image", f"{c.get('name')}: {c.get('image')}"))
    return out


class SearchResult:
    """Matches as a table: ``.frame`` (KIND, NAMESPACE, NAME, WHERE, MATCH), ``.matches`` (`Match` objects),
    ``.skipped`` (kind → why it was not searched) and ``.kinds`` (what was searched)."""

    def __init__(self, query: str, matches: list[Match], *, kinds: list[str], skipped: dict[str, str],
                 namespace: str | None = None, context: str | None = None) -> None:
        import pandas as pd

        self.query = query
        self.matches = matches
        self.kinds = kinds
        self.skipped = skipped
        self.namespace = namespace
        self.context = context
        self.frame = pd.DataFrame([(m.kind, m.namespace, m.name, m.where, m.match) for m in matches],
                                  columns=COLUMNS)

    def __len__(self) -> int:
        return len(self.matches)

    def __iter__(self) -> Iterator[Match]:
        return iter(self.matches)

    @property
    def refs(self) -> list[str]:
        """Distinct ``kind/namespace/name`` of the objects that matched (what ``ws.get`` accepts)."""
        seen: dict[str, None] = {}
        for m in self.matches:
            seen.setdefault("/".join([m.kind.lower()] + ([m.namespace] if m.namespace else []) + [m.name]))
        return list(seen)

    def _title(self) -> str:
        where = f"namespace {self.namespace}" if self.namespace else "all namespaces"
        objects = len(self.refs)
        return (f"search {self.query!r}: {len(self)} matches in {objects} object{'s' if objects != 1 else ''} "
                f"({len(self.kinds)} kinds, {where}" + (f", {len(self.skipped)} kinds skipped" if self.skipped
                                                        else "") + ")")

    def __repr__(self) -> str:
        text = render_text(self)  # type: ignore[arg-type]
        if self.skipped:
            text += "\nskipped: " + "; ".join(f"{k} ({v})" for k, v in sorted(self.skipped.items()))
        return text

    __str__ = __repr__

    def _repr_html_(self) -> str:
        from kubecopilot.display import html_table

        e = html.escape
        needle = self.query.lower()

        def mark(text: str) -> str:
            i = text.lower().find(needle)
            if i < 0:
                return e(text)
            return (e(text[:i]) + f'<mark style="background:#fff8c5">{e(text[i:i + len(needle)])}</mark>'
                    + e(text[i + len(needle):]))

        rows = [(m.kind, m.namespace, m.name, m.where, mark(m.match)) for m in self.matches[:200]]
        more = (f'<div style="color:#57606a">{len(self.matches) - 200} more in <code>.frame</code></div>'
                if len(self.matches) > 200 else "")
        skipped = "".join(f'<div style="color:#9a6700">skipped {e(k)}: {e(v)}</div>'
                          for k, v in sorted(self.skipped.items()))
        return (f'<div class="kc-search"><div style="font-weight:600">{e(self._title())}</div>'
                + html_table(COLUMNS, rows, raw=["MATCH"], empty="no matches") + more + skipped + "</div>")


def default_kinds() -> list[str]:
    """The SHORTCUTS kinds except events (their messages are not names; use ``ws.events``)."""
    return sorted({k for k in SHORTCUTS.values() if k != "events"})


def search(conn: Any, text: str, *, namespace: str | None = None, kinds: Iterable[str | Kind] | None = None,
           max_workers: int = 8) -> SearchResult:
    """See the module docstring."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("search needs some text, e.g. ws.search('billing')")
    needle = text.strip()
    skipped: dict[str, str] = {}
    targets: list[Kind] = []
    for name in (list(kinds) if kinds is not None else default_kinds()):
        try:
            k = name if isinstance(name, Kind) else resolve_kind(conn, name)
        except UnknownKindError:
            if kinds is not None:
                raise
            skipped[str(name)] = "not served by this cluster"
            continue
        if namespace and not k.namespaced:
            continue
        if "list" not in k.verbs:
            skipped[k.full_name] = "cannot be listed"
            continue
        targets.append(k)

    def one(k: Kind) -> tuple[Kind, list[dict[str, Any]] | None, str | None]:
        try:
            items = list_kind(conn, k, namespace, metadata_only=k.kind not in _SPEC_KINDS)
        except ClusterForbiddenError as e:
            where = f' in namespace "{e.namespace}"' if e.namespace else ""
            return k, None, f'forbidden: user "{e.user}" may not {e.verb} {e.resource}{where}'
        except ClusterApiError as e:
            return k, None, f"{e.status}: {e}"
        if k.kind == "Secret" and k.group == "":
            items = [redact_secret(o) for o in items]  # the last-applied annotation would repeat the values
        return k, items, None

    matches: list[Match] = []
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(targets) or 1))) as pool:
        for k, items, problem in pool.map(one, targets):
            if problem is not None:
                skipped[k.full_name] = problem
                continue
            for obj in items or []:
                meta = obj.get("metadata") or {}
                for where, hit in match_object(k.kind, obj, needle):
                    matches.append(Match(k.kind, meta.get("namespace") or "", meta.get("name") or "", where, hit))
    order = {"name": 0, "label": 1, "image": 2, "annotation": 3}
    matches.sort(key=lambda m: (m.kind, m.namespace, m.name, order.get(m.where, 9), m.match))
    return SearchResult(needle, matches, kinds=[k.full_name for k in targets], skipped=skipped, namespace=namespace,
                        context=conn.context)
