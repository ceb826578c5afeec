"""Values that sit where a secret would but are not one.

Documentation, templates and tests are full of secret-shaped text that is
safe to show: the AWS documentation keys, ``<your-key-here>``, ``${TOKEN}``,
``{{ vault_password }}``, ``os.environ["KEY"]``, ``changeme``. Hiding those
would make the model's view of a config file worse for nothing, so every
detector asks ``is_placeholder`` before it reports a value.

Trivial passwords (``password``, ``admin123``, ``postgres``) are a decision,
not a certainty: they are what test fixtures and local databases use, every
password list starts with them, and hiding them would mostly hide test
fixtures. ``is_trivial_password`` names them; the detectors for passwords in
assignments and URLs leave them visible.
"""

from __future__ import annotations

import re

# Markers of documentation and template values, matched case-insensitively
# anywhere in the value. A random 40-character key holds one of the
# four-letter markers by chance about once in 25,000; the rest are rarer.
_MARKERS = re.compile(
    r"example|dummy|placeholder|changeme|change[_-]me|replace[_-]?me|your[_-]?(?:own|api|key|token"
    r"|secret|password|pass)|insert[_-]?(?:your|here)|redacted|not[_-]?a[_-]?(?:real|secret)"
    r"|xxxx|\*\*\*|\.\.\.|fake|sample|lorem|do[_-]?not[_-]?use|deadbeef|cafebabe",
    re.IGNORECASE,
)

# References to a value kept elsewhere: shell and template variables, the
# environment, secret stores. The value is the name, not the secret.
_REFERENCES = re.compile(
    r"""
      \$\{ | \$\( | \{\{ | \{% | %\( | <%           # ${VAR} $(cmd) {{ var }} {% %} %(name)s <%= %>
    | ^\$[A-Za-z_]                                  # $VAR
    | ^%[A-Za-z_][A-Za-z0-9_]*%$                    # %VAR% (Windows)
    | ^<[^<>]*>$ | <[\w\s.\-]*>                       # <your-key-here>, <username>, <|eos|>
    | ^\{[A-Za-z_][A-Za-z0-9_.]*\}$                 # {token} (format string)
    | os\.environ | os\.getenv | getenv\( | process\.env | ENV\[ | System\.getenv
    | @Microsoft\.KeyVault | secretsmanager: | ssm:/ | vault:
    """,
    re.VERBOSE,
)

# Keyboard and alphabet runs, whole or inside a longer value.
_RUNS = frozenset({"12345678", "123456789", "1234567890", "abcdefgh", "abcdefghij", "qwertyuiop"})
_LONG_RUNS = ("0123456789", "abcdefghijklmnop", "qwertyuiop", "asdfghjkl")

_TRIVIAL_WORDS = frozenset(
    {
        "password", "passwd", "pass", "pw", "pwd", "passphrase", "secret", "secrets", "token",
        "apikey", "key", "admin", "administrator", "root", "toor", "test", "testing", "tester",
        "user", "username", "login", "guest", "changeme", "default", "letmein", "qwerty",
        "welcome", "hello", "iloveyou", "monkey", "dragon", "master", "example", "sample",
        "dummy", "fake", "mock", "foo", "bar", "baz", "qux", "foobar", "postgres", "postgresql",
        "mysql", "mariadb", "redis", "mongo", "mongodb", "rabbit", "rabbitmq", "scott", "tiger",
        "demo", "local", "localhost", "dev", "development", "staging", "prod", "production",
        "abc", "abcd", "abcdef", "xyz"
    }
)
_TRAILER = re.compile(r"[\W\d_]+$")
_LETTERS = re.compile(r"[a-z]+")
_LEET = str.maketrans("013457@$", "oieastas")


def is_placeholder(value: str) -> bool:
    """Whether ``value`` is a documented example, template or reference."""
    if _MARKERS.search(value) or _REFERENCES.search(value):
        return True
    # One character repeated (aaaaaaaa, 00000000) or a keyboard run.
    if len(set(value)) <= 2:
        return True
    lowered = value.lower()
    return lowered in _RUNS or any(run in lowered for run in _LONG_RUNS)



def is_trivial_password(value: str) -> bool:
    """A password every guessing list starts with: common words, digits and marks.

    ``admin123``, ``P@ssw0rd!``, ``postgres`` and ``a secret`` are trivial,
    as is a value of only digits and punctuation; ``Summer2024`` is not.
    """
    # Trailing digits and marks first ("Password1!"), then leetspeak.
    core = _TRAILER.sub("", value.lower()).translate(_LEET)
    words = _LETTERS.findall(core)
    if not any(len(w) > 1 for w in words):
        return not words or not core
    return all(w in _TRIVIAL_WORDS or len(w) == 1 for w in words)
