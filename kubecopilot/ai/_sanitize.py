"""The sanitizer: nothing leaves the process for an LLM before every string in it is redacted.

`Redactor` replaces IPs, e-mail addresses, UUIDs, long hashes, bearer tokens, JWTs, API-key shapes,
``key=value`` secrets, PEM blocks and the values of referenced Secrets (and their base64 forms) with
placeholders such as ``<IP_1>``. Within one request the same original always becomes the same placeholder,
so the model can still reason ("the pod cannot reach <IP_1>, which is the database's address too"), and
`Redactor.restore` puts the originals back into the answer for local display.

Kubernetes is full of things that *look* like secrets and are not: resourceVersions, image tags
(``nginx:1.25``), timestamps, quantities (``10m``, ``500Mi``), 10-character pod-template-hashes. The
patterns are written so those survive; a 64-hex image digest (``sha256:...``) does count as a long hash.

The order of the passes matters: PEM blocks and Secret values first (they may contain anything), then the
token shapes (a JWT inside ``Bearer eyJ...`` is a JWT), then the generic shapes. A later pass never matches
inside an earlier placeholder (placeholders are ``<UPPER_n>``, which no pattern accepts).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["CATEGORIES", "Redactor", "scrub_credentials"]

#: category -> placeholder prefix. Counts are reported per category (`Redactor.counts`).
CATEGORIES: dict[str, str] = {
    "pem": "PEM",
    "secret_value": "SECRET",
    "jwt": "JWT",
    "api_key": "APIKEY",
    "bearer": "TOKEN",
    "kv_secret": "SECRET",
    "email": "EMAIL",
    "uuid": "UUID",
    "ip": "IP",
    "hash": "HASH",
}

#: Secret values shorter than this are not redacted by value: a 1-3 character "secret" would blank out
#: every occurrence of ``a`` or ``on`` in the evidence. The pattern passes still apply to them.
MIN_SECRET_LENGTH = 4

_PLACEHOLDER = re.compile(r"<([A-Z]+)_(\d+)>")

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|\Z)")
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}")
_API_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"                # OpenAI / Anthropic (accepted only with upper case)
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"               # Stripe
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"                          # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"  # GitHub tokens
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"                       # Slack
    r"|AIza[0-9A-Za-z_-]{35}"                              # Google API keys
    r"|glpat-[A-Za-z0-9_-]{20,}"                           # GitLab
    r")"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{8,})")
# Names that announce a secret value: DB_PASSWORD=..., "apiKey": "...", client_secret: ...
_SECRET_NAME = r"[\w.-]*(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)[\w.-]*"  # noqa: E501
_KV_SECRET = re.compile(
    r"(?i)(?<![\w.-])(" + _SECRET_NAME + r")"
    r"(\"?[:=]\s?\"?|'?[:=]\s?'?)"
    r"(?!<[A-Z]+_\d+>)([^\s\"',;&<>]{3,})"
)
# Env-var shaped JSON inside a string: "name":"DB_PASSWORD","value":"hunter2"
_ENV_JSON = re.compile(r"(?i)(\"name\"\s*:\s*\"" + _SECRET_NAME + r"\"\s*,\s*\"value\"\s*:\s*\")([^\"<]+)(\")")
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_UUID = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
                   r"(?![0-9A-Za-z])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Not after a word, dot, colon or dash (``v1.2.3.4``, ``image:1.2.3.4``); not followed by more dotted digits.
_IPV4 = re.compile(r"(?<![\w.:-])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?!\.?\d)(?![\w-])")
# Candidates only; `ipaddress` decides. Timestamps (10:00:00) and MACs fail that test.
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:" + _OCTET + r"(?:\." + _OCTET
                   + r"){3}|[0-9A-Fa-f]{1,4})?(?:%[\w]+)?(?![\w:]|\.\d)")
# 32+ hex characters with at least one digit and one letter: md5/sha1/sha256 digests, container ids.
_HASH = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
# Keys of a mapping whose string value is a secret ({"password": "..."}), unless the key names a reference.
_SECRET_KEY = re.compile(r"(?i)^" + _SECRET_NAME + r"$")
_REFERENCE_KEY = re.compile(r"(?i)(name|names|ref|path|file|namespace|mode|seconds|type|kind|version|count|url|"
                            r"endpoint|mount|hash|items|enabled|expiration\w*)$")


def _is_ipv6(m: re.Match[str]) -> bool:
    address = m.group(0).split("%", 1)[0]
    if "::" not in address and address.count(":") < 7:
        return False   # 8 groups or a "::" compression; a MAC or a timestamp has neither
    if sum(c.isalnum() for c in address) < 4:
        return False   # "a::b" in code or a C++ name, not an address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return not (ip.is_unspecified or ip.is_loopback)


def _is_ipv4(m: re.Match[str]) -> bool:
    # 0.0.0.0 and 127.x identify nobody, and "listening on 127.0.0.1" vs "0.0.0.0" matters to a diagnosis
    ip = ipaddress.IPv4Address(m.group(0))
    return not (ip.is_unspecified or ip.is_loopback)


def _is_api_key(m: re.Match[str]) -> bool:
    # Kubernetes names are lower case (DNS-1123), so "sk-learn-worker-deployment" is a name, not a key
    key = m.group(0)
    return not key.startswith("sk-") or (any(c.isupper() for c in key) and any(c.isdigit() for c in key))


def _is_token(m: re.Match[str]) -> bool:
    # "Basic authentication required" is prose; a real credential has a digit or base64 punctuation
    return any(c.isdigit() or c in "+/=_~.-" for c in m.group(3))


_NOT_SECRETS = frozenset({"true", "false", "null", "none", "nil", "yes", "no", "empty", "required", "optional",
                          "redacted", "<redacted>", "***", "******"})


def _is_kv_secret(m: re.Match[str]) -> bool:
    return not _REFERENCE_KEY.search(m.group(1)) and m.group(3).lower() not in _NOT_SECRETS


def _base64_forms(value: str) -> set[str]:
    raw = value.encode()
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    return {std, url, std.rstrip("="), url.rstrip("=")}


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of ``words`` (longest first), shaped as a trie.

    A plain ``a|b|c`` alternation of 2,000 Secret values makes the engine try every value at every position
    (26 s over a 600 kB log); the trie shares prefixes, so each position costs about one character test.
    Built without recursion over characters: a Secret value can be a 4 kB certificate.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        out = []
        for ch in sorted(k for k in node if k):
            run, child = [ch], node[ch]
            while "" not in child and len(child) == 1:   # a run of single-child nodes: one literal
                (nxt, child), = child.items()
                run.append(nxt)
            rest = build(child) if any(child) else ""
            out.append(re.escape("".join(run)) + rest)
        if not out:
            return ""
        body = out[0] if len(out) == 1 else "(?:" + "|".join(out) + ")"
        if "" in node:   # a word ends here: what follows is optional (greedy, so the longest word wins)
            return f"(?:{body})?"
        return body

    return build(trie)


class Redactor:
    """Reversible, consistent redaction for one LLM request.

    >>> r = Redactor(secret_values=["hunter2-prod"])
    >>> r.redact("db 10.0.0.7 refused password hunter2-prod")
    'db <IP_1> refused password <SECRET_1>'
    >>> r.restore("check <IP_1>")
    'check 10.0.0.7'

    ``redact`` walks dicts, lists and tuples (mapping keys too, because a Secret value can be a key); other
    scalars pass through. ``counts`` says how many occurrences of each category were replaced; the originals
    never appear in ``repr`` or ``str``.
    """

    def __init__(self, secret_values: Iterable[str | bytes] = ()) -> None:
        self._forward: dict[str, str] = {}    # original -> placeholder
        self._reverse: dict[str, str] = {}    # placeholder -> original
        self._next: Counter[str] = Counter()  # prefix -> last number used
        self._counts: Counter[str] = Counter()
        values: set[str] = set()
        for value in secret_values:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if not isinstance(value, str) or len(value.strip()) < MIN_SECRET_LENGTH:
                continue
            values.add(value)
            values |= {form for form in _base64_forms(value) if len(form) >= MIN_SECRET_LENGTH}
        self._secret_count = len(values)
        self._secrets = re.compile(_trie_pattern(values)) if values else None

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def _placeholder(self, category: str, original: str) -> str:
        self._counts[category] += 1
        existing = self._forward.get(original)
        if existing is not None:
            return existing
        prefix = CATEGORIES[category]
        self._next[prefix] += 1
        placeholder = f"<{prefix}_{self._next[prefix]}>"
        self._forward[original] = placeholder
        self._reverse[placeholder] = original
        return placeholder

    @property
    def counts(self) -> dict[str, int]:
        """Occurrences replaced per category (``{"ip": 3, "jwt": 1}``), for the explanation chain."""
        return dict(sorted(self._counts.items()))

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def __len__(self) -> int:
        """How many distinct originals have a placeholder."""
        return len(self._forward)

    def __repr__(self) -> str:
        return f"Redactor(placeholders={len(self._forward)}, counts={self.counts}, secret_values={self._secret_count})"

    # -- redaction ---------------------------------------------------------------------------------------------
    def redact_text(self, text: str) -> str:
        """Redact one string (see the module docstring for the passes and their order)."""
        if not text:
            return text
        sub = self._sub
        text = sub(_PEM, text, "pem")
        if self._secrets is not None:
            text = sub(self._secrets, text, "secret_value")
        text = sub(_JWT, text, "jwt")
        text = sub(_API_KEY, text, "api_key", accept=_is_api_key)
        text = sub(_BEARER, text, "bearer", group=3, accept=_is_token)
        text = sub(_ENV_JSON, text, "kv_secret", group=2)
        text = sub(_KV_SECRET, text, "kv_secret", group=3, accept=_is_kv_secret)
        text = sub(_EMAIL, text, "email")
        text = sub(_UUID, text, "uuid")
        text = sub(_IPV6, text, "ip", accept=_is_ipv6)
        text = sub(_IPV4, text, "ip", accept=_is_ipv4)
        return sub(_HASH, text, "hash")

    def _sub(self, pattern: re.Pattern[str], text: str, category: str, *, group: int = 0,
             accept: Callable[[re.Match[str]], bool] | None = None) -> str:
        def replace(m: re.Match[str]) -> str:
            value = m.group(group)
            if _PLACEHOLDER.fullmatch(value) or (accept is not None and not accept(m)):
                return m.group(0)
            placeholder = self._placeholder(category, value)
            if group == 0:
                return placeholder
            start, end = m.start(group) - m.start(0), m.end(group) - m.start(0)
            whole = m.group(0)
            return whole[:start] + placeholder + whole[end:]

        return pattern.sub(replace, text)

    def redact(self, value: Any) -> Any:
        """Redact every string in ``value`` (a str, or nested dicts/lists/tuples of them); returns a copy."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                key = self.redact_text(k) if isinstance(k, str) else k
                if isinstance(v, str) and self._secret_field(value, k, v):
                    out[key] = self._whole_value(v)
                else:
                    out[key] = self.redact(v)
            return out
        if isinstance(value, list | tuple):
            return [self.redact(v) for v in value]
        return value

    def _whole_value(self, value: str) -> str:
        if _PLACEHOLDER.fullmatch(value):
            return value
        # a value that already contains recognisable shapes keeps the more specific categories
        redacted = self.redact_text(value)
        if redacted != value:
            return redacted
        return self._placeholder("kv_secret", value)

    @staticmethod
    def _secret_key(key: str) -> bool:
        return bool(_SECRET_KEY.match(key)) and not _REFERENCE_KEY.search(key)

    @classmethod
    def _secret_field(cls, mapping: Mapping[Any, Any], key: Any, value: str) -> bool:
        """``{"password": "..."}``, or a pod spec env entry ``{"name": "DB_PASSWORD", "value": "..."}``: the
        whole string is a secret, whatever it looks like."""
        if not value.strip() or value.lower() in _NOT_SECRETS:
            return False
        if isinstance(key, str) and cls._secret_key(key):
            return True
        name = mapping.get("name")
        return key == "value" and isinstance(name, str) and cls._secret_key(name)

    # -- restoration -------------------------------------------------------------------------------------------
    def restore(self, value: Any) -> Any:
        """Put the originals back into a string (or nested dicts/lists of strings). Unknown placeholders stay."""
        if isinstance(value, str):
            if "<" not in value:
                return value
            return _PLACEHOLDER.sub(lambda m: self._reverse.get(m.group(0), m.group(0)), value)
        if isinstance(value, Mapping):
            return {self.restore(k) if isinstance(k, str) else k: self.restore(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.restore(v) for v in value]
        return value

    def placeholders(self) -> list[str]:
        """The placeholders handed out so far (never the originals)."""
        return list(self._reverse)


def scrub_credentials(text: str, *secrets: str | None) -> str:
    """Remove ``secrets`` (an API key) and anything shaped like a token or key from an error text.

    Narrower than `Redactor`: an error names endpoints and hosts on purpose, so IPs and hashes stay.
    """
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, "<api-key>")
    text = _JWT.sub("<jwt>", text)
    text = _API_KEY.sub(lambda m: "<api-key>" if _is_api_key(m) else m.group(0), text)
    return _BEARER.sub(lambda m: m.group(1) + m.group(2) + "<token>" if _is_token(m) else m.group(0), text)
