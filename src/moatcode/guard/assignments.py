"""Secrets known by their name: ``password = ...``, ``API_TOKEN: ...`` and kin.

A password or a generic API key has no shape of its own; what gives it away
is the key it is assigned to. ``AssignmentDetector`` wakes at the keywords
``pass``, ``pwd``, ``secret``, ``token``, ``key``, ``auth`` and ``cred``
when an assignment may follow, reads the whole key name around the keyword,
and then the value, in every common notation:

    dotenv, shell     DB_PASSWORD=s3cr3t  export API_TOKEN="..."
    YAML, TOML, INI   password: ...   password = "..."   db.password=...
    JSON, notebooks   "api_key": "..."   \\"api_key\\": \\"...\\" (escaped source lines)
    source code       apiKey: '...'  api_key := "..."  TOKEN: str = "..."  'pw' => '...'
    Dockerfile, CLI   ENV TOKEN=...  ENV TOKEN "..."  --password=...  --token "..."
    SQL, call args    WITH PASSWORD '...'  define('DB_PASSWORD', '...')  set("token", "...")
    Terraform         password = "..."  variable "db_password" { default = "..." }
    XML               password="..."  <password>...</password>  key="DbPassword" value="..."
    name/value lists  - name: DB_PASSWORD / value: ...  {"name": "API_KEY", "value": "..."}
    HTTP headers      Authorization: Bearer ...

Only the value is reported, and only if it looks like a secret (see
``entropy.looks_random``): not a placeholder or reference, not a path or
URL, not word-like. Trivial passwords (``placeholders.is_trivial_password``)
stay visible. A bare ``key`` is not a secret name (dictionary keys, cache
keys); ``api_key``, ``access_key``, ``private_key`` and the like are.
"""

from __future__ import annotations

import functools
import re

from moatcode.guard.entropy import is_code_name, looks_random
from moatcode.guard.placeholders import is_placeholder, is_trivial_password
from moatcode.guard.scanner import Anchor, Hit, Source

# After a keyword: the rest of the identifier, then something that can start
# an assignment. Checked during the scan (on lower-cased text), so that
# ``tokenize(``, ``self.key`` or ``keys()`` never reach Python code.
_KEY_TAIL = (
    rb"[a-z0-9_.\-]{0,48}+(?:\\?[\"'`]\]?|\])?[ \t]*"
    rb"(?:[:=>{\"'`]|\\[\"']|,[ \t]*\\?[\"']|,?\s{0,80}?\\?[\"']?value)"
)
_IDENT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
_IDENT_REST = re.compile(rb"[A-Za-z0-9_.\-]{0,48}")
_MAX_KEY = 64

# How a value is attached to its key, tried in order at the end of the key.
_ANNOTATED_OR_PLAIN = re.compile(
    rb"""(?:\\?["'`])?\]?[ \t]*
    (?: :[ \t]*[A-Za-z_][\w.\[\], |]{0,40}?[ \t]+=(?!=)   # TOKEN: str = ...
      | :=|=>|==|=|:(?!:)|->                              # = : := => ...
    )[ \t]*""",
    re.VERBOSE,
)
_NAME_THEN_VALUE = re.compile(
    rb"""(?:\\?["'])?[ \t]*,?\s{0,80}?(?:-[ \t]+)?(?:\\?["'])?value(?:\\?["'])?[ \t]*[:=][ \t]*"""
)
_BLOCK_DEFAULT = re.compile(rb"""(?:\\?["'])?[ \t]*\{[^}]{0,400}?\bdefault[ \t]*=[ \t]*""")
# define('DB_PASSWORD', '...'), setItem("token", "..."): a quoted pair.
_QUOTED_PAIR = re.compile(rb"\\?[\"'][ \t]*,[ \t]*(?=\\?[\"'])")
# --token "...", ENV TOKEN "...", WITH PASSWORD '...': a space, then a quote.
_SPACE_THEN_QUOTE = re.compile(rb"(?:\\?[\"'])?[ \t]+(?=\\?[\"'`])")
_OPERATORS = (
    _ANNOTATED_OR_PLAIN,
    _NAME_THEN_VALUE,
    _QUOTED_PAIR,
    _BLOCK_DEFAULT,
    _SPACE_THEN_QUOTE,
)

_VALUE = re.compile(
    rb"""(?:[rbuRBU]{1,2}(?=["']))?                # Python string prefixes, not f-strings
    (?:
        (?P<q>\\?["'`])(?:(?i:bearer|basic|token)[ \t]+)?
        (?P<quoted>[^"'`\\\r\n]{1,512}+)(?P=q)
      | (?:(?i:bearer|basic|token)[ \t]+)?
        (?P<bare>[^\s"'`,;<>(){}\[\]\\]{1,512}+)(?![(\[,)])   # not a call or an argument
    )""",
    re.VERBOSE,
)
# An unquoted ``settings.API_KEY`` or ``self._token`` is code, not a value.
_CODE_REFERENCE = re.compile(rb"[A-Za-z_]{2,}(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_XML_TEXT = re.compile(rb"[^<\r\n]{1,512}+(?=</)")
_PATHLIKE = re.compile(r"^(?:\.{0,2}/|~/|[A-Za-z]:\\)|\.(?:pem|key|json|ya?ml|txt|crt|env|p12)$")

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_PASSWORD_NAME = re.compile(r"password|passwd|passphrase|passcode")
_PASSWORD_WORDS = frozenset({"pass", "pwd", "pw", "pword"})
_API_KEY_NAME = re.compile(
    r"(?:api|access|secret|private|signing|sign|encryption|encrypt|master|account|client|app"
    r"|application|auth|license|subscription|admin|hmac|webhook|consumer|service)key"
)
_TOKEN_NAME = re.compile(r"token(?!iz|is|s)")
_CREDENTIAL_WORDS = frozenset(
    {"cred", "creds", "credential", "credentials", "auth", "authorization"}
)
_PUBLIC_WORDS = frozenset({"public", "publishable", "pub"})
# A last word that makes the name describe the secret rather than hold it.
_METADATA_WORDS = frozenset(
    {
        "id", "ids", "name", "names", "type", "types", "kind", "url", "uri", "urls", "endpoint",
        "path", "paths", "file", "files", "filename", "dir", "directory", "length", "len",
        "size", "count", "max", "min", "format", "field", "fields", "prefix", "suffix", "label",
        "desc", "description", "help", "hint", "version", "mode", "method", "algorithm", "alg",
        "scheme", "location", "ref", "arn", "region", "expiry", "expires", "expiration", "ttl",
        "timeout", "regex", "pattern", "template", "param", "parameter", "class", "cls",
        "policy", "rotation", "spec", "schema", "index", "column", "enabled", "required", "set",
        "valid", "validator", "manager", "provider", "handler", "factory", "callback", "source",
        "env", "var", "variable", "prompt", "at", "date", "time", "timestamp", "encoding",
        "strength", "changed", "updated", "reset"
    }
)
# (all of these in the normalised name, the base kinds it applies to, the kind)
_REFINEMENTS: tuple[tuple[tuple[str, ...], frozenset[str], str], ...] = (
    (("aws", "secret"), frozenset({"secret", "api-key"}), "aws-secret-access-key"),
    (("secretaccesskey",), frozenset({"secret"}), "aws-secret-access-key"),
    (("sharedaccesskey",), frozenset({"api-key"}), "azure-shared-access-key"),
    (("accountkey",), frozenset({"api-key"}), "azure-storage-key"),
    (("azure",), frozenset({"secret"}), "azure-client-secret"),
    (("twilio",), frozenset({"secret", "token"}), "twilio-auth-token"),
    (("vault",), frozenset({"token"}), "vault-token"),
    (("alibaba",), frozenset({"secret"}), "alibaba-access-key-secret"),
    (("aliyun",), frozenset({"secret"}), "alibaba-access-key-secret"),
    (("github",), frozenset({"token"}), "github-token"),
    (("gitlab",), frozenset({"token"}), "gitlab-token"),
    (("slack",), frozenset({"token"}), "slack-token"),
    (("openai",), frozenset({"api-key"}), "openai-api-key"),
    (("anthropic",), frozenset({"api-key"}), "anthropic-api-key"),
)


def classify_key(name: str) -> str | None:
    """The kind of secret a key named ``name`` holds, or None if it holds none.

    ``DB_PASSWORD`` holds a ``password``, ``apiKey`` an ``api-key``,
    ``AWS_SECRET_ACCESS_KEY`` an ``aws-secret-access-key``; ``public_key``,
    ``token_url``, ``max_tokens`` and ``tokenizer`` hold none.
    """
    words = [w.lower() for w in _WORD.findall(name)]
    if not words:
        return None
    norm = "".join(words)
    if words[-1] in _METADATA_WORDS and not (words[-1] == "id" and "secret" in norm):
        return None
    if _PUBLIC_WORDS.intersection(words):
        return None
    if _PASSWORD_NAME.search(norm) or _PASSWORD_WORDS.intersection(words):
        base = "password"
    elif "secret" in norm:
        base = "secret"
    elif _API_KEY_NAME.search(norm):
        base = "api-key"
    elif _TOKEN_NAME.search(norm):
        base = "token"
    elif _CREDENTIAL_WORDS.intersection(words):
        base = "credential"
    else:
        return None
    for needles, bases, kind in _REFINEMENTS:
        if base in bases and all(n in norm for n in needles):
            return kind
    return base


def is_plausible_value(value: str, kind: str) -> bool:
    """Whether ``value``, assigned to a key of ``kind``, looks like a real secret."""
    min_length = 8 if kind == "password" else 10
    # Cheap tests first: most candidates are prose or code and fail here.
    if len(value) < min_length or " " in value or "\t" in value:
        return False
    if is_placeholder(value) or "://" in value or _PATHLIKE.search(value):
        return False
    if kind == "password" and is_trivial_password(value):
        return False
    return looks_random(value, min_length=min_length)


class AssignmentDetector:
    """Values assigned to keys whose name says they hold a secret."""

    anchors = (
        *(
            Anchor(text, _KEY_TAIL)
            for text in ("[p]ass", "[p]wd", "se[c]ret", "to[k]en", "aut[h]", "[c]red")
        ),
        # "key" names a secret only after another word (api_key, accessKey);
        # a name that starts with it is woken by its other words, if any.
        Anchor("[k]ey", _KEY_TAIL, lead=rb"[a-z0-9_.\-]"),
    )

    def find_at(self, source: Source, start: int, end: int) -> tuple[Hit, ...]:
        data = source.data
        rest = _IDENT_REST.match(data, end)
        key_end = rest.end() if rest else end
        before = data[max(0, start - _MAX_KEY) : start]
        key_start = start - len(before) + len(before.rstrip(_IDENT))
        kind = _classify(data[key_start:key_end])
        # Several keywords can sit in one name (AWS_SECRET_ACCESS_KEY).
        if kind is None or not source.first_time(("assignment", key_end)):
            return ()
        span = _value_span(data, key_start, key_end)
        if span is None:
            return ()
        value = data[span[0] : span[1]].decode("utf-8", "replace")
        if not is_plausible_value(value, kind):
            return ()
        return (Hit(kind, span[0], span[1], 1),)


@functools.lru_cache(maxsize=4096)
def _classify(name: bytes) -> str | None:
    # Code repeats its key names; most anchors end here, in the cache.
    return classify_key(name.decode("ascii"))


def _value_span(data: bytes, key_start: int, key_end: int) -> tuple[int, int] | None:
    """Where the value assigned to the key ``data[key_start:key_end]`` is, if any."""
    if data[key_start - 1 : key_start] == b"<" and data[key_end : key_end + 1] == b">":
        text = _XML_TEXT.match(data, key_end + 1)
        return text.span() if text else None
    for operator in _OPERATORS:
        attached = operator.match(data, key_end)
        if attached is None:
            continue
        value = _VALUE.match(data, attached.end())
        if value is not None:
            if value.group("quoted") is not None:
                return value.span("quoted")
            bare = value.group("bare")
            if not (_CODE_REFERENCE.fullmatch(bare) or is_code_name(bare.decode("latin-1"))):
                return value.span("bare")
    return None

