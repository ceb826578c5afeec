from __future__ import annotations

import os
from pathlib import Path

import pytest

from moatcode.policy.paths import compile_path_pattern, follow_links, is_within, resolve_path

WS = "/work/proj"
HOME = "/home/ada"
ROOT = "/etc/moat-root"


def strict(spec: str, path: str) -> bool:
    pattern = compile_path_pattern(spec, root=ROOT, workspace=WS, home=HOME)
    return pattern.strict.fullmatch(path) is not None


def lenient(spec: str, path: str) -> bool:
    pattern = compile_path_pattern(spec, root=ROOT, workspace=WS, home=HOME)
    return pattern.lenient.fullmatch(path) is not None


@pytest.mark.parametrize(
    ("spec", "path", "expected"),
    [
        # //abs is absolute.
        ("//etc/passwd", "/etc/passwd", True),
        ("//etc/**", "/etc/ssh/sshd_config", True),
        ("//etc/**", "/etcx/passwd", False),
        # ~/ is under the home directory.
        ("~/.ssh/**", "/home/ada/.ssh/id_ed25519", True),
        ("~/.ssh/**", "/work/proj/.ssh/id", False),
        ("~", "/home/ada/notes.txt", True),
        # /x is under the root of the settings file.
        ("/src/**", "/etc/moat-root/src/a.py", True),
        ("/src/**", "/work/proj/src/a.py", False),
        # x and ./x are under the working directory.
        ("./src/*.py", "/work/proj/src/a.py", True),
        ("src/*.py", "/work/proj/src/a.py", True),
        ("src/*.py", "/work/proj/lib/src/a.py", False),
        # * stays in one segment, ** crosses them.
        ("src/*.py", "/work/proj/src/pkg/a.py", False),
        ("src/**/*.py", "/work/proj/src/pkg/deep/a.py", True),
        ("src/**/*.py", "/work/proj/src/a.py", True),
        ("**/secrets", "/work/proj/a/b/secrets", True),
        # No slash: a name at any depth under the working directory.
        ("*.env", "/work/proj/config/prod.env", True),
        (".env", "/work/proj/.env", True),
        (".env", "/work/proj/svc/.env", True),
        (".env", "/other/.env", False),
        (".env", "/work/proj/.envrc", False),
        # A directory pattern covers what is inside; dir/** covers the dir itself.
        ("build", "/work/proj/build/out/a.o", True),
        ("build/", "/work/proj/build/a.o", True),
        ("src/**", "/work/proj/src", True),
        # ? and character classes.
        ("file?.txt", "/work/proj/file1.txt", True),
        ("file?.txt", "/work/proj/file10.txt", False),
        ("[ab].txt", "/work/proj/b.txt", True),
        ("[!ab].txt", "/work/proj/c.txt", True),
        ("[!ab].txt", "/work/proj/a.txt", False),
        # Leading .. moves the base up.
        ("../shared/**", "/work/shared/x", True),
        # Escapes make wildcards literal.
        ("\\*.txt", "/work/proj/*.txt", True),
        ("\\*.txt", "/work/proj/a.txt", False),
    ],
)
def test_strict_matching(spec: str, path: str, expected: bool) -> None:
    assert strict(spec, path) is expected


def test_lenient_name_patterns_match_anywhere() -> None:
    assert lenient(".env", "/other/project/.env")
    assert lenient("*.pem", "/home/ada/keys/server.pem")
    assert not lenient(".env", "/other/.envrc")
    # Anchored patterns are the same either way.
    assert not lenient("src/*.py", "/other/src/a.py")


def test_workspace_with_glob_characters_is_literal() -> None:
    pattern = compile_path_pattern("src/**", root="/r", workspace="/w/[x]*", home=HOME)
    assert pattern.strict.fullmatch("/w/[x]*/src/a")
    assert not pattern.strict.fullmatch("/w/x/src/a")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("src/a.py", "/work/proj/src/a.py"),
        ("./src/../.env", "/work/proj/.env"),
        ("src/../../other/x", "/work/other/x"),
        ("/etc//passwd", "/etc/passwd"),
        ("//etc/passwd", "/etc/passwd"),
        ("~/.bashrc", "/home/ada/.bashrc"),
        ("~", "/home/ada"),
        ("", "/work/proj"),
        (".", "/work/proj"),
        ("~bob/x", None),
    ],
)
def test_resolve_path(given: str, expected: str | None) -> None:
    assert resolve_path(given, workspace=WS, home=HOME) == expected


def test_is_within() -> None:
    assert is_within("/work/proj", "/work/proj")
    assert is_within("/work/proj/a", "/work/proj")
    assert not is_within("/work/project", "/work/proj")
    assert is_within("/anything", "/")


def test_real_path_follows_links(tmp_path: Path) -> None:
    target = tmp_path / "target"
    (target / "dir").mkdir(parents=True)
    (target / "dir" / "file").write_text("x")
    (tmp_path / "link").symlink_to(target / "dir")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "file")
    base = os.path.realpath(tmp_path)
    assert follow_links(str(tmp_path / "link" / "file")) == f"{base}/target/dir/file"
    # A file about to be created, under a link.
    new_file = tmp_path / "link" / "new" / "deeper"
    assert follow_links(str(new_file)) == f"{base}/target/dir/new/deeper"
    assert follow_links(str(tmp_path / "dangling")) == f"{base}/nowhere/file"
    assert follow_links(str(tmp_path / "dangling" / "x")) == f"{base}/nowhere/file/x"
    assert follow_links("/") == "/"
