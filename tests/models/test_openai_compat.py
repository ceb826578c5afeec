from __future__ import annotations

import json
import socket
from collections.abc import Iterator

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
from moatcode.models.openai_compat import OpenAICompatClient
from moatcode.types import Message, ToolCall, ToolSpec, Usage
from tests.fake_server import Call, CutStream, FakeModelServer, Fault, Garbage, Reply

REQUEST = ModelRequest((Message("system", "sys"), Message("user", "hi")),
                       (ToolSpec("read_file", "Read.", {"type": "object"}),), max_tokens=64)


_open: list[OpenAICompatClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def client_for(server: FakeModelServer, *, stream: bool = True, model: str = "fake-model",
               sleeps: list[float] | None = None, **kw: object) -> OpenAICompatClient:
    recorded = sleeps if sleeps is not None else []
    client = OpenAICompatClient(server.url, model, httpx.Client(timeout=5), stream=stream,
                                sleep=recorded.append, **kw)  # type: ignore[arg-type]
    _open.append(client)
    return client


def drain(deltas: Iterator[ModelDelta]) -> tuple[list[ModelDelta], ModelTurn]:
    items = list(deltas)
    assert isinstance(items[-1], ModelTurn)
    return items, items[-1]


@pytest.mark.parametrize("stream", [True, False])
def test_text_reasoning_tool_calls_and_usage(fake_model: FakeModelServer, stream: bool) -> None:
    fake_model.add(Reply(text="Let me look.", reasoning="think first",
                         tool_calls=[Call("read_file", {"path": "a.py"})],
                         usage=Usage(100, 20, 64)))
    items, turn = drain(client_for(fake_model, stream=stream).stream(REQUEST))
    assert turn == ModelTurn(
        text="Let me look.",
        tool_calls=(ToolCall("call_1", "read_file", '{"path": "a.py"}'),),
        usage=Usage(100, 20, 64), finish_reason="tool_calls", reasoning="think first",
        response_sha256=turn.response_sha256)
    sent = items[0]
    assert isinstance(sent, RequestSent) and sent.body == fake_model.chat_requests[0].body
    if stream:
        assert "".join(i.text for i in items if isinstance(i, TextChunk)) == "Let me look."
        assert "".join(i.text for i in items if isinstance(i, ReasoningChunk)) == "think first"
    else:
        body = fake_model.chat_requests[0]
        assert json.loads(body.body)["stream"] is False
        assert len(turn.response_sha256) == 64


def test_request_body_is_stable_with_messages_last(fake_model: FakeModelServer) -> None:
    fake_model.add(Reply(text="ok"))
    drain(client_for(fake_model).stream(REQUEST))
    body = fake_model.chat_requests[0].body
    assert body.startswith(b'{"model":"fake-model","stream":true,"stream_options":'
                           b'{"include_usage":true},"max_tokens":64,"tools":[')
    assert body.endswith(b'"messages":[{"role":"system","content":"sys"},'
                         b'{"role":"user","content":"hi"}]}')


def test_429_honours_retry_after_then_succeeds(fake_model: FakeModelServer) -> None:
    fake_model.add(Fault(429, retry_after=3), Reply(text="done"))
    sleeps: list[float] = []
    items, turn = drain(client_for(fake_model, sleeps=sleeps).stream(REQUEST))
    assert [i for i in items if isinstance(i, Retrying)] == [
        Retrying(1, "rate limited (HTTP 429)", 3.0)]
    assert sleeps == [3.0] and turn.text == "done"


def test_500_and_cut_stream_back_off_then_succeed(fake_model: FakeModelServer) -> None:
    fake_model.add(Fault(500), CutStream(after_chunks=2), Reply(text="whole"))
    sleeps: list[float] = []
    items, turn = drain(client_for(fake_model, sleeps=sleeps, backoff_s=0.5).stream(REQUEST))
    retries = [i for i in items if isinstance(i, Retrying)]
    assert [r.attempt for r in retries] == [1, 2]
    assert retries[0].reason.startswith("HTTP 500")
    assert sleeps == [0.5, 1.0]
    assert turn.text == "whole"


def test_gives_up_after_max_retries(fake_model: FakeModelServer) -> None:
    fake_model.add(Fault(503), Fault(503), Fault(503))
    with pytest.raises(ModelServerError, match="kept failing .* after 2 retries"):
        drain(client_for(fake_model, max_retries=2).stream(REQUEST))


def test_garbage_is_a_protocol_error(fake_model: FakeModelServer) -> None:
    fake_model.add(Garbage(body=b"data: not json\n\n", content_type="text/event-stream"))
    with pytest.raises(ModelProtocolError, match="not JSON"):
        drain(client_for(fake_model).stream(REQUEST))


def test_auth_error_names_the_fix() -> None:
    with FakeModelServer(api_key="secret") as server:
        with pytest.raises(ModelAuthError, match="HTTP 401. Set MOAT_API_KEY"):
            drain(client_for(server).stream(REQUEST))


def test_unknown_model_lists_the_served_ones() -> None:
    with FakeModelServer(models=("qwen-coder", "llama"), reject_unknown_models=True) as server:
        with pytest.raises(UnknownModel) as info:
            drain(client_for(server, model="gpt-9").stream(REQUEST))
    assert info.value.available == ["qwen-coder", "llama"]
    assert "'gpt-9'" in str(info.value) and "qwen-coder, llama" in str(info.value)


def test_context_length_error() -> None:
    with FakeModelServer(context_window=50) as server:
        with pytest.raises(ContextLengthExceeded, match="maximum context length is 50"):
            drain(client_for(server).stream(REQUEST))


def test_nothing_listening_fails_fast_with_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenAICompatClient(f"http://127.0.0.1:{port}/v1", "m", httpx.Client(timeout=2))
    _open.append(client)
    with pytest.raises(ModelUnreachable, match=f"No model server answers at http://127.0.0.1:"
                                               f"{port}/v1"):
        drain(client.stream(REQUEST))


@pytest.mark.parametrize("flavor", ["vllm", "llamacpp"])
def test_context_window_from_the_server(flavor: str) -> None:
    with FakeModelServer(context_window=8192, flavor=flavor) as server:  # type: ignore[arg-type]
        assert client_for(server).context_window() == 8192


def test_context_window_from_settings_wins(fake_model: FakeModelServer) -> None:
    assert client_for(fake_model, context_window=1234).context_window() == 1234
    assert fake_model.requests == []
