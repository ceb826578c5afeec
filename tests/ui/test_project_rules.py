"""Saving an allow rule to .moat/config.toml keeps what the user wrote there."""

from __future__ import annotations

from pathlib import Path

import pytest

from moatcode.config.load import load_settings
from moatcode.errors import ConfigError
from moatcode.ui.project_rules import save_allow_rules

HAND_WRITTEN = """\
# Our project's Moat settings.
[permissions]
# Tests are safe to run.
allow = ["Bash(make test)"]  # keep this one
deny = ["Read(secrets/**)"]

[agent]
max_turns = 30
"""


def test_rules_are_appended_once_and_comments_stay(tmp_path: Path) -> None:
    path = tmp_path / ".moat" / "config.toml"
    path.parent.mkdir()
    path.write_text(HAND_WRITTEN)
    assert save_allow_rules(tmp_path, ["Bash(make lint)", "Bash(make test)"]) == path
    save_allow_rules(tmp_path, ["Bash(make lint)"])
    text = path.read_text()
    assert text.startswith("# Our project's Moat settings.\n[permissions]\n# Tests are safe")
    assert '"Bash(make test)", "Bash(make lint)"]  # keep this one' in text
    assert 'deny = ["Read(secrets/**)"]\n\n[agent]\nmax_turns = 30\n' in text


def test_a_new_file_loads_as_settings(tmp_path: Path) -> None:
    save_allow_rules(tmp_path, ["Edit(/src/app.py)"])
    home = tmp_path / "home"
    settings = load_settings(env={"MOAT_DATA_DIR": str(tmp_path / "data"),
                                  "MOAT_MANAGED_CONFIG": str(tmp_path / "none.toml"),
                                  "MOAT_CLAUDE_MANAGED_SETTINGS": str(tmp_path / "none.json")},
                             flags={}, workspace=tmp_path, home=home)
    assert [(r.kind, r.text, r.layer) for r in settings.permissions.rules] == []
    assert settings.notices == (f"Ignoring allow rules from {tmp_path}/.moat/config.toml: this "
                                "folder is not trusted; run `moat trust` to use them.",)


def test_a_broken_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / ".moat" / "config.toml"
    path.parent.mkdir()
    path.write_text("[permissions\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        save_allow_rules(tmp_path, ["Bash(ls)"])
    assert path.read_text() == "[permissions\n"
