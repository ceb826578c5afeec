from __future__ import annotations

from pathlib import Path

import pytest

from moatcode.sandbox.detect import check_bwrap, find_bwrap


def fake_bwrap(tmp_path: Path, stderr: str, code: int) -> str:
    """A stand-in executable that fails the way a broken bubblewrap does."""
    path = tmp_path / "bwrap"
    path.write_text(f"#!/bin/sh\necho '{stderr}' >&2\nexit {code}\n")
    path.chmod(0o755)
    return str(path)


def test_works_here(bwrap_reason: str | None) -> None:
    if find_bwrap() is None:
        pytest.skip("bubblewrap is not installed here (apt-get install bubblewrap)")
    assert bwrap_reason is None


def test_not_installed(tmp_path: Path) -> None:
    assert check_bwrap(search_path=str(tmp_path)) == (
        "bubblewrap is not installed; install the bubblewrap package (apt-get install "
        "bubblewrap), or ask your administrator to allow unsandboxed commands."
    )


def test_namespaces_forbidden(tmp_path: Path) -> None:
    bwrap = fake_bwrap(tmp_path, "bwrap: No permissions to create new namespace", 1)
    assert check_bwrap(bwrap) == (
        "bubblewrap cannot create a sandbox here (bwrap: No permissions to create new "
        "namespace); allow unprivileged user namespaces (sysctl "
        "kernel.unprivileged_userns_clone=1, or on Ubuntu 24.04 "
        "kernel.apparmor_restrict_unprivileged_userns=0), or ask your administrator to allow "
        "unsandboxed commands."
    )


def test_too_old(tmp_path: Path) -> None:
    bwrap = fake_bwrap(tmp_path, "bwrap: Unknown option --size", 1)
    assert check_bwrap(bwrap) == (
        f"bubblewrap at {bwrap} is too old (bwrap: Unknown option --size); install "
        "bubblewrap 0.6 or newer, or ask your administrator to allow unsandboxed commands."
    )


def test_found_on_the_given_path(tmp_path: Path) -> None:
    bwrap = fake_bwrap(tmp_path, "", 0)
    assert find_bwrap(str(tmp_path)) == bwrap
    assert check_bwrap(search_path=str(tmp_path)) is None
