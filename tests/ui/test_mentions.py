"""@path attaches a file inside the workspace that policy lets the agent read."""

from __future__ import annotations

from pathlib import Path

from moatcode.ui.mentions import Expanded, expand_mentions


def allow_all(path: str) -> str | None:
    return None


def test_a_mentioned_file_is_attached_after_the_prompt(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hi')\n")
    result = expand_mentions("Explain @src/app.py, please. Mail me@example.com", tmp_path,
                             allow_all)
    assert result == Expanded(
        "Explain @src/app.py, please. Mail me@example.com\n\nFiles the user attached:\n\n"
        '<file path="src/app.py">\nprint(\'hi\')\n</file>', ("src/app.py",), ())


def test_what_is_not_attached_and_why(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KEY=1\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01")
    (tmp_path.parent / "outside.txt").write_text("x")

    def may_read(path: str) -> str | None:
        return "it is a secret file." if path == ".env" else None

    result = expand_mentions("see @.env @blob.bin @../outside.txt @missing.py @docs/", tmp_path,
                             may_read)
    assert result == Expanded("see @.env @blob.bin @../outside.txt @missing.py @docs/", (), (
        "@.env was not attached: it is a secret file.",
        "@blob.bin was not attached: it is a binary file."))
