from __future__ import annotations

import pytest

from moatcode.errors import PolicyError
from moatcode.policy.rules import Rule, parse_rule, parse_rules

SRC = "/x/.moat/config.toml"


@pytest.mark.parametrize(
    ("text", "family", "specifier"),
    [
        ("Read", "Read", None),
        ("Bash", "Bash", None),
        ("edit_file", "edit_file", None),
        ("Bash(git diff *)", "Bash", "git diff *"),
        ("Bash(npm run test:*)", "Bash", "npm run test:*"),
        ("read_file(src/**)", "read_file", "src/**"),
        ("Edit( //etc/** )", "Edit", "//etc/**"),
        # Claude Code's Bash(*) is Bash.
        ("Bash(*)", "Bash", None),
        # Claude Code tool names map to Moat's tools.
        ("Write(src/**)", "write_file", "src/**"),
        ("MultiEdit(src/**)", "Edit", "src/**"),
        ("Grep", "grep", None),
        ("LS(docs)", "list_files", "docs"),
        # Parentheses inside a command are fine when they balance.
        ("Bash(python -c print(1))", "Bash", "python -c print(1)"),
        ("Bash(echo ')')", "Bash", "echo ')'"),
    ],
)
def test_parse_rule(text: str, family: str, specifier: str | None) -> None:
    assert parse_rule(text, source=SRC, line=3) == Rule(text, family, specifier, SRC, 3)


def test_parse_rules_keeps_lines() -> None:
    assert parse_rules(["Read", "Bash(ls)"], source=SRC, lines=(2, 5)) == (
        Rule("Read", "Read", None, SRC, 2),
        Rule("Bash(ls)", "Bash", "ls", SRC, 5),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Bash(git push",
            "Bad permission rule 'Bash(git push' in /x/.moat/config.toml line 4: unbalanced "
            "parenthesis; write it as Bash(git push) or Bash(git push *).",
        ),
        (
            "Bash(git push))",
            "Bad permission rule 'Bash(git push))' in /x/.moat/config.toml line 4: unbalanced "
            "parenthesis (text after the closing one); write it as Bash(git push).",
        ),
        (
            "Bash()",
            "Bad permission rule 'Bash()' in /x/.moat/config.toml line 4: the specifier is "
            "empty; write Bash alone to match every call.",
        ),
        (
            "Foo(x)",
            "Bad permission rule 'Foo(x)' in /x/.moat/config.toml line 4: unknown tool 'Foo'; "
            "use one of Read, Edit, Bash, read_file, grep, glob, list_files, write_file, "
            "edit_file, bash.",
        ),
        (
            "read(x)",
            "Bad permission rule 'read(x)' in /x/.moat/config.toml line 4: unknown tool 'read'; "
            "write Read (names are case-sensitive).",
        ),
        (
            "WebFetch(domain:example.com)",
            "Bad permission rule 'WebFetch(domain:example.com)' in /x/.moat/config.toml line 4: "
            "Moat has no WebFetch tool; remove the rule.",
        ),
        (
            "Bash(npm:* run)",
            "Bad permission rule 'Bash(npm:* run)' in /x/.moat/config.toml line 4: ':*' only "
            "works at the end of a pattern; write it as Bash(npm * run).",
        ),
        (
            "Bash(src/**)",
            "Bad permission rule 'Bash(src/**)' in /x/.moat/config.toml line 4: '**' is a path "
            "pattern, and Bash rules match commands; use Read(...) or Edit(...) for paths, or a "
            "single * in a command.",
        ),
        (
            "Read(src:*)",
            "Bad permission rule 'Read(src:*)' in /x/.moat/config.toml line 4: ':*' is the Bash "
            "prefix form and means nothing in a path; write it as Read(src/**) or Read(src*).",
        ),
        (
            "Read(a/../b)",
            "Bad permission rule 'Read(a/../b)' in /x/.moat/config.toml line 4: '..' may only "
            "come first in a path; write it as Read(b).",
        ),
        (
            "Bash(echo 'x)",
            "Bad permission rule \"Bash(echo 'x)\" in /x/.moat/config.toml line 4: unbalanced "
            "quotes; close the quote, or escape it with a backslash.",
        ),
        (
            "Bash x",
            "Bad permission rule 'Bash x' in /x/.moat/config.toml line 4: it is not Tool or "
            "Tool(specifier); write it as Read, Bash(git status) or Edit(src/**).",
        ),
        (
            "  ",
            "Bad permission rule '  ' in /x/.moat/config.toml line 4: the rule is empty; write "
            "a tool name such as Read or Bash(git status).",
        ),
    ],
)
def test_malformed_rule_names_file_line_and_fix(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_rule(text, source=SRC, line=4)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "text",
    [
        "Read(~bob/.ssh)",
        "Read(!secret)",
        "Edit([abc)",
        "Bash(:*)",
        "Bash(ls\nrm)",
        "mcp__github__create_issue",
        "Read(file_path:*.env)",
    ],
)
def test_more_malformed_rules(text: str) -> None:
    with pytest.raises(PolicyError, match=r"^Bad permission rule .* in /x/\.moat/config\.toml: "):
        parse_rule(text, source=SRC)


def test_rule_kind_follows_family_or_tool() -> None:
    kinds = [parse_rule(t, source=SRC).kind for t in ("Read", "grep", "Write", "Edit", "bash")]
    assert kinds == ["read", "read", "edit", "edit", "bash"]
