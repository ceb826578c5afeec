"""The approval prompt: what it shows, what it offers, and what each answer does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from moatcode.agent.approval import Approval, ApprovalRequest
from moatcode.config.rules import build_rule_sets
from moatcode.config.settings import ALL_MODES, RuleSource
from moatcode.events import Event, Notice
from moatcode.policy.engine import PolicyEngine
from moatcode.policy.modes import Mode
from moatcode.types import Action, ToolCall
from moatcode.ui.approver import ConsoleApprover
from moatcode.ui.choice import Choice
from moatcode.ui.console import ConsoleRenderer
from moatcode.ui.permissions import PermissionState
from tests.ui.conftest import Screen


class ScriptedAsker:
    """Answers from a list, and keeps what it was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, list[Choice]]] = []

    def choose(self, question: str, choices: Sequence[Choice], default: str) -> str:
        self.asked.append((question, list(choices)))
        return self.answers.pop(0)

    def text(self, prompt: str) -> str:
        self.asked.append((prompt, []))
        return self.answers.pop(0)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "calc").mkdir(parents=True)
    (ws / "calc" / "ops.py").write_text("def add(a, b):\n    return a - b\n")
    return ws


def make(workspace: Path, asker: ScriptedAsker, *, trusted: bool = True,
         locked: frozenset[str] = frozenset()) -> tuple[ConsoleApprover, PermissionState, Screen]:
    def build(sources: Sequence[RuleSource], mode: Mode) -> PolicyEngine:
        return PolicyEngine(build_rule_sets(sources), mode, workspace=workspace,
                            home=workspace.parent / "home")

    perms = PermissionState(rules=(), mode="default", allowed_modes=ALL_MODES, locked=locked,
                            trusted=trusted, workspace=workspace, build=build)
    screen = Screen()
    renderer = ConsoleRenderer(screen.console, live=False, clock=lambda: 0.0)
    return ConsoleApprover(renderer, asker, perms, who="dev"), perms, screen


def request(perms: PermissionState, name: str, args: dict[str, object],
            action: Action) -> ApprovalRequest:
    call = ToolCall("c1", name, json.dumps(args))
    return ApprovalRequest(call, action, perms.engine.decide(action), action.command or "")


BASH = Action("bash", "bash", command="python -m pytest -q")


def test_a_command_is_shown_whole_with_the_reason(workspace: Path) -> None:
    asker = ScriptedAsker("once")
    approver, perms, screen = make(workspace, asker)
    answer = approver.approve(request(perms, "bash", {"command": BASH.command}, BASH))
    assert answer == Approval(True, "once", "dev")
    assert screen.text == (
        "\n"
        "╭─ Bash wants to run ──────────────────────────────────────────────────────────╮\n"
        "│ python -m pytest -q                                                          │\n"
        "╰──────────────────────────────────────────────────────────────────────────────╯\n"
        "Why it asks: `python -m pytest -q` matches no allow rule, and default mode asks \n"
        "before running commands. (mode:default, mode)\n")
    assert asker.asked == [("Allow this Bash call?", [
        Choice("once", "Yes", "y"),
        Choice("session", "Yes, and allow Bash(python -m pytest -q) for this session", "s"),
        Choice("project", "Yes, and always allow Bash(python -m pytest -q) in this project",
               "a"),
        Choice("no", "No, and tell the model what to do instead", "n")])]


def test_an_edit_is_shown_as_the_diff_it_would_make(workspace: Path) -> None:
    approver, perms, screen = make(workspace, ScriptedAsker("once"))
    action = Action("edit_file", "edit", paths=("calc/ops.py",))
    approver.approve(request(perms, "edit_file", {"path": "calc/ops.py", "old_string": "a - b",
                                                  "new_string": "a + b"}, action))
    assert "Edit wants to change calc/ops.py" in screen.text
    body = [line.strip("│ ") for line in screen.text.splitlines()]
    assert body[2:6] == ["@@ -1,2 +1,2 @@", "def add(a, b):", "-    return a - b",
                         "+    return a + b"]


def test_no_with_a_note(workspace: Path) -> None:
    asker = ScriptedAsker("no", "  run make test instead ")
    approver, perms, _ = make(workspace, asker)
    answer = approver.approve(request(perms, "bash", {"command": BASH.command}, BASH))
    assert answer == Approval(False, "once", "dev", "run make test instead")
    assert asker.asked[-1] == ("Note for the model (Enter for none): ", [])


def test_yes_for_the_session_allows_it_from_now_on(workspace: Path) -> None:
    approver, perms, screen = make(workspace, ScriptedAsker("session"))
    answer = approver.approve(request(perms, "bash", {"command": BASH.command}, BASH))
    assert answer == Approval(True, "session", "dev")
    assert perms.engine.decide(BASH).decision == "allow"
    assert screen.text.endswith("• Allowed Bash(python -m pytest -q) for this session.\n")


def test_always_saves_the_rule_and_records_it(workspace: Path) -> None:
    approver, perms, _ = make(workspace, ScriptedAsker("project"), trusted=False)
    events: list[Event] = []
    approver.emit = events.append
    answer = approver.approve(request(perms, "bash", {"command": BASH.command}, BASH))
    assert answer == Approval(True, "project", "dev")
    path = workspace / ".moat" / "config.toml"
    assert path.read_text() == '[permissions]\nallow = [\n    "Bash(python -m pytest -q)",\n]\n'
    message = (f"Saved the allow rule Bash(python -m pytest -q) to {path}. This folder is not "
               "trusted, so the file counts only after `moat trust`; the rule applies for the "
               "rest of this session.")
    assert events == [Notice(message)]
    assert perms.engine.decide(BASH).decision == "allow"


def test_a_managed_lock_leaves_only_yes_once_and_no(workspace: Path) -> None:
    asker = ScriptedAsker("once")
    approver, perms, _ = make(workspace, asker, locked=frozenset({"permissions"}))
    approver.approve(request(perms, "bash", {"command": BASH.command}, BASH))
    assert [c.key for c in asker.asked[0][1]] == ["once", "no"]


def test_a_call_no_rule_can_name_is_remembered_only_as_itself(workspace: Path) -> None:
    asker = ScriptedAsker("session")
    approver, perms, _ = make(workspace, asker)
    odd = Action("bash", "bash", command="rm -rf $TMPDIR/x")
    assert approver.approve(request(perms, "bash", {"command": odd.command}, odd)) == \
        Approval(True, "session", "dev")
    assert [c.label for c in asker.asked[0][1]] == [
        "Yes", "Yes, and allow this exact call for this session",
        "No, and tell the model what to do instead"]
    assert perms.engine.decide(odd).decision == "ask"  # the agent remembers the exact call
