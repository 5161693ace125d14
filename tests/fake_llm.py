"""A scripted OpenAI-compatible LLM server on loopback, for tests (never a remote API).

The test queues replies, points the pipeline at ``fake.url`` and afterwards inspects ``fake.requests``:
every request body the server received, exactly as the SDK sent it over a real HTTP connection.

>>> with FakeLLM() as fake:                                                 # doctest: +SKIP
...     fake.reply_json({"summary": "...", ...})      # valid output for the schema
...     fake.reply_text("not json")                   # invalid output
...     fake.reply_status(500)                        # the SDK retries 5xx/429: script one per attempt
...     fake.reply_delay(5.0)                         # longer than the client's timeout
...     kubecopilot.ai.configure(base_url=fake.url, api_key=..., model="fake-model", timeout=1)

When the script runs out the server answers HTTP 500 and counts it in ``unexpected`` (so a test that did not
expect a call fails loudly instead of hanging).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeLLM", "Reply", "configured_fake"]


@dataclass
class Reply:
    """One scripted answer: a chat completion (content, finish reason, refusal) or an HTTP error."""

    status: int = 200
    content: str | None = None
    finish_reason: str = "stop"
    refusal: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "scripted error"
    prompt_tokens: int = 120
    completion_tokens: int = 40


@dataclass
class Request:
    """What one request carried."""

    path: str
    headers: dict[str, str]
    raw: str
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages") or []

    @property
    def text(self) -> str:
        """All message contents joined (what the model would read)."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)

    @property
    def schema_name(self) -> str | None:
        return ((self.body.get("response_format") or {}).get("json_schema") or {}).get("name")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        reply = fake._take(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, raw, body))
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            self._send(reply.status, {"error": {"message": reply.error_message, "type": "server_error"}},
                       reply.headers)
            return
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": reply.refusal}
        self._send(200, {
            "id": f"chatcmpl-fake-{len(fake.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "finish_reason": reply.finish_reason, "message": message, "logprobs": None}],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens},
        }, reply.headers)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):   # the client gave up (timeout): nothing to do
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeLLM


class FakeLLM:
    """An OpenAI-compatible ``POST /v1/chat/completions`` on 127.0.0.1, answering from a script."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.unexpected = 0
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-llm", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __repr__(self) -> str:
        return f"FakeLLM({self.url!r}, queued={len(self._script)}, received={len(self.requests)})"

    # -- scripting -----------------------------------------------------------------------------------------------
    def queue(self, reply: Reply) -> FakeLLM:
        with self._lock:
            self._script.append(reply)
        return self

    def reply_json(self, obj: Any, **kw: Any) -> FakeLLM:
        """A completion whose content is ``obj`` as JSON (a pydantic model, dict or list)."""
        content = obj.model_dump_json() if hasattr(obj, "model_dump_json") else json.dumps(obj)
        return self.queue(Reply(content=content, **kw))

    def reply_text(self, text: str, **kw: Any) -> FakeLLM:
        """A completion with arbitrary content (e.g. not JSON at all)."""
        return self.queue(Reply(content=text, **kw))

    def reply_status(self, status: int, message: str = "scripted error", *, times: int = 1,
                     headers: dict[str, str] | None = None) -> FakeLLM:
        """An HTTP error. 429 and 5xx are retried by the SDK: queue ``times=max_retries + 1`` to exhaust it.
        ``retry-after-ms: 1`` is added so SDK back-off does not slow the tests."""
        for _ in range(times):
            self.queue(Reply(status=status, error_message=message,
                             headers={"retry-after-ms": "1", **(headers or {})}))
        return self

    def reply_delay(self, seconds: float, obj: Any = None, *, times: int = 1) -> FakeLLM:
        """Answer only after ``seconds`` (longer than the client timeout → a timeout; the SDK retries those)."""
        content = json.dumps(obj) if obj is not None else "{}"
        for _ in range(times):
            self.queue(Reply(content=content, delay=seconds))
        return self

    def reply_refusal(self, text: str = "I can't help with that.") -> FakeLLM:
        return self.queue(Reply(content=None, refusal=text))

    def reply_length(self, partial: str = '{"summary": "the pod') -> FakeLLM:
        """A completion cut off at max_tokens (``finish_reason: length``)."""
        return self.queue(Reply(content=partial, finish_reason="length"))

    def _take(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
            self.unexpected += 1
        return Reply(status=500, error_message="FakeLLM: no scripted reply left")

    # -- inspection ----------------------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._script)

    def all_bodies(self) -> str:
        """Every request body received, raw, joined: for "this string never left the process" assertions."""
        return "\n".join(r.raw for r in self.requests)

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def configured_fake(*, api_key: str = "sk-test-FAKEKEY0123456789abcdefXYZ", model: str = "fake-model",
                    timeout: float = 2.0, max_retries: int = 1) -> Iterator[FakeLLM]:
    """A running `FakeLLM` that ``kubecopilot.ai`` is configured to use; the configuration is cleared after."""
    from kubecopilot import ai

    with FakeLLM() as fake:
        ai.configure(base_url=fake.url, api_key=api_key, model=model, timeout=timeout, max_retries=max_retries)
        try:
            yield fake
        finally:
            ai.configure()
