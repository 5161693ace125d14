"""Writing runbooks from Python: the structure `check` enforces, built in, and nothing else.

Used by ``scripts/build_runbooks.py`` (and tests) so that runbooks are reviewed as readable source and written
as clean notebooks: no outputs, no execution counts, kernelspec ``python3``, metadata ``kubecopilot``.

>>> nb = new_runbook(title="Cluster health", description="...", risk="low", requires=["cluster"],
...                  parameters='context: str = None  # kubeconfig context name',
...                  steps=[("## Connect", "ws = kc.connect(context=context)")],
...                  conclusion=("## Conclusion", "kc.runbooks.conclude(ok=True)"))       # doctest: +SKIP
>>> write_runbook(nb, "runbooks/cluster-health.ipynb")                                     # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kubecopilot.errors import RunbookError

__all__ = ["new_runbook", "write_runbook"]


def new_runbook(*, title: str, description: str, risk: str, requires: Sequence[str], parameters: str,
                steps: Sequence[tuple[str, str]], conclusion: tuple[str, str | None], intro: str = "",
                setup: tuple[str, str] | None = None) -> Any:
    """A runbook notebook: title (+ ``intro``) markdown, the ``parameters`` cell, an optional ``setup`` step, the
    ``steps`` as (markdown, code) pairs, and the conclusion (markdown, optional code)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["kubecopilot"] = {"title": title, "description": description, "risk": risk,
                                  "requires": list(requires)}
    cells = [new_markdown_cell(f"# {title}\n\n{description}" + (f"\n\n{intro.strip()}" if intro.strip() else ""))]
    params = new_code_cell(parameters.strip())
    params.metadata["tags"] = ["parameters"]
    cells.append(params)
    for markdown, code in ([setup] if setup else []) + list(steps):
        cells += [new_markdown_cell(markdown.strip()), new_code_cell(code.strip())]
    cells.append(new_markdown_cell(conclusion[0].strip()))
    if conclusion[1]:
        cells.append(new_code_cell(conclusion[1].strip()))
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def write_runbook(nb: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``nb`` without outputs, after `check` passes (raises `RunbookError` listing the problems)."""
    import nbformat

    from kubecopilot.runbooks._check import check_notebook

    path = Path(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.pop("id", None)
    nb = nbformat.v4.upgrade(nb)
    # stable cell ids from the position, so regenerating an unchanged runbook gives an identical file
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{path.stem[:40]}-{i}"
    report = check_notebook(nb, path)
    if not report:
        raise RunbookError(str(report))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
