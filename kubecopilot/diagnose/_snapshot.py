"""`Snapshot`: everything gathered for one diagnosis or triage, indexed for the analyzers.

Analyzers never call the API: they read a snapshot. Triage fills it from one list call per kind; a single-object
diagnosis fills it from targeted reads around the object. ``complete`` records which (kind, namespace) pairs were
listed in full, so an analyzer only claims "no Service named X exists" when it has seen every Service there.

Secrets are stored as keys and sizes; their decoded values are kept apart in ``secret_values`` (for the LLM
sanitizer to redact) and never rendered: `__repr__` counts them, nothing else prints them.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubecopilot.diagnose._util import event_time, labels_match, obj_ref

__all__ = ["Snapshot"]

_MIN_SECRET_LEN = 4   # shorter values ("1", "on") carry no secret and would wreck every text they were redacted from


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return obj


@dataclass(eq=False)
class Snapshot:
    """Objects by kind and (namespace, name), events, logs and what could not be read."""

    scope: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    objects: dict[str, dict[tuple[str | None, str], dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    logs: dict[tuple[str, str, str, bool], str] = field(default_factory=dict)
    complete: set[tuple[str, str | None]] = field(default_factory=set)
    missing: set[tuple[str, str | None, str]] = field(default_factory=set)   # read and got 404
    listed_selectors: set[tuple[str, str]] = field(default_factory=set)     # (namespace, selector) pods listed
    errors: list[str] = field(default_factory=list)
    secret_values: list[str] = field(repr=False, default_factory=list)
    target: str | None = None

    def __post_init__(self) -> None:
        self._by_uid: dict[str, dict[str, Any]] = {}
        self._kind_of_uid: dict[str, str] = {}
        self._events_by_uid: dict[str, list[dict[str, Any]]] | None = None
        self._events_by_name: dict[tuple[str, str | None, str], list[dict[str, Any]]] | None = None
        self._children: dict[str, list[dict[str, Any]]] | None = None
        self._label_index: dict[str, dict[tuple[str, str], set[int]]] | None = None
        self._pods_by_ns: dict[str, list[dict[str, Any]]] | None = None

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in sorted(self.objects.items()) if v)
        return (f"Snapshot({self.scope!r}, {counts or 'empty'}, events={len(self.events)}, logs={len(self.logs)}, "
                f"errors={len(self.errors)}, secret_values=<{len(self.secret_values)} hidden>)")

    # -- filling -----------------------------------------------------------------------------------------------
    def _dirty(self) -> None:
        self._events_by_uid = self._events_by_name = self._children = self._label_index = self._pods_by_ns = None

    def add(self, kind: str, items: Iterable[dict[str, Any]], *, complete_ns: str | None = "",
            keep_secret_values: bool = True) -> None:
        """Store objects of ``kind``; ``complete_ns`` (a namespace, or None for all) marks a full listing.

        Secrets keep keys and sizes only; their values go to `secret_values` when ``keep_secret_values`` (the
        Secrets a diagnosed object references), or nowhere (a listing made only to know which names exist)."""
        store = self.objects.setdefault(kind, {})
        for obj in items:
            if kind == "Secret":
                obj = self._secret_meta(obj, keep_secret_values)
            elif kind == "ConfigMap":
                obj = self._configmap_meta(obj)
            obj = _strip(obj)
            meta = obj.get("metadata") or {}
            store[(meta.get("namespace"), meta.get("name", ""))] = obj
            uid = meta.get("uid")
            if uid:
                self._by_uid[uid] = obj
                self._kind_of_uid[uid] = kind
        if complete_ns != "":
            self.complete.add((kind, complete_ns))
        self._dirty()

    def add_events(self, items: Iterable[dict[str, Any]]) -> None:
        seen = {(e.get("metadata") or {}).get("uid") for e in self.events}
        for e in items:
            uid = (e.get("metadata") or {}).get("uid")
            if uid and uid in seen:
                continue
            seen.add(uid)
            self.events.append(_strip(e))
        self._dirty()

    def _secret_meta(self, secret: dict[str, Any], keep: bool = True) -> dict[str, Any]:
        """Keys and sizes stay; decoded values go to `secret_values` only (or are dropped)."""
        data = secret.pop("data", None) or {}
        string_data = secret.pop("stringData", None) or {}
        sizes: dict[str, int] = {}
        public: set[str] = set()
        if secret.get("type") == "kubernetes.io/service-account-token":
            public = {"ca.crt", "namespace"}   # the cluster CA and the namespace name are not secrets
        for key, value in data.items():
            try:
                raw = base64.b64decode(value or "")
            except (ValueError, TypeError):
                raw = b""
            sizes[key] = len(raw)
            if keep and key not in public:
                self._keep_secret(raw.decode(errors="replace"))
        for key, value in string_data.items():
            sizes[key] = len(str(value).encode())
            if keep:
                self._keep_secret(str(value))
        secret["keys"] = sizes
        return secret

    def _keep_secret(self, text: str) -> None:
        values = [text]
        try:  # registry credentials: the inner auth strings and passwords are secrets of their own
            doc = json.loads(text)
            if isinstance(doc, dict):
                for entry in (doc.get("auths") or {}).values():
                    if isinstance(entry, dict):
                        values += [str(entry[k]) for k in ("auth", "password", "identitytoken") if entry.get(k)]
                        if entry.get("auth"):
                            decoded = base64.b64decode(str(entry["auth"]) + "==").decode(errors="replace")
                            values += [decoded, decoded.partition(":")[2]]
        except (ValueError, TypeError):
            pass
        for v in values:
            v = v.strip()
            if len(v) >= _MIN_SECRET_LEN and v not in self.secret_values:
                self.secret_values.append(v)

    @staticmethod
    def _configmap_meta(cm: dict[str, Any]) -> dict[str, Any]:
        """ConfigMap values are not secret, but only their keys matter to the analyzers; keep sizes."""
        data = cm.pop("data", None) or {}
        binary = cm.pop("binaryData", None) or {}
        cm["keys"] = {k: len(str(v)) for k, v in {**data, **binary}.items()}
        return cm

    # -- reading -----------------------------------------------------------------------------------------------
    def all(self, kind: str) -> list[dict[str, Any]]:
        return list((self.objects.get(kind) or {}).values())

    def in_ns(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        return [o for (ns, _), o in (self.objects.get(kind) or {}).items() if ns == namespace]

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return (self.objects.get(kind) or {}).get((namespace, name))

    def by_uid(self, uid: str | None) -> dict[str, Any] | None:
        return self._by_uid.get(uid or "")

    def kind_of(self, obj: dict[str, Any]) -> str:
        uid = (obj.get("metadata") or {}).get("uid")
        if uid and uid in self._kind_of_uid:
            return self._kind_of_uid[uid]
        return str(obj.get("kind") or "Object")

    def is_complete(self, kind: str, namespace: str | None) -> bool:
        return (kind, namespace) in self.complete or (kind, None) in self.complete

    def known_missing(self, kind: str, namespace: str | None, name: str) -> bool:
        """True if we *know* the object does not exist (a 404, or a full listing without it)."""
        if (kind, namespace, name) in self.missing:
            return True
        return self.is_complete(kind, namespace) and self.get(kind, namespace, name) is None

    def names(self, kind: str, namespace: str | None) -> list[str]:
        return sorted(name for (ns, name) in (self.objects.get(kind) or {}) if ns == namespace)

    def ref(self, obj: dict[str, Any], kind: str | None = None) -> str:
        meta = obj.get("metadata") or {}
        return obj_ref(kind or self.kind_of(obj), meta.get("namespace"), meta.get("name", "?"))

    # -- relations ---------------------------------------------------------------------------------------------
    def controller_ref(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
        for r in refs:
            if r.get("controller"):
                return r
        return refs[0] if refs else None

    def owner(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        ref = self.controller_ref(obj)
        if not ref:
            return None
        found = self.by_uid(ref.get("uid"))
        if found is None:
            ns = (obj.get("metadata") or {}).get("namespace")
            found = self.get(str(ref.get("kind")), ns, str(ref.get("name")))
        return found

    def owner_chain(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cur = obj
        for _ in range(5):
            nxt = self.owner(cur)
            if nxt is None or nxt in out:
                break
            out.append(nxt)
            cur = nxt
        return out

    def top_ref(self, obj: dict[str, Any], kind: str | None = None) -> str:
        """The ref of the top-level controller (Deployment over ReplicaSet over Pod; CronJob over Job over Pod);
        an owner that is referenced but not in the snapshot still counts, by its reference."""
        cur, cur_kind = obj, kind or self.kind_of(obj)
        for _ in range(5):
            ref = self.controller_ref(cur)
            if not ref:
                break
            nxt = self.owner(cur)
            if nxt is None:
                ns = (cur.get("metadata") or {}).get("namespace")
                return obj_ref(str(ref.get("kind")), ns, str(ref.get("name")))
            cur, cur_kind = nxt, self.kind_of(nxt)
        return self.ref(cur, cur_kind)

    def children(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """Objects whose ownerReferences name ``obj`` (pods of a ReplicaSet or Job, Jobs of a CronJob, ...)."""
        if self._children is None:
            index: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for store in self.objects.values():
                for o in store.values():
                    for r in (o.get("metadata") or {}).get("ownerReferences") or []:
                        if r.get("uid"):
                            index[r["uid"]].append(o)
            self._children = index
        return list(self._children.get((obj.get("metadata") or {}).get("uid") or "", []))

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if self._pods_by_ns is None:
            by: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for (ns, _), pod in (self.objects.get("Pod") or {}).items():
                by[ns or ""].append(pod)
            self._pods_by_ns = by
        if namespace is None:
            return [p for pods in self._pods_by_ns.values() for p in pods]
        return list(self._pods_by_ns.get(namespace, []))

    def selected_pods(self, namespace: str, selector: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Pods of ``namespace`` a selector matches (plain Service selector or LabelSelector)."""
        if not selector:
            return []
        pods = self.pods(namespace)
        plain = selector.get("matchLabels") if "matchLabels" in selector or "matchExpressions" in selector \
            else selector
        if plain and self._label_index is None:
            index: dict[str, dict[tuple[str, str], set[int]]] = {}
            for ns, ns_pods in (self._pods_by_ns or {}).items():
                per: dict[tuple[str, str], set[int]] = defaultdict(set)
                for i, p in enumerate(ns_pods):
                    for kv in ((p.get("metadata") or {}).get("labels") or {}).items():
                        per[kv].add(i)
                index[ns] = per
            self._label_index = index
        if plain and self._label_index is not None:
            per = self._label_index.get(namespace, {})
            sets = [per.get((k, str(v)), set()) for k, v in plain.items()]
            idx = set.intersection(*sets) if sets else set()
            candidates = [pods[i] for i in sorted(idx)]
        else:
            candidates = pods
        return [p for p in candidates if labels_match(selector, (p.get("metadata") or {}).get("labels"))]

    # -- events and logs ---------------------------------------------------------------------------------------
    def _index_events(self) -> None:
        by_uid: dict[str, list[dict[str, Any]]] = defaultdict(list)
        by_name: dict[tuple[str, str | None, str], list[dict[str, Any]]] = defaultdict(list)
        for e in self.events:
            io = e.get("involvedObject") or e.get("regarding") or {}
            if io.get("uid"):
                by_uid[io["uid"]].append(e)
            by_name[(str(io.get("kind")), io.get("namespace"), str(io.get("name")))].append(e)
        far = datetime.min.replace(tzinfo=UTC)
        for lst in (*by_uid.values(), *by_name.values()):
            lst.sort(key=lambda ev: event_time(ev) or far)
        self._events_by_uid, self._events_by_name = by_uid, by_name

    def events_for(self, obj: dict[str, Any], kind: str | None = None, *, reason: str | None = None,
                   warning: bool | None = None, within: float | None = None) -> list[dict[str, Any]]:
        """Events about ``obj`` (matched by uid, else by kind/namespace/name), oldest first, optionally
        filtered by reason, type and recency (``within`` seconds of the snapshot time)."""
        if self._events_by_uid is None or self._events_by_name is None:
            self._index_events()
        assert self._events_by_uid is not None and self._events_by_name is not None
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        found = list(self._events_by_uid.get(uid, [])) if uid else []
        if not found:
            k = kind or self.kind_of(obj)
            found = [e for e in self._events_by_name.get((k, meta.get("namespace"), str(meta.get("name"))), [])
                     if not uid or not (e.get("involvedObject") or {}).get("uid")
                     or (e.get("involvedObject") or {}).get("uid") == uid]
        out = []
        for e in found:
            if reason and e.get("reason") != reason:
                continue
            if warning is not None and (e.get("type") == "Warning") != warning:
                continue
            if within is not None:
                t = event_time(e)
                if t is None or (self.now - t).total_seconds() > within:
                    continue
            out.append(e)
        return out

    def log(self, namespace: str, pod: str, container: str, previous: bool = False) -> str | None:
        return self.logs.get((namespace, pod, container, previous))

    def iter_logs(self, namespace: str, pod: str) -> Iterator[tuple[str, bool, str]]:
        for (ns, p, c, prev), text in self.logs.items():
            if ns == namespace and p == pod:
                yield c, prev, text
