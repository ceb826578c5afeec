"""SecretRedactor: stable placeholders, exact lines, speed on hostile input."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moatcode.guard.base import Redactor
from moatcode.guard.redact import SecretRedactor, contains_placeholder
from moatcode.guard.scanner import Finding
from moatcode.types import Redaction
from tests.guard._fakes import ALNUM, at, body, pem

GH1 = "ghp_" + body(36, ALNUM, "one")
GH2 = "ghp_" + body(36, ALNUM, "two")
PW1 = "Xk9-mQ2vLp7z"
PW2 = "h7Fq!w2Zr8Lm"
SRC = Path(__file__).resolve().parents[2] / "src"


def test_is_a_redactor() -> None:
    redactor: Redactor = SecretRedactor()
    assert redactor.redact("nothing here", "a.txt") == ("nothing here", ())


def test_placeholders_are_stable_per_value_and_numbered_per_kind() -> None:
    redactor = SecretRedactor()
    first = f"A={GH1}\nB={GH2}\npassword = {PW1}\n"
    second = f"password: {PW2}\nagain: {GH2}\nC={GH1}\n"
    assert redactor.redact(first, "one.env") == (
        "A=[REDACTED:github-token:1]\nB=[REDACTED:github-token:2]\n"
        "password = [REDACTED:password:1]\n",
        (
            Redaction("github-token", "[REDACTED:github-token:1]", "one.env", 1),
            Redaction("github-token", "[REDACTED:github-token:2]", "one.env", 2),
            Redaction("password", "[REDACTED:password:1]", "one.env", 3),
        ),
    )
    assert redactor.redact(second, "call_7") == (
        "password: [REDACTED:password:2]\nagain: [REDACTED:github-token:2]\n"
        "C=[REDACTED:github-token:1]\n",
        (
            Redaction("password", "[REDACTED:password:2]", "call_7", 1),
            Redaction("github-token", "[REDACTED:github-token:2]", "call_7", 2),
            Redaction("github-token", "[REDACTED:github-token:1]", "call_7", 3),
        ),
    )


def test_a_new_redactor_starts_numbering_again() -> None:
    text = f"A={GH2}"
    assert SecretRedactor().redact(text, "x")[0] == "A=[REDACTED:github-token:1]"
    assert SecretRedactor().redact(text, "x")[0] == "A=[REDACTED:github-token:1]"


def test_lines_are_those_where_each_secret_starts() -> None:
    block = pem("EC PRIVATE KEY")
    text = f"one\n{block}\nthree = 3\nTOKEN={GH1} and {GH2}\n"
    redacted, redactions = SecretRedactor().redact(text, "k.pem")
    assert redacted == (
        "one\n[REDACTED:private-key:1]\nthree = 3\n"
        "TOKEN=[REDACTED:github-token:1] and [REDACTED:github-token:2]\n"
    )
    assert [(r.kind, r.line) for r in redactions] == [
        ("private-key", 2),
        ("github-token", 11),
        ("github-token", 11),
    ]


def test_offsets_count_characters_not_bytes() -> None:
    text = f"# clé d'accès 🔑\ntoken = «{GH1}» ✓ password = '{PW1}'"
    assert SecretRedactor().find(text) == [
        at(text, GH1, "github-token"),
        at(text, PW1, "password"),
    ]
    assert SecretRedactor().redact(text, "x")[0] == (
        "# clé d'accès 🔑\ntoken = «[REDACTED:github-token:1]» ✓ "
        "password = '[REDACTED:password:1]'"
    )


def test_text_with_lone_surrogates_is_scanned() -> None:
    text = f"bad \udcff byte\nTOKEN={GH1}"
    assert SecretRedactor().find(text) == [at(text, GH1, "github-token")]


def test_redacting_twice_changes_nothing_more() -> None:
    redactor = SecretRedactor()
    once, _ = redactor.redact(f'password = "{PW1}"\nkey: {GH1}\n', "x")
    assert redactor.redact(once, "x") == (once, ())


def test_contains_placeholder() -> None:
    assert contains_placeholder('password = "[REDACTED:password:3]"')
    assert contains_placeholder("x[REDACTED:aws-secret-access-key:12]y")
    assert not contains_placeholder("[REDACTED]")
    assert not contains_placeholder("[REDACTED:password:]")
    assert not contains_placeholder("[redacted:password:1]")


def test_finds_nothing_in_moats_own_source() -> None:
    redactor = SecretRedactor()
    found = {
        str(path.relative_to(SRC)): redactor.find(path.read_text("utf-8"))
        for path in sorted(SRC.rglob("*"))
        if path.suffix in {".py", ".toml", ".md", ".json", ".txt"}
    }
    assert {path: findings for path, findings in found.items() if findings} == {}


# A catastrophic backtrack takes minutes on these; a linear scan, well under
# a second. The bound only tells the two apart.
HOSTILE = {
    "one letter": "a" * 1_000_000,
    "keywords": "key=" * 250_000,
    "open quotes": 'password = "' * 80_000,
    "key names": "password_" * 110_000,
    "url starts": "://a:" * 200_000,
    "pem headers": "-----BEGIN RSA PRIVATE KEY-----\n" * 31_000,
    "base64": body(1_000_000, ALNUM + "+/", "b64"),
    "jwt starts": "eyJ" * 333_000,
    "spaces before value": "token:" + " " * 1_000_000 + "x",
    "name value gap": '"name": "DB_PASSWORD",' + " " * 1_000_000,
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_one_megabyte_lines_scan_in_linear_time(name: str) -> None:
    started = time.process_time()
    SecretRedactor().find(HOSTILE[name])
    assert time.process_time() - started < 5.0


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_a_token_anywhere_is_found_and_never_leaks(before: str, after: str) -> None:
    text = f"{before} {GH1} {after}"
    redacted, redactions = SecretRedactor().redact(text, "x")
    assert GH1 not in redacted
    assert Redaction("github-token", "[REDACTED:github-token:1]", "x", before.count("\n") + 1) in (
        redactions
    )


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x2FF), max_size=400))
def test_findings_are_ordered_disjoint_spans_inside_the_text(text: str) -> None:
    findings = SecretRedactor().find(text)
    ends = [(f.start, f.end) for f in findings]
    assert all(0 <= s < e <= len(text) for s, e in ends)
    assert all(e1 <= s2 for (_, e1), (s2, _) in itertools.pairwise(ends))
    assert all(isinstance(f, Finding) for f in findings)
