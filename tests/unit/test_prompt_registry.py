"""The prompt registry: the real manifest passes the CI check, broken copies fail it with one clear line each,
and rollout selection is deterministic."""

from __future__ import annotations

import collections
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubecopilot.ai import check_manifest, load_registry
from kubecopilot.ai._registry import default_manifest_path, rollout_bucket, semver_key
from kubecopilot.cli import main
from kubecopilot.errors import PromptRegistryError

REAL = Path(__file__).resolve().parents[2] / "prompts" / "manifest.json"


def test_real_manifest_is_valid_ci_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert default_manifest_path() == REAL
    assert check_manifest(REAL) == []
    assert main(["prompts", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("prompt registry OK") and "4 prompts" in out


def test_real_manifest_covers_every_prompt_the_pipeline_uses() -> None:
    reg = load_registry(REAL)
    for prompt_id in ("diagnose-explain", "diagnose-explain-fallback", "ask", "plan-intent"):
        assert prompt_id in reg
        version = reg.get(prompt_id)
        assert version.system and version.user and version.approved
    assert reg.get("diagnose-explain").fallback == "diagnose-explain-fallback"


def test_list_shows_prompts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "list"]) == 0
    out = capsys.readouterr().out
    assert "diagnose-explain" in out and "1.2.0 20% (if environments=sandbox*" in out
    assert main(["prompts", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} == {"diagnose-explain", "diagnose-explain-fallback", "ask", "plan-intent"}


# -- broken copies ---------------------------------------------------------------------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of prompts/ to break; returns its manifest path."""
    shutil.copytree(REAL.parent, tmp_path / "prompts")
    return tmp_path / "prompts" / "manifest.json"


def _edit(manifest: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(manifest.read_text())
    fn({p["id"]: p for p in doc["prompts"]} | {"__doc__": doc})
    manifest.write_text(json.dumps(doc, indent=1))


def _set(prompt_id: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def fn(entries: dict[str, Any]) -> None:
        for k, v in fields.items():
            if v is ...:
                entries[prompt_id].pop(k, None)
            else:
                entries[prompt_id][k] = v
    return fn


BROKEN: list[tuple[str, Callable[[Path], None], str]] = [
    ("missing template", lambda m: (m.parent / "ask" / "1.0.0.md").unlink(),
     "ask@1.0.0: template: ask/1.0.0.md does not exist"),
    ("old version's template missing", lambda m: (m.parent / "diagnose-explain" / "1.1.0.md").unlink(),
     "diagnose-explain@1.1.0: template: diagnose-explain/1.1.0.md does not exist"),
    ("schema module missing", lambda m: _edit(m, _set("ask", outputSchemaRef="kubecopilot.ai._nope:AskAnswer")),
     "ask@1.0.0: outputSchemaRef: cannot import 'kubecopilot.ai._nope'"),
    ("schema class missing", lambda m: _edit(m, _set("ask", inputSchemaRef="kubecopilot.ai._schemas:Nope")),
     "ask@1.0.0: inputSchemaRef: kubecopilot.ai._schemas has no 'Nope'"),
    ("schema not a model", lambda m: _edit(m, _set("ask", inputSchemaRef="kubecopilot.ai._schemas:params_to_dict")),
     "ask@1.0.0: inputSchemaRef: kubecopilot.ai._schemas:params_to_dict is not a pydantic model"),
    ("bad semver", lambda m: _edit(m, _set("plan-intent", version="1.0")),
     "plan-intent: version: '1.0' is not a semantic version"),
    ("changelog behind version", lambda m: _edit(m, _set("ask", version="1.1.0", template="ask/1.0.0.md")),
     "ask: changelog: newest entry is 1.0.0 but version is 1.1.0"),
    ("changelog dates disagree", lambda m: _edit(m, lambda e: e["diagnose-explain"]["changelog"][1].update(
        date="2026-12-01")), "diagnose-explain: changelog: the most recent date (2026-12-01) is on 1.1.0"),
    ("rollout does not sum to 100", lambda m: _edit(m, lambda e: e["diagnose-explain"]["rollout"][1].update(
        percent=70)), "diagnose-explain: rollout: percents sum to 90, not 100"),
    ("rollout names an unknown version", lambda m: _edit(m, lambda e: e["diagnose-explain"]["rollout"][0].update(
        version="1.3.0")), "diagnose-explain: rollout[0].version: 1.3.0 is not a version of this prompt"),
    ("unknown rollout condition", lambda m: _edit(m, lambda e: e["diagnose-explain"]["rollout"][0].update(
        conditions={"region": ["eu"]})), "diagnose-explain: rollout[0].conditions.region: unknown condition"),
    ("approved without reviewer", lambda m: _edit(m, _set("ask", reviewedBy=...)),
     "ask: reviewedBy: an approved prompt must name its reviewer"),
    ("diagnosis prompt without fallback", lambda m: _edit(m, _set("diagnose-explain", fallback=...)),
     "diagnose-explain: fallback: a diagnosis prompt needs a conservative fallback prompt"),
    ("fallback to nothing", lambda m: _edit(m, _set("diagnose-explain", fallback="diagnose-explain-safe")),
     "diagnose-explain: fallback: no prompt 'diagnose-explain-safe' in the manifest"),
    ("fallback answers another model", lambda m: _edit(m, _set(
        "diagnose-explain-fallback", outputSchemaRef="kubecopilot.ai._schemas:AskAnswer")),
     "diagnose-explain: fallback: diagnose-explain-fallback answers kubecopilot.ai._schemas:AskAnswer"),
    ("unknown template variable", lambda m: (m.parent / "ask" / "1.0.0.md").write_text(
        "## system\nbe brief\n## user\n{{question}} {{namespce}}\n"),
     "ask@1.0.0: template: ask/1.0.0.md uses {{namespce}}, which is neither a field of"),
    ("template without user section", lambda m: (m.parent / "ask" / "1.0.0.md").write_text("## system\nhi\n"),
     "ask@1.0.0: template: ask/1.0.0.md has no (or an empty) '## user' section"),
    ("misspelt field", lambda m: _edit(m, _set("ask", temprature=0.2)), "ask: temprature: Extra inputs are not"),
    ("missing field", lambda m: _edit(m, _set("ask", owner=...)), "ask: owner: Field required"),
    ("bad risk tier", lambda m: _edit(m, _set("ask", riskTier="extreme")), "ask: riskTier: Input should be 'low'"),
    ("empty allowlist", lambda m: _edit(m, _set("ask", envAllowlist=[])), "ask: envAllowlist: List should have"),
    ("duplicate id", lambda m: _edit(m, lambda e: e["__doc__"]["prompts"].append(dict(e["ask"]))),
     "ask: id: duplicate entry"),
    ("not JSON", lambda m: m.write_text('{"prompts": [}'), "manifest.json:1:14: not valid JSON"),
    ("no manifest", lambda m: m.unlink(), "cannot read the manifest"),
]


@pytest.mark.parametrize(("breakage", "expected"), [(b, e) for _, b, e in BROKEN], ids=[n for n, _, _ in BROKEN])
def test_broken_copies_fail_with_one_clear_line(copy: Path, breakage: Callable[[Path], None], expected: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert check_manifest(copy) == []          # the copy is fine before we break it
    breakage(copy)
    problems = check_manifest(copy)
    assert any(expected in p for p in problems), problems
    assert all("\n" not in p for p in problems)
    assert main(["prompts", "check", "--manifest", str(copy)]) == 1
    captured = capsys.readouterr()
    assert expected in captured.out
    assert "problem(s) in" in captured.err
    with pytest.raises(PromptRegistryError, match="prompts check"):
        load_registry(copy)


def test_manifest_dir_from_environment(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECOPILOT_PROMPTS", str(copy.parent))
    assert default_manifest_path() == copy
    assert load_registry().path == copy.resolve()


def test_registry_reloads_when_a_template_changes(copy: Path) -> None:
    first = load_registry(copy)
    assert load_registry(copy) is first
    template = copy.parent / "ask" / "1.0.0.md"
    template.write_text(template.read_text().replace("Question:", "The question:"))
    import os
    st = template.stat()
    os.utime(template, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    second = load_registry(copy)
    assert second is not first
    assert "The question:" in second.get("ask").user


# -- selection ---------------------------------------------------------------------------------------------------


def test_rollout_bucket_is_a_stable_hash() -> None:
    expected = int.from_bytes(hashlib.sha256(b"diagnose-explain\0pod/shop/web").digest()[:8], "big") % 10_000 / 100
    assert rollout_bucket("diagnose-explain", "pod/shop/web") == expected
    assert 0 <= expected < 100


def test_rollout_is_deterministic_and_honours_conditions() -> None:
    reg = load_registry(REAL)
    subjects = [f"pod/shop/web-{i}" for i in range(2000)]
    sandbox = [reg.select("diagnose-explain", subject=s, environment="sandbox-admin").version for s in subjects]
    again = [reg.select("diagnose-explain", subject=s, environment="sandbox-admin").version for s in subjects]
    assert sandbox == again
    share = collections.Counter(sandbox)["1.2.0"] / len(subjects)
    assert 0.16 < share < 0.24          # 20 % canary, within sampling noise of 2000 subjects
    for s in subjects[:200]:             # agrees with the documented rule: bucket < 20 -> the canary
        expected = "1.2.0" if rollout_bucket("diagnose-explain", s) < 20 else "1.1.0"
        assert reg.select("diagnose-explain", subject=s, environment="dev-eu").version == expected
    prod = {reg.select("diagnose-explain", subject=s, environment="prod-eu").version for s in subjects}
    assert prod == {"1.1.0"}             # the canary's condition keeps it out of prod
    v110 = reg.get("diagnose-explain", "1.1.0")
    assert v110.temperature == 0.2 and v110.template_path.name == "1.1.0.md"
    assert reg.get("diagnose-explain").temperature == 0.1


def test_env_allowlist_globs() -> None:
    v = load_registry(REAL).get("ask")
    assert v.allowed_in("anything")
    from dataclasses import replace
    limited = replace(v, env_allowlist=("sandbox*", "dev*"))
    assert limited.allowed_in("sandbox-admin") and limited.allowed_in("DEV-1")
    assert not limited.allowed_in("prod") and not limited.allowed_in("")


def test_unknown_prompt_and_version_name_the_alternatives() -> None:
    reg = load_registry(REAL)
    with pytest.raises(PromptRegistryError, match="the manifest has: ask, diagnose-explain"):
        reg.get("nope")
    with pytest.raises(PromptRegistryError, match=r"has no version '9\.9\.9'; it has 1\.2\.0, 1\.1\.0"):
        reg.get("diagnose-explain", "9.9.9")


def test_render_fills_fields_and_common_variables() -> None:
    v = load_registry(REAL).get("ask")
    messages = v.render({"question": "why <IP_1>?", "namespace": "shop", "findings": [{"rule": "r"}]},
                        allowed_actions="scale, restart")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "scale, restart" in messages[0]["content"]
    assert "Question: why <IP_1>?" in messages[1]["content"]
    assert '[{"rule": "r"}]' in messages[1]["content"]
    assert "{{" not in messages[0]["content"] + messages[1]["content"]


def test_semver_precedence() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0", "1.2.0", "1.10.0", "2.0.0"]
    assert sorted(reversed(ordered), key=semver_key) == ordered
    with pytest.raises(ValueError, match="not a semantic version"):
        semver_key("1.2")
