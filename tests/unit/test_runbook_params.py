"""The parameters cell: parsing declarations, types, CLI coercion, and what is refused before a kernel starts."""

from __future__ import annotations

import pytest

from kubecopilot.errors import RunbookParameterError
from kubecopilot.runbooks._params import (
    ParameterDeclarationError,
    TypeSpec,
    check_values,
    coerce_text,
    credential_name,
    parse_parameters,
    parse_type,
)

CELL = '''
from typing import Literal, Optional

context: str = None  # kubeconfig context, by name
namespace: Optional[str] = None  # None: every namespace
replicas: int = 3  # how many
ratio: float = 0.5  # a fraction
dry_run: bool = True  # only print
names: list[str] = ["a", "b"]  # some names
limits: dict[str, int] = {"cpu": 1}  # a mapping
mode: Literal["fast", "slow"] = "fast"  # one of two
extra = None
'''


def test_declarations_are_parsed_with_types_defaults_descriptions_and_required() -> None:
    params = {p.name: p for p in parse_parameters(CELL)}
    assert list(params) == ["context", "namespace", "replicas", "ratio", "dry_run", "names", "limits", "mode", "extra"]
    assert params["context"].required and str(params["context"].type) == "str"
    assert params["context"].description == "kubeconfig context, by name"
    assert not params["namespace"].required and params["namespace"].type.optional
    assert params["replicas"].default == 3 and str(params["replicas"].type) == "int"
    assert params["names"].default == ["a", "b"] and str(params["names"].type) == "list[str]"
    assert str(params["limits"].type) == "dict[str, int]"
    assert params["mode"].type.choices == ("fast", "slow")
    assert not params["extra"].annotated and params["extra"].description == ""
    assert params["replicas"].line == 6


@pytest.mark.parametrize("text, expected", [
    ("int", "int"), ("Optional[int]", "Optional[int]"), ("int | None", "Optional[int]"),
    ("None | str", "Optional[str]"),
    ("typing.Optional[str]", "Optional[str]"), ("List[int]", "list[int]"), ("Dict[str, Any]", "dict[str, Any]"),
    ("'float'", "float"), ("Literal['a', 2]", "Literal['a', 2]"), ("Any", "Any"),
])
def test_type_annotations(text: str, expected: str) -> None:
    assert str(parse_type(text)) == expected


@pytest.mark.parametrize("source, fragment", [
    ("import os", "only `name: type = default"),
    ("x: int = 1\nprint(x)", "line 2"),
    ("when: datetime = None  # a time", "unsupported parameter type 'datetime'"),
    ("x: int = os.getpid()  # pid", "must be a literal"),
    ("x: int = 'three'  # n", "does not fit its type"),
    ("x: int = 1  # a\nx: int = 2  # b", "declared twice"),
    ("api_token: str = None  # t", "looks like a credential"),
    ("kubeconfig: str = None  # path", "looks like a credential"),
    ("x: int | str = 1  # u", "must be `T | None`"),
    ("x: int = (  # broken", "not valid Python"),
])
def test_bad_declarations_name_the_line_and_the_fix(source: str, fragment: str) -> None:
    with pytest.raises(ParameterDeclarationError) as err:
        parse_parameters(source)
    assert fragment in str(err.value)


@pytest.mark.parametrize("name, is_credential", [
    ("token", True), ("bearerToken", True), ("db_password", True), ("kubeconfig", True), ("api_key", True),
    ("clientKey", True), ("private-key", True), ("secret_name", True),
    ("context", False), ("namespace", False), ("label_key", False), ("tokenizer_size", False), ("author", False),
])
def test_credential_names(name: str, is_credential: bool) -> None:
    assert credential_name(name) is is_credential


@pytest.mark.parametrize("spec, text, value", [
    ("int", "42", 42), ("int", " -3 ", -3), ("float", "2.5", 2.5), ("float", "3", 3.0),
    ("bool", "true", True), ("bool", "YES", True), ("bool", "on", True), ("bool", "1", True),
    ("bool", "false", False), ("bool", "No", False), ("bool", "0", False),
    ("str", "hello world", "hello world"), ("str", "3", "3"),
    ("list[str]", "[a, b]", ["a", "b"]), ("list[int]", "[1, 2]", [1, 2]), ("dict[str, int]", "{cpu: 2}", {"cpu": 2}),
    ("Optional[int]", "none", None), ("Optional[str]", "null", None), ("Literal['fast', 'slow']", "slow", "slow"),
    ("Literal[1, 2]", "2", 2), ("Any", "{a: [1]}", {"a": [1]}),
])
def test_cli_strings_are_coerced_to_the_declared_type(spec: str, text: str, value: object) -> None:
    got = parse_type(spec).coerce(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("spec, text, fragment", [
    ("int", "3.5", "expected an integer"), ("int", "three", "expected an integer"), ("float", "x", "a number"),
    ("bool", "maybe", "true/false"), ("list[str]", "{a: 1}", "expected list[str]"), ("list[int]", "[1, x]", "item 1"),
    ("dict[str, int]", "[1]", "expected dict"), ("Literal['a', 'b']", "c", "one of a, b"),
    ("list[str]", "[unclosed", "expected YAML"),
])
def test_bad_cli_strings_say_what_is_accepted(spec: str, text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_type(spec).coerce(text)
    assert fragment in str(err.value)


def test_api_values_are_checked_strictly() -> None:
    assert TypeSpec("float").check(3) == (3.0, None)
    assert TypeSpec("int").check(True)[1] == "expected int, got bool True"
    assert TypeSpec("int").check("3")[1] == "expected int, got str '3'"
    assert TypeSpec("bool").check(1)[1] is not None
    assert parse_type("list[int]").check((1, 2)) == ([1, 2], None)
    assert parse_type("dict[str, float]").check({"a": 1}) == ({"a": 1.0}, None)
    assert "value of 'a'" in parse_type("dict[str, int]").check({"a": "x"})[1]
    assert parse_type("Optional[int]").check(None) == (None, None)
    assert parse_type("int").check(None)[1] == "expected int, got None"


def test_check_values_reports_every_problem_at_once() -> None:
    params = parse_parameters(CELL)
    with pytest.raises(RunbookParameterError) as err:
        check_values("demo", params, {"replicas": "3", "namspace": "x", "mode": "medium", "password": "hunter2"})
    problems = err.value.problems
    assert "replicas: expected int, got str '3'" in problems
    assert "namspace: unknown parameter (did you mean 'namespace'?)" in problems
    assert any(p.startswith("mode: expected one of 'fast', 'slow'") for p in problems)
    assert any(p.startswith("password: looks like a credential") for p in problems)
    assert any(p.startswith("context: required (str) — kubeconfig context, by name") for p in problems)
    assert "hunter2" not in str(err.value)
    assert "kubecopilot runbook describe demo" in str(err.value)


def test_check_values_returns_only_what_was_given_typed() -> None:
    params = parse_parameters(CELL)
    got = check_values("demo", params, {"context": "prod", "ratio": 1, "names": ("x",)})
    assert got == {"context": "prod", "ratio": 1.0, "names": ["x"]}
    assert type(got["ratio"]) is float


def test_cli_coercion_problems_are_reported_with_the_rest() -> None:
    params = parse_parameters(CELL)
    values, problems = coerce_text(params, {"replicas": "x", "dry_run": "no", "unknown": "1"})
    assert values == {"dry_run": False, "unknown": "1"} and problems == ["replicas: expected an integer, got 'x'"]
    with pytest.raises(RunbookParameterError) as err:
        check_values("demo", params, {"context": "c", **values}, text_problems=problems)
    assert err.value.problems == ["replicas: expected an integer, got 'x'", "unknown: unknown parameter"]


KUBECONFIG_TEXT = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: https://1.2.3.4}
users:
- name: u
  user: {client-key-data: QUJD}
"""
JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize("value, kind", [
    (KUBECONFIG_TEXT, "kubeconfig text"),
    ({"apiVersion": "v1", "clusters": [], "users": []}, "a kubeconfig"),
    (f"Bearer {JWT}", "a bearer token"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "PEM"),
    (["ok", {"nested": KUBECONFIG_TEXT}], "kubeconfig text"),
])
def test_credential_values_are_refused_without_being_quoted(value: object, kind: str) -> None:
    params = parse_parameters("context: str = None  # c\nnote: Any = None  # anything")
    with pytest.raises(RunbookParameterError) as err:
        check_values("demo", params, {"context": "prod", "note": value})
    text = str(err.value)
    assert kind in text and "never credentials" in text
    for secret in ("QUJD", JWT, "MIIE", "1.2.3.4"):
        assert secret not in text


def test_parameter_renders_as_its_declaration() -> None:
    p = parse_parameters("replicas: int = 3  # how many")[0]
    assert str(p) == "replicas: int = 3  # how many"
    assert p.as_dict() == {"name": "replicas", "type": "int", "default": 3, "required": False,
                           "description": "how many"}
