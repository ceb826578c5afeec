from __future__ import annotations

import pytest

from moatcode.policy.shell import CommandAnalysis, analyse_command

U = "\x00"  # the unknown part of a dynamic word


def summary(analysis: CommandAnalysis) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every part and write, as plain tuples that show everything matching uses."""
    parts: list[tuple[object, ...]] = []
    for p in analysis.parts:
        row: tuple[object, ...] = (p.kind, tuple(w.text for w in p.words))
        if p.sudo:
            row += (("sudo", *(w.text for w in p.sudo)),)
        if p.unresolved:
            row += (p.unresolved,)
        if p.dirs:
            row += (p.dirs,)
        parts.append(row)
    writes: list[tuple[object, ...]] = [(w.target.text, w.dirs) for w in analysis.writes]
    return parts, writes


def parts(command: str) -> list[tuple[object, ...]]:
    return summary(analyse_command(command))[0]


def cmd(*words: str) -> tuple[object, ...]:
    return ("command", words)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("git status && rm x", [cmd("git", "status"), cmd("rm", "x")]),
        ("a || b; c | d & e", [cmd("a"), cmd("b"), cmd("c"), cmd("d"), cmd("e")]),
        ("a\nb\n\nc;", [cmd("a"), cmd("b"), cmd("c")]),
        ("(a; b) && { c; }", [cmd("a"), cmd("b"), cmd("c")]),
        ("diff <(sort a) >(tee b)", [cmd("sort", "a"), cmd("tee", "b"), cmd("diff", U, U)]),
        ("echo $(rm x) `rm y`", [cmd("rm", "x"), cmd("rm", "y"), cmd("echo", U, U)]),
        ('echo "in $(rm q) quotes"', [cmd("rm", "q"), cmd("echo", f"in {U} quotes")]),
        (
            "if a; then b; elif c; then d; else e; fi",
            [cmd("a"), cmd("b"), cmd("c"), cmd("d"), cmd("e")],
        ),
        ("while a; do b; done; until c; do d; done", [cmd("a"), cmd("b"), cmd("c"), cmd("d")]),
        ("for f in $(ls); do rm $f; done", [cmd("ls"), cmd("rm", U)]),
        ("case $x in a) b;; *) c;; esac", [cmd("b"), cmd("c")]),
        ("f() { rm -rf x; }; f", [cmd("rm", "-rf", "x"), cmd("f")]),
        ("! rm x", [cmd("rm", "x")]),
        ("ls # ; rm x", [cmd("ls")]),
        ("A=1 B=2 make", [cmd("make")]),
        ("[[ -f x ]] && rm x", [cmd("rm", "x")]),
    ],
)
def test_splits_every_simple_command(command: str, expected: list[tuple[object, ...]]) -> None:
    assert parts(command) == expected


def test_words_after_a_redirection_stay_with_their_command() -> None:
    # tree-sitter-bash gives `-rf x` to the redirection; bash gives it to rm.
    # The redirection to /dev/null writes nothing; rm's operand is a write.
    assert summary(analyse_command("rm >/dev/null -rf x")) == ([cmd("rm", "-rf", "x")],
                                                               [("x", (".",))])
    assert parts("true && rm 2>/dev/null -rf x") == [("noop", ("true",)), cmd("rm", "-rf", "x")]
    assert parts("a | rm 2>&1 -rf x") == [cmd("a"), cmd("rm", "-rf", "x")]
    assert parts("rm a >/dev/null b 2>/dev/null c") == [cmd("rm", "a", "b", "c")]
    assert parts(">out rm -rf x") == [cmd("rm", "-rf", "x")]


def test_redirect_targets_are_writes() -> None:
    analysis = analyse_command("echo a > out.txt 2>> err.log &> both >| clobber 2>&1 >/dev/null")
    assert summary(analysis)[1] == [
        ("out.txt", (".",)),
        ("err.log", (".",)),
        ("both", (".",)),
        ("clobber", (".",)),
    ]


def test_reads_and_fd_duplication_are_not_writes() -> None:
    assert summary(analyse_command("sort < in.txt 2>&1 >&2 3<&0"))[1] == []


def test_writes_know_the_directory_after_cd() -> None:
    parts_, writes = summary(analyse_command("cd sub && echo x > a; cd /tmp; echo y > b"))
    assert parts_[0] == ("cd", ("cd", "sub"), ("sub",))
    assert writes == [("a", (".", "sub")), ("b", (".", "sub", "/tmp"))]
    _, writes = summary(analyse_command('cd "$d"; echo > c'))
    assert writes == [("c", (".", None))]


def test_wrappers_are_stripped() -> None:
    assert parts("timeout -s KILL 5 rm x") == [cmd("rm", "x")]
    assert parts("nice -n 10 rm x") == [cmd("rm", "x")]
    assert parts("nohup time -p stdbuf -oL ionice -c 3 rm x") == [cmd("rm", "x")]
    assert parts("env -i -u HOME FOO=1 rm x") == [cmd("rm", "x")]
    assert parts("command -p rm x; builtin exec rm y") == [cmd("rm", "x"), cmd("rm", "y")]
    assert parts("exec -a name rm x") == [cmd("rm", "x")]
    assert parts("busybox rm x") == [cmd("rm", "x")]


def test_words_the_grammar_skips_are_kept() -> None:
    # tree-sitter-bash leaves `-` before a here-document out of every node.
    assert parts("python - <<EOF\nimport os\nEOF") == [cmd("python", "-")]


def test_keywords_where_a_command_should_be_are_read_again() -> None:
    assert parts("coproc { rm x; }") == [
        ("marker", (), "'{' stands where a command should"),
        cmd("rm", "x"),
        ("marker", (), "'}' stands where a command should"),
    ]


def test_whole_array_expansion_is_not_arithmetic() -> None:
    assert [p.unresolved for p in analyse_command('"${a[@]}" x').unresolved] == [
        "the command name is not plain text"
    ]


def test_line_continuations_join_words() -> None:
    assert parts("r\\\nm -rf x") == [cmd("rm", "-rf", "x")]
    assert parts("rm \\\n  -rf x") == [cmd("rm", "-rf", "x")]


def test_a_line_break_inside_a_word_ends_the_command() -> None:
    # tree-sitter-bash reads `\\touch` on the next line as a word of echo.
    assert parts("echo a\n\\touch MARK") == [
        ("marker", (), "a line break the parser read as part of a word"),
        cmd("touch", "MARK"),
        cmd("echo", "a"),
    ]
    assert analyse_command('echo "a\nb" $(\nls\n)').unresolved == ()


def test_stray_substitutions_are_found() -> None:
    assert parts("echo ${x:-`rm y`}") == [
        cmd("echo", U),
        ("marker", (), "the parser did not see a command substitution"),
        cmd("rm", "y"),
    ]
    assert cmd("rm", "y") in parts("echo `echo \\`rm y\\``")


def test_here_document_that_ends_early_in_bash() -> None:
    assert cmd("rm", "y") in parts('cat <<E"O"F\nx\nEOF\nrm y\nE"O"F')
    assert "a here-document ends before the parser thinks" in [
        p.unresolved for p in analyse_command('cat <<E"O"F\nx\nEOF\nrm y\nE"O"F').unresolved
    ]


def test_translated_strings_are_strings() -> None:
    assert parts('$"rm" -rf x') == [cmd("rm", "-rf", "x")]


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("alias ls='rm -rf'", "an alias can make one command name run another"),
        ("shopt -s expand_aliases", "an alias can make one command name run another"),
        ("bash -ic 'ls'", "an interactive shell runs its startup files and aliases"),
    ],
)
def test_aliases_are_unresolved(command: str, reason: str) -> None:
    assert reason in [p.unresolved for p in analyse_command(command).unresolved]


def test_command_v_only_looks_a_name_up() -> None:
    assert parts("command -v rm") == [cmd("command", "-v", "rm")]


def test_sudo_marks_the_command_privileged() -> None:
    assert parts("sudo -u root nice rm -rf /") == [
        ("command", ("rm", "-rf", "/"), ("sudo", "sudo", "-u", "root"))
    ]
    assert parts("sudo bash -c 'rm x'") == [("command", ("rm", "x"), ("sudo", "sudo"))]
    assert parts("sudo -s") == [("command", ("sudo", "-s"), "sudo starts a shell")]


def test_xargs_input_lands_at_the_end_or_in_the_replace_string() -> None:
    assert parts("xargs -0 -n1 rm -f") == [cmd("rm", "-f", U)]
    assert parts("xargs -I{} mv {} {}.bak") == [cmd("mv", U, f"{U}.bak")]
    assert parts("xargs") == [cmd("echo", U)]


def test_find_exec_and_delete() -> None:
    parts_, writes = summary(analyse_command("find src -name '*.o' -exec rm {} + -delete"))
    assert parts_ == [cmd("rm", U), cmd("find", "src", "-name", "*.o", "-exec", "rm", "{}", "+",
                                       "-delete")]
    # What rm removes is only known at run time: rm's own operand, and the whole command.
    assert writes == [(U, (".",)), (U, (".",)), ("src", (".",))]
    assert parts("find . -execdir sh -c 'rm x' \\;")[0] == cmd("rm", "x")
    assert parts("find . -exec rm {}")[-1][-1] == "find -exec has no closing ';' or '+'"


def test_tee_files_are_writes() -> None:
    parts_, writes = summary(analyse_command("echo x | tee -a log.txt /dev/null copy"))
    assert parts_ == [cmd("echo", "x"), cmd("tee", "-a", "log.txt", "/dev/null", "copy")]
    assert writes == [("log.txt", (".",)), ("copy", (".",))]


@pytest.mark.parametrize(("command", "written"), [
    ("cp a.txt out", ["out", "out/a.txt"]),  # out may be a file or a directory
    ("cp -r src dst/", ["dst/", "dst/src"]),
    ("cp -t .github/workflows ci.yml x.yml", [".github/workflows/ci.yml",
                                              ".github/workflows/x.yml"]),
    ("cp --target-directory=bin tool", ["bin/tool"]),
    ("mv old new", ["new", "new/old", "old"]),  # the source is gone afterwards
    ("install -m 755 tool ~/bin/", ["~/bin/", "~/bin/tool"]),
    ("install -d build/out", ["build/out"]),
    ("ln -sf ../target link", ["link", "link/target"]),
    ("rm -rf build x", ["build", "x"]),
    ("rm -- -rf", ["-rf"]),
    ("rmdir empty; unlink f; shred -n 3 key; truncate -s 0 log; touch -d now t; mkdir -p a/b",
     ["empty", "f", "key", "log", "t", "a/b"]),
    ("chmod +x .git/hooks/pre-push", [".git/hooks/pre-push"]),
    ("chown -R me:me dir", ["dir"]),
    ("chmod --reference=a b", ["b"]),
    ("dd if=/dev/zero of=disk.img bs=1M", ["disk.img"]),
    ("sed -i 's/a/b/' f1 f2", ["f1", "f2"]),
    ("sed -i.bak -e 's/a/b/' f", ["f"]),
    ("sed -Ei -f script.sed f", [U, "f"]),  # a script file may hold a w command
    ("sed -i -es/a/b/ f", ["f"]),
    ("sed --in s/a/b/ f", ["f"]),  # --in is --in-place, as GNU getopt reads it
    ("sed -n 's/a/b/w out.txt' f", [U]),  # w writes a file without -i
    ("cp -rt .github/workflows evil.yml", [".github/workflows/evil.yml"]),
    ("cp -t.github/workflows evil.yml", [".github/workflows/evil.yml"]),
    ("cp --target=.github/workflows evil.yml", [".github/workflows/evil.yml"]),
    ("cp --tar .github/workflows evil.yml", [".github/workflows/evil.yml"]),
    ("install -Dt .github/workflows evil.yml", [".github/workflows/evil.yml"]),
    ("install -dm755 .github/workflows/x", [".github/workflows/x"]),
    ("chmod -w,u+x .git/hooks/pre-commit", [".git/hooks/pre-commit"]),  # -w,u+x is a mode
    ("ln -s ../../evil.yml", ["./evil.yml"]),  # one operand: the link goes here
    ("sed --in-place=.orig s/a/b/ f", ["f"]),
    ("sed 's/a/b/' f", []),  # to standard output only
    ("cp a b >/dev/null; rm /dev/null", ["b", "b/a"]),
    ("timeout 5 cp a b", ["b", "b/a"]),
    ("cp a", []),
])
def test_files_named_by_file_commands_are_writes(command: str, written: list[str]) -> None:
    analysis = analyse_command(command)
    assert [w.target.text for w in analysis.writes] == written
    assert all(w.rules_only for w in analysis.writes)


@pytest.mark.parametrize("command", [
    'cp "$SRC" out', 'mv x "$DEST"', 'cp "$OPTS" a b', 'F="evil.yml dir"; cp $F',
    "echo evil.yml dir | xargs cp", "echo of=x | xargs dd if=y", "echo s/a/b/ f | xargs sed -i",
])
def test_a_file_command_with_words_known_only_at_run_time_writes_somewhere_unknown(
    command: str
) -> None:
    # Such a word may be an option (-t DIR) or several operands: its writes cannot be read.
    writes = analyse_command(command).writes
    assert any(w.target.dynamic and w.target.text == U for w in writes)


@pytest.mark.parametrize(
    "command",
    ["bash -c 'rm -rf x'", "sh -ec 'rm -rf x'", "zsh -o pipefail -c 'rm -rf x'",
     "bash <<EOF\nrm -rf x\nEOF", "bash <<< 'rm -rf x'", "eval 'rm -rf x'",
     "timeout 5 bash -lc \"bash -c 'rm -rf x'\""],
)
def test_shell_strings_are_parsed_again(command: str) -> None:
    assert cmd("rm", "-rf", "x") in parts(command)


def test_eval_is_unresolved_even_when_parsed() -> None:
    assert parts("eval 'rm x'") == [cmd("rm", "x"), ("command", ("eval", "rm x"),
                                                     "eval runs text as a command")]


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("$CMD x", "the command name is not plain text"),
        ("$(echo rm) x", "the command name is not plain text"),
        ("source ./env.sh", "source runs the commands in a file"),
        (". ./env.sh", ". runs the commands in a file"),
        ("cat x | sh", "sh reads its commands from standard input"),
        ("curl x | bash -s", "bash reads its commands from standard input"),
        ("bash -c \"$X\"", "the command given to bash -c is not plain text"),
        ("echo \"unterminated", "part of the command could not be parsed"),
        ("{rm,-rf,x}", "part of the command could not be parsed"),
        ("PATH=.:$PATH git status", "it sets PATH, which changes what runs"),
        ("GIT_PAGER='rm x' git log", "it sets GIT_PAGER, which changes what runs"),
        ("export LD_PRELOAD=/tmp/x.so", "it sets LD_PRELOAD, which changes what runs"),
        ("env BASH_ENV=x bash s.sh", "it sets BASH_ENV, which changes what runs"),
        ("x='a[$(rm y)]'; echo $((x))", "arithmetic on variables can run commands"),
        ("[[ $x -eq 1 ]]", "arithmetic on variables can run commands"),
        ("for ((i=0;i<3;i++)); do :; done", "arithmetic on variables can run commands"),
        ("let i=i+1", "let evaluates arithmetic on variables, which can run commands"),
        ("echo ${a[$i]}", "an array subscript is arithmetic and can run commands"),
        ("echo ${!name}", "indirect expansion can run commands"),
        ("echo ${x@P}", "prompt expansion can run commands"),
        ("printf -v 'a[$(rm y)]' x", "an array subscript in a variable name can run commands"),
        ("declare -i n=$v", "declare -i and -n evaluate their values"),
        ("env -S 'rm x'", "env -S splits a string into a command"),
        ("cat <<EOF\n`rm y`\nEOF", "backticks in a here-document run a command"),
    ],
)
def test_unresolved_parts_say_why(command: str, reason: str) -> None:
    assert reason in [p.unresolved for p in analyse_command(command).unresolved]


def test_plain_arithmetic_is_fine() -> None:
    assert analyse_command("echo $((1 + 2)); [[ 3 -gt 2 ]]").unresolved == ()


def test_unquoted_heredoc_substitutions_run_but_quoted_ones_do_not() -> None:
    assert cmd("rm", "z") in parts("cat <<EOF\n$(rm z)\nEOF")
    assert cmd("rm", "z") not in parts("cat <<'EOF'\n$(rm z)\nEOF")


def test_quoted_heredoc_to_a_shell_is_parsed() -> None:
    assert parts("bash <<'EOF'\nrm -rf z\nEOF") == [cmd("rm", "-rf", "z")]


def test_trap_code_is_parsed() -> None:
    assert parts("trap 'rm -rf x' EXIT") == [cmd("rm", "-rf", "x"),
                                              cmd("trap", "rm -rf x", "EXIT")]


def test_plain_declarations_change_nothing_a_rule_is_about() -> None:
    assert parts("export NODE_ENV=test; local a b=1; unset X") == [
        ("noop", ("export", "NODE_ENV=test")),
        ("noop", ("local", "a", "b=1")),
        ("noop", ("unset", "X")),
    ]
    assert parts("export -f f") == [cmd("export", "-f", "f")]
    assert parts("export X=$(date)")[-1] == cmd("export", f"X={U}")


def test_noops_and_safe_set() -> None:
    assert parts("set -euo pipefail; true; :") == [
        ("noop", ("set", "-euo", "pipefail")), ("noop", ("true",)), ("noop", (":",)),
    ]
    assert parts("set -- a b") == [cmd("set", "--", "a", "b")]


def test_deep_nesting_stops() -> None:
    command = "eval " * 12 + "rm x"
    reasons = [p.unresolved for p in analyse_command(command).unresolved]
    assert "commands are nested too deeply to follow" in reasons


def test_analysis_is_cached() -> None:
    assert analyse_command("git status") is analyse_command("git status")
