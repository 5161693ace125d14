"""The ``parameters`` cell: declared parameters, their types, and checking values against them.

A runbook declares each parameter on one line, papermill-style but typed and explained::

    context: str = None  # kubeconfig context to use (a name; credentials stay in the kubeconfig)
    namespace: Optional[str] = None  # namespace to inspect; None = every namespace
    restart_threshold: int = 3  # pods restarting more often than this are listed

A default of ``None`` under a type that does not admit ``None`` (``str`` above) marks the parameter required.
Everything is checked here, in the caller's process, so a bad parameter costs milliseconds and never a kernel:
unknown names (with the closest declared one), missing required ones, wrong types. CLI strings are coerced to
the declared type first (``bool`` takes true/false/yes/no/on/off/1/0; ``list``/``dict`` take YAML).

Runbooks take a context *name*, never credentials: parameter names that look like credentials are refused in
the declaration, and values that look like a kubeconfig, a private key or a bearer token are refused at run time
(without quoting them).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import io
import itertools
import re
import tokenize
from collections.abc import Mapping, Sequence
from typing import Any

from kubecopilot.errors import RunbookError, RunbookParameterError

__all__ = [
    "Parameter",
    "ParameterDeclarationError",
    "TypeSpec",
    "check_values",
    "coerce_text",
    "credential_name",
    "parse_parameters",
    "parse_type",
]

_SIMPLE = ("int", "float", "bool", "str", "list", "dict", "any")
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
_NONE_TEXT = {"none", "null", "~"}

# Name segments (split on "_", "-" and camelCase) that mark a credential. A runbook takes a context name instead.
_CREDENTIAL_WORDS = {
    "token", "tokens", "password", "passwd", "passphrase", "pwd", "secret", "secrets", "kubeconfig", "credential",
    "credentials", "apikey", "bearer", "cert", "certificate", "privatekey",
}  # fmt: skip
_CREDENTIAL_PAIRS = {("api", "key"), ("private", "key"), ("client", "key"), ("access", "key"), ("secret", "key"),
                     ("auth", "header"), ("client", "certificate")}
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_PEM = re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----")
_KUBECONFIG_TEXT = re.compile(r"(client-key-data|client-certificate-data|certificate-authority-data)\s*:|"
                              r"^\s*(clusters|users)\s*:", re.MULTILINE)


class ParameterDeclarationError(RunbookError):
    """The runbook's own ``parameters`` cell is malformed (names the line and what to write instead)."""

    def __init__(self, line: int, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(f"parameters cell, line {line}: {problem}")


@dataclasses.dataclass(frozen=True)
class TypeSpec:
    """A declared parameter type: ``kind`` is one of int/float/bool/str/list/dict/any/literal; ``args`` holds the
    element types of ``list[...]``/``dict[...]``; ``choices`` the values of ``Literal[...]``; ``optional`` whether
    ``None`` is a valid value."""

    kind: str
    args: tuple[TypeSpec, ...] = ()
    choices: tuple[Any, ...] = ()
    optional: bool = False

    def __str__(self) -> str:
        if self.kind == "literal":
            text = "Literal[" + ", ".join(repr(c) for c in self.choices) + "]"
        elif self.kind == "any":
            text = "Any"
        elif self.args:
            text = f"{self.kind}[{', '.join(str(a) for a in self.args)}]"
        else:
            text = self.kind
        return f"Optional[{text}]" if self.optional and self.kind != "any" else text

    def check(self, value: Any) -> tuple[Any, str | None]:
        """``(value, None)`` when ``value`` fits (ints are widened to float), else ``(value, why not)``."""
        if value is None:
            return (None, None) if self.optional or self.kind == "any" else (value, f"expected {self}, got None")
        kind = self.kind
        if kind == "any":
            return value, None
        if kind == "literal":
            return (value, None) if value in self.choices and type(value) in {type(c) for c in self.choices} else \
                (value, f"expected one of {', '.join(repr(c) for c in self.choices)}, got {_short(value)}")
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "float":
            if isinstance(value, int) and not isinstance(value, bool):
                return float(value), None
            ok = isinstance(value, float)
        elif kind == "str":
            ok = isinstance(value, str)
        elif kind == "list":
            if not isinstance(value, list | tuple):
                return value, f"expected {self}, got {type(value).__name__} {_short(value)}"
            out = []
            for i, item in enumerate(value):
                item2, why = self.args[0].check(item) if self.args else (item, None)
                if why:
                    return value, f"item {i}: {why}"
                out.append(item2)
            return out, None
        elif kind == "dict":
            if not isinstance(value, Mapping):
                return value, f"expected {self}, got {type(value).__name__} {_short(value)}"
            out_d: dict[Any, Any] = {}
            for k, v in value.items():
                if self.args:
                    _, why = self.args[0].check(k)
                    if why:
                        return value, f"key {k!r}: {why}"
                    v, why = self.args[1].check(v)
                    if why:
                        return value, f"value of {k!r}: {why}"
                out_d[k] = v
            return out_d, None
        else:  # pragma: no cover - parse_type only builds the kinds above
            return value, f"unsupported type {self}"
        return (value, None) if ok else (value, f"expected {self}, got {type(value).__name__} {_short(value)}")

    def coerce(self, text: str) -> Any:
        """Turn a command-line string into a value of this type; raises ``ValueError`` naming what is accepted."""
        stripped = text.strip()
        if self.optional and stripped.lower() in _NONE_TEXT:
            return None
        kind = self.kind
        if kind == "str":
            return text
        if kind == "int":
            try:
                return int(stripped)
            except ValueError:
                raise ValueError(f"expected an integer, got {text!r}") from None
        if kind == "float":
            try:
                return float(stripped)
            except ValueError:
                raise ValueError(f"expected a number, got {text!r}") from None
        if kind == "bool":
            low = stripped.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(f"expected true/false (also yes/no, on/off, 1/0), got {text!r}")
        if kind == "literal":
            for choice in self.choices:
                if str(choice) == stripped:
                    return choice
            raise ValueError(f"expected one of {', '.join(str(c) for c in self.choices)}, got {text!r}")
        # list / dict / any: YAML, so `-p names "[a, b]"` and `-p limits "{cpu: 1}"` both work
        import yaml

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"expected YAML for {self} (e.g. '[a, b]' or '{{key: value}}'): {e}") from None
        value, why = self.check(value)
        if why:
            example = "'[a, b]'" if kind == "list" else "'{key: value}'"
            raise ValueError(f"{why} (write it as YAML, e.g. {example})")
        return value


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One declared parameter: name, type, default (``None`` also for required ones), description, line."""

    name: str
    type: TypeSpec
    default: Any
    description: str
    required: bool
    line: int
    annotated: bool = True

    def __str__(self) -> str:
        default = "(required)" if self.required else f"= {self.default!r}"
        return f"{self.name}: {self.type} {default}  # {self.description}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": str(self.type), "default": self.default, "required": self.required,
                "description": self.description}


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[_\-\s]+", spaced.lower()) if w]


def credential_name(name: str) -> bool:
    """Does ``name`` look like it would carry a credential (token, password, kubeconfig, api_key, ...)?"""
    words = _words(name)
    if any(w in _CREDENTIAL_WORDS for w in words):
        return True
    return any(pair in _CREDENTIAL_PAIRS for pair in itertools.pairwise(words))


def _looks_like_credential_value(value: Any) -> str | None:
    """What kind of credential ``value`` looks like, or None. Never returns (part of) the value."""
    if isinstance(value, Mapping):
        keys = {str(k) for k in value}
        if {"clusters", "users"} & keys or ("contexts" in keys and "apiVersion" in keys):
            return "a kubeconfig (a mapping with clusters/users)"
        for v in value.values():
            found = _looks_like_credential_value(v)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for v in value:
            found = _looks_like_credential_value(v)
            if found:
                return found
        return None
    if isinstance(value, str):
        if _KUBECONFIG_TEXT.search(value):
            return "kubeconfig text"
        if _PEM.search(value):
            return "a PEM private key or certificate"
        if _JWT.search(value):
            return "a bearer token (JWT)"
    return None


# -- parsing the declaration -----------------------------------------------------------------------------------


def parse_type(node: ast.expr | str, line: int = 0) -> TypeSpec:
    """A `TypeSpec` from an annotation (AST node or source text): int, float, bool, str, list, dict, Any,
    ``list[T]``, ``dict[K, V]``, ``Optional[T]``, ``T | None``, ``Literal[...]``."""
    if isinstance(node, str):
        try:
            node = ast.parse(node, mode="eval").body
        except SyntaxError:
            raise ParameterDeclarationError(line, f"cannot read the type {node!r}") from None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        return parse_type(node.value, line)
    if isinstance(node, ast.Constant) and node.value is None:
        raise ParameterDeclarationError(line, "`None` alone is not a parameter type; write Optional[T]")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        parts = _union_parts(node)
        rest = [p for p in parts if not (isinstance(p, ast.Constant) and p.value is None)]
        if len(rest) != 1:
            raise ParameterDeclarationError(line, "a union type must be `T | None`; use Any for anything else")
        return dataclasses.replace(parse_type(rest[0], line), optional=len(rest) < len(parts))
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node)
        base = name.rsplit(".", 1)[-1]
        mapped = {"List": "list", "Dict": "dict", "Any": "any", "object": "any"}.get(base, base)
        if mapped in _SIMPLE:
            return TypeSpec(mapped)
        raise ParameterDeclarationError(
            line, f"unsupported parameter type {name!r}; use int, float, bool, str, list, dict, Any, list[T], "
                  "dict[K, V], Optional[T] or Literal[...] (pass dates and paths as str)")
    if isinstance(node, ast.Subscript):
        head = _dotted(node.value).rsplit(".", 1)[-1]
        items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            if len(items) != 1:
                raise ParameterDeclarationError(line, "Optional takes one type: Optional[T]")
            return dataclasses.replace(parse_type(items[0], line), optional=True)
        if head == "Union":
            rest = [p for p in items if not (isinstance(p, ast.Constant) and p.value is None)]
            if len(rest) != 1:
                raise ParameterDeclarationError(line, "a union type must be Optional[T]; use Any for anything else")
            return dataclasses.replace(parse_type(rest[0], line), optional=len(rest) < len(items))
        if head == "Literal":
            choices = []
            for item in items:
                if not isinstance(item, ast.Constant) or not isinstance(item.value, str | int | bool):
                    raise ParameterDeclarationError(line, "Literal[...] takes str, int or bool constants")
                choices.append(item.value)
            return TypeSpec("literal", choices=tuple(choices))
        mapped = {"List": "list", "Dict": "dict"}.get(head, head)
        if mapped == "list" and len(items) == 1:
            return TypeSpec("list", args=(parse_type(items[0], line),))
        if mapped == "dict" and len(items) == 2:
            return TypeSpec("dict", args=(parse_type(items[0], line), parse_type(items[1], line)))
        raise ParameterDeclarationError(line, f"unsupported parameter type {ast.unparse(node)!r}; "
                                              "use list[T], dict[K, V], Optional[T] or Literal[...]")
    raise ParameterDeclarationError(line, f"unsupported parameter type {ast.unparse(node)!r}")


def _union_parts(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union_parts(node.left) + _union_parts(node.right)
    return [node]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ast.unparse(node)


def _comments(source: str) -> dict[int, str]:
    """Line number → text of the comment on that line (without ``#``)."""
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return out


def _infer(value: Any) -> TypeSpec:
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict")):
        if isinstance(value, t):
            return TypeSpec(name)
    return TypeSpec("any")


def parse_parameters(source: str) -> list[Parameter]:
    """The parameters declared in a ``parameters`` cell's source, in order.

    Raises `ParameterDeclarationError` naming the line for anything that is not a declaration (code in the
    parameters cell would run before papermill's injected values and is never what the author meant), for
    non-literal defaults, unsupported types, duplicate names and credential-like names (``from typing import ...``
    is allowed: module-level annotations are evaluated when the cell runs). A missing description
    or annotation is *not* an error here (older notebooks run); `check()` reports those for our own runbooks.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise ParameterDeclarationError(e.lineno or 0, f"not valid Python: {e.msg}") from None
    comments = _comments(source)
    params: list[Parameter] = []
    seen: set[str] = set()
    for stmt in tree.body:
        line = stmt.lineno
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name, annotation, value_node = stmt.target.id, stmt.annotation, stmt.value
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, annotation, value_node = stmt.targets[0].id, None, stmt.value
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            continue  # a docstring-like note
        elif (isinstance(stmt, ast.ImportFrom) and stmt.module == "typing") or (
                isinstance(stmt, ast.Import) and all(a.name == "typing" for a in stmt.names)):
            continue  # `from typing import Optional, Literal`: the annotations are evaluated when the cell runs
        else:
            raise ParameterDeclarationError(
                line, f"only `name: type = default  # description` lines belong in the parameters cell, not "
                      f"{ast.unparse(stmt)[:60]!r}; move code to a later cell")
        if name in seen:
            raise ParameterDeclarationError(line, f"parameter {name!r} is declared twice")
        seen.add(name)
        if credential_name(name):
            raise ParameterDeclarationError(
                line, f"parameter {name!r} looks like a credential; runbooks take a kubeconfig context name "
                      "(`context: str`) and never credentials")
        if value_node is None:
            default, has_default = None, False
        else:
            try:
                default, has_default = ast.literal_eval(value_node), True
            except (ValueError, SyntaxError, TypeError):
                raise ParameterDeclarationError(
                    line, f"the default of {name!r} must be a literal (number, string, list, dict, True/False/None), "
                          f"not {ast.unparse(value_node)[:60]!r}") from None
        spec = parse_type(annotation, line) if annotation is not None else _infer(default)
        required = default is None and not spec.optional and spec.kind != "any"
        if has_default and not required:
            default, why = spec.check(default)
            if why:
                raise ParameterDeclarationError(line, f"the default of {name!r} does not fit its type: {why}")
        params.append(Parameter(name, spec, default, comments.get(stmt.end_lineno or line, ""), required, line,
                                annotated=annotation is not None))
    return params


# -- checking values ---------------------------------------------------------------------------------------------


def coerce_text(params: Sequence[Parameter], values: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """CLI strings → typed values by declared type. Unknown names pass through untouched (`check_values` reports
    them); returns the values and the problems found."""
    by_name = {p.name: p for p in params}
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, text in values.items():
        p = by_name.get(name)
        if p is None or not isinstance(text, str):
            out[name] = text
            continue
        try:
            out[name] = p.type.coerce(text)
        except ValueError as e:
            problems.append(f"{name}: {e}")
    return out, problems


def check_values(runbook: str, params: Sequence[Parameter], values: Mapping[str, Any], *,
                 text_problems: Sequence[str] = ()) -> dict[str, Any]:
    """Every declared parameter's value (given or default), checked; raises `RunbookParameterError` listing *all*
    problems: unknown names (with the closest declared one), missing required ones, wrong types, credential-like
    names or values. Returns only the parameters that were given (papermill keeps the notebook's defaults)."""
    by_name = {p.name: p for p in params}
    problems = list(text_problems)
    checked: dict[str, Any] = {}
    for name, value in values.items():
        p = by_name.get(name)
        if p is None:
            if credential_name(name):
                problems.append(f"{name}: looks like a credential; runbooks take a kubeconfig context name "
                                "(--context NAME) and read credentials from the kubeconfig, never from parameters")
                continue
            close = difflib.get_close_matches(name, list(by_name), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{name}: unknown parameter{hint}")
            continue
        if any(q.startswith(f"{name}:") for q in text_problems):
            continue
        value, why = p.type.check(value)
        if why:
            problems.append(f"{name}: {why}")
            continue
        found = _looks_like_credential_value(value)
        if found:
            problems.append(f"{name}: the value looks like {found}; runbooks take a kubeconfig context name, "
                            "never credentials (the value is not shown)")
            continue
        checked[name] = value
    for p in params:
        if p.required and values.get(p.name) is None and not any(q.startswith(f"{p.name}:") for q in problems):
            problems.append(f"{p.name}: required ({p.type}) — {p.description or 'no description'}")
    if problems:
        declared = ", ".join(f"{p.name}: {p.type}" for p in params) or "(none)"
        err = RunbookParameterError(
            f"runbook {runbook!r}: {len(problems)} parameter problem(s):\n  " + "\n  ".join(problems)
            + f"\ndeclared parameters: {declared}. See `kubecopilot runbook describe {runbook}`.")
        err.problems = problems  # type: ignore[attr-defined]
        raise err
    return checked
