"""The symbols the terminal UI draws, with plain ASCII for terminals that cannot show more."""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True)
class Glyphs:
    ok: str
    failed: str
    denied: str
    note: str
    pending: str
    active: str
    done: str
    more: str
    gutter: str


UNICODE = Glyphs(ok="✓", failed="✗", denied="⊘", note="•", pending="☐", active="◐",
                 done="☑", more="…", gutter="│")
ASCII = Glyphs(ok="+", failed="x", denied="-", note="*", pending="[ ]", active="[~]",
               done="[x]", more="...", gutter="|")


def glyphs_for(encoding: str | None) -> Glyphs:
    """Unicode symbols when the output encoding is UTF-8, else ASCII (a broken locale)."""
    try:
        name = codecs.lookup(encoding or "ascii").name
    except LookupError:
        return ASCII
    return UNICODE if name.startswith("utf") else ASCII
