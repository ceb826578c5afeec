from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from moatcode.models._retry import Backoff, parse_retry_after, read_error_message


def test_backoff_doubles_up_to_the_cap_and_honours_retry_after() -> None:
    backoff = Backoff(max_retries=9, backoff_s=1.0, max_backoff_s=5.0)
    assert [backoff.delay(n, None) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert [backoff.delay(1, after) for after in (3.0, -2.0, 60.0)] == [3.0, 0.0, 5.0]


def test_retry_after_in_seconds_or_as_a_date() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": value})

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(answer("2.5")) == 2.5
    assert parse_retry_after(answer(later)) == pytest.approx(30, abs=2)
    assert parse_retry_after(answer("soon")) is None
    assert parse_retry_after(httpx.Response(429)) is None


@pytest.mark.parametrize(("body", "message"), [
    (b'{"error":{"message":"The model `x` does not exist.","code":404}}',
     "The model `x` does not exist."),
    (b'{"error":"model \\"x\\" not found, try pulling it first"}',
     'model "x" not found, try pulling it first'),
    (b'{"detail":"Not Found"}', "Not Found"),
    (b"404 page not found\n", "404 page not found"),
])
def test_error_message_in_each_servers_shape(body: bytes, message: str) -> None:
    assert read_error_message(httpx.Response(404, content=body)) == message
