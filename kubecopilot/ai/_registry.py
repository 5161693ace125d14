"""The prompt registry: ``prompts/manifest.json`` + versioned templates, its validator, and rollout selection.

One manifest entry per prompt id. ``version`` is the newest version and ``template`` its file; older versions
that are still served live under ``versions`` (each may override template, schemas, model, temperature,
maxTokens). ``rollout`` splits traffic between versions by percent, deterministically: the bucket is a hash of
(prompt id, subject), so the same pod (or context) always gets the same version and a canary is reproducible.
A stage with ``conditions`` (``environments``/``subjects`` globs) only takes part where they match; the
percents of the stages that do take part are rescaled to 100, so a canary limited to ``sandbox*`` gets its
share there and nothing elsewhere.

`check_manifest` is what ``kubecopilot prompts check`` and CI run: it returns one line per problem (templates
and schemas exist and import, semver, changelog agrees with version, rollout sums to 100 over existing
versions, approved entries name a reviewer, every diagnosis prompt has a fallback). `load_registry` refuses
a manifest with problems, so a broken registry is found by the first call, not in the middle of an incident.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import html
import importlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kubecopilot.errors import PromptRegistryError

__all__ = [
    "PromptRegistry",
    "PromptVersion",
    "check_manifest",
    "default_manifest_path",
    "load_registry",
    "rollout_bucket",
]

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SECTION = re.compile(r"^##[ \t]+(system|user)[ \t]*$", re.MULTILINE)
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
#: Variables every template may use besides the input model's own fields.
COMMON_VARIABLES = frozenset({"input", "allowed_actions", "prompt_id", "prompt_version"})
CONDITION_KEYS = frozenset({"environments", "subjects"})


def semver_key(version: str) -> tuple[Any, ...]:
    """Sort key with semver precedence (a pre-release sorts before its release)."""
    m = _SEMVER.fullmatch(version)
    if not m:
        raise ValueError(f"{version!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    major, minor, patch, pre, _build = m.groups()
    pre_key: tuple[Any, ...] = (1,) if pre is None else (0, *((0, int(p)) if p.isdigit() else (1, p)
                                                            for p in pre.split(".")))
    return (int(major), int(minor), int(patch), pre_key)


def default_manifest_path() -> Path:
    """``$KUBECOPILOT_PROMPTS`` (a manifest file or its directory), else the checkout's ``prompts/manifest.json``."""
    env = os.environ.get("KUBECOPILOT_PROMPTS")
    if env:
        p = Path(env).expanduser()
        return p / "manifest.json" if p.is_dir() else p
    return Path(__file__).resolve().parents[2] / "prompts" / "manifest.json"


# -- manifest shape ------------------------------------------------------------------------------------------


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ChangelogEntry(_Shape):
    version: str
    date: dt.date
    change: str = Field(min_length=1)


class RolloutStage(_Shape):
    version: str
    percent: float = Field(ge=0, le=100)
    conditions: dict[str, list[str]] = Field(default_factory=dict)


class VersionOverride(_Shape):
    template: str | None = None
    input_schema_ref: str | None = Field(None, alias="inputSchemaRef")
    output_schema_ref: str | None = Field(None, alias="outputSchemaRef")
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, alias="maxTokens", gt=0, le=200_000)


class PromptEntry(_Shape):
    """One manifest entry (camelCase in the file)."""

    id: str
    version: str
    description: str = ""
    template: str
    input_schema_ref: str = Field(alias="inputSchemaRef")
    output_schema_ref: str = Field(alias="outputSchemaRef")
    model: str | None = None
    temperature: float = Field(ge=0, le=2)
    max_tokens: int = Field(alias="maxTokens", gt=0, le=200_000)
    env_allowlist: list[str] = Field(alias="envAllowlist", min_length=1)
    risk_tier: Literal["low", "medium", "high"] = Field(alias="riskTier")
    category: str
    owner: str = Field(min_length=1)
    reviewed_by: str | None = Field(None, alias="reviewedBy")
    approved: bool
    changelog: list[ChangelogEntry] = Field(min_length=1)
    evaluation_metrics: dict[str, Any] = Field(default_factory=dict, alias="evaluationMetrics")
    rollout: list[RolloutStage] | None = None
    fallback: str | None = None
    versions: dict[str, VersionOverride] = Field(default_factory=dict)

    def all_versions(self) -> list[str]:
        return [self.version, *self.versions]

    def stages(self) -> list[RolloutStage]:
        return self.rollout or [RolloutStage(version=self.version, percent=100)]


def _import_ref(ref: str) -> type[BaseModel]:
    """``"kubecopilot.ai._schemas:DiagnosisExplanation"`` → the class (raises ValueError naming the problem)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{ref!r} is not 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise ValueError(f"cannot import {module_name!r}: {e}") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(f"{module_name} has no {attr!r}")
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        raise ValueError(f"{ref} is not a pydantic model")
    return obj


def _sections(text: str) -> dict[str, str]:
    parts = _SECTION.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        found[name] = body.strip()
    return found


# -- the resolved, servable version --------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptVersion:
    """One servable version of a prompt: its templates, schemas and call settings, resolved from the manifest."""

    id: str
    version: str
    template_path: Path
    system: str
    user: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    input_schema_ref: str
    output_schema_ref: str
    model: str | None
    temperature: float
    max_tokens: int
    risk_tier: str
    category: str
    env_allowlist: tuple[str, ...]
    fallback: str | None
    approved: bool

    @property
    def ref(self) -> str:
        """``diagnose-explain@1.2.0``: how chains, metrics and intents name it."""
        return f"{self.id}@{self.version}"

    def allowed_in(self, environment: str) -> bool:
        """Whether ``environment`` (a context or environment name) matches one of ``envAllowlist``'s globs."""
        return _glob_any(environment, self.env_allowlist)

    def render(self, data: dict[str, Any], **extra: str) -> list[dict[str, str]]:
        """The chat messages for ``data`` (already sanitized): ``{{input}}`` is its JSON, ``{{field}}`` a field."""
        variables: dict[str, str] = {
            "input": json.dumps(data, indent=1, ensure_ascii=False, default=str),
            "prompt_id": self.id,
            "prompt_version": self.version,
            **extra,
        }
        for key, value in data.items():
            variables.setdefault(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                                                     default=str))

        def fill(template: str) -> str:
            return _VARIABLE.sub(lambda m: variables.get(m.group(1), ""), template)

        return [{"role": "system", "content": fill(self.system)}, {"role": "user", "content": fill(self.user)}]

    def __repr__(self) -> str:
        return f"PromptVersion({self.ref!r}, model={self.model!r}, risk={self.risk_tier!r})"


def _glob_any(value: str, patterns: Iterable[str]) -> bool:
    value = (value or "").lower()
    return any(fnmatch.fnmatchcase(value, p.lower()) for p in patterns)


def rollout_bucket(prompt_id: str, subject: str) -> float:
    """Where ``subject`` falls in [0, 100) for ``prompt_id``: stable across processes and machines."""
    digest = hashlib.sha256(f"{prompt_id}\0{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


# -- the registry --------------------------------------------------------------------------------------------


class PromptRegistry:
    """A validated manifest. ``select`` picks the version to serve; ``get`` a named one."""

    def __init__(self, path: Path, entries: dict[str, PromptEntry]) -> None:
        self.path = path
        self.entries = entries
        self._versions: dict[tuple[str, str], PromptVersion] = {}

    def __repr__(self) -> str:
        return f"PromptRegistry({str(self.path)!r}, prompts={len(self.entries)})"

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.entries

    def entry(self, prompt_id: str) -> PromptEntry:
        try:
            return self.entries[prompt_id]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "(none)"
            raise PromptRegistryError(f"{self.path}: no prompt {prompt_id!r}; the manifest has: {known}") from None

    def get(self, prompt_id: str, version: str | None = None) -> PromptVersion:
        """The resolved version (default: the entry's newest)."""
        entry = self.entry(prompt_id)
        version = version or entry.version
        key = (prompt_id, version)
        if key not in self._versions:
            if version not in entry.all_versions():
                raise PromptRegistryError(f"{self.path}: prompt {prompt_id!r} has no version {version!r}; "
                                          f"it has {', '.join(entry.all_versions())}")
            self._versions[key] = _resolve(self.path.parent, entry, version)
        return self._versions[key]

    def select(self, prompt_id: str, *, subject: str, environment: str) -> PromptVersion:
        """The rollout's version for (``prompt_id``, ``subject``) in ``environment``.

        Stages whose conditions do not match are left out and the others' percents rescaled, so the choice is
        deterministic and every subject gets some version as long as one unconditioned stage exists.
        """
        entry = self.entry(prompt_id)
        eligible = [s for s in entry.stages() if s.percent > 0 and _stage_matches(s, subject, environment)]
        if not eligible:
            raise PromptRegistryError(
                f"{self.path}: prompt {prompt_id!r} has no rollout stage for environment {environment!r} and "
                f"subject {subject!r}; add a stage without conditions")
        total = sum(s.percent for s in eligible)
        point = rollout_bucket(prompt_id, subject) / 100 * total
        upto = 0.0
        for stage in eligible:
            upto += stage.percent
            if point < upto:
                return self.get(prompt_id, stage.version)
        return self.get(prompt_id, eligible[-1].version)

    # -- views -------------------------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, str]]:
        out = []
        for e in self.entries.values():
            rollout = ", ".join(f"{s.version} {s.percent:g}%" + (" (if " + "; ".join(
                f"{k}={','.join(v)}" for k, v in s.conditions.items()) + ")" if s.conditions else "")
                for s in e.stages())
            out.append({"id": e.id, "version": e.version, "versions": ", ".join(e.all_versions()),
                        "category": e.category, "risk": e.risk_tier, "approved": "yes" if e.approved else "NO",
                        "reviewedBy": e.reviewed_by or "-", "envAllowlist": ", ".join(e.env_allowlist),
                        "rollout": rollout, "fallback": e.fallback or "-"})
        return out

    def __str__(self) -> str:
        rows = self.rows()
        cols = ["id", "version", "category", "risk", "approved", "envAllowlist", "rollout", "fallback"]
        widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in cols}
        lines = ["  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip()]
        lines += ["  ".join(r[c].ljust(widths[c]) for c in cols).rstrip() for r in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        cols = ["id", "version", "versions", "category", "risk", "approved", "reviewedBy", "envAllowlist",
                "rollout", "fallback"]
        head = "".join(f"<th>{e(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{e(r[c])}</td>" for c in cols) + "</tr>" for r in self.rows())
        return f"<div><b>Prompt registry</b> <code>{e(str(self.path))}</code><table><tr>{head}</tr>{body}</table></div>"


def _stage_matches(stage: RolloutStage, subject: str, environment: str) -> bool:
    cond = stage.conditions
    if "environments" in cond and not _glob_any(environment, cond["environments"]):
        return False
    return not ("subjects" in cond and not _glob_any(subject, cond["subjects"]))


def _resolve(base: Path, entry: PromptEntry, version: str) -> PromptVersion:
    over = entry.versions.get(version) if version != entry.version else None
    template = (over.template if over and over.template else None) or (
        entry.template if version == entry.version else f"{entry.id}/{version}.md")
    input_ref = (over.input_schema_ref if over else None) or entry.input_schema_ref
    output_ref = (over.output_schema_ref if over else None) or entry.output_schema_ref
    path = base / template
    sections = _sections(path.read_text())
    return PromptVersion(
        id=entry.id, version=version, template_path=path, system=sections.get("system", ""),
        user=sections.get("user", ""), input_model=_import_ref(input_ref), output_model=_import_ref(output_ref),
        input_schema_ref=input_ref, output_schema_ref=output_ref,
        model=(over.model if over and over.model else None) or entry.model,
        temperature=over.temperature if over and over.temperature is not None else entry.temperature,
        max_tokens=over.max_tokens if over and over.max_tokens is not None else entry.max_tokens,
        risk_tier=entry.risk_tier, category=entry.category, env_allowlist=tuple(entry.env_allowlist),
        fallback=entry.fallback, approved=entry.approved,
    )


# -- validation ----------------------------------------------------------------------------------------------


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parse(path: Path) -> tuple[dict[str, PromptEntry], list[str]]:
    """The entries that have the right shape, and one problem line for everything else."""
    where = str(path)
    try:
        text = path.read_text()
    except OSError as e:
        return {}, [f"{where}: cannot read the manifest: {e.strerror or e}"]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        return {}, [f"{where}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}"]
    if not isinstance(doc, dict) or not isinstance(doc.get("prompts"), list):
        return {}, [f"{where}: expected an object with a \"prompts\" list"]
    problems: list[str] = []
    entries: dict[str, PromptEntry] = {}
    for i, raw in enumerate(doc["prompts"]):
        name = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"prompts[{i}]"
        try:
            entry = PromptEntry.model_validate(raw)
        except ValidationError as e:
            for err in e.errors(include_url=False):
                problems.append(f"{where}: {name}: {_loc(err['loc']) or '(entry)'}: {err['msg']}")
            continue
        if not _ID.fullmatch(entry.id):
            problems.append(f"{where}: {entry.id}: id: use lower-case words joined by '-' (e.g. diagnose-explain)")
        if entry.id in entries:
            problems.append(f"{where}: {entry.id}: id: duplicate entry (one entry per prompt; older versions go "
                            "under \"versions\")")
            continue
        entries[entry.id] = entry
    return entries, problems


def _check_entry(base: Path, where: str, e: PromptEntry, entries: dict[str, PromptEntry]) -> list[str]:
    p: list[str] = []
    name = f"{where}: {e.id}"
    versions = e.all_versions()
    semver_ok = True
    for field, v in [("version", e.version), *((f"versions.{k}", k) for k in e.versions)]:
        if not _SEMVER.fullmatch(v):
            p.append(f"{name}: {field}: {v!r} is not a semantic version (MAJOR.MINOR.PATCH)")
            semver_ok = False
    if e.version in e.versions:
        p.append(f"{name}: versions.{e.version}: the current version must not also be listed under \"versions\"")
    # changelog: every version has an entry, and the newest entry (by version and by date) is `version`
    logged = {c.version for c in e.changelog}
    for i, c in enumerate(e.changelog):
        if not _SEMVER.fullmatch(c.version):
            p.append(f"{name}: changelog[{i}].version: {c.version!r} is not a semantic version")
            semver_ok = False
    if semver_ok:
        newest = max(e.changelog, key=lambda c: semver_key(c.version))
        if newest.version != e.version:
            p.append(f"{name}: changelog: newest entry is {newest.version} but version is {e.version} "
                     "(add a changelog entry for the new version, or fix version)")
        latest = max(e.changelog, key=lambda c: (c.date, semver_key(c.version)))
        if latest.version != newest.version:
            p.append(f"{name}: changelog: the most recent date ({latest.date}) is on {latest.version}, "
                     f"not on the newest version {newest.version}")
        for v in versions:
            if v not in logged:
                p.append(f"{name}: changelog: no entry for served version {v}")
    # templates and schemas of every served version
    for v in versions:
        over = e.versions.get(v)
        template = (over.template if over and over.template else None) or (
            e.template if v == e.version else f"{e.id}/{v}.md")
        refs = {"inputSchemaRef": (over.input_schema_ref if over else None) or e.input_schema_ref,
                "outputSchemaRef": (over.output_schema_ref if over else None) or e.output_schema_ref}
        models: dict[str, type[BaseModel]] = {}
        for field, ref in refs.items():
            try:
                models[field] = _import_ref(ref)
            except ValueError as err:
                p.append(f"{name}@{v}: {field}: {err}")
        path = base / template
        if not path.is_file():
            p.append(f"{name}@{v}: template: {template} does not exist (relative to {base})")
            continue
        sections = _sections(path.read_text())
        for section in ("system", "user"):
            if not sections.get(section):
                p.append(f"{name}@{v}: template: {template} has no (or an empty) '## {section}' section")
        known = set(COMMON_VARIABLES)
        if "inputSchemaRef" in models:
            known |= set(models["inputSchemaRef"].model_fields)
        for var in sorted({m.group(1) for m in _VARIABLE.finditer(path.read_text())} - known):
            p.append(f"{name}@{v}: template: {template} uses {{{{{var}}}}}, which is neither a field of "
                     f"{refs['inputSchemaRef']} nor one of {', '.join(sorted(COMMON_VARIABLES))}")
    # rollout
    stages = e.stages()
    total = sum(s.percent for s in stages)
    if abs(total - 100) > 1e-6:
        p.append(f"{name}: rollout: percents sum to {total:g}, not 100")
    seen: set[str] = set()
    for i, s in enumerate(stages):
        if s.version not in versions:
            p.append(f"{name}: rollout[{i}].version: {s.version} is not a version of this prompt "
                     f"(it has {', '.join(versions)})")
        if s.version in seen:
            p.append(f"{name}: rollout[{i}].version: {s.version} appears in two stages")
        seen.add(s.version)
        for key in sorted(set(s.conditions) - CONDITION_KEYS):
            p.append(f"{name}: rollout[{i}].conditions.{key}: unknown condition (use "
                     f"{' or '.join(sorted(CONDITION_KEYS))})")
    if e.rollout and all(s.conditions for s in e.rollout):
        p.append(f"{name}: rollout: every stage has conditions, so some subjects would get no version; "
                 "leave one stage unconditioned")
    # review
    if e.approved and not (e.reviewed_by or "").strip():
        p.append(f"{name}: reviewedBy: an approved prompt must name its reviewer")
    # fallback
    if e.fallback is not None:
        fb = entries.get(e.fallback)
        if fb is None:
            p.append(f"{name}: fallback: no prompt {e.fallback!r} in the manifest")
        elif fb.id == e.id:
            p.append(f"{name}: fallback: a prompt cannot be its own fallback")
        elif fb.output_schema_ref != e.output_schema_ref:
            p.append(f"{name}: fallback: {fb.id} answers {fb.output_schema_ref}, but this prompt answers "
                     f"{e.output_schema_ref} (the fallback must produce the same model)")
    elif e.category == "diagnosis":
        p.append(f"{name}: fallback: a diagnosis prompt needs a conservative fallback prompt "
                 "(\"fallback\": \"<id>\", category diagnosis-fallback)")
    return p


def check_manifest(path: str | Path | None = None) -> list[str]:
    """Every problem of the manifest at ``path`` (default `default_manifest_path`), one line each; ``[]`` is OK."""
    path = Path(path) if path is not None else default_manifest_path()
    entries, problems = _parse(path)
    for entry in entries.values():
        problems += _check_entry(path.parent, str(path), entry, entries)
    return problems


_CACHE: dict[Path, tuple[tuple[int, ...], PromptRegistry]] = {}


def _signature(path: Path) -> tuple[int, ...]:
    files = [path, *sorted(path.parent.rglob("*.md"))]
    return tuple(f.stat().st_mtime_ns for f in files if f.exists())


def load_registry(path: str | Path | None = None) -> PromptRegistry:
    """The validated registry at ``path`` (cached until the manifest or a template changes).

    Raises `PromptRegistryError` listing the problems (the same lines as ``kubecopilot prompts check``).
    """
    path = (Path(path) if path is not None else default_manifest_path()).resolve()
    sig = _signature(path)
    cached = _CACHE.get(path)
    if cached and cached[0] == sig:
        return cached[1]
    problems = check_manifest(path)
    if problems:
        shown = "\n  ".join(problems[:10]) + (f"\n  ... {len(problems) - 10} more" if len(problems) > 10 else "")
        raise PromptRegistryError(f"prompt registry {path} has {len(problems)} problem(s) (run `kubecopilot "
                                  f"prompts check --manifest {path}`):\n  {shown}")
    entries, _ = _parse(path)
    registry = PromptRegistry(path, entries)
    _CACHE[path] = (sig, registry)
    return registry
