"""Streamed markdown is cut into blocks at blank lines, never inside a code fence."""

from __future__ import annotations

from moatcode.ui.markdown_stream import MarkdownBlocks


def test_blocks_close_at_blank_lines_whatever_the_pieces() -> None:
    text = "Intro line\nstill intro.\n\n- a\n- b\n\nLast"
    for size in (1, 3, 7, len(text)):
        stream = MarkdownBlocks()
        blocks: list[str] = []
        for start in range(0, len(text), size):
            blocks += stream.feed(text[start:start + size])
        assert blocks == ["Intro line\nstill intro.", "- a\n- b"]
        assert stream.tail == "Last"
        assert stream.flush() == "Last"
        assert stream.tail == ""


def test_a_code_fence_with_blank_lines_is_one_block() -> None:
    stream = MarkdownBlocks()
    blocks = stream.feed("```python\ndef f():\n\n    return 1\n```\n\nafter\n\n")
    assert blocks == ["```python\ndef f():\n\n    return 1\n```", "after"]


def test_an_open_fence_stays_open_until_its_own_marker() -> None:
    stream = MarkdownBlocks()
    assert stream.feed("````\n```\n\ninside\n") == []
    assert stream.feed("````\n\n") == ["````\n```\n\ninside\n````"]
