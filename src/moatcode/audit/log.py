"""Reading the log back: records with filters, and a one-line summary of each.

The data behind ``moat audit log``: the CLI prints ``LogRow`` values as a
table, or the records as JSON lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from moatcode.audit.record import Record
from moatcode.audit.store import AuditStore

_SUMMARY_WIDTH = 100


@dataclass(frozen=True)
class LogRow:
    seq: int
    at: str
    session: str
    kind: str
    summary: str


def iter_records(
    path: Path,
    session: str | None = None,
    since: datetime | None = None,
    kind: str | None = None,
) -> Iterator[Record]:
    """The store's records in order; ``since`` starts at the first record at or after it."""
    with AuditStore.open_readonly(path) as store:
        yield from store.records(session=session, since=since, kind=kind)


def iter_log_rows(
    path: Path,
    session: str | None = None,
    since: datetime | None = None,
    kind: str | None = None,
) -> Iterator[LogRow]:
    for record in iter_records(path, session=session, since=since, kind=kind):
        yield LogRow(record.seq, record.at, record.session, record.kind, summarize(record))


def summarize(record: Record) -> str:
    """One line a person can scan: what the record is about, cut to width."""
    describe = _SUMMARIES.get(record.kind)
    text = describe(record.data) if describe else _first_text(record.data)
    line = " ".join(text.split())
    return line if len(line) <= _SUMMARY_WIDTH else line[: _SUMMARY_WIDTH - 1] + "…"


def _first_text(data: dict[str, Any]) -> str:
    for value in data.values():
        if isinstance(value, str) and value:
            return value
    return ""


def _count(items: Any, noun: str) -> str:
    n = len(items) if isinstance(items, list) else 0
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _session_started(d: dict[str, Any]) -> str:
    resumed = " (resumed)" if d.get("resumed") else ""
    return f"{d.get('model')} at {d.get('endpoint')} in {d.get('cwd')}{resumed}"


def _model_request(d: dict[str, Any]) -> str:
    return (
        f"step {d.get('step')}: {d.get('request_bytes')} bytes, ~{d.get('estimated_tokens')} "
        f"tokens to {d.get('endpoint')} ({d.get('model')}); {_count(d.get('sources'), 'source')}, "
        f"{_count(d.get('redactions'), 'redaction')}"
    )


def _model_response(d: dict[str, Any]) -> str:
    usage = d.get("usage") or {}
    message = d.get("message") or {}
    calls = _count(message.get("tool_calls"), "tool call")
    return (
        f"step {d.get('step')}: {d.get('finish_reason')}, {usage.get('prompt_tokens')} in / "
        f"{usage.get('completion_tokens')} out, {calls}"
    )


def _tool_call(d: dict[str, Any]) -> str:
    call = d.get("call") or {}
    return f"{call.get('name')} {call.get('arguments')} [{call.get('id')}]"


def _permission(d: dict[str, Any]) -> str:
    by = d.get("decided_by")
    who = f" by {d.get('who') or 'the user'} ({d.get('scope') or 'once'})" if by == "user" else ""
    return f"{d.get('tool')}: {d.get('decision')}{who} — {d.get('rule')} [{d.get('layer')}]"


def _tool_result(d: dict[str, Any]) -> str:
    status = "ok" if d.get("ok") else "failed"
    code = f", exit {d['exit_code']}" if d.get("exit_code") is not None else ""
    change = d.get("change")
    changed = f", changed {change.get('path')}" if isinstance(change, dict) else ""
    return f"{d.get('tool')} {status}{code}, {d.get('output_bytes')} bytes{changed}"


def _checkpoint(d: dict[str, Any]) -> str:
    return f"signed record {d.get('seq')} with key {d.get('key_id')}"


def _secrets(d: dict[str, Any]) -> str:
    return f"{_count(d.get('redactions'), 'secret')} masked in {d.get('location')}"


def _session_ended(d: dict[str, Any]) -> str:
    return (
        f"{d.get('subtype')} after {d.get('num_turns')} turns, "
        f"{d.get('model_requests')} requests, {d.get('tool_calls')} tool calls"
    )


_SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "session_started": _session_started,
    "model_request": _model_request,
    "model_response": _model_response,
    "tool_call": _tool_call,
    "permission": _permission,
    "tool_result": _tool_result,
    "checkpoint": _checkpoint,
    "secrets_redacted": _secrets,
    "session_ended": _session_ended,
    "user_prompt": lambda d: str(d.get("text", "")),
    "error": lambda d: f"{d.get('error_type')}: {d.get('message')}",
}
