"""The hand-off to the AI layer: when `diagnose` asks for an explanation, what it sends, and how it degrades."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import kubecopilot.ai as ai
from kubecopilot.diagnose import Evidence, Finding, Snapshot
from kubecopilot.diagnose._diagnosis import Diagnosis, _explain
from kubecopilot.errors import LLMUnavailableError


@dataclass
class FakeExplanation:
    summary: str
    chain: list[str]


def _diagnosis() -> Diagnosis:
    snap = Snapshot(scope="pod/ns/p")
    snap.secret_values.append("a-secret-value-123")
    f = Finding("pod.crashloop", "error", "pod/ns/p", "container app keeps crashing",
                [Evidence("log", "pod/ns/p", "x")])
    return Diagnosis(target="pod/ns/p", findings=[f], evidence=snap, context="staging-eu")


def test_offline_by_default_and_never_when_not_requested(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[Any] = []
    monkeypatch.setattr(ai, "llm_configured", lambda: False)
    monkeypatch.setattr(ai, "explain", lambda *a, **k: called.append(a))
    d = _diagnosis()
    _explain(d, None)
    assert d.llm_status == "not configured" and d.explanation is None and not called
    monkeypatch.setattr(ai, "llm_configured", lambda: True)
    _explain(d, False)
    assert d.llm_status == "not requested" and not called


def test_configured_llm_gets_the_context_and_the_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def explain(context: dict[str, Any], *, secret_values: list[str], environment: str | None) -> FakeExplanation:
        seen["context"], seen["secrets"], seen["environment"] = context, secret_values, environment
        return FakeExplanation("the app lacks <DATABASE_URL>", ["crash", "no endpoints"])

    monkeypatch.setattr(ai, "llm_configured", lambda: True)
    monkeypatch.setattr(ai, "explain", explain)
    monkeypatch.delenv("KUBECOPILOT_ENVIRONMENT", raising=False)
    d = _diagnosis()
    _explain(d, None)
    assert d.llm_status == "explained" and d.explanation.summary.startswith("the app")
    assert seen["context"]["target"] == "pod/ns/p" and seen["context"]["findings"][0]["rule"] == "pod.crashloop"
    assert set(seen["context"]["evidence"]) == {"object", "owners", "events", "logs", "node", "related"}
    assert seen["secrets"] == ["a-secret-value-123"]
    assert seen["environment"] == "staging-eu"  # envAllowlist and rollout conditions see the context name
    assert "the app lacks <DATABASE_URL>" in str(d) and "2. no endpoints" in str(d)
    assert "&lt;DATABASE_URL&gt;" in d._repr_html_()


def test_an_llm_failure_keeps_the_rule_based_result(monkeypatch: pytest.MonkeyPatch) -> None:
    def explain(context: dict[str, Any], *, secret_values: list[str], environment: str | None) -> Any:
        raise LLMUnavailableError("endpoint http://127.0.0.1:9/v1 refused the connection")

    monkeypatch.setattr(ai, "explain", explain)
    d = _diagnosis()
    _explain(d, True)
    assert d.explanation is None and d.llm_status.startswith("LLM unavailable: ")
    assert "refused" in d.llm_status and d.findings[0].rule == "pod.crashloop"
    assert "LLM unavailable" in str(d)
