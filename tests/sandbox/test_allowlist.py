from __future__ import annotations

import pytest

from moatcode.errors import ConfigError
from moatcode.sandbox.allowlist import (
    HostRule,
    match_host,
    normalise_host,
    parse_allowlist,
    split_host_port,
)


def test_parse_entries() -> None:
    assert parse_allowlist(
        [
            "pypi.example.internal",
            "git.example.internal:443",
            "*.Corp.Internal.",
            "[::1]:8080",
            "10.1.2.3",
            "*.mirror.internal:8443",
        ]
    ) == (
        HostRule("pypi.example.internal", None),
        HostRule("git.example.internal", 443),
        HostRule("corp.internal", None, wildcard=True),
        HostRule("::1", 8080),
        HostRule("10.1.2.3", None),
        HostRule("mirror.internal", 8443, wildcard=True),
    )


@pytest.mark.parametrize(
    "entry", ["", "host:0", "host:70000", "host:http", "a b", "*.", "[::1", "ho$t", "*.[::1]"]
)
def test_bad_entry_is_a_config_error_naming_it(entry: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_allowlist([entry])
    assert str(caught.value) == (
        f"The sandbox network allowlist entry {entry!r} is not a host, host:port or *.domain; "
        "correct it in allowed_hosts."
    )


@pytest.mark.parametrize(
    ("host", "port", "rule"),
    [
        ("pypi.example.internal", 443, "pypi.example.internal"),
        ("PYPI.example.internal.", 80, "pypi.example.internal"),
        ("git.example.internal", 443, "git.example.internal:443"),
        ("git.example.internal", 22, None),
        ("a.corp.internal", 1, "*.corp.internal"),
        ("a.b.corp.internal", 1, "*.corp.internal"),
        ("corp.internal", 1, None),
        ("evilcorp.internal", 1, None),
        ("corp.internal.evil.test", 1, None),
        ("::1", 8080, "[::1]:8080"),
        ("[::1]", 8080, "[::1]:8080"),
        ("0:0::1", 8080, "[::1]:8080"),
        ("::1", 8081, None),
        ("2130706433", 80, None),  # 127.0.0.1 in decimal: only what is listed passes
        ("exa mple.internal", 80, None),
    ],
)
def test_match(host: str, port: int, rule: str | None) -> None:
    rules = parse_allowlist(
        ["pypi.example.internal", "git.example.internal:443", "*.corp.internal", "[::1]:8080"]
    )
    found = match_host(rules, host, port)
    assert (found.text if found else None) == rule


def test_empty_allowlist_allows_nothing() -> None:
    assert match_host((), "anything.internal", 443) is None


def test_normalise_and_split() -> None:
    assert [normalise_host(h) for h in ("A.B.", "127.0.0.1", "[::1]", "ü.de", "-a.b")] == [
        "a.b",
        "127.0.0.1",
        "::1",
        None,
        None,
    ]
    assert [split_host_port(t) for t in ("h", "h:1", "[::1]", "[::1]:2", "::1", "h:x")] == [
        ("h", None),
        ("h", 1),
        ("::1", None),
        ("::1", 2),
        ("::1", None),
        None,
    ]
