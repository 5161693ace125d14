"""A tiny busybox/alpine ``sh`` for the node simulator: runs a container's shell command on a virtual clock.

`run_shell` interprets the command of a shell container (``sh -c "..."``, ``/bin/sh script``, or an
exec-form applet such as ``["sleep", "3600"]``) and turns it into a `Program`: the lines it writes and
when, how it ends (exit code after the sum of its sleeps) or that it runs forever.

What it understands: ``;``, ``&&``, ``||``, ``|``, newlines, ``'...'`` / ``"..."`` / backslash quoting,
``$VAR`` ``${VAR}`` ``${VAR:-x}`` & co., ``$(...)``, backticks, ``$((...))``, globs against the mounted
files, redirections (``>``, ``>>``, ``2>&1``, ``<``, here-documents), ``if``/``while``/``until``/``for``/
``case``, functions, subshells and groups, and the common busybox applets (``echo printf sleep cat env
date ls test wget nc nslookup ...``). Anything else is ``sh: foo: not found`` (127); a parse error is
``sh: syntax error: ...`` (2). It never raises.

An endless loop is not run endlessly: once an iteration leaves the shell state unchanged (or after
`MAX_ITERATIONS`), the program is declared to run forever and the iteration's output becomes
`Program.periodic_log` (with ``{n}`` for a counter that goes 1, 2, 3... and ``{ts}`` for ``date``).
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from kubecopilot.sandbox.simulator._catalog import (
    LOG_EPOCH,
    Program,
    ServiceLookup,
    _normpath,
    cluster_ip,
    is_cluster_host,
    pod_ip,
    stable_hash,
)

__all__ = ["BUSYBOX_APPLETS", "COREUTILS_APPLETS", "MAX_ITERATIONS", "ShellHost", "run_shell"]

#: Iterations after which a ``while`` loop that takes time and keeps changing state (a counter) is taken to
#: run forever (a ``for`` loop always ends: its list is finite).
MAX_ITERATIONS = 1000
#: Commands after which a script is taken to spin forever (guards against pathological scripts).
MAX_STEPS = 200_000
_MAX_DEPTH = 60

_SHELLS = frozenset({"sh", "ash", "bash", "dash"})
_COMMON = frozenset({
    "sleep", "cat", "env", "printenv", "date", "hostname", "ls", "touch", "mkdir", "rm", "cp", "mv",
    "head", "tail", "grep", "wc", "seq", "expr", "basename", "dirname", "id", "whoami", "uname", "tee",
    "sort", "tr", "sed", "yes", "kill", "timeout", "test", "[", "echo", "printf", "true", "false",
})
#: Applets of busybox (alpine, busybox images).
BUSYBOX_APPLETS = _COMMON | {"sh", "ash", "wget", "nc", "nslookup", "ping", "httpd"}
#: Commands of a Debian/Ubuntu base image (coreutils, dash, bash; no wget, nc, nslookup, ping).
COREUTILS_APPLETS = _COMMON | {"sh", "dash", "bash"}

_PATH_DIRS = frozenset({"/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin", "/usr/local/sbin"})
_BASE_DIRS = frozenset({"/", "/bin", "/dev", "/etc", "/home", "/proc", "/root", "/run", "/sbin", "/sys",
                        "/tmp", "/usr", "/usr/bin", "/usr/local", "/usr/local/bin", "/usr/sbin", "/var",
                        "/var/log", "/var/run", "/var/tmp", "/mnt", "/opt", "/srv", "/media", "/lib"})
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_DATE_RE = re.compile("\x00D([0-9.]+)\x01([0-9a-f]*)\x00")


@dataclass(frozen=True)
class ShellHost:
    """What the shell may ask of the container around it (all optional; defaults suit a bare busybox).

    `external(argv, clock)` runs a non-applet executable of the image (``nginx``, ``python app.py``...)
    started `clock` seconds into the script and returns its `Program`, or None when the image has no such
    executable. `resolve_service` decides whether
    ``wget``/``nc``/``nslookup`` reach a cluster Service; without it every host answers. `local_serves`
    are the container's own listeners, for ``wget localhost:8080/...`` in exec probes.
    """

    applets: frozenset[str] = BUSYBOX_APPLETS
    namespace: str = "default"
    resolve_service: Callable[[str], ServiceLookup] | None = None
    external: Callable[[list[str], float], Program | None] | None = None
    local_serves: Mapping[int, frozenset[str] | None] | None = None
    base_memory_bytes: int = 600 * 1024
    t0: float = 0.0   # seconds after container start at which the shell starts (for ``date``)


def run_shell(argv: list[str], env: dict[str, str], files: dict[str, str], *,
              host: ShellHost | None = None) -> Program:
    """Run `argv` (``["sh", "-c", "..."]``, ``["/bin/sh", "x.sh"]``, ``["sleep", "5"]``...) to a `Program`."""
    sh = _Shell(env, files, host or ShellHost())
    return sh.run(list(argv))


# ---------------------------------------------------------------------------------------------------
# control flow


class _SyntaxError(Exception):
    pass


class _ShellError(Exception):
    """A fatal expansion error (bad substitution, unset parameter...): message, then the shell exits."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message, self.code = message, code


class _ExitShell(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _LoopCtl(Exception):
    def __init__(self, kind: str, n: int) -> None:
        super().__init__(kind)
        self.kind, self.n = kind, n


class _Return(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Forever(Exception):
    """The script blocks forever from here on (sleep infinity, a server, an endless loop)."""

    def __init__(self, periodic: str | None = None, period: float = 10.0, busy: bool = False) -> None:
        super().__init__("forever")
        self.periodic, self.period, self.busy = periodic, period, busy


# ---------------------------------------------------------------------------------------------------
# lexer


@dataclass
class _Tok:
    kind: str          # "word" | "op" | "nl" | "eof"
    text: str
    fd: int | None = None


@dataclass
class _HereDoc:
    delim: str
    strip_tabs: bool
    quoted: bool
    body: str = ""


_OPS = ("&&", "||", ";;", "<<-", "<<", ">>", ">&", "<&", ">|", "<>", ";", "&", "|", "(", ")", "<", ">")
_REDIR_OPS = frozenset({"<<-", "<<", ">>", ">&", "<&", ">|", "<>", "<", ">"})
_META = frozenset(" \t\n;&|()<>")


def _skip_squote(s: str, i: int) -> int:
    j = s.find("'", i + 1)
    if j < 0:
        raise _SyntaxError("unterminated quoted string")
    return j + 1


def _skip_dquote(s: str, i: int) -> int:
    i += 1
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif c == "`":
            i = _skip_backtick(s, i)
        elif c == "$" and s[i + 1:i + 2] in ("(", "{"):
            i = _skip_dollar(s, i)
        else:
            i += 1
    raise _SyntaxError("unterminated quoted string")


def _skip_backtick(s: str, i: int) -> int:
    j = i + 1
    while j < len(s):
        if s[j] == "\\":
            j += 2
        elif s[j] == "`":
            return j + 1
        else:
            j += 1
    raise _SyntaxError("unterminated quoted string")


def _skip_dollar(s: str, i: int) -> int:
    """End index of the ``$(...)``, ``$((...))`` or ``${...}`` starting at s[i] == '$'."""
    open_c = s[i + 1]
    close_c = ")" if open_c == "(" else "}"
    depth, j = 0, i + 1
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "'":
            j = _skip_squote(s, j)
            continue
        if c == '"':
            j = _skip_dquote(s, j)
            continue
        if c == "`":
            j = _skip_backtick(s, j)
            continue
        if c == "$" and s[j + 1:j + 2] in ("(", "{"):
            j = _skip_dollar(s, j)
            continue
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise _SyntaxError(f'unexpected end of file (expecting "{close_c}")')


class _Lexer:
    def __init__(self, src: str) -> None:
        self.s = src
        self.i = 0
        self.pending: list[_HereDoc] = []

    def next(self) -> _Tok:
        s = self.s
        while True:
            while self.i < len(s) and s[self.i] in " \t\r":
                self.i += 1
            if s.startswith("\\\n", self.i):
                self.i += 2
                continue
            if self.i < len(s) and s[self.i] == "#":
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
                continue
            break
        if self.i >= len(s):
            self._read_heredocs()
            return _Tok("eof", "")
        c = s[self.i]
        if c == "\n":
            self.i += 1
            self._read_heredocs()
            return _Tok("nl", "\n")
        for op in _OPS:
            if s.startswith(op, self.i):
                self.i += len(op)
                return _Tok("op", op)
        start = self.i
        i = self.i
        while i < len(s) and s[i] not in _META:
            c = s[i]
            if c == "\\":
                i += 2
            elif c == "'":
                i = _skip_squote(s, i)
            elif c == '"':
                i = _skip_dquote(s, i)
            elif c == "`":
                i = _skip_backtick(s, i)
            elif c == "$" and s[i + 1:i + 2] in ("(", "{"):
                i = _skip_dollar(s, i)
            else:
                i += 1
        self.i = min(i, len(s))
        word = s[start:self.i]
        if word.isdigit() and self.i < len(s) and s[self.i] in "<>":
            for op in _OPS:
                if op in _REDIR_OPS and s.startswith(op, self.i):
                    self.i += len(op)
                    return _Tok("op", op, fd=int(word))
        return _Tok("word", word)

    def _read_heredocs(self) -> None:
        while self.pending:
            hd = self.pending.pop(0)
            lines: list[str] = []
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                line = self.s[self.i:end]
                self.i = min(end + 1, len(self.s))
                if hd.strip_tabs:
                    line = line.lstrip("\t")
                if line == hd.delim:
                    break
                lines.append(line + "\n")
            hd.body = "".join(lines)


# ---------------------------------------------------------------------------------------------------
# parser


@dataclass
class _Redir:
    fd: int
    op: str
    target: str
    heredoc: _HereDoc | None = None


@dataclass
class _Simple:
    assigns: list[tuple[str, str]]
    words: list[str]
    redirs: list[_Redir]


@dataclass
class _Pipeline:
    cmds: list[_Node]
    negate: bool = False


@dataclass
class _AndOr:
    first: _Pipeline
    rest: list[tuple[str, _Pipeline]]


@dataclass
class _List:
    items: list[_AndOr]


@dataclass
class _Loop:
    cond: _List
    body: _List
    until: bool
    redirs: list[_Redir] = field(default_factory=list)


@dataclass
class _For:
    var: str
    words: list[str] | None
    body: _List
    redirs: list[_Redir] = field(default_factory=list)


@dataclass
class _If:
    branches: list[tuple[_List, _List]]
    orelse: _List | None
    redirs: list[_Redir] = field(default_factory=list)


@dataclass
class _Case:
    word: str
    arms: list[tuple[list[str], _List | None]]
    redirs: list[_Redir] = field(default_factory=list)


@dataclass
class _Group:
    body: _List
    subshell: bool
    redirs: list[_Redir] = field(default_factory=list)


@dataclass
class _FuncDef:
    name: str
    body: _Node


_Node = _Simple | _Loop | _For | _If | _Case | _Group | _FuncDef
_CLOSERS = frozenset({"then", "do", "done", "fi", "elif", "else", "esac", "}"})


class _Parser:
    def __init__(self, src: str) -> None:
        self.lx = _Lexer(src)
        self.buf: list[_Tok] = []

    def peek(self, k: int = 0) -> _Tok:
        while len(self.buf) <= k:
            self.buf.append(self.lx.next())
        return self.buf[k]

    def take(self) -> _Tok:
        tok = self.peek()
        self.buf.pop(0)
        return tok

    def _is_word(self, text: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == "word" and tok.text == text

    def _is_op(self, text: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text == text

    def skip_nl(self) -> None:
        while self.peek().kind == "nl":
            self.take()

    @staticmethod
    def unexpected(tok: _Tok, expecting: str | None = None) -> _SyntaxError:
        if tok.kind == "eof":
            hint = f' (expecting "{expecting}")' if expecting else ""
            return _SyntaxError("unexpected end of file" + hint)
        if tok.kind == "nl":
            return _SyntaxError("unexpected newline")
        return _SyntaxError(f'unexpected "{tok.text}"')

    def expect_word(self, text: str) -> None:
        if not self._is_word(text):
            raise self.unexpected(self.peek(), text)
        self.take()

    def next_complete(self) -> _List | None:
        """The next top-level command line, or None at the end of the script."""
        self.skip_nl()
        if self.peek().kind == "eof":
            return None
        return self.parse_list(frozenset(), top=True)

    def parse_list(self, stops: frozenset[str], top: bool = False) -> _List:
        items: list[_AndOr] = []
        while True:
            if not top:
                self.skip_nl()
            tok = self.peek()
            if top and tok.kind == "nl":
                self.take()
                break
            if tok.kind == "eof" or (tok.kind == "word" and tok.text in stops) or \
                    (tok.kind == "op" and tok.text in (")", ";;")):
                break
            items.append(self.parse_and_or())
            tok = self.peek()
            if tok.kind == "op" and tok.text in (";", "&"):
                self.take()
                continue
            if tok.kind == "nl":
                if top:
                    self.take()
                    break
                continue
            break
        if not items:
            raise self.unexpected(self.peek(), next(iter(stops)) if len(stops) == 1 else None)
        return _List(items)

    def parse_and_or(self) -> _AndOr:
        first = self.parse_pipeline()
        rest: list[tuple[str, _Pipeline]] = []
        while self.peek().kind == "op" and self.peek().text in ("&&", "||"):
            op = self.take().text
            self.skip_nl()
            rest.append((op, self.parse_pipeline()))
        return _AndOr(first, rest)

    def parse_pipeline(self) -> _Pipeline:
        negate = False
        if self._is_word("!"):
            self.take()
            negate = True
        cmds = [self.parse_command()]
        while self._is_op("|"):
            self.take()
            self.skip_nl()
            cmds.append(self.parse_command())
        return _Pipeline(cmds, negate)

    def parse_command(self) -> _Node:
        tok = self.peek()
        if tok.kind == "word":
            kw = tok.text
            if kw in _CLOSERS:
                raise self.unexpected(tok)
            if kw in ("while", "until"):
                self.take()
                cond = self.parse_list(frozenset({"do"}))
                self.expect_word("do")
                body = self.parse_list(frozenset({"done"}))
                self.expect_word("done")
                return _Loop(cond, body, kw == "until", self.parse_redirs())
            if kw == "for":
                return self.parse_for()
            if kw == "if":
                return self.parse_if()
            if kw == "case":
                return self.parse_case()
            if kw == "{":
                self.take()
                body = self.parse_list(frozenset({"}"}))
                self.expect_word("}")
                return _Group(body, False, self.parse_redirs())
            nxt = self.peek(1)
            if _NAME_RE.fullmatch(kw) and nxt.kind == "op" and nxt.text == "(":
                if not (self.peek(2).kind == "op" and self.peek(2).text == ")"):
                    raise self.unexpected(self.peek(2))
                self.take()
                self.take()
                self.take()
                self.skip_nl()
                return _FuncDef(kw, self.parse_command())
        elif tok.kind == "op" and tok.text == "(":
            self.take()
            body = self.parse_list(frozenset())
            if not self._is_op(")"):
                raise self.unexpected(self.peek(), ")")
            self.take()
            return _Group(body, True, self.parse_redirs())
        return self.parse_simple()

    def parse_for(self) -> _For:
        self.take()
        name = self.take()
        if name.kind != "word" or not _NAME_RE.fullmatch(name.text):
            raise self.unexpected(name)
        words: list[str] | None = None
        self.skip_nl()
        if self._is_word("in"):
            self.take()
            words = []
            while self.peek().kind == "word":
                words.append(self.take().text)
            if self._is_op(";") or self.peek().kind == "nl":
                self.take()
            else:
                raise self.unexpected(self.peek())
        elif self._is_op(";"):
            self.take()
        self.skip_nl()
        self.expect_word("do")
        body = self.parse_list(frozenset({"done"}))
        self.expect_word("done")
        return _For(name.text, words, body, self.parse_redirs())

    def parse_if(self) -> _If:
        self.take()
        branches: list[tuple[_List, _List]] = []
        orelse: _List | None = None
        while True:
            cond = self.parse_list(frozenset({"then"}))
            self.expect_word("then")
            body = self.parse_list(frozenset({"elif", "else", "fi"}))
            branches.append((cond, body))
            if self._is_word("elif"):
                self.take()
                continue
            if self._is_word("else"):
                self.take()
                orelse = self.parse_list(frozenset({"fi"}))
            self.expect_word("fi")
            return _If(branches, orelse, self.parse_redirs())

    def parse_case(self) -> _Case:
        self.take()
        word = self.take()
        if word.kind != "word":
            raise self.unexpected(word)
        self.skip_nl()
        self.expect_word("in")
        arms: list[tuple[list[str], _List | None]] = []
        while True:
            self.skip_nl()
            if self._is_word("esac"):
                self.take()
                break
            if self._is_op("("):
                self.take()
            pat = self.take()
            if pat.kind != "word":
                raise self.unexpected(pat, "esac")
            pats = [pat.text]
            while self._is_op("|"):
                self.take()
                pat = self.take()
                if pat.kind != "word":
                    raise self.unexpected(pat)
                pats.append(pat.text)
            if not self._is_op(")"):
                raise self.unexpected(self.peek(), ")")
            self.take()
            self.skip_nl()
            empty = self._is_op(";;") or self._is_word("esac")
            body = None if empty else self.parse_list(frozenset({"esac"}))
            if self._is_op(";;"):
                self.take()
            arms.append((pats, body))
        return _Case(word.text, arms, self.parse_redirs())

    def parse_redirs(self) -> list[_Redir]:
        redirs: list[_Redir] = []
        while self.peek().kind == "op" and self.peek().text in _REDIR_OPS:
            redirs.append(self.parse_redir())
        return redirs

    def parse_redir(self) -> _Redir:
        op = self.take()
        target = self.take()
        if target.kind != "word":
            raise self.unexpected(target)
        fd = op.fd if op.fd is not None else (0 if op.text.startswith("<") and op.text != "<>" else 1)
        if op.text in ("<<", "<<-"):
            quoted = any(q in target.text for q in "'\"\\")
            delim = re.sub(r"""['"\\]""", "", target.text)
            hd = _HereDoc(delim, op.text == "<<-", quoted)
            self.lx.pending.append(hd)
            return _Redir(0, op.text, target.text, hd)
        return _Redir(fd, op.text, target.text)

    def parse_simple(self) -> _Simple:
        assigns: list[tuple[str, str]] = []
        words: list[str] = []
        redirs: list[_Redir] = []
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text in _REDIR_OPS:
                redirs.append(self.parse_redir())
                continue
            if tok.kind != "word":
                break
            self.take()
            if not words and _ASSIGN_RE.match(tok.text):
                name, _, value = tok.text.partition("=")
                assigns.append((name, value))
            else:
                words.append(tok.text)
        if not (assigns or words or redirs):
            raise self.unexpected(self.peek())
        return _Simple(assigns, words, redirs)


# ---------------------------------------------------------------------------------------------------
# I/O


class _Sink:
    def write(self, text: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class _Null(_Sink):
    def write(self, text: str) -> None:
        pass


class _Capture(_Sink):
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


class _LogSink(_Sink):
    """The container's stdout/stderr: complete lines become log lines stamped with the virtual clock."""

    def __init__(self, sh: _Shell) -> None:
        self.sh = sh
        self.pending = ""
        self.pending_t = 0.0

    def write(self, text: str) -> None:
        if not text:
            return
        if not self.pending:
            self.pending_t = self.sh.clock
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            self.sh.logs.append((self.pending_t, line))
            self.pending_t = self.sh.clock

    def flush(self) -> None:
        if self.pending:
            self.sh.logs.append((self.pending_t, self.pending))
            self.pending = ""


class _FileSink(_Sink):
    def __init__(self, sh: _Shell, path: str, append: bool) -> None:
        self.sh, self.path = sh, path
        if not append or path not in sh.fs:
            sh.fs[path] = ""

    def write(self, text: str) -> None:
        self.sh.fs[self.path] = self.sh.fs.get(self.path, "") + text


class _Stdin:
    def __init__(self, data: str = "") -> None:
        self.data, self.pos = data, 0

    def read_all(self) -> str:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out

    def readline(self) -> str | None:
        if self.pos >= len(self.data):
            return None
        end = self.data.find("\n", self.pos)
        end = len(self.data) if end < 0 else end
        line = self.data[self.pos:end]
        self.pos = end + 1
        return line


@dataclass
class _IO:
    stdin: _Stdin
    out: _Sink
    err: _Sink


# ---------------------------------------------------------------------------------------------------
# word expansion


class _Fields:
    """Builds the fields of one word: quoted text is kept whole, unquoted expansions are split."""

    def __init__(self, split: bool) -> None:
        self.split = split
        self.fields: list[tuple[str, str, bool]] = []   # (text, glob pattern, has unquoted glob chars)
        self.text = ""
        self.pat = ""
        self.glob = False
        self.forced = False   # a quote was seen: the field exists even if empty

    def literal(self, s: str, quoted: bool) -> None:
        self.text += s
        if quoted:
            self.pat += "".join(f"[{c}]" if c in "*?[" else c for c in s)
            self.forced = True
        else:
            self.pat += s
            if any(c in s for c in "*?["):
                self.glob = True

    def expansion(self, value: str, quoted: bool) -> None:
        if quoted or not self.split:
            self.literal(value, True)
            if not quoted:
                self.forced = self.forced or bool(value)
            return
        pieces = re.split(r"[ \t\n]+", value)
        for idx, piece in enumerate(pieces):
            if idx:
                self.finish()
            if piece:
                self.literal(piece, False)

    def finish(self) -> None:
        if self.text or self.forced:
            self.fields.append((self.text, self.pat, self.glob))
        self.text, self.pat, self.glob, self.forced = "", "", False, False


# ---------------------------------------------------------------------------------------------------
# arithmetic


class _Arith:
    """``$((...))``: integers, variables, C operators (incl. assignment, ternary, ++/--)."""

    _TOKEN = re.compile(r"\s*(0[xX][0-9a-fA-F]+|\d+|[A-Za-z_]\w*|\*\*|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||"
                        r"\+\+|--|[-+*/%&|^]=|[-+*/%<>=!~&|^?:()])")
    _BINARY = [("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", "<=", ">", ">="),
               ("<<", ">>"), ("+", "-"), ("*", "/", "%"), ("**",)]

    def __init__(self, sh: _Shell, text: str) -> None:
        self.sh = sh
        self.toks: list[str] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = self._TOKEN.match(text, pos)
            if not m or not m.group(1):
                raise _ShellError(f"sh: arithmetic syntax error: {text}")
            self.toks.append(m.group(1))
            pos = m.end()
        self.i = 0
        self.text = text

    def error(self) -> _ShellError:
        return _ShellError(f"sh: arithmetic syntax error: {self.text}")

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise self.error()
        self.i += 1
        return tok

    def evaluate(self) -> int:
        if not self.toks:
            return 0
        value = self.assign()
        if self.peek() is not None:
            raise self.error()
        return value

    def var(self, name: str) -> int:
        raw = self.sh.render(self.sh.getvar(name) or "0").strip() or "0"
        try:
            return int(raw, 0) if not raw.lstrip("-").isdigit() else int(raw)
        except ValueError:
            if _NAME_RE.fullmatch(raw):
                return self.var(raw)
            raise _ShellError(f"sh: arithmetic syntax error: {raw}") from None

    def assign(self) -> int:
        start = self.i
        tok = self.peek()
        if tok is not None and _NAME_RE.fullmatch(tok) and self.i + 1 < len(self.toks):
            op = self.toks[self.i + 1]
            if op == "=" or (len(op) >= 2 and op.endswith("=") and op not in ("==", "!=", "<=", ">=")):
                self.i += 2
                rhs = self.assign()
                value = rhs if op == "=" else self.binop(op[:-1], self.var(tok), rhs)
                self.sh.setvar(tok, str(value))
                return value
        self.i = start
        return self.ternary()

    def ternary(self) -> int:
        cond = self.binary(0)
        if self.peek() == "?":
            self.take()
            a = self.assign()
            if self.take() != ":":
                raise self.error()
            b = self.assign()
            return a if cond else b
        return cond

    def binary(self, level: int) -> int:
        if level == len(self._BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self._BINARY[level]:
            op = self.take()
            right = self.binary(level + 1) if op != "**" else self.binary(level)
            left = self.binop(op, left, right)
        return left

    def binop(self, op: str, a: int, b: int) -> int:
        if op in ("/", "%") and b == 0:
            raise _ShellError("sh: divide by zero")
        ops: dict[str, Callable[[int, int], int]] = {
            "||": lambda x, y: int(bool(x) or bool(y)), "&&": lambda x, y: int(bool(x) and bool(y)),
            "|": lambda x, y: x | y, "^": lambda x, y: x ^ y, "&": lambda x, y: x & y,
            "==": lambda x, y: int(x == y), "!=": lambda x, y: int(x != y), "<": lambda x, y: int(x < y),
            "<=": lambda x, y: int(x <= y), ">": lambda x, y: int(x > y), ">=": lambda x, y: int(x >= y),
            "<<": lambda x, y: x << y, ">>": lambda x, y: x >> y, "+": lambda x, y: x + y,
            "-": lambda x, y: x - y, "*": lambda x, y: x * y,
            "/": lambda x, y: int(x / y), "%": lambda x, y: int(math_fmod(x, y)),
            "**": lambda x, y: x ** y if y >= 0 else 0,
        }
        return ops[op](a, b)

    def unary(self) -> int:
        tok = self.peek()
        if tok in ("-", "+", "!", "~"):
            self.take()
            v = self.unary()
            return {"-": -v, "+": v, "!": int(not v), "~": ~v}[tok]
        if tok in ("++", "--"):
            self.take()
            name = self.take()
            value = self.var(name) + (1 if tok == "++" else -1)
            self.sh.setvar(name, str(value))
            return value
        return self.primary()

    def primary(self) -> int:
        tok = self.take()
        if tok == "(":
            v = self.assign()
            if self.take() != ")":
                raise self.error()
            return v
        if tok[0].isdigit():
            if tok[:2].lower() == "0x":
                return int(tok, 16)
            return int(tok, 8) if len(tok) > 1 and tok[0] == "0" else int(tok)
        if _NAME_RE.fullmatch(tok):
            value = self.var(tok)
            if self.peek() in ("++", "--"):
                op = self.take()
                self.sh.setvar(tok, str(value + (1 if op == "++" else -1)))
            return value
        raise self.error()


def math_fmod(a: int, b: int) -> int:
    """C-style remainder (sign follows the dividend)."""
    r = abs(a) % abs(b)
    return -r if a < 0 else r


# ---------------------------------------------------------------------------------------------------
# dates: ``date`` writes a marker that is rendered at the end (or to {ts} in a periodic line)


def _date_marker(offset: float, fmt: str) -> str:
    return f"\x00D{offset:.3f}\x01{fmt.encode().hex()}\x00"


def _format_date(offset: float, fmt: str) -> str:
    when = LOG_EPOCH + timedelta(seconds=offset)
    fmt = fmt.replace("%s", str(int(when.timestamp()))).replace("%3N", f"{when.microsecond // 1000:03d}")
    fmt = fmt.replace("%N", f"{when.microsecond * 1000:09d}")
    try:
        return when.strftime(fmt)
    except ValueError:
        return fmt


def _render_dates(text: str, as_placeholder: bool = False) -> str:
    if "\x00" not in text:
        return text
    if as_placeholder:
        return _DATE_RE.sub("{ts}", text)
    return _DATE_RE.sub(lambda m: _format_date(float(m.group(1)), bytes.fromhex(m.group(2)).decode()), text)


# ---------------------------------------------------------------------------------------------------
# the interpreter


_Applet = Callable[["_Shell", list[str], _IO], int]
_APPLETS: dict[str, _Applet] = {}
_BUILTINS: dict[str, _Applet] = {}
_SPECIAL = frozenset({":", ".", "break", "continue", "eval", "exec", "exit", "export", "readonly", "return",
                      "set", "shift", "trap", "unset", "local"})


def _applet(*names: str, builtin: bool = False) -> Callable[[_Applet], _Applet]:
    def register(fn: _Applet) -> _Applet:
        for name in names:
            (_BUILTINS if builtin else _APPLETS)[name] = fn
        return fn
    return register


@dataclass
class _Saved:
    vars: dict[str, str]
    exported: set[str]
    funcs: dict[str, _Node]
    positional: list[str]
    opts: set[str]
    arg0: str
    cwd: str


class _Shell:
    def __init__(self, env: Mapping[str, str], files: Mapping[str, str], host: ShellHost) -> None:
        self.host = host
        self.vars: dict[str, str] = dict(env)
        self.exported: set[str] = set(env)
        self.fs: dict[str, str] = {}
        self.dirs: set[str] = set(_BASE_DIRS)
        for path, content in files.items():
            if path.endswith("/"):
                self._add_dir(path.rstrip("/") or "/")
            else:
                self.fs[path] = content
                self._add_dir(_dirname(path))
        self.readonly = frozenset(self.fs)
        hostname = self.vars.get("HOSTNAME") or "localhost"
        self.fs.setdefault("/etc/hostname", hostname + "\n")
        self.fs.setdefault("/etc/resolv.conf", (
            f"search {host.namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
            "nameserver 10.96.0.10\noptions ndots:5\n"))
        self.fs.setdefault("/etc/hosts", f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                                         f"{pod_ip(hostname)}\t{hostname}\n")
        self.clock = 0.0
        self.status = 0
        self.logs: list[tuple[float, str]] = []
        self.log_sink = _LogSink(self)
        self.io = _IO(_Stdin(), self.log_sink, self.log_sink)
        self.positional: list[str] = []
        self.arg0 = "sh"
        self.funcs: dict[str, _Node] = {}
        self.opts: set[str] = set()
        self.serves: dict[int, frozenset[str] | None] = {}
        self.memory = host.base_memory_bytes
        self.cpu = 1
        self.steps = 0
        self.depth = 0
        self.cond_depth = 0
        self.clock_reads = 0
        self.rng = random.Random(stable_hash(hostname))
        self.rng_calls = 0
        self.subst_status: int | None = None
        self.cwd = "/"
        self.last_bg = 0

    # -- entry ---------------------------------------------------------------------------------------
    def run(self, argv: list[str]) -> Program:
        code = 0
        outcome = "exit"
        periodic: str | None = None
        period = 10.0
        try:
            code = self.start(argv)
        except _ExitShell as e:
            code = e.code
        except _Forever as f:
            outcome, periodic, period = "run", f.periodic, f.period
            if f.busy:
                self.cpu = 1000
        except (_LoopCtl, _Return):
            code = self.status
        except _SyntaxError as e:       # e.g. an unterminated $(( in a here-document body
            self.log_sink.write(f"sh: syntax error: {e}\n")
            code = 2
        except _ShellError as e:
            self.log_sink.write(e.message + "\n")
            code = e.code
        except RecursionError:
            self.log_sink.write("sh: out of stack space\n")
            code = 2
        except Exception as e:   # a bug here must not take the simulator down: report it like a shell would
            self.log_sink.write(f"sh: internal error: {type(e).__name__}: {e}\n")
            code = 2
        self.log_sink.flush()
        logs = [(round(t, 3), _render_dates(line)) for t, line in self.logs]
        if outcome == "run":
            return Program("run", logs=logs, periodic_log=periodic, periodic_seconds=period,
                           serves=dict(self.serves), memory_bytes=self.memory, cpu_millicores=self.cpu)
        return Program("exit", after_seconds=round(self.clock, 3), exit_code=code & 0xFF, logs=logs,
                       serves=dict(self.serves), memory_bytes=self.memory, cpu_millicores=self.cpu)

    def start(self, argv: list[str]) -> int:
        if not argv:
            return 0
        base = _basename(argv[0])
        if base == "busybox" and len(argv) > 1:
            argv, base = argv[1:], _basename(argv[1])
        if base in _SHELLS:
            return self.shell_main(argv)
        self.status = self.run_argv(argv, self.io)
        return self.status

    def shell_main(self, argv: list[str]) -> int:
        """``sh [-ex] [-c SCRIPT [NAME [ARGS...]] | FILE [ARGS...]]`` in the current shell."""
        args = argv[1:]
        script: str | None = None
        command_mode = False
        while args and args[0].startswith(("-", "+")) and args[0] not in ("-", "--"):
            flags = args.pop(0)
            for f in flags[1:]:
                if f == "c":
                    command_mode = True
                elif f in "eux":
                    if flags[0] == "-":
                        self.opts.add(f)
                    else:
                        self.opts.discard(f)
                elif f == "o" and args:
                    args.pop(0)
        if args and args[0] == "--":
            args.pop(0)
        if command_mode:
            if not args:
                self.io.err.write(f"{_basename(argv[0])}: -c requires an argument\n")
                return 2
            script = args.pop(0)
            self.arg0 = args.pop(0) if args else _basename(argv[0])
            self.positional = args
        elif args:
            path = self.abspath(args[0])
            if path not in self.fs:
                self.io.err.write(f"{_basename(argv[0])}: can't open '{args[0]}': "
                                  "No such file or directory\n")
                return 2
            script = self.fs[path]
            self.arg0, self.positional = args[0], args[1:]
        else:
            return 0   # no tty, stdin is empty: the shell reads EOF and exits
        return self.run_source(script, self.io)

    def run_source(self, src: str, io: _IO) -> int:
        parser = _Parser(src)
        status = 0
        while True:
            try:
                node = parser.next_complete()
            except _SyntaxError as e:
                io.err.write(f"sh: syntax error: {e}\n")
                self.status = 2
                raise _ExitShell(2) from None
            if node is None:
                return status
            status = self.exec_list(node, io)

    # -- variables -------------------------------------------------------------------------------------
    def getvar(self, name: str) -> str | None:
        if name == "RANDOM":
            self.rng_calls += 1
            return str(self.rng.randrange(32768))
        return self.vars.get(name)

    def setvar(self, name: str, value: str) -> None:
        self.vars[name] = value

    def render(self, text: str) -> str:
        """A value about to be *used* (compared, computed with): dates become real text."""
        if "\x00" in text:
            self.clock_reads += 1
            return _render_dates(text)
        return text

    def snapshot(self, io: _IO) -> tuple[object, ...]:
        vars_ = tuple((k, _render_dates(v, True)) for k, v in self.vars.items())
        return (vars_, tuple(self.fs.items()), tuple(self.positional), io.stdin.pos, self.rng_calls,
                self.clock_reads, len(self.dirs), len(self.funcs))

    def save(self) -> _Saved:
        """What a subshell must not change in its parent (files and the clock are shared)."""
        return _Saved(dict(self.vars), set(self.exported), dict(self.funcs), list(self.positional),
                      set(self.opts), self.arg0, self.cwd)

    def restore(self, saved: _Saved) -> None:
        self.vars, self.exported, self.funcs = saved.vars, saved.exported, saved.funcs
        self.positional, self.opts, self.arg0, self.cwd = saved.positional, saved.opts, saved.arg0, saved.cwd

    # -- paths -----------------------------------------------------------------------------------------
    def abspath(self, path: str) -> str:
        if not path.startswith("/"):
            path = self.cwd.rstrip("/") + "/" + path
        return _normpath(path)

    def _add_dir(self, path: str) -> None:
        while path not in self.dirs:
            self.dirs.add(path)
            path = _dirname(path)

    def is_dir(self, path: str) -> bool:
        return path in self.dirs

    def exists(self, path: str) -> bool:
        return path in self.fs or path in self.dirs or path.startswith(("/dev/", "/proc/", "/sys/"))

    def read_file(self, path: str) -> str | None:
        path = self.abspath(path)
        if path in self.fs:
            return self.fs[path]
        if path == "/dev/null":
            return ""
        return None

    def open_write(self, target: str, append: bool, io: _IO) -> _Sink | str:
        """A sink for ``> target``, or the error message."""
        if target in ("/dev/null", "/dev/zero"):
            return _Null()
        if target in ("/dev/stdout", "/proc/self/fd/1", "/dev/fd/1", "/proc/1/fd/1", "/dev/tty"):
            return io.out if target != "/proc/1/fd/1" else self.log_sink
        if target in ("/dev/stderr", "/proc/self/fd/2", "/dev/fd/2", "/proc/1/fd/2"):
            return io.err if target != "/proc/1/fd/2" else self.log_sink
        path = self.abspath(target)
        if path in self.readonly:
            return f"sh: can't create {target}: Read-only file system"
        if path in self.dirs:
            return f"sh: can't create {target}: Is a directory"
        if _dirname(path) not in self.dirs:
            return f"sh: can't create {target}: nonexistent directory"
        return _FileSink(self, path, append)

    # -- expansion -------------------------------------------------------------------------------------
    def expand(self, word: str) -> list[str]:
        """A word to its fields (split and globbed)."""
        fb = _Fields(split=True)
        self._expand_into(word, fb)
        fb.finish()
        out: list[str] = []
        for text, pat, glob in fb.fields:
            if glob:
                matches = self.glob(pat)
                if matches:
                    out.extend(matches)
                    continue
            out.append(text)
        return out

    def expand_str(self, word: str) -> str:
        """A word to one string (assignments, redirection targets, case words): no splitting, no globs."""
        fb = _Fields(split=False)
        self._expand_into(word, fb)
        return fb.text

    def _expand_into(self, w: str, fb: _Fields) -> None:
        i, n = 0, len(w)
        while i < n:
            c = w[i]
            if c == "\\":
                if i + 1 < n and w[i + 1] != "\n":
                    fb.literal(w[i + 1], True)
                i += 2
            elif c == "'":
                j = _skip_squote(w, i)
                fb.literal(w[i + 1:j - 1], True)
                fb.forced = True
                i = j
            elif c == '"':
                i = self._expand_dquote(w, i, fb)
            elif c == "`":
                j = _skip_backtick(w, i)
                fb.expansion(self.command_subst(_unbacktick(w[i + 1:j - 1])), False)
                i = j
            elif c == "$":
                value, i = self._dollar(w, i, fb, quoted=False)
                if value is not None:
                    fb.expansion(value, False)
            elif c == "~" and i == 0:
                j = i + 1
                while j < n and w[j] not in "/:":
                    j += 1
                fb.literal(self.vars.get("HOME", "/root") if j == 1 else w[:j], True)
                i = j
            else:
                fb.literal(c, False)
                i += 1

    def _expand_dquote(self, w: str, i: int, fb: _Fields) -> int:
        end = _skip_dquote(w, i)
        fb.forced = True
        i += 1
        while i < end - 1:
            c = w[i]
            if c == "\\" and w[i + 1] in '$`"\\\n':
                if w[i + 1] != "\n":
                    fb.literal(w[i + 1], True)
                i += 2
            elif c == "`":
                j = _skip_backtick(w, i)
                fb.expansion(self.command_subst(_unbacktick(w[i + 1:j - 1])), True)
                i = j
            elif c == "$":
                value, i = self._dollar(w, i, fb, quoted=True)
                if value is not None:
                    fb.expansion(value, True)
            else:
                fb.literal(c, True)
                i += 1
        return end

    def _dollar(self, w: str, i: int, fb: _Fields, quoted: bool) -> tuple[str | None, int]:
        """Expand the ``$...`` at w[i]; returns (value, next index). "$@" adds its fields itself."""
        nxt = w[i + 1:i + 2]
        if w.startswith("$((", i):
            end = _skip_dollar(w, i)
            if w[end - 2:end] == "))":
                inner = self._expand_plain(w[i + 3:end - 2])
                return str(_Arith(self, inner).evaluate()), end
            return self.command_subst(w[i + 2:end - 1]), end
        if nxt == "(":
            end = _skip_dollar(w, i)
            return self.command_subst(w[i + 2:end - 1]), end
        if nxt == "{":
            end = _skip_dollar(w, i)
            return self._param(w[i + 2:end - 1]), end
        m = _NAME_RE.match(w, i + 1)
        if m:
            return self._lookup(m.group(0)), m.end()
        if nxt.isdigit():
            return self._lookup(nxt), i + 2
        if nxt == "@" and quoted:
            args = self.positional
            if not args:
                if fb.text == "" and w[i + 2:i + 3] == '"':
                    fb.forced = False   # "$@" with no arguments is no field at all
                return None, i + 2
            for k, arg in enumerate(args):
                if k:
                    fields_text = fb.text
                    fb.fields.append((fields_text, fb.pat, fb.glob))
                    fb.text, fb.pat, fb.glob = "", "", False
                fb.literal(arg, True)
            return None, i + 2
        if nxt and nxt in "?$#@*!-0":
            return self._lookup(nxt), i + 2
        return "$", i + 1

    def _expand_plain(self, text: str) -> str:
        """Expand ``$`` forms in arithmetic text (no quote processing)."""
        out: list[str] = []
        i = 0
        fb = _Fields(split=False)
        while i < len(text):
            if text[i] == "$":
                value, i = self._dollar(text, i, fb, quoted=True)
                out.append(value or "")
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def _lookup(self, name: str) -> str:
        special = {"?": str(self.status), "$": "1", "#": str(len(self.positional)),
                   "@": " ".join(self.positional), "*": " ".join(self.positional), "!": str(self.last_bg),
                   "-": "".join(sorted(self.opts)), "0": self.arg0}
        if name in special:
            return special[name]
        if name.isdigit():
            k = int(name)
            if k <= len(self.positional):
                return self.positional[k - 1]
            if "u" in self.opts:
                raise _ShellError(f"sh: {name}: parameter not set")
            return ""
        value = self.getvar(name)
        if value is None:
            if "u" in self.opts:
                raise _ShellError(f"sh: {name}: parameter not set")
            return ""
        return value

    def _param(self, inner: str) -> str:
        m = re.fullmatch(r"#([A-Za-z_]\w*|\d+|[@*#?])", inner)
        if m:
            return str(len(self.render(self._lookup(m.group(1)))))
        m = re.fullmatch(r"([A-Za-z_]\w*|\d+|[@*#?$!0-])(?:(:?[-=+?])(.*))?", inner, re.S)
        if m:
            name, op, word = m.group(1), m.group(2), m.group(3) or ""
            if name.isdigit():
                k = int(name)
                value: str | None = self.positional[k - 1] if 0 < k <= len(self.positional) else None
            elif name in "@*#?$!0-":
                value = self._lookup(name)
            else:
                value = self.getvar(name)
            if not op:
                return self._lookup(name)
            unset = value is None or (op.startswith(":") and value == "")
            kind = op[-1]
            if kind == "-":
                return self.expand_str(word) if unset else value or ""
            if kind == "=":
                if unset:
                    value = self.expand_str(word)
                    self.setvar(name, value)
                return value or ""
            if kind == "+":
                return "" if unset else self.expand_str(word)
            if unset:
                raise _ShellError(f"sh: {name}: {self.expand_str(word) or 'parameter not set'}")
            return value or ""
        m = re.fullmatch(r"([A-Za-z_]\w*|\d+)(%%|%|##|#)(.*)", inner, re.S)
        if m:
            value = self.render(self._lookup(m.group(1)))
            pattern = self.expand_str(m.group(3))
            return _strip_pattern(value, pattern, m.group(2))
        m = re.fullmatch(r"([A-Za-z_]\w*)/(/?)([^/]*)/?(.*)", inner, re.S)
        if m:
            value = self.render(self._lookup(m.group(1)))
            pat, rep = self.expand_str(m.group(3)), self.expand_str(m.group(4))
            rx = fnmatch.translate(pat).replace(r"\Z", "")[4:] if pat else None
            if not rx:
                return value
            return re.sub(rx, rep.replace("\\", "\\\\"), value, count=0 if m.group(2) else 1)
        raise _ShellError("sh: syntax error: bad substitution")

    def command_subst(self, src: str) -> str:
        cap = _Capture()
        saved = self.save()
        try:
            status = self.run_source(src, _IO(_Stdin(), cap, self.io.err))
        except _ExitShell as e:
            status = e.code
        except (_LoopCtl, _Return):
            status = self.status
        finally:
            self.restore(saved)
        self.subst_status = status
        self.status = status
        return cap.text().rstrip("\n")

    def glob(self, pattern: str) -> list[str]:
        absolute = pattern.startswith("/")
        full = pattern if absolute else self.cwd.rstrip("/") + "/" + pattern
        segs = [s for s in full.split("/") if s]
        found: list[str] = []
        for path in sorted(set(self.fs) | self.dirs):
            parts = [p for p in path.split("/") if p]
            if len(parts) != len(segs):
                continue
            if all(fnmatch.fnmatchcase(p, s) and (not p.startswith(".") or s.startswith("."))
                   for p, s in zip(parts, segs, strict=True)):
                found.append(path if absolute else path[len(self.cwd.rstrip("/")) + 1:])
        return found

    # -- execution -------------------------------------------------------------------------------------
    def exec_list(self, node: _List, io: _IO) -> int:
        status = 0
        for item in node.items:
            status = self.exec_and_or(item, io)
        return status

    def exec_and_or(self, node: _AndOr, io: _IO) -> int:
        chain = [("", node.first), *node.rest]
        status = 0
        last_index = -1
        for idx, (op, pl) in enumerate(chain):
            if idx and ((op == "&&" and status != 0) or (op == "||" and status == 0)):
                continue
            if idx < len(chain) - 1:
                self.cond_depth += 1
                try:
                    status = self.exec_pipeline(pl, io)
                finally:
                    self.cond_depth -= 1
            else:
                status = self.exec_pipeline(pl, io)
            last_index = idx
        self.status = status
        if "e" in self.opts and status != 0 and self.cond_depth == 0 and last_index == len(chain) - 1 \
                and not chain[last_index][1].negate:
            raise _ExitShell(status)
        return status

    def exec_pipeline(self, node: _Pipeline, io: _IO) -> int:
        if len(node.cmds) == 1:
            status = self.exec_command(node.cmds[0], io)
        else:
            stdin = io.stdin
            status = 0
            for k, cmd in enumerate(node.cmds):
                last = k == len(node.cmds) - 1
                sink: _Sink = io.out if last else _Capture()
                saved = self.save()
                try:
                    status = self.exec_command(cmd, _IO(stdin, sink, io.err))
                except _ExitShell as e:
                    status = e.code
                except _Forever:
                    if last:
                        raise
                    status = 141
                finally:
                    self.restore(saved)
                if isinstance(sink, _Capture):
                    stdin = _Stdin(sink.text())
        if node.negate:
            status = int(status == 0)
        self.status = status
        return status

    def exec_command(self, node: _Node, io: _IO) -> int:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Forever(busy=True)
        if isinstance(node, _Simple):
            return self.exec_simple(node, io)
        if isinstance(node, _FuncDef):
            self.funcs[node.name] = node.body
            return 0
        redirected = self.redirect(node.redirs, io)
        if isinstance(redirected, int):
            return redirected
        io = redirected
        if isinstance(node, _Loop):
            return self.exec_loop(node, io)
        if isinstance(node, _For):
            return self.exec_for(node, io)
        if isinstance(node, _If):
            for cond, body in node.branches:
                self.cond_depth += 1
                try:
                    ok = self.exec_list(cond, io) == 0
                finally:
                    self.cond_depth -= 1
                if ok:
                    return self.exec_list(body, io)
            return self.exec_list(node.orelse, io) if node.orelse else 0
        if isinstance(node, _Case):
            word = self.render(self.expand_str(node.word))
            for pats, arm in node.arms:
                if any(fnmatch.fnmatchcase(word, _glob_pattern(self, p)) for p in pats):
                    return self.exec_list(arm, io) if arm else 0
            return 0
        if node.subshell:
            saved = self.save()
            try:
                return self.exec_list(node.body, io)
            except _ExitShell as e:
                return e.code
            finally:
                self.restore(saved)
        return self.exec_list(node.body, io)

    def redirect(self, redirs: list[_Redir], io: _IO) -> _IO | int:
        if not redirs:
            return io
        new = _IO(io.stdin, io.out, io.err)
        for r in redirs:
            if r.heredoc is not None:
                body = r.heredoc.body if r.heredoc.quoted else self._expand_heredoc(r.heredoc.body)
                new.stdin = _Stdin(body)
                continue
            target = self.expand_str(r.target)
            if r.op in (">&", "<&"):
                if target == "-":
                    sink: _Sink = _Null()
                elif target in ("1", "2"):
                    sink = new.out if target == "1" else new.err
                else:
                    sink = new.out
                if r.fd == 2:
                    new.err = sink
                elif r.fd == 1:
                    new.out = sink
                continue
            if r.op == "<" or r.op == "<>":
                content = self.read_file(target)
                if content is None:
                    io.err.write(f"sh: can't open '{target}': No such file or directory\n")
                    return 1
                new.stdin = _Stdin(content)
                continue
            opened = self.open_write(target, r.op == ">>", new)
            if isinstance(opened, str):
                io.err.write(opened + "\n")
                return 1
            if r.fd == 2:
                new.err = opened
            elif r.fd == 1:
                new.out = opened
        return new

    def _expand_heredoc(self, body: str) -> str:
        out: list[str] = []
        i = 0
        fb = _Fields(split=False)
        while i < len(body):
            c = body[i]
            if c == "\\" and body[i + 1:i + 2] in ("$", "`", "\\"):
                out.append(body[i + 1])
                i += 2
            elif c == "$":
                value, i = self._dollar(body, i, fb, quoted=True)
                out.append(value or "")
            elif c == "`":
                j = _skip_backtick(body, i)
                out.append(self.command_subst(_unbacktick(body[i + 1:j - 1])))
                i = j
            else:
                out.append(c)
                i += 1
        return "".join(out)

    def exec_simple(self, node: _Simple, io: _IO) -> int:
        self.subst_status = None
        try:
            argv: list[str] = []
            for w in node.words:
                argv.extend(self.expand(w))
            assigns = [(name, self.expand_str(value)) for name, value in node.assigns]
        except _ShellError as e:
            io.err.write(e.message + "\n")
            raise _ExitShell(e.code) from None
        redirected = self.redirect(node.redirs, io)
        if isinstance(redirected, int):
            self.status = redirected
            return redirected
        io = redirected
        if not argv:
            for name, value in assigns:
                self.setvar(name, value)
            return self.subst_status or 0
        if "x" in self.opts:
            io.err.write("+ " + " ".join(_render_dates(a) for a in [*[f"{n}={v}" for n, v in assigns], *argv])
                         + "\n")
        if not assigns or argv[0] in _SPECIAL or argv[0] in self.funcs:
            for name, value in assigns:
                self.setvar(name, value)
            return self.run_argv(argv, io)
        saved = {name: self.vars.get(name) for name, _ in assigns}
        was_exported = set(self.exported)
        for name, value in assigns:
            self.setvar(name, value)
            self.exported.add(name)
        try:
            return self.run_argv(argv, io)
        finally:
            for name, old in saved.items():
                if old is None:
                    self.vars.pop(name, None)
                else:
                    self.vars[name] = old
            self.exported = was_exported

    def run_argv(self, argv: list[str], io: _IO) -> int:
        name = argv[0]
        if name not in ("echo", "printf"):
            argv = [self.render(a) for a in argv]
        if name in self.funcs:
            return self.call_function(name, argv[1:], io)
        if name in _BUILTINS:
            return _BUILTINS[name](self, argv[1:], io)
        applet = name
        if "/" in name:
            path = self.abspath(name)
            if path in self.fs:
                return self.run_script_file(path, argv, io)
            applet = _basename(path) if _dirname(path) in _PATH_DIRS else ""
        if applet in self.host.applets:
            if applet in _SHELLS:
                return self.subshell_main([applet, *argv[1:]], io)
            if applet in _BUILTINS:
                return _BUILTINS[applet](self, argv[1:], io)
            if applet in _APPLETS:
                return _APPLETS[applet](self, argv[1:], io)
        if self.host.external is not None:
            program = self.host.external(argv, self.clock)
            if program is not None:
                return self.merge(program, io)
        io.err.write(f"sh: {name}: not found\n")
        return 127

    def call_function(self, name: str, args: list[str], io: _IO) -> int:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            io.err.write("sh: out of stack space\n")
            raise _ExitShell(2)
        saved = self.positional
        self.positional = list(args)
        try:
            return self.exec_command(self.funcs[name], io)
        except _Return as r:
            return r.code
        finally:
            self.positional = saved
            self.depth -= 1

    def subshell_main(self, argv: list[str], io: _IO) -> int:
        """A child ``sh``: shares files and the clock, not variables."""
        saved = self.save()
        saved_io = self.io
        self.vars = {k: v for k, v in self.vars.items() if k in self.exported}
        self.funcs, self.opts = {}, set()
        self.io = io
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise _ExitShell(2)
            return self.shell_main(argv)
        except _ExitShell as e:
            return e.code
        except (_LoopCtl, _Return):
            return self.status
        finally:
            self.depth -= 1
            self.io = saved_io
            self.restore(saved)

    def run_script_file(self, path: str, argv: list[str], io: _IO) -> int:
        content = self.fs[path]
        first = content.split("\n", 1)[0]
        if first.startswith("#!"):
            interp = first[2:].split()
            if interp and _basename(interp[0]) == "env" and len(interp) > 1:
                interp = interp[1:]
            if interp and _basename(interp[0]) not in _SHELLS:
                if self.host.external is not None:
                    program = self.host.external([*interp, path, *argv[1:]], self.clock)
                    if program is not None:
                        return self.merge(program, io)
                io.err.write(f"sh: {argv[0]}: not found\n")
                return 127
        return self.subshell_main(["sh", path, *argv[1:]], io)

    def merge(self, program: Program, io: _IO) -> int:
        """Fold a program of the image (run by the script) into the script's timeline."""
        base = self.clock
        for t, line in program.logs:
            self.clock = max(self.clock, base + t)
            io.out.write(line + "\n")
        self.memory = max(self.memory, program.memory_bytes)
        self.cpu = max(self.cpu, program.cpu_millicores)
        if program.outcome == "run":
            self.serves.update(program.serves)
            periodic = program.periodic_log if io.out is self.log_sink else None
            raise _Forever(periodic, program.periodic_seconds)
        if program.outcome == "start-error":
            io.err.write(program.message + "\n")
            return 126
        self.clock = base + program.after_seconds
        return 137 if program.outcome == "oom" else program.exit_code

    # -- loops -------------------------------------------------------------------------------------------
    def exec_loop(self, node: _Loop, io: _IO) -> int:
        records: list[tuple[int, float]] = []
        prev = self.snapshot(io)
        status = 0
        while True:
            mark = (len(self.logs), self.clock)
            self.cond_depth += 1
            try:
                cond = self.exec_list(node.cond, io)
            finally:
                self.cond_depth -= 1
            if (cond == 0) == node.until:
                break
            try:
                status = self.exec_list(node.body, io)
            except _LoopCtl as lc:
                if lc.n > 1:
                    lc.n -= 1
                    raise
                if lc.kind == "break":
                    break
            records.append(mark)
            state = self.snapshot(io)
            if state == prev:
                self.loop_forever(records, steady=True)
            prev = state
            # A loop that takes (virtual) time and still runs after MAX_ITERATIONS is a service loop; one
            # that takes no time is a computation and gets more rope (MAX_STEPS still bounds it).
            timed = self.clock > records[0][1]
            if len(records) >= (MAX_ITERATIONS if timed else 20 * MAX_ITERATIONS):
                self.loop_forever(records, steady=False)
        self.status = status
        return status

    def exec_for(self, node: _For, io: _IO) -> int:
        if node.words is None:
            items = list(self.positional)
        else:
            items = []
            try:
                for w in node.words:
                    items.extend(self.expand(w))
            except _ShellError as e:
                io.err.write(e.message + "\n")
                raise _ExitShell(e.code) from None
        records: list[tuple[int, float]] = []
        status = 0
        for item in items:
            records.append((len(self.logs), self.clock))
            self.setvar(node.var, item)
            try:
                status = self.exec_list(node.body, io)
            except _LoopCtl as lc:
                if lc.n > 1:
                    lc.n -= 1
                    raise
                if lc.kind == "break":
                    break
        return status

    def loop_forever(self, records: list[tuple[int, float]], steady: bool) -> None:
        """Turn an endless loop into "runs forever": explicit logs so far + one periodic line."""
        ends = [r[0] for r in records[1:]] + [len(self.logs)]
        times = [r[1] for r in records[1:]] + [self.clock]
        last = len(records) - 1

        def lines(k: int) -> list[str]:
            return [_render_dates(line, True) for _, line in self.logs[records[k][0]:ends[k]]]

        period = times[last] - records[last][1]
        template = "\n".join(lines(last))
        keep = ends[last]
        if not steady:
            keep = ends[0]
            counted = _counter_template(lines(last - 1) if last else [], lines(last), last)
            if counted is not None:
                template, first_periodic = counted
                keep = records[first_periodic][0] if first_periodic <= last else len(self.logs)
        del self.logs[keep:]
        busy = period <= 0
        raise _Forever(template or None, period if period > 0 else 1.0, busy=busy)


def _counter_template(prev: list[str], cur: list[str], last: int) -> tuple[str, int] | None:
    """``echo "tick $i"`` with i += 1 per iteration -> ("tick {n}", index of the iteration where n == 1)."""
    a, b = "\n".join(prev), "\n".join(cur)
    pa, pb = re.split(r"(\d+)", a), re.split(r"(\d+)", b)
    if len(pa) != len(pb) or len(pa) < 2:
        return None
    first: int | None = None
    out: list[str] = []
    for k, (x, y) in enumerate(zip(pa, pb, strict=True)):
        if k % 2 == 0:
            if x != y:
                return None
            out.append(y)
            continue
        if x == y:
            out.append(y)
            continue
        if int(y) - int(x) != 1:
            return None
        m = 1 - int(y) + last
        if m < 0 or (first is not None and m != first):
            return None
        first = m
        out.append("{n}")
    if first is None:
        return None
    return "".join(out), first


# ---------------------------------------------------------------------------------------------------
# helpers


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or "/"


def _dirname(path: str) -> str:
    head = path.rstrip("/").rsplit("/", 1)[0]
    return head or "/"


def _unbacktick(text: str) -> str:
    return re.sub(r"\\([$`\\])", r"\1", text)


def _glob_pattern(sh: _Shell, word: str) -> str:
    fb = _Fields(split=False)
    sh._expand_into(word, fb)
    return fb.pat


def _strip_pattern(value: str, pattern: str, op: str) -> str:
    if op in ("#", "##"):
        rng = range(len(value) + 1) if op == "#" else range(len(value), -1, -1)
        for k in rng:
            if fnmatch.fnmatchcase(value[:k], pattern):
                return value[k:]
        return value
    rng = range(len(value), -1, -1) if op == "%" else range(len(value) + 1)
    for k in rng:
        if fnmatch.fnmatchcase(value[k:], pattern):
            return value[:k]
    return value


def _duration(text: str) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", text)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _is_local(host: str, sh: _Shell) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", sh.vars.get("HOSTNAME", ""))


@dataclass
class _Reach:
    ok: bool
    kind: str = ""       # "dns" | "refused" | "reset" | "http"
    ip: str = ""
    status: int = 200


def _reach(sh: _Shell, host: str, port: int, path: str | None) -> _Reach:
    """Would a connection to host:port (and an HTTP GET of path) succeed from this container?"""
    if _is_local(host, sh):
        serves = sh.host.local_serves
        if serves is None:
            return _Reach(True, ip="127.0.0.1")
        if port not in serves:
            return _Reach(False, "refused", "127.0.0.1")
        paths = serves[port]
        if path is not None and paths is None:
            return _Reach(False, "reset", "127.0.0.1")
        if path is not None and paths is not None and path.split("?")[0] not in paths:
            return _Reach(False, "http", "127.0.0.1", 404)
        return _Reach(True, ip="127.0.0.1")
    if not is_cluster_host(host):
        return _Reach(True, ip=host if re.fullmatch(r"[\d.]+", host) else "93.184.215.14")
    if sh.host.resolve_service is None:
        return _Reach(True, ip=cluster_ip(host, sh.host.namespace))
    ip = cluster_ip(host, sh.host.namespace)
    answer = sh.host.resolve_service(host)
    if answer == ServiceLookup.MISSING:
        return _Reach(False, "dns")
    if answer == ServiceLookup.NO_ENDPOINTS:
        return _Reach(False, "refused", ip)
    return _Reach(True, ip=ip)


def _parse_url(url: str, default_port: int = 80) -> tuple[str, int, str]:
    m = re.fullmatch(r"(?:(https?)://)?(\[[^\]]+\]|[^/:?]+)(?::(\d+))?(/[^#]*)?", url)
    if not m:
        return url, default_port, "/"
    scheme, host, port, path = m.groups()
    dport = 443 if scheme == "https" else default_port
    return host.strip("[]"), int(port) if port else dport, path or "/"


# ---------------------------------------------------------------------------------------------------
# builtins


@_applet(":", "true", builtin=True)
def _b_true(sh: _Shell, args: list[str], io: _IO) -> int:
    return 0


@_applet("false", builtin=True)
def _b_false(sh: _Shell, args: list[str], io: _IO) -> int:
    return 1


@_applet("echo", builtin=True)
def _b_echo(sh: _Shell, args: list[str], io: _IO) -> int:
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags = args.pop(0)
        newline = newline and "n" not in flags
        escapes = ("e" in flags) or (escapes and "E" not in flags)
    text = " ".join(args)
    if escapes:
        text, stop = _backslash_escapes(text)
        newline = newline and not stop
    io.out.write(text + ("\n" if newline else ""))
    return 0


def _backslash_escapes(text: str) -> tuple[str, bool]:
    out: list[str] = []
    i = 0
    table = {"n": "\n", "t": "\t", "\\": "\\", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
             "e": "\x1b"}
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "c":
                return "".join(out), True
            if nxt in table:
                out.append(table[nxt])
                i += 2
                continue
            m = re.match(r"0?([0-7]{1,3})", text[i + 1:])
            if nxt in "01234567" and m:
                out.append(chr(int(m.group(1), 8)))
                i += 1 + m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out), False


_PRINTF_SPEC = re.compile(r"%([-+ #0]*)(\d+)?(?:\.(\d+))?([sdiuxXofeEgGcb%])")


@_applet("printf", builtin=True)
def _b_printf(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args:
        io.err.write("printf: usage: printf FORMAT [ARGUMENT...]\n")
        return 2
    fmt, rest = args[0], args[1:]
    status = 0
    out: list[str] = []
    while True:   # POSIX: the format is reused while arguments remain
        text, used, bad = _printf_once(fmt, rest, io)
        status = status or bad
        out.append(text)
        rest = rest[used:]
        if not rest or not used:
            break
    io.out.write("".join(out))
    return status


def _printf_once(fmt: str, args: list[str], io: _IO) -> tuple[str, int, int]:
    used = 0
    status = 0

    def convert(m: re.Match[str]) -> str:
        nonlocal used, status
        flags, width, prec, conv = m.groups()
        if conv == "%":
            return "%"
        arg = args[used] if used < len(args) else ""
        used += 1
        spec = f"%{flags}{width or ''}{'.' + prec if prec else ''}"
        if conv in "diuxXo":
            try:
                num = int(_render_dates(arg) or "0", 0)
            except ValueError:
                io.err.write(f"printf: invalid number '{arg}'\n")
                status, num = 1, 0
            return f"{spec}{'d' if conv in 'iu' else conv}" % num
        if conv in "feEgG":
            try:
                real = float(_render_dates(arg) or "0")
            except ValueError:
                io.err.write(f"printf: invalid number '{arg}'\n")
                status, real = 1, 0.0
            return f"{spec}{conv}" % real
        if conv == "c":
            return arg[:1]
        if conv == "b":
            return _backslash_escapes(arg)[0]
        return f"{spec}s" % arg

    pieces = re.split(r"(%[-+ #0]*\d*(?:\.\d+)?[sdiuxXofeEgGcb%])", fmt)
    text = "".join(_PRINTF_SPEC.sub(convert, p) if k % 2 else _backslash_escapes(p)[0]
                   for k, p in enumerate(pieces))
    return text, min(used, len(args)), status


@_applet("exit", builtin=True)
def _b_exit(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args:
        raise _ExitShell(sh.status)
    try:
        code = int(args[0])
    except ValueError:
        io.err.write(f"sh: exit: Illegal number: {args[0]}\n")
        raise _ExitShell(2) from None
    raise _ExitShell(code & 0xFF)


@_applet("return", builtin=True)
def _b_return(sh: _Shell, args: list[str], io: _IO) -> int:
    raise _Return(int(args[0]) & 0xFF if args and args[0].lstrip("-").isdigit() else sh.status)


@_applet("break", builtin=True)
def _b_break(sh: _Shell, args: list[str], io: _IO) -> int:
    raise _LoopCtl("break", int(args[0]) if args and args[0].isdigit() else 1)


@_applet("continue", builtin=True)
def _b_continue(sh: _Shell, args: list[str], io: _IO) -> int:
    raise _LoopCtl("continue", int(args[0]) if args and args[0].isdigit() else 1)


@_applet("export", "readonly", "local", builtin=True)
def _b_export(sh: _Shell, args: list[str], io: _IO) -> int:
    for arg in args:
        if arg.startswith("-"):
            continue
        name, eq, value = arg.partition("=")
        if not _NAME_RE.fullmatch(name):
            io.err.write(f"sh: export: bad variable name '{name}'\n")
            return 1
        if eq:
            sh.setvar(name, value)
        sh.exported.add(name)
    if not args:
        for name in sh.vars:
            if name in sh.exported:
                io.out.write(f"export {name}='{sh.vars[name]}'\n")
    return 0


@_applet("unset", builtin=True)
def _b_unset(sh: _Shell, args: list[str], io: _IO) -> int:
    for name in args:
        if name.startswith("-"):
            continue
        sh.vars.pop(name, None)
        sh.funcs.pop(name, None)
        sh.exported.discard(name)
    return 0


@_applet("set", builtin=True)
def _b_set(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args:
        for name, value in sorted(sh.vars.items()):
            io.out.write(f"{name}='{value}'\n")
        return 0
    while args:
        arg = args[0]
        if arg == "--":
            sh.positional = args[1:]
            return 0
        if arg in ("-o", "+o"):
            args = args[2:]
            continue
        if arg[:1] in ("-", "+") and len(arg) > 1:
            for f in arg[1:]:
                if f in "eux":
                    if arg[0] == "-":
                        sh.opts.add(f)
                    else:
                        sh.opts.discard(f)
            args = args[1:]
            continue
        sh.positional = list(args)
        return 0
    return 0


@_applet("shift", builtin=True)
def _b_shift(sh: _Shell, args: list[str], io: _IO) -> int:
    n = int(args[0]) if args and args[0].isdigit() else 1
    if n > len(sh.positional):
        return 1
    sh.positional = sh.positional[n:]
    return 0


@_applet("read", builtin=True)
def _b_read(sh: _Shell, args: list[str], io: _IO) -> int:
    names: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-p", "-t", "-n", "-d", "-u"):
            skip = True
            continue
        if arg.startswith("-"):
            continue
        names.append(arg)
    line = io.stdin.readline()
    if line is None:
        for name in names or ["REPLY"]:
            sh.setvar(name, "")
        return 1
    names = names or ["REPLY"]
    parts = line.split(None, len(names) - 1) if len(names) > 1 else [line.strip()]
    for k, name in enumerate(names):
        sh.setvar(name, parts[k] if k < len(parts) else "")
    return 0


@_applet("eval", builtin=True)
def _b_eval(sh: _Shell, args: list[str], io: _IO) -> int:
    return sh.run_source(" ".join(args), io) if args else 0


@_applet(".", "source", builtin=True)
def _b_source(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args:
        return 0
    content = sh.read_file(args[0])
    if content is None:
        io.err.write(f"sh: .: can't open '{args[0]}'\n")
        raise _ExitShell(2)
    return sh.run_source(content, io)


@_applet("exec", builtin=True)
def _b_exec(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args:
        return 0
    raise _ExitShell(sh.run_argv(args, io))


@_applet("trap", "wait", "ulimit", "umask", "stty", "sync", builtin=True)
def _b_noop(sh: _Shell, args: list[str], io: _IO) -> int:
    return 0


@_applet("cd", builtin=True)
def _b_cd(sh: _Shell, args: list[str], io: _IO) -> int:
    target = sh.abspath(args[0] if args else sh.vars.get("HOME", "/root"))
    if not sh.is_dir(target):
        io.err.write(f"sh: cd: can't cd to {args[0] if args else target}: No such file or directory\n")
        return 2
    sh.cwd = target
    sh.vars["PWD"] = target
    return 0


@_applet("pwd", builtin=True)
def _b_pwd(sh: _Shell, args: list[str], io: _IO) -> int:
    io.out.write(sh.cwd + "\n")
    return 0


@_applet("command", builtin=True)
def _b_command(sh: _Shell, args: list[str], io: _IO) -> int:
    if args and args[0] in ("-v", "-V"):
        return _b_type(sh, args, io)
    rest = args[1:] if args[:1] == ["-p"] else args
    return sh.run_argv(rest, io) if rest else 0


@_applet("type", builtin=True)
def _b_type(sh: _Shell, args: list[str], io: _IO) -> int:
    names = [a for a in args if not a.startswith("-")]
    status = 0
    for name in names:
        if name in _BUILTINS or name in sh.funcs:
            io.out.write(f"{name}\n" if "-v" in args else f"{name} is a shell builtin\n")
        elif name in sh.host.applets:
            io.out.write(f"/bin/{name}\n" if "-v" in args else f"{name} is /bin/{name}\n")
        else:
            status = 1
            if "-v" not in args:
                io.err.write(f"{name}: not found\n")
    return status


@_applet("test", "[", builtin=True)
def _b_test(sh: _Shell, args: list[str], io: _IO) -> int:
    return _test(sh, args, io, bracket=False)


def _b_bracket(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args or args[-1] != "]":
        io.err.write("sh: [: missing ]\n")
        return 2
    return _test(sh, args[:-1], io, bracket=True)


_BUILTINS["["] = _b_bracket
_APPLETS["["] = _b_bracket


_TEST_BINARY = frozenset({"=", "==", "!=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "<", ">"})


class _TestError(Exception):
    pass


def _test(sh: _Shell, args: list[str], io: _IO, bracket: bool) -> int:
    pos = 0

    def peek() -> str | None:
        return args[pos] if pos < len(args) else None

    def number(s: str) -> int:
        try:
            return int(s.strip())
        except ValueError:
            raise _TestError(f"sh: {s}: bad number") from None

    def primary() -> bool:
        nonlocal pos
        tok = peek()
        if tok is None:
            raise _TestError("sh: test: argument expected")
        if tok == "!":
            pos += 1
            return not primary()
        if tok == "(" and pos + 2 < len(args) + 1:
            pos += 1
            value = or_expr()
            if peek() != ")":
                raise _TestError("sh: test: ')' expected")
            pos += 1
            return value
        nxt = args[pos + 1] if pos + 1 < len(args) else None
        if nxt in _TEST_BINARY and pos + 2 < len(args):
            a, b = tok, args[pos + 2]
            pos += 3
            if nxt in ("=", "=="):
                return a == b
            if nxt == "!=":
                return a != b
            if nxt == "<":
                return a < b
            if nxt == ">":
                return a > b
            x, y = number(a), number(b)
            return {"-eq": x == y, "-ne": x != y, "-lt": x < y, "-le": x <= y, "-gt": x > y,
                    "-ge": x >= y}[nxt]
        if tok in ("-n", "-z") and nxt is not None:
            pos += 2
            return (nxt != "") if tok == "-n" else (nxt == "")
        if re.fullmatch(r"-[efdsrwxLhpSbcgkut]", tok) and nxt is not None:
            pos += 2
            path = sh.abspath(nxt)
            if tok == "-f":
                return path in sh.fs
            if tok == "-d":
                return sh.is_dir(path)
            if tok in ("-e", "-r", "-w"):
                return sh.exists(path) and not (tok == "-w" and path in sh.readonly)
            if tok == "-s":
                return bool(sh.fs.get(path))
            if tok == "-x":
                return path in sh.fs or (_dirname(path) in _PATH_DIRS and _basename(path) in sh.host.applets)
            if tok == "-t":
                return False
            return False
        pos += 1
        return tok != ""

    def and_expr() -> bool:
        nonlocal pos
        value = primary()
        while peek() == "-a":
            pos += 1
            rhs = primary()
            value = value and rhs
        return value

    def or_expr() -> bool:
        nonlocal pos
        value = and_expr()
        while peek() == "-o":
            pos += 1
            rhs = and_expr()
            value = value or rhs
        return value

    if not args:
        return 1
    try:
        result = or_expr()
        if pos != len(args):
            raise _TestError(f"sh: {'[' if bracket else 'test'}: {args[pos]}: unknown operand")
    except _TestError as e:
        io.err.write(f"{e}\n")
        return 2
    return 0 if result else 1


# ---------------------------------------------------------------------------------------------------
# applets


@_applet("sleep")
def _a_sleep(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args:
        io.err.write("sleep: missing operand\n")
        return 1
    total = 0.0
    for arg in args:
        if arg in ("infinity", "inf"):
            raise _Forever()
        seconds = _duration(arg)
        if seconds is None:
            io.err.write(f"sleep: invalid number '{arg}'\n")
            return 1
        total += seconds
    sh.clock += total
    return 0


@_applet("cat")
def _a_cat(sh: _Shell, args: list[str], io: _IO) -> int:
    files = [a for a in args if a == "-" or not a.startswith("-")]
    if not files:
        io.out.write(io.stdin.read_all())
        return 0
    status = 0
    for name in files:
        if name == "-":
            io.out.write(io.stdin.read_all())
            continue
        path = sh.abspath(name)
        if path in sh.dirs:
            io.err.write("cat: read error: Is a directory\n")
            status = 1
            continue
        content = sh.read_file(name)
        if content is None:
            io.err.write(f"cat: can't open '{name}': No such file or directory\n")
            status = 1
            continue
        io.out.write(content)
    return status


@_applet("env")
def _a_env(sh: _Shell, args: list[str], io: _IO) -> int:
    extra: dict[str, str] = {}
    while args and (args[0].startswith("-") or _ASSIGN_RE.match(args[0])):
        arg = args.pop(0)
        if "=" in arg and not arg.startswith("-"):
            name, _, value = arg.partition("=")
            extra[name] = value
    if not args:
        for name, value in sh.vars.items():
            if name in sh.exported and name not in extra:
                io.out.write(f"{name}={value}\n")
        for name, value in extra.items():
            io.out.write(f"{name}={value}\n")
        return 0
    saved = dict(sh.vars)
    sh.vars.update(extra)
    try:
        return sh.run_argv(args, io)
    finally:
        sh.vars = saved


@_applet("printenv")
def _a_printenv(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args:
        return _a_env(sh, [], io)
    status = 0
    for name in args:
        if name in sh.exported and name in sh.vars:
            io.out.write(sh.vars[name] + "\n")
        else:
            status = 1
    return status


@_applet("date")
def _a_date(sh: _Shell, args: list[str], io: _IO) -> int:
    fmt = "%a %b %e %H:%M:%S UTC %Y"
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("+"):
            fmt = arg[1:]
        elif arg.startswith("-I") or arg.startswith("--iso-8601"):
            fmt = "%Y-%m-%d" if arg in ("-I", "-Idate", "--iso-8601") else "%Y-%m-%dT%H:%M:%S+00:00"
        elif arg in ("-R", "--rfc-2822", "--rfc-email"):
            fmt = "%a, %d %b %Y %H:%M:%S +0000"
        elif arg in ("-d", "-s", "-D", "-r"):
            skip = True
    io.out.write(_date_marker(sh.host.t0 + sh.clock, fmt) + "\n")
    return 0


@_applet("hostname")
def _a_hostname(sh: _Shell, args: list[str], io: _IO) -> int:
    name = sh.vars.get("HOSTNAME") or "localhost"
    io.out.write((pod_ip(name) if "-i" in args else name) + "\n")
    return 0


@_applet("ls")
def _a_ls(sh: _Shell, args: list[str], io: _IO) -> int:
    flags = "".join(a[1:] for a in args if a.startswith("-"))
    paths = [a for a in args if not a.startswith("-")] or [sh.cwd]
    status = 0
    for k, name in enumerate(paths):
        path = sh.abspath(name)
        if path in sh.fs:
            io.out.write(_ls_entry(sh, path, name, flags) + "\n")
            continue
        if path not in sh.dirs:
            io.err.write(f"ls: {name}: No such file or directory\n")
            status = 1
            continue
        if len(paths) > 1:
            io.out.write(("\n" if k else "") + f"{name}:\n")
        prefix = path.rstrip("/") + "/"
        children = sorted({p[len(prefix):].split("/", 1)[0] for p in (*sh.fs, *sh.dirs)
                           if p.startswith(prefix) and p != path})
        if "a" not in flags:
            children = [c for c in children if not c.startswith(".")]
        for child in children:
            io.out.write(_ls_entry(sh, prefix + child, child, flags) + "\n")
    return status


def _ls_entry(sh: _Shell, path: str, name: str, flags: str) -> str:
    if "l" not in flags:
        return name
    if path in sh.fs:
        return f"-rw-r--r--    1 root     root     {len(sh.fs[path]):>9} Nov 23 10:00 {name}"
    return f"drwxr-xr-x    2 root     root          4096 Nov 23 10:00 {name}"


@_applet("touch")
def _a_touch(sh: _Shell, args: list[str], io: _IO) -> int:
    status = 0
    for name in (a for a in args if not a.startswith("-")):
        path = sh.abspath(name)
        if path in sh.fs or path in sh.dirs:
            continue
        sink = sh.open_write(path, True, io)
        if isinstance(sink, str):
            io.err.write(sink.replace("sh: can't create", "touch:") + "\n")
            status = 1
    return status


@_applet("mkdir")
def _a_mkdir(sh: _Shell, args: list[str], io: _IO) -> int:
    parents = any(a.startswith("-") and "p" in a for a in args)
    status = 0
    for name in (a for a in args if not a.startswith("-")):
        path = sh.abspath(name)
        if path in sh.dirs:
            if not parents:
                io.err.write(f"mkdir: can't create directory '{name}': File exists\n")
                status = 1
            continue
        if not parents and _dirname(path) not in sh.dirs:
            io.err.write(f"mkdir: can't create directory '{name}': No such file or directory\n")
            status = 1
            continue
        sh._add_dir(path)
    return status


@_applet("rm")
def _a_rm(sh: _Shell, args: list[str], io: _IO) -> int:
    force = any(a.startswith("-") and "f" in a for a in args)
    recursive = any(a.startswith("-") and ("r" in a or "R" in a) for a in args)
    status = 0
    for name in (a for a in args if not a.startswith("-")):
        path = sh.abspath(name)
        if path in sh.readonly:
            io.err.write(f"rm: can't remove '{name}': Read-only file system\n")
            status = 1
        elif path in sh.fs:
            del sh.fs[path]
        elif path in sh.dirs and recursive:
            for p in [p for p in sh.fs if p.startswith(path + "/") and p not in sh.readonly]:
                del sh.fs[p]
        elif path in sh.dirs:
            io.err.write(f"rm: '{name}' is a directory\n")
            status = 1
        elif not force:
            io.err.write(f"rm: can't remove '{name}': No such file or directory\n")
            status = 1
    return status


@_applet("cp", "mv")
def _a_cp(sh: _Shell, args: list[str], io: _IO) -> int:
    names = [a for a in args if not a.startswith("-")]
    if len(names) < 2:
        io.err.write("cp: missing file operand\n")
        return 1
    *sources, dest = names
    status = 0
    for src in sources:
        content = sh.read_file(src)
        if content is None:
            io.err.write(f"cp: can't stat '{src}': No such file or directory\n")
            status = 1
            continue
        target = sh.abspath(dest)
        if target in sh.dirs:
            target = target.rstrip("/") + "/" + _basename(src)
        sink = sh.open_write(target, False, io)
        if isinstance(sink, str):
            io.err.write(sink.replace("sh: can't create", "cp: can't create") + "\n")
            status = 1
            continue
        sink.write(content)
    return status


def _read_inputs(sh: _Shell, names: list[str], io: _IO, tool: str) -> tuple[list[tuple[str, str]], int]:
    if not names:
        return [("-", io.stdin.read_all())], 0
    out: list[tuple[str, str]] = []
    status = 0
    for name in names:
        content = io.stdin.read_all() if name == "-" else sh.read_file(name)
        if content is None:
            io.err.write(f"{tool}: {name}: No such file or directory\n")
            status = 2 if tool == "grep" else 1
            continue
        out.append((name, content))
    return out, status


def _count_arg(args: list[str], default: int) -> tuple[int, list[str], bool]:
    n, rest, follow = default, [], False
    it = iter(range(len(args)))
    for k in it:
        a = args[k]
        if a == "-n" and k + 1 < len(args):
            n = int(args[k + 1].lstrip("+") or default) if args[k + 1].lstrip("+-").isdigit() else default
            next(it, None)
        elif re.fullmatch(r"-n?\d+", a):
            n = int(a.lstrip("-n"))
        elif a in ("-f", "-F", "--follow"):
            follow = True
        elif a.startswith("-") and a != "-":
            follow = follow or "f" in a
        else:
            rest.append(a)
    return n, rest, follow


@_applet("head")
def _a_head(sh: _Shell, args: list[str], io: _IO) -> int:
    n, names, _ = _count_arg(args, 10)
    inputs, status = _read_inputs(sh, names, io, "head")
    for _, content in inputs:
        lines = content.splitlines(keepends=True)
        io.out.write("".join(lines[:n]))
    return status


@_applet("tail")
def _a_tail(sh: _Shell, args: list[str], io: _IO) -> int:
    n, names, follow = _count_arg(args, 10)
    inputs, status = _read_inputs(sh, names, io, "tail")
    for _, content in inputs:
        lines = content.splitlines(keepends=True)
        io.out.write("".join(lines[-n:] if n else []))
    if follow and names:
        raise _Forever()
    return status


@_applet("grep")
def _a_grep(sh: _Shell, args: list[str], io: _IO) -> int:
    flags: set[str] = set()
    rest: list[str] = []
    pattern: str | None = None
    it = iter(range(len(args)))
    for k in it:
        a = args[k]
        if a == "-e" and k + 1 < len(args):
            pattern = args[k + 1]
            next(it, None)
        elif a.startswith("-") and len(a) > 1:
            flags.update(a[1:])
        else:
            rest.append(a)
    if pattern is None:
        if not rest:
            io.err.write("grep: no pattern\n")
            return 2
        pattern = rest.pop(0)
    if "F" in flags:
        rx = re.compile(re.escape(pattern), re.I if "i" in flags else 0)
    else:
        try:
            bre = pattern
            if "E" not in flags:
                bre = pattern.replace(r"\|", "|").replace(r"\(", "(").replace(r"\)", ")")
            rx = re.compile(bre, re.I if "i" in flags else 0)
        except re.error:
            rx = re.compile(re.escape(pattern), re.I if "i" in flags else 0)
    inputs, status = _read_inputs(sh, rest, io, "grep")
    matched = 0
    for name, content in inputs:
        count = 0
        for number, line in enumerate(content.splitlines(), 1):
            hit = bool(rx.search(line)) != ("v" in flags)
            if not hit:
                continue
            count += 1
            if "q" in flags or "c" in flags or "l" in flags:
                continue
            prefix = f"{name}:" if len(inputs) > 1 else ""
            io.out.write(f"{prefix}{number if 'n' in flags else ''}{':' if 'n' in flags else ''}{line}\n")
        matched += count
        if "c" in flags:
            io.out.write(f"{name + ':' if len(inputs) > 1 else ''}{count}\n")
        if "l" in flags and count:
            io.out.write(name + "\n")
    if status and not matched:
        return status
    return 0 if matched else 1


@_applet("wc")
def _a_wc(sh: _Shell, args: list[str], io: _IO) -> int:
    flags = "".join(a[1:] for a in args if a.startswith("-")) or "lwc"
    names = [a for a in args if not a.startswith("-")]
    inputs, status = _read_inputs(sh, names, io, "wc")
    for name, content in inputs:
        counts = {"l": content.count("\n"), "w": len(content.split()), "c": len(content.encode())}
        nums = [counts[f] for f in "lwc" if f in flags]
        text = " ".join(f"{v:>7}" if len(nums) > 1 else str(v) for v in nums)
        io.out.write(text + (f" {name}" if names else "") + "\n")
    return status


@_applet("seq")
def _a_seq(sh: _Shell, args: list[str], io: _IO) -> int:
    nums = [a for a in args if not (a.startswith("-") and not a[1:2].isdigit())]
    try:
        values = [int(a) for a in nums]
    except ValueError:
        io.err.write(f"seq: invalid number '{nums[0] if nums else ''}'\n")
        return 1
    if len(values) == 1:
        first, step, last = 1, 1, values[0]
    elif len(values) == 2:
        first, step, last = values[0], 1, values[1]
    elif len(values) == 3:
        first, step, last = values
    else:
        io.err.write("seq: missing operand\n")
        return 1
    if step == 0:
        return 1
    count = max(0, (last - first) // step + 1)
    io.out.write("".join(f"{first + k * step}\n" for k in range(min(count, 100_000))))
    return 0


@_applet("expr")
def _a_expr(sh: _Shell, args: list[str], io: _IO) -> int:
    result: str
    if len(args) == 1:
        result = args[0]
    elif len(args) == 2 and args[0] == "length":
        result = str(len(args[1]))
    elif len(args) == 3:
        a, op, b = args
        try:
            x, y = int(a), int(b)
            numeric = True
        except ValueError:
            x = y = 0
            numeric = False
        if op in ("+", "-", "*", "/", "%"):
            if not numeric:
                io.err.write("expr: non-numeric argument\n")
                return 2
            if op in "/%" and y == 0:
                io.err.write("expr: division by zero\n")
                return 2
            result = str({"+": x + y, "-": x - y, "*": x * y, "/": int(x / y) if y else 0,
                          "%": math_fmod(x, y) if y else 0}[op])
        elif op in ("=", "!=", "<", ">", "<=", ">="):
            cmp = (x > y) - (x < y) if numeric else (a > b) - (a < b)
            result = str(int({"=": cmp == 0, "!=": cmp != 0, "<": cmp < 0, ">": cmp > 0, "<=": cmp <= 0,
                              ">=": cmp >= 0}[op]))
        elif op == ":":
            m = re.match(b, a)
            result = (m.group(1) if m and m.groups() else str(m.end() if m else 0))
        else:
            io.err.write("expr: syntax error\n")
            return 2
    else:
        io.err.write("expr: syntax error\n")
        return 2
    io.out.write(result + "\n")
    return 1 if result in ("0", "") else 0


@_applet("basename")
def _a_basename(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args:
        return 1
    name = _basename(args[0])
    if len(args) > 1 and name.endswith(args[1]) and name != args[1]:
        name = name[:-len(args[1])]
    io.out.write(name + "\n")
    return 0


@_applet("dirname")
def _a_dirname(sh: _Shell, args: list[str], io: _IO) -> int:
    if not args:
        return 1
    io.out.write((_dirname(args[0]) if "/" in args[0] else ".") + "\n")
    return 0


@_applet("id")
def _a_id(sh: _Shell, args: list[str], io: _IO) -> int:
    io.out.write("0\n" if "-u" in args else "uid=0(root) gid=0(root) groups=0(root),10(wheel)\n")
    return 0


@_applet("whoami")
def _a_whoami(sh: _Shell, args: list[str], io: _IO) -> int:
    io.out.write("root\n")
    return 0


@_applet("uname")
def _a_uname(sh: _Shell, args: list[str], io: _IO) -> int:
    host = sh.vars.get("HOSTNAME") or "localhost"
    if "-a" in args:
        io.out.write(f"Linux {host} 6.1.0-sandbox #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n")
    elif "-r" in args:
        io.out.write("6.1.0-sandbox\n")
    elif "-m" in args:
        io.out.write("x86_64\n")
    elif "-n" in args:
        io.out.write(host + "\n")
    else:
        io.out.write("Linux\n")
    return 0


@_applet("tee")
def _a_tee(sh: _Shell, args: list[str], io: _IO) -> int:
    data = io.stdin.read_all()
    append = any(a.startswith("-") and "a" in a for a in args)
    status = 0
    for name in (a for a in args if not a.startswith("-")):
        sink = sh.open_write(name, append, io)
        if isinstance(sink, str):
            io.err.write(sink.replace("sh: can't create", "tee:") + "\n")
            status = 1
            continue
        sink.write(data)
    io.out.write(data)
    return status


@_applet("sort")
def _a_sort(sh: _Shell, args: list[str], io: _IO) -> int:
    flags = "".join(a[1:] for a in args if a.startswith("-"))
    inputs, status = _read_inputs(sh, [a for a in args if not a.startswith("-")], io, "sort")
    lines = [line for _, content in inputs for line in content.splitlines()]
    if "n" in flags:
        def key(s: str) -> tuple[float, str]:
            m = re.match(r"\s*(-?\d+(?:\.\d+)?)", s)
            return (float(m.group(1)) if m else 0.0, s)
        lines.sort(key=key, reverse="r" in flags)
    else:
        lines.sort(reverse="r" in flags)
    if "u" in flags:
        lines = list(dict.fromkeys(lines))
    io.out.write("".join(line + "\n" for line in lines))
    return status


@_applet("tr")
def _a_tr(sh: _Shell, args: list[str], io: _IO) -> int:
    delete = "-d" in args
    sets = [_tr_set(a) for a in args if not a.startswith("-") or len(a) == 1]
    data = io.stdin.read_all()
    if delete and sets:
        io.out.write("".join(c for c in data if c not in sets[0]))
    elif len(sets) >= 2:
        src, dst = sets[0], sets[1]
        dst = dst + dst[-1:] * max(0, len(src) - len(dst))
        io.out.write(data.translate(str.maketrans(src, dst[:len(src)])))
    else:
        io.out.write(data)
    return 0


def _tr_set(spec: str) -> str:
    classes = {"[:upper:]": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "[:lower:]": "abcdefghijklmnopqrstuvwxyz",
               "[:digit:]": "0123456789", "[:space:]": " \t\n\r\f\v"}
    for name, chars in classes.items():
        spec = spec.replace(name, chars)
    spec = _backslash_escapes(spec)[0]
    return re.sub(r"(.)-(.)", lambda m: "".join(chr(c) for c in range(ord(m.group(1)), ord(m.group(2)) + 1)),
                  spec)


@_applet("sed")
def _a_sed(sh: _Shell, args: list[str], io: _IO) -> int:
    scripts: list[str] = []
    names: list[str] = []
    in_place = quiet = False
    it = iter(range(len(args)))
    for k in it:
        a = args[k]
        if a == "-e" and k + 1 < len(args):
            scripts.append(args[k + 1])
            next(it, None)
        elif a.startswith("-i"):
            in_place = True
        elif a == "-n":
            quiet = True
        elif a in ("-E", "-r"):
            continue
        elif not scripts and not a.startswith("-"):
            scripts.append(a)
        else:
            names.append(a)
    subs: list[tuple[re.Pattern[str], str, bool]] = []
    for script in scripts:
        for part in script.split(";"):
            m = re.fullmatch(r"\s*s(.)(.*?)\1(.*?)\1([gip]*)\s*", part, re.S)
            if not m:
                if part.strip():
                    io.err.write(f"sed: unsupported command {part.strip()}\n")
                    return 1
                continue
            rx = m.group(2).replace(r"\(", "(").replace(r"\)", ")").replace(r"\+", "+")
            try:
                rep = re.sub(r"\\(\d)", r"\\\1", m.group(3)).replace("&", r"\g<0>")
                subs.append((re.compile(rx, re.I if "i" in m.group(4) else 0), rep, "g" in m.group(4)))
            except re.error:
                io.err.write(f"sed: bad regex '{m.group(2)}'\n")
                return 1
    inputs, status = _read_inputs(sh, names, io, "sed")
    for name, content in inputs:
        out_lines = []
        for line in content.splitlines(keepends=True):
            for rx, rep, glob in subs:
                line = rx.sub(rep, line, count=0 if glob else 1)
            out_lines.append(line)
        text = "".join(out_lines)
        if in_place and name != "-":
            sink = sh.open_write(name, False, io)
            if isinstance(sink, str):
                io.err.write(f"sed: can't create {name}: Read-only file system\n")
                status = 1
                continue
            sink.write(text)
        elif not quiet:
            io.out.write(text)
    return status


@_applet("yes")
def _a_yes(sh: _Shell, args: list[str], io: _IO) -> int:
    word = " ".join(args) or "y"
    if io.out is sh.log_sink:
        sh.log_sink.write(word + "\n")
        raise _Forever(word, 1.0, busy=True)
    io.out.write((word + "\n") * 1000)
    return 0


@_applet("kill")
def _a_kill(sh: _Shell, args: list[str], io: _IO) -> int:
    return 0


@_applet("timeout")
def _a_timeout(sh: _Shell, args: list[str], io: _IO) -> int:
    while args and args[0].startswith("-"):
        args = args[2:] if args[0] in ("-s", "-k") else args[1:]
    limit = _duration(args[0]) if args else None
    if limit is None or len(args) < 2:
        io.err.write("timeout: invalid time interval\n")
        return 125
    start, first_log = sh.clock, len(sh.logs)
    try:
        status = sh.run_argv(args[1:], io)
    except _Forever:
        status = -1
    if status == -1 or sh.clock - start > limit:
        sh.clock = start + limit
        sh.logs[first_log:] = [(t, line) for t, line in sh.logs[first_log:] if t <= sh.clock]
        return 124
    return status


@_applet("wget")
def _a_wget(sh: _Shell, args: list[str], io: _IO) -> int:
    skip_next = {"-O", "-T", "-t", "-U", "--header", "-P", "-Y", "-o"}
    urls = _operands(args, skip_next)
    if not urls:
        io.err.write("wget: missing URL\n")
        return 1
    status = 0
    out_target = None
    for k, a in enumerate(args):
        if a == "-O" and k + 1 < len(args):
            out_target = args[k + 1]
        elif a.startswith("-O") and len(a) > 2:
            out_target = a[2:]
    for url in urls:
        host, port, path = _parse_url(url)
        r = _reach(sh, host, port, path)
        if not r.ok:
            status = 1
            if r.kind == "dns":
                io.err.write(f"wget: bad address '{host}'\n")
            elif r.kind == "refused":
                io.err.write(f"wget: can't connect to remote host ({r.ip}): Connection refused\n")
            elif r.kind == "reset":
                io.err.write("wget: error getting response: Connection reset by peer\n")
            else:
                io.err.write(f"wget: server returned error: HTTP/1.1 {r.status} Not Found\n")
            continue
        if out_target not in (None, "-", "/dev/null"):
            sink = sh.open_write(out_target, False, io)
            if isinstance(sink, str):
                io.err.write(f"wget: can't open '{out_target}': Read-only file system\n")
                status = 1
    return status


def _operands(args: list[str], takes_value: set[str]) -> list[str]:
    """Non-option arguments, skipping the values of options that take one."""
    return [a for k, a in enumerate(args)
            if not a.startswith("-") and (k == 0 or args[k - 1] not in takes_value)]


@_applet("curl")
def _a_curl(sh: _Shell, args: list[str], io: _IO) -> int:
    takes_value = {"-o", "-H", "-X", "-d", "-m", "-w", "-u", "-A", "--max-time", "--connect-timeout",
                   "--header", "--data", "--request", "--output", "-e", "--retry"}
    flags = "".join(a[1:] for a in args if a.startswith("-") and not a.startswith("--"))
    urls = _operands(args, takes_value)
    if not urls:
        io.err.write("curl: try 'curl --help' or 'curl --manual' for more information\n")
        return 2
    show_errors = "s" not in flags or "S" in flags
    fail = "f" in flags or "--fail" in args
    host, port, path = _parse_url(urls[0])
    r = _reach(sh, host, port, path)
    if r.ok:
        return 0
    if r.kind == "dns":
        code, msg = 6, f"curl: (6) Could not resolve host: {host}"
    elif r.kind == "refused":
        code, msg = 7, f"curl: (7) Failed to connect to {host} port {port} after 0 ms: " \
            "Couldn't connect to server"
    elif r.kind == "reset":
        code, msg = 56, "curl: (56) Recv failure: Connection reset by peer"
    else:
        if not fail:
            return 0
        code, msg = 22, f"curl: (22) The requested URL returned error: {r.status}"
    if show_errors:
        io.err.write(msg + "\n")
    return code


@_applet("nc")
def _a_nc(sh: _Shell, args: list[str], io: _IO) -> int:
    flags = "".join(a[1:] for a in args if a.startswith("-") and a[1:].isalpha())
    values = {args[k]: args[k + 1] for k in range(len(args) - 1) if args[k] in ("-p", "-w", "-e", "-s", "-i")}
    rest = [a for k, a in enumerate(args) if not a.startswith("-")
            and (k == 0 or args[k - 1] not in ("-p", "-w", "-e", "-s", "-i"))]
    if "l" in flags:
        port_text = values.get("-p") or (rest[-1] if rest else "")
        if not port_text.isdigit():
            io.err.write("nc: bad port\n")
            return 1
        sh.serves[int(port_text)] = None
        raise _Forever()
    if len(rest) < 2 or not rest[1].split("-")[0].isdigit():
        io.err.write("nc: missing hostname or port\n" if len(rest) < 2 else f"nc: bad port '{rest[1]}'\n")
        return 1
    host, port = rest[0], int(rest[1].split("-")[0])
    r = _reach(sh, host, port, None)
    if not r.ok:
        if r.kind == "dns":
            io.err.write(f"nc: bad address '{host}'\n")
        else:
            io.err.write(f"nc: can't connect to remote host ({r.ip}): Connection refused\n")
        return 1
    if "v" in flags:
        io.err.write(f"{host} ({r.ip}:{port}) open\n")
    io.stdin.read_all()
    return 0


@_applet("nslookup")
def _a_nslookup(sh: _Shell, args: list[str], io: _IO) -> int:
    names = [a for a in args if not a.startswith("-")]
    if not names:
        io.err.write("nslookup: missing host name\n")
        return 1
    name = names[0].rstrip(".")
    io.out.write("Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n")
    ns = sh.host.namespace
    if not is_cluster_host(name):
        r = _reach(sh, name, 53, None)
        io.out.write(f"Non-authoritative answer:\nName:\t{name}\nAddress: {r.ip}\n\n")
        return 0
    parts = name.split(".")
    fqdn = name if name.endswith(".cluster.local") else (
        f"{parts[0]}.{parts[1] if len(parts) > 1 else ns}.svc.cluster.local")
    if sh.host.resolve_service is not None and sh.host.resolve_service(name) == ServiceLookup.MISSING:
        io.out.write(f"** server can't find {fqdn}: NXDOMAIN\n\n")
        return 1
    io.out.write(f"Name:\t{fqdn}\nAddress: {cluster_ip(name, ns)}\n\n")
    return 0


@_applet("ping")
def _a_ping(sh: _Shell, args: list[str], io: _IO) -> int:
    count = 4
    for k, a in enumerate(args[:-1]):
        if a == "-c" and args[k + 1].isdigit():
            count = int(args[k + 1])
    hosts = _operands(args, {"-c", "-W", "-w", "-i", "-s"})
    if not hosts:
        io.err.write("ping: missing host\n")
        return 1
    host = hosts[0]
    r = _reach(sh, host, 0, None)
    if not r.ok and r.kind == "dns":
        io.err.write(f"ping: bad address '{host}'\n")
        return 1
    cluster = is_cluster_host(host) and sh.host.resolve_service is not None
    ip = cluster_ip(host, sh.host.namespace) if cluster else r.ip
    io.out.write(f"PING {host} ({ip}): 56 data bytes\n")
    received = 0 if cluster else count   # a Service's ClusterIP is virtual: it never answers ICMP
    for seq in range(count):
        if not cluster:
            io.out.write(f"64 bytes from {ip}: seq={seq} ttl=64 time=0.071 ms\n")
        sh.clock += 1.0
    loss = 100 - received * 100 // max(count, 1)
    io.out.write(f"\n--- {host} ping statistics ---\n"
                 f"{count} packets transmitted, {received} packets received, {loss}% packet loss\n")
    return 0 if received else 1


@_applet("httpd")
def _a_httpd(sh: _Shell, args: list[str], io: _IO) -> int:
    port, home, foreground = 80, sh.cwd, False
    for k, a in enumerate(args):
        if a == "-p" and k + 1 < len(args):
            port = int(args[k + 1].rsplit(":", 1)[-1]) if args[k + 1].rsplit(":", 1)[-1].isdigit() else 80
        elif a == "-h" and k + 1 < len(args):
            home = sh.abspath(args[k + 1])
        elif a.startswith("-") and "f" in a[1:] and a not in ("-p", "-h"):
            foreground = True
    prefix = home.rstrip("/") + "/"
    paths = {"/" + p[len(prefix):] for p in sh.fs if p.startswith(prefix)}
    if "/index.html" in paths:
        paths.add("/")
    sh.serves[port] = frozenset(paths)
    if foreground:
        raise _Forever()
    return 0
