"""Example values, template references and trivial passwords."""

from __future__ import annotations

import pytest

from moatcode.guard.placeholders import is_placeholder, is_trivial_password
from tests.guard._fakes import ALNUM, body


@pytest.mark.parametrize(
    "value",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "my-dummy-token",
        "PLACEHOLDER",
        "changeme",
        "CHANGE_ME_PLEASE",
        "your_api_key",
        "ghp_xxxxxxxxxxxxxxxx",
        "sk-...",
        "****",
        "${DB_PASSWORD}",
        "$DB_PASSWORD",
        "%APPDATA%",
        "{{ vault_password }}",
        "{% secret %}",
        "%(password)s",
        "<your-key-here>",
        "Basic <username>:<password>",
        "<|im_end|>",
        "{token}",
        'os.environ["KEY"]',
        "process.env.KEY",
        "@Microsoft.KeyVault(SecretUri=https://v/secrets/x)",
        "aaaaaaaa",
        "abababab",
        "1234567890",
        "qwertyuiop",
        "[REDACTED:password:1]",
        "0xdeadbeef",
    ],
)
def test_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize(
    "value",
    [body(24, ALNUM, "real"), "Tr0ub4dor&3x", "Summer2024", "s3cr3t-Sauce-91"],
)
def test_real_values_are_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


@pytest.mark.parametrize(
    ("value", "trivial"),
    [
        ("password", True),
        ("Password1!", True),
        ("P@ssw0rd", True),
        ("admin123", True),
        ("postgres", True),
        ("a secret", True),
        ("12345678", True),
        ("!!!!", True),
        ("scott", True),
        ("Summer2024", False),
        ("hunter2", False),
        ("x7k2m9p4q1", False),
        ("Tr0ub4dor&3x", False),
    ],
)
def test_trivial_passwords(value: str, trivial: bool) -> None:
    assert is_trivial_password(value) is trivial
