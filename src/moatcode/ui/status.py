"""The status line: model, permission mode, context used of the window, tokens this session."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Status:
    """What the status line shows; the renderer and the session loop keep it current."""

    model: str = ""
    mode: str = "default"
    context_used: int = 0
    context_window: int = 0
    session_tokens: int = 0
    requests: int = 0
    ready: bool = False


def format_tokens(count: int) -> str:
    """1234 -> '1.2k', 45678 -> '46k', 999 -> '999'."""
    if count < 1000:
        return str(count)
    if count < 10_000:
        return f"{count / 1000:.1f}k"
    if count < 1_000_000:
        return f"{round(count / 1000)}k"
    return f"{count / 1_000_000:.1f}M"


def format_status(status: Status, width: int = 80) -> str:
    """One line, at most ``width`` characters: the least useful parts go first."""
    if not status.ready:
        return "starting…"[:width]
    parts = [status.model or "?", f"{status.mode} mode"]
    if status.context_window:
        share = round(100 * status.context_used / status.context_window)
        parts.append(f"context {format_tokens(status.context_used)}/"
                     f"{format_tokens(status.context_window)} ({share}%)")
    parts.append(f"{format_tokens(status.session_tokens)} tokens")
    while len(parts) > 1 and len(" · ".join(parts)) > width:
        parts.pop()
    line = " · ".join(parts)
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"
