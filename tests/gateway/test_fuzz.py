"""Fuzzing the API from its own OpenAPI schema (schemathesis): no input makes a 500."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    status_code_conformance,
)

from tests.gateway.conftest import GatewayHarness, model_section

COMPLETION = json.dumps({
    "id": "c", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
STREAM = (b'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n'
          b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n'
          b"data: [DONE]\n\n")


class _AnswerAnything(BaseHTTPRequestHandler):
    """A model server that answers every request, so only the gateway is under test."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(b'{"object":"list","data":[]}', "application/json")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        streamed = b'"stream":true' in body
        self._answer(STREAM if streamed else COMPLETION,
                     "text/event-stream" if streamed else "application/json")

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AnswerAnything)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_no_generated_request_is_a_server_error(start: Any, upstream: str) -> None:
    gw: GatewayHarness = start({"models": {"m": model_section(upstream)},
                                "server": {"max_body_bytes": 65536}})
    token = gw.add_user("fuzz", "eng")
    document = httpx.get(gw.url + "/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    headers = {"authorization": f"Bearer {token}"}
    failures: list[str] = []
    checks = [not_a_server_error, negative_data_rejection, status_code_conformance,
              content_type_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=8, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                response = case.call(base_url=gw.url, headers=headers, timeout=10)
                case.validate_response(response, checks=checks)

            try:
                check()
            except Unsatisfiable:
                continue  # no parameters to make invalid: nothing to do in negative mode
            except Exception as exc:  # collect every failing operation, not just the first
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert len(operations) == 7
    assert failures == [], "\n".join(failures)
