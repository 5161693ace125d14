"""`LiveTable`: an ipywidgets view of something that changes in a background thread (a watch).

The view is an ``HTML`` widget whose ``value`` is replaced with a fresh rendering, a status line and a Stop button.
Worker threads only ever *set trait values* (``update``/``finish``): that is delivered to the frontend as a comm
message and works from any thread, unlike ``with output:`` capture, which is misrouted from threads (see
ECOSYSTEM-NOTES §5). The producer owns the data; this class only shows what it is handed.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["LiveTable"]


class LiveTable:
    """An HTML body, a status line and a Stop button; ``on_stop`` runs when the button is clicked."""

    def __init__(self, on_stop: Callable[[], None], *, title: str = "") -> None:
        import ipywidgets as w

        self._lock = threading.Lock()
        self.title = w.HTML(value=f"<b>{html.escape(title)}</b>")
        self.status = w.HTML(value="")
        self.body = w.HTML(value="")
        self.button = w.Button(description="Stop", icon="stop", button_style="warning",
                               tooltip="stop watching (the table keeps its last state)")
        self.button.on_click(lambda _b: on_stop())
        self.box = w.VBox([w.HBox([self.button, self.title, self.status]), self.body])

    def update(self, body_html: str, status: str) -> None:
        """Replace the body (markup the caller escaped) and the status line (plain text)."""
        with self._lock:
            self.body.value = body_html
            self.status.value = f'<span style="color:#57606a">&nbsp;{html.escape(status)}</span>'

    def finish(self, status: str) -> None:
        """Show the final status and disable the Stop button."""
        with self._lock:
            self.status.value = f'<span style="color:#57606a">&nbsp;{html.escape(status)}</span>'
            self.button.disabled = True
            self.button.description = "Stopped"

    def close(self) -> None:
        self.box.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.box._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)
