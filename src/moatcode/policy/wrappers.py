"""What one simple command really runs: wrappers, shells, ``find -exec`` and friends.

``expand_command`` takes the words of one simple command and reports, to a
``Sink``, every command it amounts to. Wrappers (``timeout 5 rm x``, ``env -i
rm x``, ``xargs -0 rm``...) are stripped with their own options, so rules see
``rm``; a shell given a string (``bash -c 'rm x'``, ``eval``, a here-document
fed to ``sh``) has that string parsed again; ``find -exec CMD {} ;`` yields
CMD; ``tee FILE`` and ``find -delete`` are writes, checked as ``Edit`` like a
redirection's target, and the files ``cp``, ``mv``, ``rm``, ``sed -i`` and the
other file commands change are writes held to the Edit deny and ask rules
(``file_commands``). Anything that runs text we cannot see (``source f``,
``sh`` reading a pipe) is reported as unresolved.

``sudo`` and ``doas`` are stripped too, so a deny rule on ``rm`` still catches
``sudo rm``, but the command they run is marked privileged: an allow rule must
name the whole ``sudo ...`` form to allow it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal, Protocol

from moatcode.policy.file_commands import FILE_COMMANDS, expand_file_command
from moatcode.policy.words import Word, literal_word, unknown_word

PartKind = Literal["command", "noop", "cd"]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "posh", "yash", "rbash"})

# Builtins that change nothing a rule could be about; they need no allow rule.
NOOPS = frozenset({"true", "false", ":", "exit", "return", "break", "continue", "shift"})

# Variables that change which program runs or make a program run another one.
_RISKY_VARS = _names(
    """
    PATH BASH_ENV ENV SHELLOPTS BASHOPTS PS4 PROMPT_COMMAND IFS CDPATH PAGER
    MANPAGER EDITOR VISUAL BROWSER LESSOPEN LESSCLOSE SSH_ASKPASS PYTHONPATH
    PYTHONSTARTUP PYTHONHOME NODE_OPTIONS NODE_PATH PERL5OPT PERL5LIB PERLLIB
    RUBYOPT RUBYLIB JAVA_TOOL_OPTIONS _JAVA_OPTIONS RUSTC_WRAPPER MAKEFLAGS TMPDIR
    HOME
    """
)
_RISKY_PREFIXES = ("LD_", "DYLD_", "GIT_", "BASH_FUNC_", "npm_config_", "NPM_CONFIG_")
_HARMLESS_PREFIXES = ("GIT_AUTHOR_", "GIT_COMMITTER_")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
# An array subscript in a name is arithmetic, and arithmetic runs $( ).
_SUBSCRIPT_CODE = re.compile(r"\[[^\]]*(?:\$\(|`|\$\{)")
_NAME_TAKERS = _names(
    """
    printf read unset declare typeset local export readonly let mapfile readarray
    test [ wait
    """
)
MAX_DEPTH = 8
_KEYWORDS = _names(
    """
    { } ( ) ! [[ ]] if then else elif fi do done case esac while until for in
    function select
    """
)


class Sink(Protocol):
    """Where ``expand_command`` reports what it finds (the walker in ``shell``)."""

    def add_part(
        self,
        words: tuple[Word, ...],
        *,
        sudo: tuple[Word, ...],
        unresolved: str = "",
        kind: PartKind = "command",
        cd_target: Word | None = None,
    ) -> None: ...

    def add_marker(self, reason: str, text: str) -> None: ...

    def add_write(self, target: Word, text: str, *, rules_only: bool = False) -> None: ...

    def parse_script(self, text: str, *, sudo: tuple[Word, ...], depth: int) -> None: ...


@dataclass(frozen=True)
class _Options:
    """How a wrapper's own options look, so they are skipped correctly."""

    short_value: str = ""  # short options that take a value
    short_optional: str = ""  # short options whose value can only be attached (-i{})
    long_value: frozenset[str] = frozenset()  # long options that take a value
    positional: int = 0  # plain words before the command (timeout's duration)
    assignments: bool = False  # NAME=VALUE words may come before the command


_WRAPPERS: dict[str, _Options] = {
    "timeout": _Options("ks", long_value=frozenset({"kill-after", "signal"}), positional=1),
    # `time` is a keyword in bash: `time A=1 cmd` sets A for cmd.
    "time": _Options("fo", long_value=frozenset({"format", "output"}), assignments=True),
    "nice": _Options("n", long_value=frozenset({"adjustment"})),
    "nohup": _Options(),
    "env": _Options(
        "uCS", long_value=frozenset({"unset", "chdir", "split-string"}), assignments=True
    ),
    "command": _Options(),
    "builtin": _Options(),
    "exec": _Options("a"),
    "stdbuf": _Options("ioe", long_value=frozenset({"input", "output", "error"})),
    "ionice": _Options("cnpPu", long_value=frozenset({"class", "classdata", "pid", "pgid", "uid"})),
    "setsid": _Options(),
    "coproc": _Options(),
    "xargs": _Options(
        "adEILnPs",
        short_optional="eil",
        long_value=frozenset(
            {"arg-file", "delimiter", "max-args", "max-procs", "max-chars", "process-slot-var"}
        ),
    ),
    "sudo": _Options(
        "ugCDpRrtTU",
        long_value=_names(
            "user group close-from chdir prompt chroot role type command-timeout other-user host"
        ),
        assignments=True,
    ),
    "doas": _Options("uC"),
    "busybox": _Options(),
    "toybox": _Options(),
}
_PRIVILEGED = frozenset({"sudo", "doas"})


@dataclass(frozen=True)
class _Skipped:
    start: int  # index of the command's first word (== len(words) when there is none)
    options: tuple[str, ...]  # the option letters and long names seen
    values: dict[str, Word]  # option name -> its value
    assignments: tuple[Word, ...]
    problem: str = ""


def basename(word: Word) -> str:
    return posixpath.basename(word.text) or word.text


def find_risky_variable(text: str) -> str:
    """The variable a ``NAME=value`` word sets when that variable changes what runs, else ""."""
    name = text.split("=", 1)[0].split("[", 1)[0].rstrip("+")
    if name in _RISKY_VARS or (
        name.startswith(_RISKY_PREFIXES) and not name.startswith(_HARMLESS_PREFIXES)
    ):
        return name
    return ""


def expand_command(
    words: tuple[Word, ...],
    sink: Sink,
    *,
    sudo: tuple[Word, ...] = (),
    stdin: str | None = None,
    depth: int = 0,
) -> None:
    """Report every command that running ``words`` amounts to."""
    if not words:
        return
    if depth > MAX_DEPTH:
        sink.add_marker("commands are nested too deeply to follow", _show(words))
        return
    prog = words[0]
    if prog.dynamic:
        sink.add_part(words, sudo=sudo, unresolved="the command name is not plain text")
        return
    name = basename(prog)
    if prog.text in _KEYWORDS and prog.source == prog.text:
        # A keyword where a command should be: the grammar split something it
        # did not understand (`coproc { rm x; }`). Read the words again as shell.
        sink.add_marker(f"{prog.text!r} stands where a command should", _show(words))
        if len(words) > 1:
            sink.parse_script(" ".join(w.shell for w in words[1:]), sudo=sudo, depth=depth + 1)
        return

    if name in _WRAPPERS:
        _expand_wrapper(name, words, sink, sudo=sudo, stdin=stdin, depth=depth)
        return
    if name in SHELLS:
        _expand_shell(words, sink, sudo=sudo, stdin=stdin, depth=depth)
        return
    if name == "eval":
        if len(words) > 1:
            script = " ".join(w.shell for w in words[1:])
            sink.parse_script(script, sudo=sudo, depth=depth + 1)
            sink.add_part(words, sudo=sudo, unresolved="eval runs text as a command")
        return
    if name in ("source", "."):
        sink.add_part(words, sudo=sudo, unresolved=f"{name} runs the commands in a file")
        return
    if name == "trap" and len(words) > 2 and not words[1].text.startswith("-"):
        code = words[1]
        if code.dynamic:
            sink.add_marker("the command given to trap is not plain text", code.source)
        sink.parse_script(code.shell, sudo=sudo, depth=depth + 1)
    elif name == "find":
        sink.add_part(
            words, sudo=sudo, unresolved=_expand_find(words, sink, sudo=sudo, depth=depth)
        )
        return
    elif name == "tee":
        _expand_tee(words, sink)
    elif name in FILE_COMMANDS:
        expand_file_command(name, words, lambda target: sink.add_write(
            target, f"{name} ... {target.source}", rules_only=True))
    elif name in ("cd", "pushd", "popd"):
        sink.add_part(words, sudo=sudo, kind="cd", cd_target=_cd_target(name, words))
        return
    elif name in NOOPS or (name == "set" and _harmless_set(words)):
        sink.add_part(words, sudo=sudo, kind="noop")
        return

    unresolved = ""
    if name in _NAME_TAKERS and any(_SUBSCRIPT_CODE.search(w.text) for w in words[1:]):
        unresolved = "an array subscript in a variable name can run commands"
    if name in ("declare", "typeset", "local", "export", "readonly"):
        unresolved = unresolved or _declaration_problem(words)
    if name == "let":
        unresolved = "let evaluates arithmetic on variables, which can run commands"
    if (name == "alias" and any("=" in w.text for w in words[1:])) or (
        name == "shopt" and any(w.text == "expand_aliases" for w in words[1:])
    ):
        unresolved = "an alias can make one command name run another"
    if not unresolved and name in _DECLARATIONS and _plain_declaration(words):
        # `export NODE_ENV=test` is `NODE_ENV=test cmd` spelled over two commands.
        sink.add_part(words, sudo=sudo, kind="noop")
        return
    sink.add_part(words, sudo=sudo, unresolved=unresolved)


def _expand_wrapper(
    name: str,
    words: tuple[Word, ...],
    sink: Sink,
    *,
    sudo: tuple[Word, ...],
    stdin: str | None,
    depth: int,
) -> None:
    spec = _WRAPPERS[name]
    skipped = _skip_options(words, spec)
    if skipped.problem:
        sink.add_part(words, sudo=sudo, unresolved=skipped.problem)
        return
    for assignment in skipped.assignments:
        var = find_risky_variable(assignment.text)
        if var:
            sink.add_marker(f"it sets {var}, which changes what runs", assignment.source)
    inner = words[skipped.start :]
    opts = set(skipped.options)

    if name == "busybox" or name == "toybox":
        if not inner or skipped.options:
            sink.add_part(words, sudo=sudo)
            return
    elif name in _PRIVILEGED:
        if not inner:
            if opts & {"s", "i", "shell", "login"}:
                sink.add_part(words, sudo=sudo, unresolved=f"{name} starts a shell")
            else:
                sink.add_part(words, sudo=sudo)
            return
        if opts & {"e", "edit"}:
            sink.add_part(words, sudo=sudo)
            return
        sudo = (*sudo, *words[: skipped.start])
        if opts & {"s", "i", "shell", "login"}:
            # The command goes through the target user's shell as one string.
            sink.add_marker(f"{name} -s runs its command through a shell", _show(words))
            sink.parse_script(" ".join(w.shell for w in inner), sudo=sudo, depth=depth + 1)
            return
    elif name == "command":
        if opts & {"v", "V"}:
            # `command -v x` only looks x up.
            sink.add_part(words, sudo=sudo)
            return
    elif name == "ionice":
        if opts & {"p", "P", "u", "pid", "pgid", "uid"}:
            sink.add_part(words, sudo=sudo)
            return
    elif name == "env" and opts & {"S", "split-string"}:
        split = skipped.values.get("S") or skipped.values.get("split-string")
        sink.add_marker("env -S splits a string into a command", _show(words))
        if split is not None:
            text = " ".join([split.shell, *(w.shell for w in inner)])
            sink.parse_script(text, sudo=sudo, depth=depth + 1)
        return
    elif name == "xargs":
        inner = _xargs_command(inner, skipped)
    elif name == "exec" and not inner:
        return  # `exec 3>f`: only redirections, checked as writes

    if not inner:
        sink.add_part(words, sudo=sudo)
        return
    expand_command(inner, sink, sudo=sudo, stdin=stdin, depth=depth + 1)


def _skip_options(words: tuple[Word, ...], spec: _Options) -> _Skipped:
    i = 1
    seen: list[str] = []
    values: dict[str, Word] = {}
    assignments: list[Word] = []
    positional = spec.positional
    while i < len(words):
        w = words[i]
        t = w.text
        if w.dynamic:
            if positional:
                positional -= 1
                i += 1
                continue
            return _Skipped(
                i,
                tuple(seen),
                values,
                tuple(assignments),
                f"the options of {words[0].text} are not plain text",
            )
        if t == "--":
            i += 1
            break
        if t == "-":
            seen.append("i")  # `env -` is `env -i`
            i += 1
            continue
        if t.startswith("--"):
            long, eq, _ = t[2:].partition("=")
            seen.append(long)
            if not eq and long in spec.long_value:
                if i + 1 < len(words):
                    values[long] = words[i + 1]
                i += 2
            else:
                if eq:
                    values[long] = literal_word(t.split("=", 1)[1])
                i += 1
            continue
        if t.startswith("-") and len(t) > 1:
            i += 1
            for j, ch in enumerate(t[1:], start=1):
                seen.append(ch)
                if ch in spec.short_value:
                    if j + 1 < len(t):
                        values[ch] = literal_word(t[j + 1 :])
                    elif i < len(words):
                        values[ch] = words[i]
                        i += 1
                    break
                if ch in spec.short_optional:
                    if j + 1 < len(t):
                        values[ch] = literal_word(t[j + 1 :])
                    else:
                        values[ch] = literal_word("")
                    break
            continue
        if spec.assignments and _ASSIGNMENT.match(t):
            assignments.append(w)
            i += 1
            continue
        if positional:
            positional -= 1
            i += 1
            continue
        break
    return _Skipped(min(i, len(words)), tuple(seen), values, tuple(assignments))


def _xargs_command(inner: tuple[Word, ...], skipped: _Skipped) -> tuple[Word, ...]:
    """The command xargs runs: its input lands in the replace string, or at the end."""
    if not inner:
        inner = (literal_word("echo"),)
    replace: str | None = None
    if "I" in skipped.values:
        replace = skipped.values["I"].text
    elif "i" in skipped.values or "replace" in skipped.options:
        value = skipped.values.get("i") or skipped.values.get("replace")
        replace = value.text if value is not None and value.text else "{}"
    if replace:
        return tuple(_replace(w, replace) for w in inner)
    return (*inner, unknown_word("<xargs input>", splits=True))


def _replace(word: Word, placeholder: str) -> Word:
    if placeholder not in word.text:
        return word
    if word.text == placeholder:
        return unknown_word(word.source, splits=False)
    # A file name pasted into a longer word, as `sh -c 'rm {}'` gets it.
    return Word(
        text=word.text.replace(placeholder, "\x00"),
        source=word.source,
        shell=word.shell,
        dynamic=True,
        splits=False,
    )


def _expand_shell(
    words: tuple[Word, ...],
    sink: Sink,
    *,
    sudo: tuple[Word, ...],
    stdin: str | None,
    depth: int,
) -> None:
    command_mode = stdin_mode = False
    i = 1
    while i < len(words):
        w = words[i]
        t = w.text
        if w.dynamic:
            if command_mode:
                break
            sink.add_part(words, sudo=sudo, unresolved="the shell's arguments are not plain text")
            return
        if t == "--" or t == "-":
            i += 1
            break
        if t.startswith("--"):
            i += 2 if t in ("--rcfile", "--init-file") else 1
            continue
        if t[:1] in "-+" and len(t) > 1:
            letters = t[1:]
            if t[0] == "-" and "i" in letters:
                sink.add_marker(
                    "an interactive shell runs its startup files and aliases", _show(words)
                )
            command_mode = command_mode or "c" in letters
            stdin_mode = stdin_mode or "s" in letters
            i += 2 if letters[-1] in "oO" else 1
            continue
        break
    rest = words[i:]
    name = words[0].text
    if command_mode:
        if not rest:
            sink.add_part(words, sudo=sudo, unresolved=f"{name} -c has no command")
            return
        script = rest[0]
        if script.dynamic:
            sink.add_marker(f"the command given to {name} -c is not plain text", script.source)
            sink.parse_script(script.shell, sudo=sudo, depth=depth + 1)
        else:
            sink.parse_script(script.text, sudo=sudo, depth=depth + 1)
        return
    if rest and not stdin_mode:
        # `bash script.sh` runs a file like `./script.sh` does: a rule must name it.
        sink.add_part(words, sudo=sudo)
        return
    if stdin is not None:
        sink.parse_script(stdin, sudo=sudo, depth=depth + 1)
        return
    sink.add_part(words, sudo=sudo, unresolved=f"{name} reads its commands from standard input")


_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FIND_WRITES = frozenset({"-fprint", "-fprint0", "-fls", "-fprintf"})


def _expand_find(words: tuple[Word, ...], sink: Sink, *, sudo: tuple[Word, ...], depth: int) -> str:
    """Report what find runs and writes; return why it is unresolved, or ""."""
    roots: list[Word] = []
    i = 1
    # Options before the starting points: -H -L -P, -D debugopts, -Olevel.
    while i < len(words):
        t = words[i].text
        if t in ("-H", "-L", "-P") or t.startswith("-O"):
            i += 1
        elif t == "-D":
            i += 2
        else:
            break
    while i < len(words) and not words[i].text.startswith(("-", "(", "!", ")", ",")):
        roots.append(words[i])
        i += 1
    if not roots:
        roots.append(literal_word("."))
    unresolved = ""
    while i < len(words):
        t = words[i].text
        if t in _FIND_EXEC:
            end = i + 1
            while end < len(words) and words[end].text not in (";", "+"):
                end += 1
            if end >= len(words):
                unresolved = f"find {t} has no closing ';' or '+'"
                break
            sub = tuple(_replace(w, "{}") for w in words[i + 1 : end])
            expand_command(sub, sink, sudo=sudo, depth=depth + 1)
            i = end + 1
            continue
        if t == "-delete":
            for root in roots:
                sink.add_write(root, f"find {root.source} -delete")
        elif t in _FIND_WRITES and i + 1 < len(words):
            sink.add_write(words[i + 1], f"find {t} {words[i + 1].source}")
        i += 1
    return unresolved


def _expand_tee(words: tuple[Word, ...], sink: Sink) -> None:
    options_done = False
    for w in words[1:]:
        if not options_done and w.text == "--":
            options_done = True
            continue
        if not options_done and w.text.startswith("-") and len(w.text) > 1:
            continue
        sink.add_write(w, f"tee {w.source}")


def _cd_target(name: str, words: tuple[Word, ...]) -> Word | None:
    """Where cd goes; None when we cannot know (``cd -``, ``popd``, a variable)."""
    if name == "popd":
        return None
    args = [w for w in words[1:] if not (w.text.startswith("-") and len(w.text) > 1)]
    if not args:
        return literal_word("~") if name == "cd" else None
    target = args[0]
    if target.dynamic or target.text == "-" or target.text.startswith("+"):
        return None
    return target


_SET_SAFE = re.compile(
    r"[-+][euxoEvhCBbfmpPT]+|[-+]o|pipefail|errexit|nounset|xtrace|errtrace|noclobber"
)


def _harmless_set(words: tuple[Word, ...]) -> bool:
    """``set -euo pipefail`` and friends: shell options, not positional parameters."""
    return len(words) > 1 and all(not w.dynamic and _SET_SAFE.fullmatch(w.text) for w in words[1:])


_DECLARATIONS = frozenset({"export", "declare", "typeset", "local", "readonly", "unset"})


def _plain_declaration(words: tuple[Word, ...]) -> bool:
    """Names and literal values only: no options, subscripts or risky variables."""
    for w in words[1:]:
        if w.dynamic or w.text.startswith("-") or "[" in w.text.split("=", 1)[0]:
            return False
        if find_risky_variable(w.text.split("=", 1)[0] + "="):
            return False
    return True


def _declaration_problem(words: tuple[Word, ...]) -> str:
    for w in words[1:]:
        if w.text.startswith("-") and ("i" in w.text or "n" in w.text):
            return "declare -i and -n evaluate their values"
        if w.dynamic and "=" not in w.text.split("\x00", 1)[0]:
            return "the names it declares are not plain text"
    return ""


def _show(words: tuple[Word, ...]) -> str:
    return " ".join(w.source for w in words)
