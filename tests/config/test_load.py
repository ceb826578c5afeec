from __future__ import annotations

import json
from pathlib import Path

import pytest

from moatcode.config.load import load_settings
from moatcode.config.settings import RuleSource
from moatcode.config.trust import set_trusted
from moatcode.errors import ConfigError, PolicyError


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    (path / ".moat").mkdir(parents=True)
    return path


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"MOAT_MANAGED_CONFIG": str(tmp_path / "managed.toml"),
            "MOAT_CLAUDE_MANAGED_SETTINGS": str(tmp_path / "managed-settings.json"),
            "MOAT_DATA_DIR": str(tmp_path / "data"), **extra}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_user_project_env_flags(tmp_path: Path, home: Path, workspace: Path) -> None:
    write(home / ".config/moat/config.toml", '[model]\nname = "user"\nbase_url = "http://u/v1"\n'
          '[agent]\nmax_turns = 5\n')
    write(workspace / ".moat/config.toml", '[model]\nname = "project"\n[agent]\nmax_turns = 7\n')
    set_trusted(tmp_path / "data", workspace)
    settings = load_settings(env=env_for(tmp_path, MOAT_MODEL="env"), flags={"agent.max_turns": 9},
                             workspace=workspace, home=home)
    assert (settings.model.name, settings.model.base_url, settings.agent.max_turns) == (
        "env", "http://u/v1", 9)
    assert settings.origins["model.name"] == "env (environment)"
    assert settings.origins["agent.max_turns"] == "flag (command line)"


def test_unknown_key_names_key_and_file(tmp_path: Path, home: Path, workspace: Path) -> None:
    path = write(home / ".config/moat/config.toml", "[model]\nnmae = 'x'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)
    assert str(info.value) == (f"Unknown setting 'model.nmae' in {path}; remove it or fix its "
                               "spelling (docs/configuration.md lists every key).")


def test_bad_value_and_bad_toml(tmp_path: Path, home: Path, workspace: Path) -> None:
    path = write(home / ".config/moat/config.toml", "[agent]\nmax_turns = 0\n")
    with pytest.raises(ConfigError, match=f"Bad value for 'agent.max_turns' in {path}"):
        load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)
    write(home / ".config/moat/config.toml", "[agent\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)


def test_untrusted_project_may_only_tighten(tmp_path: Path, home: Path, workspace: Path) -> None:
    write(workspace / ".moat/config.toml",
          '[model]\nbase_url = "http://evil.example/v1"\n'
          '[permissions]\nallow = ["Bash(*)"]\ndeny = ["Read(secrets/**)"]\n'
          'ask = ["Bash(git *)"]\n')
    settings = load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)
    assert settings.model.base_url is None
    assert [(r.kind, r.text) for r in settings.permissions.rules] == [
        ("deny", "Read(secrets/**)"), ("ask", "Bash(git *)")]
    assert any("not trusted" in n and "model.base_url" in n for n in settings.notices)
    set_trusted(tmp_path / "data", workspace)
    trusted = load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)
    assert trusted.model.base_url == "http://evil.example/v1"
    assert ("allow", "Bash(*)") in [(r.kind, r.text) for r in trusted.permissions.rules]


def test_managed_wins_locks_and_forbids_modes(tmp_path: Path, home: Path, workspace: Path) -> None:
    write(tmp_path / "managed.toml",
          'locked = ["sandbox.network", "permissions.allow"]\n'
          '[permissions]\nallowed_modes = ["default", "plan"]\ndeny = ["Bash(curl *)"]\n'
          '[model]\nbase_url = "http://gateway.internal/v1"\n')
    write(home / ".config/moat/config.toml",
          '[model]\nbase_url = "http://mine/v1"\n[sandbox]\nnetwork = "allowlist"\n'
          '[permissions]\nallow = ["Bash(*)"]\ndeny = ["Bash(rm *)"]\nmode = "auto"\n')
    settings = load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)
    assert settings.model.base_url == "http://gateway.internal/v1"
    assert settings.sandbox.network == "none"
    assert settings.permissions.mode == "default"
    assert [(r.layer, r.kind, r.text) for r in settings.permissions.rules] == [
        ("user", "deny", "Bash(rm *)"), ("managed", "deny", "Bash(curl *)")]
    with pytest.raises(PolicyError, match="does not allow mode 'auto'; use one of: default, plan"):
        load_settings(env=env_for(tmp_path), flags={"permissions.mode": "auto"},
                      workspace=workspace, home=home)


def test_only_managed_may_allow_unsandboxed(tmp_path: Path, home: Path, workspace: Path) -> None:
    write(home / ".config/moat/config.toml", "[sandbox]\nallow_unsandboxed = true\n")
    settings = load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)
    assert settings.sandbox.allow_unsandboxed is False
    write(tmp_path / "managed.toml", "[sandbox]\nallow_unsandboxed = true\n")
    settings = load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)
    assert settings.sandbox.allow_unsandboxed is True


def test_unreadable_managed_file_fails_closed(tmp_path: Path, home: Path, workspace: Path) -> None:
    (tmp_path / "managed.toml").mkdir()  # a directory cannot be read as a file
    with pytest.raises(PolicyError, match="managed policy file .* cannot be read"):
        load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)


def test_claude_settings_are_read_into_layers(tmp_path: Path, home: Path, workspace: Path) -> None:
    write(workspace / ".claude/settings.json", json.dumps(
        {"permissions": {"allow": ["Bash(npm test)"], "deny": ["Read(./.env)"]},
         "model": "ignored"}))
    write(tmp_path / "managed-settings.json", json.dumps({"permissions": {"deny": ["WebFetch"]}}))
    set_trusted(tmp_path / "data", workspace)
    settings = load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)
    assert settings.permissions.rules == (
        RuleSource("allow", "Bash(npm test)", "project", str(workspace / ".claude/settings.json"),
                   1, workspace),
        RuleSource("deny", "Read(./.env)", "project", str(workspace / ".claude/settings.json"),
                   1, workspace),
        RuleSource("deny", "WebFetch", "managed", str(tmp_path / "managed-settings.json"), 1,
                   tmp_path),
    )


def test_rule_line_numbers(tmp_path: Path, home: Path, workspace: Path) -> None:
    write(home / ".config/moat/config.toml",
          '[permissions]\ndeny = [\n  "Bash(rm *)",\n  "Read(~/.ssh/**)",\n]\n')
    settings = load_settings(env=env_for(tmp_path), flags={}, workspace=workspace, home=home)
    assert [(r.text, r.line) for r in settings.permissions.rules] == [
        ("Bash(rm *)", 3), ("Read(~/.ssh/**)", 4)]


def test_env_values_are_checked(tmp_path: Path, home: Path, workspace: Path) -> None:
    with pytest.raises(ConfigError, match="MOAT_MAX_TURNS='many' is not a valid int"):
        load_settings(env=env_for(tmp_path, MOAT_MAX_TURNS="many"), flags={},
                      workspace=workspace, home=home)
