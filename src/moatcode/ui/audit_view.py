"""``/audit``: this session's audit records, one short line each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text

from moatcode.audit.record import Record
from moatcode.ui.tool_view import describe_call, title_of


def summarise(kind: str, data: dict[str, Any]) -> str:
    """A few words on what one record says."""
    if kind == "user_prompt":
        return _clip(str(data.get("text", "")))
    if kind == "model_request":
        return (f"{data.get('request_bytes', 0)} bytes, ~{data.get('estimated_tokens', 0)} "
                f"tokens to {data.get('endpoint', '')}")
    if kind == "model_response":
        usage = data.get("usage") or {}
        message = data.get("message") or {}
        calls = len(message.get("tool_calls") or ())
        return (f"{data.get('finish_reason', '')}, {usage.get('completion_tokens', 0)} tokens"
                + (f", {calls} tool call{'s' if calls != 1 else ''}" if calls else ""))
    if kind == "tool_call":
        call = data.get("call") or {}
        name = str(call.get("name", ""))
        return _clip(f"{title_of(name)} {describe_call(name, str(call.get('arguments', '')))}")
    if kind == "permission":
        who = data.get("decided_by", "")
        scope = f", {data['scope']}" if data.get("scope") else ""
        return f"{data.get('decision', '')} by {who}{scope} ({data.get('rule', '')})"
    if kind == "tool_result":
        code = data.get("exit_code")
        state = "ok" if data.get("ok") else "failed"
        return f"{state}" + (f", exit {code}" if code is not None else "")
    if kind in ("notice", "error"):
        return _clip(str(data.get("message", "")))
    if kind == "secrets_redacted":
        return f"{len(data.get('redactions') or ())} masked in {data.get('location', '')}"
    if kind == "session_started":
        return f"{data.get('model', '')} · {data.get('permission_mode', '')} mode"
    return ""


def audit_lines(records: Sequence[Record], width: int = 80) -> Text:
    text = Text()
    for record in records:
        moment = record.at[11:19] if len(record.at) >= 19 else record.at
        head = f"#{record.seq:<5} {moment}  {record.kind:<16}"
        line = f"{head} {summarise(record.kind, record.data)}".rstrip()
        text.append((line if len(line) <= width else line[: width - 1] + "…") + "\n")
    text.rstrip()
    return text


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
