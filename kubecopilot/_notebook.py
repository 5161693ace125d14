"""The notebook glue shared by objects that carry a live widget (plans, rollouts): a mime bundle that shows the
widget in a kernel and keeps static HTML and text as fallbacks for saved notebooks, nbconvert and plain REPLs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["in_kernel", "widget_bundle"]


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a frontend can render widgets), False in a plain interpreter or REPL."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def widget_bundle(text: str, html: str, widget: Callable[[], Any], include: Any = None,
                  exclude: Any = None) -> dict[str, Any]:
    """``text/plain`` and ``text/html`` always; in a kernel, the widget's view on top of them."""
    bundle: dict[str, Any] = {"text/plain": text, "text/html": html}
    if in_kernel():
        try:
            view = widget()._repr_mimebundle_(include=include, exclude=exclude) or {}
        except Exception:  # no widget support in this frontend: the HTML stays
            view = {}
        if isinstance(view, tuple):
            view = view[0]
        bundle.update({k: v for k, v in view.items() if k != "text/plain"})
    return bundle
