"""`PlanWidget`: an `OperationPlan` with Approve / Reject / Execute buttons.

A view, nothing more: the buttons call ``plan.approve`` / ``plan.reject`` / ``plan.execute`` — the same methods a
script calls — and the widget re-renders whenever the plan changes (it listens with ``plan.on_change``), so a plan
approved in another cell updates its buttons too. Buttons disable themselves when their action is not possible in
the plan's state, and while an action runs. Results and errors go into an ``HTML`` widget's value (not an
``Output`` widget, whose capture only works with a frontend attached, see ECOSYSTEM-NOTES §5), so headless tests
see exactly what a person sees.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from kubecopilot.display._plan_view import plan_html
from kubecopilot.errors import KubeCopilotError

if TYPE_CHECKING:
    from kubecopilot.plans._model import OperationPlan

__all__ = ["PlanWidget"]

_OK = "color:#1a7f37"
_ERR = "color:#cf222e"


def _default_user() -> str:
    from kubecopilot.plans._policy import current_user

    return current_user()


class PlanWidget(w.VBox):
    """The plan's view, an approver name (prefilled from ``$KUBECOPILOT_USER`` or the OS user), a reason, and the
    three buttons. ``.message`` is the HTML widget holding the last result or error."""

    def __init__(self, plan: OperationPlan, *, wait: bool = False, timeout: float = 300.0) -> None:
        self.plan = plan
        self.timeout = timeout
        self.view = w.HTML(layout=w.Layout(width="100%"))
        self.approver = w.Text(value=_default_user(), description="Approver", placeholder="your name",
                               layout=w.Layout(width="260px"))
        self.reason = w.Text(value="", description="Reason", placeholder="why (recorded in the audit)",
                             layout=w.Layout(width="420px"))
        self.approve_button = w.Button(description="Approve", button_style="success", icon="check",
                                       tooltip="approve as the person named in Approver")
        self.reject_button = w.Button(description="Reject", button_style="danger", icon="times",
                                      tooltip="reject: the plan can never be executed")
        self.execute_button = w.Button(description="Execute", button_style="warning", icon="play",
                                       tooltip="re-read, check drift, apply with a resourceVersion precondition")
        self.wait_box = w.Checkbox(value=wait, description="wait for post-conditions", indent=False,
                                   layout=w.Layout(width="220px"))
        self.message = w.HTML(value="")
        self._busy = False
        self.approve_button.on_click(lambda _: self._run("approve"))
        self.reject_button.on_click(lambda _: self._run("reject"))
        self.execute_button.on_click(lambda _: self._run("execute"))
        super().__init__([
            self.view,
            w.HBox([self.approver, self.reason]),
            w.HBox([self.approve_button, self.reject_button, self.execute_button, self.wait_box]),
            self.message,
        ])
        self.add_class("kc-plan-widget")
        plan.on_change(lambda _plan: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Re-render the view and set which buttons are usable in the plan's current state."""
        self.view.value = plan_html(self.plan)
        status = self.plan.status
        busy = self._busy
        self.approve_button.disabled = busy or status != "pending"
        self.reject_button.disabled = busy or status not in ("pending", "confirmed")
        self.execute_button.disabled = busy or status != "confirmed"
        self.approver.disabled = busy or status not in ("pending", "confirmed")
        self.reason.disabled = self.approver.disabled

    def _say(self, text: str, style: str) -> None:
        self.message.value = f'<div style="{style};white-space:pre-wrap">{html.escape(text)}</div>'

    def _run(self, action: str) -> None:
        if self._busy:
            return
        self._busy = True
        self.refresh()
        who, why = self.approver.value.strip(), self.reason.value.strip()
        try:
            if action == "approve":
                self.plan.approve(by=who, reason=why)
                self._say(f"approved by {who}", _OK)
            elif action == "reject":
                self.plan.reject(by=who, reason=why)
                self._say(f"rejected by {who}", _OK)
            else:
                self._say("executing…", "color:#57606a")
                result: Any = self.plan.execute(by=who or None, wait=self.wait_box.value, timeout=self.timeout)
                self._say(f"executed: {result}", _OK)
        except KubeCopilotError as e:
            self._say(f"{type(e).__name__}: {e}", _ERR)
        except Exception as e:  # never leave the buttons dead on an unexpected error
            self._say(f"unexpected {type(e).__name__}: {e}", _ERR)
        finally:
            self._busy = False
            self.refresh()
