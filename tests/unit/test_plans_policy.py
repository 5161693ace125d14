"""The whitelist, the approval policy and the risk rules (pure logic, hand-written facts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from kubecopilot.errors import PlanApprovalError, PlanNotAllowedError
from kubecopilot.plans import ChangeWindow, Freeze, Policy, RiskConfig, configure, current_policy
from kubecopilot.plans import _policy as policy_module
from kubecopilot.plans._model import RiskFactor
from kubecopilot.plans._risk import RiskFacts, assess, pdb_violations, selector_matches
from tests.unit.test_plans_model import make_plan


@pytest.fixture(autouse=True)
def _restore_policy() -> Iterator[None]:
    saved = policy_module._policy
    policy_module._policy = Policy()
    yield
    policy_module._policy = saved


# -- whitelist --------------------------------------------------------------------------------------------------------
def test_default_whitelist_allows_routine_work_and_names_what_is_allowed_otherwise() -> None:
    p = current_policy()
    assert p.allows("scale", "Deployment") and p.allows("drain", "node") and p.allows("suspend", "CronJob")
    assert not p.allows("delete", "Deployment") and not p.allows("patch", "Secret")
    with pytest.raises(PlanNotAllowedError) as e:
        p.check("delete", "Deployment", "deployment/shop/web")
    msg = str(e.value)
    assert "delete is allowed on: configmap, job, pod" in msg
    assert "Deployment allows: apply, patch, restart, rollback, scale" in msg and "scale" in msg and "rollback" in msg
    assert "kubecopilot.plans.configure(whitelist=...)" in msg
    with pytest.raises(PlanNotAllowedError, match="not a plan action"):
        p.check("explode", "Deployment")


def test_configure_whitelist_in_three_spellings() -> None:
    configure(whitelist={"scale": ["Deployment"]})
    assert current_policy().allowed() == [("scale", "deployment")]
    configure(whitelist=[("delete", "Deployment"), "restart:StatefulSet"])
    assert current_policy().allows("delete", "deployment") and current_policy().allows("restart", "StatefulSet")
    assert not current_policy().allows("scale", "Deployment")
    configure(whitelist={"delete": "*"})
    assert current_policy().allows("delete", "Anything")
    with pytest.raises(ValueError, match="unknown action 'nuke'"):
        configure(whitelist={"nuke": ["Deployment"]})
    with pytest.raises(ValueError, match="action:Kind"):
        configure(whitelist=["scale"])


def test_the_llm_never_gets_patch_as_an_option() -> None:
    pairs = current_policy().whitelist_for_llm()
    assert pairs and all(a != "patch" for a, _ in pairs)
    assert ("scale", "deployment") in pairs


# -- approval ---------------------------------------------------------------------------------------------------------
def test_high_risk_cannot_be_approved_by_its_requester_by_default() -> None:
    p = current_policy()
    high = make_plan(level="high", requested_by="alice")
    with pytest.raises(PlanApprovalError, match="four eyes"):
        p.check_approver(high, "alice")
    p.check_approver(high, "bob")
    p.check_approver(make_plan(level="medium", requested_by="alice"), "alice")


def test_configurable_approvers_per_level() -> None:
    configure(approvers={"high": ["sre-lead"], "medium": ["sre-lead", "bob"]}, self_approval={"high": True})
    p = current_policy()
    with pytest.raises(PlanApprovalError, match="approvers for high risk are sre-lead"):
        p.check_approver(make_plan(level="high"), "bob")
    p.check_approver(make_plan(level="high", requested_by="sre-lead"), "sre-lead")
    p.check_approver(make_plan(level="medium"), "bob")
    p.check_approver(make_plan(level="low"), "anyone")
    with pytest.raises(ValueError, match="low, medium or high"):
        configure(approvers={"critical": ["x"]})
    with pytest.raises(TypeError, match="risk options are"):
        configure(tier_lable="x")


# -- risk --------------------------------------------------------------------------------------------------------------
def _risk(facts: RiskFacts, config: RiskConfig | None = None, action: str = "scale"):
    plan = make_plan()
    plan.action = action
    return assess(plan, facts, config or RiskConfig())


def test_scale_to_zero_in_production_is_high_risk_with_a_rationale() -> None:
    r = _risk(RiskFacts(namespace="payments-prod", replicas_before=3, replicas_after=0, pods_total=3,
                        pods_disrupted=3, disruptive=True))
    assert r.level == "high" and r.score >= 0.8
    rules = [f.rule for f in r.factors]
    assert rules[0] == "scale_to_zero" and "namespace_tier" in rules and "blast_radius" in rules
    assert r.rationale.startswith("high risk") and "scales to zero" in r.rationale
    assert [f.weight for f in r.factors] == sorted((f.weight for f in r.factors), reverse=True)


def test_scaling_up_in_a_plain_namespace_is_low_risk() -> None:
    r = _risk(RiskFacts(namespace="team-a", replicas_before=2, replicas_after=4, pods_total=2))
    assert (r.level, r.score, r.factors) == ("low", 0.0, [])


def test_tier_label_beats_name_patterns_and_patterns_are_configurable() -> None:
    cfg = RiskConfig()
    assert cfg.tier_of("payments", {"kubecopilot.io/tier": "production"}) == "production"
    assert cfg.tier_of("kube-system") == "system" and cfg.tier_of("shop-prod") == "production"
    assert cfg.tier_of("product-catalog") is None  # "prod" must be a word of the name
    assert cfg.tier_of("shop-staging") == "staging"
    cfg.tier_patterns = {"production": (r"^live-",)}
    assert cfg.tier_of("live-eu") == "production" and cfg.tier_of("shop-prod") is None
    r = _risk(RiskFacts(namespace="x", tier_labels={"kubecopilot.io/tier": "system"}), action="restart")
    assert any(f.rule == "namespace_tier" and "system tier" in f.detail for f in r.factors)


def test_single_replica_and_blast_radius() -> None:
    one = _risk(RiskFacts(pods_total=1, pods_disrupted=1, disruptive=True), action="restart")
    assert any(f.rule == "single_replica" for f in one.factors)
    many = _risk(RiskFacts(pods_total=10, pods_disrupted=10, disruptive=True), action="set_image")
    blast = next(f for f in many.factors if f.rule == "blast_radius")
    assert blast.detail == "disrupts 10 of 10 pods (100%)" and not any(f.rule == "single_replica"
                                                                       for f in many.factors)
    # a single replica that is already down (crash looping) loses nothing more by the fix
    down = _risk(RiskFacts(pods_total=1, pods_available=0, pods_disrupted=1, disruptive=True), action="set_resources")
    assert not any(f.rule == "single_replica" for f in down.factors)
    up = _risk(RiskFacts(pods_total=1, pods_available=1, pods_disrupted=1, disruptive=True), action="set_resources")
    assert any(f.rule == "single_replica" for f in up.factors)


def test_pdb_violations_for_evictions_and_scale_down() -> None:
    pdb = {"metadata": {"name": "web-pdb"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
           "status": {"disruptionsAllowed": 1}}
    pods = [{"metadata": {"labels": {"app": "web"}}}, {"metadata": {"labels": {"app": "web"}}},
            {"metadata": {"labels": {"app": "db"}}}]
    [v] = pdb_violations([pdb], pods)
    assert "web-pdb allows 1 disruption(s) now; the change disrupts 2" in v
    assert pdb_violations([pdb], pods[:1]) == []
    [v] = pdb_violations([pdb], [], replicas_after=1, template_labels={"app": "web"})
    assert "minAvailable=2" in v and "leaves 1 replica" in v
    r = _risk(RiskFacts(pdb_violations=[v]))
    assert r.level == "high" and r.factors[0].rule == "pdb"


def test_selector_matching() -> None:
    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "track", "operator": "In", "values": ["stable", "canary"]},
        {"key": "legacy", "operator": "DoesNotExist"}]}
    assert selector_matches(sel, {"app": "web", "track": "canary"})
    assert not selector_matches(sel, {"app": "web", "track": "beta"})
    assert not selector_matches(sel, {"app": "web", "track": "stable", "legacy": "1"})
    assert not selector_matches({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, {})
    assert selector_matches({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["a"]}]}, {"x": "b"})


def test_change_windows_and_freezes() -> None:
    monday_noon = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)  # a Monday
    saturday = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    window = ChangeWindow("mon-fri", "09:00", "17:00", "UTC")
    assert window.contains(monday_noon) and not window.contains(saturday)
    assert ChangeWindow("fri-mon", "00:00", "23:59").contains(saturday)  # wraps over the weekend
    assert ChangeWindow("mon-fri", "09:00", "17:00", "America/New_York").contains(
        dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC))  # 10:00 in New York
    cfg = RiskConfig(change_windows=[window], clock=lambda: saturday)
    factors = _risk(RiskFacts(), cfg).factors
    assert any(f.rule == "change_window" and "mon-fri 09:00-17:00 UTC" in f.detail for f in factors)
    cfg = RiskConfig(change_windows=[window], clock=lambda: monday_noon)
    assert not _risk(RiskFacts(), cfg).factors
    cfg.freezes = [Freeze("2026-11-20T00:00:00", "2026-11-30T00:00:00", "Black Friday")]
    r = _risk(RiskFacts(), cfg)
    assert r.level == "high" and r.factors[0].rule == "freeze" and "Black Friday" in r.factors[0].detail


def test_error_budget_hook_and_custom_rules() -> None:
    calls = []

    def burn(plan):
        calls.append(plan.target)
        return 2.5

    cfg = RiskConfig(burn_rate=burn)
    r = _risk(RiskFacts(), cfg)
    assert calls == ["deployment/shop/web"]  # asked once per assessment
    assert any(f.rule == "error_budget" and "2.5x" in f.detail for f in r.factors)
    assert "2.5x is above 1x" in r.slo_budget_impact
    cfg.burn_rate = lambda plan: 0.4
    assert _risk(RiskFacts(), cfg).slo_budget_impact == "burn rate 0.4x: within budget"

    def broken(plan):
        raise RuntimeError("prometheus down")

    cfg.burn_rate = broken
    assert "unknown" in _risk(RiskFacts(), cfg).slo_budget_impact
    assert _risk(RiskFacts()).slo_budget_impact is None

    def friday_rule(ctx):
        if ctx.action == "scale":
            yield RiskFactor(rule="team", weight=0.5, detail="our team never scales on a Friday")

    cfg = RiskConfig()
    cfg.rules.append(friday_rule)
    assert _risk(RiskFacts(), cfg).factors[0].rule == "team"
    configure(rules=[friday_rule])
    assert current_policy().risk.rules == [friday_rule]
