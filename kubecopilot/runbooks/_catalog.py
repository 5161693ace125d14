"""Finding runbooks and reading what they declare (title, risk, requirements, parameters, steps).

A runbook is found by name in the directories of ``$KUBECOPILOT_RUNBOOKS_PATH`` (``os.pathsep``-separated, first
wins) and then in the project's ``runbooks/``; a path to an ``.ipynb`` works anywhere a name does. Reading a
runbook never starts a kernel: the ``parameters`` cell is parsed as Python source (see `_params`).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import html
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kubecopilot.errors import RunbookError, RunbookNotFoundError
from kubecopilot.runbooks._params import Parameter, parse_parameters

__all__ = ["RISKS", "Runbook", "RunbookList", "find_runbook", "list_runbooks", "load_runbook", "search_path"]

ENV_PATH = "KUBECOPILOT_RUNBOOKS_PATH"
RISKS = ("low", "medium", "high")
_PROJECT_RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


def search_path() -> list[Path]:
    """Where runbooks are looked up by name, in order: ``$KUBECOPILOT_RUNBOOKS_PATH``, then ``runbooks/``."""
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p.strip()]
    if _PROJECT_RUNBOOKS.is_dir():
        dirs.append(_PROJECT_RUNBOOKS)
    return dirs


@dataclasses.dataclass(frozen=True)
class Runbook:
    """What a runbook declares. ``problem`` is set (and ``parameters`` empty) when its parameters cell is broken:
    it is still listed, so the problem shows, but it cannot run."""

    name: str
    path: Path
    title: str
    description: str
    risk: str
    requires: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    steps: tuple[str, ...]
    sha256: str
    problem: str | None = None

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def __repr__(self) -> str:
        return f"Runbook({self.name!r}, risk={self.risk!r}, parameters={[p.name for p in self.parameters]})"

    def __str__(self) -> str:
        lines = [f"{self.name} — {self.title}", f"  {self.description}" if self.description else "",
                 f"  risk: {self.risk}    requires: {', '.join(self.requires) or '-'}    file: {self.path}"]
        if self.problem:
            lines.append(f"  BROKEN: {self.problem}")
        lines.append("  parameters:")
        for p in self.parameters:
            default = "required" if p.required else f"default {p.default!r}"
            lines.append(f"    {p.name:<20} {p.type!s:<18} {default:<22} {p.description}")
        if not self.parameters:
            lines.append("    (none)")
        if self.steps:
            lines.append("  steps:")
            lines.extend(f"    {i}. {s}" for i, s in enumerate(self.steps, 1))
        return "\n".join(line for line in lines if line)

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td><code>{e(p.name)}</code></td><td><code>{e(str(p.type))}</code></td>"
            f"<td>{'<b>required</b>' if p.required else '<code>' + e(repr(p.default)) + '</code>'}</td>"
            f"<td>{e(p.description)}</td></tr>" for p in self.parameters)
        steps = "".join(f"<li>{e(s)}</li>" for s in self.steps)
        broken = f"<p style='color:#cf222e'><b>Broken:</b> {e(self.problem)}</p>" if self.problem else ""
        return (f"<div><h4>{e(self.title)} <small><code>{e(self.name)}</code> · risk {e(self.risk)}</small></h4>"
                f"<p>{e(self.description)}</p>{broken}<p>Requires: {e(', '.join(self.requires) or '-')}</p>"
                "<table><tr><th>parameter</th><th>type</th><th>default</th><th>description</th></tr>"
                f"{rows}</table><ol>{steps}</ol></div>")


class RunbookList(Sequence[Runbook]):
    """The runbooks found, by name; a table in the notebook, ``.frame`` for pandas."""

    def __init__(self, items: list[Runbook]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: Any) -> Any:
        return self._items[i]

    def __iter__(self) -> Iterator[Runbook]:
        return iter(self._items)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self._items]

    @property
    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [{"name": r.name, "risk": r.risk, "title": r.title, "parameters": ", ".join(p.name for p in r.parameters),
              "requires": ", ".join(r.requires), "path": str(r.path)} for r in self._items],
            columns=["name", "risk", "title", "parameters", "requires", "path"])

    def __repr__(self) -> str:
        return f"RunbookList({self.names})"

    def __str__(self) -> str:
        if not self._items:
            dirs = ", ".join(str(d) for d in search_path()) or "(no directory)"
            return f"no runbooks found in {dirs} (set ${ENV_PATH} to add directories)"
        width = max(len(r.name) for r in self._items)
        return "\n".join(f"{r.name:<{width}}  {r.risk:<6}  {r.title}" + ("  [BROKEN]" if r.problem else "")
                         for r in self._items)

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(f"<tr><td><code>{e(r.name)}</code></td><td>{e(r.risk)}</td><td>{e(r.title)}</td>"
                       f"<td>{e(', '.join(p.name for p in r.parameters))}</td></tr>" for r in self._items)
        return ("<table><tr><th>runbook</th><th>risk</th><th>title</th><th>parameters</th></tr>"
                f"{rows}</table>")


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            return line.lstrip().lstrip("#").strip()
    return ""


def parameters_cell(nb: Any) -> tuple[int, Any] | tuple[None, None]:
    """The (index, cell) of the first code cell tagged ``parameters``."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in (cell.metadata.get("tags") or []):
            return i, cell
    return None, None


def load_runbook(path: str | os.PathLike[str], *, strict: bool = True) -> Runbook:
    """Read a runbook file. ``strict`` raises on a broken parameters cell; otherwise the problem is recorded."""
    import nbformat

    path = Path(path)
    try:
        raw = path.read_bytes()
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunbookError(f"cannot read runbook {path}: {e}. Is it a Jupyter notebook (.ipynb)?") from None
    meta = nb.metadata.get("kubecopilot") or {}
    problem = None
    params: list[Parameter] = []
    index, cell = parameters_cell(nb)
    if cell is not None:
        try:
            params = parse_parameters(cell.source)
        except RunbookError as e:
            if strict:
                raise RunbookError(f"runbook {path.stem!r} ({path}): {e}") from None
            problem = str(e)
    headings = [_first_heading(c.source) if c.cell_type == "markdown" else "" for c in nb.cells]
    steps = tuple(h for h in headings[(index or 0) + 1:] if h)
    return Runbook(
        name=path.stem,
        path=path.absolute(),
        title=str(meta.get("title") or next((h for h in headings if h), path.stem)),
        description=str(meta.get("description") or ""),
        risk=str(meta.get("risk") or "unknown"),
        requires=tuple(str(r) for r in meta.get("requires") or ()),
        parameters=tuple(params),
        steps=steps,
        sha256=hashlib.sha256(raw).hexdigest(),
        problem=problem,
    )


def _candidates() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in search_path():
        if d.is_dir():
            for p in sorted(d.glob("*.ipynb")):
                if not p.name.startswith((".", "_")):
                    found.setdefault(p.stem, p)
    return found


def list_runbooks() -> RunbookList:
    """Every runbook on the search path, by name (the first directory that has a name wins)."""
    found = _candidates()
    return RunbookList([load_runbook(found[name], strict=False) for name in sorted(found)])


def find_runbook(name: str | os.PathLike[str]) -> Runbook:
    """A runbook by name (``cluster-health``) or by path (``./my.ipynb``); `RunbookNotFoundError` lists the
    available ones, the closest first."""
    text = os.fspath(name)
    as_path = Path(text).expanduser()
    if text.endswith(".ipynb") or os.sep in text:
        if as_path.is_file():
            return load_runbook(as_path)
        raise RunbookNotFoundError(f"no runbook file {text!r} (it does not exist or is not a file)")
    found = _candidates()
    if text in found:
        return load_runbook(found[text])
    close = difflib.get_close_matches(text, list(found), n=3, cutoff=0.4)
    ordered = close + sorted(n for n in found if n not in close)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    where = ", ".join(str(d) for d in search_path()) or "(none)"
    raise RunbookNotFoundError(
        f"no runbook named {text!r}.{hint} Available: {', '.join(ordered) or '(none)'} (searched {where}; "
        f"add directories with ${ENV_PATH}, or pass a path to an .ipynb)")
