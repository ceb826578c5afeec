"""Gitignore-style path patterns with Claude Code's anchors, and action paths.

A pattern's anchor says what it is relative to: ``//x`` is absolute, ``~/x`` is
under the home directory, ``/x`` is under the root of the settings file that
holds the rule, and ``x`` or ``./x`` is under the working directory (the
workspace). ``*`` and ``?`` stay inside one path segment, ``**`` crosses them,
and a pattern without a slash matches that name at any depth. As in gitignore,
a pattern that matches a directory also matches everything inside it.

Patterns become one regular expression over absolute, normalised paths, built
once per rule, so matching is a single ``re.match``. Deny and ask rules match
leniently: a pattern without a slash (``.env``, ``*.pem``) matches the name
anywhere on disk, not only under the workspace, because that is what a person
who writes ``deny = ["Read(.env)"]`` means.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PathPattern:
    """A compiled Read/Edit specifier: ``strict`` for allow rules, ``lenient`` for the rest.

    Both are matched with ``fullmatch`` against an absolute, normalised path.
    """

    spec: str
    strict: re.Pattern[str]
    lenient: re.Pattern[str]


def compile_path_pattern(spec: str, *, root: str, workspace: str, home: str) -> PathPattern:
    """Compile a Read/Edit specifier; ``root``, ``workspace`` and ``home`` are absolute."""
    if spec.startswith("//"):
        base, rest, anchored = "/", spec[2:], True
    elif spec == "~" or spec.startswith("~/"):
        base, rest, anchored = home, spec[2:], True
    elif spec.startswith("/"):
        base, rest, anchored = root, spec[1:], True
    elif spec.startswith("./") or spec in (".", ".."):
        base, rest, anchored = workspace, spec, True
    else:
        base, rest = workspace, spec
        anchored = "/" in rest.rstrip("/")
        if rest.startswith("../"):
            anchored = True

    rest = rest.rstrip("/")
    # Leading . and .. segments move the base; the rest is the pattern proper.
    segments = [s for s in rest.split("/") if s != ""]
    while segments and segments[0] in (".", ".."):
        if segments.pop(0) == "..":
            base = posixpath.dirname(base) or "/"
    base_re = "" if base == "/" else re.escape(base.rstrip("/"))
    inside = r"(?:/.*)?"
    if not segments:
        strict = lenient = f"{base_re}{inside}"
        return PathPattern(spec, re.compile(strict, re.S), re.compile(lenient, re.S))

    body = _segments_regex(segments)
    if anchored:
        strict = lenient = f"{base_re}{body}{inside}"
    else:
        strict = f"{base_re}(?:/.*)?{body}{inside}"
        lenient = f"(?:/.*)?{body}{inside}"
    return PathPattern(spec, re.compile(strict, re.S), re.compile(lenient, re.S))


def resolve_path(path: str, *, workspace: str, home: str) -> str | None:
    """The absolute, normalised form of an action's path; None when it names no fixed path.

    Relative paths are under the workspace; ``~`` and ``~/x`` are under the
    home directory; ``..`` segments are folded lexically, so ``src/../.env`` is
    ``.env``. ``~user`` and the like cannot be resolved without the system, so
    they are None and the caller treats them as unknown.
    """
    if "\x00" in path:
        return None
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    elif path.startswith("~"):
        return None
    joined = path if path.startswith("/") else f"{workspace}/{path}" if path else workspace
    if "/." not in joined and "//" not in joined and not joined.endswith("/"):
        return joined  # already normal; normpath is the slow part of a decision
    normal = posixpath.normpath(joined)
    # POSIX keeps a leading "//"; the kernel treats it as "/".
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    return normal


_O_PATH = getattr(os, "O_PATH", 0)


def follow_links(path: str) -> str:
    """Where ``path`` really is once every symlink in it is followed.

    On Linux one ``open(O_PATH)`` and a read of ``/proc/self/fd`` do it in three
    system calls, where ``os.path.realpath`` makes one per path segment; paths
    that do not exist yet (a file about to be written) fall back to it.
    """
    if not _O_PATH:
        return os.path.realpath(path)
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        parent, name = posixpath.split(path)
        if parent == path or os.path.lexists(path):
            return os.path.realpath(path)  # a dangling link: follow it by name
        return posixpath.join(follow_links(parent), name)
    except OSError:
        return os.path.realpath(path)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)
    finally:
        os.close(fd)


def is_within(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or inside it (both absolute and normalised)."""
    if directory == "/":
        return True
    return path == directory or path.startswith(directory + "/")


def _segments_regex(segments: list[str]) -> str:
    out: list[str] = []
    for i, seg in enumerate(segments):
        if seg == "**":
            # Zero or more directories; at the end, everything inside.
            if i == len(segments) - 1:
                out.append(r"(?:/.*)?")
            else:
                out.append(r"(?:/[^/]+)*")
        else:
            out.append("/" + _segment_regex(seg))
    return "".join(out)


def _segment_regex(seg: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "\\" and i + 1 < len(seg):
            out.append(re.escape(seg[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = seg.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
            else:
                inner = seg[i + 1 : end]
                negate = inner[:1] in ("!", "^")
                if negate:
                    inner = inner[1:]
                inner = inner.replace("\\", "\\\\").replace("[", "\\[")
                # A class never matches the separator, negated or not.
                out.append(f"[^{inner}/]" if negate else f"[{inner}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
