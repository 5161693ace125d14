"""The AI pipeline against a scripted local OpenAI-compatible server (tests/fake_llm.py), never a remote API.

The fake records every request body it receives over a real HTTP connection, so these tests assert what
actually left the process: no IP, JWT, e-mail or Secret value from the evidence; the retry carrying the
validation error; the fallback prompt's id and text; the schema enum of the intent prompt.
"""

from __future__ import annotations

import base64
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kubecopilot.ai as ai
from kubecopilot.ai._pipeline import input_hash
from kubecopilot.ai._registry import rollout_bucket
from kubecopilot.ai._schemas import DiagnosisContext
from kubecopilot.audit import open_ledger
from kubecopilot.errors import ClusterForbiddenError, LLMOutputError, LLMUnavailableError
from kubecopilot.plans import PlanIntent
from tests.fake_llm import FakeLLM, configured_fake

API_KEY = "sk-test-FAKEKEY0123456789abcdefXYZ"
SECRET = "hunter2-Prod-Pass"
JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzIiwic3ViIjoiYWRtaW4ifQ.c2lnbmF0dXJlLWJ5dGVzLTEyMw"
DB_IP = "10.96.4.7"
POD_IP = "10.244.1.23"
EMAIL = "oncall@shop.example.com"
UID = "0f8fad5b-d9cb-469f-a165-70867728950e"
TARGET = "pod/shop/web-7d4b9c8f5d-x2k9p"
FALLBACK_MARK = "You restate a Kubernetes diagnosis conservatively"


def context() -> dict[str, Any]:
    """A diagnosis context as the rule engine hands it over, seeded with things that must not leave."""
    return {
        "target": TARGET,
        "findings": [{
            "rule": "pod.crashloop", "severity": "error", "object": TARGET,
            "cause": f"container app exits 1: cannot connect to postgres at {DB_IP}:5432",
            "evidence": [{"kind": "log", "source": "app", "quote": f"FATAL password authentication failed ({SECRET})"},
                         {"kind": "event", "source": "kubelet", "quote": "Back-off restarting failed container app"}],
            "intent": None, "caused_by": None}],
        "evidence": {
            "object": {"metadata": {"name": "web-7d4b9c8f5d-x2k9p", "namespace": "shop", "uid": UID,
                                    "resourceVersion": "48213", "annotations": {"owner": EMAIL}},
                       "spec": {"containers": [{"name": "app", "image": "sandbox/api:1.0",
                                                "env": [{"name": "DB_HOST", "value": DB_IP}]}]},
                       "status": {"podIP": POD_IP, "phase": "Running"}},
            "owners": [{"kind": "ReplicaSet", "name": "web-7d4b9c8f5d"}, {"kind": "Deployment", "name": "web"}],
            "events": ["Back-off restarting failed container app in pod web-7d4b9c8f5d-x2k9p"],
            "logs": {"app": f"2026-11-23T10:00:00Z INFO connecting to {DB_IP} as app\n"
                            f"2026-11-23T10:00:01Z DEBUG Authorization: Bearer {JWT}\n"
                            f"2026-11-23T10:00:01Z DEBUG secret b64 {base64.b64encode(SECRET.encode()).decode()}\n"
                            f"2026-11-23T10:00:02Z FATAL password authentication failed ({SECRET})"},
            "node": {"name": "sandbox-node-1", "addresses": [{"type": "InternalIP", "address": "172.18.0.3"}]},
            "related": {},
        },
    }


def answer(**over: Any) -> dict[str, Any]:
    """A valid DiagnosisExplanation as a model would write it (placeholders, since that is what it saw)."""
    base = {
        "summary": "web cannot log in to postgres at <IP_1>: the password is rejected",
        "root_cause": "the database password (<SECRET_1>) no longer matches",
        "confidence": 0.82,
        "evidence_refs": ["FATAL password authentication failed (<SECRET_1>)", "connecting to <IP_1> as app"],
        "suggested_actions": [
            {"action": "restart", "kind": "Deployment", "name": "web", "namespace": "shop", "parameters": [],
             "reason": "pick up the rotated secret"},
            {"action": "set_env", "kind": "deployment", "name": "web", "namespace": None,
             "parameters": [{"key": "container", "value": "app"}, {"key": "env.DB_HOST", "value": "<IP_1>"}],
             "reason": "pin the database address"},
            {"action": "patch", "kind": "deployment", "name": "web", "namespace": "shop",
             "parameters": [{"key": "patch", "value": "[]"}], "reason": "free-form"},
            {"action": "scale", "kind": "node", "name": "sandbox-node-1", "namespace": None,
             "parameters": [{"key": "replicas", "value": "2"}], "reason": "not a thing"},
            {"action": "reboot", "kind": "pod", "name": "x", "namespace": "shop", "parameters": [], "reason": "?"},
        ],
        "caveats": ["<EMAIL_1> owns the database credentials"],
    }
    return base | over


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    monkeypatch.setenv("KUBECOPILOT_DB", str(tmp_path / "audit.duckdb"))
    for var in ("KUBECOPILOT_ENVIRONMENT", "KUBECOPILOT_PROMPTS"):
        monkeypatch.delenv(var, raising=False)
    with configured_fake(api_key=API_KEY, timeout=1.0, max_retries=1) as server:
        yield server
    assert server.pending == 0, "the test scripted replies that were never requested"


def metrics(tmp_path: Path) -> list[dict[str, Any]]:
    df = open_ledger(tmp_path / "audit.duckdb").sql("SELECT name, value, labels::VARCHAR AS labels FROM metrics")
    return [{"name": r["name"], "value": r["value"], "labels": json.loads(r["labels"])} for r in df.to_dict("records")]


# -- the happy path ------------------------------------------------------------------------------------------------


def test_explain_sends_only_sanitized_text_and_restores_locally(fake: FakeLLM, tmp_path: Path) -> None:
    fake.reply_json(answer(), prompt_tokens=900, completion_tokens=210)
    x = ai.explain(context(), secret_values=[SECRET], environment="prod-eu")

    body = fake.all_bodies()
    for original in (SECRET, base64.b64encode(SECRET.encode()).decode(), JWT, DB_IP, POD_IP, EMAIL, UID,
                     "172.18.0.3", API_KEY):
        assert original not in body, f"{original!r} left the process"
    sent = fake.requests[0]
    assert "cannot connect to postgres at <IP_1>:5432" in sent.text
    assert "Bearer <JWT_1>" in sent.text and "<SECRET_1>" in sent.text
    assert "sandbox/api:1.0" in sent.text and "48213" in sent.text        # Kubernetes facts survive
    assert sent.headers.get("authorization") == f"Bearer {API_KEY}"        # the key goes only where it belongs
    assert sent.schema_name == "DiagnosisExplanation"
    assert sent.body["response_format"]["json_schema"]["strict"] is True
    assert sent.body["model"] == "fake-model" and sent.body["temperature"] == 0.2   # 1.1.0 outside sandbox

    # restored for local display
    assert x.result.summary == f"web cannot log in to postgres at {DB_IP}: the password is rejected"
    assert x.result.evidence_refs[0] == f"FATAL password authentication failed ({SECRET})"
    assert x.result.caveats == [f"{EMAIL} owns the database credentials"]

    chain = x.chain
    assert (chain.status, chain.prompt_id, chain.prompt_version, chain.model) == \
        ("llm", "diagnose-explain", "1.1.0", "fake-model")
    assert chain.attempts == 1 and chain.confidence == 0.82
    assert (chain.prompt_tokens, chain.completion_tokens) == (900, 210)
    assert chain.latency_ms > 0
    assert chain.redactions == {"email": 1, "ip": 5, "jwt": 1, "secret_value": 3, "uuid": 1}
    expected = ai.Redactor([SECRET]).redact(DiagnosisContext.model_validate(context()).model_dump(mode="json"))
    assert chain.input_hash == input_hash(expected)
    assert chain.evidence_refs == x.result.evidence_refs

    # risk annotation: restart and set_env pass; patch, (scale, node) and an unknown action are dropped
    assert [(i.action, i.kind, i.namespace, i.name) for i in x.intents] == [
        ("restart", "deployment", "shop", "web"), ("set_env", "deployment", "shop", "web")]
    assert all(isinstance(i, PlanIntent) and i.source == "llm:diagnose-explain@1.1.0" for i in x.intents)
    assert x.intents[1].parameters == {"container": "app", "env": {"DB_HOST": DB_IP}}
    assert len(x.notes) == 3
    assert "may not write patches" in x.notes[0]
    assert "(scale, node) is not on the whitelist" in x.notes[1]
    assert "'reboot' is not a known action" in x.notes[2]
    assert x.risk_tier == "medium"

    rows = metrics(tmp_path)
    latency = [r for r in rows if r["name"] == "llm.latency"]
    assert len(latency) == 1 and latency[0]["labels"] == {"model": "fake-model", "prompt": "diagnose-explain@1.1.0"}
    assert {r["name"]: r["value"] for r in rows if r["name"].startswith("llm.tokens")} == \
        {"llm.tokens.prompt": 900, "llm.tokens.completion": 210}
    assert not [r for r in rows if r["name"] == "llm.failure"]


def test_renderings_escape_and_never_show_the_key(fake: FakeLLM) -> None:
    fake.reply_json(answer(summary="<script>alert(1)</script> at <IP_1>"))
    x = ai.explain(context(), secret_values=[SECRET], environment="prod")
    html = x._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert DB_IP in html                          # restored locally
    text = str(x)
    assert "Suggested actions" in text and "restart deployment/shop/web" in text and "Explanation chain" in text
    assert "diagnose-explain@1.1.0" in repr(x)
    for shown in (repr(x), str(x), html, repr(x.chain), str(x.chain), repr(ai.current_config())):
        assert API_KEY not in shown
    assert "api_key=set" in repr(ai.current_config())
    assert x.to_dict()["chain"]["status"] == "llm"


def test_rollout_canary_in_sandbox_is_deterministic(fake: FakeLLM) -> None:
    # pick a subject the 20 % canary serves (bucket < 20) and one it does not
    subjects = [f"pod/shop/web-{i}" for i in range(200)]
    canary = next(s for s in subjects if rollout_bucket("diagnose-explain", s) < 20)
    stable = next(s for s in subjects if rollout_bucket("diagnose-explain", s) >= 20)
    for _ in range(4):
        fake.reply_json(answer(suggested_actions=[]))
    got = [ai.explain(context(), subject=s, environment="sandbox-admin").chain.prompt_version
           for s in (canary, canary, stable, stable)]
    assert got == ["1.2.0", "1.2.0", "1.1.0", "1.1.0"]
    assert "How to reason" in fake.requests[0].text and "How to reason" not in fake.requests[2].text


# -- invalid output: retry, fallback, give up ------------------------------------------------------------------


def test_invalid_json_is_retried_with_the_validation_error(fake: FakeLLM, tmp_path: Path) -> None:
    fake.reply_text("Sure! The pod is broken because of the database.").reply_json(answer())
    x = ai.explain(context(), secret_values=[SECRET], environment="prod")
    assert x.chain.status == "llm-retry" and x.chain.attempts == 2
    retry = fake.requests[1].messages
    assert retry[:2] == fake.requests[0].messages           # the same conversation, extended
    assert retry[2] == {"role": "assistant", "content": "Sure! The pod is broken because of the database."}
    assert retry[3]["role"] == "user" and "did not validate" in retry[3]["content"]
    assert "Invalid JSON" in retry[3]["content"]
    assert [r["labels"]["reason"] for r in metrics(tmp_path) if r["name"] == "llm.failure"] == \
        ["invalid-output (diagnose-explain@1.1.0)"]


def test_wrong_schema_twice_uses_the_fallback_prompt(fake: FakeLLM) -> None:
    fake.reply_json({"summary": "x", "confidence": 1.7})                 # missing fields, out of range
    fake.reply_json(answer(confidence=1.5))                               # still out of range
    fake.reply_json(answer(confidence=0.4, suggested_actions=[]))
    x = ai.explain(context(), secret_values=[SECRET], environment="prod")
    assert x.chain.status == "llm-fallback" and x.chain.attempts == 3
    assert (x.chain.prompt_id, x.chain.prompt_version) == ("diagnose-explain-fallback", "1.0.0")
    retry_error = fake.requests[1].messages[-1]["content"]
    assert "root_cause: Field required" in retry_error and "confidence: Input should be less than or equal to 1" \
        in retry_error
    assert FALLBACK_MARK in fake.requests[2].messages[0]["content"]
    assert FALLBACK_MARK not in fake.requests[0].text
    assert SECRET not in fake.all_bodies()
    assert x.chain.steps[-1] == "diagnose-explain-fallback@1.0.0 fallback prompt: valid"


def test_invalid_after_retry_and_fallback_raises_output_error(fake: FakeLLM, tmp_path: Path) -> None:
    fake.reply_text("{}").reply_refusal("I cannot help with that.").reply_length()
    with pytest.raises(LLMOutputError, match="did not validate after one retry and the fallback") as err:
        ai.explain(context(), environment="prod")
    chain = err.value.chain  # type: ignore[attr-defined]
    assert chain.status == "rules-only" and chain.attempts == 3
    assert "LLM output invalid" in chain.note
    assert [s.split(": ")[1] for s in chain.steps] == ["invalid-output", "refusal", "length"]
    assert len([r for r in metrics(tmp_path) if r["name"] == "llm.failure"]) == 3


# -- the endpoint is unusable ----------------------------------------------------------------------------------


def test_timeout_is_unavailable_and_names_endpoint_not_key(fake: FakeLLM, tmp_path: Path) -> None:
    fake.reply_delay(2.5, times=2)                     # timeout 1 s, one SDK retry
    with pytest.raises(LLMUnavailableError, match=r"did not answer within 1 s \(2 attempt") as err:
        ai.explain(context(), environment="prod")
    assert fake.url in str(err.value) and "fake-model" in str(err.value) and API_KEY not in str(err.value)
    assert err.value.chain.status == "rules-only"  # type: ignore[attr-defined]
    assert [r["labels"]["reason"][:11] for r in metrics(tmp_path) if r["name"] == "llm.failure"] == ["unavailable"]


def test_server_errors_after_retries_are_unavailable(fake: FakeLLM) -> None:
    fake.reply_status(500, times=2)
    with pytest.raises(LLMUnavailableError, match="failed with HTTP 500 after 1 retries"):
        ai.explain(context(), environment="prod")
    assert len(fake.requests) == 2


def test_rate_limit_then_success_is_retried_by_the_sdk(fake: FakeLLM) -> None:
    fake.reply_status(429).reply_json(answer())
    x = ai.explain(context(), environment="prod")
    assert x.chain.status == "llm" and x.chain.attempts == 1 and len(fake.requests) == 2


def test_rate_limited_throughout(fake: FakeLLM) -> None:
    fake.reply_status(429, times=2)
    with pytest.raises(LLMUnavailableError, match="rate limiting"):
        ai.explain(context(), environment="prod")


def test_rejected_key_is_never_quoted(fake: FakeLLM) -> None:
    fake.reply_status(401, message=f"Incorrect API key provided: {API_KEY}")
    with pytest.raises(LLMUnavailableError, match="rejected the credentials") as err:
        ai.explain(context(), environment="prod")
    assert API_KEY not in str(err.value)


def test_unreachable_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECOPILOT_DB", str(tmp_path / "audit.duckdb"))
    with FakeLLM() as server:
        url = server.url                                # a port nobody listens on once closed
    ai.configure(base_url=url, model="m", timeout=1, max_retries=0)
    try:
        with pytest.raises(LLMUnavailableError, match="cannot be reached"):
            ai.explain(context(), environment="prod")
    finally:
        ai.configure()


def test_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KUBECOPILOT_LLM_BASE_URL", "KUBECOPILOT_LLM_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    ai.configure()
    assert not ai.llm_configured()
    with pytest.raises(LLMUnavailableError, match="no LLM is configured"):
        ai.explain(context())
    with pytest.raises(LLMUnavailableError):
        ai.intent_from_text("scale web in shop to 3")


def test_ledger_failure_never_fails_the_pipeline(fake: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    import kubecopilot.audit as audit

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    for name in ("record_llm_latency", "record_llm_tokens", "record_llm_failure"):
        monkeypatch.setattr(audit, name, broken)
    fake.reply_text("nope").reply_json(answer())
    assert ai.explain(context(), environment="prod").chain.status == "llm-retry"


# -- envAllowlist and approval --------------------------------------------------------------------------------


def _limited_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    import shutil

    real = Path(ai.load_registry().path).parent
    shutil.copytree(real, tmp_path / "prompts")
    manifest = tmp_path / "prompts" / "manifest.json"
    doc = json.loads(manifest.read_text())
    for p in doc["prompts"]:
        if p["id"] == "diagnose-explain":
            p.update(fields)
    manifest.write_text(json.dumps(doc))
    monkeypatch.setenv("KUBECOPILOT_PROMPTS", str(manifest))


def test_prompt_not_allowed_here_is_not_used(fake: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _limited_registry(tmp_path, monkeypatch, envAllowlist=["sandbox*", "dev*"])
    with pytest.raises(LLMUnavailableError, match=r"not allowed in environment 'prod-eu' \(envAllowlist: sandbox\*"):
        ai.explain(context(), environment="prod-eu")
    assert fake.requests == []                         # nothing was sent
    monkeypatch.setenv("KUBECOPILOT_ENVIRONMENT", "dev-1")
    fake.reply_json(answer())
    assert ai.explain(context()).chain.status == "llm"


def test_unapproved_prompt_is_not_used(fake: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _limited_registry(tmp_path, monkeypatch, approved=False)
    with pytest.raises(LLMUnavailableError, match="not approved"):
        ai.explain(context(), environment="prod")
    assert fake.requests == []


# -- configuration ---------------------------------------------------------------------------------------------


def test_configuration_sources_and_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KUBECOPILOT_LLM_BASE_URL", "KUBECOPILOT_LLM_API_KEY", "KUBECOPILOT_LLM_MODEL", "OPENAI_BASE_URL",
                "OPENAI_API_KEY", "KUBECOPILOT_LLM_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    ai.configure()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openaiKEY0123456789ABCDEF")
    cfg = ai.current_config()
    assert cfg.source == "OPENAI_*" and cfg.endpoint == "https://api.openai.com/v1" and ai.llm_configured()
    monkeypatch.setenv("KUBECOPILOT_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("KUBECOPILOT_LLM_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("KUBECOPILOT_LLM_TIMEOUT", "7")
    cfg = ai.current_config()
    assert (cfg.source, cfg.base_url, cfg.api_key, cfg.model, cfg.timeout) == \
        ("KUBECOPILOT_LLM_*", "http://127.0.0.1:11434/v1", None, "qwen2.5:7b", 7.0)
    try:
        cfg = ai.configure(base_url="http://10.0.0.1:8000/v1", api_key="sk-mineKEY0123456789ABCDEFG", timeout=3)
        assert (cfg.source, cfg.model, cfg.timeout) == ("configure()", "qwen2.5:7b", 3.0)
        assert "sk-mine" not in repr(cfg) and "sk-mine" not in str(cfg)
    finally:
        ai.configure()
    assert ai.current_config().source == "KUBECOPILOT_LLM_*"
    with pytest.raises(ValueError, match="timeout must be positive"):
        ai.configure(base_url="http://x", timeout=0)


# -- intents from free text -------------------------------------------------------------------------------------


def intent_answer(**over: Any) -> dict[str, Any]:
    return {"action": "scale", "kind": "deployment", "name": "billing-api", "namespace": "payments",
            "parameters": [{"key": "replicas", "value": "5"}], "reason": "the user asked for 5 replicas",
            "confidence": 0.95, "unsupported": None} | over


def test_intent_from_text_chooses_from_the_whitelist_enum(fake: FakeLLM) -> None:
    fake.reply_json(intent_answer())
    intent = ai.intent_from_text("scale billing-api in payments to 5",
                                 whitelist=[("scale", "deployments.apps"), ("restart", "Deployment"),
                                            ("patch", "deployment"), ("apply", "configmap")])
    assert intent == PlanIntent(action="scale", kind="deployment", name="billing-api", namespace="payments",
                                parameters={"replicas": 5}, reason="the user asked for 5 replicas",
                                source="llm:plan-intent@1.0.0")
    schema = fake.requests[0].body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["action"]["enum"] == ["restart", "scale"]       # patch/apply never offered
    assert schema["properties"]["kind"]["enum"] == ["deployment"]
    assert "scale deployment" in fake.requests[0].text and "patch" not in schema["properties"]["action"]["enum"]


def test_intent_patch_from_the_model_is_rejected_then_retried(fake: FakeLLM) -> None:
    whitelist = [("scale", "deployment"), ("restart", "deployment"), ("cordon", "node")]
    fake.reply_json(intent_answer(action="patch", parameters=[{"key": "patch", "value": "[]"}]))
    fake.reply_json(intent_answer(action="scale", kind="node", name="n1"))     # a pair that is not allowed
    with pytest.raises(LLMOutputError, match="did not validate after one retry"):
        # plan-intent has no fallback prompt: after the retry the model's answer is refused
        ai.intent_from_text("patch billing-api", whitelist=whitelist)
    assert len(fake.requests) == 2
    assert "action: Input should be 'cordon', 'restart' or 'scale'" in fake.requests[1].messages[-1]["content"]

    fake.reply_json(intent_answer(action="scale", kind="node", name="n1"))
    fake.reply_json(intent_answer(action="restart", parameters=[]))
    intent = ai.intent_from_text("restart billing-api", whitelist=whitelist)
    assert (intent.action, intent.target) == ("restart", "deployment/payments/billing-api")
    assert "(scale, node) is not allowed; allowed: cordon node, restart deployment, scale deployment" in \
        fake.requests[3].messages[-1]["content"]


def test_intent_unsupported_request_and_secret_in_request(fake: FakeLLM) -> None:
    fake.reply_json(intent_answer(unsupported="deleting namespaces is not an allowed action"))
    with pytest.raises(LLMOutputError, match="deleting namespaces is not an allowed action"):
        ai.intent_from_text("delete the payments namespace")
    fake.reply_json(intent_answer(action="set_env", parameters=[{"key": "container", "value": "app"},
                                                                {"key": "env.DB_PASSWORD", "value": "<SECRET_1>"}]))
    intent = ai.intent_from_text("set DB_PASSWORD=n3w-Pa55word on deployment billing-api in payments")
    assert "n3w-Pa55word" not in fake.requests[1].raw
    assert intent.parameters == {"container": "app", "env": {"DB_PASSWORD": "n3w-Pa55word"}}


def test_intent_cluster_scoped_kind_has_no_namespace(fake: FakeLLM) -> None:
    fake.reply_json(intent_answer(action="cordon", kind="node", name="sandbox-node-2", namespace="default",
                                  parameters=[]))
    intent = ai.intent_from_text("cordon sandbox-node-2", namespace="default")
    assert (intent.target, intent.parameters) == ("node/sandbox-node-2", {})


# -- ask -----------------------------------------------------------------------------------------------------------


class _Finding:
    def __init__(self, **d: Any) -> None:
        self._d = d

    def to_dict(self) -> dict[str, Any]:
        return dict(self._d)


class _Raw:
    def __init__(self, secrets: list[dict[str, Any]] | None) -> None:
        self.secrets = secrets

    def list(self, path: str, **params: Any) -> dict[str, Any]:
        if self.secrets is None:
            raise ClusterForbiddenError("GET", path, verb="list", resource="secrets", group="", namespace="shop",
                                        user="viewer")
        return {"items": self.secrets}


class _Workbench:
    context = "sandbox-admin"

    def __init__(self, secrets: list[dict[str, Any]] | None = None) -> None:
        self.raw = _Raw(secrets)


@pytest.fixture
def triage(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """A stand-in for kubecopilot.diagnose (the rule engine is another package's job): records its calls."""
    calls: list[tuple[Any, Any]] = []

    def fake_triage(ws: Any, namespace: str | None = None, **options: Any) -> Any:
        calls.append((ws, namespace))
        return types.SimpleNamespace(findings=[
            _Finding(rule="pod.pending", severity="warning", object="pod/shop/batch-1", cause="no node fits",
                     evidence=[], intent=None, caused_by=None),
            _Finding(rule="pod.crashloop", severity="error", object=TARGET, cause=f"exits 1 ({SECRET} rejected)",
                     evidence=[{"kind": "log", "source": "app", "quote": f"auth {SECRET} failed at {DB_IP}"}],
                     intent=None, caused_by=None),
        ])

    module = types.ModuleType("kubecopilot.diagnose")
    module.triage = fake_triage  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kubecopilot.diagnose", module)
    return calls


def test_ask_with_llm_redacts_namespace_secrets(fake: FakeLLM, triage: list[Any]) -> None:
    secret = {"metadata": {"name": "db"}, "data": {"password": base64.b64encode(SECRET.encode()).decode(),
                                                   "blob": base64.b64encode(b"\xff\xfe").decode()}}
    fake.reply_json({"answer": "web crashes because postgres at <IP_1> rejects <SECRET_1>.", "confidence": 0.7,
                     "evidence_refs": [TARGET], "suggested_actions": [
                         {"action": "restart", "kind": "deployment", "name": "web", "namespace": None,
                          "parameters": [], "reason": "reload credentials"}], "caveats": []})
    a = ai.ask(_Workbench([secret]), "why is web crashing?", namespace="shop")
    assert triage and triage[0][1] == "shop"
    assert SECRET not in fake.all_bodies() and DB_IP not in fake.all_bodies()
    sent = fake.requests[0]
    assert sent.schema_name == "AskAnswer" and "Question: why is web crashing?" in sent.text
    assert sent.text.index("pod.crashloop") < sent.text.index("pod.pending")     # most severe first
    assert a.status == "llm" and a.text == f"web crashes because postgres at {DB_IP} rejects {SECRET}."
    assert [(i.action, i.namespace, i.source) for i in a.intents] == [("restart", "shop", "llm:ask@1.0.0")]
    assert "Q: why is web crashing?" in str(a) and "&lt;" not in a.question
    assert API_KEY not in a._repr_html_()


def test_ask_without_llm_answers_with_the_findings(triage: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KUBECOPILOT_LLM_BASE_URL", "KUBECOPILOT_LLM_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    ai.configure()
    a = ai.ask(_Workbench(None), "what is broken?", namespace="shop")
    assert a.status == "rules-only" and "no LLM configured" in a.chain.note
    assert a.text.splitlines()[0] == "The rule engine found 2 problem(s) in namespace shop:"
    assert "[error] pod/shop/web-7d4b9c8f5d-x2k9p" in a.text.splitlines()[1]
    assert "rules only" in a._repr_html_()


def test_ask_falls_back_to_rules_when_the_llm_fails(fake: FakeLLM, triage: list[Any]) -> None:
    fake.reply_status(503, times=2)
    a = ai.ask(_Workbench(None), "what is broken?")        # Secrets forbidden: regex redaction still applies
    assert a.status == "rules-only" and "LLM unavailable" in a.chain.note
    assert a.text.startswith("The rule engine found 2 problem(s) in the cluster")
    assert DB_IP not in fake.all_bodies()


def test_ask_without_the_rule_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kubecopilot.diagnose", None)    # makes the import fail
    with pytest.raises(ImportError, match=r"kubecopilot\.diagnose\.triage"):
        ai.ask(_Workbench(), "anything?")


def test_default_whitelist_is_the_plans_policy_without_human_only_actions() -> None:
    from kubecopilot.ai._actions import normalize_whitelist
    from kubecopilot.plans import current_policy

    pairs = normalize_whitelist(None)
    assert pairs == normalize_whitelist(current_policy().whitelist_for_llm())
    assert ("scale", "deployment") in pairs
    assert not {a for a, _ in pairs} & {"patch", "apply"}


def test_intent_wildcard_kind_leaves_kind_free_but_checked(fake: FakeLLM) -> None:
    fake.reply_json(intent_answer(action="delete", kind="Pods", name="web-1", namespace="shop", parameters=[]))
    intent = ai.intent_from_text("delete pod web-1 in shop", whitelist=[("delete", "*"), ("scale", "deployment")])
    assert (intent.action, intent.target) == ("delete", "pod/shop/web-1")
    kind_schema = fake.requests[0].body["response_format"]["json_schema"]["schema"]["properties"]["kind"]
    assert "enum" not in kind_schema
