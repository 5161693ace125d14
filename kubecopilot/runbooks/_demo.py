"""``kubecopilot demo`` (``make demo``): the whole product on the embedded sandbox, start to finish, headless.

1. the sandbox comes up (or the running one in the data dir is reused), every incident scenario is seeded into a
   namespace of its own, and the demo waits until each shows its symptoms;
2. the ``triage-namespace`` runbook triages those namespaces — and only those, so pointing the demo at a shared
   cluster never plans a fix elsewhere — and plans the mechanical fixes; a pre-recorded approval by a demo identity
   (``demo-sre``) covers the low-risk ones, which are executed; the others end the run ``waiting_confirm``;
3. the ``postmortem-report`` runbook writes the report of the incident window (HTML with its charts, and Markdown);
4. a summary says what was found, executed and left waiting, and where the output notebooks, the report and the
   audit ledger are.

Everything goes to one output directory (default ``<sandbox data dir>/demo``): the audit ledger ``audit.duckdb``,
``runs/`` with the output notebooks, ``postmortem.html`` / ``postmortem.md``. Running it again reuses the sandbox
(and the control-plane build cached by ``make``); seeding again restores each scenario's broken state.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEMO_CONTEXT", "Demo", "add_parser", "run_demo"]

DEMO_CONTEXT = "sandbox-admin"
DEMO_APPROVER = "demo-sre"
#: the longest a diagnosis rule waits before calling a fresh object broken (a Deployment's unavailability, 30 s)
SETTLE_GRACE = 35.0


@dataclasses.dataclass
class Demo:
    """What a demo run produced (``str()`` is the summary the CLI prints)."""

    out: Path
    kubeconfig: Path
    ledger: Path
    namespaces: list[str]
    unsettled: list[str]
    triage: Any  # RunbookRun
    postmortem: Any  # RunbookRun
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def report(self) -> Path:
        return Path(self.postmortem.result["html"])

    @property
    def executed(self) -> list[str]:
        return [k for k, e in self.triage.plans.items() if e.get("decision") == "executed"]

    def __repr__(self) -> str:
        return (f"Demo(namespaces={len(self.namespaces)}, triage={self.triage.status!r}, "
                f"executed={len(self.executed)}, pending={len(self.triage.pending_plans)}, "
                f"report={str(self.report)!r})")

    def __str__(self) -> str:
        t, r, policy = self.triage.result, self.postmortem.result, self.triage.policy
        lines = [
            "", "KubeCopilot demo",
            f"  scenarios      {len(self.namespaces)} namespace(s) seeded"
            + (f"; not settled in time: {', '.join(self.unsettled)}" if self.unsettled else ""),
            f"  findings       {t.get('findings', 0)} ({t.get('root_causes', 0)} root cause(s)): "
            f"{', '.join(t.get('root_cause_rules') or []) or '-'}",
            f"  plans          {t.get('plans', 0)} built; {len(t.get('executed') or [])} executed under the "
            f"pre-recorded approval of {policy.get('approved_by')} (up to {policy.get('approve_up_to')} risk); "
            f"{len(self.triage.pending_plans)} waiting for a human",
        ]
        lines += [f"    executed     {x}" for x in t.get("executed") or []]
        lines += [f"    waiting      {e['plan_id']} ({e.get('risk')} risk) {k.removeprefix('fix:')}"
                  for k, e in self.triage.plans.items() if e.get("decision") == "pending"]
        lines += [f"    skipped      {x}" for x in t.get("skipped") or []]
        lines += [
            f"  postmortem     {r.get('summary', '-')}",
            "", "Where things are",
            f"  report         {r.get('html')}",
            f"                 {r.get('markdown')}",
            f"  notebooks      {self.triage.output}",
            f"                 {self.postmortem.output}",
            f"  audit ledger   {self.ledger}",
            f"  kubeconfig     export KUBECONFIG={self.kubeconfig}",
        ]
        if self.triage.pending_plans:
            lines += ["", "Next: approve or reject the waiting plans in a notebook",
                      f"  (KUBECOPILOT_DB={self.ledger}; kc.plans.pending(), plan.approve(by=...)), then",
                      f"  KUBECOPILOT_DB={self.ledger} kubecopilot runbook resume {self.triage.run_id} "
                      f"--kubeconfig {self.kubeconfig}"]
        if self.timings:
            lines += ["", "Timings  " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())]
        return "\n".join(lines)


def _created(client: Any, namespace: str) -> dt.datetime:
    meta = client.get(f"/api/v1/namespaces/{namespace}")["metadata"]
    return dt.datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))


def run_demo(*, data_dir: str | Path | None = None, scenarios: Sequence[str] | None = None, namespace_prefix: str = "",
             wait: float = 150.0, approve_up_to: str = "low", approved_by: str = DEMO_APPROVER,
             out: str | Path | None = None, say: Callable[[str], None] | None = None) -> Demo:
    """Run the demo (see the module docstring). ``scenarios``: names (default: all); ``namespace_prefix`` goes
    before each scenario's name to make its namespace; ``wait``: seconds to wait for the symptoms; ``out``: the
    output directory (default ``<data dir>/demo``). Raises `RunbookFailedError` if a runbook fails (it names the
    cell and the output notebook)."""
    from kubecopilot import runbooks
    from kubecopilot.audit import open_ledger
    from kubecopilot.runbooks._policy import ApprovalPolicy
    from kubecopilot.sandbox import Sandbox
    from kubecopilot.sandbox import _scenarios as sc

    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    ApprovalPolicy(approve_up_to, approved_by)  # a bad policy fails before anything starts
    chosen = [sc.get_scenario(n) for n in (scenarios or sc.scenario_names())]  # unknown names fail early too
    timings: dict[str, float] = {}
    t0 = time.monotonic()

    sb = Sandbox(data_dir=Path(data_dir) if data_dir else None)
    sb.up(timeout=90)
    client = sb.client()
    out = Path(out).expanduser().absolute() if out else sb.dir / "demo"
    out.mkdir(parents=True, exist_ok=True)
    timings["sandbox"] = time.monotonic() - t0

    t = time.monotonic()
    seeded = []
    for i, scenario in enumerate(chosen, start=1):
        say(f"seeding {i}/{len(chosen)}: {scenario.name}")
        seeded.append((scenario, sc.seed(client, scenario, f"{namespace_prefix}{scenario.name}")))
    namespaces = [ns for _, ns in seeded]
    say(f"waiting up to {wait:.0f} s for the scenarios' symptoms ...")
    unsettled = sc.wait_settled(client, seeded, timeout=wait)
    created = {ns: _created(client, ns) for ns in namespaces}
    # a rule calls a fresh object broken only after a grace period: triage no sooner than that after seeding
    rest = SETTLE_GRACE - (dt.datetime.now(dt.UTC) - max(created.values())).total_seconds()
    if rest > 0:
        time.sleep(rest)
    say(sc.summarize(client, seeded))
    timings["seed+settle"] = time.monotonic() - t

    ledger = open_ledger(out / "audit.duckdb")
    common = {"context": DEMO_CONTEXT, "kubeconfig": sb.kubeconfig_path, "runs_dir": out / "runs", "ledger": ledger,
              "actor": approved_by}
    t = time.monotonic()
    say(f"running triage-namespace over {len(namespaces)} namespace(s) (approval up to {approve_up_to} risk by "
        f"{approved_by}) ...")
    triage = runbooks.run("triage-namespace", {"namespaces": namespaces}, approve_up_to=approve_up_to,
                          approved_by=approved_by, **common)
    timings["triage-namespace"] = time.monotonic() - t

    t = time.monotonic()
    since = (min(created.values()) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    say(f"running postmortem-report since {since} ...")
    postmortem = runbooks.run("postmortem-report", {
        "since": since, "namespace": namespaces[0] if len(namespaces) == 1 else None, "output": str(out),
        "title": f"Postmortem: the sandbox's seeded incidents ({len(namespaces)} namespace(s))"}, **common)
    timings["postmortem-report"] = time.monotonic() - t
    timings["total"] = time.monotonic() - t0
    return Demo(out=out, kubeconfig=sb.kubeconfig_path, ledger=ledger.path, namespaces=namespaces,
                unsettled=unsettled, triage=triage, postmortem=postmortem, timings=timings)


def cmd_demo(args: argparse.Namespace) -> int:
    import logging

    from kubecopilot.errors import RunbookFailedError

    logging.getLogger("papermill").setLevel(logging.CRITICAL)  # a failure is printed with its cell below
    try:
        demo = run_demo(data_dir=args.data_dir, scenarios=args.scenario, namespace_prefix=args.namespace_prefix,
                        wait=args.wait, approve_up_to=args.approve_up_to, approved_by=args.approved_by, out=args.out)
    except RunbookFailedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(demo)
    return 0


def add_parser(sub: Any) -> None:
    """Add ``demo`` to the top-level sub-parsers."""
    p = sub.add_parser("demo", help="sandbox + every scenario, triaged, fixed within policy, postmortem written",
                       description="Sandbox up with the incident scenarios, the triage-namespace runbook over them "
                                   "(fixes executed within the approval policy), a postmortem report; then where "
                                   "the output notebooks, the report and the audit ledger are.")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="sandbox data directory (default: $KUBECOPILOT_SANDBOX_DIR or the user data dir); a sandbox "
                        "running there is reused")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="seed only this scenario (repeatable; default: every scenario)")
    p.add_argument("--namespace-prefix", default="", metavar="PREFIX",
                   help="put PREFIX before each scenario's namespace (default: none)")
    p.add_argument("--wait", type=float, default=150.0, metavar="SECONDS",
                   help="how long to wait for the scenarios' symptoms (default 150)")
    p.add_argument("--approve-up-to", choices=["none", "low", "medium", "high"], default="low",
                   help="plans up to this risk are approved by --approved-by and executed (default: low)")
    p.add_argument("--approved-by", default=DEMO_APPROVER, metavar="NAME",
                   help=f"the demo identity whose approval is pre-recorded (default: {DEMO_APPROVER})")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output directory: audit ledger, runs/, postmortem.html/.md (default: <data dir>/demo)")
    p.set_defaults(func=cmd_demo)
