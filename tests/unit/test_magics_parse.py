"""The ``%kc`` magics without a cluster: argument parsing, help texts, one-line errors, and the IPython wiring."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from kubecopilot import magics
from kubecopilot.errors import PlanError, UnknownKindError
from kubecopilot.magics import COMMANDS, ContextTable, HelpText, MagicUsageError, help_text, parse, run_line

RED = "\x1b[31m"


def _args(line: str, cell: str | None = None) -> tuple[str, argparse.Namespace]:
    cmd, args = parse(line, cell)
    return cmd.path, args


# -- parsing ---------------------------------------------------------------------------------------------------------
def test_get_reads_kind_name_namespace_and_selectors() -> None:
    path, a = _args("get pods -n payments -l app=billing-api,tier!=cache --field-selector status.phase=Running")
    assert path == "get"
    assert (a.kind, a.name, a.namespace, a.selector, a.field_selector, a.all_namespaces) == (
        "pods", None, "payments", "app=billing-api,tier!=cache", "status.phase=Running", False)
    _, a = _args("get deploy billing-api")
    assert (a.kind, a.name) == ("deploy", "billing-api")
    _, a = _args("get deploy -A")
    assert a.all_namespaces and a.namespace is None
    _, a = _args("get --all-namespaces --namespace x pods")  # options anywhere, long forms too
    assert (a.kind, a.namespace, a.all_namespaces) == ("pods", "x", True)


def test_shell_quoting_is_honoured_for_ordinary_commands() -> None:
    _, a = _args("search 'billing api'")
    assert a.text == "billing api"
    _, a = _args('get pods -l "app in (web, api)"')
    assert a.selector == "app in (web, api)"


def test_logs_events_diagnose_triage_arguments() -> None:
    _, a = _args("logs billing-api-7c9d -n payments -c api -p --tail 20 --since 15m --timestamps")
    assert (a.pod, a.namespace, a.container, a.previous, a.tail, a.since, a.timestamps) == (
        "billing-api-7c9d", "payments", "api", True, 20, "15m", True)
    _, a = _args("logs -l app=web")
    assert a.pod is None and a.selector == "app=web"
    _, a = _args("events --for deploy/web --type Warning --reason BackOff --since 1h -A")
    assert (a.object, a.type, a.reason, a.since, a.all_namespaces) == ("deploy/web", "Warning", "BackOff", "1h", True)
    _, a = _args("diagnose deploy/web -n shop --no-llm")
    assert (a.ref, a.namespace, a.llm) == ("deploy/web", "shop", False)
    assert _args("diagnose pod/x")[1].llm is None  # "auto": the workbench decides
    _, a = _args("triage payments")
    assert (a.ns, a.all_namespaces) == ("payments", False)
    assert _args("triage -A")[1].all_namespaces


def test_event_type_is_checked_by_the_parser() -> None:
    with pytest.raises(MagicUsageError, match="invalid choice: 'Warn'"):
        parse("events --type Warn")


def test_raw_commands_keep_sql_and_questions_verbatim() -> None:
    _, a = _args("audit SELECT actor FROM audit_events WHERE action = 'plan.approved'  AND seq > 1")
    assert a.sql == "SELECT actor FROM audit_events WHERE action = 'plan.approved'  AND seq > 1"  # quotes + spacing
    _, a = _args("audit --limit 5")
    assert (a.limit, a.sql) == (5, "")
    _, a = _args("audit --limit=7 verify")
    assert (a.limit, a.sql) == (7, "verify")
    _, a = _args("ask -n payments why isn't billing-api up?")  # an apostrophe would break shlex
    assert (a.namespace, a.question) == ("payments", "why isn't billing-api up?")
    _, a = _args("ask -A what is -n doing here?")  # options only at the start; the rest is the question
    assert a.all_namespaces and a.question == "what is -n doing here?"


def test_cell_bodies_only_for_cell_commands() -> None:
    path, a = _args("ask -n payments", "why is checkout slow?\n")
    assert path == "ask" and a.question == ""  # the body is read by the command, not the parser
    assert _args("audit", "SELECT 1")[0] == "audit"
    with pytest.raises(MagicUsageError, match="takes no cell body"):
        parse("get pods", "something")


def test_plan_builders_parse_their_arguments() -> None:
    path, a = _args("plan scale deploy/billing-api 3 -n payments --reason 'sale traffic' --requested-by bob")
    assert path == "plan scale"
    assert (a.ref, a.replicas, a.namespace, a.reason, a.requested_by) == (
        "deploy/billing-api", 3, "payments", "sale traffic", "bob")
    path, a = _args("plan set-env deploy/api DATABASE_URL=postgres://db/x?a=b LOG_LEVEL- -c api")
    assert path == "plan set-env" and a.env == ["DATABASE_URL=postgres://db/x?a=b", "LOG_LEVEL-"]
    assert magics._env_changes(a.env) == {"DATABASE_URL": "postgres://db/x?a=b", "LOG_LEVEL": None}
    _, a = _args("plan set-resources deploy/t --limits memory=512Mi --requests cpu=100m,memory=128Mi")
    assert magics._resources(a.limits, "--limits") == {"memory": "512Mi"}
    assert magics._resources(a.requests, "--requests") == {"cpu": "100m", "memory": "128Mi"}
    assert _args("plan drain node/n1 --force")[1].force
    assert _args("plan rollback deploy/x --revision 2")[1].revision == 2
    with pytest.raises(MagicUsageError, match="expected KEY=VALUE"):
        magics._env_changes(["JUSTAWORD"])


def test_plan_words_go_to_the_phrase_parser() -> None:
    path, a = _args("plan scale billing-api in payments to 5")  # not `scale REF REPLICAS`, but a known phrasing
    assert path == "plan request" and a.request == "scale billing-api in payments to 5"
    path, a = _args("plan please restart the checkout deployment")  # first word is no builder: free text
    assert path == "plan request" and a.request == "please restart the checkout deployment"
    # a builder line that is neither valid arguments nor a known phrasing keeps the builder's usage error
    with pytest.raises(MagicUsageError, match="invalid int value: 'three'") as e:
        parse("plan scale deploy/x three")
    assert e.value.path == "plan scale"


def test_plan_ids_and_approvals_need_a_name() -> None:
    _, a = _args("approve 3f2a9c1e --by alice --reason 'checked the diff'")
    assert (a.plan_id, a.by, a.reason) == ("3f2a9c1e", "alice", "checked the diff")
    with pytest.raises(MagicUsageError, match="required: --by"):
        parse("approve 3f2a9c1e")
    _, a = _args("execute 3f2a --wait --timeout 60")
    assert (a.wait, a.timeout) == (True, 60.0)
    assert _args("pending --all -n payments")[1].all


def test_runbook_postmortem_connect_arguments() -> None:
    path, a = _args("runbook run cluster-health -p namespace payments -p restart_threshold 5 --approve-up-to low "
                    "--approved-by alice")
    assert path == "runbook run"
    assert a.param == [["namespace", "payments"], ["restart_threshold", "5"]] and a.approve_up_to == "low"
    assert _args("runbook describe cluster-health")[1].name == "cluster-health"
    _, a = _args("postmortem --since 2h -n payments --no-save")
    assert (a.since, a.namespace, a.no_save, a.until) == ("2h", "payments", True, None)
    assert _args("postmortem")[1].since == "2h"
    _, a = _args("connect ~/.kube/config --context prod -n payments --name p")
    assert (a.kubeconfig, a.context, a.namespace, a.name) == ("~/.kube/config", "prod", "payments", "p")
    assert _args("connect")[1].kubeconfig is None
    assert _args("use sandbox-viewer")[1].name == "sandbox-viewer"


@pytest.mark.parametrize(("line", "message", "path"), [
    ("gett pods", "unknown command 'gett'. Did you mean get?", None),
    ("", "no command given", None),
    ("get", "the following arguments are required: KIND", "get"),
    ("get pods --bogus", "unrecognized arguments: --bogus", "get"),
    ("plan", "plan needs a command. Choose one of: scale, restart", "plan"),
    ("runbook frobnicate", "unknown runbook command 'frobnicate'", "runbook"),
    ("runbook rn x", "Did you mean run", "runbook"),
    ("logs 'unclosed", "No closing quotation", "logs"),
    ("plan scale deploy/x", "required: REPLICAS", "plan scale"),
])
def test_usage_errors_name_the_problem_and_the_help(line: str, message: str, path: str | None) -> None:
    with pytest.raises(MagicUsageError) as e:
        parse(line)
    assert message in str(e.value)
    assert e.value.path == path
    assert isinstance(e.value, ValueError)


def test_leading_options_stop_at_the_first_unknown_word() -> None:
    parser = COMMANDS["ask"].parser()
    assert magics._leading_options("-n ns  why -A?", parser) == (["-n", "ns"], "why -A?")
    assert magics._leading_options("-A -n=x text", parser) == (["-A", "-n=x"], "text")
    assert magics._leading_options("--unknown x", parser) == ([], "--unknown x")
    assert magics._leading_options("", parser) == ([], "")


# -- help ------------------------------------------------------------------------------------------------------------
def test_help_overview_lists_every_command_with_its_summary() -> None:
    text = str(help_text())
    for name, cmd in COMMANDS.items():
        assert f"  {name} " in text and cmd.summary in text
    assert "-n NS" in text and "{expr}" in text


@pytest.mark.parametrize("path", sorted(c.path for c in magics._all_commands()))
def test_every_command_has_help_with_its_usage(path: str) -> None:
    text = str(help_text(path))
    assert text.startswith(f"usage: %kc {path}")
    cmd, _ = magics._resolve(path.split())
    assert cmd.summary in " ".join(text.split())  # argparse may wrap the description


def test_help_for_a_group_lists_its_commands_and_examples() -> None:
    text = str(help_text("plan"))
    for sub in ("scale", "restart", "set-image", "set-env", "rollback", "drain", "request"):
        assert f"  {sub} " in text
    assert "%kc plan scale deploy/billing-api 3 -n payments" in text


def test_help_forms_are_equivalent() -> None:
    assert parse("help get")[1].topic == ["get"]
    cmd, a = parse("get --help")
    assert cmd.name == "help" and a.topic == ["get"]
    cmd, a = parse("plan scale -h")
    assert a.topic == ["plan", "scale"]
    cmd, a = parse("audit -h")
    assert a.topic == ["audit"]
    cmd, a = parse("runbook --help")
    assert a.topic == ["runbook"]
    assert str(run_line("get -h")) == str(help_text("get"))


def test_help_on_unknown_topics_is_an_error() -> None:
    with pytest.raises(MagicUsageError, match=r"unknown command 'gte'\. Did you mean get"):
        help_text("gte")
    with pytest.raises(MagicUsageError, match="unknown runbook command 'start'"):
        help_text("runbook start")
    with pytest.raises(MagicUsageError, match="has no command 'pods'"):
        help_text("get pods")


def test_help_text_renders_as_plain_text() -> None:
    h = HelpText("usage: %kc x")
    assert repr(h) == str(h) == "usage: %kc x"  # no quotes around it in a notebook


# -- errors: one red line, or a traceback for bugs ---------------------------------------------------------------------
def test_usage_error_prints_one_red_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_line("get pods --bogus") is None
    err = capsys.readouterr().err
    assert err.startswith(f"{RED}kc get: unrecognized arguments: --bogus")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_library_errors_print_one_line_naming_the_command(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    def forbidden(args: argparse.Namespace, cell: str | None) -> None:
        raise PlanError("forbidden: user 'v' may not list secrets\nCheck with: kubectl auth can-i ...")

    monkeypatch.setattr(COMMANDS["get"], "run", forbidden)
    assert run_line("get secrets") is None
    err = capsys.readouterr().err
    assert err == f"{RED}kc get: forbidden: user 'v' may not list secrets Check with: kubectl auth can-i ...\x1b[0m\n"

    monkeypatch.setattr(COMMANDS["get"], "run", lambda a, c: (_ for _ in ()).throw(UnknownKindError("x", ["pod"])))
    run_line("get x")
    assert capsys.readouterr().err.startswith(f"{RED}kc get: unknown kind 'x'")

    monkeypatch.setattr(COMMANDS["get"], "run", lambda a, c: int("not a number"))  # ValueError: bad input
    assert run_line("get x") is None
    assert "kc get: invalid literal for int()" in capsys.readouterr().err


def test_unexpected_exceptions_still_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(COMMANDS["get"], "run", lambda a, c: {}["missing"])
    with pytest.raises(KeyError):
        run_line("get pods")


def test_key_values_and_namespace_choice() -> None:
    assert magics._key_values(["a=1", "b=x=y"], "t") == {"a": "1", "b": "x=y"}

    class WS:
        namespace = "team"

    ns = magics._namespace
    assert ns(argparse.Namespace(namespace=None, all_namespaces=False), WS()) == "team"
    assert ns(argparse.Namespace(namespace="x", all_namespaces=False), WS()) == "x"
    assert ns(argparse.Namespace(namespace=None, all_namespaces=True), WS()) is None
    assert ns(argparse.Namespace(namespace="x", all_namespaces=False), WS(), namespaced=False) is None
    with pytest.raises(MagicUsageError, match="not both"):
        ns(argparse.Namespace(namespace="x", all_namespaces=True), WS())


def test_context_table_text_and_escaped_html() -> None:
    t = ContextTable("/k/config", [("*", "prod", "c1", "u1", "default"), ("", "<b>x</b>", "c2", "u2", "ns")])
    text = repr(t)
    assert "CONTEXT" in text and "* " in text.splitlines()[2] and t.names == ["prod", "<b>x</b>"]
    assert "<b>x</b>" not in t._repr_html_() and "&lt;b&gt;x&lt;/b&gt;" in t._repr_html_()


# -- IPython wiring ----------------------------------------------------------------------------------------------------
def test_load_ext_registers_kc_in_a_real_shell(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "kubecopilot")
    try:
        assert "kc" in ip.magics_manager.magics["line"] and "kc" in ip.magics_manager.magics["cell"]
        out = ip.run_line_magic("kc", "help triage")
        assert isinstance(out, HelpText) and str(out).startswith("usage: %kc triage")
        result = ip.run_cell("%kc gett pods")  # a usage mistake: one red line, and the cell succeeds
        assert result.success and result.result is None
        assert "kc gett: unknown command 'gett'" in capsys.readouterr().err
        ip.user_ns["which"] = "plan scale"
        assert str(ip.run_cell("%kc help {which}").result).startswith("usage: %kc plan scale")  # {expr} expansion
    finally:
        ip.run_line_magic("unload_ext", "kubecopilot")
    assert "kc" not in ip.magics_manager.magics["line"]


def test_import_kubecopilot_stays_light() -> None:
    code = "import sys, kubecopilot; print(sorted(m for m in ('IPython', 'kubecopilot.magics') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
