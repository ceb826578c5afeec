"""The tolerant JSON reader: what models write, what was cut off, what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moatcode.models.toolcalls._json import JSONError, decode, decode_prefix

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON, st.booleans())
def test_reads_whatever_the_standard_library_writes(value: Any, ascii_only: bool) -> None:
    assert decode(json.dumps(value, ensure_ascii=ascii_only)) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("{'path': 'a.py'}", {"path": "a.py"}),
        ('{"a": [1, 2,], "b": 3,}', {"a": [1, 2], "b": 3}),
        ('{"t": True, "f": False, "n": None}', {"t": True, "f": False, "n": None}),
        ("{path: 'a.py', n: 3}", {"path": "a.py", "n": 3}),
        ('{"code": "line one\nline\ttwo"}', {"code": "line one\nline\ttwo"}),
        ('{"re": "\\d+\\.\\w"}', {"re": "\\d+\\.\\w"}),
        ("{'it': 'it\\'s \"x\"'}", {"it": 'it\'s "x"'}),
        ('"\\ud83d\\ude00 \\u00e9"', "😀 é"),
        ('"lone \\ud83d half"', "lone \ud83d half"),
        ("  [1.5e3, -0, 2E-2]  ", [1500.0, 0, 0.02]),
    ],
    ids=[
        "single-quotes",
        "trailing-commas",
        "python-literals",
        "bare-keys",
        "raw-control-characters",
        "unknown-escapes-kept",
        "escaped-single-quote",
        "surrogate-pair",
        "lone-surrogate",
        "numbers",
    ],
)
def test_reads_what_models_write(text: str, value: Any) -> None:
    assert decode(text) == value


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1',
        '{"a": "b',
        '{"a": [1, 2',
        "[tr",
        '{"a": 1',
        '{"a": -',
        '{"a": 1.',
        '{"a": 1e',
        '{"a": "\\u00',
        "{'a",
        "{a",
        "   ",
    ],
)
def test_text_that_ends_inside_a_value_is_truncated(text: str) -> None:
    with pytest.raises(JSONError) as caught:
        decode(text)

    assert caught.value.truncated


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": b}', "expected a value, found 'b' at line 1 column 7"),
        ('{\n  "a" 1}', "expected ':' after a key at line 2 column 7"),
        ("[1 2]", "expected ',' or ']' at line 1 column 4"),
        ('{"a": NaN}', "expected a value, found 'N' at line 1 column 7"),
        ('{"a": 1} tail', "unexpected text after the value at line 1 column 10"),
        ("[" * 300 + "]" * 300, "nested too deeply at line 1 column 201"),
    ],
)
def test_wrong_text_is_an_error_with_its_place(text: str, message: str) -> None:
    with pytest.raises(JSONError) as caught:
        decode(text)

    assert (str(caught.value), caught.value.truncated) == (message, False)


def test_a_prefix_read_stops_after_the_value() -> None:
    text = 'say {"a": [1]} and more'

    assert decode_prefix(text, 3) == ({"a": [1]}, 14)


def test_error_places_count_from_where_the_value_began() -> None:
    text = "line\n" * 3 + '{"a": ?}'

    with pytest.raises(JSONError) as caught:
        decode_prefix(text, 15)

    assert str(caught.value) == "expected a value, found '?' at line 1 column 7"
