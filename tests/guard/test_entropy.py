"""Entropy and the character-set tests behind "does this look generated?"."""

from __future__ import annotations

import pytest

from moatcode.guard.entropy import (
    char_classes,
    entropy_floor,
    is_code_name,
    is_hex,
    is_uuid,
    is_wordlike,
    looks_random,
    shannon_entropy,
)
from tests.guard._fakes import ALNUM, BASE64, HEX, body


@pytest.mark.parametrize(
    ("value", "bits"),
    [("", 0.0), ("aaaa", 0.0), ("aabb", 1.0), ("abcd", 2.0), ("0123456789abcdef", 4.0)],
)
def test_shannon_entropy(value: str, bits: float) -> None:
    assert shannon_entropy(value) == pytest.approx(bits)


@pytest.mark.parametrize(
    ("value", "classes"),
    [("", 0), ("abc", 1), ("aB", 2), ("aB3", 3), ("aB3!", 4), ("été", 1), ("--", 1)],
)
def test_char_classes(value: str, classes: int) -> None:
    assert char_classes(value) == classes


def test_entropy_floor_rises_to_three_bits() -> None:
    assert [round(entropy_floor(n), 2) for n in (2, 8, 10, 12, 13, 40)] == [
        0.3, 2.3, 2.62, 2.88, 3.0, 3.0,
    ]


def test_hex_and_uuid() -> None:
    assert is_hex("deadBEEF0123")
    assert not is_hex("0x12")
    assert is_uuid("550e8400-e29b-41d4-a716-446655440000")
    assert not is_uuid("550e8400e29b41d4a716446655440000")


@pytest.mark.parametrize(
    "value",
    [
        "access_token",
        "/run/secrets/db_password",
        "application/json",
        "prod-db-credentials-v2",
        "AuthorizationHeader",
        "[TOOL_CALLS]",
        "user@example.com",
        "1.2.3-beta",
        "",
    ],
)
def test_wordlike(value: str) -> None:
    assert is_wordlike(value)


@pytest.mark.parametrize(
    "value",
    [
        "hunter2hunter",
        "Summer2024!",
        "q8Zr3kLx",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
        "aBcDeFgHiJkLmNoPqRsTuV",
    ],
)
def test_not_wordlike(value: str) -> None:
    assert not is_wordlike(value)


@pytest.mark.parametrize(
    ("value", "random"),
    [
        (body(24, ALNUM, "r"), True),
        (body(40, BASE64, "r"), True),
        (body(32, HEX, "r"), True),
        ("Tr0ub4dor&3x", True),
        ("Summer2024", True),
        ("hunter2hunter2", False),
        ("aaaaaaaa1", False),
        ("12345678901234", False),
        ("not random", False),
        ("Ab1", False),
        ("snake_case_name", False),
    ],
)
def test_looks_random(value: str, random: bool) -> None:
    assert looks_random(value) is random


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Ed25519PrivateKey", True),
        ("PKCS7PrivateKeyTypes", True),
        ("my_private_key2", True),
        (body(24, ALNUM, "c"), False),
        ("Xk9mQ2vLp7zR", False),
        ("with-dash", False),
    ],
)
def test_is_code_name(value: str, code: bool) -> None:
    assert is_code_name(value) is code
