"""Retrying a model request: which failures deserve another attempt, and how long to wait.

Both HTTP clients (OpenAI-compatible and Ollama) send a request as a series
of attempts. An attempt that fails in a way the next one may not (HTTP 429 or
5xx, a timeout, a dropped connection or stream) raises ``Retryable``;
``run_with_retries`` reports it as a ``Retrying`` delta, waits (the server's
Retry-After when it gives one, else exponential backoff) and tries again,
until the retries run out and it raises ``ModelServerError``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from moatcode.errors import ModelServerError, ModelUnreachable
from moatcode.models.base import ModelDelta, ModelTurn, Retrying

log = logging.getLogger(__name__)

Attempt = Callable[[], Generator[ModelDelta, None, ModelTurn]]


class Retryable(Exception):
    """The attempt failed in a way that another attempt may not."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class Backoff:
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff_s)
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))


def run_with_retries(
    attempt: Attempt,
    *,
    backoff: Backoff,
    sleep: Callable[[float], None],
    server: str,
) -> Generator[ModelDelta, None, ModelTurn]:
    """Run ``attempt`` until it returns a turn; yield its deltas and a ``Retrying`` per retry."""
    retries = 0
    while True:
        try:
            return (yield from attempt())
        except Retryable as exc:
            retries += 1
            if retries > backoff.max_retries:
                raise ModelServerError(
                    f"The model server at {server} kept failing ({exc.reason}) "
                    f"after {backoff.max_retries} retries; check the server, then resume "
                    "with --continue."
                ) from exc
            delay = backoff.delay(retries, exc.retry_after)
            log.info("retrying model request: %s (attempt %d, %.1fs)", exc.reason, retries,
                     delay)
            yield Retrying(retries, exc.reason, delay)
            sleep(delay)


@contextmanager
def transport_failures(server: str, *, answered: bool) -> Iterator[None]:
    """Turn httpx's transport errors into ``Retryable``, or ``ModelUnreachable``.

    A server that has never answered this session is not there at all, and
    waiting for it would only delay the message that says so.
    """
    try:
        yield
    except httpx.ConnectError as exc:
        if not answered:
            raise ModelUnreachable(server, describe_error(exc)) from exc
        raise Retryable(f"cannot connect: {describe_error(exc)}") from exc
    except httpx.TimeoutException as exc:
        raise Retryable(f"timed out: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise Retryable(f"connection dropped: {describe_error(exc)}") from exc


def raise_if_retryable(response: httpx.Response, message: str) -> None:
    """Raise ``Retryable`` for a 429 or 5xx answer; ``message`` is the server's error text."""
    status = response.status_code
    if status == 429:
        raise Retryable("rate limited (HTTP 429)", parse_retry_after(response))
    if status >= 500:
        raise Retryable(f"HTTP {status}: {message[:200]}", parse_retry_after(response))


def parse_retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (it may be a number or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def read_error_message(response: httpx.Response) -> str:
    """The error text of a failed answer, whichever of the usual shapes it has."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:500]
    if isinstance(data, dict):
        if "error" not in data and isinstance(data.get("detail"), str):
            return str(data["detail"])  # FastAPI's shape
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        if isinstance(error, str):
            return error
    return str(data)[:500]


def describe_error(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:160]


def dump_short_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)[:200]
