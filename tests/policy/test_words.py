from __future__ import annotations

import pytest
import tree_sitter
import tree_sitter_bash

from moatcode.policy.words import UNKNOWN, Word, decode_ansi_c, resolve_word


def words_of(command: str) -> list[Word]:
    """The words of the first simple command in ``command``, resolved."""
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
    src = command.encode()
    node = parser.parse(src).root_node.children[0]
    assert node.type == "command"
    out = []
    for i, child in enumerate(node.children):
        field = node.field_name_for_child(i)
        if field == "name":
            out.append(resolve_word(child.named_children[0], src))
        elif field == "argument":
            out.append(resolve_word(child, src))
    return out


def test_quote_removal_and_escapes() -> None:
    assert [w.text for w in words_of(r"""r''m "rm" \rm 'a b' "x\"y" "a\q" $'\x72m'""")] == [
        "rm", "rm", "rm", "a b", 'x"y', "a\\q", "rm",
    ]


def test_literal_word_is_whole() -> None:
    assert words_of("ls 'src dir'")[1] == Word(
        text="src dir", source="'src dir'", shell="src dir"
    )


def test_expansions_are_dynamic() -> None:
    unquoted, quoted, sub, mixed = words_of('echo $x "$y" $(date) pre-${z}-post')[1:]
    assert unquoted == Word(UNKNOWN, "$x", "$x", dynamic=True, splits=True)
    assert quoted == Word(UNKNOWN, '"$y"', "$y", dynamic=True, splits=False)
    assert sub == Word(UNKNOWN, "$(date)", "$(date)", dynamic=True, splits=True)
    assert mixed.text == f"pre-{UNKNOWN}-post"
    assert mixed.shell == "pre-${z}-post"
    assert mixed.dynamic


def test_brace_expansion_is_dynamic_but_find_braces_are_not() -> None:
    brace, empty, seq = words_of("echo a{b,c} {} {1..3}")[1:]
    assert (brace.dynamic, brace.splits) == (True, True)
    assert (empty.text, empty.dynamic) == ("{}", False)
    assert seq.dynamic


def test_glob_and_tilde_flags() -> None:
    glob, quoted_glob, escaped, tilde, not_tilde = words_of(r"ls *.py '*.py' \*.py ~/x a~")[1:]
    assert (glob.glob, quoted_glob.glob, escaped.glob) == (True, False, False)
    assert (tilde.tilde, not_tilde.tilde) == (True, False)
    assert escaped.text == "*.py"


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (r"\x72m", "rm"),
        (r"\162m", "rm"),
        (r"\u0072m", "rm"),
        (r"a\tb\n", "a\tb\n"),
        (r"\'", "'"),
        (r"\cA", "\x01"),
        (r"\q", "\\q"),
        (r"\U0011FFFF", "\\U0011FFFF"),
    ],
)
def test_decode_ansi_c(body: str, value: str) -> None:
    assert decode_ansi_c(body) == value
