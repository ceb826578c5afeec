"""Small text-scanning helpers shared by the family readers.

Each is bounded by the length of a tag, never by the rest of the text, so
that a message with thousands of look-alike tags still reads in linear time.
"""

from __future__ import annotations


def ends_inside(text: str, pos: int, *tags: str) -> bool:
    """Whether the text ends at ``pos`` or partway into one of ``tags``."""
    remaining = len(text) - pos
    return any(remaining < len(tag) and tag.startswith(text[pos:]) for tag in tags)


def skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos
