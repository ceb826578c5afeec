"""Secret-shaped test values, built at run time so no file holds a literal key."""

from __future__ import annotations

import random
import string

from moatcode.guard.scanner import Finding

ALNUM = string.ascii_letters + string.digits
BASE64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
UPPER_ALNUM = string.ascii_uppercase + string.digits


def body(n: int, alphabet: str = ALNUM, seed: str = "") -> str:
    """``n`` characters from ``alphabet``, the same for the same arguments."""
    rng = random.Random(f"{seed}|{n}|{alphabet}")
    # Guarantee the mix a generated key has (letters of both cases, a digit).
    while True:
        value = "".join(rng.choice(alphabet) for _ in range(n))
        if alphabet != ALNUM or (
            any(c.islower() for c in value)
            and any(c.isupper() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value


def at(text: str, value: str, kind: str, occurrence: int = 0) -> Finding:
    """The finding for the ``occurrence``-th appearance of ``value`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(value, start + 1)
    return Finding(kind, start, start + len(value))


def pem(label: str, lines: int = 6, seed: str = "pem") -> str:
    """A PEM block with a base64 body of ``lines`` full lines."""
    text = "\n".join(body(64, BASE64, f"{seed}{i}") for i in range(lines))
    return f"-----BEGIN {label}-----\n{text}\n-----END {label}-----"
