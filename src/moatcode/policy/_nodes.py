"""Small readings of tree-sitter-bash nodes that the shell walker needs.

Where words sit in the source, line continuations and backticks, the first
error in a subtree, whether arithmetic is plain numbers: each a pure function
of a node and the source bytes.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from moatcode.policy.words import Word, literal_word, node_text, resolve_word

Placed = tuple[int, int, Word]

ARITH_OK = frozenset(
    {
        "number",
        "binary_expression",
        "unary_expression",
        "parenthesized_expression",
        "ternary_expression",
        "postfix_expression",
    }
)


def bare_newline(raw: bytes) -> int:
    """Where a newline outside quotes and substitutions sits in a word's text, or -1."""
    stack: list[bytes] = []  # open quotes and substitutions, innermost last
    i = 0
    while i < len(raw):
        c = raw[i : i + 1]
        top = stack[-1] if stack else b""
        if top == b"'":
            if c == b"'":
                stack.pop()
        elif c == b"\\":
            i += 1
        elif c == b'"':
            if top == b'"':
                stack.pop()
            else:
                stack.append(c)
        elif c == b"'" and top != b'"':
            stack.append(c)
        elif c == b"`":
            if top == b"`":
                stack.pop()
            else:
                stack.append(c)
        elif raw[i : i + 2] in (b"$(", b"${"):
            stack.append(raw[i + 1 : i + 2])
            i += 1
        elif c == b"(" and top == b"(":
            stack.append(c)
        elif (c == b")" and top == b"(") or (c == b"}" and top == b"{"):
            stack.pop()
        elif c == b"\n" and not stack:
            return i
        i += 1
    return -1


def escaped(src: bytes, at: int) -> bool:
    """Whether the character at ``at`` follows an odd run of backslashes."""
    run = 0
    while at - run - 1 >= 0 and src[at - run - 1 : at - run] == b"\\":
        run += 1
    return run % 2 == 1


def unescape_backticks(text: str) -> str:
    """Backticks' own quoting: a backslash before `$`, a backtick or a backslash goes."""
    return re.sub(r"\\([$`\\])", r"\1", text)


def place(node: Node, src: bytes) -> Placed:
    return (node.start_byte, node.end_byte, resolve_word(node, src))


def join_continued(placed: list[Placed], src: bytes) -> list[Placed]:
    """Glue words that only a backslash-newline separates: bash reads `r\\<newline>m` as `rm`."""
    out: list[Placed] = []
    for start, end, word in placed:
        if out and src[out[-1][1] : start] == b"\\\n":
            first = out[-1][2]
            word = Word(
                text=first.text + word.text,
                source=first.source + word.source,
                shell=first.shell + word.shell,
                dynamic=first.dynamic or word.dynamic,
                splits=first.splits or word.splits,
                glob=first.glob or word.glob,
                tilde=first.tilde,
            )
            out[-1] = (out[-1][0], end, word)
        else:
            out.append((start, end, word))
    return out


def gaps(node: Node, src: bytes) -> list[tuple[int, str]]:
    """Text inside ``node`` that none of its children covers, other than blanks."""
    out: list[tuple[int, str]] = []
    pos = node.start_byte
    for child in node.children:
        if child.start_byte > pos:
            text = src[pos : child.start_byte].decode("utf-8", "replace")
            if text.replace("\\\n", "").strip():
                out.append((pos, text))
        pos = max(pos, child.end_byte)
    if node.children and node.end_byte > pos:
        text = src[pos : node.end_byte].decode("utf-8", "replace")
        if text.replace("\\\n", "").strip():
            out.append((pos, text))
    return out


def last_command(node: Node) -> Node | None:
    """The simple command a redirection after ``node`` applies to, if there is one."""
    kind = node.type
    if kind == "command":
        return node
    if kind in ("list", "pipeline", "negated_command"):
        children = [c for c in node.named_children if c.type != "comment"]
        return last_command(children[-1]) if children else None
    return None


def first_error(node: Node) -> Node | None:
    if node.type == "ERROR" or node.is_missing:
        return node
    for child in node.children:
        if child.has_error or child.is_missing:
            found = first_error(child)
            if found is not None:
                return found
    return None


def arith_plain(node: Node) -> bool:
    """Whether an arithmetic expression is only numbers and operators."""
    if node.type not in ARITH_OK:
        return False
    return all(arith_plain(c) for c in node.named_children)


def assignment_word(node: Node, src: bytes) -> Word:
    value = node.child_by_field_name("value")
    name = node.child_by_field_name("name")
    prefix = node_text(name, src) + "=" if name is not None else ""
    if value is None:
        return literal_word(prefix)
    v = resolve_word(value, src)
    return Word(
        text=prefix + v.text,
        source=node_text(node, src),
        shell=prefix + v.shell,
        dynamic=v.dynamic,
        splits=False,
    )


def clip(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
