"""Permission rules: parse ``Tool`` and ``Tool(specifier)`` strings, Claude Code style.

A rule names a family (``Read``, ``Edit``, ``Bash``) or one of Moat's tools
(``read_file``, ``grep``, ...). A bare name matches every call of that family
or tool; a specifier narrows it: a gitignore-style path for Read and Edit, a
command pattern for Bash. Claude Code's own tool names are accepted where Moat
has the same tool (``Write``, ``Grep``, ``LS``...), so teams keep their rules.

Parsing checks everything that can be checked without a workspace, so a broken
rule fails when settings load, with a message naming the file, the line and the
fix, and never half-way through a session.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from moatcode.errors import PolicyError
from moatcode.types import ActionKind

Layer = Literal["managed", "flag", "project", "local", "user", "builtin"]

# The order verdicts and `moat policy show` list the layers in: the most
# authoritative first, so that when several deny rules match, the one reported
# is the one nobody below it could have removed.
LAYER_ORDER: tuple[Layer, ...] = ("managed", "flag", "local", "project", "user", "builtin")

# A family covers every tool of one action kind.
FAMILIES: dict[str, ActionKind] = {"Read": "read", "Edit": "edit", "Bash": "bash"}

# Moat's tools and the kind of action each one is.
TOOLS: dict[str, ActionKind] = {
    "read_file": "read",
    "grep": "read",
    "glob": "read",
    "list_files": "read",
    "write_file": "edit",
    "edit_file": "edit",
    "bash": "bash",
}

# Claude Code tool names that mean one of Moat's tools. Claude Code accepts
# `Write(...)` and then never consults it; here it means what it says.
CLAUDE_ALIASES: dict[str, str] = {
    "Write": "write_file",
    "MultiEdit": "Edit",
    "Grep": "grep",
    "Glob": "glob",
    "LS": "list_files",
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_IN_MOAT = ("WebFetch", "WebSearch", "Task", "Agent", "NotebookEdit", "NotebookRead")


@dataclass(frozen=True)
class Rule:
    """One parsed rule.

    ``family`` is ``Read``, ``Edit``, ``Bash`` or a Moat tool name (aliases
    already mapped); ``specifier`` is the text between the parentheses, or
    ``None`` for a bare name. ``text`` is the rule exactly as written, which is
    what verdicts and `moat policy show` quote.
    """

    text: str
    family: str
    specifier: str | None
    source: str
    line: int | None = None

    @property
    def kind(self) -> ActionKind:
        """The kind of action this rule can match."""
        return FAMILIES.get(self.family) or TOOLS[self.family]


@dataclass(frozen=True)
class RuleSet:
    """The rules of one layer: one settings file, or the command-line flags."""

    layer: Layer
    source: str
    root: Path
    allow: tuple[Rule, ...] = ()
    ask: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()


def parse_rule(text: str, *, source: str, line: int | None = None) -> Rule:
    """Parse one rule string; a malformed rule raises ``PolicyError`` naming the fix."""

    def bad(problem: str, fix: str) -> PolicyError:
        where = f"{source} line {line}" if line is not None else source
        return PolicyError(f"Bad permission rule {text!r} in {where}: {problem}; {fix}.")

    stripped = text.strip()
    if not stripped:
        raise bad("the rule is empty", "write a tool name such as Read or Bash(git status)")
    if any(ord(c) < 32 or c == "\x7f" for c in stripped):
        raise bad("it contains a control character", "write the rule on one line")

    name_match = _NAME.match(stripped)
    name = name_match.group(0) if name_match else ""
    rest = stripped[len(name) :]
    if not name or (rest and not rest.startswith("(")):
        raise bad(
            "it is not Tool or Tool(specifier)",
            "write it as Read, Bash(git status) or Edit(src/**)",
        )

    family = _family(name, bad)
    if not rest:
        return Rule(text=text, family=family, specifier=None, source=source, line=line)

    close = _matching_paren(rest)
    if close is None and _unbalanced_quotes(rest[1:]):
        raise bad("unbalanced quotes", "close the quote, or escape it with a backslash")
    if close is None:
        inner = rest[1:].strip()
        raise bad("unbalanced parenthesis", f"write it as {_suggest(name, inner)}")
    if close != len(rest) - 1:
        raise bad(
            "unbalanced parenthesis (text after the closing one)",
            f"write it as {name}({rest[1:close]})",
        )
    specifier = rest[1:-1].strip()
    if not specifier:
        raise bad("the specifier is empty", f"write {name} alone to match every call")

    kind = FAMILIES.get(family) or TOOLS[family]
    if kind == "bash":
        if specifier == "*":
            # Claude Code treats Bash(*) as Bash.
            return Rule(text=text, family=family, specifier=None, source=source, line=line)
        problem = check_bash_specifier(specifier)
        if problem:
            raise bad(*problem)
    else:
        problem = check_path_specifier(specifier, name)
        if problem:
            raise bad(*problem)
    return Rule(text=text, family=family, specifier=specifier, source=source, line=line)


def parse_rules(
    texts: tuple[str, ...] | list[str], *, source: str, lines: tuple[int | None, ...] | None = None
) -> tuple[Rule, ...]:
    """Parse a list of rules from one file; ``lines`` gives each rule's line when known."""
    return tuple(
        parse_rule(t, source=source, line=lines[i] if lines is not None else None)
        for i, t in enumerate(texts)
    )


def check_bash_specifier(spec: str) -> tuple[str, str] | None:
    """Why a Bash pattern is malformed, as (problem, fix), or None when it is fine."""
    body = spec[:-2] if spec.endswith(":*") and not spec.endswith("\\:*") else spec
    if ":*" in body.replace("\\:*", ""):
        return (
            "':*' only works at the end of a pattern",
            f"write it as Bash({body.replace(':*', ' *')})",
        )
    if "**" in spec:
        return (
            "'**' is a path pattern, and Bash rules match commands",
            "use Read(...) or Edit(...) for paths, or a single * in a command",
        )
    if not body.strip():
        return ("the pattern names no command", "write Bash alone to match every command")
    if _unbalanced_quotes(spec):
        return ("unbalanced quotes", "close the quote, or escape it with a backslash")
    return None


def check_path_specifier(spec: str, name: str) -> tuple[str, str] | None:
    """Why a Read/Edit path pattern is malformed, as (problem, fix), or None."""
    if spec.endswith(":*"):
        return (
            "':*' is the Bash prefix form and means nothing in a path",
            f"write it as {name}({spec[:-2]}/**) or {name}({spec[:-2]}*)",
        )
    if spec.startswith("!"):
        return (
            "a negated path ('!') cannot be one rule",
            "put the path in another list (allow, ask or deny) instead",
        )
    if spec.startswith("~") and not (spec == "~" or spec.startswith("~/")):
        return ("only ~/ (your own home) is supported", f"write it as {name}(//home/user/...)")
    if spec.startswith(("file_path:", "path:")):
        return ("the param:value form is not supported", f"write the path alone: {name}(src/**)")
    body = spec.lstrip("/")
    segments = body.split("/")
    leading = 0
    while leading < len(segments) and segments[leading] in ("..", "."):
        leading += 1
    if ".." in segments[leading:]:
        prefix = spec[: len(spec) - len(body)]
        folded = posixpath.normpath(body)
        return ("'..' may only come first in a path", f"write it as {name}({prefix}{folded})")
    if _unbalanced_brackets(spec):
        return ("unbalanced [ in a path pattern", "close it with ], or escape it as \\[")
    return None


def _family(name: str, bad: Callable[[str, str], PolicyError]) -> str:
    if name in FAMILIES or name in TOOLS:
        return name
    if name in CLAUDE_ALIASES:
        return CLAUDE_ALIASES[name]
    if name in _NOT_IN_MOAT or name.startswith("mcp__"):
        raise bad(f"Moat has no {name} tool", "remove the rule")
    for known in (*FAMILIES, *TOOLS):
        if known.lower() == name.lower():
            raise bad(f"unknown tool {name!r}", f"write {known} (names are case-sensitive)")
    names = ", ".join((*FAMILIES, *TOOLS))
    raise bad(f"unknown tool {name!r}", f"use one of {names}")


def _matching_paren(rest: str) -> int | None:
    """Index of the ``)`` closing the ``(`` at ``rest[0]``; backslash escapes a paren."""
    depth = 0
    quote = ""
    i = 0
    while i < len(rest):
        c = rest[i]
        if c == "\\":
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"" and depth > 0:
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _suggest(name: str, inner: str) -> str:
    inner = inner.rstrip(")").strip()
    if name in ("Bash", "bash") and "*" not in inner:
        return f"{name}({inner}) or {name}({inner} *)"
    return f"{name}({inner})"


def _unbalanced_quotes(spec: str) -> bool:
    quote = ""
    i = 0
    while i < len(spec):
        c = spec[i]
        if c == "\\" and quote != "'":
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        i += 1
    return bool(quote)


def _unbalanced_brackets(spec: str) -> bool:
    i = 0
    while i < len(spec):
        c = spec[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            end = spec.find("]", i + 2)
            if end < 0:
                return True
            i = end
        i += 1
    return False
