from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from moatcode.policy.engine import EffectiveRule, PolicyEngine, Verdict, describe
from moatcode.policy.modes import Mode
from moatcode.policy.rules import Layer, RuleSet, parse_rule
from moatcode.types import Action


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    (path / "src").mkdir(parents=True)
    (path / "src" / "app.py").write_text("print(1)\n")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    (path / ".ssh").mkdir(parents=True)
    (path / ".ssh" / "id_ed25519").write_text("secret\n")
    return path


def layer(
    name: Layer,
    root: Path,
    *,
    allow: tuple[str, ...] = (),
    ask: tuple[str, ...] = (),
    deny: tuple[str, ...] = (),
) -> RuleSet:
    source = f"{root}/{name}.toml"

    def parse(texts: tuple[str, ...]) -> tuple[object, ...]:
        return tuple(parse_rule(t, source=source, line=i + 1) for i, t in enumerate(texts))

    return RuleSet(name, source, root, parse(allow), parse(ask), parse(deny))  # type: ignore[arg-type]


def make(
    ws: Path,
    home: Path,
    *sets: RuleSet,
    mode: Mode = "default",
    secret: Callable[[Path], bool] | None = None,
    resolve_links: bool = True,
) -> PolicyEngine:
    return PolicyEngine(list(sets), mode, ws, home, secret, resolve_links=resolve_links)


def read(*paths: str, tool: str = "read_file") -> Action:
    return Action(tool=tool, kind="read", paths=paths)


def edit(*paths: str, tool: str = "edit_file") -> Action:
    return Action(tool=tool, kind="edit", paths=paths)


def bash(command: str) -> Action:
    return Action(tool="bash", kind="bash", command=command)


def test_todo_list_is_always_allowed(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("managed", ws, deny=("Read", "Edit", "Bash")), mode="plan")
    assert engine.decide(Action(tool="todo_write", kind="none")) == Verdict(
        "allow", "builtin:no-permission-needed", "builtin",
        "todo_write touches no file and runs nothing.",
    )


@pytest.mark.parametrize(
    ("mode", "read_in", "edit_in", "command"),
    [
        ("default", "allow", "ask", "ask"),
        ("accept-edits", "allow", "allow", "ask"),
        ("plan", "allow", "deny", "deny"),
        ("auto", "allow", "allow", "allow"),
    ],
)
def test_mode_defaults(
    ws: Path, home: Path, mode: Mode, read_in: str, edit_in: str, command: str
) -> None:
    engine = make(ws, home, mode=mode)
    assert engine.decide(read("src/app.py")).decision == read_in
    assert engine.decide(edit("src/app.py")).decision == edit_in
    assert engine.decide(bash("make")).decision == command


def test_mode_verdicts_read_well(ws: Path, home: Path) -> None:
    engine = make(ws, home)
    assert engine.decide(read("src/app.py")) == Verdict(
        "allow", "mode:default", "mode", "Reading inside the workspace is allowed in default mode."
    )
    assert engine.decide(bash("make")) == Verdict(
        "ask", "mode:default", "mode",
        "`make` matches no allow rule, and default mode asks before running commands.",
    )


@pytest.mark.parametrize("mode", ["default", "accept-edits", "auto", "plan"])
def test_outside_the_workspace_always_asks(ws: Path, home: Path, mode: Mode) -> None:
    engine = make(ws, home, mode=mode)
    assert engine.decide(read("/etc/hosts")) == Verdict(
        "ask", f"mode:{mode}", "mode",
        "Reading /etc/hosts: /etc/hosts is outside the workspace, and no allow rule names it.",
    )
    assert engine.decide(read("../elsewhere/x")).decision == "ask"
    if mode != "plan":
        assert engine.decide(edit("~/.bashrc")).decision == "ask"


def test_allow_rule_reaches_outside_the_workspace(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("user", home, allow=("Read(//etc/**)",)))
    verdict = engine.decide(read("/etc/hosts"))
    assert verdict == Verdict(
        "allow", "Read(//etc/**)", "user",
        f"Reading /etc/hosts matches allow rule Read(//etc/**) in the user layer ({home}/user.toml"
        " line 1).",
    )


def test_deny_at_any_layer_beats_allow_at_any_layer(ws: Path, home: Path) -> None:
    engine = make(
        ws, home,
        layer("managed", ws, allow=("Read",)),
        layer("user", home, deny=("Read(src/**)",)),
    )
    verdict = engine.decide(read("src/app.py"))
    assert (verdict.decision, verdict.rule, verdict.layer) == ("deny", "Read(src/**)", "user")


def test_the_most_authoritative_deny_is_named(ws: Path, home: Path) -> None:
    engine = make(
        ws, home,
        layer("project", ws, deny=("Read(*.py)",)),
        layer("managed", ws, deny=("Read(src/**)",)),
    )
    verdict = engine.decide(read("src/app.py"))
    assert (verdict.rule, verdict.layer) == ("Read(src/**)", "managed")


def test_ask_beats_allow(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("managed", ws, allow=("Edit",)),
                  layer("project", ws, ask=("Edit(src/**)",)))
    verdict = engine.decide(edit("src/app.py"))
    assert (verdict.decision, verdict.rule, verdict.layer) == ("ask", "Edit(src/**)", "project")


def test_dotdot_is_folded_before_matching(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("project", ws, deny=("Read(.env)",)))
    assert engine.decide(read("src/../.env")).decision == "deny"
    assert engine.decide(read(f"{ws}/src/../src/../.env")).decision == "deny"


def test_name_deny_rules_match_anywhere_but_allow_rules_only_here(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("project", ws, deny=("Read(*.pem)",),
                                  allow=("Read(*.txt)",)))
    assert engine.decide(read("/srv/certs/server.pem")).decision == "deny"
    assert engine.decide(read("/srv/notes.txt")).decision == "ask"


def test_slash_rules_are_relative_to_the_settings_root(
    ws: Path, home: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-root"
    engine = make(ws, home, layer("user", other, deny=("Read(/secrets/**)",)))
    assert engine.decide(read(str(other / "secrets" / "a"))).decision == "deny"
    assert engine.decide(read("secrets/a")).decision == "allow"


def test_tool_rules_and_family_rules(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("project", ws, deny=("grep(src/**)",), allow=("Write",)),
                  mode="default")
    assert engine.decide(read("src", tool="grep")).decision == "deny"
    assert engine.decide(read("src/app.py", tool="read_file")).decision == "allow"
    assert engine.decide(edit("src/app.py", tool="write_file")).decision == "allow"
    assert engine.decide(edit("src/app.py", tool="edit_file")).decision == "ask"


def test_every_path_of_an_action_must_pass(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("project", ws, deny=("Read(secrets/**)",)))
    verdict = engine.decide(read("src/app.py", "secrets/key", tool="grep"))
    assert (verdict.decision, verdict.rule) == ("deny", "Read(secrets/**)")


def test_protected_paths_ask_in_every_mode_that_edits(ws: Path, home: Path) -> None:
    for mode in ("accept-edits", "auto"):
        engine = make(ws, home, mode=mode)
        assert engine.decide(edit(".git/hooks/pre-commit")).decision == "ask"
        assert engine.decide(edit(".moat/config.toml")).decision == "ask"
        assert engine.decide(edit("sub/.git/config")).decision == "ask"
        assert engine.decide(edit("src/app.py")).decision == "allow"
    engine = make(ws, home, layer("user", home, allow=("Edit(.git/hooks/**)",)), mode="auto")
    assert engine.decide(edit(".git/hooks/pre-commit")).decision == "allow"


def is_secret(path: Path) -> bool:
    return path.name == ".env" or path.suffix == ".pem"


def test_secret_files_are_denied_by_nature(ws: Path, home: Path) -> None:
    engine = make(ws, home, secret=is_secret, mode="auto")
    assert engine.decide(read(".env")) == Verdict(
        "deny", "builtin:secret-file", "builtin",
        "Reading .env: it is a secret file, which only an allow rule in the managed or user "
        "settings can open.",
    )


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        # The project (the repository itself) cannot open a secret.
        ((("project", ("Read(.env)",)),), "deny"),
        ((("flag", ("Read(.env)",)),), "deny"),
        # A bare family rule does not name the path.
        ((("user", ("Read",)),), "deny"),
        ((("user", ("Read(.env)",)),), "allow"),
        ((("managed", ("Read(**/.env)",)),), "allow"),
    ],
)
def test_only_managed_or_user_allow_rules_open_a_secret(
    ws: Path, home: Path, sets: tuple[tuple[Layer, tuple[str, ...]], ...], expected: str
) -> None:
    engine = make(ws, home, *(layer(n, ws, allow=a) for n, a in sets), secret=is_secret)
    assert engine.decide(read(".env")).decision == expected


def test_editing_a_secret_asks_even_when_edits_run(ws: Path, home: Path) -> None:
    engine = make(ws, home, secret=is_secret, mode="accept-edits")
    verdict = engine.decide(edit("certs/server.pem"))
    assert (verdict.decision, verdict.rule) == ("ask", "mode:accept-edits")


def test_symlinks_are_followed(ws: Path, home: Path) -> None:
    (ws / "notes.md").symlink_to(home / ".ssh" / "id_ed25519")
    rules = layer("user", home, deny=("Read(~/.ssh/**)",))
    verdict = make(ws, home, rules).decide(read("notes.md"))
    assert (verdict.decision, verdict.rule) == ("deny", "Read(~/.ssh/**)")
    # Without a deny rule the link still leads outside the workspace, so it asks.
    verdict = make(ws, home).decide(read("notes.md"))
    assert verdict.decision == "ask"
    assert verdict.reason.endswith(
        f"{home}/.ssh/id_ed25519 is outside the workspace, and no allow rule names it."
    )
    # The knob exists for callers that resolve links themselves.
    assert make(ws, home, rules, resolve_links=False).decide(read("notes.md")).decision == "allow"


def test_workspace_reached_through_a_link(ws: Path, home: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(ws)
    engine = make(alias, home, layer("project", alias, allow=("Edit(src/**)",)))
    assert engine.decide(edit("src/app.py")).decision == "allow"
    assert engine.decide(edit(f"{ws}/src/app.py")).decision == "allow"


# -- Bash ------------------------------------------------------------------


def test_every_part_must_be_allowed(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("project", ws, allow=("Bash(git status)", "Bash(npm test)")))
    assert engine.decide(bash("git status && npm test")) == Verdict(
        "allow", "Bash(git status), Bash(npm test)", "project",
        f"Every part is allowed: `git status` matches allow rule Bash(git status) in the project "
        f"layer ({ws}/project.toml line 1). `npm test` matches allow rule Bash(npm test) in the "
        f"project layer ({ws}/project.toml line 2).",
    )
    assert engine.decide(bash("git status && make")) == Verdict(
        "ask", "mode:default", "mode",
        "`make` matches no allow rule, and default mode asks before running commands.",
    )


def test_deny_in_any_part_denies_the_command(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("managed", ws, deny=("Bash(rm -rf *)",)),
                  layer("user", home, allow=("Bash",)))
    assert engine.decide(bash("ls; make && rm -fr build")) == Verdict(
        "deny", "Bash(rm -rf *)", "managed",
        f"`rm -fr build` matches deny rule Bash(rm -rf *) in the managed layer "
        f"({ws}/managed.toml line 1).",
    )


def test_ask_rule_on_a_part(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("project", ws, ask=("Bash(git push *)",)),
                  layer("user", home, allow=("Bash",)), mode="auto")
    verdict = engine.decide(bash("git add . && git -C . push --force"))
    assert (verdict.decision, verdict.rule) == ("ask", "Bash(git push *)")


def test_unresolved_parts_never_match_allow_rules(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("user", home, allow=("Bash",)))
    assert engine.decide(bash("eval 'ls'")) == Verdict(
        "ask", "mode:default", "mode",
        "`eval 'ls'` cannot be read as plain words (eval runs text as a command), so no allow "
        "rule can match it.",
    )


def test_auto_mode_and_unresolved_parts(ws: Path, home: Path) -> None:
    assert make(ws, home, mode="auto").decide(bash("$CMD x")).decision == "allow"
    # Any Bash deny or ask rule anywhere makes unresolved parts ask.
    engine = make(ws, home, layer("managed", ws, deny=("Bash(curl *)",)), mode="auto")
    assert engine.decide(bash("$CMD x")).decision == "ask"
    assert engine.decide(bash("make")).decision == "allow"


def test_plan_mode_denies_commands_even_when_allowed(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("user", home, allow=("Bash(git status)",)), mode="plan")
    assert engine.decide(bash("git status")) == Verdict(
        "deny", "mode:plan", "mode", "Plan mode does not change files or run commands."
    )


def test_noops_and_cd_inside_need_no_rule(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("project", ws, allow=("Bash(make *)",)))
    assert engine.decide(bash("set -euo pipefail; cd src && make test || true")).decision == "allow"
    assert engine.decide(bash("cd /etc && make")).decision == "ask"
    assert engine.decide(bash("cd - && make")).decision == "ask"


def test_redirect_targets_are_edits(ws: Path, home: Path) -> None:
    allow = layer("project", ws, allow=("Bash(echo *)",), deny=("Edit(secrets/**)",))
    default = make(ws, home, allow)
    assert default.decide(bash("echo hi > /dev/null 2>&1")).decision == "allow"
    verdict = default.decide(bash("echo hi > out.txt"))
    assert verdict == Verdict(
        "ask", "mode:default", "mode",
        "Editing inside the workspace asks first in default mode.",
    )
    edits = make(ws, home, allow, mode="accept-edits")
    assert edits.decide(bash("echo hi > out.txt")).decision == "allow"
    assert edits.decide(bash("echo hi >> /tmp/x")).reason == (
        "The write `>>/tmp/x` (/tmp/x): /tmp/x is outside the workspace, and no allow rule "
        "names it."
    )
    assert edits.decide(bash("echo hi > ~/.bashrc")).decision == "ask"
    assert edits.decide(bash("echo x | tee secrets/k")).rule == "Edit(secrets/**)"
    assert edits.decide(bash("cd secrets; echo x > k")).rule == "Edit(secrets/**)"
    assert edits.decide(bash('echo x > "$OUT"')).decision == "ask"
    assert edits.decide(bash("echo x > .git/hooks/pre-push")).decision == "ask"


def test_files_that_allowed_commands_change_meet_edit_deny_and_ask_rules(
    ws: Path, home: Path
) -> None:
    rules = layer("project", ws, allow=("Bash(cp *)", "Bash(mv *)", "Bash(rm *)", "Bash(sed *)",
                                        "Bash(chmod *)", "Bash(dd *)", "Bash(echo *)"),
                  deny=("Edit(.github/**)",), ask=("Edit(migrations/**)",))
    engine = make(ws, home, rules)
    # Inside the workspace and named by no Edit rule: the command's allow rule covers it,
    # in default mode too, as it covers what `make` writes.
    assert engine.decide(bash("cp a.txt b.txt")).decision == "allow"
    assert engine.decide(bash("rm -rf build")).decision == "allow"
    assert engine.decide(bash("cp evil.yml .github/workflows/")).rule == "Edit(.github/**)"
    assert engine.decide(bash("cp -t .github/workflows evil.yml")).decision == "deny"
    assert engine.decide(bash("mv .github/workflows/ci.yml old.yml")).decision == "deny"
    assert engine.decide(bash("rm -rf .github")).decision == "deny"
    assert engine.decide(bash("sed -i s/a/b/ .github/workflows/ci.yml")).decision == "deny"
    assert engine.decide(bash("sed s/a/b/ .github/workflows/ci.yml")).decision == "allow"
    assert engine.decide(bash("dd if=x of=.github/x")).decision == "deny"
    assert engine.decide(bash("cd .github && rm -f x")).decision == "deny"
    verdict = engine.decide(bash("mv 0001.py migrations/"))
    assert (verdict.decision, verdict.rule) == ("ask", "Edit(migrations/**)")
    # A protected path asks, whatever the rules say about commands.
    assert engine.decide(bash("chmod +x .git/hooks/pre-push")).decision == "ask"
    # Every spelling GNU getopt accepts for the target directory, and option clusters.
    for command in ("cp -rt .github/workflows evil.yml", "cp -t.github/workflows evil.yml",
                    "cp --target=.github/workflows evil.yml", "cp --tar .github/w evil.yml",
                    "mv -ft .github x", "sed -i -es/a/b/ .github/ci.yml",
                    "sed --in s/a/b/ .github/ci.yml", "chmod -x .github/ci.yml",
                    "cd .github/workflows && cp ../../evil.yml ."):
        assert engine.decide(bash(command)).decision == "deny", command
    for command in ('F="evil.yml .github/workflows"; cp $F',
                    "echo evil.yml .github/workflows | xargs cp",
                    "sed -n 's/a/b/w .github/ci.yml' src/app.py"):
        verdict = engine.decide(bash(command))
        assert (verdict.decision, verdict.layer) == ("ask", "mode"), command
        assert "only known when it runs" in verdict.reason, command
    # Where the file goes is only known at run time, and Edit rules exist: ask.
    assert engine.decide(bash('cp x "$DEST"')).decision == "ask"
    assert make(ws, home, layer("project", ws, allow=("Bash(cp *)",))).decide(
        bash('cp x "$DEST"')).decision == "allow"


def test_find_delete_is_an_edit_of_its_root(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("project", ws, allow=("Bash(find *)",),
                                  deny=("Edit(src/**)",)), mode="accept-edits")
    assert engine.decide(bash("find build -name '*.o' -delete")).decision == "allow"
    assert engine.decide(bash("find src -delete")).rule == "Edit(src/**)"
    assert engine.decide(bash("find / -delete")).decision == "ask"


def test_sudo_needs_an_allow_rule_for_the_sudo_form(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("user", home, allow=("Bash(apt-get install *)",)))
    assert engine.decide(bash("sudo apt-get install jq")).decision == "ask"
    engine = make(ws, home, layer("user", home, allow=("Bash(sudo apt-get install *)",)))
    assert engine.decide(bash("sudo apt-get install jq")).decision == "allow"
    engine = make(ws, home, layer("user", home, allow=("Bash(sudo *)",),
                                  deny=("Bash(rm -rf *)",)))
    assert engine.decide(bash("sudo rm -rf /")).rule == "Bash(rm -rf *)"
    engine = make(ws, home, layer("user", home, deny=("Bash(sudo *)",)))
    assert engine.decide(bash("timeout 5 sudo -u x ls")).rule == "Bash(sudo *)"


def test_missing_and_empty_commands(ws: Path, home: Path) -> None:
    engine = make(ws, home)
    assert engine.decide(Action(tool="bash", kind="bash")).decision == "ask"
    assert engine.decide(bash("  # nothing\n")) == Verdict(
        "allow", "builtin:no-op", "builtin", "The command runs nothing."
    )


def test_with_mode_keeps_the_rules(ws: Path, home: Path) -> None:
    engine = make(ws, home, layer("project", ws, deny=("Edit(src/**)",)))
    edits = engine.with_mode("accept-edits")
    assert edits.mode == "accept-edits" and engine.mode == "default"
    assert edits.decide(edit("README.md")).decision == "allow"
    assert edits.decide(edit("src/app.py")).decision == "deny"


def test_describe_lists_every_effective_rule(ws: Path, home: Path) -> None:
    engine = make(
        ws, home,
        layer("project", ws, allow=("Bash(ls *)",)),
        layer("managed", ws, deny=("Bash(curl *)",), ask=("Edit(.github/**)",)),
        secret=is_secret,
        mode="accept-edits",
    )
    assert describe(engine) == (
        EffectiveRule("deny", "Bash(curl *)", "managed", f"{ws}/managed.toml", 1),
        EffectiveRule("ask", "Edit(.github/**)", "managed", f"{ws}/managed.toml", 1),
        EffectiveRule("allow", "Bash(ls *)", "project", f"{ws}/project.toml", 1),
        EffectiveRule("deny", "builtin:secret-file", "builtin", "moat", None,
                      "reading secret files (.env, keys...)"),
        EffectiveRule("allow", "builtin:no-op", "builtin", "moat", None,
                      "true, :, set -e... and cd inside the workspace"),
        EffectiveRule("allow", "mode:accept-edits", "mode", "mode", None,
                      "reads inside the workspace"),
        EffectiveRule("allow", "mode:accept-edits", "mode", "mode", None,
                      "edits inside the workspace"),
        EffectiveRule("ask", "mode:accept-edits", "mode", "mode", None, "commands"),
        EffectiveRule("ask", "mode:accept-edits", "mode", "mode", None,
                      "reads outside the workspace"),
        EffectiveRule("ask", "mode:accept-edits", "mode", "mode", None,
                      "edits outside the workspace"),
        EffectiveRule("ask", "mode:accept-edits", "mode", "mode", None,
                      "edits of .git, .moat, .vscode, .idea, .envrc, .gitmodules and secret files"),
        EffectiveRule("ask", "mode:accept-edits", "mode", "mode", None,
                      "commands that cannot be read"),
    )


def test_engine_reads_no_environment(ws: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/nonexistent")
    engine = make(ws, home, layer("user", home, deny=("Read(~/.ssh/**)",)))
    assert engine.decide(read("~/.ssh/id_ed25519")).decision == "deny"
    assert engine.decide(read(os.fspath(home / ".ssh" / "id_ed25519"))).decision == "deny"
