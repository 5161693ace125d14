"""Grade the rule engine against the sandbox scenarios: ``python -m kubecopilot.diagnose.evaluate``.

Every scenario in ``kubecopilot/sandbox/scenarios`` is seeded into a fresh namespace (``<prefix><name>``) of a
running sandbox, the run waits until each shows its symptoms (or a healthy control passes its health check),
then each namespace is triaged (node scenarios: the node is diagnosed too). The table says, per broken
scenario, whether the expected rule was found on the expected object, at which rank, and how many of the
scenario's keywords the finding mentions; per healthy control, how many findings it got (should be 0).

Scenarios that add nodes add their own (``<namespace>-node``), never touching the sandbox's nodes; everything is
removed at the end unless ``--keep``. Only one sandbox runs on a small machine: pass the data dir of the one in use.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ScenarioResult", "evaluate", "main"]

TARGET_FOUND = 0.90
TARGET_FIRST = 0.80


@dataclass
class ScenarioResult:
    scenario: str
    namespace: str
    expected_rule: str | None
    expected_object: str | None
    found: bool = False
    rank: int | None = None
    keywords: str = ""
    findings: int = 0
    first: str = ""
    settled: bool = True
    seconds: float = 0.0
    error: str = ""
    top: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.expected_rule is None


def _expected_ref(kind: str, name: str, namespace: str) -> str:
    from kubecopilot.diagnose._util import obj_ref

    return obj_ref(kind, None if kind == "Node" else namespace, name)


def _grade(result: ScenarioResult, findings: list[Any], keywords: list[str]) -> None:
    for i, f in enumerate(findings, 1):
        if f.rule == result.expected_rule and f.object == result.expected_object:
            result.found, result.rank = True, i
            text = " ".join([f.object, f.cause, *(f"{e.source} {e.quote}" for e in f.evidence)]).lower()
            hits = sum(1 for k in keywords if k.lower() in text)
            result.keywords = f"{hits}/{len(keywords)}"
            return


def evaluate(data_dir: str | Path | None = None, *, patterns: list[str] | None = None, prefix: str = "ev-",
             seed: bool = True, keep: bool = False, settle_timeout: float = 240.0, out: Any = sys.stdout
             ) -> list[ScenarioResult]:
    import kubecopilot as kc
    from kubecopilot.diagnose import diagnose, triage
    from kubecopilot.sandbox import Sandbox
    from kubecopilot.sandbox._nodecontrol import remove_nodes
    from kubecopilot.sandbox._rest import ApiError, resource_path
    from kubecopilot.sandbox._scenarios import load_scenarios, wait_settled
    from kubecopilot.sandbox._scenarios import seed as seed_scenario

    sb = Sandbox(data_dir=Path(data_dir) if data_dir else None)
    if not all(sb.running().values()):
        raise SystemExit(f"no running sandbox in {sb.dir}: start it with `kubecopilot sandbox up --data-dir "
                         f"{sb.dir}` (or pass --data-dir of the one in use)")
    client = sb.client()
    scenarios = [s for s in load_scenarios()
                 if not patterns or any(fnmatch.fnmatch(s.name, p) or s.name == p for p in patterns)]
    if not scenarios:
        raise SystemExit(f"no scenario matches {patterns}")
    pairs = [(s, f"{prefix}{s.name}"[:63]) for s in scenarios]
    node_names = [n.name for s, ns in pairs for n in s.render(ns).nodes]

    def cleanup() -> None:
        for _, ns in pairs:
            with contextlib.suppress(ApiError):
                client.delete(resource_path("Namespace", name=ns))
        if node_names:
            remove_nodes(client, node_names)

    unsettled: set[str] = set()
    results: list[ScenarioResult] = []
    try:
        if seed:
            cleanup()
            time.sleep(1)
            print(f"seeding {len(pairs)} scenario(s) into {sb.dir} ...", file=out, flush=True)
            started = time.monotonic()
            ordered = sorted(pairs, key=lambda p: any(n.condition != "Ready" for n in p[0].nodes))
            for scenario, ns in ordered:
                seed_scenario(client, scenario, ns)
            print(f"seeded in {time.monotonic() - started:.0f} s; waiting for symptoms (up to {settle_timeout:.0f} s)"
                  " ...", file=out, flush=True)
            unsettled = set(wait_settled(client, pairs, timeout=settle_timeout))
        ws = kc.connect(str(sb.kubeconfig_path), context="sandbox-admin", name="evaluate")
        for scenario, ns in pairs:
            expect = scenario.render(ns).expect
            r = ScenarioResult(scenario.name, ns, expect.rule if expect else None,
                               _expected_ref(expect.kind, expect.name, ns) if expect else None,
                               settled=scenario.name not in unsettled)
            t0 = time.perf_counter()
            try:
                t = triage(ws, ns, record=False)
                findings = list(t.findings)
                r.findings = len(findings)
                r.top = [f.key for f in findings[:3]]
                r.first = findings[0].key if findings else ""
                if expect is not None:
                    _grade(r, findings, expect.keywords)
                    if not r.found and expect.kind == "Node":
                        d = diagnose(ws, f"node/{expect.name}", record=False, llm=False)
                        _grade(r, list(d.findings), expect.keywords)
            except Exception as e:  # one scenario's failure is a row of the table, not the end of the run
                r.error = f"{type(e).__name__}: {e}"[:200]
            r.seconds = time.perf_counter() - t0
            results.append(r)
    finally:
        if seed and not keep:
            cleanup()
    print(report(results), file=out, flush=True)
    return results


def report(results: list[ScenarioResult]) -> str:
    broken = [r for r in results if not r.healthy]
    healthy = [r for r in results if r.healthy]
    rows = [("SCENARIO", "EXPECTED ROOT CAUSE", "FOUND", "RANK", "KEYWORDS", "FIRST FINDING / NOTE")]
    for r in broken:
        note = r.error or (r.first if r.rank != 1 else "")
        if not r.settled:
            note = "(symptoms not all seen) " + note
        rows.append((r.scenario, r.expected_rule or "", "yes" if r.found else "NO", str(r.rank or "-"),
                     r.keywords or "-", note))
    for r in healthy:
        rows.append((r.scenario, "(healthy control)", "-", "-", "-",
                     f"{r.findings} finding(s)" + (f": {', '.join(r.top)}" if r.findings else "") + (
                         f" {r.error}" if r.error else "")))
    widths = [min(48, max(len(row[i]) for row in rows)) for i in range(5)]
    lines = []
    for row in rows:
        cells = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(row[:5], widths, strict=True)]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  " + row[5])
    n = len(broken) or 1
    found = sum(r.found for r in broken)
    first = sum(r.rank == 1 for r in broken)
    false = sum(r.findings for r in healthy)
    lines += [
        "",
        f"root cause found:   {found}/{len(broken)} = {found / n:.0%}  (target >= {TARGET_FOUND:.0%})",
        f"ranked first:       {first}/{len(broken)} = {first / n:.0%}  (target >= {TARGET_FIRST:.0%})",
        f"healthy controls:   {false} finding(s) on {len(healthy)} control(s)  (target 0)",
    ]
    return "\n".join(lines)


def met(results: list[ScenarioResult]) -> bool:
    broken = [r for r in results if not r.healthy]
    n = len(broken) or 1
    return (sum(r.found for r in broken) / n >= TARGET_FOUND and sum(r.rank == 1 for r in broken) / n >= TARGET_FIRST
            and not sum(r.findings for r in results if r.healthy))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kubecopilot.diagnose.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="data dir of a running sandbox (default: the user's sandbox)")
    p.add_argument("--scenario", action="append", default=[], metavar="NAME",
                   help="only these scenarios (repeatable; glob patterns allowed)")
    p.add_argument("--prefix", default="ev-", help="namespace prefix (default: ev-)")
    p.add_argument("--no-seed", action="store_true", help="grade namespaces seeded earlier under --prefix")
    p.add_argument("--keep", action="store_true", help="leave the seeded namespaces and nodes in place")
    p.add_argument("--settle-timeout", type=float, default=240.0, help="seconds to wait for symptoms")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = p.parse_args(argv)
    results = evaluate(args.data_dir, patterns=args.scenario, prefix=args.prefix, seed=not args.no_seed,
                       keep=args.keep, settle_timeout=args.settle_timeout)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if args.strict and not met(results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
