"""Views only: escaped HTML pieces, plotly figures and ipywidgets views over plain data.

Display code never talks to a cluster: domain objects (`Resource`, `EventTable`, `Topology`, `Watch`, ...) gather
the data and hand plain values (strings, rows, node/edge lists, callables) to these renderers, which they import
only when something is actually rendered, so nothing here is needed to use the library headless.
"""

from kubecopilot.display._figures import event_timeline, topology_figure
from kubecopilot.display._html import badge, details, html_table, kv_table, pre_lines
from kubecopilot.display._live import LiveTable
from kubecopilot.display._plan_view import plan_html, plan_text
from kubecopilot.display._widgets import PlanWidget

__all__ = [
    "LiveTable",
    "PlanWidget",
    "badge",
    "details",
    "event_timeline",
    "html_table",
    "kv_table",
    "plan_html",
    "plan_text",
    "pre_lines",
    "topology_figure",
]
