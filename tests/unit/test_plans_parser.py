"""The offline phrase parser: common SRE phrasings -> PlanIntent; anything else -> the list of what it understands."""

from __future__ import annotations

from typing import Any

import pytest

from kubecopilot.errors import PlanError
from kubecopilot.plans import PHRASINGS, parse_intent


@pytest.mark.parametrize(("text", "expected"), [
    ("scale billing-api in payments to 5", ("scale", "deployment", "payments", "billing-api", {"replicas": 5})),
    ("Scale deploy/billing-api to 0 replicas -n payments",
     ("scale", "deployment", "payments", "billing-api", {"replicas": 0})),
    ("scale statefulset db in namespace data to 3", ("scale", "statefulset", "data", "db", {"replicas": 3})),
    ("scale payments/billing-api --replicas=2", ("scale", "deployment", "payments", "billing-api", {"replicas": 2})),
    ("please restart deploy/payments/billing-api", ("restart", "deployment", "payments", "billing-api", {})),
    ("rollout restart sts/db -n data", ("restart", "statefulset", "data", "db", {})),
    ("rollback billing-api in payments", ("rollback", "deployment", "payments", "billing-api", {})),
    ("roll back billing-api in payments to revision 3",
     ("rollback", "deployment", "payments", "billing-api", {"revision": 3})),
    ("rollout undo deploy/web", ("rollback", "deployment", None, "web", {})),
    ("set image of billing-api container app to Registry.local/Team/API:1.2 in payments",
     ("set_image", "deployment", "payments", "billing-api", {"image": "Registry.local/Team/API:1.2",
                                                            "container": "app"})),
    ("set image deploy/web app=nginx:1.27", ("set_image", "deployment", None, "web",
                                             {"image": "nginx:1.27", "container": "app"})),
    ("update the image of web to nginx:1.27", ("set_image", "deployment", None, "web", {"image": "nginx:1.27"})),
    ("cordon node-1", ("cordon", "node", None, "node-1", {})),
    ("uncordon node/node-1", ("uncordon", "node", None, "node-1", {})),
    ("drain node sandbox-node-2.", ("drain", "node", None, "sandbox-node-2", {})),
    ("suspend cronjob nightly-report in batch", ("suspend", "cronjob", "batch", "nightly-report", {})),
    ("resume cronjob/batch/nightly-report", ("resume", "cronjob", "batch", "nightly-report", {})),
    ("pause cj/nightly", ("suspend", "cronjob", None, "nightly", {})),
    ("delete pod web-7d9c-x2k in payments", ("delete", "pod", "payments", "web-7d9c-x2k", {})),
    ("delete pod/payments/web-7d9c-x2k", ("delete", "pod", "payments", "web-7d9c-x2k", {})),
])
def test_phrasings(text: str, expected: tuple[str, str, str | None, str, dict[str, Any]]) -> None:
    intent = parse_intent(text)
    assert (intent.action, intent.kind, intent.namespace, intent.name, intent.parameters) == expected
    assert intent.source == "parser" and intent.reason == text.strip()


def test_every_documented_phrasing_parses() -> None:
    for line in PHRASINGS:
        for text in line.split(" / "):
            parse_intent(text.replace("[", "").replace("]", ""))


@pytest.mark.parametrize("text", ["make billing-api faster", "scale billing-api", "delete deployment/web",
                                  "scale a/b/c/d to 3", "", "scale payments/web in shop to 3"])
def test_unknown_or_ambiguous_phrasing_is_a_clear_error(text: str) -> None:
    with pytest.raises(PlanError) as e:
        parse_intent(text)
    msg = str(e.value)
    assert ("Phrasings understood" in msg or "phrasings understood" in msg or "say one" in msg
            or "pods only" in msg or "cannot read" in msg)


def test_the_error_lists_what_it_understands() -> None:
    with pytest.raises(PlanError) as e:
        parse_intent("make billing-api faster")
    assert "'scale billing-api in payments to 5'" in str(e.value) and "Configure an LLM" in str(e.value)
