"""Operation plans: every write to a cluster, computed, shown, risk-scored, approved, then sent.

`PlanIntent` is the input from diagnosis findings, natural language and people; the builders turn it into an
`OperationPlan` from a live read.
"""

from kubecopilot.plans._intent import ACTIONS, PlanIntent

__all__ = ["ACTIONS", "PlanIntent"]
