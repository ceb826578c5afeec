from __future__ import annotations

import os
from pathlib import Path

from moatcode.sandbox.toolchains import find_toolchains


def test_toolchains_under_hidden_directories(tmp_path: Path) -> None:
    home = tmp_path / "home"
    scratch = tmp_path / "scratch"
    pyenv_bin = home / ".pyenv" / "versions" / "3.11" / "bin"
    pyenv_bin.mkdir(parents=True)
    (pyenv_bin / "python3.11").write_text("")
    venv_bin = scratch / "checkout" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    os.symlink(pyenv_bin / "python3.11", venv_bin / "python")
    local_bin = home / ".local" / "bin"
    local_bin.mkdir(parents=True)
    (home / ".ssh").mkdir()
    found = find_toolchains([str(venv_bin), str(local_bin), "/usr/bin", "relative/bin", ""],
                            [home], scratch=[scratch])
    # The venv lives under the hidden scratch dir (like /tmp): its prefix, not the checkout;
    # its python links into ~/.pyenv: the whole toolchain; ~/.local: only the bin dir.
    assert found == (home / ".local" / "bin", home / ".pyenv", scratch / "checkout" / ".venv")


def test_nothing_hidden_nothing_shown(tmp_path: Path) -> None:
    assert find_toolchains(["/usr/bin", "/bin"], [tmp_path / "home"]) == ()
