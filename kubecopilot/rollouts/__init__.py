"""Progressive delivery: a rollout of one or several applications as a DAG of tasks, every write an approved,
audited `OperationPlan`.

>>> import kubecopilot as kc                                                                     # doctest: +SKIP
>>> ro = kc.rollout("web", "sandbox/web:1.1", strategy=kc.rollouts.Canary(steps=[25, 50]),
...                 approved_by="alice", analysis={"window": 60, "interval": 10})
>>> ro.start()                       # background; ``ro`` in a notebook is the live view (DAG, step, analyses)
>>> ro.promote(by="alice")           # past a pause; ro.abort(by=...), ro.cancel(by=...), ro.retry(by=...)
>>> kc.rollouts.resume(ro.id)        # in another process, after a kernel restart

**The DAG.** Tasks (`Task`): ``prepare`` (apply manifests), ``build`` / ``test`` (run a Job to completion),
``deploy`` (the app's strategy), ``health_check`` (analyse the app's live pods), ``custom`` (an importable
function). ``blockBy`` names the tasks a task waits for; ``mustInOrder`` orders the applications' deploy-phase
tasks (deploy, health check) one app after the other, leaving builds and tests parallel. Each app gets
``deploy-<app>`` and ``health-<app>`` unless it has its own deploy task. Ready tasks run in parallel on a thread
pool (``max_parallel``).

**Strategies** (details and reasons in `_strategies`): `Canary` — a second Deployment ``<app>-canary`` whose pods
carry the labels the Service selects, the stable Deployment scaled so canary/total follows the step weights, then
``set_image`` on the stable one and the canary deleted; `Rolling` — batches through a ``<app>-next`` Deployment,
because Kubernetes' own rolling update cannot be stopped at a batch boundary; `BlueGreen` — ``<app>-blue`` /
``<app>-green``, a preview Service, the switch is ``set_selector`` on the active Service, the old colour removed
after ``scale_down_delay``.

**Gates and approvals.** ``approved_by`` (or ``approve(by=)`` at the rollout's gate, or a task's ``gate=True``)
names the person the rollout acts for. Plans up to ``auto_approve`` risk (default medium) are approved "on behalf
of <approver> via rollout <id>" under the plans policy — approver lists and four-eyes rules still apply, since
plans are requested by the rollout's creator. A plan above that level, or one the policy refuses, puts the rollout
in ``waiting_confirm`` until a human approves it (``kc.plans.pending()``, or ``rollout.approve(by=)``). Inside a
headless runbook the run's approval policy decides (plans go through `kubecopilot.runbooks.submit`), and a wait
ends the run in ``waiting_confirm``.

**Analysis** (`AnalysisSpec`, `_analysis`): pod readiness, restarts and crash reasons over a window, and CPU /
memory from the kubelet ``/metrics/resource`` endpoint through the node proxy (PodMetrics as a fallback).
Successful → next step; Failed → automatic rollback (every completed op undone, newest first); Inconclusive
(not enough data) → ``waiting_confirm`` until ``promote`` (accept), ``retry`` (analyse again) or ``abort``.

**States**: pending, running, waiting_confirm, success, failed, rolled_back, cancelled. ``abort`` rolls back;
``cancel`` stops and leaves the cluster as it is; ``undo`` reverses a finished rollout; ``retry`` re-runs what
failed (a rolled-back rollout starts over).

**Persistence** (`_store`): the whole state is a row of the ledger's ``rollouts`` table, saved before every action
that depends on it, plus the events ``rollout.created / started / resumed / step / task / analysis / waiting /
approved / promoted / command / rolled_back / cancelled / failed / succeeded``. Op plans carry deterministic
idempotency keys (``rollout/<id>/<task>/a<attempt>/s<step>/o<op>``), so a resumed rollout never applies an op
twice (see `_engine`). Controls are ``rollout.command`` events, applied by whichever process runs the rollout.

**Views** (`kubecopilot.display._rollout_view`): text, escaped HTML, a live ipywidgets view with Approve / Promote
/ Abort / Retry / Cancel buttons (updated from the engine's thread by setting trait values), and ``figure()``, a
plotly DAG for reports.
"""

from kubecopilot.rollouts._analysis import analyse, judge
from kubecopilot.rollouts._api import history, load, resume, rollout
from kubecopilot.rollouts._engine import TaskContext
from kubecopilot.rollouts._model import (
    SCHEMA_VERSION,
    AnalysisResult,
    AnalysisSpec,
    App,
    Approval,
    BlueGreen,
    Canary,
    CanaryStep,
    Rolling,
    RolloutError,
    RolloutSpec,
    RolloutState,
    Task,
)
from kubecopilot.rollouts._rollout import Rollout
from kubecopilot.rollouts._strategies import canary_split, rolling_batches

__all__ = [  # noqa: RUF022 - plain sorted(), as tests/unit/test_public_api.py checks
    "AnalysisResult",
    "AnalysisSpec",
    "App",
    "Approval",
    "BlueGreen",
    "Canary",
    "CanaryStep",
    "Rolling",
    "Rollout",
    "RolloutError",
    "RolloutSpec",
    "RolloutState",
    "SCHEMA_VERSION",
    "Task",
    "TaskContext",
    "analyse",
    "canary_split",
    "history",
    "judge",
    "load",
    "resume",
    "rolling_batches",
    "rollout",
]
