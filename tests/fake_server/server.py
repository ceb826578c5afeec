"""The scripted fake model server: the OpenAI chat-completions protocol over HTTP.

``FakeModelServer`` listens on 127.0.0.1 (a free port) in a thread and answers
each ``POST /v1/chat/completions`` with the next scripted turn, streamed (SSE)
or not, as the request asks. With ``flavor="ollama"`` it also speaks Ollama's
native API, answering ``POST /api/chat`` from the same script (see
``ollama.py``). It records every request and every problem it
sees: a request with no turn left, a turn never used, a malformed body, a tool
message that answers no call or a call left unanswered. ``check()`` raises
``AssertionError`` listing them all; leaving the ``with`` block calls it.

It is the one stand-in in the test suite, so it is strict: a client that gets
the protocol wrong fails here, not against a real server in production.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Literal

from tests.fake_server import ollama
from tests.fake_server.checks import check_chat_body
from tests.fake_server.responses import (
    Envelope,
    render_completion,
    render_error,
    render_stream,
    resolve_reply,
)
from tests.fake_server.script import (
    CutStream,
    Fault,
    Garbage,
    Reply,
    SlowStream,
    Turn,
    describe_turn,
)
from tests.fake_server.transport import JSON_TYPE, SSE_TYPE, Answer, HTTPTransport

CHAT_PATH = "/v1/chat/completions"
OLLAMA_CHAT_PATH = "/api/chat"
Flavor = Literal["vllm", "llamacpp", "ollama"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request exactly as received; ``json`` is None unless the body parsed."""

    method: str
    path: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    json: Any


class FakeModelServer:
    """A scripted OpenAI-compatible model server for tests and benchmarks.

    ``models`` are the ids ``GET /v1/models`` lists. ``context_window`` is
    advertised (vLLM's ``max_model_len``, or llama.cpp's ``n_ctx`` in ``/props``
    when ``flavor="llamacpp"``) and enforced with vLLM's 400 when a request's
    estimated size (a quarter of its body's bytes, plus its ``max_tokens``)
    passes it. ``api_key`` makes every path demand ``Authorization: Bearer
    <key>``. ``reject_unknown_models`` answers vLLM's 404 for a model not in
    ``models``. Text and tool arguments stream in pieces of ``chunk_chars``.

    ``flavor="ollama"`` adds Ollama's native API: ``/api/version``,
    ``/api/tags``, ``/api/show`` (``context_window`` as the model's context
    length, ``capabilities`` as listed) and ``/api/chat``, which takes turns
    from the same script. A chat request there must carry ``options.num_ctx``
    at least as large as its estimated size; unknown models are always
    refused, as Ollama does, and so are tools or thinking the capabilities
    lack. Faults and errors take Ollama's ``{"error": "..."}`` shape.
    """

    def __init__(
        self,
        turns: Iterable[Turn] = (),
        *,
        models: Iterable[str] = ("fake-model",),
        context_window: int | None = None,
        api_key: str | None = None,
        reject_unknown_models: bool = False,
        flavor: Flavor = "vllm",
        chunk_chars: int = 8,
        created: int = 1_700_000_000,
        capabilities: Iterable[str] = ("completion", "tools"),
    ) -> None:
        self.models = tuple(models)
        self.capabilities = tuple(capabilities)
        self.context_window = context_window
        self.api_key = api_key
        self.reject_unknown_models = reject_unknown_models
        self.flavor = flavor
        self.chunk_chars = chunk_chars
        self.created = created
        self._lock = threading.Lock()
        self._turns: list[Turn] = list(turns)
        self._next_turn = 0
        self._call_seq = 0
        self._requests: list[RecordedRequest] = []
        self._problems: list[str] = []
        self._transport: HTTPTransport | None = None

    # -- the script and the record -------------------------------------------

    def add(self, *turns: Turn) -> None:
        """Append turns to the script; requests already answered are unaffected."""
        with self._lock:
            self._turns.extend(turns)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Chat requests to either endpoint (OpenAI's, or Ollama's native one)."""
        return [r for r in self.requests if r.path in (CHAT_PATH, OLLAMA_CHAT_PATH)]

    @property
    def problems(self) -> list[str]:
        """Problems seen so far, not counting unused turns."""
        with self._lock:
            return list(self._problems)

    @property
    def unused_turns(self) -> list[Turn]:
        with self._lock:
            return self._turns[self._next_turn :]

    def check(self) -> None:
        """Raise AssertionError listing every problem, unused turns included."""
        with self._lock:
            problems = list(self._problems)
            first_unused = self._next_turn + 1
            unused = self._turns[self._next_turn :]
        if unused:
            listed = "; ".join(
                f"turn {n}: {describe_turn(t)}" for n, t in enumerate(unused, first_unused)
            )
            problems.append(f"{len(unused)} scripted turn(s) never requested: {listed}")
        if problems:
            raise AssertionError(
                "the fake model server saw problems:\n" + "\n".join(f"- {p}" for p in problems)
            )

    # -- life cycle ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.root_url}/v1"

    @property
    def root_url(self) -> str:
        """The server's root, ``http://127.0.0.1:PORT`` (where Ollama's ``/api`` lives)."""
        if self._transport is None:
            raise RuntimeError("the fake model server is not started")
        return f"http://127.0.0.1:{self._transport.port}"

    def start(self) -> FakeModelServer:
        if self._transport is not None:
            raise RuntimeError("the fake model server is already started")
        self._transport = HTTPTransport(self._respond, self._record_problem)
        self._transport.open()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and join every thread."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        # Checking while an exception is on its way would hide it.
        if exc_type is None:
            self.check()

    # -- answering (called from handler threads) -----------------------------

    def _record_problem(self, problem: str) -> None:
        with self._lock:
            self._problems.append(problem)

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        parsed: Any = None
        parse_error: str | None = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError as exc:
                parse_error = str(exc)
        with self._lock:
            self._requests.append(RecordedRequest(method, path, headers, body, parsed))
            number = len(self._requests)
        route = path.split("?", 1)[0]
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return self._unauthorized()
        if method == "GET" and route == "/v1/models":
            return Answer(200, _dump(self._model_list()))
        if method == "GET" and route == "/props" and self.flavor == "llamacpp":
            return Answer(200, _dump(self._props()))
        where = f"request {number} (POST {route})"
        if method == "POST" and route == CHAT_PATH:
            return self._chat(where, body, parsed, parse_error)
        if self.flavor == "ollama":
            return self._ollama(method, route, where, body, parsed, parse_error)
        return Answer(404, render_error(404, f"Not Found: {method} {route}"))

    def _ollama(self, method: str, route: str, where: str, body: bytes, parsed: Any,
                parse_error: str | None) -> Answer:
        if method == "GET" and route == "/api/version":
            return Answer(200, ollama.render_version())
        if method == "GET" and route == "/api/tags":
            return Answer(200, ollama.render_tags(self.models, self.created))
        if method == "POST" and route == "/api/show":
            fields = parsed if isinstance(parsed, dict) else {}
            model = fields.get("model") or fields.get("name")
            if not isinstance(model, str) or not self._serves(model):
                return Answer(404, ollama.render_ollama_error(f"model '{model}' not found"))
            return Answer(200, ollama.render_show(model, self.context_window, self.capabilities,
                                                  self.created))
        if method == "POST" and route == OLLAMA_CHAT_PATH:
            return self._chat(where, body, parsed, parse_error, native=True)
        return Answer(404, b"404 page not found", "text/plain")

    def _serves(self, model: str) -> bool:
        return ollama.full_name(model) in {ollama.full_name(m) for m in self.models}

    def _chat(self, where: str, body: bytes, parsed: Any, parse_error: str | None,
              *, native: bool = False) -> Answer:
        """A chat request to the OpenAI endpoint, or (``native``) to Ollama's."""

        def error(status: int, message: str) -> bytes:
            return ollama.render_ollama_error(message) if native else render_error(status, message)

        if parse_error is not None or not body:
            problems = [f"the body is not valid JSON ({parse_error or 'it is empty'})"]
        elif native:
            problems = ollama.check_ollama_chat(parsed, len(body), self.context_window)
        else:
            problems = check_chat_body(parsed)
            if not problems and self.flavor == "ollama":
                problems = ollama.check_openai_on_ollama(len(body), parsed)
        if problems:
            for problem in problems:
                self._record_problem(f"{where}: {problem}")
            return Answer(400, error(400, "; ".join(problems)))
        refusal = self._ollama_refusal(parsed) if native else self._openai_refusal(body, parsed)
        if refusal is not None:
            return refusal

        with self._lock:
            if self._next_turn >= len(self._turns):
                turn = None
            else:
                turn = self._turns[self._next_turn]
                self._next_turn += 1
            turn_number = self._next_turn
            scripted = len(self._turns)
        if turn is None:
            problem = f"{where} arrived with no scripted turn left ({scripted} scripted, all used)"
            self._record_problem(problem)
            return Answer(500, error(500, f"fake model server: {problem}"))

        reply = turn.reply if isinstance(turn, CutStream | SlowStream) else turn
        if isinstance(reply, Reply) and reply.expect is not None:
            try:
                reply.expect(parsed)
            except Exception as exc:
                failure = "".join(traceback.format_exception_only(exc)).strip()
                problem = f"{where} failed the expectation of turn {turn_number}: {failure}"
                self._record_problem(problem)
                return Answer(500, error(500, f"fake model server: {problem}"))

        # Ollama streams unless told not to; OpenAI servers only when told to.
        stream = parsed.get("stream") is not False if native else parsed.get("stream") is True
        if isinstance(turn, Fault):
            return self._fault(turn, native)
        if isinstance(turn, Garbage):
            streamed_type = ollama.NDJSON_TYPE if native else SSE_TYPE
            content_type = turn.content_type or (streamed_type if stream else JSON_TYPE)
            return Answer(200, turn.body, content_type)
        assert isinstance(reply, Reply)
        render = self._render_native if native else self._render
        answer = render(reply, parsed, len(body), turn_number, stream)
        if isinstance(turn, SlowStream):
            return replace(answer, delay_s=turn.delay_s)
        if isinstance(turn, CutStream):
            return replace(answer, cut_after=turn.after_chunks)
        return answer

    def _openai_refusal(self, body: bytes, parsed: dict[str, Any]) -> Answer | None:
        model = parsed["model"]
        if self.reject_unknown_models and model not in self.models:
            message = f"The model `{model}` does not exist."
            return Answer(404, render_error(404, message, "NotFoundError"))
        too_long = self._context_error(body, parsed)
        if too_long is not None:
            return Answer(400, render_error(400, too_long, "BadRequestError"))
        return None

    def _ollama_refusal(self, parsed: dict[str, Any]) -> Answer | None:
        """Ollama's own answers to a sound request it will not serve."""
        model = parsed["model"]
        if not self._serves(model):
            message = f'model "{model}" not found, try pulling it first'
            return Answer(404, ollama.render_ollama_error(message))
        if parsed.get("tools") and "tools" not in self.capabilities:
            message = f"registry.ollama.ai/library/{ollama.full_name(model)} does not support tools"
            return Answer(400, ollama.render_ollama_error(message))
        if parsed.get("think") not in (None, False) and "thinking" not in self.capabilities:
            return Answer(400, ollama.render_ollama_error(f'"{model}" does not support thinking'))
        return None

    def _render_native(
        self, reply: Reply, parsed: dict[str, Any], size: int, turn_number: int, stream: bool
    ) -> Answer:
        with self._lock:
            resolved = resolve_reply(reply, next_call_id=self._new_call_id, body_size=size)
        model = parsed["model"]
        if not stream:
            return Answer(200, ollama.render_ollama_whole(resolved, model, self.created))
        lines = ollama.render_ollama_chunks(resolved, model, self.created,
                                            chunk_chars=self.chunk_chars)
        return Answer(200, content_type=ollama.NDJSON_TYPE, events=tuple(lines))

    def _render(
        self, reply: Reply, parsed: dict[str, Any], size: int, turn_number: int, stream: bool
    ) -> Answer:
        with self._lock:
            resolved = resolve_reply(reply, next_call_id=self._new_call_id, body_size=size)
        env = Envelope(f"chatcmpl-{turn_number}", parsed["model"], self.created)
        if not stream:
            return Answer(200, render_completion(resolved, env))
        options = parsed.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        events = render_stream(
            resolved, env, chunk_chars=self.chunk_chars, include_usage=include_usage
        )
        return Answer(200, content_type=SSE_TYPE, events=tuple(events))

    def _new_call_id(self) -> str:
        # Called with self._lock held.
        self._call_seq += 1
        return f"call_{self._call_seq}"

    def _fault(self, fault: Fault, native: bool) -> Answer:
        headers: tuple[tuple[str, str], ...] = ()
        if fault.retry_after is not None:
            headers = (("retry-after", str(fault.retry_after)),)
        if fault.body is None:
            message = "fake model server: scripted fault"
            body = (ollama.render_ollama_error(message) if native
                    else render_error(fault.status, message))
            return Answer(fault.status, body, headers=headers)
        content_type = JSON_TYPE if _is_json(fault.body) else "text/plain; charset=utf-8"
        return Answer(fault.status, fault.body.encode(), content_type, headers)

    def _context_error(self, body: bytes, parsed: dict[str, Any]) -> str | None:
        if self.context_window is None:
            return None
        prompt = len(body) // 4
        completion = parsed.get("max_tokens") or parsed.get("max_completion_tokens") or 0
        if not isinstance(completion, int) or prompt + completion <= self.context_window:
            return None
        return (
            f"This model's maximum context length is {self.context_window} tokens. However,"
            f" you requested {prompt + completion} tokens ({prompt} in the messages,"
            f" {completion} in the completion). Please reduce the length of the messages"
            " or completion."
        )

    def _unauthorized(self) -> Answer:
        if self.flavor == "ollama":
            return Answer(401, ollama.render_ollama_error("unauthorized"))
        if self.flavor == "llamacpp":
            error = {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}
            return Answer(401, _dump({"error": error}))
        return Answer(401, _dump({"error": "Unauthorized"}))

    def _model_list(self) -> dict[str, Any]:
        owner = {"llamacpp": "llamacpp", "ollama": "library"}.get(self.flavor, "vllm")
        data = []
        for model in self.models:
            card: dict[str, Any] = {
                "id": ollama.full_name(model) if self.flavor == "ollama" else model,
                "object": "model",
                "created": self.created,
                "owned_by": owner,
            }
            if self.flavor == "vllm":
                card.update(root=model, parent=None)
                if self.context_window is not None:
                    card["max_model_len"] = self.context_window
            data.append(card)
        return {"object": "list", "data": data}

    def _props(self) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        if self.context_window is not None:
            settings["n_ctx"] = self.context_window
        model = self.models[0] if self.models else "model"
        return {
            "default_generation_settings": settings,
            "total_slots": 1,
            "model_path": f"/models/{model}.gguf",
        }


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
