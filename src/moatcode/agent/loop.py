"""The agent loop: ask the model, run the actions it asks for, repeat.

``run`` loops over ``step``; a step queries the model once and then executes
each tool call it made, each through the gate (policy) and, where policy says
ask, the approver. Everything the loop does is an event; the conversation is
saved after every message. A run ends when the model answers without calling
a tool, or by an exception from ``errors.py`` (max turns, Ctrl-C, a model
server the user must fix).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from moatcode.agent.approval import Approval, ApprovalRequest, Approver, Gate
from moatcode.agent.context import (
    DEFAULT_WINDOW,
    SUMMARY_REQUEST,
    cut_output,
    estimate_tokens,
    merge_summary,
    split_for_compaction,
)
from moatcode.agent.prompt import Environment, Instructions, format_first_turn
from moatcode.errors import Cancelled, ContextLengthExceeded, MaxTurnsReached
from moatcode.events import (
    AssistantTurn,
    ContextCompacted,
    Emit,
    ModelRequestSent,
    ModelRetry,
    Notice,
    PermissionDecided,
    PermissionDenial,
    ReasoningDelta,
    SecretsRedacted,
    SessionEnded,
    StepCancelled,
    TextDelta,
    TodoUpdated,
    ToolCallFinished,
    ToolCallStarted,
    UserPrompt,
)
from moatcode.guard.base import Redactor
from moatcode.models.base import (
    ModelClient,
    ModelRequest,
    ModelTurn,
    ReasoningChunk,
    RequestSent,
    Retrying,
    TextChunk,
)
from moatcode.tools.base import ToolArgumentError, ToolContext, ToolResult
from moatcode.tools.registry import Prepared, ToolRegistry
from moatcode.types import Action, Message, Redaction, Source, ToolCall, Usage

log = logging.getLogger(__name__)


class SessionRecorder(Protocol):
    def append(self, message: Message) -> None: ...

    def replace(self, messages: Sequence[Message]) -> None:
        """The conversation was compacted: these messages are the whole of it now."""
        ...

    def flush(self) -> None: ...


class PlaceholderCheck(Protocol):
    def __call__(self, text: str) -> bool: ...


@dataclass(frozen=True)
class AgentConfig:
    max_turns: int = 50
    max_output_tokens: int = 4096
    temperature: float | None = None
    tool_output_chars: int = 16_000
    compact_at: float = 0.8
    context_window: int | None = None
    keep_after_compaction: int = 6


@dataclass(frozen=True)
class RunResult:
    text: str
    num_turns: int


@dataclass
class _Totals:
    usage: Usage = field(default_factory=Usage)
    turns: int = 0
    model_requests: int = 0
    tool_calls: int = 0
    api_s: float = 0.0
    denials: list[PermissionDenial] = field(default_factory=list)


class Agent:
    def __init__(
        self,
        *,
        session_id: str,
        system_prompt: str,
        client: ModelClient,
        tools: ToolRegistry,
        tool_ctx: ToolContext,
        gate: Gate,
        approver: Approver | None,
        redactor: Redactor,
        has_placeholder: PlaceholderCheck,
        emit: Emit,
        recorder: SessionRecorder,
        environment: Environment,
        instructions: Instructions | None = None,
        config: AgentConfig = AgentConfig(),
        history: Sequence[Message] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_id = session_id
        self._client = client
        self._tools = tools
        self._specs = tools.specs()
        self._specs_chars = sum(len(json.dumps(s.parameters)) + len(s.description)
                                for s in self._specs)
        self._ctx = tool_ctx
        self._gate = gate
        self.approver = approver
        self._redactor = redactor
        self._has_placeholder = has_placeholder
        self._emit = emit
        self._recorder = recorder
        self._environment = environment
        self._instructions = instructions
        self.config = config
        self._clock = clock
        self._started = clock()
        self.totals = _Totals()
        self._step = 0
        self._sources: list[Source] = []
        self._redactions: list[Redaction] = []
        self._session_allowed: set[str] = set()
        self._chars_per_token = 4.0
        # Called before a tool call that may change files runs (the front-end's undo snapshot).
        self.before_change: Callable[[ToolCall, Action], None] | None = None
        self.messages: list[Message] = list(history)
        if not self.messages:
            self._append(Message("system", system_prompt))

    # -- running -------------------------------------------------------------

    def run(self, prompt: str) -> RunResult:
        """Work on ``prompt`` until the model answers without a tool call."""
        self._add_user_turn(prompt)
        turns = 0
        while True:
            if turns >= self.config.max_turns:
                raise MaxTurnsReached(self.config.max_turns)
            turns += 1
            turn = self.step()
            if not turn.tool_calls:
                if turn.finish_reason == "length":
                    # A model that talks without end is stopped by the output cap.
                    self._emit(Notice(f"The answer reached the output limit "
                                      f"({self.config.max_output_tokens} tokens) and was cut "
                                      "off there."))
                return RunResult(turn.text, turns)

    def step(self) -> ModelTurn:
        """One model request, then every tool call it asked for."""
        self._step += 1
        self.totals.turns += 1
        try:
            turn = self._query_fitting()
            message = turn.as_message()
            self._append(message)
            for index, call in enumerate(turn.tool_calls):
                try:
                    self._append(self._execute(call))
                except KeyboardInterrupt:
                    for left in turn.tool_calls[index:]:
                        self._append(Message("tool", "Cancelled by the user before it finished.",
                                             tool_call_id=left.id))
                    raise
        except KeyboardInterrupt:
            self._recorder.flush()
            self._emit(StepCancelled(self._step))
            raise Cancelled() from None
        self._recorder.flush()
        return turn

    def close(self, subtype: str, result: str) -> SessionEnded:
        """Emit and return the session's closing event with its totals."""
        totals = self.totals
        event = SessionEnded(
            session_id=self.session_id,
            subtype=subtype,  # type: ignore[arg-type]
            num_turns=totals.turns,
            usage=totals.usage,
            duration_ms=round((self._clock() - self._started) * 1000, 1),
            duration_api_ms=round(totals.api_s * 1000, 1),
            result=result,
            model_requests=totals.model_requests,
            tool_calls=totals.tool_calls,
            permission_denials=tuple(totals.denials),
        )
        self._emit(event)
        return event

    # -- switching parts mid-session (the interactive front-end) --------------

    def set_gate(self, gate: Gate) -> None:
        """Decide later actions with ``gate`` (the user changed mode or added a rule)."""
        self._gate = gate

    def set_client(self, client: ModelClient) -> None:
        """Send later requests to ``client`` (the user switched models)."""
        self._client = client

    def context_window(self) -> int:
        return self._window()

    # -- the conversation ----------------------------------------------------

    def _append(self, message: Message) -> None:
        self.messages.append(message)
        self._recorder.append(message)

    def _add_user_turn(self, prompt: str) -> None:
        text = self._redact(prompt, "prompt")
        self._emit(UserPrompt(text))
        self._sources.append(Source("prompt", f"turn {len(self.messages)}"))
        if len(self.messages) > 1:
            self._append(Message("user", text))
            return
        instructions = None
        if self._instructions is not None:
            name = self._instructions.name
            instructions = self._redact(self._instructions.text, f"instructions:{name}")
            self._sources.append(Source("instructions", name))
        self._append(Message("user", format_first_turn(
            text, self._environment, instructions,
            self._instructions.name if self._instructions else "")))

    def _redact(self, text: str, location: str) -> str:
        clean, found = self._redactor.redact(text, location)
        if found:
            self._redactions.extend(found)
            self._emit(SecretsRedacted(location, found))
        return clean

    # -- the model -----------------------------------------------------------

    def _window(self) -> int:
        return self.config.context_window or self._client.context_window() or DEFAULT_WINDOW

    def _prompt_chars(self, messages: Sequence[Message]) -> int:
        chars = sum(len(m.content) + sum(len(c.arguments) for c in m.tool_calls)
                    for m in messages)
        return chars + self._specs_chars

    def _estimated_prompt_tokens(self) -> int:
        """The next request's size in tokens, calibrated by the server's last count."""
        return int(self._prompt_chars(self.messages) / self._chars_per_token)

    def _query_fitting(self) -> ModelTurn:
        budget = self._window() - self.config.max_output_tokens
        if self._estimated_prompt_tokens() > budget * self.config.compact_at:
            self._compact("the conversation is near the context window")
        try:
            return self._query(self.messages)
        except ContextLengthExceeded:
            if not self._compact("the server said the request does not fit"):
                raise
            return self._query(self.messages)

    def _query(self, messages: Sequence[Message], tools: bool = True) -> ModelTurn:
        request = ModelRequest(tuple(messages), self._specs if tools else (),
                               self.config.max_output_tokens, self.config.temperature)
        started = self._clock()
        turn: ModelTurn | None = None
        body_chars = 0
        for delta in self._client.stream(request):
            if isinstance(delta, TextChunk):
                self._emit(TextDelta(delta.text))
            elif isinstance(delta, ReasoningChunk):
                self._emit(ReasoningDelta(delta.text))
            elif isinstance(delta, RequestSent):
                body_chars = self._prompt_chars(messages)
                self.totals.model_requests += 1
                self._emit(ModelRequestSent(
                    step=self._step, endpoint=delta.endpoint, model=delta.model,
                    request_bytes=len(delta.body),
                    estimated_tokens=estimate_tokens(len(delta.body)),
                    body_sha256=hashlib.sha256(delta.body).hexdigest(),
                    body=delta.body.decode("utf-8"), sources=tuple(self._sources),
                    redactions=tuple(self._redactions)))
            elif isinstance(delta, Retrying):
                self._emit(ModelRetry(self._step, delta.attempt, delta.reason, delta.delay_s))
            else:
                turn = delta
        if turn is None:
            raise RuntimeError("model client ended its stream without a turn")
        latency = self._clock() - started
        self.totals.api_s += latency
        self.totals.usage = self.totals.usage + turn.usage
        if turn.usage.prompt_tokens and body_chars:
            self._chars_per_token = max(1.0, body_chars / turn.usage.prompt_tokens)
        self._emit(AssistantTurn(self._step, turn.as_message(), turn.usage, turn.finish_reason,
                                 round(latency * 1000, 1), turn.response_sha256))
        return turn

    def compact(self) -> bool:
        """Summarise older turns now (the /compact command)."""
        return self._compact("asked for")

    def _compact(self, why: str) -> bool:
        tail_chars = int(self._window() * self._chars_per_token * 0.3)
        cut = split_for_compaction(self.messages, self.config.keep_after_compaction, tail_chars)
        if cut <= 2:
            return False
        before = self._estimated_prompt_tokens()
        summary_turn = self._query([*self.messages[:cut],
                                    Message("user", SUMMARY_REQUEST)], tools=True)
        summary = summary_turn.text.strip() or "(no summary was written)"
        kept = [self.messages[0], merge_summary(self.messages[1], summary), *self.messages[cut:]]
        removed = len(self.messages) - len(kept)
        self.messages = kept
        self._recorder.replace(kept)
        after = self._estimated_prompt_tokens()
        self._emit(ContextCompacted(self._step, before, after, removed, summary))
        self._emit(Notice(f"Compacted the conversation ({why}): about {before} tokens became "
                          f"{after}; the prompt prefix changes here."))
        return True

    # -- actions -------------------------------------------------------------

    def _execute(self, call: ToolCall) -> Message:
        self.totals.tool_calls += 1
        self._emit(ToolCallStarted(self._step, call))
        started = self._clock()
        prepared = self._tools.prepare(call)
        if isinstance(prepared, str):
            return self._finish(call, ToolResult(False, prepared), started)
        action = prepared.tool.action(prepared.args)
        refusal = self._placeholder_refusal(action, prepared)
        if refusal:
            return self._finish(call, ToolResult(False, refusal), started)
        allowed, message = self._permit(call, action, prepared)
        if not allowed:
            return self._finish(call, ToolResult(False, message), started)
        started = self._clock()  # the tool's time starts after any wait for a person
        if self.before_change is not None and action.kind in ("edit", "bash"):
            self.before_change(call, action)
        try:
            result = prepared.tool.run(prepared.args, self._ctx)
        except ToolArgumentError as exc:
            result = ToolResult(False, str(exc))
        return self._finish(call, result, started)

    def _placeholder_refusal(self, action: Action, prepared: Prepared) -> str:
        if action.kind not in ("edit", "bash"):
            return ""
        texts = [v for v in prepared.args.values() if isinstance(v, str)]
        if any(self._has_placeholder(text) for text in texts):
            return ("Refused: the text contains a redaction placeholder like [REDACTED:kind:n], "
                    "which stands for a secret you cannot see; writing it would replace the "
                    "real value. Leave that part unchanged and edit around it.")
        return ""

    def _permit(self, call: ToolCall, action: Action, prepared: Prepared) -> tuple[bool, str]:
        verdict = self._gate.decide(action)
        key = f"{action.tool}:{json.dumps(prepared.args, sort_keys=True)}"
        decided = PermissionDecided(call.id, call.name, verdict.decision, verdict.rule,
                                    verdict.layer, "policy", summary=verdict.reason)
        if verdict.decision == "ask" and key in self._session_allowed:
            decided = PermissionDecided(call.id, call.name, "allow", verdict.rule, verdict.layer,
                                        "user", scope="session",
                                        summary="allowed earlier in this session")
        elif verdict.decision == "ask" and self.approver is None:
            decided = PermissionDecided(call.id, call.name, "deny", verdict.rule, verdict.layer,
                                        "headless", summary=verdict.reason)
        elif verdict.decision == "ask" and self.approver is not None:
            request = ApprovalRequest(call, action, verdict, _preview(action, prepared))
            asked = self._clock()
            answer = self.approver.approve(request)
            decided = self._answered(call, verdict.rule, verdict.layer, answer,
                                     round((self._clock() - asked) * 1000, 1))
            if answer.allowed and answer.scope == "session":
                self._session_allowed.add(key)
        self._emit(decided)
        if decided.decision == "allow":
            return True, ""
        self.totals.denials.append(PermissionDenial(call.name, call.id, dict(prepared.args)))
        if decided.decided_by == "user":
            note = f" The user said: {decided.note}" if decided.note else ""
            return False, f"The user declined this {call.name} call.{note}"
        if decided.decided_by == "headless":
            return False, (f"Not allowed without approval ({verdict.reason}), and no one can "
                           "approve in this run. Choose another way, or stop and explain what "
                           "you need.")
        return False, (f"Denied by the rule {verdict.rule} ({verdict.layer}): {verdict.reason} "
                       "Choose another way.")

    def _answered(self, call: ToolCall, rule: str, layer: str, answer: Approval,
                  wait_ms: float) -> PermissionDecided:
        return PermissionDecided(call.id, call.name, "allow" if answer.allowed else "deny", rule,
                                 layer, "user", scope=answer.scope, who=answer.who,
                                 note=answer.note, wait_ms=wait_ms)

    def _finish(self, call: ToolCall, result: ToolResult, started: float) -> Message:
        raw = result.output
        location = f"tool:{call.id}"
        redacted = self._redact(raw, location)
        shown, truncated = cut_output(redacted, self.config.tool_output_chars, result.more_hint)
        content = shown if result.ok or result.exit_code is not None else f"Error: {shown}"
        self._sources.extend(
            s if s.kind != "command" else Source("command", call.id) for s in result.sources)
        encoded = raw.encode("utf-8", errors="replace")
        change = result.change
        if change is not None:
            # The diff goes to the audit log (and the gateway), not to the model; its
            # context lines can still hold a secret from the file.
            diff, _ = self._redactor.redact(change.diff, f"diff:{change.path}")
            change = dataclasses.replace(change, diff=diff)
        self._emit(ToolCallFinished(
            step=self._step, call_id=call.id, tool=call.name, ok=result.ok, output=content,
            output_bytes=len(encoded), output_sha256=hashlib.sha256(encoded).hexdigest(),
            truncated=truncated, exit_code=result.exit_code,
            sandbox=self._ctx.sandbox.name if call.name == "bash" else "",
            duration_ms=round((self._clock() - started) * 1000, 1), change=change,
            sources=result.sources))
        if result.todos is not None:
            self._emit(TodoUpdated(result.todos))
        return Message("tool", content, tool_call_id=call.id)


def _preview(action: Action, prepared: Prepared) -> str:
    if action.command is not None:
        return action.command
    return json.dumps(prepared.args, indent=2, ensure_ascii=False)
