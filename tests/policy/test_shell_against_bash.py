"""The command splitter against real bash: whatever bash runs, the analysis must see.

Each script may run ``touch MARK`` in a scratch directory. When bash creates
MARK, the analysis must contain a ``touch`` part or say it could not read the
command (so it asks); a script where bash runs the command and the analysis
shows neither is a way past a deny rule.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moatcode.policy.shell import CommandAnalysis, analyse_command

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash to compare against")


def bash_runs_touch(script: str, where: Path) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    assert BASH is not None
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(
            [BASH, "--norc", "--noprofile", "-c", script],
            cwd=where,
            capture_output=True,
            timeout=5,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.defpath + ":/usr/bin:/bin", "HOME": str(where)},
            check=False,
        )
    ran = (where / "MARK").exists()
    shutil.rmtree(where)
    return ran


def sees_touch(analysis: CommandAnalysis) -> bool:
    return any(p.words and posixpath.basename(p.words[0].text) == "touch" for p in analysis.parts)


# Scripts where tree-sitter-bash's tree alone would hide the command from a walker.
SEEN = [
    "rm >/dev/null -rf x; touch MARK",
    "touch >/dev/null MARK",
    "true && touch 2>/dev/null MARK",
    "tou\\\nch MARK",
    "echo a\n\\touch MARK",
    '$"touch" MARK',
    "echo ${x:-`touch MARK`}",
    "echo `echo \\`touch MARK\\``",
    'cat <<E"O"F\nx\nEOF\ntouch MARK\nE"O"F',
    "cat <<EOF\n`touch MARK`\nEOF",
    "cat <<EOF\n$(touch MARK)\nEOF",
    "coproc { touch MARK; }; wait",
    "time A=1 touch MARK",
    "bash <<'EOF'\ntouch MARK\nEOF",
    "sh <<< 'touch MARK'",
    "eval 'tou''ch MARK'",
    "trap 'touch MARK' EXIT",
    "find . -maxdepth 0 -exec touch MARK \\;",
    "echo MARK | xargs touch",
    "echo x > >(touch MARK)",
    "f() ( touch MARK ); f",
    "case x in (x) touch MARK;; esac",
    "echo $(( $(touch MARK) ))",
]

# Scripts bash runs touch from that cannot be read as plain words: they must be unresolved.
UNRESOLVED = [
    "shopt -s expand_aliases\nalias t=touch\nt MARK",
    "c=touch; $c MARK",
    "IFS=,; cmd=touch,MARK; $cmd",
    "set -- touch MARK; \"$@\"",
    "printf '%s' 'touch MARK' | bash",
    "source /dev/stdin <<< 'touch MARK'",
    "bash <(echo touch MARK)",
    "x='a[$(touch MARK)]'; echo $((x))",
    "x='a[$(touch MARK)]'; [[ $x -eq 0 ]]",
    "x='$(touch MARK)'; echo ${x@P}",
    "x='a[$(touch MARK)]'; echo ${!x}",
    "printf -v 'a[$(touch MARK)]' x",
    "env -S 'touch MARK'",
    '"$(which touch)" MARK',
]


@pytest.mark.parametrize("script", SEEN)
def test_commands_bash_runs_are_seen(tmp_path: Path, script: str) -> None:
    assert bash_runs_touch(script, tmp_path / "run")
    assert sees_touch(analyse_command(script))


@pytest.mark.parametrize("script", UNRESOLVED)
def test_commands_that_cannot_be_read_are_unresolved(tmp_path: Path, script: str) -> None:
    assert bash_runs_touch(script, tmp_path / "run")
    assert analyse_command(script).unresolved


def _squote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


COMMANDS = [
    "touch MARK", "\\touch MARK", "'touch' MARK", 't""ouch MARK', "/usr/bin/touch MARK",
    "tou\\\nch MARK", "touch >/dev/null MARK", ">/dev/null touch MARK", "A=1 touch MARK",
    "touch -- MARK", "touch \\\n MARK", "command touch MARK", "touch MARK # x",
]
WRAPPERS = ["@@", "timeout 5 @@", "nice -n 1 @@", "env -i @@", "command @@", "time @@",
            "env FOO=1 @@", "stdbuf -oL @@"]
CONTEXTS = [
    "@@", "true && @@", "false || @@", "echo a; @@", "echo a | @@", "(@@)", "{ @@; }",
    "echo $(@@)", 'echo "$(@@)"', "cat <(@@)", "if true; then @@; fi", "for i in 1; do @@; done",
    "case a in a) @@;; esac", "f() { @@; }; f", "echo a\n@@", "# c\n@@", ": ${v:-$(@@)}",
    "x=$(@@)", "! @@", "@@;", "until @@; do :; done", "echo $'a\\nb'; @@", 'echo "a\nb"\n@@',
    "echo a \\\n b\n@@", "@@ 2>&1 | cat", "cat <<EOF | cat\nbody\nEOF\n@@",
    "bash -c '@@'", "eval '@@'",
]


@st.composite
def scripts(draw: st.DrawFn) -> str:
    script = draw(st.sampled_from(WRAPPERS)).replace("@@", draw(st.sampled_from(COMMANDS)))
    for _ in range(draw(st.integers(0, 3))):
        context = draw(st.sampled_from(CONTEXTS))
        if context.endswith("'@@'"):
            # Quote the script for a single-quoted context.
            context, script = context.replace("'@@'", "@@"), _squote(script)
        script = context.replace("@@", script)
    return script


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(script=scripts())
def test_no_script_runs_touch_unseen(tmp_path: Path, script: str) -> None:
    analysis = analyse_command(script)
    if sees_touch(analysis) or analysis.unresolved:
        return
    assert not bash_runs_touch(script, tmp_path / "fuzz")
