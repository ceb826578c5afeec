"""Shannon entropy and the character-set tests that tell a random string from a word.

A secret that has no recognisable prefix (a password, a generic API key) is
only told apart from ordinary text by how it looks: generated secrets mix
letters and digits and rarely repeat a character, while identifiers, paths and
words are made of dictionary pieces. These tests are deliberately cheap; they
run only on the few values that already sit next to a secret-looking key.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_HEX = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Punctuation that joins the parts of names, paths and markup; not the marks
# people put into passwords (! # $ % & * ?).
_SEPARATORS = re.compile(r"[\s/\\.,:;_\-+=@|~\[\](){}<>'\"`]+")
# A piece of an identifier or a path: a word, a word with a short version
# number ("v2", "utf8"), or a bare short number.
_WORDISH = re.compile(r"[A-Za-z]+\d{0,2}|\d{1,2}")
# Camel-case words: an optional capital and a run of lower-case letters.
_CAMEL_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value`` under its own character distribution."""
    if not value:
        return 0.0
    length = len(value)
    return -sum(n / length * math.log2(n / length) for n in Counter(value).values())


def char_classes(value: str) -> int:
    """How many of lower case, upper case, digits and other characters occur."""
    lower = upper = digit = other = 0
    for ch in value:
        if ch.islower():
            lower = 1
        elif ch.isupper():
            upper = 1
        elif ch.isdigit():
            digit = 1
        else:
            other = 1
    return lower + upper + digit + other


def is_hex(value: str) -> bool:
    return _HEX.fullmatch(value) is not None


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def entropy_floor(length: int) -> float:
    """The least entropy a generated secret of ``length`` characters shows.

    A string cannot have more than log2(length) bits per character, so short
    values get a floor below that ceiling; from 13 characters on it is 3.0
    bits, which dictionary words and repeated patterns stay under.
    """
    return min(3.0, math.log2(max(length, 2)) - 0.7)


def is_wordlike(value: str) -> bool:
    """True for identifiers, paths and prose: strings made of word pieces.

    ``access_token``, ``/run/secrets/db``, ``application/json``,
    ``prod-db-credentials-v2`` and ``AuthorizationHeader`` are word-like;
    ``hunter2hunter``, ``Summer2024!`` and ``q8Zr3kLx`` are not.
    """
    pieces = [p for p in _SEPARATORS.split(value) if p]
    if not pieces:
        return True
    if len(pieces) > 1:
        return all(_WORDISH.fullmatch(p) for p in pieces)
    piece = pieces[0]
    if not piece.isalpha():
        return False
    # One run of letters: a word or camel-case words, unless it looks like
    # random letters (both cases well mixed, long, no repeated structure).
    upper = sum(ch.isupper() for ch in piece)
    mixed = 0.25 <= upper / len(piece) <= 0.75
    if len(piece) >= 20 and mixed and shannon_entropy(piece) >= 3.8:
        words = _CAMEL_WORD.findall(piece)
        # Camel case averages several letters per word; random case flips
        # leave mostly one- and two-letter "words".
        return len(piece) / max(len(words), 1) >= 3.0
    return True


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words in a name: Capitalised (PrivateKey), or lower case at the start or
# after an underscore (private_key).
_NAME_WORD = re.compile(r"[A-Z][a-z]{2,}|(?:^|(?<=_))[a-z]{3,}")


def is_code_name(value: str) -> bool:
    """An identifier built from words, as code names things: ``Ed25519PrivateKey``.

    Most of its letters belong to words of three or more letters; random
    alphanumerics (``aB3dE5fG7hJ9kL1m``) rarely form such words.
    """
    if _IDENTIFIER.fullmatch(value) is None:
        return False
    letters = sum(ch.isalpha() for ch in value)
    return sum(len(w) for w in _NAME_WORD.findall(value)) >= 0.6 * letters


def looks_random(value: str, *, min_length: int = 8) -> bool:
    """Whether ``value`` has the shape of a generated or chosen secret.

    It must be at least ``min_length`` characters with no whitespace, not
    only digits, not word-like, and reach the entropy floor for its length.
    """
    if len(value) < min_length or any(ch.isspace() for ch in value):
        return False
    if value.isdigit() or is_wordlike(value):
        return False
    return shannon_entropy(value) >= entropy_floor(len(value))
