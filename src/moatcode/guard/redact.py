"""``SecretRedactor``: every secret in a text becomes a stable placeholder.

Everything bound for a model request (file contents, command output, the
instructions file, the user's prompt) passes through ``redact`` first. Each
secret value is replaced by ``[REDACTED:<kind>:<n>]``, numbered per kind in
order of first sight; the same value keeps its placeholder for the life of
the redactor (one session), so the model can still tell that two files use
the same key. A value keeps the placeholder it got first even where a later
text shows it in a way that names another kind. Only the value is replaced,
never the key name around it.

The redactor remembers values only as keyed hashes (BLAKE2b with a random
per-redactor key): it does not hold on to the secrets it has seen.
"""

from __future__ import annotations

import hashlib
import os
import re

from moatcode.guard.assignments import AssignmentDetector
from moatcode.guard.scanner import Detector, Finding, Scanner
from moatcode.guard.secrets import RULES, AwsSecretNearKeyId, PrivateKeyBlock
from moatcode.types import Redaction

__all__ = ["Finding", "SecretRedactor", "contains_placeholder", "create_detectors"]

_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z0-9-]+:[0-9]+\]")


def contains_placeholder(text: str) -> bool:
    """Whether ``text`` holds a placeholder such as ``[REDACTED:password:1]``.

    Text the model writes back (an edit, a command) must not carry one: the
    placeholder would replace the real secret on disk.
    """
    return _PLACEHOLDER.search(text) is not None


def create_detectors() -> tuple[Detector, ...]:
    """The detectors a redactor runs: the rule table, key blocks, assignments."""
    return (*RULES, PrivateKeyBlock(), AwsSecretNearKeyId(), AssignmentDetector())


class SecretRedactor:
    """Finds secrets and replaces them by placeholders that stay stable per session."""

    def __init__(self) -> None:
        self._scanner = Scanner(create_detectors())
        self._hash_key = os.urandom(32)
        self._placeholders: dict[bytes, str] = {}
        self._counts: dict[str, int] = {}

    def find(self, text: str) -> list[Finding]:
        """The secrets in ``text``, in order, each as the span of its value."""
        return self._scanner.scan(text)

    def redact(self, text: str, location: str) -> tuple[str, tuple[Redaction, ...]]:
        findings = self._scanner.scan(text)
        if not findings:
            return text, ()
        pieces: list[str] = []
        redactions: list[Redaction] = []
        done = 0
        line = 1
        for finding in findings:
            line += text.count("\n", done, finding.start)
            placeholder = self._placeholder(finding.kind, text[finding.start : finding.end])
            pieces += (text[done : finding.start], placeholder)
            redactions.append(Redaction(finding.kind, placeholder, location, line))
            line += text.count("\n", finding.start, finding.end)
            done = finding.end
        pieces.append(text[done:])
        return "".join(pieces), tuple(redactions)

    def _placeholder(self, kind: str, value: str) -> str:
        digest = hashlib.blake2b(
            value.encode("utf-8", "surrogatepass"), key=self._hash_key, digest_size=16
        ).digest()
        placeholder = self._placeholders.get(digest)
        if placeholder is None:
            number = self._counts.get(kind, 0) + 1
            self._counts[kind] = number
            placeholder = f"[REDACTED:{kind}:{number}]"
            self._placeholders[digest] = placeholder
        return placeholder
