"""The interactive renderer: an ``Emit`` that draws the agent's events with rich.

The model's answer is rendered as markdown block by block while it streams
(``markdown_stream``); each tool call gets one compact line with its status,
followed by the diff of an edit or the last lines of a command's output; the
task list is shown when it changes. While the model is silent or a tool runs,
a spinner shows what is happening and for how long. Without a terminal (or with
``live=False``) nothing is redrawn: text is written as it arrives and every
line is plain, so a log or a pipe reads cleanly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.live import Live
from rich.segment import Segment, Segments
from rich.spinner import Spinner
from rich.text import Text

from moatcode.types import TodoItem, ToolCall
from moatcode.ui.glyphs import Glyphs, glyphs_for
from moatcode.ui.markdown_stream import MarkdownBlocks
from moatcode.ui.status import Status
from moatcode.ui.tool_view import (
    call_line,
    describe_call,
    diff_counts,
    diff_text,
    output_tail,
    title_of,
)

# Events are matched by their ``kind``, so that drawing the prompt does not wait
# for the event classes (or markdown) to import; the session brings them later.
if TYPE_CHECKING:
    from moatcode.events import (
        AssistantTurn,
        ErrorOccurred,
        Event,
        ModelRequestSent,
        ModelRetry,
        Notice,
        PermissionDecided,
        ReasoningDelta,
        SecretsRedacted,
        SessionStarted,
        StepCancelled,
        TextDelta,
        TodoUpdated,
        ToolCallFinished,
        ToolCallStarted,
    )

_EXIT_NOTE = re.compile(r"\n?\[exit code -?\d+\]\s*$")
LIVE_TAIL_LINES = 8


class _Activity:
    """The spinner line (and the unfinished markdown above it), redrawn by ``Live``."""

    def __init__(self, label: str, clock: Callable[[], float]) -> None:
        self.label = label
        self.tail = ""
        self._clock = clock
        self._started = clock()
        self._spinner = Spinner("dots", style="cyan")

    def restart(self, label: str) -> None:
        self.label = label
        self._started = self._clock()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.tail.strip():
            lines = self.tail.rstrip("\n").splitlines()[-LIVE_TAIL_LINES:]
            yield Text("\n".join(lines))
        elapsed = self._clock() - self._started
        self._spinner.update(text=Text(f"{self.label} · {elapsed:.0f}s", style="dim"))
        yield self._spinner.render(self._clock())


class ConsoleRenderer:
    """Consumes events and draws them; ``pause`` before asking the user anything."""

    def __init__(self, console: Console, status: Status | None = None, *,
                 glyphs: Glyphs | None = None, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.status = status or Status()
        self.glyphs = glyphs or glyphs_for(console.encoding)
        self.live = console.is_terminal if live is None else live
        self._clock = clock
        self._blocks = MarkdownBlocks()
        self._activity: _Activity | None = None
        self._live: Live | None = None
        self._calls: dict[str, ToolCall] = {}
        self._verdicts: dict[str, PermissionDecided] = {}
        self._run_started: dict[str, float] = {}
        self._streamed = False  # text of the current turn was shown as it came
        self._blocks_printed = 0
        self._last = ""  # "text" or "tool": decides where a blank line goes
        self._ends_open = False  # plain text written without its final newline yet

    # -- the event stream ----------------------------------------------------

    def __call__(self, event: Event) -> None:
        handler = self._handlers.get(event.kind)
        if handler is not None:
            handler(self, event)

    def _session_started(self, event: SessionStarted) -> None:
        self.status.model = event.model
        self.status.mode = event.permission_mode

    def _request(self, event: ModelRequestSent) -> None:
        self.status.requests += 1
        if event.step > 0:  # step 0 is the start-up probe, already answered
            self.activity("Waiting for the model")

    def _retry(self, event: ModelRetry) -> None:
        self._reset_stream()
        self.print(Text(f"{self.glyphs.note} The model request failed ({event.reason}); "
                        f"retry {event.attempt} in {event.delay_s:.1f}s", style="yellow"))

    def _reasoning(self, event: ReasoningDelta) -> None:
        if self._activity is not None and self._activity.label != "Thinking":
            self._activity.restart("Thinking")

    def _text(self, event: TextDelta) -> None:
        if not self._streamed:
            self._streamed = True
            self._gap("text")
        if not self.live:
            self._write(event.text)
            return
        for block in self._blocks.feed(event.text):
            self._print_block(block)
        activity = self.activity("Writing")
        activity.tail = self._blocks.tail

    def _turn(self, event: AssistantTurn) -> None:
        usage = event.usage
        self.status.context_used = usage.prompt_tokens + usage.completion_tokens
        self.status.session_tokens += usage.total_tokens
        content = event.message.content
        if not self._streamed and content.strip():
            # Not streamed (the server answered in one piece): show it whole now.
            self._gap("text")
            if self.live:
                self._print_block(content.strip("\n"))
            else:
                self._write(content)
        elif self._streamed and self.live:
            rest = self._blocks.flush()
            if rest:
                self._print_block(rest)
        if not self.live and self._ends_open:
            self._write("\n")
        self._reset_stream()
        self.stop()

    def _tool_started(self, event: ToolCallStarted) -> None:
        self._calls[event.call.id] = event.call
        self._show_running(event.call)

    def _show_running(self, call: ToolCall) -> None:
        target = describe_call(call.name, call.arguments)
        label = f"{title_of(call.name)} {target}".strip()
        self.activity(label if len(label) < 60 else label[:59] + self.glyphs.more)

    def _permission(self, event: PermissionDecided) -> None:
        self._verdicts[event.call_id] = event
        call = self._calls.get(event.call_id)
        if event.decision == "allow" and call is not None:
            # The tool runs now (an approval prompt may have removed the spinner).
            self._run_started[event.call_id] = self._clock()
            self._show_running(call)

    def _tool_finished(self, event: ToolCallFinished) -> None:
        self.stop()
        call = self._calls.pop(event.call_id, None)
        verdict = self._verdicts.pop(event.call_id, None)
        target = describe_call(event.tool, call.arguments if call else "")
        width = self.console.width
        g = self.glyphs
        self._gap("tool")
        if verdict is not None and verdict.decision == "deny":
            self.print(call_line(g.denied, "yellow", event.tool, target,
                                 _denial(verdict), width))
            if verdict.note:
                self.print(Text(f"    note to the model: {verdict.note}", style="dim"))
            return
        status: list[str] = []
        if event.exit_code is not None:
            status.append(f"exit {event.exit_code}")
        if event.change is not None:
            added, removed = diff_counts(event.change.diff)
            status.append(f"+{added} -{removed}")
        # From the permission to the result: the time the tool ran, not the time
        # the user took to approve it.
        began = self._run_started.pop(event.call_id, None)
        seconds = self._clock() - began if began is not None else event.duration_ms / 1000
        if seconds >= 0.1:
            status.append(f"{seconds:.1f}s")
        glyph, style = (g.ok, "green") if event.ok else (g.failed, "red")
        self.print(call_line(glyph, style, event.tool, target, " · ".join(status), width))
        approved = verdict is not None and verdict.decided_by == "user"
        if event.change is not None and event.change.diff and not approved:
            # (A diff the user just approved was on screen a moment ago.)
            self.print(diff_text(event.change.diff, g))
        elif event.tool == "bash":
            output = _EXIT_NOTE.sub("", event.output).rstrip()
            if output and output != "(no output)":
                self.print(output_tail(output, g))
        elif not event.ok:
            first = event.output.removeprefix("Error: ").strip().splitlines()
            if first:
                self.print(Text(f"    {first[0]}", style="dim"))

    def _todo(self, event: TodoUpdated) -> None:
        self.stop()
        self._gap("tool")
        self.print(todo_text(event.items, self.glyphs))

    def _notice(self, event: Notice) -> None:
        self.note(event.message)

    def _redacted(self, event: SecretsRedacted) -> None:
        kinds = ", ".join(sorted({r.kind for r in event.redactions}))
        count = len(event.redactions)
        self.note(f"Masked {count} secret{'s' if count != 1 else ''} ({kinds}) in "
                  f"{event.location} before it reaches the model.")

    def _error(self, event: ErrorOccurred) -> None:
        self.error(event.message)

    def _cancelled(self, event: StepCancelled) -> None:
        self.stop()

    _handlers: ClassVar[dict[str, Callable[[ConsoleRenderer, Any], None]]] = {
        "session_started": _session_started,
        "model_request": _request,
        "model_retry": _retry,
        "reasoning_delta": _reasoning,
        "text_delta": _text,
        "model_response": _turn,
        "tool_call": _tool_started,
        "permission": _permission,
        "tool_result": _tool_finished,
        "todo": _todo,
        "notice": _notice,
        "secrets_redacted": _redacted,
        "error": _error,
        "cancelled": _cancelled,
    }

    # -- drawing, for the session loop and slash commands too ----------------

    def print(self, renderable: RenderableType = "") -> None:
        if isinstance(renderable, Text):
            # Console.print joins Text objects into a new one, dropping these two.
            self.console.print(renderable, no_wrap=renderable.no_wrap,
                               overflow=renderable.overflow)
        else:
            self.console.print(renderable)

    def note(self, message: str) -> None:
        self.print(Text(f"{self.glyphs.note} {message}", style="dim"))

    def error(self, message: str) -> None:
        self.stop()
        self.print(Text(f"{self.glyphs.failed} {message}", style="bold red"))

    def activity(self, label: str) -> _Activity:
        """Show (or relabel) the spinner; a no-op display without a live terminal."""
        if self._activity is None:
            self._activity = _Activity(label, self._clock)
        elif self._activity.label != label:
            self._activity.restart(label)
        if self.live and self._live is None:
            self._live = Live(self._activity, console=self.console, transient=True,
                              refresh_per_second=8, redirect_stdout=False,
                              redirect_stderr=False)
            self._live.start()
        return self._activity

    def stop(self) -> None:
        """Remove the spinner; call before asking the user anything."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._activity = None

    def interrupted(self) -> None:
        """The step was cancelled half-way: drop the spinner and any half-streamed text."""
        self.stop()
        if not self.live and self._ends_open:
            self._write("\n")
        self._reset_stream()

    # -- helpers -------------------------------------------------------------

    def _write(self, text: str) -> None:
        if text:
            self.console.file.write(text)
            self.console.file.flush()
            self._ends_open = not text.endswith("\n")

    def _print_block(self, block: str) -> None:
        """One markdown block, with exactly one blank line before it (none first)."""
        from rich.markdown import Markdown

        markdown = Markdown(block, code_theme="ansi_dark", hyperlinks=False)
        lines = self.console.render_lines(markdown, self.console.options, pad=False)
        while lines and not "".join(s.text for s in lines[0]).strip():
            lines.pop(0)
        while lines and not "".join(s.text for s in lines[-1]).strip():
            lines.pop()
        if not lines:
            return
        if self._blocks_printed:
            self.print()
        self._blocks_printed += 1
        self.print(Segments([seg for line in lines for seg in (*line, Segment.line())]))

    def _reset_stream(self) -> None:
        self._blocks.flush()
        self._streamed = False
        self._blocks_printed = 0

    def _gap(self, kind: str) -> None:
        if self._last and self._last != kind:
            self.print()
        self._last = kind


def _denial(verdict: PermissionDecided) -> str:
    if verdict.decided_by == "user":
        return "declined by you"
    if verdict.decided_by == "headless":
        return "not allowed without approval"
    return f"denied by {verdict.rule}"


def todo_text(items: tuple[TodoItem, ...], glyphs: Glyphs) -> Text:
    marks = {"pending": glyphs.pending, "in_progress": glyphs.active, "completed": glyphs.done}
    text = Text()
    text.append("  Tasks\n", style="bold")
    if not items:
        text.append("    (empty)")
    for item in items:
        style = "dim" if item.status == "completed" else "bold" if \
            item.status == "in_progress" else ""
        text.append(f"    {marks[item.status]} {item.content}\n", style=style)
    text.rstrip()
    return text


class HeldEvents:
    """Holds events for the renderer while the session starts in another thread.

    Drawing from that thread would break the prompt the user is typing in, so
    events wait in order until ``release`` (called on the main thread) draws
    them; ``SessionStarted`` passes at once, since it only fills the status line.
    """

    def __init__(self, renderer: ConsoleRenderer) -> None:
        self._renderer = renderer
        self._held: list[Event] | None = []

    def __call__(self, event: Event) -> None:
        if self._held is None or event.kind == "session_started":
            self._renderer(event)
        else:
            self._held.append(event)

    def release(self) -> None:
        held, self._held = self._held or [], None
        for event in held:
            self._renderer(event)
        self._renderer.stop()
