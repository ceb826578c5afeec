"""Canonical JSON: the exact bytes an audit record's hash is computed over.

Version 1 is RFC 8785 (the JSON Canonicalization Scheme, JCS), so that a
verifier in any language with a JCS library reproduces the bytes:

- UTF-8, no insignificant whitespace, object keys sorted by their UTF-16 code
  units (the same as code-point order unless a key holds a character above
  U+FFFF);
- strings escape only ``"``, ``\\`` and the control characters below U+0020
  (``\\b \\t \\n \\f \\r`` in short form, the others as ``\\u00xx``);
- numbers as ECMAScript prints them: the shortest digits that read back as the
  same double, integral values without a fraction (``12.0`` is ``12``),
  exponents only below 1e-6 or from 1e21 (``1e-7``, ``1e+21``);
- ``NaN``, ``Infinity``, non-string keys and lone surrogates are refused.

One deliberate extension: integers beyond ±(2**53 - 1) are written exactly,
where JCS would round them to a double. Moat's events never hold such numbers;
the rule only keeps the function total over Python ints.

Python's ``json`` module already writes JCS for strings, integers, ``true``,
``false`` and ``null``, so the fast path hands the value to its C encoder and
only floats and non-ASCII keys take the slow, pure-Python path.
"""

from __future__ import annotations

import json
import math
from typing import Any

_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode
_encode_string = json.encoder.encode_basestring  # C, escapes only what JSON requires


class _NeedsSlowPath(Exception):
    """Raised inside the fast-path check: the value holds a float or a non-ASCII key."""


def canonical_json(value: Any) -> bytes:
    """The canonical (version 1) UTF-8 bytes of a JSON value.

    Raises ``ValueError`` for NaN or infinite numbers and for strings that are
    not valid Unicode, ``TypeError`` for anything that is not JSON data.
    """
    try:
        _check_fast(value)
        text = _dumps(value)
    except _NeedsSlowPath:
        text = _encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"canonical JSON needs valid Unicode: {exc.reason}") from exc


def canonical_text(value: Any) -> str:
    """``canonical_json`` as a ``str``, for storing in a text column."""
    return canonical_json(value).decode("utf-8")


def _check_fast(value: Any) -> None:
    """Raise ``_NeedsSlowPath`` unless ``json.dumps`` writes ``value`` exactly as JCS does."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
            if not key.isascii():
                raise _NeedsSlowPath
            if isinstance(item, dict | list | tuple | float):
                _check_fast(item)
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, dict | list | tuple | float):
                _check_fast(item)
    elif isinstance(value, float):
        raise _NeedsSlowPath


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return _encode_string(value)
    if value is None or isinstance(value, bool | int):
        return _dumps(value)
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
        keys = sorted(value, key=_utf16_order)
        return "{" + ",".join(_encode_string(k) + ":" + _encode(value[k]) for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _utf16_order(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as RFC 8785's code-unit order.
    return key.encode("utf-16-be", "surrogatepass")


def format_number(number: float) -> str:
    """A double as ECMAScript's ``Number.prototype.toString`` writes it (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(number):
        raise ValueError(f"canonical JSON has no form for {number!r}")
    if number == 0:
        return "0"  # -0 too
    sign = "-" if number < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript requires;
    # only the layout differs, so split repr into digits and a decimal exponent.
    mantissa, _, exp = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exp or 0)  # the value is 0.<digits> * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    e = point - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e >= 0 else '-'}{abs(e)}"
