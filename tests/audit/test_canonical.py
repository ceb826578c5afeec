from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moatcode.audit.canonical import canonical_json, format_number


def test_keys_sorted_no_whitespace_utf8() -> None:
    value = {"b": [1, True, None], "a": {"z": "é", "y": "x"}, "c": False}
    assert canonical_json(value) == '{"a":{"y":"x","z":"é"},"b":[1,true,null],"c":false}'.encode()


def test_strings_escape_only_what_json_requires() -> None:
    text = 'quote " backslash \\ nl \n tab \t bs \b ff \f cr \r nul \x00 us \x1f del \x7f'
    expected = (
        '"quote \\" backslash \\\\ nl \\n tab \\t bs \\b ff \\f cr \\r nul \\u0000 '
        'us \\u001f del \x7f"'
    )
    assert canonical_json(text) == expected.encode()
    assert canonical_json("€ 😀 \u2028") == '"€ 😀 \u2028"'.encode()


def test_rfc8785_number_examples() -> None:
    # The number line of RFC 8785 section 3.2.2's example.
    value = [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001]
    assert canonical_json(value) == b"[333333333.3333333,1e+30,4.5,0.002,1e-27]"


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        # From the ECMAScript number tests RFC 8785 Appendix B lists.
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("8000000000000001", "-5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("ffefffffffffffff", "-1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("c340000000000000", "-9007199254740992"),
        ("4430000000000000", "295147905179352830000"),
        ("44b52d02c7e14af5", "9.999999999999997e+22"),
        ("44b52d02c7e14af6", "1e+23"),
        ("44b52d02c7e14af7", "1.0000000000000001e+23"),
        ("444b1ae4d6e2ef4e", "999999999999999700000"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("41b3de4355555553", "333333333.3333332"),
        ("41b3de4355555554", "333333333.33333325"),
        ("41b3de4355555555", "333333333.3333333"),
        ("41b3de4355555556", "333333333.3333334"),
        ("41b3de4355555557", "333333333.33333343"),
        ("becbf647612f3696", "-0.0000033333333333333333"),
        ("43143ff3c1cb0959", "1424953923781206.2"),
    ],
)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    (number,) = struct.unpack(">d", bytes.fromhex(bits))
    assert format_number(number) == expected
    assert canonical_json(number) == expected.encode()


def test_integral_floats_are_written_as_integers() -> None:
    assert canonical_json({"latency_ms": 12.0, "n": 3}) == b'{"latency_ms":12,"n":3}'


def test_big_integers_are_exact() -> None:
    assert canonical_json(2**64 + 1) == b"18446744073709551617"


def test_keys_sort_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3's sorting example.
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    value = {k: i for i, k in enumerate(keys)}
    order = [k for k in json.loads(canonical_json(value))]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_non_finite_numbers_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        canonical_json(bad)


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(ValueError, match="valid Unicode"):
        canonical_json({"text": "a\ud800b"})


@pytest.mark.parametrize("bad", [{1: "x"}, {"x": object()}, {"x": {1.5: 1}}, b"bytes"])
def test_non_json_data_is_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        canonical_json(bad)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_form_survives_a_json_round_trip(value: object) -> None:
    once = canonical_json(value)
    assert canonical_json(json.loads(once)) == once


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_read_back_as_the_same_double(number: float) -> None:
    assert float(format_number(number)) == number

