"""Split a command line into every simple command it runs, with tree-sitter-bash.

``analyse_command`` parses the text and walks the whole tree: lists, pipelines,
subshells, brace groups, ``if``/``while``/``for``/``case``, functions, command
and process substitution, here-documents. Each simple command goes through
``wrappers.expand_command`` (which strips ``timeout``, ``sudo``... and parses
``bash -c`` strings again), and comes out as a ``Part``; each redirection that
writes a file is a ``Write``. What cannot be read as plain words (parse
errors, ``$CMD x``, ``eval``, arithmetic on variables, which can run commands
in bash) comes out as a part with ``unresolved`` set, so no allow rule can
match it.

Two quirks of the grammar are handled here: tree-sitter-bash gives the words
after a redirection to the redirection (``rm >/dev/null -rf x`` parses as
``rm`` with a redirect to ``/dev/null -rf x``), and a redirection after a list
or pipeline belongs to its last command. Both are put back where bash puts
them, or a deny rule on ``rm -rf`` would miss ``rm >/dev/null -rf x``.
"""

from __future__ import annotations

import functools
import posixpath
import re
import threading
from dataclasses import dataclass, field

import tree_sitter
import tree_sitter_bash
from tree_sitter import Node

from moatcode.policy._nodes import (
    Placed,
    arith_plain,
    assignment_word,
    bare_newline,
    clip,
    escaped,
    first_error,
    gaps,
    join_continued,
    last_command,
    place,
    unescape_backticks,
)
from moatcode.policy.words import Word, literal_word, node_text, resolve_word
from moatcode.policy.wrappers import MAX_DEPTH, PartKind, expand_command, find_risky_variable

# Working directories a part may run in: "." is where the command starts, and
# None stands for a directory we cannot know (after `cd "$x"` or `cd -`).
Dirs = tuple[str | None, ...]
_MAX_DIRS = 16
# A word with the byte range it came from.


@dataclass(frozen=True)
class Part:
    """One simple command, as rules see it.

    ``words`` are the command's words after wrappers and leading assignments
    are stripped. ``sudo`` holds the ``sudo``/``doas`` words in front, when
    the part runs privileged. ``unresolved`` says why the part cannot be read
    as plain words ("" when it can); a part of kind ``marker`` has no words and
    only stands for something unresolved. ``dirs`` are the directories a
    ``cd`` part may go to.
    """

    words: tuple[Word, ...]
    text: str
    sudo: tuple[Word, ...] = ()
    unresolved: str = ""
    kind: PartKind | str = "command"
    dirs: Dirs = ()


@dataclass(frozen=True)
class Write:
    """A file the command writes: a redirection target, a ``tee`` file, a ``find -delete`` root.

    ``rules_only`` marks a file a command's own arguments name (``cp``,
    ``rm``, ``sed -i``...): it is held to the ``Edit`` deny and ask rules, and
    otherwise the command's own verdict covers it, as it covers what ``make``
    or a test run writes.
    """

    target: Word
    text: str
    dirs: Dirs
    rules_only: bool = False


@dataclass(frozen=True)
class CommandAnalysis:
    parts: tuple[Part, ...]
    writes: tuple[Write, ...]

    @property
    def unresolved(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.unresolved)


@functools.lru_cache(maxsize=1024)
def analyse_command(command: str) -> CommandAnalysis:
    """Every simple command and every written file in ``command``."""
    walker = _Walker()
    walker.parse_script(command, sudo=(), depth=0)
    return CommandAnalysis(tuple(walker.parts), tuple(walker.writes))


_local = threading.local()


def _parser() -> tree_sitter.Parser:
    # A parser is not safe to share between threads; one each is cheap.
    parser: tree_sitter.Parser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = tree_sitter.Parser(_language())
        _local.parser = parser
    return parser


@functools.cache
def _language() -> tree_sitter.Language:
    return tree_sitter.Language(tree_sitter_bash.language())


@dataclass
class _Context:
    src: bytes
    sudo: tuple[Word, ...]
    depth: int
    # Words and standard input that a redirection hands to a command found
    # later in the walk, keyed by that command's byte range.
    handoff: dict[tuple[int, int], tuple[list[Placed], str | None]] = field(default_factory=dict)
    # Where the walk met `$(` and backticks it understood, and text that is
    # only data (quotes, comments), to find the substitutions it did not.
    known: set[int] = field(default_factory=set)
    literal: list[tuple[int, int]] = field(default_factory=list)


_WRITE_OPS = frozenset({">", ">>", "&>", "&>>", ">|", "<>"})
_HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})
_ARITH_TEST_OPS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
_SUBSTITUTION_START = re.compile(rb"`|\$\(")
_SUBSTITUTIONS = frozenset({"command_substitution", "process_substitution", "arithmetic_expansion"})
_LITERAL_NODES = frozenset({"comment", "raw_string", "ansi_c_string"})
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_./:,+%@=-]+")
# Nodes whose text is a word's, where the word resolver reads every byte.
_WORD_NODES = frozenset(
    {
        "word",
        "string",
        "raw_string",
        "ansi_c_string",
        "translated_string",
        "concatenation",
        "string_content",
        "heredoc_body",
        "heredoc_content",
        "expansion",
        "simple_expansion",
        "number",
        "regex",
        "extglob_pattern",
    }
)
_BACKTICKS = re.compile(r"(?<!\\)`((?:[^`\\]|\\.)*)`", re.S)


class _Walker:
    """Walks parse trees and collects parts and writes (the ``wrappers.Sink``)."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.writes: list[Write] = []
        self.dirs: Dirs = (".",)

    # -- the Sink protocol -------------------------------------------------

    def add_part(
        self,
        words: tuple[Word, ...],
        *,
        sudo: tuple[Word, ...],
        unresolved: str = "",
        kind: PartKind = "command",
        cd_target: Word | None = None,
    ) -> None:
        text = " ".join(w.source for w in (*sudo, *words))
        dirs: Dirs = ()
        if kind == "cd":
            dirs = self._change_dir(cd_target)
        self.parts.append(Part(words, text, sudo, unresolved, kind, dirs))

    def add_marker(self, reason: str, text: str) -> None:
        self.parts.append(Part((), text, (), reason, "marker"))

    def add_write(self, target: Word, text: str, *, rules_only: bool = False) -> None:
        if target.literal and target.text in _HARMLESS_TARGETS:
            return
        self.writes.append(Write(target, text, self.dirs, rules_only))

    def parse_script(self, text: str, *, sudo: tuple[Word, ...], depth: int) -> None:
        if depth > MAX_DEPTH:
            self.add_marker("commands are nested too deeply to follow", clip(text))
            return
        src = text.encode("utf-8", "surrogatepass")
        root = _parser().parse(src).root_node
        if root.has_error:
            bad = first_error(root)
            if bad is not None and bad.is_missing:
                reason = f"the command is incomplete (missing {bad.type!r})"
                shown = clip(text)
            else:
                reason = "part of the command could not be parsed"
                shown = clip(node_text(bad, src)) if bad is not None else clip(text)
            self.add_marker(reason, shown)
        ctx = _Context(src, sudo, depth)
        self._walk(root, ctx)
        self._stray_substitutions(ctx)

    def _stray_substitutions(self, ctx: _Context) -> None:
        """Find `$(` and backticks the grammar left in plain text (`${x:-`cmd`}`).

        Bash runs them; a walk of the tree never sees them. Each one makes the
        command unresolved, and what lies between stray backticks is parsed
        so that deny rules still see it.
        """
        src = ctx.src
        stray: list[int] = []
        for match in _SUBSTITUTION_START.finditer(src):
            at = match.start()
            if at in ctx.known or escaped(src, at):
                continue
            if any(start <= at < end for start, end in ctx.literal):
                continue
            stray.append(at)
        if not stray:
            return
        self.add_marker(
            "the parser did not see a command substitution",
            clip(src[stray[0] :].decode("utf-8", "replace")),
        )
        ticks = [at for at in stray if src[at : at + 1] == b"`"]
        for start, end in zip(ticks[::2], ticks[1::2], strict=False):
            inner = src[start + 1 : end].decode("utf-8", "replace")
            self.parse_script(unescape_backticks(inner), sudo=ctx.sudo, depth=ctx.depth + 1)
        for at in stray:
            if src[at : at + 2] == b"$(":
                inner = src[at + 2 :].decode("utf-8", "replace")
                self.parse_script(inner.split(")", 1)[0], sudo=ctx.sudo, depth=ctx.depth + 1)

    # -- the walk ---------------------------------------------------------

    def _walk(self, node: Node, ctx: _Context) -> None:
        kind = node.type
        if kind in _LITERAL_NODES:
            ctx.literal.append((node.start_byte, node.end_byte))
            return
        if kind in _SUBSTITUTIONS:
            ctx.known.add(node.start_byte)
            if ctx.src[node.start_byte : node.start_byte + 1] == b"`":
                ctx.known.add(node.end_byte - 1)
                inner = ctx.src[node.start_byte + 1 : node.end_byte - 1]
                if b"\\" in inner:
                    # Inside backticks \` starts a nested substitution and \$ is $:
                    # bash unescapes the text and then parses it.
                    ctx.literal.append((node.start_byte, node.end_byte))
                    text = unescape_backticks(inner.decode("utf-8", "replace"))
                    self.parse_script(text, sudo=ctx.sudo, depth=ctx.depth + 1)
                    return
        if kind == "command":
            self._command(node, ctx)
        elif kind == "redirected_statement":
            self._redirected(node, ctx)
        elif kind == "file_redirect":
            extras = self._redirect(node, ctx)
            if extras:
                self.add_marker(
                    "words after a redirection belong to no command",
                    clip(node_text(node, ctx.src)),
                )
        elif kind == "heredoc_redirect":
            self._heredoc(node, ctx)
        elif kind == "variable_assignment":
            self._assignment(node, ctx)
        elif kind in ("declaration_command", "unset_command"):
            self._declaration(node, ctx)
        else:
            self._check_arithmetic(node, ctx)
            if kind not in _WORD_NODES:
                for _, gap in gaps(node, ctx.src):
                    self.add_marker("part of the command could not be parsed", clip(gap))
            for child in node.children:
                self._walk(child, ctx)

    def _command(self, node: Node, ctx: _Context) -> None:
        handed, stdin = ctx.handoff.pop((node.start_byte, node.end_byte), ([], None))
        name: Node | None = None
        # Words from anywhere in the text, put back in order.
        args: list[Placed] = list(handed)
        args.extend(self._gap_words(node, ctx))
        for i, child in enumerate(node.children):
            field_name = node.field_name_for_child(i)
            if field_name == "name":
                name = child
            elif field_name == "argument":
                self._walk(child, ctx)
                args.append(place(child, ctx.src))
            elif child.type == "variable_assignment":
                self._assignment(child, ctx)
            elif child.type == "file_redirect":
                args.extend(self._redirect(child, ctx))
            elif child.type == "herestring_redirect":
                stdin = self._herestring(child, ctx)
            elif child.type == "heredoc_redirect":
                body, more = self._heredoc(child, ctx)
                stdin = body if body is not None else stdin
                args.extend(more)
            else:
                self._walk(child, ctx)
        if name is None:
            return
        self._walk(name, ctx)
        name_word = name.named_children[0] if name.named_children else name
        placed = sorted([place(name_word, ctx.src), *args], key=lambda p: p[0])
        placed = self._cut_at_line_break(placed, node, ctx)
        words = tuple(w for _, _, w in join_continued(placed, ctx.src))
        expand_command(words, self, sudo=ctx.sudo, stdin=stdin, depth=ctx.depth)

    def _cut_at_line_break(self, placed: list[Placed], node: Node, ctx: _Context) -> list[Placed]:
        """End the command at a line break the grammar read as part of a word.

        tree-sitter-bash reads ``echo a<newline>\\rm x`` as one command whose
        third word is ``<newline>\\rm``; bash runs ``rm x`` as a command of
        its own. The rest of the text is parsed again as commands.
        """
        for i, (start, end, _) in enumerate(placed):
            raw = ctx.src[start:end]
            at = bare_newline(raw) if b"\n" in raw else -1
            if at < 0:
                continue
            cut = start + at
            self.add_marker(
                "a line break the parser read as part of a word",
                clip(ctx.src[cut : node.end_byte].decode("utf-8", "replace")),
            )
            rest = ctx.src[cut + 1 : node.end_byte].decode("utf-8", "replace")
            self.parse_script(rest, sudo=ctx.sudo, depth=ctx.depth + 1)
            head = ctx.src[start:cut].decode("utf-8", "replace")
            kept = placed[:i]
            if head.strip():
                kept.append((start, cut, literal_word(head.strip())))
            return kept
        return placed

    def _redirected(self, node: Node, ctx: _Context) -> None:
        body = node.child_by_field_name("body")
        extras: list[Placed] = self._gap_words(node, ctx)
        stdin: str | None = None
        # Writes are recorded after the body, so a `cd` in it counts: `cd x && echo > f`.
        writes: list[tuple[Word, str]] = []
        for child in node.children:
            if body is not None and child.start_byte == body.start_byte and child.type == body.type:
                continue
            if child.type == "file_redirect":
                extras.extend(self._redirect(child, ctx, writes))
            elif child.type == "heredoc_redirect":
                text, more = self._heredoc(child, ctx)
                stdin = text if text is not None else stdin
                extras.extend(more)
            elif child.type == "herestring_redirect":
                stdin = self._herestring(child, ctx)
            else:
                self._walk(child, ctx)
        last = last_command(body) if body is not None else None
        if last is not None:
            ctx.handoff[(last.start_byte, last.end_byte)] = (extras, stdin)
        elif extras:
            self.add_marker(
                "words after a redirection belong to no command", clip(node_text(node, ctx.src))
            )
        if body is not None:
            self._walk(body, ctx)
        for word, text in writes:
            self.add_write(word, text)

    def _gap_words(self, node: Node, ctx: _Context) -> list[Placed]:
        """Words in ``node`` that no child covers: the grammar drops `-` before `<<EOF`."""
        found: list[Placed] = []
        for start, text in gaps(node, ctx.src):
            for match in re.finditer(r"\S+", text):
                token = match.group(0)
                if _PLAIN_TOKEN.fullmatch(token):
                    at = start + len(text[: match.start()].encode())
                    found.append((at, at + len(token), literal_word(token)))
                else:
                    self.add_marker("part of the command could not be parsed", clip(token))
        return found

    def _redirect(
        self, node: Node, ctx: _Context, deferred: list[tuple[Word, str]] | None = None
    ) -> list[Placed]:
        """Record a write (or defer it); return the words that really belong to the command."""
        targets = node.children_by_field_name("destination")
        op = next((c.type for c in node.children if not c.is_named), "")
        for target in targets:
            self._walk(target, ctx)
        if not targets:
            return []
        target = targets[0]
        word = resolve_word(target, ctx.src)
        writes = op in _WRITE_OPS or (op == ">&" and target.type != "number" and word.text != "-")
        if writes and deferred is not None:
            deferred.append((word, f"{op}{word.source}"))
        elif writes:
            self.add_write(word, f"{op}{word.source}")
        return [place(t, ctx.src) for t in targets[1:]]

    def _herestring(self, node: Node, ctx: _Context) -> str | None:
        for child in node.named_children:
            self._walk(child, ctx)
            word = resolve_word(child, ctx.src)
            return word.shell if word.dynamic else word.text
        return None

    def _heredoc(self, node: Node, ctx: _Context) -> tuple[str | None, list[Placed]]:
        """Walk a here-document; return its text (for a shell that reads it) and stray words."""
        extras: list[Placed] = []
        quoted = False
        text: str | None = None
        for i, child in enumerate(node.children):
            kind = child.type
            if kind == "heredoc_start":
                quoted = any(c in node_text(child, ctx.src) for c in "'\"\\")
            elif kind == "heredoc_body":
                text = node_text(child, ctx.src)
                self._heredoc_end(node, text, ctx)
                if quoted:
                    ctx.literal.append((child.start_byte, child.end_byte))
                else:
                    self._heredoc_expansions(child, ctx)
            elif node.field_name_for_child(i) == "argument":
                self._walk(child, ctx)
                extras.append(place(child, ctx.src))
            elif kind == "file_redirect":
                extras.extend(self._redirect(child, ctx))
            elif kind != "heredoc_end":
                self._walk(child, ctx)
        return text, extras

    def _heredoc_end(self, node: Node, body: str, ctx: _Context) -> None:
        """Check that bash ends the here-document where the grammar does.

        Bash's delimiter is the start word with its quotes removed (``E"O"F``
        ends at ``EOF``); if a line of the body is that delimiter, the rest
        of the body is commands, and hidden ones at that.
        """
        start = next((c for c in node.children if c.type == "heredoc_start"), None)
        if start is None:
            return
        delimiter = re.sub(r"""['"\\]""", "", node_text(start, ctx.src))
        strip_tabs = any(c.type == "<<-" for c in node.children)
        lines = body.split("\n")
        for i, line in enumerate(lines):
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                self.add_marker("a here-document ends before the parser thinks", clip(line))
                rest = "\n".join(lines[i + 1 :])
                self.parse_script(rest, sudo=ctx.sudo, depth=ctx.depth + 1)
                return

    def _heredoc_expansions(self, body: Node, ctx: _Context) -> None:
        # An unquoted here-document expands $( ) and backticks before anything
        # reads it; the grammar parses the first but leaves backticks as text.
        plain = bytearray(ctx.src[body.start_byte : body.end_byte])
        for child in body.named_children:
            if child.type != "heredoc_content":
                self._walk(child, ctx)
                start, end = child.start_byte - body.start_byte, child.end_byte - body.start_byte
                plain[start:end] = b" " * (end - start)
        text = plain.decode("utf-8", "replace")
        for match in _BACKTICKS.finditer(text):
            at = body.start_byte + len(text[: match.start()].encode())
            ctx.known.update((at, at + len(match.group(0).encode()) - 1))
            self.add_marker("backticks in a here-document run a command", clip(match.group(0)))
            self.parse_script(match.group(1), sudo=ctx.sudo, depth=ctx.depth + 1)

    def _assignment(self, node: Node, ctx: _Context) -> None:
        name = node.child_by_field_name("name")
        name_text = node_text(name, ctx.src) if name is not None else ""
        var = find_risky_variable(name_text + "=")
        if var:
            self.add_marker(
                f"it sets {var}, which changes what runs", clip(node_text(node, ctx.src))
            )
        for child in node.children:
            self._walk(child, ctx)

    def _declaration(self, node: Node, ctx: _Context) -> None:
        words: list[Word] = []
        for child in node.children:
            if not child.is_named:
                words.append(literal_word(node_text(child, ctx.src)))
            elif child.type == "variable_assignment":
                self._assignment(child, ctx)
                words.append(assignment_word(child, ctx.src))
            elif child.type == "variable_name":
                words.append(literal_word(node_text(child, ctx.src)))
            else:
                self._walk(child, ctx)
                words.append(resolve_word(child, ctx.src))
        expand_command(tuple(words), self, sudo=ctx.sudo, depth=ctx.depth)

    def _check_arithmetic(self, node: Node, ctx: _Context) -> None:
        # Bash evaluates variables in arithmetic as expressions, and an array
        # subscript there runs $( ): x='a[$(rm -rf ~)]'; echo $((x)) runs rm.
        kind = node.type
        arith = kind in ("arithmetic_expansion", "c_style_for_statement") or (
            kind == "compound_statement" and node.child_count and node.children[0].type == "(("
        )
        if arith and any(not arith_plain(c) for c in node.named_children if c.type != "do_group"):
            self.add_marker(
                "arithmetic on variables can run commands", clip(node_text(node, ctx.src))
            )
        elif (
            kind == "binary_expression"
            and node.parent is not None
            and (node.parent.type == "test_command")
        ):
            op = node.child_by_field_name("operator")
            if (
                op is not None
                and node_text(op, ctx.src) in _ARITH_TEST_OPS
                and any(not arith_plain(c) for c in node.named_children if c != op)
            ):
                self.add_marker(
                    "arithmetic on variables can run commands", clip(node_text(node, ctx.src))
                )
        elif kind == "subscript":
            index = node.child_by_field_name("index")
            whole = index is not None and node_text(index, ctx.src) in ("@", "*")
            if index is not None and not whole and not arith_plain(index):
                self.add_marker(
                    "an array subscript is arithmetic and can run commands",
                    clip(node_text(node, ctx.src)),
                )
        elif kind == "expansion":
            ops = [node_text(c, ctx.src) for c in node.children if not c.is_named]
            if len(ops) > 1 and ops[1] == "!":
                self.add_marker(
                    "indirect expansion can run commands", clip(node_text(node, ctx.src))
                )
            elif "@" in ops and "P" in ops:
                self.add_marker(
                    "prompt expansion can run commands", clip(node_text(node, ctx.src))
                )

    def _change_dir(self, target: Word | None) -> Dirs:
        new: list[str | None] = []
        for d in self.dirs:
            if target is None or d is None:
                new.append(None)
            elif target.text.startswith(("/", "~")):
                new.append(posixpath.normpath(target.text))
            else:
                new.append(posixpath.normpath(posixpath.join(d, target.text)))
        # A cd inside ( ) or a branch may not happen: keep the old directories too.
        merged = tuple(dict.fromkeys((*self.dirs, *new)))
        self.dirs = merged if len(merged) <= _MAX_DIRS else (*merged[:_MAX_DIRS], None)
        return tuple(dict.fromkeys(new))
