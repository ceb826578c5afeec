from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from moatcode.agent.approval import Approver
from moatcode.agent.loop import Agent, AgentConfig
from moatcode.agent.prompt import Environment, Instructions, load_system_prompt
from moatcode.events import Event
from moatcode.guard.redact import SecretRedactor, contains_placeholder
from moatcode.guard.secret_files import is_secret_file
from moatcode.policy.engine import PolicyEngine
from moatcode.policy.rules import RuleSet, parse_rule
from moatcode.sandbox.local import UnconfinedSandbox
from moatcode.tools.base import ToolContext
from moatcode.tools.registry import ToolRegistry, create_default_tools
from moatcode.types import Message
from tests.scripted_model import ScriptedModel


@dataclass
class MemoryRecorder:
    messages: list[Message] = field(default_factory=list)
    replaced: int = 0
    flushes: int = 0

    def append(self, message: Message) -> None:
        self.messages.append(message)

    def replace(self, messages: Sequence[Message]) -> None:
        self.messages = list(messages)
        self.replaced += 1

    def flush(self) -> None:
        self.flushes += 1


@dataclass
class Harness:
    workspace: Path
    model: ScriptedModel
    events: list[Event]
    recorder: MemoryRecorder
    make: Callable[..., Agent]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events if e.kind not in ("text_delta", "reasoning_delta")]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    model = ScriptedModel()
    events: list[Event] = []
    recorder = MemoryRecorder()
    rg = Path(sys.executable).parent / "rg"

    def make(*, allow: Sequence[str] = (), mode: str = "default", config: AgentConfig | None = None,
             instructions: Instructions | None = None, approver: Approver | None = None,
             clock: Callable[[], float] = time.monotonic) -> Agent:
        rules = RuleSet("flag", "test", workspace,
                        allow=tuple(parse_rule(r, source="test") for r in allow))
        gate = PolicyEngine([rules], mode, workspace=workspace, home=tmp_path / "home",  # type: ignore[arg-type]
                            is_secret_path=is_secret_file)
        ctx = ToolContext(workspace=workspace, sandbox=UnconfinedSandbox(),
                          env={"PATH": "/usr/bin:/bin"},
                          rg=str(rg) if rg.exists() else (shutil.which("rg") or "rg"))
        return Agent(session_id="s1", system_prompt=load_system_prompt(), client=model,
                     tools=ToolRegistry(create_default_tools()), tool_ctx=ctx, gate=gate,
                     approver=approver, redactor=SecretRedactor(),
                     has_placeholder=contains_placeholder,
                     emit=events.append, recorder=recorder,
                     environment=Environment("/ws", "2026-11-22", "Linux x86_64", "main", "clean"),
                     instructions=instructions, config=config or AgentConfig(), clock=clock)

    return Harness(workspace, model, events, recorder, make)
