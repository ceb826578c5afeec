"""Tests of the fake model server's Ollama flavor, with plain httpx as the client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moatcode.types import Usage
from tests.fake_server import Call, CutStream, FakeModelServer, Fault, Garbage, Reply, Turn

USER = [{"role": "user", "content": "hi"}]
STAMP = "2023-11-14T22:13:20.000000Z"  # the default ``created``
TIMINGS = {"total_duration": 1_200_000, "load_duration": 100_000,
           "prompt_eval_duration": 400_000, "eval_duration": 700_000}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def chat(client: httpx.Client, server: FakeModelServer, *, num_ctx: int | None = 4096,
         **fields: Any) -> httpx.Response:
    body: dict[str, Any] = {"model": "fake-model", "messages": USER}
    if num_ctx is not None:
        body["options"] = {"num_ctx": num_ctx}
    body.update(fields)
    return client.post(f"{server.root_url}/api/chat", json=body)


def parse_ndjson(text: str) -> list[Any]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text[:-1].split("\n")]


# -- the model endpoints ----------------------------------------------------


def test_version_tags_show_and_models(client: httpx.Client) -> None:
    with FakeModelServer(flavor="ollama", models=("qwen3:8b", "llama3.2"),
                         context_window=40960) as server:
        root = server.root_url
        version = client.get(f"{root}/api/version").json()
        tags = client.get(f"{root}/api/tags").json()
        show = client.post(f"{root}/api/show", json={"model": "llama3.2"}).json()
        old_field = client.post(f"{root}/api/show", json={"name": "qwen3:8b"})
        missing = client.post(f"{root}/api/show", json={"model": "gpt-9"})
        models = client.get(f"{server.url}/models").json()
        elsewhere = client.get(f"{root}/api/ps")
    assert version == {"version": "0.12.6"}
    assert [(m["name"], m["model"]) for m in tags["models"]] == [
        ("qwen3:8b", "qwen3:8b"), ("llama3.2:latest", "llama3.2:latest")]
    assert show["model_info"] == {"general.architecture": "qwen3",
                                  "general.parameter_count": 8_190_735_360,
                                  "qwen3.context_length": 40960}
    assert show["capabilities"] == ["completion", "tools"]
    assert old_field.status_code == 200
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'gpt-9' not found"})
    assert [(m["id"], m["owned_by"]) for m in models["data"]] == [
        ("qwen3:8b", "library"), ("llama3.2:latest", "library")]
    assert (elsewhere.status_code, elsewhere.text) == (404, "404 page not found")


def test_show_without_a_context_length(client: httpx.Client) -> None:
    with FakeModelServer(flavor="ollama", capabilities=("completion", "thinking")) as server:
        show = client.post(f"{server.root_url}/api/show", json={"model": "fake-model"}).json()
    assert "qwen3.context_length" not in show["model_info"]
    assert show["capabilities"] == ["completion", "thinking"]


def test_other_flavors_have_no_native_api(client: httpx.Client) -> None:
    with FakeModelServer() as server:
        assert client.get(f"{server.root_url}/api/version").status_code == 404


# -- answers ----------------------------------------------------------------


def test_stream_is_ndjson_by_default(client: httpx.Client) -> None:
    reply = Reply(text="Hello there.", reasoning="Greet.",
                  tool_calls=[Call("read_file", {"path": "x.py"}), Call("grep", "{bad")])
    with FakeModelServer([reply], flavor="ollama") as server:
        response = chat(client, server)
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = parse_ndjson(response.text)
    size = len(server.chat_requests[0].body)
    head = {"model": "fake-model", "created_at": STAMP}
    assert lines == [
        {**head, "message": {"role": "assistant", "content": "", "thinking": "Greet."},
         "done": False},
        {**head, "message": {"role": "assistant", "content": "Hello th"}, "done": False},
        {**head, "message": {"role": "assistant", "content": "ere."}, "done": False},
        {**head, "message": {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "function": {"index": 0, "name": "read_file",
                                          "arguments": {"path": "x.py"}}}]}, "done": False},
        {**head, "message": {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_2", "function": {"index": 1, "name": "grep",
                                          "arguments": "{bad"}}]}, "done": False},
        {**head, "message": {"role": "assistant", "content": ""}, "done_reason": "stop",
         "done": True, **TIMINGS, "prompt_eval_count": size // 4,
         "eval_count": (12 + 6 + 16 + 4) // 4},
    ]


def test_whole_answer_when_not_streamed(client: httpx.Client) -> None:
    reply = Reply(text="Cut", finish_reason="length", usage=Usage(100, 7))
    with FakeModelServer([reply], flavor="ollama") as server:
        response = chat(client, server, stream=False)
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "model": "fake-model", "created_at": STAMP,
        "message": {"role": "assistant", "content": "Cut"},
        "done_reason": "length", "done": True, **TIMINGS,
        "prompt_eval_count": 100, "eval_count": 7,
    }


def test_faults_garbage_cuts_and_auth_in_ollama_shapes(client: httpx.Client) -> None:
    turns: list[Turn] = [Fault(503, retry_after=2), Garbage(b"<html>"), Garbage(b"x"),
                         CutStream(after_chunks=1)]
    with FakeModelServer(turns, flavor="ollama") as server:
        fault = chat(client, server)
        garbage = chat(client, server)
        whole_garbage = chat(client, server, stream=False)
        with pytest.raises(httpx.RemoteProtocolError):
            chat(client, server)
    assert (fault.status_code, fault.headers["retry-after"]) == (503, "2")
    assert fault.json() == {"error": "fake model server: scripted fault"}
    assert (garbage.headers["content-type"], garbage.text) == ("application/x-ndjson", "<html>")
    assert whole_garbage.headers["content-type"] == "application/json"
    with FakeModelServer(flavor="ollama", api_key="k") as server:
        refused = client.get(f"{server.root_url}/api/tags")
    assert (refused.status_code, refused.json()) == (401, {"error": "unauthorized"})


# -- Ollama's own refusals --------------------------------------------------


def test_unknown_model_tools_and_thinking_are_refused(client: httpx.Client) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    with FakeModelServer(flavor="ollama", capabilities=("completion",)) as server:
        unknown = chat(client, server, model="gpt-9")
        tools = chat(client, server, tools=[tool])
        think = chat(client, server, think=True)
        assert server.problems == []
    assert (unknown.status_code, unknown.json()) == (
        404, {"error": 'model "gpt-9" not found, try pulling it first'})
    assert (tools.status_code, tools.json()) == (
        400, {"error": "registry.ollama.ai/library/fake-model:latest does not support tools"})
    assert (think.status_code, think.json()) == (
        400, {"error": '"fake-model" does not support thinking'})


# -- strictness -------------------------------------------------------------


def test_missing_or_small_num_ctx_fails_the_test(client: httpx.Client) -> None:
    server = FakeModelServer([Reply(text="fits")], flavor="ollama", context_window=8192)
    with pytest.raises(AssertionError), server:
        missing = chat(client, server, num_ctx=None)
        small = chat(client, server, num_ctx=10, options={"num_ctx": 10, "num_predict": 100})
        large = chat(client, server, num_ctx=16384)
        fits = chat(client, server, num_ctx=8192)
    assert [r.status_code for r in (missing, small, large, fits)] == [400, 400, 400, 200]
    sizes = [len(r.body) // 4 for r in server.requests]
    assert server.problems == [
        "request 1 (POST /api/chat): the request has no options.num_ctx, so Ollama would use"
        f" its default of 4096 tokens and silently truncate (it needs about {sizes[0]})",
        "request 2 (POST /api/chat): options.num_ctx is 10 but the request needs about"
        f" {sizes[1] + 100} tokens (a quarter of its bytes plus num_predict); Ollama would"
        " silently truncate it",
        "request 3 (POST /api/chat): options.num_ctx is 16384, more than the model's context"
        " length (8192)",
    ]
    assert missing.json() == {"error": server.problems[0].split(": ", 1)[1]}


def test_large_requests_to_the_openai_endpoint_fail_the_test(client: httpx.Client) -> None:
    small = {"model": "fake-model", "messages": USER}
    large = {"model": "fake-model", "messages": USER, "max_tokens": 5000}
    server = FakeModelServer([Reply(text="ok")], flavor="ollama")
    with pytest.raises(AssertionError), server:
        assert client.post(f"{server.url}/chat/completions", json=small).status_code == 200
        assert client.post(f"{server.url}/chat/completions", json=large).status_code == 400
    size = len(server.requests[1].body) // 4
    assert server.problems == [
        f"request 2 (POST /v1/chat/completions): the request needs about {size + 5000} tokens,"
        " but Ollama's OpenAI-compatible endpoint ignores num_ctx and would silently truncate"
        " it to 4096; use /api/chat"
    ]


def test_tool_history_must_be_in_ollama_shapes(client: httpx.Client) -> None:
    def call(call_id: str, arguments: Any) -> dict[str, Any]:
        return {"id": call_id, "function": {"name": "read_file", "arguments": arguments}}

    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "",
         "tool_calls": [call("c1", '{"path": "a"}'), call("c2", {"path": "b"})]},
        {"role": "tool", "content": "a", "tool_call_id": "c1", "tool_name": "read_file"},
        {"role": "tool", "content": "b", "tool_call_id": "c2"},
        {"role": "assistant", "content": "", "tool_calls": [call("c3", {})]},
        {"role": "tool", "content": "c", "tool_call_id": "c3", "tool_name": "grep"},
    ]
    server = FakeModelServer(flavor="ollama")
    with pytest.raises(AssertionError), server:
        assert chat(client, server, messages=messages).status_code == 400
    where = "request 1 (POST /api/chat)"
    assert server.problems == [
        f"{where}: messages[1].tool_calls[0] has arguments that are not an object"
        " (Ollama rejects them)",
        f"{where}: messages[3] answers a call of 'read_file' but its tool_name is None",
        f"{where}: messages[5] answers a call of 'read_file' but its tool_name is 'grep'",
    ]


def test_sound_tool_history_passes(client: httpx.Client) -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "function": {"name": "read_file", "arguments": {"path": "a"}}}]},
        {"role": "tool", "content": "a", "tool_name": "read_file", "tool_call_id": "c1"},
    ]
    with FakeModelServer([Reply(text="done")], flavor="ollama") as server:
        assert chat(client, server, messages=messages, stream=False).status_code == 200


def test_unscripted_and_expectations_answer_in_ollama_shape(client: httpx.Client) -> None:
    def wants_num_ctx(body: dict[str, Any]) -> None:
        assert body["options"]["num_ctx"] == 8192

    server = FakeModelServer([Reply(text="ok", expect=wants_num_ctx)], flavor="ollama")
    with pytest.raises(AssertionError), server:
        failed = chat(client, server)
        extra = chat(client, server, num_ctx=8192)
    assert failed.status_code == 500
    assert failed.json()["error"].startswith(
        "fake model server: request 1 (POST /api/chat) failed the expectation of turn 1:")
    assert (extra.status_code, extra.json()) == (500, {"error": (
        "fake model server: request 2 (POST /api/chat) arrived with no scripted turn left"
        " (1 scripted, all used)")})
