"""The rule table: each kind found where it is, and its look-alikes left alone."""

from __future__ import annotations

import base64
import json

import pytest

from moatcode.guard.redact import SecretRedactor
from moatcode.guard.scanner import Finding
from tests.guard._fakes import ALNUM, BASE64, HEX, UPPER_ALNUM, URLSAFE, at, body, pem


def find(text: str) -> list[Finding]:
    return SecretRedactor().find(text)


def jwt(header: dict[str, str], payload: dict[str, str]) -> str:
    def part(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}.{body(43, URLSAFE, 'sig')}"


AWS_ID = "AKIA" + body(16, UPPER_ALNUM, "aws")
AWS_SECRET = body(40, BASE64, "aws-secret")

# (kind, the secret, the text it sits in)
FOUND: list[tuple[str, str, str]] = [
    ("aws-access-key-id", AWS_ID, f"aws_access_key_id = {AWS_ID}\n"),
    ("aws-access-key-id", "ASIA" + body(16, UPPER_ALNUM, "sts"), 'key: "{}"'),
    ("alibaba-access-key-id", "LTAI" + body(20, ALNUM, "ali"), "AccessKeyId={}"),
    ("gcp-api-key", "AIza" + body(35, URLSAFE, "gcp"), "const key = '{}';"),
    ("github-token", "ghp_" + body(36, ALNUM, "ghp"), "GITHUB_TOKEN={}"),
    ("github-token", "gho_" + body(36, ALNUM, "gho"), "{}"),
    ("github-token", "ghu_" + body(36, ALNUM, "ghu"), "token {}"),
    ("github-token", "ghs_" + body(36, ALNUM, "ghs"), "x-access-token:{}@github"),
    ("github-token", "ghr_" + body(36, ALNUM, "ghr"), "refresh: {}"),
    (
        "github-token",
        "github_pat_" + body(22, ALNUM, "pat1") + "_" + body(59, ALNUM, "pat2"),
        "pat={}",
    ),
    ("gitlab-token", "glpat-" + body(20, URLSAFE, "glpat"), "PRIVATE-TOKEN: {}"),
    ("gitlab-token", "gldt-" + body(20, URLSAFE, "gldt"), "deploy {}"),
    ("gitlab-token", "glrt-" + body(20, URLSAFE, "glrt"), "runner: {}"),
    ("gitlab-token", "GR1348941" + body(20, URLSAFE, "gr"), "--registration-token {}"),
    ("slack-token", "xoxb-1234567890123-1234567890123-" + body(24, ALNUM, "xoxb"), "{}"),
    ("slack-token", "xoxp-" + body(40, ALNUM, "xoxp"), "SLACK={}"),
    (
        "slack-webhook",
        "T0" + body(8, UPPER_ALNUM, "t") + "/B0" + body(8, UPPER_ALNUM, "b") + "/"
        + body(24, ALNUM, "hook"),
        "url: https://hooks.slack.com/services/{}",
    ),
    ("stripe-key", "sk_live_" + body(24, ALNUM, "stripe"), "Stripe.api_key = '{}'"),
    ("stripe-key", "rk_live_" + body(24, ALNUM, "rk"), "{}"),
    ("stripe-key", "sk_test_" + body(24, ALNUM, "sktest"), "{}"),
    ("stripe-webhook-secret", "whsec_" + body(32, ALNUM, "whsec"), "{}"),
    (
        "sendgrid-api-key",
        "SG." + body(22, URLSAFE, "sg1") + "." + body(43, URLSAFE, "sg2"),
        "SENDGRID={}",
    ),
    ("npm-token", "npm_" + body(36, ALNUM, "npm"), "//registry/:_authToken={}"),
    ("pypi-token", "pypi-AgEIcHlwaS5vcmc" + body(60, URLSAFE, "pypi"), "password = {}"),
    ("vault-token", "hvs." + body(90, URLSAFE, "hvs"), "X-Vault-Token: {}"),
    ("vault-token", "hvb." + body(120, URLSAFE, "hvb"), "{}"),
    ("openai-api-key", "sk-proj-" + body(48, URLSAFE, "openai"), 'OPENAI_API_KEY="{}"'),
    ("openai-api-key", "sk-" + body(48, ALNUM, "legacy"), "{}"),
    (
        "anthropic-api-key",
        "sk-ant-api03-" + body(93, URLSAFE, "ant") + "AA",
        "ANTHROPIC_API_KEY={}",
    ),
    ("anthropic-api-key", "sk-ant-admin01-" + body(60, URLSAFE, "adm"), "key in log: {} (x)"),
    ("jwt", jwt({"alg": "HS256", "typ": "JWT"}, {"sub": "42"}), "Authorization: Bearer {}"),
    (
        "azure-client-secret",
        body(3, ALNUM, "az") + "8Q~" + body(34, ALNUM + "_~.-", "azure"),
        "clientSecret: {}",
    ),
    (
        "azure-sas-signature",
        body(43, ALNUM, "sas") + "%3D",
        "https://acct.blob.core.windows.net/c?sv=2022-11-02&sp=r&sig={}",
    ),
    ("url-password", "Xk9-mQ2vLp7", "DATABASE_URL=postgres://app:{}@db.internal:5432/app"),
    ("url-password", "t0p%40s3cret", "redis://:{}@cache:6379/0"),
    ("twilio-account-sid", "AC" + body(32, HEX, "ac"), "twilio.Client('{}', token)"),
    ("twilio-api-key", "SK" + body(32, HEX, "sk"), "TWILIO_API_KEY_SID = {}"),
]


@pytest.mark.parametrize(("kind", "secret", "template"), FOUND)
def test_finds_each_kind_of_secret_exactly(kind: str, secret: str, template: str) -> None:
    text = template.format(secret)
    assert find(text) == [at(text, secret, kind)]


@pytest.mark.parametrize(
    "label",
    [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ],
)
def test_finds_pem_private_keys_as_whole_blocks(label: str) -> None:
    block = pem(label)
    text = f"key:\n{block}\nnext: line\n"
    assert find(text) == [at(text, block, "private-key")]


def test_finds_openssh_and_pgp_private_keys() -> None:
    ssh = pem("OPENSSH PRIVATE KEY", seed="ssh")
    pgp = pem("PGP PRIVATE KEY BLOCK", seed="pgp")
    text = f"{ssh}\n\n{pgp}\n"
    assert find(text) == [at(text, ssh, "ssh-private-key"), at(text, pgp, "pgp-private-key")]


def test_finds_a_key_block_cut_off_before_its_end_line() -> None:
    block = pem("RSA PRIVATE KEY")
    cut = block[: block.index("-----END")]
    text = cut + "...\n(output truncated)"
    assert find(text) == [Finding("private-key", 0, len(cut))]


def test_finds_the_private_key_of_a_service_account_file() -> None:
    key = pem("PRIVATE KEY", seed="gcp").replace("\n", "\\n") + "\\n"
    text = json.dumps(
        {
            "type": "service_account",
            "private_key_id": body(40, HEX, "kid"),
            "private_key": "PLACE",
            "client_email": "svc@proj.iam.gserviceaccount.com",
        },
        indent=2,
    ).replace("PLACE", key)
    block = key[: key.rindex("-----") + 5]
    assert find(text) == [at(text, block, "gcp-service-account-key")]


def test_finds_an_aws_secret_key_next_to_its_key_id() -> None:
    text = (
        "User name,Password,Access key ID,Secret access key\n"
        f"deploy,,{AWS_ID},{AWS_SECRET}\n"
    )
    assert find(text) == [
        at(text, AWS_ID, "aws-access-key-id"),
        at(text, AWS_SECRET, "aws-secret-access-key"),
    ]


def test_a_token_used_as_a_url_password_keeps_its_kind() -> None:
    token = "glpat-" + body(20, URLSAFE, "glpat")
    text = f"origin  https://oauth2:{token}@gitlab.internal/group/app.git (fetch)"
    assert find(text) == [at(text, token, "gitlab-token")]


def test_twilio_ids_need_twilio_nearby() -> None:
    sid = "AC" + body(32, HEX, "ac")
    assert find(f"account = '{sid}'") == []
    text = f"# Twilio\naccount = '{sid}'"
    assert find(text) == [at(text, sid, "twilio-account-sid")]


NOT_SECRETS = [
    # Documented examples and placeholders.
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "sk_live_" + "x" * 24,
    "SLACK_TOKEN=xoxb-your-token-here-0000000000",
    "OPENAI_API_KEY=sk-...",
    "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...\n-----END RSA PRIVATE KEY-----",
    # Look-alikes of prefixes.
    "AKIA" + body(16, UPPER_ALNUM, "aws").lower(),
    "AKIA" + body(10, UPPER_ALNUM, "short"),
    "XAKIA" + body(16, UPPER_ALNUM, "aws"),
    "ghp_" + body(20, ALNUM, "short"),
    "glpat-short",
    "sk-learn-and-scikit-image-are-packages",
    "pip install disk-usage-report-generator",
    "mask_live_" + body(24, ALNUM, "mask"),
    "LTAI" + body(6, ALNUM, "ali"),
    "SG.abc.def",
    "npm_" + body(20, ALNUM, "npm"),
    "hvs.short",
    "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiI0MiJ9." + body(43, URLSAFE, "nojwt"),
    "sig=tooShort",
    "Q~ in prose: 1Q~ is not a secret",
    "SK" + body(32, HEX, "sk"),
    # Public material.
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + body(43, BASE64, "pub") + " me@laptop",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + body(300, BASE64, "rsapub") + " me@laptop",
    pem("PUBLIC KEY"),
    pem("CERTIFICATE"),
    pem("RSA PUBLIC KEY"),
    # URLs without a real password.
    "https://user@github.com/org/repo.git",
    "postgres://postgres:postgres@localhost:5432/app",
    "mysql://root:password@127.0.0.1/db",
    "postgresql://scott:tiger@localhost/test",
    "postgresql://{user}:{password}@{host}/db",
    "redis://:${REDIS_PASSWORD}@cache:6379",
    "http://[::1]:8080/path",
]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_leaves_look_alikes_alone(text: str) -> None:
    assert find(text) == []
