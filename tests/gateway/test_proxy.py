"""The chat route end to end: a real gateway in front of the scripted fake model server."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moatcode.gateway import relay
from moatcode.types import Usage
from tests.fake_server import CutStream, FakeModelServer, Fault, Garbage, Reply, SlowStream
from tests.gateway.conftest import (
    GatewayHarness,
    checked,
    free_port,
    model_section,
    shared_fake_model,
    start_gateway,
)

MESSAGES = [{"role": "user", "content": "hello"}]


def chat(client: httpx.Client, model: str = "fake", **extra: Any) -> httpx.Response:
    return client.post("/v1/chat/completions",
                       json={"model": model, "messages": MESSAGES, **extra})


def sse_events(text: str) -> list[Any]:
    events = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            payload = block[6:]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


@pytest.fixture(scope="module")
def shared_model() -> Iterator[FakeModelServer]:
    with shared_fake_model() as server:
        yield server


@pytest.fixture
def fake_model(shared_model: FakeModelServer) -> Iterator[FakeModelServer]:
    # A view of the shared server with the same API the tests use.
    with checked(shared_model) as view:
        yield view


# Under httptools the relay writes events to the client's transport itself; under h11
# it has no safe transport and sends each event through ASGI. Both paths run every test.
@pytest.fixture(scope="module", params=["httptools", "h11"])
def shared_gw(request: pytest.FixtureRequest, shared_model: FakeModelServer,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHarness]:
    harness = start_gateway(tmp_path_factory.mktemp("gw"), {"models": {
        "fake": model_section(shared_model.url, served_name="fake-model", aliases=["f"]),
        "other": model_section(shared_model.url, served_name="fake-model"),
    }}, http=request.param)
    harness.add_user("alice", "eng", ("fake",))
    yield harness
    harness.server.stop()
    harness.identity.engine.dispose()


@pytest.fixture
def gw(shared_gw: GatewayHarness, fake_model: FakeModelServer) -> GatewayHarness:
    return shared_gw.begin()


def last_record(gw: GatewayHarness) -> dict[str, Any]:
    data: dict[str, Any] = gw.records()[-1]["data"]
    return data


def test_non_streamed_answer_passes_through_and_is_audited(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    fake_model.add(Reply(text="Hi there.", usage=Usage(12, 3)))
    request_body = json.dumps({"model": "f", "messages": MESSAGES}).encode()
    with gw.client(gw.tokens["alice"]) as client:
        answer = client.post("/v1/chat/completions", content=request_body)
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "Hi there."
    sent = fake_model.chat_requests[0]
    # The upstream sees the model name it knows, and no credential of the client's.
    assert sent.json == {"model": "fake-model", "messages": MESSAGES}
    assert "authorization" not in sent.headers
    record = last_record(gw)
    token_id = gw.identity.list_tokens("alice")[0].id
    assert {k: record[k] for k in (
        "user", "team", "token_id", "model", "resolved_model", "upstream", "status",
        "outcome", "stream", "prompt_tokens", "completion_tokens", "request_bytes",
        "response_bytes", "request_sha256", "response_body",
    )} == {
        "user": "alice", "team": "eng", "token_id": token_id, "model": "f",
        "resolved_model": "fake", "upstream": fake_model.url, "status": 200, "outcome": "ok",
        "stream": False, "prompt_tokens": 12, "completion_tokens": 3,
        "request_bytes": len(request_body), "response_bytes": len(answer.content),
        "request_sha256": hashlib.sha256(request_body).hexdigest(),
        "response_body": answer.text,
    }
    assert record["latency_us"] > 0 and record["request_body"] == request_body.decode()


def test_stream_is_relayed_event_by_event_as_it_arrives(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    fake_model.add(SlowStream(Reply(text="a" * 40, usage=Usage(7, 5)), delay_s=0.15))
    arrivals: list[float] = []
    body = ""
    with gw.client(gw.tokens["alice"]) as client:
        started = time.monotonic()
        with client.stream("POST", "/v1/chat/completions", json={
                "model": "fake", "messages": MESSAGES, "stream": True}) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            for text in answer.iter_text():
                arrivals.append(time.monotonic() - started)
                body += text
    events = sse_events(body)
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]
                   if isinstance(e, dict) and e["choices"]) == "a" * 40
    # 9 events 0.15 s apart: the first must not wait for the last.
    assert len(arrivals) >= 6
    assert arrivals[0] < arrivals[-1] - 0.6
    record = last_record(gw)
    assert (record["stream"], record["outcome"], record["prompt_tokens"],
            record["completion_tokens"], record["response_body"]) == (
        True, "ok", 7, 5, body)
    # Usage is how quotas count: the gateway asked for it on the client's behalf.
    assert fake_model.chat_requests[0].json["stream_options"] == {"include_usage": True}


def test_models_lists_only_what_the_team_may_use(gw: GatewayHarness) -> None:
    with gw.client(gw.tokens["alice"]) as client:
        listed = client.get("/v1/models").json()
    assert [m["id"] for m in listed["data"]] == ["fake"]


def test_team_denied_a_model_is_refused_and_audited(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    with gw.client(gw.tokens["alice"]) as client:
        denied = chat(client, "other")
        unknown = chat(client, "no-such-model")
    assert (denied.status_code, denied.json()["error"]["type"]) == (403, "permission_error")
    assert unknown.status_code == 404
    assert fake_model.chat_requests == []
    records = [r["data"] for r in gw.records(at_least=2)]
    assert [(r["status"], r["outcome"], r["reason"], r["user"]) for r in records] == [
        (403, "refused", "model_not_allowed", "alice"),
        (404, "refused", "unknown_model", "alice"),
    ]


def test_no_query_string_or_header_changes_the_model(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    body = b'{"model":"other","model":"fake","messages":[{"role":"user","content":"x"}]}'
    fake_model.add(Reply(text="ok"))
    with gw.client(gw.tokens["alice"]) as client:
        tricked = client.post("/v1/chat/completions?model=other", content=body,
                              headers={"content-type": "application/json",
                                       "x-model": "other", "openai-model": "other"})
    assert tricked.status_code == 200
    # What was checked ("fake", the last key, as JSON parsers read it) is what was sent,
    # re-serialized, so the upstream cannot read the other copy.
    assert fake_model.chat_requests[0].body.count(b'"model"') == 1
    assert fake_model.chat_requests[0].json["model"] == "fake-model"
    assert fake_model.chat_requests[0].headers.get("x-model") is None


@pytest.mark.parametrize(("body", "status", "needle"), [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"model": 5, "messages": []}', 400, "'model'"),
    (b'{"model": "fake", "messages": "hi"}', 400, "'messages'"),
    (b'{"model": "fake", "messages": [{"content": "x"}]}', 400, "role"),
    (b'{"model": "fake", "messages": [{"role": "user"}], "stream": "yes"}', 400, "'stream'"),
    (b'{"model": "fake", "messages": [{"role": "user"}], "max_tokens": -1}', 400,
     "max_tokens"),
    (b"\xff\xfe", 400, "not valid JSON"),
])
def test_bad_bodies_are_400_with_a_message(
    gw: GatewayHarness, body: bytes, status: int, needle: str
) -> None:
    with gw.client(gw.tokens["alice"]) as client:
        answer = client.post("/v1/chat/completions", content=body,
                             headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert needle in answer.json()["error"]["message"]
    assert last_record(gw)["reason"] == "bad_request"


def test_body_over_the_team_limit_is_413(start: Any, fake_model: FakeModelServer) -> None:
    gw = start({"models": {"fake": model_section(fake_model.url)}})
    token = gw.add_user("bob", "small", ("*",), max_request_bytes=200)
    with gw.client(token) as client:
        answer = chat(client, messages=[{"role": "user", "content": "x" * 500}])
    assert answer.status_code == 413
    assert last_record(gw)["reason"] == "too_large"


def test_quota_hit_is_429_with_retry_after_and_audited(
    start: Any, fake_model: FakeModelServer
) -> None:
    gw = start({"models": {"fake": model_section(fake_model.url)}})
    token = gw.add_user("carol", "tight", ("*",), user_tpm=100)
    fake_model.add(Reply(text="big", usage=Usage(90, 20)))
    with gw.client(token) as client:
        first = chat(client)
        second = chat(client)
    assert first.status_code == 200
    assert second.status_code == 429
    assert 1 <= int(second.headers["retry-after"]) <= 60
    assert "user_tpm" in second.json()["error"]["message"]
    refusal = last_record(gw)
    assert (refusal["status"], refusal["reason"], refusal["user"]) == (429, "quota_user_tpm",
                                                                       "carol")


def test_revoked_expired_and_disabled_credentials_are_401_alike(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    from datetime import UTC, datetime, timedelta

    fake_model.add(Reply(text="before"))
    token = gw.add_user("rita", "eng")
    with gw.client(token) as client:
        assert chat(client).status_code == 200
    gw.identity.revoke_token(gw.identity.list_tokens("rita")[0].id)
    gw.identity.add_user("dave", "eng")
    _, expired = gw.identity.create_token("dave", expires_at=datetime.now(UTC) - timedelta(1))
    gw.identity.add_user("erin", "eng")
    _, disabled = gw.identity.create_token("erin")
    gw.identity.set_disabled("erin", True)
    wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    answers = []
    for credential in (token, expired, disabled, wrong_secret, "garbage", None):
        with gw.client(credential) as client:
            answers.append(chat(client))
    assert {(a.status_code, a.text) for a in answers} == {(401, answers[0].text)}
    assert answers[0].headers["www-authenticate"] == "Bearer"
    reasons = [r["data"]["reason"] for r in gw.records(at_least=7)[1:]]
    assert reasons == ["unauthenticated"] * 6


def test_failover_to_a_healthy_upstream_when_one_is_down(
    start: Any, fake_model: FakeModelServer
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    gw = start({"models": {"fake": model_section(dead, fake_model.url)},
                "upstream": {"health_interval_s": 30}})
    token = gw.add_user("alice", "eng")
    fake_model.add(Reply(text="one"), Reply(text="two"))
    with gw.client(token) as client:
        answers = [chat(client), chat(client)]
    assert [a.json()["choices"][0]["message"]["content"] for a in answers] == ["one", "two"]
    assert all(r["data"]["upstream"] == fake_model.url for r in gw.records(at_least=2))
    gw.wait_healthy(False, dead)


def test_no_upstream_left_is_a_clear_503_then_502(start: Any) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    gw = start({"models": {"fake": model_section(dead)},
                "upstream": {"health_interval_s": 30}})
    token = gw.add_user("alice", "eng")
    gw.wait_healthy(False, dead)
    with gw.client(token) as client:
        unhealthy = chat(client)
    assert unhealthy.status_code == 503
    assert "healthy" in unhealthy.json()["error"]["message"]
    # Marked healthy again (as a health check would), it refuses the connection: 502.
    upstream = gw.runtime.upstreams.all()[0]
    upstream.healthy = True
    with gw.client(token) as client:
        refused = chat(client)
    assert refused.status_code == 502
    assert "refused" in refused.json()["error"]["message"]
    assert [r["data"]["reason"] for r in gw.records(at_least=2)] == [
        "no_upstream", "upstream_refused"]


def test_upstream_recovers_after_health_check(start: Any) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    gw = start({"models": {"fake": model_section(url)}})
    gw.wait_healthy(False, url)
    # Something starts answering on the very port that was down.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(8)
    stop = threading.Event()

    def answer_health() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n"
                             b"\r\nok")

    thread = threading.Thread(target=answer_health)
    thread.start()
    try:
        gw.wait_healthy(True, url)
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_upstream_errors_pass_through_with_their_status(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    fake_model.add(Fault(400, json.dumps({"error": {"message": "too long"}})))
    with gw.client(gw.tokens["alice"]) as client:
        answer = chat(client)
    assert (answer.status_code, answer.json()["error"]["message"]) == (400, "too long")
    assert (last_record(gw)["outcome"], last_record(gw)["reason"]) == (
        "upstream_error", "upstream_400")


def test_garbage_from_upstream_is_502_when_not_streamed(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    fake_model.add(Garbage())
    with gw.client(gw.tokens["alice"]) as client:
        answer = chat(client)
    assert answer.status_code == 502
    assert answer.json()["error"]["type"] == "server_error"
    record = last_record(gw)
    assert (record["reason"], record["status"]) == ("upstream_garbage", 502)
    assert "502 Bad Gateway" in record["detail"]


def test_events_are_written_to_the_client_transport_only_under_httptools(
    gw: GatewayHarness, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    direct: list[bool] = []
    original = relay.chunked_transport

    def spy(send: Any) -> Any:
        transport = original(send)
        direct.append(transport is not None)
        return transport

    monkeypatch.setattr(relay, "chunked_transport", spy)
    fake_model.add(SlowStream(Reply(text="b" * 20), delay_s=0.01))
    with gw.client(gw.tokens["alice"]) as client:
        answer = chat(client, stream=True)
    assert answer.text.endswith("data: [DONE]\n\n")
    assert direct == [request.node.callspec.params["shared_gw"] == "httptools"]


def test_garbage_mid_stream_becomes_an_error_event(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    fake_model.add(Garbage(b'data: {"choices":[]}\n\n<html>oops</html>\n\n'))
    with gw.client(gw.tokens["alice"]) as client:
        answer = chat(client, stream=True)
    events = sse_events(answer.text)
    assert answer.status_code == 200
    assert events[0] == {"choices": []}
    assert events[-1]["error"]["type"] == "upstream_error"
    assert "<html>" not in answer.text
    assert last_record(gw)["reason"] == "upstream_garbage"


def test_dropped_stream_ends_with_an_error_event_and_the_record_says_so(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    fake_model.add(CutStream(after_chunks=2))
    with gw.client(gw.tokens["alice"]) as client:
        answer = chat(client, stream=True)
    events = sse_events(answer.text)
    assert len(events) == 3
    assert events[-1]["error"]["message"].startswith("The model server dropped the stream")
    record = last_record(gw)
    assert (record["outcome"], record["reason"]) == ("upstream_error", "upstream_dropped")
    assert record["response_body"] == answer.text


def test_client_going_away_stops_the_upstream(
    gw: GatewayHarness, fake_model: FakeModelServer
) -> None:
    fake_model.add(SlowStream(Reply(text="x" * 200), delay_s=0.1))
    with gw.client(gw.tokens["alice"]) as client, client.stream(
            "POST", "/v1/chat/completions",
            json={"model": "fake", "messages": MESSAGES, "stream": True}) as answer:
        next(answer.iter_text())
    record = last_record(gw)
    assert (record["outcome"], record["reason"]) == ("client_disconnected",
                                                     "client_disconnected")
    assert record["response_bytes"] < 2000


def test_many_concurrent_streams(gw: GatewayHarness, fake_model: FakeModelServer) -> None:
    count = 12
    fake_model.add(*[SlowStream(Reply(text=f"answer {i}"), delay_s=0.02) for i in range(count)])
    results: list[str] = []

    def one() -> None:
        with gw.client(gw.tokens["alice"]) as client:
            results.append(chat(client, stream=True).text)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == count and all(r.endswith("data: [DONE]\n\n") for r in results)
    assert len(gw.records(at_least=count)) == count


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_client_slower_than_the_model_server_gets_every_byte(
    http: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 16 MB of events, far more than the socket buffers between gateway and client hold:
    # while the client does not read, the relay must stop reading the upstream, then go on.
    pauses: list[int] = []
    original = relay.UpstreamResponse.pause_reading

    def counting(self: Any) -> None:
        pauses.append(1)
        original(self)

    monkeypatch.setattr(relay.UpstreamResponse, "pause_reading", counting)
    text = "".join(chr(ord("a") + i % 26) for i in range(16 * 1024 * 1024))
    with FakeModelServer([Reply(text=text)], chunk_chars=256 * 1024) as model:
        gw = start_gateway(tmp_path, {"models": {"fake": model_section(model.url)}}, http=http)
        try:
            gw.add_user("alice", "eng", ("fake",))
            body = b""
            with gw.client(gw.tokens["alice"], timeout=60) as client, client.stream(
                    "POST", "/v1/chat/completions",
                    json={"model": "fake", "messages": MESSAGES, "stream": True}) as answer:
                time.sleep(1.0)  # the gateway fills every buffer meanwhile
                for part in answer.iter_bytes():
                    body += part
            events = sse_events(body.decode())
            assert "".join(e["choices"][0]["delta"].get("content", "") for e in events
                           if isinstance(e, dict) and e["choices"]) == text
            assert events[-1] == "[DONE]"
            assert pauses, "the relay never stopped reading the model server"
            record = gw.records()[-1]["data"]
            assert (record["outcome"], record["response_bytes"]) == ("ok", len(body))
            assert record["response_sha256"] == hashlib.sha256(body).hexdigest()
        finally:
            gw.server.stop()
            gw.identity.engine.dispose()
