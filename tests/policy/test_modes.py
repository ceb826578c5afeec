from __future__ import annotations

import pytest

from moatcode.errors import PolicyError
from moatcode.policy.modes import MODES, decide_by_mode, describe_mode, parse_mode
from moatcode.types import ActionKind


def test_parse_mode_accepts_moat_and_claude_code_names() -> None:
    assert [parse_mode(m) for m in MODES] == list(MODES)
    assert parse_mode("acceptEdits") == "accept-edits"


@pytest.mark.parametrize("name", ["bypassPermissions", "dontAsk", "yolo", ""])
def test_parse_mode_names_the_choices(name: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_mode(name)
    assert str(caught.value) == (
        f"Unknown permission mode {name!r}; choose one of default, accept-edits, plan, auto."
    )


def test_mode_defaults_table() -> None:
    kinds: tuple[ActionKind, ...] = ("read", "edit", "bash", "none")
    table = {m: tuple(decide_by_mode(m, k) for k in kinds) for m in MODES}
    assert table == {
        "default": ("allow", "ask", "ask", "allow"),
        "accept-edits": ("allow", "allow", "ask", "allow"),
        "plan": ("allow", "deny", "deny", "allow"),
        "auto": ("allow", "allow", "allow", "allow"),
    }


def test_describe_plan_mode() -> None:
    assert describe_mode("plan") == (
        ("allow", "reads inside the workspace"),
        ("deny", "edits inside the workspace"),
        ("deny", "commands"),
        ("ask", "reads outside the workspace"),
        ("deny", "edits outside the workspace"),
        ("deny", "commands that cannot be read"),
    )


def test_describe_auto_mode_mentions_unresolved_commands() -> None:
    assert describe_mode("auto")[-1] == (
        "ask", "commands that cannot be read, when any Bash deny or ask rule exists"
    )
