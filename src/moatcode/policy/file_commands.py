"""The files a file command changes: ``cp``, ``mv``, ``rm``, ``chmod``, ``dd of=``, ``sed -i``...

Their operands are read as GNU getopt reads them (option clusters, values
attached or after ``=``, long options shortened to a unique prefix), so
``cp -rt DIR``, ``cp -tDIR`` and ``cp --tar DIR`` all name DIR. A word known
only at run time may be an option or several operands: it makes a write to
an unknown place. The policy engine holds these writes to the ``Edit`` deny
and ask rules (``shell.Write.rules_only``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from moatcode.policy.words import Word, literal_word, unknown_word

Write = Callable[[Word], None]


@dataclass(frozen=True)
class _Syntax:
    """A file command's options, as GNU getopt reads them.

    ``short_values`` and ``long_values`` take a value (attached, after ``=``,
    or as the next word); ``short_attached`` take one only attached (sed's
    ``-i[SUFFIX]``). Long options may be shortened to any unambiguous prefix.
    ``short_flags`` matters only where ``unknown_is_operand`` is set: chmod
    reads ``-x`` and ``-w,u+x`` as modes, not options.
    """

    short_values: str = ""
    long_values: tuple[str, ...] = ()
    long_flags: tuple[str, ...] = ()
    short_flags: str = ""
    unknown_is_operand: bool = False
    short_attached: str = ""


@dataclass
class _Parsed:
    operands: list[Word] = field(default_factory=list)
    values: list[tuple[str, Word]] = field(default_factory=list)  # in the order given
    flags: set[str] = field(default_factory=set)

    def value(self, *names: str) -> Word | None:
        """The last value given to any of ``names``."""
        return next((w for n, w in reversed(self.values) if n in names), None)


_COPY = _Syntax("St", ("target-directory", "suffix", "sparse", "no-preserve"),
                ("no-target-directory", "backup", "force", "interactive", "recursive"))
_INSTALL = _Syntax("Stmog", ("target-directory", "suffix", "mode", "owner", "group",
                             "strip-program"),
                   ("directory", "no-target-directory", "backup", "compare", "verbose"))
_COPIERS = {"cp": _COPY, "mv": _COPY, "ln": _COPY, "install": _INSTALL}
_CHANGERS = {  # every operand is a file changed, made or removed
    "rm": _Syntax(), "rmdir": _Syntax(), "unlink": _Syntax(),
    "touch": _Syntax("drt", ("date", "reference", "time")),
    "truncate": _Syntax("sr", ("size", "reference")),
    "shred": _Syntax("ns", ("iterations", "size", "random-source")),
    "mkdir": _Syntax("m", ("mode",)),
}
_OWNERS = {  # the first operand is a mode or an owner, unless --reference names a file
    "chmod": _Syntax("", ("reference",), ("recursive", "changes", "silent", "quiet", "verbose"),
                     short_flags="cfvR", unknown_is_operand=True),
    "chown": _Syntax("", ("reference", "from"), ("recursive", "dereference")),
    "chgrp": _Syntax("", ("reference",), ("recursive", "dereference")),
}
_SED = _Syntax("efl", ("expression", "file", "line-length"),
               ("in-place", "quiet", "silent", "separate", "regexp-extended", "null-data"),
               short_attached="i")
FILE_COMMANDS = frozenset({*_COPIERS, *_CHANGERS, *_OWNERS, "dd", "sed"})
# A sed `w FILE` command, or an `s///w FILE` flag: a write the script names.
_SED_WRITE = re.compile(r"(?:^|[;\n{}]|/[gpiImMe0-9]*)\s*[wW]\s*\S")


def _long_name(given: str, syntax: _Syntax) -> str | None:
    """The long option ``given`` names, whole or as an unambiguous prefix."""
    known = syntax.long_values + syntax.long_flags
    if given in known:
        return given
    matches = [name for name in known if name.startswith(given)]
    return matches[0] if len(matches) == 1 else None


def _value_word(word: Word, text: str) -> Word:
    return Word(text=text, source=text, shell=text, dynamic=word.dynamic)


def _getopt(words: tuple[Word, ...], syntax: _Syntax) -> _Parsed:
    """Operands, option values (by short letter or long name), and the flags given."""
    parsed = _Parsed()
    i = 1
    while i < len(words):
        word, t = words[i], words[i].text
        i += 1
        if t == "--":
            parsed.operands.extend(words[i:])
            break
        if t.startswith("--") and len(t) > 2:
            given, eq, value = t[2:].partition("=")
            name = _long_name(given, syntax)
            if name is not None and name in syntax.long_values:
                if eq:
                    parsed.values.append((name, _value_word(word, value)))
                elif i < len(words):
                    parsed.values.append((name, words[i]))
                    i += 1
            elif name is not None:
                parsed.flags.add(name)
            continue
        if not t.startswith("-") or len(t) == 1:
            parsed.operands.append(word)
            continue
        known = syntax.short_flags + syntax.short_values
        if syntax.unknown_is_operand and any(c not in known for c in t[1:]):
            parsed.operands.append(word)  # chmod -x: a mode
            continue
        for j, c in enumerate(t[1:], 2):
            parsed.flags.add(c)
            if c in syntax.short_attached:
                break  # the rest of the word is its value
            if c in syntax.short_values:
                if t[j:]:
                    parsed.values.append((c, _value_word(word, t[j:])))
                elif i < len(words):
                    parsed.values.append((c, words[i]))
                    i += 1
                break
    return parsed


def _inside(directory: Word, source: Word) -> Word:
    """Where ``source`` lands when copied or moved into ``directory``."""
    name = posixpath.basename(source.text.rstrip("/")) or source.text
    return Word(text=posixpath.join(directory.text, name),
                source=f"{directory.source}/{name}", shell=f"{directory.shell}/{name}",
                dynamic=directory.dynamic or source.dynamic, tilde=directory.tilde)


def expand_file_command(name: str, words: tuple[Word, ...], write: Write) -> None:
    """Pass ``write`` each file ``cp``, ``rm``, ``dd``, ``sed -i`` and the like change."""
    if any(w.dynamic or w.splits for w in words[1:]):
        # A word known only at run time may be an option, or several operands: what the
        # command writes cannot be read off its words. Only a rule-free policy lets it be.
        write(unknown_word(" ".join(w.source for w in words), splits=False))
    if name == "dd":
        for w in words[1:]:
            if w.text.startswith("of="):
                write(_value_word(w, w.text[3:]))
        return
    if name == "sed":
        _expand_sed(words, write)
        return
    if name in _CHANGERS:
        for w in _getopt(words, _CHANGERS[name]).operands:
            write(w)
        return
    if name in _OWNERS:
        parsed = _getopt(words, _OWNERS[name])
        for w in parsed.operands[0 if parsed.value("reference") else 1:]:
            write(w)
        return
    parsed = _getopt(words, _COPIERS[name])
    operands = parsed.operands
    if name == "install" and parsed.flags & {"d", "directory"}:
        for w in operands:
            write(w)
        return
    target = parsed.value("t", "target-directory")
    if target is None:
        if len(operands) == 1 and name == "ln":
            target, sources = literal_word("."), operands  # the link goes here
        elif len(operands) < 2:
            return
        else:
            target, sources = operands[-1], operands[:-1]
            write(target)  # a file, or a directory the sources go into: both are checked
    else:
        sources = operands
    for source in sources:
        write(_inside(target, source))
        if name == "mv":
            write(source)  # moved away: gone from where it was


def _expand_sed(words: tuple[Word, ...], write: Write) -> None:
    """``sed -i`` changes its input files; a ``w`` command writes the file it names."""
    parsed = _getopt(words, _SED)
    operands = list(parsed.operands)
    # A script file may hold a w command; it is read as one that does.
    scripts = [w.text if n in ("e", "expression") else "w ?" for n, w in parsed.values
               if n in ("e", "expression", "f", "file")]
    if not scripts and operands:
        scripts.append(operands.pop(0).text)
    if any(_SED_WRITE.search(script) for script in scripts):
        write(unknown_word(" ".join(w.source for w in words), splits=False))
    if parsed.flags & {"i", "in-place"}:
        for w in operands:
            write(w)
