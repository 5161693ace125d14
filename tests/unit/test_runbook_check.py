"""The runbook validator (CI over runbooks/), the catalog (find/list/describe) and the CLI parts that need no kernel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from kubecopilot import runbooks
from kubecopilot.errors import RunbookError, RunbookNotFoundError
from kubecopilot.runbooks._authoring import new_runbook, write_runbook
from kubecopilot.runbooks._check import check_notebook

ROOT = Path(__file__).resolve().parents[2]
KUBECOPILOT = str(Path(sys.executable).with_name("kubecopilot"))


def _good(**over: object) -> nbformat.NotebookNode:
    kw: dict = dict(
        title="Demo <b>", description="A demo runbook.", risk="low", requires=["cluster"],
        parameters="context: str = None  # kubeconfig context name\nreplicas: int = 2  # how many",
        steps=[("## Step one", "x = 1"), ("## Step two", "y = 2")],
        conclusion=("## Conclusion", "print(x + y)"))
    kw.update(over)
    return new_runbook(**kw)


def _problems(nb: nbformat.NotebookNode) -> list[str]:
    return [str(p) for p in check_notebook(nb, Path("demo.ipynb")).problems]


def test_a_runbook_written_by_the_authoring_helper_keeps_every_rule(tmp_path: Path) -> None:
    path = write_runbook(_good(), tmp_path / "demo.ipynb")
    report = runbooks.check(path)
    assert report.ok and bool(report) and str(report).endswith(": OK")
    again = write_runbook(_good(), tmp_path / "demo2.ipynb")
    assert nbformat.read(again, 4).cells[1].id == "demo2-1"  # stable ids: regenerating gives the same file


@pytest.mark.parametrize("where", ["runbooks", "tests/runbook_fixtures"])
def test_the_stored_runbooks_keep_every_rule(where: str) -> None:
    reports = runbooks.check(ROOT / where)
    assert len(reports) >= 1
    assert reports, str(reports)


def mutate_meta(nb: nbformat.NotebookNode) -> None:
    nb.metadata["kubecopilot"] = {"title": "", "risk": "extreme", "requires": ["cluster", "teleport"]}


def mutate_kernel(nb: nbformat.NotebookNode) -> None:
    nb.metadata["kernelspec"]["name"] = "python3.11-venv"


def mutate_outputs(nb: nbformat.NotebookNode) -> None:
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells[3].execution_count = 1


def mutate_no_markdown(nb: nbformat.NotebookNode) -> None:
    del nb.cells[4]  # the markdown of step two


def mutate_params_tag(nb: nbformat.NotebookNode) -> None:
    nb.cells[1].metadata["tags"] = []


def mutate_params_code(nb: nbformat.NotebookNode) -> None:
    nb.cells[1].source += "\nimport os"


def mutate_params_untyped(nb: nbformat.NotebookNode) -> None:
    nb.cells[1].source = "context: str = None\nreplicas = 2  # how many"


def mutate_no_conclusion(nb: nbformat.NotebookNode) -> None:
    nb.cells[-2].source = "## Wrap-up"


def mutate_conclusion_not_last(nb: nbformat.NotebookNode) -> None:
    nb.cells.append(nbformat.v4.new_markdown_cell("## Appendix"))
    nb.cells.append(nbformat.v4.new_code_cell("z = 3"))


def mutate_no_title(nb: nbformat.NotebookNode) -> None:
    nb.cells[0].source = "just words"


def mutate_params_not_first(nb: nbformat.NotebookNode) -> None:
    nb.cells.insert(1, nbformat.v4.new_code_cell("import kubecopilot"))


def mutate_credential(nb: nbformat.NotebookNode) -> None:
    nb.cells[1].source = "context: str = None  # c\nbearer_token: str = None  # t"


@pytest.mark.parametrize("mutate, expected", [
    (mutate_meta, ["metadata.kubecopilot.title must be a non-empty string",
                   "metadata.kubecopilot.description must be a non-empty string",
                   "metadata.kubecopilot.risk is 'extreme'", "requires names 'teleport'"]),
    (mutate_kernel, ["kernelspec.name is 'python3.11-venv'"]),
    (mutate_outputs, ["cell 3: has stored outputs"]),
    (mutate_no_markdown, ["cell 4: code cell without a markdown cell right before it"]),
    (mutate_params_tag, ["exactly one code cell must be tagged 'parameters' (found 0)"]),
    (mutate_params_code, ["only `name: type = default  # description` lines belong"]),
    (mutate_params_untyped, ["parameter 'context' needs a short description",
                             "parameter 'replicas' needs a type annotation"]),
    (mutate_no_conclusion, ["no conclusion"]),
    (mutate_conclusion_not_last, ["the conclusion must come last"]),
    (mutate_no_title, ["cell 0: the runbook must open with a markdown cell holding its title"]),
    (mutate_params_not_first, ["cell 1: the parameters cell must be the first code cell"]),
    (mutate_credential, ["'bearer_token' looks like a credential"]),
])
def test_each_broken_rule_is_reported(mutate, expected: list[str]) -> None:
    nb = _good()
    assert _problems(nb) == []
    mutate(nb)
    problems = _problems(nb)
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)


def test_write_runbook_refuses_a_broken_runbook(tmp_path: Path) -> None:
    nb = _good()
    nb.metadata["kubecopilot"]["risk"] = "none"
    with pytest.raises(RunbookError, match="risk is 'none'"):
        write_runbook(nb, tmp_path / "bad.ipynb")
    assert not (tmp_path / "bad.ipynb").exists()


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "junk.ipynb").write_text("{not json")
    reports = runbooks.check(tmp_path)
    assert not reports and "cannot read as a notebook" in str(reports)


# -- catalog --------------------------------------------------------------------------------------------------------


@pytest.fixture
def book_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_runbook(_good(), tmp_path / "scale-web.ipynb")
    broken = _good()
    broken.cells[1].source = "x: int = 'no'  # bad default"
    nbformat.write(broken, tmp_path / "broken.ipynb")
    monkeypatch.setenv("KUBECOPILOT_RUNBOOKS_PATH", str(tmp_path))
    return tmp_path


def test_list_finds_runbooks_on_the_search_path_and_shows_broken_ones(book_dir: Path) -> None:
    found = runbooks.list()
    assert {"scale-web", "broken", "cluster-health"} <= set(found.names)
    broken = found[found.names.index("broken")]
    assert broken.problem and "does not fit its type" in broken.problem and "[BROKEN]" in str(found)
    assert list(found.frame.columns[:3]) == ["name", "risk", "title"]
    assert runbooks.search_path()[0] == book_dir


def test_describe_renders_parameters_and_steps_escaped(book_dir: Path) -> None:
    rb = runbooks.describe("scale-web")
    assert [p.name for p in rb.parameters] == ["context", "replicas"] and rb.parameter("context").required
    assert rb.steps == ("Step one", "Step two", "Conclusion") and rb.requires == ("cluster",)
    text = str(rb)
    assert "context" in text and "required" in text and "default 2" in text
    assert "<b>" not in rb._repr_html_().replace("<b>required</b>", "").replace("<b>Broken", "")
    assert "Demo &lt;b&gt;" in rb._repr_html_()
    with pytest.raises(RunbookError, match="does not fit its type"):
        runbooks.describe("broken")


def test_unknown_runbook_names_the_closest(book_dir: Path) -> None:
    with pytest.raises(RunbookNotFoundError) as err:
        runbooks.describe("scale-wbe")
    assert "Did you mean 'scale-web'?" in str(err.value) and "KUBECOPILOT_RUNBOOKS_PATH" in str(err.value)
    with pytest.raises(RunbookNotFoundError, match="does not exist"):
        runbooks.describe(str(book_dir / "nope.ipynb"))


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECOPILOT, "runbook", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def test_cli_check_list_describe(book_dir: Path) -> None:
    ok = _cli("check", str(ROOT / "runbooks"))
    assert ok.returncode == 0 and "cluster-health.ipynb: OK" in ok.stdout
    bad = _cli("check", str(book_dir))
    assert bad.returncode == 1 and "broken.ipynb: 1 problem(s)" in bad.stdout
    listed = _cli("list", KUBECOPILOT_RUNBOOKS_PATH=str(book_dir))
    assert listed.returncode == 0 and "scale-web" in listed.stdout and "cluster-health" in listed.stdout
    described = _cli("describe", "scale-wbe", KUBECOPILOT_RUNBOOKS_PATH=str(book_dir))
    assert described.returncode == 2 and "Did you mean 'scale-web'?" in described.stderr
