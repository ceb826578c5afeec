from __future__ import annotations

import functools
import json
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moatcode.errors import (
    ContextLengthExceeded,
    ModelAuthError,
    ModelProtocolError,
    ModelServerError,
    ModelUnreachable,
    UnknownModel,
)
from moatcode.models.base import (
    ModelDelta,
    ModelRequest,
    ModelTurn,
    ReasoningChunk,
    RequestSent,
    Retrying,
    TextChunk,
)
from moatcode.models.ollama import OllamaClient, detect_ollama, ollama_root
from moatcode.models.probe import probe_tool_protocol
from moatcode.types import Message, ToolCall, ToolSpec, Usage
from tests.fake_server import Call, CutStream, FakeModelServer, Fault, Garbage, Reply

TOOLS = (ToolSpec("read_file", "Read.", {"type": "object"}),)
REQUEST = ModelRequest((Message("system", "sys"), Message("user", "hi")), TOOLS, max_tokens=64)

_open: list[OllamaClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


@pytest.fixture
def ollama() -> Iterator[FakeModelServer]:
    with FakeModelServer(flavor="ollama", context_window=40960) as server:
        yield server


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs ~50 ms a client; every client here can share one.
    return ssl.create_default_context()


def http_client() -> httpx.Client:
    return httpx.Client(timeout=5, verify=_tls())


def client_for(server: FakeModelServer, *, model: str = "fake-model",
               sleeps: list[float] | None = None, **kw: Any) -> OllamaClient:
    recorded = sleeps if sleeps is not None else []
    client = OllamaClient(server.root_url, model, http_client(), sleep=recorded.append, **kw)
    _open.append(client)
    return client


def drain(deltas: Iterator[ModelDelta]) -> tuple[list[ModelDelta], ModelTurn]:
    items = list(deltas)
    assert isinstance(items[-1], ModelTurn)
    return items, items[-1]


def sent_json(server: FakeModelServer, n: int = 0) -> dict[str, Any]:
    body = server.chat_requests[n].json
    assert isinstance(body, dict)
    return body


# -- answers ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_text_reasoning_tool_calls_and_usage(ollama: FakeModelServer, stream: bool) -> None:
    ollama.add(Reply(text="Let me look.", reasoning="think first",
                     tool_calls=[Call("read_file", {"path": "a.py"}), Call("grep", {"q": "é"})],
                     usage=Usage(100, 20)))
    items, turn = drain(client_for(ollama, stream=stream).stream(REQUEST))
    assert turn == ModelTurn(
        text="Let me look.",
        tool_calls=(ToolCall("call_1_0", "read_file", '{"path": "a.py"}'),
                    ToolCall("call_1_1", "grep", '{"q": "é"}')),
        usage=Usage(100, 20), finish_reason="tool_calls", reasoning="think first",
        response_sha256=turn.response_sha256)
    assert len(turn.response_sha256) == 64
    sent = items[0]
    assert sent == RequestSent(f"{ollama.root_url}/api/chat", "fake-model",
                               ollama.chat_requests[0].body)
    assert sent_json(ollama)["stream"] is stream
    streamed = [i for i in items[1:-1]]
    if stream:
        assert "".join(i.text for i in streamed if isinstance(i, TextChunk)) == "Let me look."
        assert "".join(i.text for i in streamed if isinstance(i, ReasoningChunk)) == "think first"
        assert len(streamed) > 2
    else:
        assert streamed == []


def test_plain_answer_and_length_finish(ollama: FakeModelServer) -> None:
    ollama.add(Reply(text="Done."), Reply(text="cut", finish_reason="length"))
    client = client_for(ollama)
    _, first = drain(client.stream(REQUEST))
    _, second = drain(client.stream(REQUEST))
    body_tokens = len(ollama.chat_requests[0].body) // 4
    assert first == ModelTurn("Done.", (), Usage(body_tokens, 1), "stop",
                              response_sha256=first.response_sha256)
    assert (second.text, second.finish_reason) == ("cut", "length")


def test_request_body_is_stable_with_messages_last(ollama: FakeModelServer) -> None:
    ollama.add(Reply(text="ok"))
    drain(client_for(ollama).stream(ModelRequest(REQUEST.messages, TOOLS, 64, 0.2)))
    assert ollama.chat_requests[0].body == (
        b'{"model":"fake-model","stream":true,'
        b'"options":{"num_ctx":32768,"num_predict":64,"temperature":0.2},'
        b'"tools":[{"type":"function","function":{"name":"read_file","description":"Read.",'
        b'"parameters":{"type":"object"}}}],'
        b'"messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"}]}'
    )


def test_history_is_sent_in_ollama_shapes_and_only_appended(ollama: FakeModelServer) -> None:
    ollama.add(Reply(tool_calls=[Call("read_file", {"path": "a.py", "n": 2})]),
               Reply(text="It is empty."))
    client = client_for(ollama)
    _, turn = drain(client.stream(REQUEST))
    call = turn.tool_calls[0]
    history = (*REQUEST.messages, turn.as_message(),
               Message("tool", "(empty file)", tool_call_id=call.id))
    drain(client.stream(ModelRequest(history, TOOLS, 64)))
    first, second = (r.body for r in ollama.chat_requests)
    assert second.startswith(first[:-2])
    assert sent_json(ollama, 1)["messages"][2:] == [
        {"role": "assistant", "content": "",
         "tool_calls": [{"id": "call_1_0", "function": {
             "name": "read_file", "arguments": {"path": "a.py", "n": 2}}}]},
        {"role": "tool", "content": "(empty file)", "tool_name": "read_file",
         "tool_call_id": "call_1_0"},
    ]


def test_call_ids_continue_past_those_in_a_resumed_history(ollama: FakeModelServer) -> None:
    earlier = Message("assistant", "", (ToolCall("call_7_0", "read_file", "{}"),))
    history = (*REQUEST.messages, earlier, Message("tool", "x", tool_call_id="call_7_0"))
    ollama.add(Reply(tool_calls=[Call("read_file", {})]))
    _, turn = drain(client_for(ollama).stream(ModelRequest(history, TOOLS, 64)))
    assert [c.id for c in turn.tool_calls] == ["call_8_0"]


def test_unreadable_arguments_are_sent_as_an_empty_object(ollama: FakeModelServer) -> None:
    broken = Message("assistant", "", (ToolCall("c1", "read_file", "{oops", invalid="bad"),))
    history = (*REQUEST.messages, broken, Message("tool", "invalid", tool_call_id="c1"))
    ollama.add(Reply(text="sorry"))
    drain(client_for(ollama).stream(ModelRequest(history, TOOLS, 64)))
    calls = sent_json(ollama)["messages"][2]["tool_calls"]
    assert calls == [{"id": "c1", "function": {"name": "read_file", "arguments": {}}}]


# -- num_ctx ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_window", "setting", "num_ctx", "window"),
    [
        (40960, None, 32768, 40960),  # the default cap
        (8192, None, 8192, 8192),  # a small model's whole window
        (131072, 65536, 65536, 65536),  # the setting
        (None, None, 32768, None),  # /api/show does not say
        (None, 16384, 16384, 16384),
    ],
)
def test_num_ctx_and_context_window(model_window: int | None, setting: int | None,
                                    num_ctx: int, window: int | None) -> None:
    with FakeModelServer([Reply(text="a"), Reply(text="b")], flavor="ollama",
                         context_window=model_window) as server:
        client = client_for(server, num_ctx=setting)
        assert client.context_window() == window
        drain(client.stream(REQUEST))
        drain(client.stream(REQUEST))
    assert [r.json["options"]["num_ctx"] for r in server.chat_requests] == [num_ctx, num_ctx]
    shows = [r for r in server.requests if r.path == "/api/show"]
    assert [r.json for r in shows] == [{"model": "fake-model"}]


def test_num_ctx_is_raised_only_when_a_request_would_not_fit(ollama: FakeModelServer) -> None:
    big = ModelRequest((*REQUEST.messages, Message("user", "x" * 12_000)), TOOLS, 64)
    ollama.add(Reply(text="small"), Reply(text="big"), Reply(text="small again"))
    client = client_for(ollama, num_ctx=2048)
    for request in (REQUEST, big, REQUEST):
        drain(client.stream(request))
    assert [r.json["options"]["num_ctx"] for r in ollama.chat_requests] == [2048, 4096, 4096]
    assert client.num_ctx == 4096
    assert client.context_window() == 2048  # the setting still guides compaction


def test_raising_stops_at_the_model_maximum() -> None:
    # About 9100 tokens: the next power of two would be 16384.
    request = ModelRequest((Message("user", "x" * 36_000),), (), 64)
    with FakeModelServer([Reply(text="ok")], flavor="ollama", context_window=10_000) as server:
        drain(client_for(server, num_ctx=4096).stream(request))
    assert server.chat_requests[0].json["options"]["num_ctx"] == 10_000


def test_a_request_past_the_model_maximum_is_refused_unsent(ollama: FakeModelServer) -> None:
    request = ModelRequest((Message("user", "x" * 200_000),), (), 64)
    with pytest.raises(ContextLengthExceeded, match="fake-model takes at most 40960"):
        drain(client_for(ollama).stream(request))
    assert ollama.chat_requests == []


# -- thinking ---------------------------------------------------------------


@pytest.mark.parametrize(("capabilities", "think", "sent"), [
    (("completion", "tools", "thinking"), None, True),
    (("completion", "tools"), None, None),
    (("completion", "tools", "thinking"), False, False),
    (("completion", "tools", "thinking"), "high", "high"),
])
def test_think_follows_the_capabilities_unless_set(
        capabilities: tuple[str, ...], think: bool | str | None, sent: bool | str | None,
) -> None:
    with FakeModelServer([Reply(text="ok")], flavor="ollama",
                         capabilities=capabilities) as server:
        drain(client_for(server, think=think).stream(REQUEST))
    assert server.chat_requests[0].json.get("think") == sent


def test_tools_refused_by_the_model_are_a_protocol_error() -> None:
    with FakeModelServer(flavor="ollama", capabilities=("completion",)) as server, \
            pytest.raises(ModelProtocolError, match="HTTP 400 .*does not support tools"):
        drain(client_for(server).stream(REQUEST))


# -- retries and errors -----------------------------------------------------


def test_429_500_cut_stream_and_stream_error_are_retried(ollama: FakeModelServer) -> None:
    error_line = Garbage(body=b'{"error":"an error was encountered while running the model"}\n',
                         content_type="application/x-ndjson")
    ollama.add(Fault(429, retry_after=3), Fault(500), CutStream(after_chunks=2), error_line,
               Reply(text="whole"))
    sleeps: list[float] = []
    items, turn = drain(client_for(ollama, sleeps=sleeps, backoff_s=0.5).stream(REQUEST))
    retries = [i for i in items if isinstance(i, Retrying)]
    cut = retries[2].reason
    assert cut.startswith("connection dropped: ")
    assert retries == [
        Retrying(1, "rate limited (HTTP 429)", 3.0),
        Retrying(2, "HTTP 500: fake model server: scripted fault", 1.0),
        Retrying(3, cut, 2.0),
        Retrying(4, 'error from the server: "an error was encountered while running the model"',
                 4.0),
    ]
    assert sleeps == [3.0, 1.0, 2.0, 4.0]
    assert turn.text == "whole"
    assert sum(isinstance(i, RequestSent) for i in items) == 1


def test_a_stream_that_ends_unfinished_is_retried(ollama: FakeModelServer) -> None:
    partial = Garbage(body=b'{"message":{"role":"assistant","content":"par"},"done":false}\n',
                      content_type="application/x-ndjson")
    ollama.add(partial, Reply(text="whole"))
    items, turn = drain(client_for(ollama).stream(REQUEST))
    assert items[1:-1] == [TextChunk("par"),
                           Retrying(1, "stream ended before the answer was complete", 1.0),
                           TextChunk("whole")]
    assert turn.text == "whole"


def test_gives_up_after_max_retries(ollama: FakeModelServer) -> None:
    ollama.add(Fault(503), Fault(503), Fault(503))
    with pytest.raises(ModelServerError, match="kept failing .* after 2 retries"):
        drain(client_for(ollama, max_retries=2).stream(REQUEST))


def test_out_of_memory_names_the_setting_without_retrying(ollama: FakeModelServer) -> None:
    message = "model requires more system memory (21.4 GiB) than is available (7.6 GiB)"
    ollama.add(Fault(500, body=json.dumps({"error": message})))
    with pytest.raises(ModelServerError) as info:
        drain(client_for(ollama).stream(REQUEST))
    assert str(info.value) == (
        f"The Ollama server at {ollama.root_url} could not load fake-model with a 32768-token "
        f"context ({message}); set a smaller context window with MOAT_CONTEXT_WINDOW or "
        "model.context_window."
    )


@pytest.mark.parametrize("stream", [True, False])
def test_garbage_is_a_protocol_error(ollama: FakeModelServer, stream: bool) -> None:
    ollama.add(Garbage())
    with pytest.raises(ModelProtocolError, match="not a chat answer .*502 Bad Gateway"):
        drain(client_for(ollama, stream=stream).stream(REQUEST))


def test_context_error_from_the_server(ollama: FakeModelServer) -> None:
    ollama.add(Fault(400, body='{"error":"the input length exceeds the context length"}'))
    with pytest.raises(ContextLengthExceeded, match="input length exceeds the context length"):
        drain(client_for(ollama).stream(REQUEST))


def test_auth_error_names_the_fix() -> None:
    with FakeModelServer(flavor="ollama", api_key="secret") as server, \
            pytest.raises(ModelAuthError, match="HTTP 401. Set MOAT_API_KEY"):
        drain(client_for(server).stream(REQUEST))


def test_unknown_model_lists_the_pulled_ones() -> None:
    with FakeModelServer(flavor="ollama", models=("qwen3:8b", "llama3.2")) as server:
        client = client_for(server, model="gpt-9")
        assert client.context_window() is None
        with pytest.raises(UnknownModel) as info:
            drain(client.stream(REQUEST))
    assert info.value.available == ["qwen3:8b", "llama3.2:latest"]
    assert "'gpt-9'" in str(info.value)


def test_a_name_without_tag_is_the_latest() -> None:
    with FakeModelServer([Reply(text="ok")], flavor="ollama", models=("llama3.2",),
                         context_window=8192) as server:
        client = client_for(server, model="llama3.2:latest")
        assert client.context_window() == 8192
        drain(client.stream(REQUEST))


def test_nothing_listening_fails_fast_with_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OllamaClient(f"http://127.0.0.1:{port}/v1", "m", http_client())
    _open.append(client)
    assert client.context_window() is None
    with pytest.raises(ModelUnreachable, match=f"No model server answers at http://127.0.0.1:"
                                               f"{port} "):
        drain(client.stream(REQUEST))


# -- detection --------------------------------------------------------------


def test_detect_ollama() -> None:
    with http_client() as http:
        with FakeModelServer(flavor="ollama") as server:
            assert detect_ollama(http, server.url) is True
            assert detect_ollama(http, server.root_url + "/") is True
        with FakeModelServer() as server, FakeModelServer(flavor="llamacpp") as other:
            assert detect_ollama(http, server.url) is False
            assert detect_ollama(http, other.url) is False
            stopped = server.url
        assert detect_ollama(http, stopped) is False  # nothing listens


def test_ollama_root() -> None:
    assert ollama_root("http://h:11434/v1") == "http://h:11434"
    assert ollama_root("http://h:11434/v1/") == "http://h:11434"
    assert ollama_root("http://h:11434") == "http://h:11434"
    assert ollama_root("https://proxy/ollama/v1") == "https://proxy/ollama"


# -- with the rest of the models layer --------------------------------------


@pytest.mark.parametrize(("capabilities", "protocol"), [
    (("completion", "tools"), "native"),
    (("completion",), "text"),  # Ollama refuses the tools field
])
def test_tool_protocol_probe(capabilities: tuple[str, ...], protocol: str) -> None:
    turns = [Reply(tool_calls=[Call("ping", {})])] if protocol == "native" else []
    with FakeModelServer(turns, flavor="ollama", capabilities=capabilities) as server:
        result = probe_tool_protocol(client_for(server))
    assert result.protocol == protocol
    assert result.sent is not None and result.sent.body == server.chat_requests[0].body
