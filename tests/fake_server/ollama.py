"""The fake model server's Ollama flavor: the native API's checks and answers.

Pure functions, in the shapes Ollama uses: ``/api/version``, ``/api/tags``,
``/api/show`` and ``/api/chat`` (newline-delimited JSON when streamed, one
JSON object when not), errors as ``{"error": "..."}``.

The checks are why this flavor exists. Ollama serves a model with a small
default context and silently drops the start of a prompt that does not fit,
so a chat request without ``options.num_ctx``, or with one smaller than the
request, is a bug in the client even though Ollama would answer it. So is a
request to the OpenAI-compatible endpoint larger than the default context:
that endpoint cannot set ``num_ctx`` at all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.fake_server.checks import check_tool_calls
from tests.fake_server.responses import ResolvedReply

NDJSON_TYPE = "application/x-ndjson"
VERSION = "0.12.6"
# What Ollama gives a model when the request does not say (OLLAMA_CONTEXT_LENGTH).
DEFAULT_CONTEXT = 4096
ARCHITECTURE = "qwen3"
# Fixed timings (nanoseconds), so answers are the same bytes every run.
_DURATIONS = {"total_duration": 1_200_000, "load_duration": 100_000,
              "prompt_eval_duration": 400_000, "eval_duration": 700_000}


def full_name(name: str) -> str:
    """``name`` with Ollama's default tag: ``qwen3`` is ``qwen3:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def estimate(size: int, num_predict: Any) -> int:
    """A request's need of context: a quarter of its body's bytes plus its output."""
    predicted = num_predict if isinstance(num_predict, int) and num_predict > 0 else 0
    return size // 4 + predicted


# -- checks -----------------------------------------------------------------


def check_ollama_chat(body: Any, size: int, context_length: int | None) -> list[str]:
    """Problems with a parsed ``/api/chat`` body of ``size`` bytes; empty when sound."""
    if not isinstance(body, dict):
        return [f"the body is JSON but not an object: {type(body).__name__}"]
    problems = []
    if not isinstance(body.get("model"), str):
        problems.append('the body has no "model" string')
    problems += _check_num_ctx(body, size, context_length)
    messages = body.get("messages")
    if not isinstance(messages, list):
        problems.append('the body has no "messages" list')
        return problems
    return problems + check_tool_calls(messages) + _check_ollama_messages(messages)


def check_openai_on_ollama(size: int, parsed: dict[str, Any]) -> list[str]:
    """Ollama's OpenAI-compatible endpoint truncates anything past its default context."""
    completion = parsed.get("max_tokens") or parsed.get("max_completion_tokens")
    needed = estimate(size, completion)
    if needed <= DEFAULT_CONTEXT:
        return []
    return [
        f"the request needs about {needed} tokens, but Ollama's OpenAI-compatible endpoint"
        f" ignores num_ctx and would silently truncate it to {DEFAULT_CONTEXT}; use /api/chat"
    ]


def _check_num_ctx(body: dict[str, Any], size: int, context_length: int | None) -> list[str]:
    options = body.get("options")
    if not isinstance(options, dict):
        options = {}
    num_ctx = options.get("num_ctx")
    needed = estimate(size, options.get("num_predict"))
    if not isinstance(num_ctx, int) or isinstance(num_ctx, bool):
        return [
            f"the request has no options.num_ctx, so Ollama would use its default of"
            f" {DEFAULT_CONTEXT} tokens and silently truncate (it needs about {needed})"
        ]
    problems = []
    if num_ctx < needed:
        problems.append(
            f"options.num_ctx is {num_ctx} but the request needs about {needed} tokens"
            " (a quarter of its bytes plus num_predict); Ollama would silently truncate it"
        )
    if context_length is not None and num_ctx > context_length:
        problems.append(
            f"options.num_ctx is {num_ctx}, more than the model's context length"
            f" ({context_length})"
        )
    return problems


def _check_ollama_messages(messages: list[Any]) -> list[str]:
    problems = []
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            continue  # check_tool_calls has said so
        where = f"messages[{i}]"
        for j, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                problems.append(f"{where}.tool_calls[{j}] has no function name")
                continue
            if not isinstance(function.get("arguments"), dict):
                problems.append(
                    f"{where}.tool_calls[{j}] has arguments that are not an object"
                    " (Ollama rejects them)"
                )
            if isinstance(call.get("id"), str):
                names[call["id"]] = function["name"]
        if message.get("role") == "tool":
            expected = names.get(str(message.get("tool_call_id")))
            if expected is not None and message.get("tool_name") != expected:
                problems.append(
                    f"{where} answers a call of {expected!r} but its tool_name is"
                    f" {message.get('tool_name')!r}"
                )
    return problems


# -- answers ----------------------------------------------------------------


def render_ollama_error(message: str) -> bytes:
    return _dump({"error": message})


def created_at(created: int) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render_ollama_whole(reply: ResolvedReply, model: str, created: int) -> bytes:
    """The non-streaming ``/api/chat`` answer."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.reasoning:
        message["thinking"] = reply.reasoning
    if reply.calls:
        message["tool_calls"] = [_call(index, call) for index, call in enumerate(reply.calls)]
    return _dump(_final(reply, model, created, message))


def render_ollama_chunks(
    reply: ResolvedReply, model: str, created: int, *, chunk_chars: int
) -> list[bytes]:
    """The lines of a streamed ``/api/chat`` answer, the ``done`` one last."""
    stamp = created_at(created)
    messages: list[dict[str, Any]] = []
    messages += [{"role": "assistant", "content": "", "thinking": piece}
                 for piece in _split(reply.reasoning, chunk_chars)]
    messages += [{"role": "assistant", "content": piece}
                 for piece in _split(reply.text, chunk_chars)]
    # Ollama sends each tool call whole, once it has parsed it.
    messages += [{"role": "assistant", "content": "", "tool_calls": [_call(index, call)]}
                 for index, call in enumerate(reply.calls)]
    lines = [{"model": model, "created_at": stamp, "message": m, "done": False}
             for m in messages]
    lines.append(_final(reply, model, created, {"role": "assistant", "content": ""}))
    return [_dump(line) + b"\n" for line in lines]


def render_show(model: str, context_length: int | None, capabilities: tuple[str, ...],
                modified: int) -> bytes:
    info: dict[str, Any] = {"general.architecture": ARCHITECTURE,
                            "general.parameter_count": 8_190_735_360}
    if context_length is not None:
        info[f"{ARCHITECTURE}.context_length"] = context_length
    return _dump({
        "modelfile": f"FROM {full_name(model)}\n",
        "parameters": "temperature 0.6",
        "template": "{{ .Prompt }}",
        "details": _details(),
        "model_info": info,
        "capabilities": list(capabilities),
        "modified_at": created_at(modified),
    })


def render_tags(models: tuple[str, ...], modified: int) -> bytes:
    return _dump({"models": [
        {"name": full_name(m), "model": full_name(m), "modified_at": created_at(modified),
         "size": 5_225_387_923, "digest": f"{n:064x}", "details": _details()}
        for n, m in enumerate(models, 1)
    ]})


def render_version() -> bytes:
    return _dump({"version": VERSION})


def _final(reply: ResolvedReply, model: str, created: int,
           message: dict[str, Any]) -> dict[str, Any]:
    # Ollama reports "stop" when the model stopped to call tools.
    reason = "stop" if reply.finish_reason == "tool_calls" else reply.finish_reason
    return {"model": model, "created_at": created_at(created), "message": message,
            "done_reason": reason, "done": True, **_DURATIONS,
            "prompt_eval_count": reply.usage.prompt_tokens,
            "eval_count": reply.usage.completion_tokens}


def _call(index: int, call: Any) -> dict[str, Any]:
    try:
        arguments = json.loads(call.arguments)
    except ValueError:
        arguments = call.arguments  # a test feeding the client a broken call
    return {"id": call.id, "function": {"index": index, "name": call.name,
                                        "arguments": arguments}}


def _details() -> dict[str, Any]:
    return {"parent_model": "", "format": "gguf", "family": ARCHITECTURE,
            "families": [ARCHITECTURE], "parameter_size": "8.2B",
            "quantization_level": "Q4_K_M"}


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
