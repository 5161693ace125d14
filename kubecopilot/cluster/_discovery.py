"""Discovery-based kinds: what the server serves, from ``/api``, ``/api/v1``, ``/apis`` and each group's
preferred version.

The registry is built once per `Connection` (cached weakly), so CRDs show up without any code, and the same code
works on old and current servers (API versions come from discovery, never from a table of ours). User input such as
``pods``, ``pod``, ``po``, ``Pod``, ``deployments.apps``, ``deploy`` or ``widgets.example.com`` resolves to one
`Kind`; unknown input raises `UnknownKindError` naming the closest kinds.
"""

from __future__ import annotations

import difflib
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubecopilot.errors import ClusterError, UnknownKindError

__all__ = ["Kind", "Kinds", "build_kinds", "kinds_for"]

log = logging.getLogger("kubecopilot.cluster")


@dataclass(frozen=True)
class Kind:
    """One resource type as discovery describes it (the preferred version of its group)."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    group: str
    version: str
    namespaced: bool
    verbs: tuple[str, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def full_name(self) -> str:
        """``deployments.apps``; ``pods`` for the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return base + (f"/{name}" if name else "")

    def describe(self) -> str:
        """``deployment (deployments.apps)``: how suggestions name a kind."""
        return f"{self.singular} ({self.full_name})"


def _resources(group: str, version: str, doc: dict[str, Any]) -> list[Kind]:
    out = []
    for r in doc.get("resources") or []:
        name = r.get("name") or ""
        if not name or "/" in name:  # subresources (pods/log, deployments/scale)
            continue
        kind = r.get("kind") or ""
        out.append(Kind(kind=kind, plural=name, singular=r.get("singularName") or kind.lower(),
                        short_names=tuple(r.get("shortNames") or ()), group=group, version=version,
                        namespaced=bool(r.get("namespaced")), verbs=tuple(r.get("verbs") or ())))
    return out


class Kinds:
    """The kinds registry of one cluster: resolution of user input, listing as a DataFrame."""

    def __init__(self, kinds: list[Kind], *, problems: list[str] | None = None) -> None:
        self.kinds = list(kinds)  # discovery order: core first, then groups as /apis lists them
        self.problems = list(problems or [])
        self._exact: dict[str, Kind] = {}
        self._loose: dict[str, Kind] = {}
        for k in self.kinds:  # first wins: the core group, then /apis order (built-in groups before CRDs)
            for key in (k.full_name, f"{k.singular}.{k.group}" if k.group else k.singular,
                        f"{k.kind.lower()}.{k.group}" if k.group else k.kind.lower(),
                        f"{k.plural}.{k.version}.{k.group}" if k.group else f"{k.plural}.{k.version}"):
                self._exact.setdefault(key, k)
            for key in (k.plural, k.singular, k.kind.lower(), *(s.lower() for s in k.short_names)):
                self._loose.setdefault(key, k)

    def __len__(self) -> int:
        return len(self.kinds)

    def __iter__(self):
        return iter(self.kinds)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __repr__(self) -> str:
        return f"Kinds({len(self.kinds)} kinds)"

    def find(self, name: str) -> Kind | None:
        key = name.strip().lower()
        return self._exact.get(key) or self._loose.get(key)

    def resolve(self, name: str) -> Kind:
        found = self.find(name)
        if found is None:
            raise UnknownKindError(name, [k.describe() for k in self.suggest(name)])
        return found

    def suggest(self, name: str, n: int = 3) -> list[Kind]:
        keys = {**self._loose, **self._exact}
        out: list[Kind] = []
        for match in difflib.get_close_matches(name.strip().lower(), list(keys), n=n * 4, cutoff=0.6):
            k = keys[match]
            if k not in out:
                out.append(k)
        return out[:n]

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [(k.kind, k.full_name, k.api_version, k.namespaced, ",".join(k.short_names), ",".join(k.verbs))
             for k in self.kinds],
            columns=["KIND", "NAME", "APIVERSION", "NAMESPACED", "SHORTNAMES", "VERBS"])


def build_kinds(get: Any) -> Kinds:
    """Build the registry with ``get(path) -> dict`` (a `Connection.get`, or a dict lookup in tests)."""
    problems: list[str] = []
    versions = [("", v) for v in (get("/api").get("versions") or ["v1"])[:1]]
    groups = get("/apis").get("groups") or []
    for g in groups:
        pref = (g.get("preferredVersion") or {}).get("version") or ((g.get("versions") or [{}])[0].get("version"))
        if pref:
            versions.append((g.get("name") or "", pref))

    def fetch(gv: tuple[str, str], report: bool = True) -> list[Kind]:
        group, version = gv
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            return _resources(group, version, get(path))
        except ClusterError as e:  # an unavailable aggregated API must not hide the rest
            if report:
                problems.append(f"{path}: {e}")
            log.info("discovery of %s failed: %s", path, e)
            return []

    # Resources served only by a non-preferred version (CronJob is batch/v1beta1 alone up to 1.20) come after,
    # so the preferred version of everything still wins.
    preferred = set(versions)
    others = [(g.get("name") or "", v.get("version")) for g in groups for v in g.get("versions") or []
              if v.get("version") and (g.get("name") or "", v.get("version")) not in preferred]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda gv: fetch(gv, gv in preferred), versions + others))
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(results):
        results[i] = [k for k in r if (k.group, k.plural) not in seen]
        seen.update((k.group, k.plural) for k in r)
    return Kinds([k for r in results for k in r], problems=problems)


_CACHE: weakref.WeakKeyDictionary[Any, Kinds] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def kinds_for(connection: Any, *, refresh: bool = False) -> Kinds:
    """The cached registry of ``connection`` (built on first use; ``refresh=True`` asks the server again)."""
    with _LOCK:
        cached = None if refresh else _CACHE.get(connection)
    if cached is not None:
        return cached
    kinds = build_kinds(connection.get)
    with _LOCK:
        _CACHE[connection] = kinds
    return kinds


def resolve_kind(connection: Any, name: str) -> Kind:
    """Resolve against the cache; on a miss ask discovery once more (a CRD may have just been created)."""
    found = kinds_for(connection).find(name)
    if found is not None:
        return found
    return kinds_for(connection, refresh=True).resolve(name)
