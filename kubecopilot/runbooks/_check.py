"""The structure every runbook in ``runbooks/`` keeps (``kc.runbooks.check`` / ``kubecopilot runbook check``, in CI).

Rules, each a reader's need rather than taste:

- valid nbformat 4, kernelspec ``python3`` (the kernel the runner uses), no stored outputs or execution counts
  (a stored output would be mistaken for a result);
- metadata ``kubecopilot: {title, description, risk: low|medium|high, requires: [...]}`` where ``requires``
  names kubecopilot sub-packages (``cluster``, ``diagnose``, ``plans`` ...), checked before a run;
- it opens with a markdown title, then exactly one code cell tagged ``parameters``, which is the first code
  cell and holds only ``name: type = default  # description`` lines: typed, described, literal defaults, no
  credential-like names (runbooks take a ``context`` name);
- a markdown cell directly before every later code cell (the step's explanation);
- it ends with a conclusion: a markdown cell headed "Conclusion" (or tagged ``conclusion``), followed by at most
  one code cell.
"""

from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kubecopilot.errors import RunbookError
from kubecopilot.runbooks._catalog import RISKS, _first_heading, search_path
from kubecopilot.runbooks._params import parse_parameters

__all__ = ["CAPABILITIES", "CheckReport", "Problem", "check", "check_notebook"]

CAPABILITIES = ("ai", "audit", "cluster", "diagnose", "plans", "postmortems", "rollouts")
#: the design's singular names, still accepted for the packages they meant (`requires` names packages)
ALIASES = {"postmortem": "postmortems", "rollout": "rollouts"}


@dataclasses.dataclass(frozen=True)
class Problem:
    """One broken rule: the cell it is about (``None`` for the whole notebook) and what to do."""

    cell: int | None
    message: str

    def __str__(self) -> str:
        return (f"cell {self.cell}: " if self.cell is not None else "") + self.message


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """The result of checking one runbook; truthy when it keeps every rule."""

    path: Path
    problems: tuple[Problem, ...]

    def __bool__(self) -> bool:
        return not self.problems

    @property
    def ok(self) -> bool:
        return not self.problems

    def __repr__(self) -> str:
        return f"CheckReport({self.path.name!r}, problems={len(self.problems)})"

    def __str__(self) -> str:
        if not self.problems:
            return f"{self.path}: OK"
        return f"{self.path}: {len(self.problems)} problem(s)\n" + "\n".join(f"  {p}" for p in self.problems)

    def _repr_html_(self) -> str:
        e = html.escape
        if not self.problems:
            return f"<div><code>{e(str(self.path))}</code>: <b style='color:#1a7f37'>OK</b></div>"
        items = "".join(f"<li>{e(str(p))}</li>" for p in self.problems)
        return f"<div><code>{e(str(self.path))}</code>: <b style='color:#cf222e'>problems</b><ul>{items}</ul></div>"


class CheckReports(Sequence[CheckReport]):
    """Reports for several runbooks; truthy when all pass."""

    def __init__(self, reports: list[CheckReport]) -> None:
        self._reports = reports

    def __len__(self) -> int:
        return len(self._reports)

    def __getitem__(self, i: Any) -> Any:
        return self._reports[i]

    def __iter__(self) -> Iterator[CheckReport]:
        return iter(self._reports)

    def __bool__(self) -> bool:
        return all(self._reports)

    def __repr__(self) -> str:
        bad = sum(1 for r in self._reports if not r)
        return f"CheckReports({len(self._reports)} runbooks, {bad} with problems)"

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self._reports) or "no runbooks to check"

    def _repr_html_(self) -> str:
        return "".join(r._repr_html_() for r in self._reports)


def _tags(cell: Any) -> list[str]:
    return list(cell.metadata.get("tags") or [])


def check_notebook(nb: Any, path: Path) -> CheckReport:
    """Check an already-read notebook (see the module docstring for the rules)."""
    import nbformat

    problems: list[Problem] = []
    add = problems.append
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        add(Problem(None, f"not a valid nbformat 4 notebook: {e.message}"))
    kernelspec = nb.metadata.get("kernelspec") or {}
    if kernelspec.get("name") != "python3":
        add(Problem(None, f"metadata.kernelspec.name is {kernelspec.get('name')!r}; runbooks run on 'python3'"))
    meta = nb.metadata.get("kubecopilot")
    if not isinstance(meta, dict):
        add(Problem(None, "metadata.kubecopilot is missing: add {title, description, risk, requires}"))
        meta = {}
    for key in ("title", "description"):
        if not isinstance(meta.get(key), str) or not meta.get(key, "").strip():
            add(Problem(None, f"metadata.kubecopilot.{key} must be a non-empty string"))
    if meta.get("risk") not in RISKS:
        add(Problem(None, f"metadata.kubecopilot.risk is {meta.get('risk')!r}; use one of {', '.join(RISKS)} "
                          "(the most a run can change: low = reads only)"))
    requires = meta.get("requires")
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        add(Problem(None, "metadata.kubecopilot.requires must be a list of kubecopilot sub-packages "
                          f"({', '.join(CAPABILITIES)})"))
    else:
        for r in requires:
            if r not in CAPABILITIES and r not in ALIASES:
                add(Problem(None, f"metadata.kubecopilot.requires names {r!r}; known: {', '.join(CAPABILITIES)}"))

    cells = list(nb.cells)
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            add(Problem(i, "has stored outputs or an execution count; clear them (the stored runbook is a recipe, "
                           "runs keep their outputs in the runs dir)"))
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.lstrip().startswith("#"):
        add(Problem(0, "the runbook must open with a markdown cell holding its title (`# Title`)"))
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    tagged = [i for i in code if "parameters" in _tags(cells[i])]
    if len(tagged) != 1:
        add(Problem(None, f"exactly one code cell must be tagged 'parameters' (found {len(tagged)})"))
    params_index = tagged[0] if tagged else None
    if params_index is not None:
        if code and code[0] != params_index:
            add(Problem(code[0], "the parameters cell must be the first code cell"))
        try:
            params = parse_parameters(cells[params_index].source)
        except RunbookError as e:
            add(Problem(params_index, str(e)))
            params = []
        for p in params:
            if not p.annotated:
                add(Problem(params_index, f"parameter {p.name!r} needs a type annotation (`{p.name}: int = ...`)"))
            if not p.description:
                add(Problem(params_index, f"parameter {p.name!r} needs a short description as a trailing comment "
                                          f"(`{p.name}: ... = ...  # what it is`)"))
    for i in code:
        if i == params_index:
            continue
        if i == 0 or cells[i - 1].cell_type != "markdown":
            add(Problem(i, "code cell without a markdown cell right before it: explain each step in markdown"))

    concl = [i for i, c in enumerate(cells) if c.cell_type == "markdown"
             and ("conclusion" in _tags(c) or _first_heading(c.source).lower().startswith("conclusion"))]
    if not concl:
        add(Problem(None, "no conclusion: end with a markdown cell headed '## Conclusion' (optionally followed by "
                          "one code cell that states the result, e.g. kubecopilot.runbooks.conclude(...))"))
    else:
        after = cells[concl[-1] + 1:]
        if len(after) > 1 or any(c.cell_type == "markdown" for c in after):
            add(Problem(concl[-1], "the conclusion must come last (at most one code cell after it)"))
    return CheckReport(path, tuple(problems))


def check(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None) -> Any:
    """Check one runbook file (→ `CheckReport`), several, or a directory / every runbook on the search path
    (→ `CheckReports`). Reports are truthy when the runbook keeps every rule."""
    import nbformat

    def one(p: Path) -> CheckReport:
        try:
            nb = nbformat.read(p, as_version=4)
        except Exception as e:  # unreadable JSON is a problem to report, like any other
            return CheckReport(p, (Problem(None, f"cannot read as a notebook: {e}"),))
        return check_notebook(nb, p)

    if path is not None and not isinstance(path, list | tuple):
        p = Path(path)
        if p.is_file():
            return one(p)
        if not p.exists():
            raise RunbookError(f"cannot check {os.fspath(path)!r}: no such file or directory")
        return CheckReports([one(f) for f in sorted(p.glob("*.ipynb"))])
    paths = [d for d in search_path() if d.is_dir()] if path is None else [Path(p) for p in path]
    files = [f for p in paths for f in (sorted(p.glob("*.ipynb")) if p.is_dir() else [p])]
    return CheckReports([one(f) for f in files])
