"""The redaction contract: text goes in, text without secrets comes out."""

from __future__ import annotations

from typing import Protocol

from moatcode.types import Redaction


class Redactor(Protocol):
    def redact(self, text: str, location: str) -> tuple[str, tuple[Redaction, ...]]:
        """Replace each secret in ``text`` by a stable placeholder.

        ``location`` names where the text came from (a path, a tool-call id) and
        is copied into each ``Redaction``. The same secret gets the same
        placeholder for the life of the redactor.
        """
        ...


class NoRedaction:
    """For tests of other parts only; the CLI always builds a real redactor."""

    def redact(self, text: str, location: str) -> tuple[str, tuple[Redaction, ...]]:
        return text, ()
