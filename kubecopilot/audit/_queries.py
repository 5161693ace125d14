"""The ready-made views, as SQL over the ledger tables (run through ``Ledger.sql``).

Action names other modules are expected to append (the views key on them):
``plan.approved``, ``plan.rejected``; a plan's outcome is the last action recorded for it.
"""

from __future__ import annotations

PLAN_APPROVED = "plan.approved"
PLAN_REJECTED = "plan.rejected"

TIMELINE = """
SELECT seq, ts, actor, action, object, plan_id, diagnosis_id, runbook_run_id, payload
FROM audit_events
WHERE ts >= $1 AND ts < $2
  AND ($3 IS NULL
       OR (len(string_split(object, '/')) = 3 AND split_part(object, '/', 2) = $3)
       OR object = 'namespace/' || $3)
ORDER BY seq
"""

PLAN_OUTCOMES = f"""
SELECT plan_id,
       arg_max(action, seq) AS outcome,
       arg_max(actor, seq) FILTER (WHERE action = '{PLAN_APPROVED}') AS approved_by,
       arg_max(object, seq) AS object,
       min(ts) AS first_ts,
       max(ts) AS last_ts,
       count(*) AS events
FROM audit_events
WHERE plan_id IS NOT NULL
GROUP BY plan_id
ORDER BY first_ts, plan_id
"""

APPROVALS_BY_PERSON = f"""
SELECT actor,
       count(*) FILTER (WHERE action = '{PLAN_APPROVED}') AS approved,
       count(*) FILTER (WHERE action = '{PLAN_REJECTED}') AS rejected,
       min(ts) AS first_ts,
       max(ts) AS last_ts
FROM audit_events
WHERE action IN ('{PLAN_APPROVED}', '{PLAN_REJECTED}')
GROUP BY actor
ORDER BY approved DESC, rejected DESC, actor
"""

LLM_USAGE = """
SELECT labels->>'$.model' AS model,
       count(*) FILTER (WHERE name = 'llm.latency') AS calls,
       count(*) FILTER (WHERE name = 'llm.failure') AS failures,
       coalesce(sum(value) FILTER (WHERE name = 'llm.tokens.prompt'), 0)::BIGINT AS prompt_tokens,
       coalesce(sum(value) FILTER (WHERE name = 'llm.tokens.completion'), 0)::BIGINT AS completion_tokens,
       quantile_cont(value, 0.5) FILTER (WHERE name = 'llm.latency') AS latency_p50_s,
       quantile_cont(value, 0.95) FILTER (WHERE name = 'llm.latency') AS latency_p95_s
FROM metrics
WHERE name LIKE 'llm.%'
GROUP BY model
ORDER BY model
"""
