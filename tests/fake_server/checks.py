"""What the fake model server checks in each chat request before answering.

Pure functions returning problems as sentences. The tool-call rules are the
OpenAI protocol's: every ``tool`` message answers a call of the assistant
message before it, and every call is answered before the next assistant
message (or the end of the conversation).
"""

from __future__ import annotations

from typing import Any


def check_chat_body(body: Any) -> list[str]:
    """Problems with a parsed chat-completions body; empty when it is sound."""
    if not isinstance(body, dict):
        return [f"the body is JSON but not an object: {type(body).__name__}"]
    problems = []
    if not isinstance(body.get("model"), str):
        problems.append('the body has no "model" string')
    messages = body.get("messages")
    if not isinstance(messages, list):
        problems.append('the body has no "messages" list')
        return problems
    return problems + check_tool_calls(messages)


def check_tool_calls(messages: list[Any]) -> list[str]:
    problems: list[str] = []
    # Calls of the latest assistant message still waiting for a tool message:
    # id -> where the call was made.
    pending: dict[str, str] = {}
    seen: set[str] = set()

    def close_pending() -> None:
        for call_id, where in pending.items():
            problems.append(
                f"{where} calls tool_call_id {call_id!r}, which no tool message answers"
                " before the next assistant message or the end"
            )
        pending.clear()

    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            problems.append(f"{where} is not an object")
            continue
        role = message.get("role")
        if role == "assistant":
            close_pending()
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list):
                problems.append(f"{where} has tool_calls that are not a list")
                continue
            for j, call in enumerate(calls):
                call_id = call.get("id") if isinstance(call, dict) else None
                if not isinstance(call_id, str) or not call_id:
                    problems.append(f"{where}.tool_calls[{j}] has no id")
                    continue
                if call_id in seen:
                    problems.append(f"{where} repeats tool_call_id {call_id!r}")
                seen.add(call_id)
                pending[call_id] = where
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id in pending:
                del pending[call_id]
            elif call_id in seen:
                problems.append(
                    f"{where} answers tool_call_id {call_id!r} again, or after a later"
                    " assistant message"
                )
            else:
                problems.append(
                    f"{where} answers tool_call_id {call_id!r}, which no earlier assistant"
                    " tool call has"
                )
    close_pending()
    return problems
