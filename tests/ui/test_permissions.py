"""Permissions the user changes mid-session: modes, rules for the session and for the project."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

from moatcode.config.rules import build_rule_sets
from moatcode.config.settings import ALL_MODES, RuleSource
from moatcode.errors import PolicyError
from moatcode.policy.engine import PolicyEngine
from moatcode.policy.modes import Mode
from moatcode.types import Action
from moatcode.ui.permissions import SESSION_SOURCE, PermissionState, Saved


def state(tmp_path: Path, *, mode: Mode = "default", locked: frozenset[str] = frozenset(),
          trusted: bool = True, allowed: tuple[Mode, ...] = ALL_MODES,
          rules: tuple[RuleSource, ...] = ()) -> PermissionState:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    home = tmp_path / "home"

    def build(sources: Sequence[RuleSource], m: Mode) -> PolicyEngine:
        return PolicyEngine(build_rule_sets(sources), m, workspace=workspace, home=home)

    return PermissionState(rules=rules, mode=mode, allowed_modes=allowed, locked=locked,
                           trusted=trusted, workspace=workspace, build=build)


PYTEST = Action("bash", "bash", command="python -m pytest -q && git diff --stat")
EDIT = Action("edit_file", "edit", paths=("src/app.py",))


def test_propose_names_every_part_and_checks_the_rules_allow_it(tmp_path: Path) -> None:
    perms = state(tmp_path)
    assert perms.propose(PYTEST) == ("Bash(python -m pytest -q)", "Bash(git diff --stat)")
    assert perms.propose(Action("bash", "bash", command="cd src && make")) == ("Bash(make)",)
    assert perms.propose(EDIT) == ("Edit(/src/app.py)",)


@pytest.mark.parametrize("action", [
    Action("bash", "bash", command="rm -rf $DIR"),
    Action("bash", "bash", command="ls *.py"),
    Action("bash", "bash", command="eval \"$X\""),
    Action("edit_file", "edit", paths=("../outside.txt",)),
    Action("edit_file", "edit", paths=("/etc/hosts",)),
])
def test_no_rule_is_proposed_where_one_would_allow_more(tmp_path: Path, action: Action) -> None:
    assert state(tmp_path).propose(action) == ()


def test_a_managed_ask_rule_cannot_be_answered_by_a_proposal(tmp_path: Path) -> None:
    ask = RuleSource("ask", "Bash(git diff *)", "managed", "/etc/moat/managed.toml", None,
                     tmp_path / "ws")
    assert state(tmp_path, rules=(ask,)).propose(PYTEST) == ()


def test_a_lock_on_allow_rules_offers_nothing_to_remember(tmp_path: Path) -> None:
    perms = state(tmp_path, locked=frozenset({"permissions.allow"}))
    assert (perms.can_remember, perms.propose(PYTEST)) == (False, ())


def test_session_rules_reach_the_listeners(tmp_path: Path) -> None:
    perms = state(tmp_path)
    seen: list[PolicyEngine] = []
    perms.listeners.append(seen.append)
    assert perms.engine.decide(PYTEST).decision == "ask"
    perms.remember_for_session(perms.propose(PYTEST))
    assert [e.decide(PYTEST).decision for e in seen] == ["allow"]
    assert perms.engine is seen[-1]
    assert [(r.rule, r.layer, r.source) for r in perms.describe() if r.layer == "flag"] == [
        ("Bash(python -m pytest -q)", "flag", SESSION_SOURCE),
        ("Bash(git diff --stat)", "flag", SESSION_SOURCE)]


def test_project_rules_are_saved_and_count_when_the_folder_is_trusted(tmp_path: Path) -> None:
    perms = state(tmp_path)
    saved = perms.remember_for_project(("Edit(/src/app.py)",))
    assert saved == Saved(tmp_path / "ws" / ".moat" / "config.toml", True)
    assert tomllib.loads(saved.path.read_text())["permissions"]["allow"] == ["Edit(/src/app.py)"]
    assert perms.engine.decide(EDIT).decision == "allow"
    assert perms.engine.decide(EDIT).layer == "project"


def test_an_untrusted_folder_gets_the_file_and_a_session_rule(tmp_path: Path) -> None:
    perms = state(tmp_path, trusted=False)
    saved = perms.remember_for_project(("Edit(/src/app.py)",))
    assert saved.effective is False and saved.path.exists()
    verdict = perms.engine.decide(EDIT)
    assert (verdict.decision, verdict.layer) == ("allow", "flag")


def test_modes_cycle_through_the_allowed_ones_only(tmp_path: Path) -> None:
    perms = state(tmp_path, allowed=("default", "plan"))
    assert perms.next_mode() == "plan"
    perms.set_mode("plan")
    assert (perms.mode, perms.engine.mode, perms.next_mode()) == ("plan", "plan", "default")
    with pytest.raises(PolicyError, match="does not allow auto mode here; use one of: "
                                          "default, plan"):
        perms.set_mode("auto")


def test_a_locked_mode_cannot_be_switched(tmp_path: Path) -> None:
    perms = state(tmp_path, locked=frozenset({"permissions.mode"}))
    assert (perms.allowed_modes, perms.next_mode()) == (("default",), "default")
