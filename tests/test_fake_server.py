"""Tests of the scripted fake model server, with plain httpx as the client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moatcode.types import Usage
from tests.fake_server import (
    Call,
    CutStream,
    FakeModelServer,
    Fault,
    Garbage,
    RecordedRequest,
    Reply,
    SlowStream,
    Turn,
)

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    # One client for the module: building its TLS context costs ~80 ms.
    with httpx.Client(timeout=5) as client:
        yield client


def chat(
    client: httpx.Client, server: FakeModelServer, *, stream: bool = False, **fields: Any
) -> httpx.Response:
    body = {"model": "fake-model", "messages": USER, "stream": stream, **fields}
    return client.post(f"{server.url}/chat/completions", json=body)


def parse_sse(text: str) -> list[Any]:
    """The data of each event, parsed as JSON except the final ``[DONE]``."""
    assert text.endswith("\n\n")
    events: list[Any] = []
    for block in text[:-2].split("\n\n"):
        assert block.startswith("data: "), block
        data = block.removeprefix("data: ")
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


def deltas(events: list[Any]) -> list[dict[str, Any]]:
    return [e["choices"][0]["delta"] for e in events[:-1] if e["choices"]]


# -- answers ----------------------------------------------------------------


def test_non_streaming_reply_is_one_chat_completion(client: httpx.Client) -> None:
    with FakeModelServer([Reply(text="Hello there.", reasoning="Greet back.")]) as server:
        response = chat(client, server)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello there.",
                    "reasoning_content": "Greet back.",
                    "tool_calls": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": len(server.requests[0].body) // 4,
            "total_tokens": len(server.requests[0].body) // 4 + 5,
            "completion_tokens": 5,  # (12 + 11 characters) // 4
        },
    }


def test_non_streaming_tool_calls_have_null_content(client: httpx.Client) -> None:
    reply = Reply(tool_calls=[Call("read_file", {"path": "x.py"}), Call("grep", "{bad")])
    usage = Usage(prompt_tokens=100, completion_tokens=7, cached_tokens=60)
    with FakeModelServer([reply, Reply(tool_calls=[Call("bash", {})], usage=usage)]) as server:
        first = chat(client, server).json()["choices"][0]
        second = chat(client, server).json()
    assert first == {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": None,
            "reasoning_content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "x.py"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "grep", "arguments": "{bad"},
                },
            ],
        },
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert second["choices"][0]["message"]["tool_calls"][0]["id"] == "call_3"
    assert second["usage"] == {
        "prompt_tokens": 100,
        "total_tokens": 107,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 60},
    }


def test_stream_of_text_and_reasoning(client: httpx.Client) -> None:
    text = "The answer is forty-two, as always."
    reasoning = "Recall the guide to the galaxy."
    with FakeModelServer([Reply(text=text, reasoning=reasoning)]) as server:
        response = chat(client, server, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["transfer-encoding"] == "chunked"
    events = parse_sse(response.text)
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        assert (event["id"], event["object"], event["created"], event["model"]) == (
            "chatcmpl-1",
            "chat.completion.chunk",
            1_700_000_000,
            "fake-model",
        )
        assert "usage" not in event
    parts = deltas(events)
    assert parts[0] == {"role": "assistant", "content": ""}
    content = [d["content"] for d in parts[1:] if "content" in d]
    thought = [d["reasoning_content"] for d in parts[1:] if "reasoning_content" in d]
    assert len(content) > 2
    assert len(thought) > 2
    assert "".join(content) == text
    assert "".join(thought) == reasoning
    assert [e["choices"][0]["finish_reason"] for e in events[:-1]] == [None] * (len(events) - 2) + [
        "stop"
    ]
    assert parts[-1] == {}


def test_stream_of_tool_calls_reassembles(client: httpx.Client) -> None:
    arguments = {"path": "src/app.py", "old": 'print("a")', "new": "print('b')\n"}
    reply = Reply(
        text="Editing.",
        tool_calls=[Call("edit_file", arguments), Call("bash", '{"command": "ls"'), Call("x", "")],
    )
    with FakeModelServer([reply]) as server:
        events = parse_sse(chat(client, server, stream=True).text)
    calls: dict[int, dict[str, Any]] = {}
    arg_chunks: dict[int, int] = {}
    for delta in deltas(events):
        for piece in delta.get("tool_calls", []):
            index = piece["index"]
            if index not in calls:
                # The first piece of each call carries its id, type and name.
                assert set(piece) == {"index", "id", "type", "function"}
                calls[index] = {"id": piece["id"], "name": piece["function"]["name"], "args": ""}
                arg_chunks[index] = 0
            else:
                assert set(piece) == {"index", "function"}
                assert set(piece["function"]) == {"arguments"}
                arg_chunks[index] += 1
            calls[index]["args"] += piece["function"]["arguments"]
    assert calls == {
        0: {"id": "call_1", "name": "edit_file", "args": json.dumps(arguments)},
        1: {"id": "call_2", "name": "bash", "args": '{"command": "ls"'},
        2: {"id": "call_3", "name": "x", "args": ""},
    }
    assert json.loads(calls[0]["args"]) == arguments
    assert arg_chunks[0] > 2
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_usage_chunk_when_asked(client: httpx.Client) -> None:
    reply = Reply(text="Cut short", finish_reason="length", usage=Usage(50, 3))
    with FakeModelServer([reply]) as server:
        response = chat(client, server, stream=True, stream_options={"include_usage": True})
    events = parse_sse(response.text)
    assert events[-1] == "[DONE]"
    assert events[-2] == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [],
        "usage": {"prompt_tokens": 50, "total_tokens": 53, "completion_tokens": 3},
    }
    assert events[-3]["choices"][0]["finish_reason"] == "length"
    assert all(event["usage"] is None for event in events[:-2])


def test_every_request_is_recorded_with_its_exact_bytes(client: httpx.Client) -> None:
    raw = b'{"model": "fake-model",  "messages": [{"role": "user", "content": "hi"}]}'
    with FakeModelServer([Reply(text="ok")]) as server:
        client.get(f"{server.url}/models")
        client.post(
            f"{server.url}/chat/completions?x=1",
            content=raw,
            headers={"Content-Type": "application/json", "X-Trace": "t1"},
        )
    models, chat_request = server.requests
    assert (models.method, models.path, models.body, models.json) == (
        "GET",
        "/v1/models",
        b"",
        None,
    )
    assert chat_request == RecordedRequest(
        method="POST",
        path="/v1/chat/completions?x=1",
        headers=chat_request.headers,
        body=raw,
        json=json.loads(raw),
    )
    assert chat_request.headers["x-trace"] == "t1"
    assert chat_request.headers["content-type"] == "application/json"


def test_chunked_request_body_is_read(client: httpx.Client) -> None:
    body = json.dumps({"model": "fake-model", "messages": USER}).encode()
    with FakeModelServer([Reply(text="ok")]) as server:
        response = client.post(
            f"{server.url}/chat/completions", content=iter([body[:10], body[10:]])
        )
    assert response.status_code == 200
    assert server.requests[0].body == body


def test_expectation_passes_and_fails(client: httpx.Client) -> None:
    def wants_tools(request: dict[str, Any]) -> None:
        assert request.get("tools"), "the request offers no tools"

    seen: list[dict[str, Any]] = []
    server = FakeModelServer([Reply(text="a", expect=seen.append), Reply(expect=wants_tools)])
    with pytest.raises(AssertionError) as failure, server:
        assert chat(client, server).status_code == 200
        failed = chat(client, server)
    assert seen == [server.requests[0].json]
    problem = (
        "request 2 (POST /v1/chat/completions) failed the expectation of turn 2:"
        " AssertionError: the request offers no tools"
    )
    assert str(failure.value).startswith(f"the fake model server saw problems:\n- {problem}")
    assert (failed.status_code, failed.json()["error"]["message"]) == (
        500,
        f"fake model server: {server.problems[0]}",
    )


def test_turns_can_be_added_later(client: httpx.Client) -> None:
    with FakeModelServer() as server:
        server.add(Reply(text="one"))
        first = chat(client, server).json()
        server.add(Reply(text="two"))
        second = chat(client, server).json()
    assert [first["choices"][0]["message"]["content"], second["id"]] == ["one", "chatcmpl-2"]


# -- faults -----------------------------------------------------------------


def test_fault_consumes_its_turn(client: httpx.Client) -> None:
    turns: list[Turn] = [
        Fault(503),
        Fault(429, retry_after=2),
        Fault(500, body="boom"),
        Reply(text="ok"),
    ]
    with FakeModelServer(turns) as server:
        unavailable = chat(client, server, stream=True)
        limited = chat(client, server)
        boom = chat(client, server)
        ok = chat(client, server)
    assert unavailable.status_code == 503
    assert unavailable.json() == {
        "error": {
            "message": "fake model server: scripted fault",
            "type": "ServiceUnavailableError",
            "param": None,
            "code": 503,
        }
    }
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert limited.json()["error"]["type"] == "TooManyRequestsError"
    assert (boom.status_code, boom.text, boom.headers["content-type"]) == (
        500,
        "boom",
        "text/plain; charset=utf-8",
    )
    assert ok.json()["choices"][0]["message"]["content"] == "ok"


def test_cut_stream_drops_the_connection(client: httpx.Client) -> None:
    turns: list[Turn] = [CutStream(after_chunks=3), CutStream(), Reply(text="whole")]
    with FakeModelServer(turns) as server:
        received: list[bytes] = []
        body = {"model": "fake-model", "messages": USER, "stream": True}
        with (
            pytest.raises(httpx.RemoteProtocolError),
            client.stream("POST", f"{server.url}/chat/completions", json=body) as response,
        ):
            assert response.status_code == 200
            received.extend(response.iter_bytes())
        with pytest.raises(httpx.RemoteProtocolError):
            chat(client, server)
        retried = chat(client, server, stream=True)
    text = b"".join(received).decode()
    assert text.count("data: ") == 3
    assert "[DONE]" not in text
    assert parse_sse(retried.text)[-1] == "[DONE]"


def test_slow_stream_waits_between_chunks(client: httpx.Client) -> None:
    reply = Reply(text="slow words here")  # role, 2 content, finish, [DONE]: 4 waits
    with FakeModelServer([SlowStream(reply, delay_s=0.05), SlowStream(reply, 0.1)]) as server:
        started = time.monotonic()
        streamed = chat(client, server, stream=True)
        middle = time.monotonic()
        whole = chat(client, server)
        ended = time.monotonic()
    events = parse_sse(streamed.text)
    assert "".join(d.get("content", "") for d in deltas(events)) == "slow words here"
    assert middle - started >= 0.2
    assert ended - middle >= 0.1
    assert whole.json()["choices"][0]["message"]["content"] == "slow words here"


def test_slow_stream_read_timeout(client: httpx.Client) -> None:
    with FakeModelServer([SlowStream(Reply(text="late"), delay_s=2)]) as server:
        with pytest.raises(httpx.ReadTimeout):
            client.post(
                f"{server.url}/chat/completions",
                json={"model": "fake-model", "messages": USER, "stream": True},
                timeout=httpx.Timeout(5, read=0.1),
            )
        started = time.monotonic()
    # Stopping ends the abandoned slow stream at once instead of waiting it out.
    assert time.monotonic() - started < 1
    assert server.problems == []


def test_garbage_is_a_200_that_does_not_parse(client: httpx.Client) -> None:
    turns: list[Turn] = [
        Garbage(),
        Garbage(body=b"data: {not json\n\n"),
        Garbage(b"x", content_type="text/x"),
    ]
    with FakeModelServer(turns) as server:
        plain = chat(client, server)
        streamed = chat(client, server, stream=True)
        typed = chat(client, server)
    assert (plain.status_code, plain.headers["content-type"]) == (200, "application/json")
    with pytest.raises(json.JSONDecodeError):
        plain.json()
    assert streamed.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert streamed.content == b"data: {not json\n\n"
    assert (typed.headers["content-type"], typed.content) == ("text/x", b"x")


# -- strictness -------------------------------------------------------------


def test_unscripted_request_fails(client: httpx.Client) -> None:
    server = FakeModelServer([Reply(text="only")])
    with pytest.raises(AssertionError), server:
        chat(client, server)
        extra = chat(client, server)
    assert extra.status_code == 500
    message = (
        "request 2 (POST /v1/chat/completions) arrived with no scripted turn left"
        " (1 scripted, all used)"
    )
    assert extra.json()["error"]["message"] == f"fake model server: {message}"
    assert server.problems == [message]


def test_with_block_checks_and_names_unused_turns(client: httpx.Client) -> None:
    server = FakeModelServer([Reply(text="used"), Reply(tool_calls=[Call("grep")]), Fault(429)])
    with pytest.raises(AssertionError) as failure, server:
        chat(client, server)
    assert str(failure.value) == (
        "the fake model server saw problems:\n"
        "- 2 scripted turn(s) never requested: turn 2: Reply(tool_calls=[grep]);"
        " turn 3: Fault(status=429, body=None, retry_after=None)"
    )


def test_with_block_does_not_hide_the_test_exception() -> None:
    with pytest.raises(KeyError), FakeModelServer([Reply(text="unused")]):
        raise KeyError("the real failure")


def test_tool_messages_must_answer_calls(client: httpx.Client) -> None:
    def call(call_id: str) -> dict[str, Any]:
        return {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}

    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [call("call_1"), call("call_2")]},
        {"role": "tool", "tool_call_id": "call_1", "content": "one"},
        {"role": "tool", "tool_call_id": "call_9", "content": "stray"},
        {"role": "assistant", "content": "", "tool_calls": [call("call_3")]},
        {"role": "tool", "tool_call_id": "call_2", "content": "late"},
    ]
    server = FakeModelServer()
    with pytest.raises(AssertionError) as failure, server:
        response = chat(client, server, messages=messages)
    assert response.status_code == 400
    where = "request 1 (POST /v1/chat/completions)"
    assert server.problems == [
        f"{where}: messages[3] answers tool_call_id 'call_9', which no earlier assistant"
        " tool call has",
        f"{where}: messages[1] calls tool_call_id 'call_2', which no tool message answers"
        " before the next assistant message or the end",
        f"{where}: messages[5] answers tool_call_id 'call_2' again, or after a later"
        " assistant message",
        f"{where}: messages[4] calls tool_call_id 'call_3', which no tool message answers"
        " before the next assistant message or the end",
    ]
    assert str(failure.value) == "the fake model server saw problems:\n" + "\n".join(
        f"- {p}" for p in server.problems
    )


def test_answered_calls_pass(client: httpx.Client) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
        {"role": "assistant", "content": "finished"},
        {"role": "user", "content": "thanks"},
    ]
    with FakeModelServer([Reply(text="welcome")]) as server:
        assert chat(client, server, messages=messages).status_code == 200


def test_malformed_bodies_are_flagged(client: httpx.Client) -> None:
    server = FakeModelServer()
    with pytest.raises(AssertionError), server:
        url = f"{server.url}/chat/completions"
        statuses = [
            client.post(url, content=b"{not json").status_code,
            client.post(url, json={"messages": USER}).status_code,
            client.post(url, json={"model": "fake-model"}).status_code,
            client.post(url, json=[1]).status_code,
        ]
    assert statuses == [400, 400, 400, 400]
    assert [p.split(": ", 1)[1] for p in server.problems] == [
        "the body is not valid JSON (Expecting property name enclosed in double quotes:"
        " line 1 column 2 (char 1))",
        'the body has no "model" string',
        'the body has no "messages" list',
        "the body is JSON but not an object: list",
    ]


# -- server behaviour -------------------------------------------------------


def test_api_key_is_required_when_set(client: httpx.Client) -> None:
    with FakeModelServer([Reply(text="in")], api_key="sekrit") as server:
        missing = chat(client, server)
        wrong = client.get(f"{server.url}/models", headers={"Authorization": "Bearer nope"})
        right = client.post(
            f"{server.url}/chat/completions",
            json={"model": "fake-model", "messages": USER},
            headers={"Authorization": "Bearer sekrit"},
        )
    assert (missing.status_code, missing.json()) == (401, {"error": "Unauthorized"})
    assert wrong.status_code == 401
    assert right.status_code == 200


def test_api_key_llamacpp_shape(client: httpx.Client) -> None:
    with FakeModelServer(api_key="k", flavor="llamacpp") as server:
        response = client.get(f"{server.url}/models")
    assert (response.status_code, response.json()) == (
        401,
        {"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}},
    )


def test_unknown_model_is_404(client: httpx.Client) -> None:
    with FakeModelServer([Reply(text="ok")], reject_unknown_models=True) as server:
        unknown = chat(client, server, model="qwen-giant")
        known = chat(client, server)
    assert (unknown.status_code, unknown.json()) == (
        404,
        {
            "error": {
                "message": "The model `qwen-giant` does not exist.",
                "type": "NotFoundError",
                "param": None,
                "code": 404,
            }
        },
    )
    assert known.status_code == 200


def test_context_length_is_enforced(client: httpx.Client) -> None:
    with FakeModelServer([Reply(text="fits")], context_window=100) as server:
        fits = chat(client, server, max_tokens=50)
        too_long = chat(client, server, max_tokens=90)
    prompt = len(server.requests[1].body) // 4
    assert fits.status_code == 200
    assert (too_long.status_code, too_long.json()) == (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 100 tokens. However, you"
                f" requested {prompt + 90} tokens ({prompt} in the messages, 90 in the"
                " completion). Please reduce the length of the messages or completion.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
    )


def test_model_list_vllm(client: httpx.Client) -> None:
    with FakeModelServer(models=["a", "b"], context_window=32768) as server:
        models = client.get(f"{server.url}/models").json()
        props = client.get(server.url.removesuffix("/v1") + "/props")
    assert models == {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": 1_700_000_000,
                "owned_by": "vllm",
                "root": name,
                "parent": None,
                "max_model_len": 32768,
            }
            for name in ["a", "b"]
        ],
    }
    assert props.status_code == 404


def test_model_list_and_props_llamacpp(client: httpx.Client) -> None:
    with FakeModelServer(models=["qwen"], context_window=8192, flavor="llamacpp") as server:
        models = client.get(f"{server.url}/models").json()
        props = client.get(server.url.removesuffix("/v1") + "/props").json()
    assert models == {
        "object": "list",
        "data": [
            {"id": "qwen", "object": "model", "created": 1_700_000_000, "owned_by": "llamacpp"}
        ],
    }
    assert props == {
        "default_generation_settings": {"n_ctx": 8192},
        "total_slots": 1,
        "model_path": "/models/qwen.gguf",
    }


def test_stop_ends_idle_keep_alive_connections(client: httpx.Client) -> None:
    server = FakeModelServer([Reply(text="a")]).start()
    chat(client, server)  # the client keeps this connection open
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1
    assert [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("fake-model-server") or "process_request" in t.name
    ] == []
    server.check()


def test_fixture_serves(fake_model: FakeModelServer, client: httpx.Client) -> None:
    fake_model.add(Reply(text="from the fixture"))
    response = chat(client, fake_model)
    assert response.json()["choices"][0]["message"]["content"] == "from the fixture"
