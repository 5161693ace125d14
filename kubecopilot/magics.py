"""IPython magics: ``%load_ext kubecopilot``, then kubectl-like one-liners that return KubeCopilot's rich objects.

>>> %load_ext kubecopilot                                   # doctest: +SKIP
>>> %kc connect ~/.kube/config --context prod
>>> %kc get pods -n payments -l app=billing-api             # a ResourceTable (the notebook renders it)
>>> %kc diagnose deploy/billing-api -n payments             # a Diagnosis
>>> %kc plan scale deploy/billing-api 3 -n payments         # an OperationPlan with Approve / Reject buttons
>>> %%kc ask -n payments
... why does checkout return 502s?

Every command is a thin shell over the Python API (``%kc help`` lists them; ``%kc help get`` shows one), so a
magic and the call it stands for behave the same. Arguments are read with `shlex` and `argparse`; the SQL of
``%kc audit`` and the question of ``%kc ask`` are taken verbatim (after IPython's ``{var}`` expansion), because
shell quoting would eat their quotes and apostrophes.

Errors KubeCopilot raises on purpose (`KubeCopilotError`) and bad input (``ValueError``, usage mistakes) print
one red line, ``kc get: <message>``, and the cell goes on: their messages already name the problem and the fix,
and a traceback into the library would hide that. Anything else is a bug and raises as usual.
"""

from __future__ import annotations

import argparse
import difflib
import html
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from kubecopilot.errors import ConnectionNotFoundError, KubeCopilotError

__all__ = ["COMMANDS", "Command", "ContextTable", "HelpText", "KubeCopilotMagics", "MagicUsageError",
           "help_text", "load_ipython_extension", "parse", "run_line", "unload_ipython_extension"]

_RED, _RESET = "\x1b[31m", "\x1b[0m"


class MagicUsageError(ValueError):
    """The ``%kc`` line could not be read (unknown command, missing or malformed argument). ``path`` is the
    command it was meant for (``plan scale``), when that much was understood."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


# -- argument parsing ------------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse that raises `MagicUsageError` instead of printing and calling ``sys.exit`` (which would end the
    kernel's cell with a SystemExit traceback)."""

    def __init__(self, path: str, description: str, epilog: str = "") -> None:
        super().__init__(prog=f"%kc {path}", description=description, epilog=epilog, add_help=False,
                         exit_on_error=False, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
        self.path = path

    def error(self, message: str) -> Any:  # type: ignore[override]
        usage = self.format_usage().strip().removeprefix("usage: ")
        raise MagicUsageError(f"{message} (usage: {usage}; more: %kc help {self.path})", self.path)

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        raise MagicUsageError((message or f"cannot read the arguments of %kc {self.path}").strip(), self.path)


@dataclass
class Command:
    """One ``%kc`` command: its parser, what it calls, and its sub-commands (``plan scale``, ``runbook run``).

    ``raw`` names the argument that takes the rest of the line verbatim (SQL, a question, a free-form plan request);
    options before it are still parsed. ``cell`` says whether ``%%kc`` may hand it a cell body. ``fallback``: the
    sub-command used when the next word is none of ``subcommands`` (``%kc plan please restart checkout`` is a
    request in words; see `parse` for builder lines that turn out to be words too).
    """

    name: str
    summary: str
    run: Callable[[argparse.Namespace, str | None], Any] | None = None
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    examples: tuple[str, ...] = ()
    raw: str | None = None
    cell: bool = False
    subcommands: dict[str, Command] = field(default_factory=dict)
    fallback: str | None = None
    parent: str = ""

    @property
    def path(self) -> str:
        return f"{self.parent} {self.name}".strip()

    def parser(self) -> _Parser:
        epilog = "examples:\n" + "\n".join(f"  %kc {e}" for e in self.examples) if self.examples else ""
        if self.subcommands:
            width = max(len(n) for n in self.subcommands)
            listing = "\n".join(f"  {n:<{width}}  {c.summary}" for n, c in self.subcommands.items())
            epilog = f"commands:\n{listing}" + (f"\n\n{epilog}" if epilog else "")
        p = _Parser(self.path, self.summary, epilog)
        if self.arguments is not None:
            self.arguments(p)
        return p


def _first_word(text: str) -> tuple[str, str]:
    parts = text.strip().split(None, 1)
    return (parts[0] if parts else ""), (parts[1] if len(parts) > 1 else "")


def _leading_options(text: str, parser: argparse.ArgumentParser) -> tuple[list[str], str]:
    """Split ``-n payments why isn't it up?`` into the option tokens the parser knows and the verbatim rest."""
    takes_value = {s: a.nargs != 0 for a in parser._actions for s in a.option_strings}
    tokens: list[str] = []
    rest = text.strip()
    while rest.startswith("-"):
        word, after = _first_word(rest)
        flag, eq, _ = word.partition("=")
        if flag not in takes_value:
            break
        tokens.append(word)
        rest = after
        if takes_value[flag] and not eq:
            value, rest = _first_word(rest)
            tokens.append(value)
    return tokens, rest


def _split(text: str, path: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as e:  # "No closing quotation"
        raise MagicUsageError(f"cannot split the arguments of %kc {path}: {e}", path) from None


def _closest(word: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(word, choices, n=2, cutoff=0.6)
    return f" Did you mean {' or '.join(near)}?" if near else ""


def _resolve(words: list[str]) -> tuple[Command, int]:
    """The command named by the leading words and how many words name it (``plan scale`` → 2). A command group
    (``plan``, ``runbook``) comes back as itself when the next word is none of its commands and it has no fallback."""
    if not words:
        raise MagicUsageError("no command given: try %kc help")
    name = words[0]
    if name not in COMMANDS:
        raise MagicUsageError(f"unknown command {name!r}.{_closest(name, list(COMMANDS))} "
                              f"Commands: {', '.join(COMMANDS)} (%kc help)")
    cmd, used = COMMANDS[name], 1
    while cmd.subcommands:
        nxt = words[used] if len(words) > used else None
        if nxt in cmd.subcommands:
            cmd, used = cmd.subcommands[nxt], used + 1
        elif cmd.fallback and nxt is not None and not nxt.startswith("-"):
            return cmd.subcommands[cmd.fallback], used
        else:
            break
    return cmd, used


def _group_error(group: Command, word: str | None) -> MagicUsageError:
    choices = list(group.subcommands)
    if word and not word.startswith("-"):
        what = f"unknown {group.path} command {word!r}.{_closest(word, choices)}"
    else:
        what = f"{group.path} needs a command."
    return MagicUsageError(f"{what} Choose one of: {', '.join(choices)} (%kc help {group.path})", group.path)


def _wants_help(tokens: list[str]) -> bool:
    return "-h" in tokens or "--help" in tokens


def _strip_words(line: str, count: int) -> str:
    rest = line.strip()
    for _ in range(count):  # drop the command words, keep the rest verbatim (raw commands need its spacing)
        parts = rest.split(None, 1)
        rest = parts[1] if len(parts) > 1 else ""
    return rest


def _parse_tokens(parser: _Parser, tokens: list[str]) -> argparse.Namespace:
    try:
        return parser.parse_args(tokens)
    except argparse.ArgumentError as e:  # exit_on_error=False hands some errors back instead of calling error()
        return parser.error(str(e))


def parse(line: str, cell: str | None = None) -> tuple[Command, argparse.Namespace]:
    """Read a ``%kc`` line into the command and its arguments; raises `MagicUsageError` (a ``ValueError``).

    ``-h`` / ``--help`` make it the ``help`` command for that command. A plan builder line that does not fit the
    builder's arguments but is a request the phrase parser understands (``plan scale billing-api in payments to
    5``) becomes that request.
    """
    words = line.split()
    cmd, used = _resolve(words)
    rest = _strip_words(line, used)
    help_for = argparse.Namespace(topic=cmd.path.split())
    if cmd.run is None:  # a group without a (known) command
        if _wants_help(words[used:]):
            return COMMANDS["help"], help_for
        raise _group_error(cmd, words[used] if len(words) > used else None)
    parser = cmd.parser()
    if cmd.raw:
        tokens, text = _leading_options(rest, parser)
        if text in ("-h", "--help") or _wants_help(tokens):
            return COMMANDS["help"], help_for
        args = _parse_tokens(parser, tokens)
        setattr(args, cmd.raw, text)
    else:
        tokens = _split(rest, cmd.path)
        if cmd.name != "help" and _wants_help(tokens):
            return COMMANDS["help"], help_for
        try:
            args = _parse_tokens(parser, tokens)
        except MagicUsageError:
            request = _as_request(cmd, line)
            if request is None:
                raise
            cmd, args = request
    if cell is not None and cell.strip() and not cmd.cell:
        raise MagicUsageError(f"%%kc {cmd.path} takes no cell body (cell magics: "
                              f"{', '.join(c.path for c in _all_commands() if c.cell)})", cmd.path)
    return cmd, args


def _as_request(cmd: Command, line: str) -> tuple[Command, argparse.Namespace] | None:
    """``plan scale billing-api in payments to 5`` as a free-form request, if the offline phrase parser reads it."""
    if cmd.parent != "plan":
        return None
    from kubecopilot.errors import PlanError
    from kubecopilot.plans import parse_intent

    text = _strip_words(line, 1)
    try:
        parse_intent(text)
    except (PlanError, ValueError):
        return None
    return _PLAN.subcommands["request"], argparse.Namespace(request=text)


def _all_commands() -> list[Command]:
    out: list[Command] = []

    def walk(c: Command) -> None:
        out.append(c)
        for s in c.subcommands.values():
            walk(s)

    for c in COMMANDS.values():
        walk(c)
    return out


# -- help ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HelpText:
    """Help shown as plain text in a notebook (not as a quoted string)."""

    text: str

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text)


_INTRO = """KubeCopilot magics: %kc COMMAND [ARGS] (or %%kc COMMAND with a cell body for ask and audit).
Each returns the object the Python API returns, so the notebook renders it; errors print one red line.
Namespaced commands default to the connection's namespace: -n NS picks another, -A means all namespaces.
Python values go in with {expr} or $name, e.g. %kc get pods -n {ns}."""


def help_text(topic: str | list[str] | None = None) -> HelpText:
    """``%kc help`` (every command, one line each) or ``%kc help plan scale`` (that command's arguments)."""
    words = topic.split() if isinstance(topic, str) else list(topic or [])
    if not words:
        width = max(len(n) for n in COMMANDS)
        lines = [f"  {n:<{width}}  {c.summary}" for n, c in COMMANDS.items()]
        return HelpText(f"{_INTRO}\n\ncommands:\n" + "\n".join(lines) + "\n\n%kc help COMMAND shows one command.")
    cmd, used = _resolve(words)
    if used < len(words):  # "help plan frobnicate": say it is unknown instead of showing something else
        group = COMMANDS[words[0]]
        if group.subcommands and words[1] not in group.subcommands:
            raise _group_error(group, words[1])
        raise MagicUsageError(f"%kc {cmd.path} has no command {words[used]!r} (%kc help {cmd.path})")
    return HelpText(cmd.parser().format_help().rstrip())


# -- helpers the commands share ----------------------------------------------------------------------------------
def _ws() -> Any:
    """The current connection; with none open at all, connect like kubectl would ($KUBECONFIG, ~/.kube/config)."""
    from kubecopilot.cluster import connect, connections, current

    try:
        return current()
    except ConnectionNotFoundError:
        if connections():
            raise
        return connect()


def _kubeconfig_of(ws: Any) -> str | None:
    """The file(s) a connection was loaded from, or None for one built from a dict, text or in-cluster config."""
    source = getattr(ws.raw, "source", "") or ""
    return None if not source or source.startswith("<") or source == "in-cluster" else source


def _namespace(args: argparse.Namespace, ws: Any, *, namespaced: bool = True) -> str | None:
    """-n NS, or None for -A (and for cluster-scoped kinds), else the connection's namespace."""
    if getattr(args, "all_namespaces", False):
        if getattr(args, "namespace", None):
            raise MagicUsageError("give -n NAMESPACE or -A (all namespaces), not both")
        return None
    if not namespaced:
        return None
    return getattr(args, "namespace", None) or ws.namespace


def _ns_options(p: argparse.ArgumentParser, *, all_namespaces: bool = True) -> None:
    p.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: the connection's namespace)")
    if all_namespaces:
        p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")


def _key_values(pairs: list[str], what: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise MagicUsageError(f"{what}: expected KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


# -- connections -----------------------------------------------------------------------------------------------------
@dataclass
class ContextTable:
    """The contexts of a kubeconfig (names, clusters, users, namespaces: never credentials)."""

    source: str
    rows: list[tuple[str, str, str, str, str]]  # (marker, name, cluster, user, namespace)

    _HEAD = ("", "CONTEXT", "CLUSTER", "USER", "NAMESPACE")

    @property
    def names(self) -> list[str]:
        return [r[1] for r in self.rows]

    def __repr__(self) -> str:
        rows = [self._HEAD, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self._HEAD))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        return f"contexts in {self.source} (* = in use)\n" + "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f"<th>{e(h)}</th>" for h in self._HEAD)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        return (f"<div><b>contexts</b> in <code>{e(self.source)}</code>"
                f"<table><tr>{head}</tr>{body}</table></div>")


def _connect(args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot.cluster import connect

    path = os.path.expanduser(args.kubeconfig) if args.kubeconfig else None
    return connect(path, context=args.context, namespace=args.namespace, name=args.name)


def _use(args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot.cluster import connect, connections, current, use

    open_ = connections()
    if args.name in open_:
        ws = use(args.name)
        if args.namespace:
            ws.namespace = args.namespace
        return ws
    try:  # a context of the kubeconfig the current connection came from
        source = _kubeconfig_of(current())
    except ConnectionNotFoundError:
        source = None
    return connect(source, context=args.name, namespace=args.namespace)


def _contexts(args: argparse.Namespace, _cell: str | None) -> ContextTable:
    from kubecopilot.cluster import connections, current, load_kubeconfig

    active = None
    source = os.path.expanduser(args.kubeconfig) if args.kubeconfig else None
    if connections():  # the current connection's kubeconfig, with its context marked
        ws = current()
        if source is None or source == _kubeconfig_of(ws):
            active, source = ws.context, source or _kubeconfig_of(ws)
    kc = load_kubeconfig(source)
    if active is None:
        active = kc.current_context
    rows = []
    for name, entry in kc.contexts.items():
        body = entry.body or {}
        rows.append(("*" if name == active else "", name, str(body.get("cluster") or ""), str(body.get("user") or ""),
                     str(body.get("namespace") or "default")))
    return ContextTable(kc.source, rows)


def _connections(_args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot.cluster import connections

    return connections()


def _health(args: argparse.Namespace, _cell: str | None) -> Any:
    return _ws().health(args.namespace)


# -- browsing --------------------------------------------------------------------------------------------------------
def _get(args: argparse.Namespace, _cell: str | None) -> Any:
    ws = _ws()
    if "/" in args.kind or args.name:
        if args.all_namespaces or args.selector or args.field_selector:
            raise MagicUsageError("-A, -l and --field-selector filter lists; drop them to get one object")
        return ws.get(args.kind, args.name, namespace=args.namespace)
    kind = ws.kind(args.kind)
    ns = _namespace(args, ws, namespaced=kind.namespaced)
    if args.namespace and not kind.namespaced:
        raise MagicUsageError(f"{kind.full_name} is cluster-scoped: drop -n {args.namespace}")
    return ws.list(kind, namespace=ns, selector=args.selector, fields=args.field_selector, limit=args.limit)


def _describe(args: argparse.Namespace, _cell: str | None) -> Any:
    return _ws().describe(args.ref, args.name, namespace=args.namespace)


def _newest_pod(ws: Any, namespace: str | None, selector: str) -> str:
    pods = ws.pods(namespace=namespace, selector=selector).objects
    if not pods:
        raise ValueError(f"no pod in namespace {namespace} matches the selector {selector!r}; "
                         f"list them with %kc get pods -n {namespace}")
    newest = max(pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))
    return f"pod/{newest['metadata']['namespace']}/{newest['metadata']['name']}"


def _logs(args: argparse.Namespace, _cell: str | None) -> Any:
    ws = _ws()
    if bool(args.pod) == bool(args.selector):
        raise MagicUsageError("name one pod (POD, pod/NAME, NS/NAME) or give -l SELECTOR, not both or neither")
    if args.selector:
        target: Any = _newest_pod(ws, args.namespace or ws.namespace, args.selector)
    else:
        target = args.pod
        if args.namespace and target.count("/") == 0:
            target = f"{args.namespace}/{target}"
        elif args.namespace and target.count("/") == 1:
            target = ws.ref(target, namespace=args.namespace)
    return ws.logs(target, args.container, previous=args.previous, tail=args.tail, since=args.since,
                   timestamps=args.timestamps)


def _events(args: argparse.Namespace, _cell: str | None) -> Any:
    ws = _ws()
    kind = name = None
    if args.object:
        kind, _, name = args.object.partition("/")
        if not name or "/" in name:
            raise MagicUsageError(f"--for takes KIND/NAME, e.g. --for deploy/billing-api; got {args.object!r}")
    return ws.events(namespace=_namespace(args, ws), kind=kind, name=name, reason=args.reason, type=args.type,
                     since=args.since)


def _search(args: argparse.Namespace, _cell: str | None) -> Any:
    kinds = [k for k in (args.kinds or "").split(",") if k] or None
    return _ws().search(args.text, namespace=args.namespace, kinds=kinds)


def _topology(args: argparse.Namespace, _cell: str | None) -> Any:
    if args.ns and args.namespace and args.ns != args.namespace:
        raise MagicUsageError(f"two namespaces given ({args.ns} and -n {args.namespace}): give one")
    return _ws().topology(args.ns or args.namespace)


# -- diagnosis -------------------------------------------------------------------------------------------------------
def _diagnose(args: argparse.Namespace, _cell: str | None) -> Any:
    options: dict[str, Any] = {}
    if args.llm is not None:
        options["llm"] = args.llm
    return _ws().diagnose(args.ref, args.name, namespace=args.namespace, **options)


def _triage(args: argparse.Namespace, _cell: str | None) -> Any:
    ws = _ws()
    if args.ns and args.namespace and args.ns != args.namespace:
        raise MagicUsageError(f"two namespaces given ({args.ns} and -n {args.namespace}): give one")
    if args.ns and args.all_namespaces:
        raise MagicUsageError("give a namespace or -A (the whole cluster), not both")
    args.namespace = args.namespace or args.ns
    return ws.triage(_namespace(args, ws))


def _ask(args: argparse.Namespace, cell: str | None) -> Any:
    question = " ".join(part for part in (args.question.strip(), (cell or "").strip()) if part)
    if not question:
        raise MagicUsageError("ask needs a question: %kc ask why is billing-api down?  (or %%kc ask with the "
                              "question in the cell)")
    ws = _ws()
    return ws.ask(question, namespace=_namespace(args, ws))


# -- plans -----------------------------------------------------------------------------------------------------------
def _plan_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.namespace:
        opts["namespace"] = args.namespace
    if args.reason:
        opts["reason"] = args.reason
    if args.requested_by:
        opts["requested_by"] = args.requested_by
    return opts


def _plan_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", metavar="NS", help="namespace of the object (default: the connection's)")
    p.add_argument("--reason", help="why (kept with the plan and in the audit)")
    p.add_argument("--requested-by", metavar="NAME", help="who asks (default: $KUBECOPILOT_USER or the OS user)")


def _plan_action(action: str, summary: str, extra: Callable[[argparse.ArgumentParser], None] | None,
                 call: Callable[[Any, argparse.Namespace, dict[str, Any]], Any], examples: tuple[str, ...],
                 ref_help: str = "the object: KIND/NAME or KIND/NS/NAME (a bare NAME means a Deployment)") -> Command:
    def arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("ref", metavar="REF", help=ref_help)
        if extra is not None:
            extra(p)
        _plan_common(p)

    def run(args: argparse.Namespace, _cell: str | None) -> Any:
        return call(_ws().plan, args, _plan_options(args))

    return Command(action, summary, run, arguments, examples, parent="plan")


def _env_changes(pairs: list[str]) -> dict[str, str | None]:
    env: dict[str, str | None] = {}
    for pair in pairs:
        if pair.endswith("-") and "=" not in pair:
            env[pair[:-1]] = None
        else:
            env.update(_key_values([pair], "set-env"))
    return env


def _resources(text: str | None, what: str) -> dict[str, str] | None:
    return _key_values([p for p in text.split(",") if p], what) if text else None


def _plan_text(args: argparse.Namespace, _cell: str | None) -> Any:
    if not args.request.strip():
        raise MagicUsageError("plan needs an action (scale, restart, set-image, ...) or a request in words, "
                              "e.g. %kc plan scale billing-api in payments to 5")
    return _ws().ask_plan(args.request.strip())


def _load_plan(plan_id: str) -> Any:
    from kubecopilot.cluster import connections, current
    from kubecopilot.plans import load

    plan = load(plan_id)
    if plan.workbench is None and connections():
        ws = current()
        if ws.context == plan.cluster.context and ws.server == plan.cluster.server:
            plan.bind(ws)
    return plan


def _approve(args: argparse.Namespace, _cell: str | None) -> Any:
    return _load_plan(args.plan_id).approve(by=args.by, reason=args.reason or "")


def _reject(args: argparse.Namespace, _cell: str | None) -> Any:
    return _load_plan(args.plan_id).reject(by=args.by, reason=args.reason or "")


def _execute(args: argparse.Namespace, _cell: str | None) -> Any:
    plan = _load_plan(args.plan_id)
    if plan.workbench is None:
        raise ValueError(f"plan {plan.id[:8]} was made on context {plan.cluster.context!r} ({plan.cluster.server}) "
                         "and no open connection matches it: %kc connect KUBECONFIG --context "
                         f"{plan.cluster.context}, then execute again")
    return plan.execute(by=args.by, wait=args.wait, timeout=args.timeout)


def _pending(args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot.plans import history, pending

    if args.all:
        return history(namespace=args.namespace, limit=args.limit)
    return pending(namespace=args.namespace)


# -- runbooks, postmortems, audit ------------------------------------------------------------------------------------
def _runbook_list(_args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot import runbooks

    return runbooks.list()


def _runbook_describe(args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot import runbooks

    return runbooks.describe(args.name)


def _runbook_run(args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot import runbooks
    from kubecopilot.cluster import connections, current

    context, kubeconfig = args.context, os.path.expanduser(args.kubeconfig) if args.kubeconfig else None
    if connections():  # the kernel gets the same cluster as this notebook: its context name and kubeconfig path
        ws = current()
        context = context or ws.context
        kubeconfig = kubeconfig or _kubeconfig_of(ws)
    return runbooks.run(args.name, text_parameters=dict(args.param or []), context=context,
                        approve_up_to=args.approve_up_to, approved_by=args.approved_by, timeout=args.timeout,
                        kubeconfig=kubeconfig)


def _runbook_resume(args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot import runbooks
    from kubecopilot.cluster import connections, current

    kubeconfig = os.path.expanduser(args.kubeconfig) if args.kubeconfig else None
    if kubeconfig is None and connections():
        kubeconfig = _kubeconfig_of(current())
    return runbooks.resume(args.run_id, approve_up_to=args.approve_up_to, approved_by=args.approved_by,
                           timeout=args.timeout, kubeconfig=kubeconfig)


def _runbook_runs(args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot import runbooks

    return runbooks.runs(args.runbook, status=args.status, limit=args.limit)


def _runbook_status(args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot import runbooks

    return runbooks.status(args.run_id)


def _postmortem(args: argparse.Namespace, _cell: str | None) -> Any:
    from kubecopilot.cluster import connections, current
    from kubecopilot.postmortems import postmortem

    ws = current() if connections() else None
    return postmortem(since=args.since, until=args.until, namespace=args.namespace, workbench=ws, title=args.title,
                      save=not args.no_save)


_AUDIT_VIEWS = {
    "verify": "check the hash chain (an edited or deleted event breaks it)",
    "outcomes": "one row per plan: its outcome, approver, first and last event",
    "approvals": "approvals and rejections per person",
    "llm": "LLM calls, failures, tokens and latency per model",
}


def _audit(args: argparse.Namespace, cell: str | None) -> Any:
    from kubecopilot.audit import open_ledger

    query = "\n".join(part for part in (args.sql.strip(), (cell or "").strip()) if part)
    ledger = open_ledger()
    if not query:
        return ledger.sql("SELECT seq, ts, actor, action, object, plan_id, diagnosis_id, runbook_run_id "
                          "FROM audit_events ORDER BY seq DESC LIMIT ?", [args.limit])
    word = query.split()[0].lower()
    if word in _AUDIT_VIEWS and len(query.split()) == 1:
        return {"verify": ledger.verify, "outcomes": ledger.plan_outcomes, "approvals": ledger.approvals_by_person,
                "llm": ledger.llm_usage}[word]()
    return ledger.sql(query)


def _help(args: argparse.Namespace, _cell: str | None) -> HelpText:
    return help_text(args.topic)


# -- the command table -----------------------------------------------------------------------------------------------
def _args(*specs: tuple[tuple[str, ...], dict[str, Any]]) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        for flags, kw in specs:
            p.add_argument(*flags, **kw)

    return add


def _with_ns(inner: Callable[[argparse.ArgumentParser], None] | None = None, *, all_namespaces: bool = True
             ) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        if inner is not None:
            inner(p)
        _ns_options(p, all_namespaces=all_namespaces)

    return add


def _a(*flags: str, **kw: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    return flags, kw


_PLAN = Command("plan", "build an OperationPlan (shown with its diff and risk; nothing changes until it is approved "
                "and executed)", fallback="request", examples=(
                    "plan scale deploy/billing-api 3 -n payments",
                    "plan set-env deploy/billing-api DATABASE_URL=postgres://db/billing -n payments",
                    "plan scale billing-api in payments to 5      (words: the phrase parser)"))
_PLAN.subcommands = {c.name: c for c in (
    _plan_action("scale", "scale a Deployment / StatefulSet / ReplicaSet",
                 _args(_a("replicas", metavar="REPLICAS", type=int, help="the new replica count")),
                 lambda b, a, o: b.scale(a.ref, a.replicas, **o), ("plan scale deploy/billing-api 3 -n payments",)),
    _plan_action("restart", "rolling restart (like kubectl rollout restart)", None,
                 lambda b, a, o: b.restart(a.ref, **o), ("plan restart deploy/billing-api",)),
    _plan_action("set-image", "set a container's image",
                 _args(_a("image", metavar="IMAGE"), _a("-c", "--container", help="container (if several)")),
                 lambda b, a, o: b.set_image(a.ref, a.image, a.container, **o),
                 ("plan set-image deploy/landing-page nginx:1.25 -n web",)),
    _plan_action("set-env", "set (KEY=VALUE) or remove (KEY-) environment variables of a container",
                 _args(_a("env", metavar="KEY=VALUE|KEY-", nargs="+"),
                       _a("-c", "--container", help="container (if several)")),
                 lambda b, a, o: b.set_env(a.ref, _env_changes(a.env), a.container, **o),
                 ("plan set-env deploy/billing-api DATABASE_URL=postgres://db/billing LOG_LEVEL-",)),
    _plan_action("set-resources", "set a container's requests / limits",
                 _args(_a("-c", "--container", help="container (if several)"),
                       _a("--requests", metavar="cpu=100m,memory=128Mi"), _a("--limits", metavar="memory=512Mi")),
                 lambda b, a, o: b.set_resources(a.ref, a.container, requests=_resources(a.requests, "--requests"),
                                                 limits=_resources(a.limits, "--limits"), **o),
                 ("plan set-resources deploy/thumbnailer --limits memory=512Mi",)),
    _plan_action("rollback", "roll a Deployment back to a previous revision (like kubectl rollout undo)",
                 _args(_a("--revision", type=int, help="default: the previous one")),
                 lambda b, a, o: b.rollback(a.ref, a.revision, **o), ("plan rollback deploy/billing-api",)),
    _plan_action("delete", "delete one object (a Pod, a Job, ...)",
                 _args(_a("--grace-period", type=int, metavar="SECONDS")),
                 lambda b, a, o: b.delete(a.ref, grace_period_seconds=a.grace_period, **o),
                 ("plan delete pod/billing-api-7c9d-x2k4 -n payments",), "the object: KIND/NAME or KIND/NS/NAME"),
    _plan_action("cordon", "mark a node unschedulable", None, lambda b, a, o: b.cordon(a.ref, **o),
                 ("plan cordon sandbox-node-2",), "the node: NAME or node/NAME"),
    _plan_action("uncordon", "mark a node schedulable again", None, lambda b, a, o: b.uncordon(a.ref, **o),
                 ("plan uncordon sandbox-node-2",), "the node: NAME or node/NAME"),
    _plan_action("drain", "cordon a node and evict its pods (PodDisruptionBudgets honoured)",
                 _args(_a("--force", action="store_true", help="also evict pods no controller recreates")),
                 lambda b, a, o: b.drain(a.ref, force=a.force, **o), ("plan drain sandbox-node-2",),
                 "the node: NAME or node/NAME"),
    _plan_action("suspend", "stop a CronJob from starting jobs", None, lambda b, a, o: b.suspend(a.ref, **o),
                 ("plan suspend cronjob/nightly-report",), "the CronJob: NAME or cronjob/NAME"),
    _plan_action("resume", "let a suspended CronJob start jobs again", None, lambda b, a, o: b.resume(a.ref, **o),
                 ("plan resume cronjob/nightly-report",), "the CronJob: NAME or cronjob/NAME"),
    Command("request", "a request in words, read by the phrase parser (or the LLM): 'scale billing-api in payments "
            "to 5'", _plan_text, None, ("plan scale billing-api in payments to 5",), raw="request", parent="plan"),
)}

_RUNBOOK = Command("runbook", "list, describe and run papermill runbooks (headless, audited)", examples=(
    "runbook list", "runbook run cluster-health -p namespace payments"))
_RUNBOOK.subcommands = {c.name: c for c in (
    Command("list", "the runbooks found (runbooks/, $KUBECOPILOT_RUNBOOKS_PATH)", _runbook_list, parent="runbook"),
    Command("describe", "a runbook's title, risk, parameters and steps", _runbook_describe,
            _args(_a("name", metavar="NAME", help="runbook name or path to an .ipynb")), parent="runbook"),
    Command("run", "run a runbook headless against the current connection's context", _runbook_run, _args(
        _a("name", metavar="NAME", help="runbook name or path to an .ipynb"),
        _a("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"), help="a parameter (repeatable)"),
        _a("--context", metavar="NAME", help="kubeconfig context (default: the current connection's)"),
        _a("--kubeconfig", metavar="PATH", help="kubeconfig file for the kernel (default: the current connection's)"),
        _a("--approve-up-to", choices=["none", "low", "medium", "high"], default="none",
           help="pre-record approval for plans up to this risk"),
        _a("--approved-by", metavar="NAME", help="whose pre-recorded approval it is"),
        _a("--timeout", type=float, metavar="SECONDS", help="per-cell timeout")),
        ("runbook run cluster-health -p namespace payments -p restart_threshold 5",), parent="runbook"),
    Command("resume", "continue a waiting_confirm run once its plans are approved or rejected", _runbook_resume, _args(
        _a("run_id", metavar="RUN_ID"),
        _a("--kubeconfig", metavar="PATH", help="kubeconfig file for the kernel (default: the current connection's)"),
        _a("--approve-up-to", choices=["none", "low", "medium", "high"], help="override the run's approval policy"),
        _a("--approved-by", metavar="NAME"), _a("--timeout", type=float, metavar="SECONDS", help="per-cell timeout")),
        ("runbook resume scale-deployment-20261123-0412-3f2a",), parent="runbook"),
    Command("runs", "recent runs from the audit ledger", _runbook_runs, _args(
        _a("--runbook", metavar="NAME"), _a("--status", choices=["running", "succeeded", "failed", "waiting_confirm",
                                                                  "resumed"]),
        _a("--limit", type=int, default=20)), parent="runbook"),
    Command("status", "one run's status and provenance", _runbook_status, _args(_a("run_id", metavar="RUN_ID")),
            parent="runbook"),
)}

COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("help", "this overview, or one command's arguments: %kc help get", _help,
            _args(_a("topic", nargs="*", metavar="COMMAND"))),
    Command("connect", "connect to a cluster (becomes the current connection)", _connect, _args(
        _a("kubeconfig", nargs="?", metavar="KUBECONFIG",
           help="kubeconfig path (default: $KUBECONFIG, ~/.kube/config)"),
        _a("--context", metavar="NAME", help="context (default: the kubeconfig's current-context)"),
        _a("-n", "--namespace", metavar="NS", help="default namespace of this connection"),
        _a("--name", help="connection name (default: the context name)")),
        ("connect ~/.kube/config --context prod", "connect --context staging -n payments")),
    Command("use", "switch to an open connection, or connect to another context of the same kubeconfig", _use, _args(
        _a("name", metavar="CONTEXT"), _a("-n", "--namespace", metavar="NS", help="default namespace")),
        ("use sandbox-viewer",)),
    Command("contexts", "the kubeconfig's contexts (* marks the one in use)", _contexts,
            _args(_a("kubeconfig", nargs="?", metavar="KUBECONFIG"))),
    Command("connections", "the open connections (* marks the current one)", _connections),
    Command("health", "reachability, version, identity and permissions of the current connection", _health,
            _args(_a("-n", "--namespace", metavar="NS", help="namespace whose permissions to review"))),
    Command("get", "list a kind (a table), or get one object in detail", _get, _with_ns(_args(
        _a("kind", metavar="KIND", help="pods, deploy, svc, nodes, widgets.example.com ... or KIND/NAME"),
        _a("name", nargs="?", metavar="NAME"),
        _a("-l", "--selector", metavar="SELECTOR", help="label selector, e.g. app=billing-api,tier!=cache"),
        _a("--field-selector", metavar="SELECTOR", help="field selector, e.g. status.phase=Running"),
        _a("--limit", type=int, default=500, help="page size"))),
        ("get pods -n payments", "get deploy -A -l tier=backend", "get deploy/billing-api -n payments", "get nodes")),
    Command("describe", "kubectl-describe-like text of one object", _describe, _args(
        _a("ref", metavar="KIND/NAME"), _a("name", nargs="?", metavar="NAME"),
        _a("-n", "--namespace", metavar="NS")), ("describe deploy/billing-api -n payments",)),
    Command("logs", "a container's logs (-l: the newest pod matching a selector)", _logs, _args(
        _a("pod", nargs="?", metavar="POD", help="NAME, pod/NAME, NS/NAME or pod/NS/NAME"),
        _a("-n", "--namespace", metavar="NS"), _a("-c", "--container"),
        _a("-p", "--previous", action="store_true", help="the last terminated instance"),
        _a("--tail", type=int, metavar="LINES"), _a("--since", metavar="DURATION", help="e.g. 15m, 2h"),
        _a("-l", "--selector", metavar="SELECTOR"), _a("--timestamps", action="store_true")),
        ("logs billing-api-7c9d-x2k4 -n payments --previous", "logs -l app=billing-api --tail 50")),
    Command("events", "events, newest first (a timeline: .timeline() draws it)", _events, _with_ns(_args(
        _a("--for", dest="object", metavar="KIND/NAME", help="events about one object"),
        _a("--type", choices=["Normal", "Warning"]), _a("--reason"),
        _a("--since", metavar="DURATION", help="e.g. 15m, 2h"))),
        ("events -n payments --type Warning --since 1h", "events --for deploy/billing-api")),
    Command("search", "objects whose name, labels, annotations or images contain TEXT", _search, _args(
        _a("text", metavar="TEXT"), _a("-n", "--namespace", metavar="NS", help="default: every namespace"),
        _a("--kinds", metavar="KIND,KIND", help="only these kinds")), ("search billing",)),
    Command("topology", "how a namespace's objects relate (owners, selectors, mounts, ingress routes)", _topology,
            _args(_a("ns", nargs="?", metavar="NS"), _a("-n", "--namespace", metavar="NS"))),
    Command("diagnose", "evidence and analyzers around one object: findings, root causes first", _diagnose, _args(
        _a("ref", metavar="KIND/NAME"), _a("name", nargs="?", metavar="NAME"), _a("-n", "--namespace", metavar="NS"),
        _a("--no-llm", dest="llm", action="store_const", const=False, default=None,
           help="rules only, even when an LLM is configured")),
        ("diagnose deploy/billing-api -n payments", "diagnose pod/web-5d8f-abcde")),
    Command("triage", "every analyzer over a namespace (-A: the cluster)", _triage, _with_ns(_args(
        _a("ns", nargs="?", metavar="NS"))), ("triage payments", "triage -A")),
    Command("ask", "a free-form question, answered from the findings (+ the LLM if configured)", _ask, _with_ns(),
            ("ask why is billing-api down?", "ask -n payments what is broken?   (%%kc ask: the question in the cell)"),
            raw="question", cell=True),
    _PLAN,
    Command("approve", "approve a plan as a named person", _approve, _args(
        _a("plan_id", metavar="PLAN_ID", help="the id, or its first characters"),
        _a("--by", required=True, metavar="NAME"), _a("--reason")), ("approve 3f2a9c1e --by alice",)),
    Command("reject", "reject a plan (it can never be executed)", _reject, _args(
        _a("plan_id", metavar="PLAN_ID"), _a("--by", required=True, metavar="NAME"), _a("--reason")),
        ("reject 3f2a9c1e --by alice --reason 'not during the sale'",)),
    Command("execute", "execute an approved plan (drift-checked; --wait also checks its post-conditions)", _execute,
            _args(_a("plan_id", metavar="PLAN_ID"), _a("--wait", action="store_true"),
                  _a("--timeout", type=float, default=300.0, metavar="SECONDS"), _a("--by", metavar="NAME")),
            ("execute 3f2a9c1e --wait",)),
    Command("pending", "plans waiting for a decision (--all: every plan, newest first)", _pending, _args(
        _a("-n", "--namespace", metavar="NS"), _a("--all", action="store_true"),
        _a("--limit", type=int, default=50, help="with --all"))),
    _RUNBOOK,
    Command("postmortem", "a postmortem report from the audit ledger and the cluster's events", _postmortem, _args(
        _a("--since", default="2h", help="start of the window: 2h, 30m, or an ISO time (default 2h)"),
        _a("--until", help="end of the window (default: now)"), _a("-n", "--namespace", metavar="NS"),
        _a("--title"), _a("--no-save", action="store_true", help="do not store the report in the ledger")),
        ("postmortem --since 2h -n payments",)),
    Command("audit", "the audit ledger: recent events, SQL, or a ready view ("
            + ", ".join(_AUDIT_VIEWS) + ")", _audit, _args(
                _a("--limit", type=int, default=20, help="recent events to show when no SQL is given")),
            ("audit", "audit verify", "audit outcomes",
             "audit SELECT actor, action, object FROM audit_events ORDER BY seq DESC LIMIT 5",
             "audit   (as %%kc audit: the SQL in the cell)"),
            raw="sql", cell=True),
)}


# -- IPython -----------------------------------------------------------------------------------------------------
def _complain(path: str, error: BaseException) -> None:
    """One red line on stderr: ``kc get: <message>`` (multi-line messages joined)."""
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
    stream = sys.stderr
    print(f"{_RED}kc {path}: {message}{_RESET}", file=stream)
    stream.flush()


def run_line(line: str, cell: str | None = None) -> Any:
    """What ``%kc LINE`` (and ``%%kc LINE`` with ``cell``) does, without IPython: returns the command's result,
    or None after printing the one-line error for a KubeCopilot error, a ``ValueError`` or a usage mistake."""
    words = line.split()
    path = words[0] if words else "help"
    try:
        command, args = parse(line, cell)
    except MagicUsageError as e:
        _complain(e.path or path, e)
        return None
    try:
        return command.run(args, cell) if command.run else help_text(command.path)
    except (KubeCopilotError, ValueError) as e:
        _complain(command.path, e)
        return None


@magics_class
class KubeCopilotMagics(Magics):
    """``%kc`` / ``%%kc``: see `kubecopilot.magics` and ``%kc help``."""

    @line_cell_magic
    def kc(self, line: str, cell: str | None = None) -> Any:
        return run_line(line, cell)


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%kc`` / ``%%kc`` (``%load_ext kubecopilot`` calls this through the package)."""
    ipython.register_magics(KubeCopilotMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext kubecopilot``: remove ``%kc`` again."""
    magics = ipython.magics_manager.magics
    for kind in ("line", "cell"):
        magics[kind].pop("kc", None)
