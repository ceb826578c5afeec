"""The harness's own time per step, without the model's time or the tools'.

Runs the real agent loop for 50 steps (one tool call each) with the real
policy engine, secret redaction, session store (fsync at each step) and audit
log (SQLite, hash chain), against an in-process scripted model, and subtracts
the time spent inside the model client and inside the tools. The baseline, in
the same run, is the same loop with the session store and audit log replaced
by no-ops, which shows what recording costs.

Run: .venv/bin/python bench/step_overhead.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _common import median
from tests.scripted_model import ScriptedModel, call

from moatcode.agent.loop import Agent, AgentConfig
from moatcode.agent.prompt import Environment, load_system_prompt
from moatcode.audit.checkpoint import load_or_create_signer
from moatcode.audit.sink import AuditSink
from moatcode.audit.store import AuditStore
from moatcode.events import Event
from moatcode.guard.redact import SecretRedactor, contains_placeholder
from moatcode.guard.secret_files import is_secret_file
from moatcode.policy.engine import PolicyEngine
from moatcode.policy.rules import RuleSet, parse_rule
from moatcode.sandbox.local import UnconfinedSandbox
from moatcode.sessions.store import SessionStore
from moatcode.tools.base import Tool, ToolContext, ToolResult
from moatcode.tools.registry import ToolRegistry, create_default_tools
from moatcode.types import Message

STEPS = 50


class TimedTool:
    """A real tool, with the time spent inside it measured (to be subtracted)."""

    def __init__(self, tool: Tool, clock: list[float]) -> None:
        self._tool = tool
        self._clock = clock
        self.name, self.description, self.parameters = tool.name, tool.description, tool.parameters

    def action(self, args: Mapping[str, Any]) -> Any:
        return self._tool.action(args)

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        started = time.perf_counter()
        try:
            return self._tool.run(args, ctx)
        finally:
            self._clock[0] += time.perf_counter() - started


class NullRecorder:
    def append(self, message: Message) -> None:
        pass

    def replace(self, messages: Sequence[Message]) -> None:
        pass

    def flush(self) -> None:
        pass


def measure(workspace: Path, data: Path, *, record: bool) -> list[float]:
    tool_seconds = [0.0]
    tools = [TimedTool(t, tool_seconds) for t in create_default_tools()]
    script = [[call("read_file", path=f"src/m{i % 20}.py")] for i in range(STEPS)]
    model = ScriptedModel([*script, "done"], window=1_000_000)
    rules = RuleSet("user", "bench", workspace,
                    allow=(parse_rule("Read", source="bench"),))
    gate = PolicyEngine([rules], "default", workspace=workspace, home=data / "home",
                        is_secret_path=is_secret_file)
    sinks: list[Any] = []
    recorder: Any = NullRecorder()
    if record:
        store = AuditStore.open(data / "audit.db")
        sinks.append(AuditSink(store, signer=load_or_create_signer(data / "key"),
                               checkpoint_every=500))
        recorder = SessionStore(data, workspace).create("scripted", "scripted:")

    def emit(event: Event) -> None:
        for sink in sinks:
            sink(event)

    ctx = ToolContext(workspace=workspace, sandbox=UnconfinedSandbox(), env={},
                      rg=str(Path(sys.executable).parent / "rg"))
    agent = Agent(session_id="bench", system_prompt=load_system_prompt(), client=model,
                  tools=ToolRegistry(tools), tool_ctx=ctx, gate=gate, approver=None,
                  redactor=SecretRedactor(), has_placeholder=contains_placeholder, emit=emit,
                  recorder=recorder, environment=Environment("/ws", "2026-11-22", "Linux"),
                  config=AgentConfig(max_turns=STEPS + 1, tool_output_chars=16_000))
    agent._add_user_turn("read every module")  # the first turn, as run() does
    overheads = []
    for _ in range(STEPS):
        model_before, tools_before = model.seconds, tool_seconds[0]
        started = time.perf_counter()
        agent.step()
        total = time.perf_counter() - started
        outside = (model.seconds - model_before) + (tool_seconds[0] - tools_before)
        overheads.append((total - outside) * 1000)
    if record:
        recorder.close()
        sinks[0].close()
        sinks[0].store.close()
    return overheads


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        (workspace / "src").mkdir(parents=True)
        for i in range(20):
            body = "".join(f"def f{j}(x):\n    return x * {j}\n\n" for j in range(40))
            (workspace / "src" / f"m{i}.py").write_text(body)
        results = {}
        runs = (("loop only (baseline)", False), ("with session + audit", True),
                ("loop only (again)", False))
        for number, (label, record) in enumerate(runs):
            data = Path(tmp) / f"data-{number}"
            data.mkdir()
            results[label] = measure(workspace, data, record=record)
        print(f"harness time per step, excluding model and tool time, {STEPS} steps:")
        print(f"{'':<24}{'median ms':>10}{'p90 ms':>10}")
        for label, values in results.items():
            ordered = sorted(values)
            print(f"{label:<24}{median(values):>10.2f}{ordered[int(len(ordered) * 0.9)]:>10.2f}")
        full = median(results["with session + audit"])
        base = median(results["loop only (baseline)"])
        print(f"recording costs {full - base:.2f} ms a step ({full / base:.1f}x the bare loop); "
              f"target: median under 10 ms with everything on -> {full:.2f} ms")


if __name__ == "__main__":
    main()
