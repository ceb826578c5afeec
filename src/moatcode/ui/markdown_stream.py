"""Cut streamed markdown into blocks that can be rendered once and never again.

A model's answer arrives a few characters at a time. Re-rendering the whole
answer on every delta costs quadratic time and cannot redraw what has scrolled
off the screen, so the console renders each block (paragraph, list, code
fence...) when a blank line outside a code fence closes it, and shows only the
unfinished tail as it grows.
"""

from __future__ import annotations


class MarkdownBlocks:
    def __init__(self) -> None:
        self._done_lines: list[str] = []  # complete lines of the open block
        self._partial = ""  # the line being written
        self._fence: str | None = None  # the marker of the open code fence

    @property
    def tail(self) -> str:
        """The open block as written so far."""
        return "".join(self._done_lines) + self._partial

    def feed(self, text: str) -> list[str]:
        """Add streamed text; returns the blocks it completed, in order."""
        blocks: list[str] = []
        self._partial += text
        while "\n" in self._partial:
            line, _, self._partial = self._partial.partition("\n")
            block = self._line(line + "\n")
            if block:
                blocks.append(block)
        return blocks

    def flush(self) -> str:
        """Everything not yet returned (the answer ended)."""
        rest = self.tail
        self._done_lines, self._partial, self._fence = [], "", None
        return rest.strip("\n")

    def _line(self, line: str) -> str:
        stripped = line.strip()
        if self._fence is not None:
            self._done_lines.append(line)
            if stripped.startswith(self._fence) and not stripped.strip(self._fence[0]):
                self._fence = None
            return ""
        if stripped.startswith(("```", "~~~")):
            marker = stripped[0] * (len(stripped) - len(stripped.lstrip(stripped[0])))
            self._fence = marker
            self._done_lines.append(line)
            return ""
        if not stripped:
            block = "".join(self._done_lines).strip("\n")
            self._done_lines = []
            return block
        self._done_lines.append(line)
        return ""
