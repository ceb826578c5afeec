from __future__ import annotations

import pytest

from moatcode.policy.bash_match import (
    CommandView,
    compile_bash_pattern,
    match_lenient,
    match_strict,
    view_command,
)
from moatcode.policy.shell import analyse_command


def view(command: str) -> CommandView:
    (part,) = [p for p in analyse_command(command).parts if p.kind != "marker"]
    return view_command(part.words)


def strict(spec: str, command: str) -> bool:
    return match_strict(compile_bash_pattern(spec), view(command))


def lenient(spec: str, command: str) -> bool:
    return match_lenient(compile_bash_pattern(spec), view(command))


@pytest.mark.parametrize(
    ("spec", "command", "expected"),
    [
        # A trailing " *" keeps the word boundary and is optional.
        ("git diff *", "git diff", True),
        ("git diff *", "git diff HEAD~1 -- src", True),
        ("git diff *", "git diffx", False),
        ("git diff *", "git -C / diff", False),
        # ":*" at the end means the same.
        ("npm run test:*", "npm run test", True),
        ("npm run test:*", "npm run test --watch", True),
        ("npm run test:*", "npm run test:unit", False),
        # A star inside a word runs on.
        ("npm run test*", "npm run test:unit", True),
        ("ls*", "lsof -i", True),
        # No wildcard: the whole command, exactly.
        ("npm test", "npm test", True),
        ("npm test", "npm test --coverage", False),
        ("npm test", "npm  'test'", True),
        # Middle and leading wildcards.
        ("git * main", "git push origin main", True),
        ("* --version", "node --version", True),
        # Quotes in the pattern group words; a space inside a word is not a separator.
        ('echo "a b"', "echo 'a b'", True),
        ('echo "a b"', "echo a b", False),
        ("echo a b", "echo 'a b'", False),
        # An escaped star is a star.
        ("echo \\*", "echo '*'", True),
        ("echo \\*", "echo x", False),
        # Allow rules read the program as written, except system directories.
        ("git status", "/usr/bin/git status", True),
        ("git status", "./git status", False),
        ("git status", "/tmp/evil/git status", False),
        # A word the text cannot tell falls only under a star.
        ("echo *", "echo $HOME", True),
        ("git diff *", "git $SUB", False),
        ("npm test", "npm $X", False),
    ],
)
def test_strict(spec: str, command: str, expected: bool) -> None:
    assert strict(spec, command) is expected


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf x",
        "rm -fr x",
        "rm -r -f x",
        "rm -Rf x",
        "rm -R -f x",
        "rm --recursive --force x",
        "rm -rf -- x",
        "rm -v -rf x",
        "rm x -rf",
        "/bin/rm -rf x",
        "rm -rf",
        "rm -rfv --one-file-system /",
        "rm $FLAGS x",
    ],
)
def test_lenient_deny_catches_flag_variants(command: str) -> None:
    assert lenient("rm -rf *", command)


@pytest.mark.parametrize(
    "command",
    [
        "rm x",
        "rm -r x",
        "rm -f x",
        "rm -- -rf",
        "rmdir -rf x",
        'rm "$x"',
        "echo rm -rf x",
        # A program that is not plain text is unresolved (it asks); no rule guesses at it.
        "$RM -rf x",
    ],
)
def test_lenient_deny_needs_every_flag(command: str) -> None:
    assert not lenient("rm -rf *", command)


@pytest.mark.parametrize(
    ("spec", "command", "expected"),
    [
        ("git push *", "git -C /other push origin main", True),
        ("git push *", "git -c core.pager=x --no-pager push", True),
        ("git push --force *", "git push -f", True),
        ("git push --force *", "git push --force-with-lease origin", True),
        ("git push --force *", "git push origin +main", True),
        ("git push --force *", "git push origin main", False),
        ("git push origin main", "git push -u origin main", True),
        ("git push origin main", "git push origin dev", False),
        ("git branch -d *", "git branch -D topic", True),
        ("git clean -fdx", "git clean --force -d -x", True),
        ("chmod -R 777 *", "chmod --recursive 777 x", True),
        ("git * main", "git push origin main", True),
        ("npm run test*", "npm run test:unit --watch", True),
        ("find * -delete", "find . -name '*.o' -delete", True),
        ("find * -delete", "find . -name x -type d -depth", False),
        ("rm x.txt", "rm x.tx?", True),
    ],
)
def test_lenient(spec: str, command: str, expected: bool) -> None:
    assert lenient(spec, command) is expected


def test_lenient_is_a_superset_of_strict() -> None:
    pairs = [("git diff *", "git diff HEAD"), ("npm test", "npm test"), ("ls*", "lsof"),
             ("* --version", "node --version"), ('echo "a b"', "echo 'a b'")]
    for spec, command in pairs:
        assert strict(spec, command) and lenient(spec, command)


def test_compiled_pattern_shape() -> None:
    pattern = compile_bash_pattern("rm -rf --no-preserve-root *")
    assert pattern.program_name == "rm"
    assert pattern.flags == (frozenset({"-r", "-f"}), frozenset({"--no-preserve-root"}))
    assert pattern.positional == ("*",)
