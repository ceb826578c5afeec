"""The rule table: one entry per kind of secret that has a recognisable shape.

Each ``Rule`` names its anchors (see ``scanner``), the regular expression that
must match at the anchor, the group holding the secret, and an optional
validator: an entropy floor, a structure check (a JWT header must decode to
JSON with ``"alg"``), or required context (Twilio ids count only in text
that mentions Twilio). Two detectors need more than one match:
``PrivateKeyBlock`` (a PEM or OpenSSH block, replaced whole) and
``AwsSecretNearKeyId`` (a 40-character secret key right after an access key
id, as in a credentials CSV). Secrets with no shape of their own (passwords,
generic keys) are found by their key name, in ``assignments``.

The list follows what gitleaks, trufflehog and detect-secrets cover for the
services named in the design; the expressions are written here. Checksums
(GitHub and npm tokens carry a CRC32) are deliberately not used to *reject*
a match: a checksum we compute wrongly would let a real token through.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from moatcode.guard.entropy import char_classes, is_hex, shannon_entropy
from moatcode.guard.placeholders import is_placeholder, is_trivial_password
from moatcode.guard.scanner import Anchor, Hit, Source

_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

Validator = Callable[[str, Source], bool]


@dataclass(frozen=True)
class Rule:
    """A secret with a shape: anchors, a pattern matched at the anchor, checks.

    ``pattern`` is matched on the original bytes at the anchor's start minus
    ``offset``; ``group`` holds the secret. Unless ``boundary`` is false the
    match must not continue a word on its left. The secret must reach
    ``min_entropy`` bits per character, not be a placeholder, and pass
    ``validate``; of overlapping findings the higher ``priority`` wins
    (assignments found by key name have 1, private-key blocks 3).
    """

    kind: str
    anchors: tuple[Anchor, ...]
    pattern: re.Pattern[bytes]
    group: int | str = 0
    offset: int = 0
    boundary: bool = True
    min_entropy: float = 3.0
    validate: Validator | None = None
    priority: int = 2

    def find_at(self, source: Source, start: int, end: int) -> tuple[Hit, ...]:
        pos = start - self.offset
        if pos < 0 or (self.boundary and pos > 0 and source.data[pos - 1] in _ALNUM):
            return ()
        match = self.pattern.match(source.data, pos)
        if match is None:
            return ()
        value = match.group(self.group).decode("utf-8", "replace")
        if is_placeholder(value) or shannon_entropy(value) < self.min_entropy:
            return ()
        if self.validate is not None and not self.validate(value, source):
            return ()
        return (Hit(self.kind, *match.span(self.group), self.priority),)


def _mentions_twilio(value: str, source: Source) -> bool:
    return source.contains(b"twilio")


def _has_jwt_header(value: str, source: Source) -> bool:
    header = value.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


def _mixes_cases_and_digits(value: str, source: Source) -> bool:
    # Generated keys mix all three; "sk-" in prose ("sk-learn-...") does not.
    body = _OPENAI_PREFIX.sub("", value).replace("-", "").replace("_", "")
    return char_classes(body) >= 3


def _is_real_url_password(value: str, source: Source) -> bool:
    return not is_trivial_password(urllib.parse.unquote(value))


_OPENAI_PREFIX = re.compile(r"^sk-(?:(?:proj|svcacct|admin)-)?")
_AWS_KEY_ID = re.compile(rb"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_AWS_ANCHORS = (Anchor("[A]KIA"), Anchor("[A]SIA"), Anchor("[A]BIA"), Anchor("[A]CCA"))
_TOKEN = rb"[A-Za-z0-9_\-]"
_END = rb"(?![A-Za-z0-9_\-])"

RULES: tuple[Rule, ...] = (
    Rule("aws-access-key-id", _AWS_ANCHORS, _AWS_KEY_ID),
    Rule(
        "alibaba-access-key-id",
        (Anchor("LT[A]I"),),
        re.compile(rb"LTAI[A-Za-z0-9]{12,20}(?![A-Za-z0-9])"),
    ),
    Rule("gcp-api-key", (Anchor("[A]Iza"),), re.compile(rb"AIza" + _TOKEN + rb"{35}" + _END)),
    Rule(
        "twilio-account-sid",
        (Anchor("[A]C", rb"[0-9a-f]{32}"),),
        re.compile(rb"AC[0-9a-f]{32}(?![A-Za-z0-9])"),
        validate=_mentions_twilio,
    ),
    Rule(
        "twilio-api-key",
        (Anchor("s[k]", rb"[0-9a-f]{32}"),),
        re.compile(rb"SK[0-9a-f]{32}(?![A-Za-z0-9])"),
        validate=_mentions_twilio,
    ),
    Rule(
        "github-token",
        (Anchor("[g]h", rb"[pousr]_"), Anchor("[g]ithub_pat_")),
        re.compile(
            rb"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{80,251})(?![A-Za-z0-9_])"
        ),
        min_entropy=3.5,
    ),
    Rule(
        "gitlab-token",
        (
            Anchor("[g]l", rb"(?:pat|dt|rt|ptt|ft|soat|imt|agent|cbt|oas|ffct)-"),
            Anchor("[g]r1348941"),
        ),
        re.compile(
            rb"(?:gl(?:pat|dt|rt|ptt|ft|soat|imt|agent|cbt|oas|ffct)-|GR1348941)"
            + _TOKEN + rb"{20,}(?:\." + _TOKEN + rb"+)*" + _END
        ),
    ),
    Rule(
        "slack-token",
        (Anchor("[x]ox", rb"[baprse]-"), Anchor("[x]app-")),
        re.compile(
            rb"(?:xox[baprse]-[A-Za-z0-9\-]{10,250}|xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)"
            rb"(?![A-Za-z0-9\-])"
        ),
    ),
    Rule(
        "slack-webhook",
        (Anchor("hoo[k]s.slack.com/"),),
        re.compile(
            rb"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_\-/]{20,})"
        ),
        group="secret",
    ),
    Rule(
        "stripe-key",
        tuple(Anchor(f"{p}[k]_{mode}_") for p in "rs" for mode in ("live", "test")),
        re.compile(rb"[rs]k_(?:live|test)_[A-Za-z0-9]{20,247}(?![A-Za-z0-9])"),
    ),
    Rule(
        "stripe-webhook-secret",
        (Anchor("whse[c]_"),),
        re.compile(rb"whsec_[A-Za-z0-9+/=]{24,}(?![A-Za-z0-9+/=])"),
    ),
    Rule(
        "sendgrid-api-key",
        (Anchor("s[g]."),),
        re.compile(rb"SG\." + _TOKEN + rb"{22}\." + _TOKEN + rb"{43}" + _END),
    ),
    Rule("npm-token", (Anchor("n[p]m_"),), re.compile(rb"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])")),
    Rule(
        "pypi-token",
        (Anchor("[p]ypi-age"),),
        re.compile(rb"pypi-AgE" + _TOKEN + rb"{50,}" + _END),
    ),
    Rule(
        "vault-token",
        (Anchor("[h]v", rb"[sbr]\."),),
        re.compile(rb"hv[sbr]\." + _TOKEN + rb"{24,}" + _END),
    ),
    Rule(
        "anthropic-api-key",
        (Anchor("s[k]-ant-"),),
        re.compile(rb"sk-ant-(?:api|admin|oat|sid)\d{2}-" + _TOKEN + rb"{20,}" + _END),
    ),
    Rule(
        "openai-api-key",
        (Anchor("s[k]-"),),
        re.compile(rb"sk-(?!ant-)(?:(?:proj|svcacct|admin)-)?" + _TOKEN + rb"{20,}" + _END),
        min_entropy=3.5,
        validate=_mixes_cases_and_digits,
    ),
    Rule(
        "jwt",
        (Anchor("ey[J]"),),
        re.compile(rb"eyJ" + _TOKEN + rb"{8,}\.ey" + _TOKEN + rb"{4,}\." + _TOKEN + rb"*" + _END),
        validate=_has_jwt_header,
    ),
    Rule(
        "azure-client-secret",
        (Anchor("q[~]"),),
        re.compile(rb"[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}(?![A-Za-z0-9_~.\-])"),
        offset=4,
    ),
    Rule(
        "azure-sas-signature",
        (Anchor("si[g]="),),
        re.compile(rb"sig=(?P<secret>[A-Za-z0-9%+/=]{40,})"),
        group="secret",
    ),
    Rule(
        "url-password",
        (Anchor("[:]//", rb"[^\s:/?#@\"'<>\\]{0,128}+:"),),
        re.compile(
            rb"://[^\s:/?#@\"'<>\\]{0,128}:(?P<secret>[^\s/?#@\"'<>\\]{1,128})@(?=[A-Za-z0-9\[])"
        ),
        group="secret",
        boundary=False,
        min_entropy=0.0,
        validate=_is_real_url_password,
        # A token used as the password (https://oauth2:glpat-...@host) keeps its own kind.
        priority=1,
    ),
)


_PEM_HEADER = re.compile(rb"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----")
# Base64 lines (or armour headers such as Proc-Type) up to a line that is
# neither; for a block whose END line is missing, e.g. cut off by a read limit.
# Newlines may be real or JSON-escaped (a service-account file).
_PEM_BODY = re.compile(
    rb"(?:[ \t]*(?:[A-Za-z0-9+/=]{1,128}|[A-Za-z\-]{1,40}: [^\r\n\\]{0,200})?[ \t]*"
    rb"(?:\r?\n|\\r\\n|\\n))*(?:[A-Za-z0-9+/=]{1,128})?"
)
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{40}")
# A block longer than this without its END line is taken to be cut off.
_MAX_BLOCK = 64 * 1024


class PrivateKeyBlock:
    """PEM and OpenSSH private keys: the whole block from BEGIN to END."""

    anchors = (Anchor("-----be[g]in "),)

    def find_at(self, source: Source, start: int, end: int) -> tuple[Hit, ...]:
        data = source.data
        header = _PEM_HEADER.match(data, start)
        if header is None:
            return ()
        label = header.group(1)
        end_line = b"-----END " + label + b"-----"
        found = source.find_after(end_line, header.end())
        if 0 <= found <= header.end() + _MAX_BLOCK:
            body_end, block_end = found, found + len(end_line)
        else:
            body_match = _PEM_BODY.match(data, header.end())
            body_end = block_end = body_match.end() if body_match else header.end()
        # "-----BEGIN PRIVATE KEY-----\n...\n-----END ..." in a manual is no key.
        if _BASE64_RUN.search(data, header.end(), body_end) is None:
            return ()
        return (Hit(self._kind(data, start, label), start, block_end, 3),)

    @staticmethod
    def _kind(data: bytes, start: int, label: bytes) -> str:
        if b"OPENSSH" in label:
            return "ssh-private-key"
        if b"PGP" in label:
            return "pgp-private-key"
        if b'"private_key"' in data[max(0, start - 40) : start]:
            return "gcp-service-account-key"
        return "private-key"


_AWS_SECRET = re.compile(rb"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# How far after an access key id its secret key is looked for (a CSV row, the
# next line of a credentials file).
_AWS_PAIR_WINDOW = 200


class AwsSecretNearKeyId:
    """An AWS secret access key that follows its access key id closely.

    A bare 40-character base64 string is too common to flag alone (hashes,
    encoded data), but right after an ``AKIA...`` id it is the secret key.
    Secrets under a named key (``aws_secret_access_key = ...``) are found
    by the assignment detector wherever they are.
    """

    anchors = _AWS_ANCHORS

    def find_at(self, source: Source, start: int, end: int) -> tuple[Hit, ...]:
        if start > 0 and source.data[start - 1] in _ALNUM:
            return ()
        key_id = _AWS_KEY_ID.match(source.data, start)
        if key_id is None:
            return ()
        window_end = min(len(source.data), key_id.end() + _AWS_PAIR_WINDOW)
        for match in _AWS_SECRET.finditer(source.data, key_id.end(), window_end):
            value = match.group().decode("ascii")
            if is_hex(value) or is_placeholder(value) or char_classes(value) < 3:
                continue
            if shannon_entropy(value) >= 4.0:
                return (Hit("aws-secret-access-key", *match.span(), 2),)
        return ()
