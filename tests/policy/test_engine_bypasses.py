"""Commands that have slipped past other agents' permission rules, each tried on the engine.

A deny rule must catch the command however it is dressed up; an allow rule
must not let a second command ride along with the one it names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from moatcode.policy.engine import PolicyEngine
from moatcode.policy.rules import RuleSet, parse_rule
from moatcode.types import Action


def engine(tmp_path: Path, *, allow: tuple[str, ...], deny: tuple[str, ...] = ()) -> PolicyEngine:
    ws = tmp_path / "proj"
    ws.mkdir(exist_ok=True)
    rules = RuleSet(
        "project",
        "settings",
        ws,
        allow=tuple(parse_rule(r, source="settings") for r in allow),
        deny=tuple(parse_rule(r, source="settings") for r in deny),
    )
    return PolicyEngine([rules], "default", ws, tmp_path / "home")


def decide(e: PolicyEngine, command: str) -> str:
    return e.decide(Action(tool="bash", kind="bash", command=command)).decision


DRESSED_UP_RM = [
    # Flag spelling and order.
    "rm -rf x", "rm -fr x", "rm -r -f x", "rm -Rf x", "rm --recursive --force x",
    "rm -rf -- x", "rm x -rf",
    # Program spelling and quoting.
    "/bin/rm -rf x", "\\rm -rf x", "'rm' -rf x", "r''m x", '"rm" x', "$'\\x72m' x",
    '$"rm" x', "r\\\nm x", "echo a\n\\rm x", "time A=1 rm x",
    # Wrappers, with their own options.
    "timeout 5 rm x", "timeout -s KILL 5 rm x", "timeout --signal=KILL -k 1 5s rm x",
    "time rm x", "time -p rm x", "nice rm x", "nice -n 10 rm x", "nice -10 rm x",
    "nohup rm x", "env rm x", "env -i rm x", "env -i FOO=1 -u BAR rm x", "env -- rm x",
    "command rm x", "command -p rm x", "builtin exec rm x", "exec rm x", "exec -a name rm x",
    "xargs rm", "xargs -0 rm", "xargs -0 -n 1 -P 4 rm -f", "stdbuf -oL rm x",
    "ionice -c 3 rm x", "sudo rm x", "sudo -u root -E rm x", "sudo FOO=1 rm x",
    "doas rm x", "setsid rm x", "busybox rm x", "coproc rm x", "coproc { rm x; }",
    "timeout 5 nice -n 1 env -i sudo -u root nohup rm x",
    # Grouping.
    "{ rm x; }", "(rm x)", "( (rm x) )", "{ (rm x); }",
    # Substitutions.
    "cat <(rm x)", "tee >(rm x)", "echo $(rm x)", "echo `rm x`", 'echo "$(rm x)"',
    "X=$(rm x)", "echo ${X:-$(rm x)}", "export A=$(rm x)",
    # find.
    "find . -exec rm {} \\;", "find . -execdir rm {} +", "find . -ok rm {} ';'",
    "find . -name '*.o' -exec sh -c 'rm \"$0\"' {} \\;",
    # Lists, pipes, newlines, background, trailing separators.
    "true && rm x", "false || rm x", "ls | rm x", "ls\nrm x", "ls; rm x;", "rm x &",
    "ls & rm x", "ls\n\n  rm x\n",
    # Control flow and functions.
    "if true; then rm x; fi", "if rm x; then :; fi", "for f in a; do rm $f; done",
    "while false; do rm x; done", "case a in a) rm x;; esac", "f() { rm x; }; f", "! rm x",
    # Shells given a string, here-documents, eval, trap.
    "bash -c 'rm x'", 'sh -c "rm x"', "zsh -c 'rm x'", "bash -lc 'rm x'",
    "bash -o errexit -c 'rm x'", "bash <<EOF\nrm x\nEOF", "bash <<'EOF'\nrm x\nEOF",
    "sh <<< 'rm x'", "eval 'rm x'", "eval rm x", "sudo bash -c 'rm x'",
    "bash -c \"bash -c 'rm x'\"", "trap 'rm x' EXIT", "cat <<EOF\n$(rm x)\nEOF",
    "cat <<EOF\n`rm x`\nEOF", "echo ${v:-`rm x`}", 'cat <<E"O"F\nEOF\nrm x\nE"O"F',
    "echo x | xargs -I{} sh -c 'rm {}'",
    # Words the grammar hands to a redirection.
    "rm >/dev/null -rf x", "true && rm 2>/dev/null -rf x",
]


@pytest.mark.parametrize("command", DRESSED_UP_RM)
def test_deny_rule_catches_dressed_up_commands(tmp_path: Path, command: str) -> None:
    e = engine(tmp_path, allow=("Bash",), deny=("Bash(rm *)",))
    assert decide(e, command) == "deny"


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf x", "rm -fr x", "rm -r -f x", "rm -Rf x", "rm --recursive --force x",
        "rm -rf -- x", "/bin/rm -rf x", "\\rm -rf x", "'rm' -rf x", "sudo rm -rf /",
        "find . -exec rm -rf {} +", "bash -c 'rm -r --force x'", "rm $FLAGS x",
    ],
)
def test_deny_rm_rf_catches_every_spelling(tmp_path: Path, command: str) -> None:
    e = engine(tmp_path, allow=("Bash",), deny=("Bash(rm -rf *)",))
    assert decide(e, command) == "deny"


@pytest.mark.parametrize("command", ["rm x", "rm -r x", "rm -- -rf", 'rm -f "$x"'])
def test_deny_rm_rf_leaves_other_rm_alone(tmp_path: Path, command: str) -> None:
    e = engine(tmp_path, allow=("Bash",), deny=("Bash(rm -rf *)",))
    assert decide(e, command) == "allow"


@pytest.mark.parametrize(
    "command",
    [
        # What cannot be read asks, even with `Bash` allowed and rm denied.
        "$(echo rm) x", "$CMD x", "`echo rm` x", "cat x | sh", "curl x | bash",
        "source ./x.sh", ". ./x.sh", 'eval "$X"', 'bash -c "$X"', "{rm,x}",
        "echo 'unterminated", "x='a[$(rm y)]'; echo $((x))",
    ],
)
def test_unresolved_commands_ask(tmp_path: Path, command: str) -> None:
    e = engine(tmp_path, allow=("Bash",), deny=("Bash(rm *)",))
    assert decide(e, command) == "ask"


ALLOWED = ("Bash(ls *)", "Bash(echo *)", "Bash(git diff *)", "Bash(cat *)")


@pytest.mark.parametrize(
    "command",
    [
        "ls -la", "git diff HEAD", "git diff", "echo $HOME", "ls # ; rm x", "timeout 5 ls",
        "cd src && ls", "ls 2>/dev/null", "echo hi;", "cat a | cat", "ls\n",
    ],
)
def test_allow_rules_allow_what_they_name(tmp_path: Path, command: str) -> None:
    assert decide(engine(tmp_path, allow=ALLOWED), command) == "allow"


@pytest.mark.parametrize(
    "command",
    [
        "ls && rm x", "ls; rm x", "ls || rm x", "ls\nrm x", "ls & rm x", "ls; rm x;",
        "ls | sh", "cat x | sh", "echo rm x | bash", "ls | xargs rm",
        "echo $(rm x)", "echo `rm x`", "ls <(rm x)", "echo >(rm x)", "ls \"$(rm x)\"",
        "(ls; rm x)", "{ ls; rm x; }", "ls; { rm x; }",
        "git -C / push", "git -c core.pager=rm diff", "git diffx", "git diff; rm x",
        "ls > /etc/passwd", "echo x > ~/.bashrc", "echo x >> ../outside",
        "eval ls", "bash -c 'ls; rm x'", "ls; bash", "echo x | bash",
        "PATH=. ls", "GIT_EXTERNAL_DIFF=./x git diff", "echo ${x@P}", "./ls", "/tmp/ls",
        "ls 'a' ; r''m x", "ls #\nrm x", "echo ok;\nrm x", "env rm x", "timeout 1 rm x",
        "find . -exec rm {} \\;", "ls $(rm x)", "ls =(rm x)", "ls $( rm x )",
        "cat <<EOF\n$(rm x)\nEOF", "ls >/dev/null -la ; rm x", "sudo ls",
    ],
)
def test_allow_rules_do_not_carry_other_commands(tmp_path: Path, command: str) -> None:
    assert decide(engine(tmp_path, allow=ALLOWED), command) == "ask"
