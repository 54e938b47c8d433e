"""Loopback HTTP servers that speak the OpenAI and Anthropic protocols and play a scripted sequence of replies.

Real servers on 127.0.0.1 (a ``ThreadingHTTPServer`` in a daemon thread), so the official clients run
unmodified: no mocks of the client libraries. Any test may import them::

    from tests.llm.fake_servers import OpenAIServer, AnthropicServer, Reply, Status, Malformed

    with OpenAIServer(script=[Status(429, retry_after=0), Status(500), Reply(text="ok")]) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)   # http://127.0.0.1:PORT/v1
        ...
        assert srv.bodies[-1]["messages"][0]["content"] == "the prompt"

    # A reply that depends on the request: ``respond`` gets a RecordedRequest.
    with AnthropicServer(respond=lambda req: Reply(text=f"saw {len(req.body['messages'])} turns")) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)   # http://127.0.0.1:PORT (no /v1)

The import needs the repository root on ``sys.path``: ``python -m pytest`` (what ``make test`` runs)
puts it there; a bare ``pytest`` needs ``pythonpath = ["."]`` in the pytest settings.

What they answer:

- the generation endpoint (``POST /v1/chat/completions`` or ``POST /v1/messages``) plays ``script``
  one item a request; once the script is spent, ``respond(request)`` answers if given, else a 500
  whose message says the script ran out;
- ``GET /v1/models`` lists ``models`` (the generation endpoint echoes the requested model);
- with ``api_key`` set, any request that does not carry that key gets a 401.

Script items: ``Reply(text=...)`` a well-formed completion with usage (as server-sent events when the
request asks for a stream), ``Status(code, retry_after=...)``
an error in the protocol's error format, ``Malformed()`` a 200 whose body is not JSON. Each takes
``delay_s`` to answer slowly (timeouts, concurrency).

What they record: ``requests`` every request received (method, path, headers, parsed JSON body),
``bodies`` the generation requests' bodies, ``max_in_flight`` the most generation requests that were
being answered at once, ``prefix_shares`` for each generation request after the first the share of
its prompt that repeats the longest prefix of an earlier one (what a prefix cache could serve).

With ``prefix_cache=True`` a server plays a prefix-caching server: each reply's usage counts the prompt
at four characters a token, and reports the part an earlier prompt shares as cached.

``isolate_llm_env(monkeypatch)`` clears the variables that would point a client elsewhere (keys,
base URLs, proxies, kernelevolve's own settings); call it in a fixture before starting a test.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest
    from typing_extensions import Self

ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_CUSTOM_HEADERS",
    "KERNELEVOLVE_LLM",
    "KERNELEVOLVE_LLM_PRICES",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def isolate_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every variable that changes where an LLM client connects or what it sends."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@dataclass(frozen=True)
class Reply:
    """A well-formed completion. ``model=None`` echoes the model the request asked for. ``input_tokens``
    is the whole prompt; ``cached_tokens`` and ``cache_write_tokens`` the part of it the usage reports as
    read from and written to a prompt cache (each protocol in its own fields)."""

    text: str = "ok"
    model: str | None = None
    input_tokens: int = 11
    output_tokens: int = 7
    delay_s: float = 0.0
    cached_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class Status:
    """An HTTP error in the protocol's error format, with a ``Retry-After`` header when given."""

    code: int
    retry_after: float | str | None = None
    message: str = "scripted failure"
    delay_s: float = 0.0


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body is not JSON."""

    body: bytes = b'{"choices": [ not json'
    delay_s: float = 0.0


ScriptItem = Reply | Status | Malformed


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when the request had no JSON body


Responder = Callable[[RecordedRequest], ScriptItem]


class FakeLLMServer:
    """What both protocols share: the listening thread, the script, the records. Subclasses encode."""

    generation_path: str
    models_path = "/v1/models"
    base_path: str  # what a client's base URL must end with

    def __init__(
        self,
        script: Sequence[ScriptItem] = (),
        *,
        respond: Responder | None = None,
        models: Sequence[str] = ("fake-model",),
        api_key: str | None = None,
        prefix_cache: bool = False,
    ) -> None:
        self._script: Iterator[ScriptItem] = iter(list(script))
        self.prefix_cache = prefix_cache
        self.prefix_shares: list[float] = []
        self._prompts: list[str] = []
        self._respond = respond
        self.models = list(models)
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for the next poll, and tests start many servers.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    @property
    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if r.path == self.generation_path]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def answer(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request; called from the server's threads."""
        with self._lock:
            self.requests.append(request)
        if self.api_key is not None and not self.carries_key(request.headers, self.api_key):
            return self.encode_status(Status(401, message="invalid api key"))
        if request.method == "GET" and request.path == self.models_path:
            return 200, {}, json.dumps(self.encode_models(self.models)).encode()
        if request.method == "POST" and request.path == self.generation_path:
            return self._answer_generation(request)
        return self.encode_status(Status(404, message=f"no route {request.method} {request.path}"))

    def _answer_generation(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            item = self._next_item(request)
            time.sleep(item.delay_s)
            prompt, shared = self._remember_prompt(request.body)
            if isinstance(item, Reply) and self.prefix_cache:
                item = replace(item, input_tokens=len(prompt) // 4, cached_tokens=shared // 4, cache_write_tokens=0)
            if isinstance(item, Reply):
                model = item.model or request.body.get("model", "fake-model")
                if request.body.get("stream"):
                    events = "".join(_sse(name, data) for name, data in self.encode_stream(item, model))
                    return 200, {"Content-Type": "text/event-stream"}, events.encode()
                return 200, {}, json.dumps(self.encode_reply(item, model)).encode()
            if isinstance(item, Malformed):
                return 200, {}, item.body
            return self.encode_status(item)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _remember_prompt(self, body: Any) -> tuple[str, int]:
        """The request's prompt as one text, and how many of its first characters an earlier one shares."""
        prompt = self.prompt_text(body)
        with self._lock:
            shared = max((_common_prefix(prompt, earlier) for earlier in self._prompts), default=0)
            if self._prompts and prompt:
                self.prefix_shares.append(shared / len(prompt))
            self._prompts.append(prompt)
        return prompt, shared

    def prompt_text(self, body: Any) -> str:
        """The prompt a generation request carries, in the order the model reads it."""
        raise NotImplementedError

    def _next_item(self, request: RecordedRequest) -> ScriptItem:
        with self._lock:
            item = next(self._script, None)
        if item is not None:
            return item
        if self._respond is not None:
            return self._respond(request)
        return Status(500, message="fake server: the script ran out of replies")

    def encode_status(self, status: Status) -> tuple[int, dict[str, str], bytes]:
        headers = {} if status.retry_after is None else {"Retry-After": str(status.retry_after)}
        return status.code, headers, json.dumps(self.encode_error(status)).encode()

    def carries_key(self, headers: dict[str, str], key: str) -> bool:
        raise NotImplementedError

    def encode_reply(self, reply: Reply, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def encode_error(self, status: Status) -> dict[str, Any]:
        raise NotImplementedError

    def encode_stream(self, reply: Reply, model: str) -> list[tuple[str | None, Any]]:
        """The server-sent events of a streamed reply: (event name or None, data)."""
        raise NotImplementedError

    def encode_models(self, models: list[str]) -> dict[str, Any]:
        raise NotImplementedError


class OpenAIServer(FakeLLMServer):
    """OpenAI chat completions: ``POST /v1/chat/completions``; point ``OPENAI_BASE_URL`` at ``base_url``."""

    generation_path = "/v1/chat/completions"
    base_path = "/v1"

    def carries_key(self, headers: dict[str, str], key: str) -> bool:
        return headers.get("authorization") == f"Bearer {key}"

    def prompt_text(self, body: Any) -> str:
        return "".join(f"<{m['role']}>{m['content']}" for m in body.get("messages", []))

    def encode_reply(self, reply: Reply, model: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": reply.input_tokens,
                "completion_tokens": reply.output_tokens,
                "total_tokens": reply.input_tokens + reply.output_tokens,
                "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
            },
        }

    def encode_error(self, status: Status) -> dict[str, Any]:
        return {"error": {"message": status.message, "type": "fake_error", "code": status.code}}

    def encode_stream(self, reply: Reply, model: str) -> list[tuple[str | None, Any]]:
        whole = self.encode_reply(reply, model)
        head = {"id": whole["id"], "object": "chat.completion.chunk", "created": 0, "model": model}
        pieces = [reply.text[i : i + 16] for i in range(0, len(reply.text), 16)]
        chunks = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece},
                                        "finish_reason": None}]} for piece in pieces]
        chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        chunks.append({**head, "choices": [], "usage": whole["usage"]})  # stream_options.include_usage
        return [(None, chunk) for chunk in chunks] + [(None, "[DONE]")]

    def encode_models(self, models: list[str]) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models],
        }


class AnthropicServer(FakeLLMServer):
    """Anthropic messages: ``POST /v1/messages``; point ``ANTHROPIC_BASE_URL`` at ``base_url``."""

    generation_path = "/v1/messages"
    base_path = ""

    def carries_key(self, headers: dict[str, str], key: str) -> bool:
        # Older clients send x-api-key, newer ones a bearer token.
        return headers.get("x-api-key") == key or headers.get("authorization") == f"Bearer {key}"

    def prompt_text(self, body: Any) -> str:
        system = body.get("system", "")
        if isinstance(system, list):  # content blocks, possibly marked for caching
            system = "".join(block.get("text", "") for block in system)
        turns = "".join(f"<{m['role']}>{m['content']}" for m in body.get("messages", []))
        return f"<system>{system}{turns}"

    def encode_reply(self, reply: Reply, model: str) -> dict[str, Any]:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {  # Anthropic counts uncached input apart from cache reads and writes
                "input_tokens": reply.input_tokens - reply.cached_tokens - reply.cache_write_tokens,
                "cache_read_input_tokens": reply.cached_tokens,
                "cache_creation_input_tokens": reply.cache_write_tokens,
                "output_tokens": reply.output_tokens,
            },
        }

    def encode_error(self, status: Status) -> dict[str, Any]:
        return {"type": "error", "error": {"type": "fake_error", "message": status.message}}

    def encode_stream(self, reply: Reply, model: str) -> list[tuple[str | None, Any]]:
        whole = self.encode_reply(reply, model)
        start = {**whole, "content": [], "stop_reason": None, "usage": {**whole["usage"], "output_tokens": 0}}
        deltas = [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": reply.text[i : i + 16]}})
                  for i in range(0, len(reply.text), 16)]
        return [
            ("message_start", {"type": "message_start", "message": start}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            *deltas,
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": reply.output_tokens}}),
            ("message_stop", {"type": "message_stop"}),
        ]

    def encode_models(self, models: list[str]) -> dict[str, Any]:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }


def _sse(event: str | None, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def _common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = RecordedRequest(
                method=self.command,
                path=self.path.split("?", 1)[0],
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw) if raw else None,
            )
            code, headers, body = server.answer(request)
            try:
                self.send_response(code)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up; the request is recorded all the same

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler
