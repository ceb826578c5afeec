"""Match one simple command against a ``Bash(...)`` pattern, strictly or leniently.

Patterns follow Claude Code: ``*`` matches any text, spaces included; a
trailing `` *`` (or the older ``:*``) is optional and keeps the word boundary,
so ``git diff *`` matches ``git diff`` and ``git diff HEAD`` but not ``git
diffx``; ``\\*`` is a literal star; with no wildcard the whole command must be
exactly the pattern. Quotes in a pattern group words as in the shell.

Allow rules match *strictly*: the pattern is one regular expression over the
command's words joined by spaces, as written (a program named by an absolute
path in a system directory may match by its basename, ``./git`` never matches
``git``). A word the text cannot tell (``$x``) can only fall under a ``*``.

Deny and ask rules match *leniently*: besides the strict expression, the
program is compared by basename, short-flag clusters are split (``-rf`` is
``-r -f``), well-known long options map to their short form (``--recursive``
is ``-r`` for rm), flags are a set in any order, a word after a flag may be its
value, ``git``'s global options (``-C dir``) are skipped, and an unquoted
expansion may stand for any words at all, flags included.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from moatcode.policy.words import Word

_WILDCARD = object()
_STAR = "*"  # a whole pattern word that is only a wildcard
Segment = str | object
# A literal space inside one word (`"a b"`); a space between words stays a space.
_INNER_SPACE = "\x01"

_SYSTEM_DIRS = frozenset(
    ["/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin", "/usr/local/sbin"]
)

# Programs whose single-dash options are words (`find -delete`), not letters.
# fmt: off
_NO_CLUSTERS = frozenset({
    "find", "java", "go", "gcc", "g++", "clang", "cc", "ld", "openssl", "ffmpeg", "terraform",
    "xcodebuild", "dd", "tcpdump", "nft",
})
# fmt: on


def _aliases(table: dict[str, str]) -> dict[str, dict[str, tuple[str, ...]]]:
    """``{"rm": "--force=-f -R=-r"}`` -> ``{"rm": {"--force": ("-f",), "-R": ("-r",)}}``."""
    return {
        program: {
            name: tuple(short.split(","))
            for name, short in (pair.split("=") for pair in pairs.split())
        }
        for program, pairs in table.items()
    }


# Other names of a flag, per program: the long form maps to the short one.
_LONG = _aliases(
    {
        "rm": "--recursive=-r --force=-f --dir=-d --interactive=-i --verbose=-v",
        "cp": "--recursive=-r --force=-f --archive=-a --link=-l --symbolic-link=-s "
        "--no-clobber=-n --update=-u --target-directory=-t --verbose=-v",
        "mv": "--force=-f --no-clobber=-n --interactive=-i --update=-u --target-directory=-t "
        "--verbose=-v",
        "chmod": "--recursive=-R --silent=-f --quiet=-f --verbose=-v --changes=-c",
        "chown": "--recursive=-R --silent=-f --quiet=-f --verbose=-v --changes=-c --dereference=-L",
        "chgrp": "--recursive=-R --silent=-f --quiet=-f --verbose=-v --changes=-c",
        "ln": "--symbolic=-s --force=-f",
        "mkdir": "--parents=-p",
        "sed": "--in-place=-i --expression=-e",
        "curl": "--output=-o --request=-X --data=-d --upload-file=-T --insecure=-k --location=-L",
        "npm": "--global=-g --force=-f",
    }
)
_SHORT = _aliases({"rm": "-R=-r", "cp": "-R=-r"})
# git's aliases depend on the subcommand; force pushes of every spelling are -f.
_GIT_LONG = _aliases(
    {
        "push": "--force=-f --force-with-lease=-f --force-if-includes=-f --delete=-d "
        "--set-upstream=-u --quiet=-q",
        "clean": "--force=-f --dry-run=-n --quiet=-q --interactive=-i",
        "branch": "--delete=-d --force=-f --move=-m --copy=-c",
        "checkout": "--force=-f",
        "switch": "--force=-f --discard-changes=-f --create=-c --force-create=-C",
        "commit": "--all=-a --message=-m --no-verify=-n",
        "add": "--all=-A --force=-f --update=-u",
        "rm": "--force=-f --quiet=-q",
        "tag": "--delete=-d --force=-f",
        "fetch": "--force=-f --prune=-p",
        "pull": "--force=-f --rebase=-r",
        "rebase": "--interactive=-i",
    }
)
_GIT_SHORT = _aliases({"branch": "-D=-d,-f -M=-m,-f -C=-c,-f"})
# git options before the subcommand that take the next word as their value.
_GIT_GLOBAL_VALUE = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env"}
)


@dataclass(frozen=True)
class BashPattern:
    """A compiled ``Bash(...)`` specifier."""

    spec: str
    regex: re.Pattern[str]
    # The lenient, word-by-word form; program None means "any program".
    program: re.Pattern[str] | None
    program_name: str  # the program's basename when the pattern names it literally
    flags: tuple[frozenset[str], ...]
    positional: tuple[str | re.Pattern[str], ...]


@dataclass(frozen=True)
class CommandView:
    """One command (a part, or its ``sudo ...`` form) ready for matching."""

    strict: tuple[str, ...]
    lenient: tuple[str, ...]
    program: str | None
    program_glob: bool
    flags: frozenset[str]
    may_have_flags: bool
    # Non-flag words: (kind, text, glob) with kind pos | maybe | one | many.
    items: tuple[tuple[str, str, bool], ...]


def compile_bash_pattern(spec: str) -> BashPattern:
    """Compile a Bash specifier (already checked by ``rules.check_bash_specifier``)."""
    body = spec
    if body.endswith(":*") and not body.endswith("\\:*"):
        body = body[:-2] + " *"
    tokens = _tokenize(body)
    regex = _regex(tokens)

    if not tokens:
        return BashPattern(spec, regex, None, "", (), ())
    first = tokens[0]
    prog = ""
    program: re.Pattern[str] | None = None
    if _is_literal(first):
        prog = posixpath.basename(_text(first)) or _text(first)
        program = re.compile(re.escape(prog))
    elif first != [_WILDCARD]:
        program = re.compile(_word_regex(first), re.S)
    sub = ""
    if prog == "git":
        sub = _git_subcommand([_text(t) if _is_literal(t) else "" for t in tokens[1:]])

    flags: list[frozenset[str]] = []
    positional: list[str | re.Pattern[str]] = []
    options_done = False
    for tok in tokens[1:]:
        if _is_literal(tok):
            t = _text(tok)
            if not options_done and t == "--":
                options_done = True
                continue
            if not options_done and t.startswith("-") and len(t) > 1:
                flags.append(_rule_flag(prog, sub, t))
                continue
            positional.append(t)
        elif tok == [_WILDCARD]:
            positional.append(_STAR)
        else:
            positional.append(re.compile(_word_regex(tok), re.S))
    if positional and not isinstance(positional[-1], str) and tokens[-1][-1] is _WILDCARD:
        # `npm run test*` also runs on into more words, as the string form does.
        positional.append(_STAR)
    return BashPattern(spec, regex, program, prog, tuple(flags), tuple(positional))


def view_command(words: tuple[Word, ...]) -> CommandView:
    """Everything matching needs from a command's words, computed once."""
    prog_word = words[0]
    joined_rest = [_join_word(w) for w in words[1:]]
    as_written = " ".join([_join_word(prog_word), *joined_rest])
    base = posixpath.basename(prog_word.text) or prog_word.text
    by_base = " ".join([base.replace(" ", _INNER_SPACE), *joined_rest])
    strict = [as_written]
    if posixpath.dirname(prog_word.text) in _SYSTEM_DIRS and prog_word.literal:
        strict.append(by_base)
    lenient = tuple(dict.fromkeys((as_written, by_base)))

    program = None if prog_word.dynamic else base
    prog = program or ""
    sub = _git_subcommand([w.text for w in words[1:] if w.literal]) if prog == "git" else ""
    flags: set[str] = set()
    may_have_flags = prog_word.dynamic and prog_word.splits
    items: list[tuple[str, str, bool]] = []
    options_done = False
    after_flag = False
    for w in words[1:]:
        t = w.text
        if w.dynamic:
            if not options_done and w.splits:
                may_have_flags = True
            items.append(("many" if w.splits else "one", t, False))
            after_flag = False
            continue
        if not options_done and t == "--":
            options_done = True
            after_flag = False
            continue
        if not options_done and t.startswith("-") and len(t) > 1:
            flags.update(_command_flag(prog, sub, t))
            after_flag = "=" not in t
            continue
        items.append(("maybe" if after_flag else "pos", t, w.glob))
        after_flag = False
    if prog == "git" and sub == "push" and any(t.startswith("+") for _, t, _ in items):
        flags.add("-f")  # `git push origin +main` is a force push
    return CommandView(
        strict=tuple(strict),
        lenient=lenient,
        program=program,
        program_glob=prog_word.glob,
        flags=frozenset(flags),
        may_have_flags=may_have_flags,
        items=tuple(items),
    )


def match_strict(pattern: BashPattern, view: CommandView) -> bool:
    """Whether an allow rule's pattern matches the command as written."""
    return any(pattern.regex.fullmatch(s) for s in view.strict)


def match_lenient(pattern: BashPattern, view: CommandView) -> bool:
    """Whether a deny or ask rule's pattern matches any way of reading the command."""
    if any(pattern.regex.fullmatch(s) for s in view.lenient):
        return True
    if pattern.program is not None:
        if view.program is None:
            # `$CMD x` is unresolved and asks; guessing it is `curl` would only confuse.
            return False
        if view.program_glob and pattern.program_name:
            # `/bin/r?` may expand to /bin/rm.
            if not fnmatchcase(pattern.program_name, view.program):
                return False
        elif not pattern.program.fullmatch(view.program):
            return False
    if not view.may_have_flags and not all(req <= view.flags for req in pattern.flags):
        return False
    return _positional(pattern.positional, view.items)


def _positional(
    pattern: tuple[str | re.Pattern[str], ...], items: tuple[tuple[str, str, bool], ...]
) -> bool:
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        key = (i, j)
        if key in memo:
            return memo[key]
        if j == len(items):
            result = all(p == _STAR for p in pattern[i:])
        else:
            kind, text, glob = items[j]
            p = pattern[i] if i < len(pattern) else None
            result = False
            if p == _STAR:
                result = match(i + 1, j) or match(i, j + 1)
            if not result and kind == "maybe":
                result = match(i, j + 1)
            if not result and kind == "many":
                result = match(i, j + 1) or (p is not None and match(i + 1, j))
            if not result and p is not None and p != _STAR:
                result = _word_matches(p, kind, text, glob) and match(i + 1, j + 1)
        memo[key] = result
        return result

    return match(0, 0)


def _word_matches(p: str | re.Pattern[str], kind: str, text: str, glob: bool) -> bool:
    if kind in ("one", "many"):
        return True
    if isinstance(p, str):
        return text == p or (glob and fnmatchcase(p, text))
    return p.fullmatch(text) is not None


def _command_flag(prog: str, sub: str, flag: str) -> set[str]:
    """Every name a flag word of a command goes by."""
    if flag.startswith("--"):
        name = flag.split("=", 1)[0]
        return {name, *_long_alias(prog, sub, name)}
    if prog in _NO_CLUSTERS or len(flag) == 2:
        return {flag, *_short_alias(prog, sub, flag)}
    out = {flag}
    for letter in flag[1:]:
        short = "-" + letter
        out.add(short)
        out.update(_short_alias(prog, sub, short))
    return out


def _rule_flag(prog: str, sub: str, flag: str) -> frozenset[str]:
    """The names a command must have for one flag word of a rule to be present."""
    if flag.startswith("--"):
        name = flag.split("=", 1)[0]
        return frozenset(_long_alias(prog, sub, name) or (name,))
    if prog in _NO_CLUSTERS or len(flag) == 2:
        return frozenset(_short_alias(prog, sub, flag) or (flag,))
    out: set[str] = set()
    for letter in flag[1:]:
        short = "-" + letter
        out.update(_short_alias(prog, sub, short) or (short,))
    return frozenset(out)


def _long_alias(prog: str, sub: str, name: str) -> tuple[str, ...]:
    if prog == "git":
        return _GIT_LONG.get(sub, {}).get(name, ())
    return _LONG.get(prog, {}).get(name, ())


def _short_alias(prog: str, sub: str, flag: str) -> tuple[str, ...]:
    if prog == "git":
        return _GIT_SHORT.get(sub, {}).get(flag, ())
    return _SHORT.get(prog, {}).get(flag, ())


def _git_subcommand(words: list[str]) -> str:
    i = 0
    while i < len(words):
        t = words[i]
        if t in _GIT_GLOBAL_VALUE:
            i += 2
        elif t.startswith("-"):
            i += 1
        else:
            return t
    return ""


def _join_word(w: Word) -> str:
    return w.text.replace(" ", _INNER_SPACE)


def _tokenize(spec: str) -> list[list[Segment]]:
    """Split a pattern into words of literal text and wildcards, honouring quotes."""
    words: list[list[Segment]] = []
    current: list[Segment] = []
    started = False
    quote = ""
    i = 0

    def literal(c: str) -> None:
        if current and isinstance(current[-1], str):
            current[-1] = current[-1] + c
        else:
            current.append(c)

    while i < len(spec):
        c = spec[i]
        if quote == "'":
            if c == "'":
                quote = ""
            elif c == "*":
                current.append(_WILDCARD)
            else:
                literal(c)
        elif c == "\\" and i + 1 < len(spec):
            literal(spec[i + 1])
            started = True
            i += 2
            continue
        elif quote == '"':
            if c == '"':
                quote = ""
            elif c == "*":
                current.append(_WILDCARD)
            else:
                literal(c)
        elif c in "'\"":
            quote = c
            started = True
        elif c.isspace():
            if started:
                words.append(current)
                current, started = [], False
        elif c == "*":
            current.append(_WILDCARD)
            started = True
        else:
            literal(c)
            started = True
        i += 1
    if started or current:
        words.append(current)
    return words


def _regex(tokens: list[list[Segment]]) -> re.Pattern[str]:
    parts = [_word_regex(t) for t in tokens]
    if len(tokens) > 1 and tokens[-1] == [_WILDCARD]:
        return re.compile(" ".join(parts[:-1]) + "(?: .*)?", re.S)
    return re.compile(" ".join(parts), re.S)


def _word_regex(segments: list[Segment]) -> str:
    out: list[str] = []
    for seg in segments:
        if seg is _WILDCARD:
            out.append(".*")
        else:
            assert isinstance(seg, str)
            out.append(re.escape(seg.replace(" ", _INNER_SPACE)))
    return "".join(out)


def _is_literal(segments: list[Segment]) -> bool:
    return all(isinstance(s, str) for s in segments)


def _text(segments: list[Segment]) -> str:
    return "".join(s for s in segments if isinstance(s, str))
