"""Secrets known by their key name, in every notation they are written in."""

from __future__ import annotations

import json

import pytest

from moatcode.guard.assignments import classify_key, is_plausible_value
from moatcode.guard.redact import SecretRedactor
from moatcode.guard.scanner import Finding
from tests.guard._fakes import ALNUM, BASE64, HEX, at, body


def find(text: str) -> list[Finding]:
    return SecretRedactor().find(text)


S = body(24, ALNUM, "generic")  # a generated secret
P = "Tr0ub4dor&3x"  # a chosen password

# (text with {} for the value, the value, the kind)
NOTATIONS: list[tuple[str, str, str]] = [
    # dotenv and shell
    ("DB_PASSWORD={}\n", P, "password"),
    ('export API_TOKEN="{}"\n', S, "token"),
    ("API_KEY='{}' ./run.sh", S, "api-key"),
    ("mysql --password={} -u app", P, "password"),
    ('curl --token "{}" https://ci.internal', S, "token"),
    # YAML, TOML, INI, Java properties
    ("database:\n  password: {}\n  host: db\n", P, "password"),
    ('client_secret: "{}"\n', S, "secret"),
    ('[auth]\ntoken = "{}"\n', S, "token"),
    ("[db]\npasswd = {}\n", P, "password"),
    ("spring.datasource.password={}\n", P, "password"),
    ("app.secret-key: {}\n", S, "secret"),
    # JSON and notebooks (source lines are JSON strings with escaped quotes)
    ('{{"apiKey": "{}", "region": "eu"}}', S, "api-key"),
    ('  "source": [\n    "api_key = \\"{}\\"\\n",\n  ]', S, "api-key"),
    ('"    \\"password\\": \\"{}\\",\\n"', P, "password"),
    # source code
    ('PASSWORD = "{}"\n', P, "password"),
    ('    auth_token: str = "{}"\n', S, "token"),
    ("self.secret = b'{}'\n", S, "secret"),
    ('client = Client(api_key="{}")\n', S, "api-key"),
    ("const accessKey = `{}`;\n", S, "api-key"),
    ('{{ privateKey: "{}" }}', S, "api-key"),
    ('password := "{}"\n', P, "password"),
    ('private static final String DB_PASS = "{}";\n', P, "password"),
    ("'password' => '{}',\n", P, "password"),
    ('$password = "{}";\n', P, "password"),
    ('config["credentials"] = "{}"\n', S, "credential"),
    # Dockerfile
    ("ENV GITHUB_TOKEN={}\n", S, "github-token"),
    ('ENV DB_PASSWORD "{}"\n', P, "password"),
    ("ARG NPM_AUTH_TOKEN={}\n", S, "token"),
    # SQL and call arguments
    ("CREATE USER app WITH PASSWORD '{}';", P, "password"),
    ("define('DB_PASSWORD', '{}');", P, "password"),
    ('localStorage.setItem("authToken", "{}")', S, "token"),
    ('os.environ.setdefault("API_KEY", "{}")', S, "api-key"),
    # package manager and cluster files
    ("//registry.example.org/:_authToken={}\n", "550e8400-e29b-41d4-a716-446655440000", "token"),
    ('{{"auths": {{"reg": {{"auth": "{}"}}}}}}', "ZGVwbG95OlRyMHViNGRvciYzeA==", "credential"),
    ("    client-key-data: {}\n", body(200, BASE64, "kube"), "api-key"),
    # Terraform
    ('  password = "{}"\n', P, "password"),
    ('variable "db_password" {{\n  type    = string\n  default = "{}"\n}}\n', P, "password"),
    # XML
    ('<datasource user="app" password="{}"/>', P, "password"),
    ("<server><id>repo</id><password>{}</password></server>", P, "password"),
    ('<add key="ApiKey" value="{}" />', S, "api-key"),
    # name/value lists
    ("env:\n  - name: DB_PASSWORD\n    value: {}\n", P, "password"),
    ('[{{"name": "API_TOKEN", "value": "{}"}}]', S, "token"),
    # HTTP headers
    ("Authorization: Basic {}\r\n", "YXBwOlRyMHViNGRvciYzeA==", "credential"),
    ('headers = {{"Authorization": "Bearer {}"}}', S, "credential"),
    ("X-Api-Key: {}\n", S, "api-key"),
    # kinds named by the key
    ("AWS_SECRET_ACCESS_KEY={}\n", body(40, BASE64, "aws"), "aws-secret-access-key"),
    ("aws_secret_access_key = {}\n", body(40, BASE64, "aws2"), "aws-secret-access-key"),
    ("AZURE_CLIENT_SECRET={}\n", body(34, ALNUM, "az"), "azure-client-secret"),
    ("TWILIO_AUTH_TOKEN={}\n", body(32, HEX, "tw"), "twilio-auth-token"),
    ("VAULT_TOKEN={}\n", "s." + body(24, ALNUM, "vault"), "vault-token"),
    ("ALIBABA_CLOUD_ACCESS_KEY_SECRET={}\n", body(30, ALNUM, "ali"), "alibaba-access-key-secret"),
    (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={};EndpointSuffix=x",
        body(86, BASE64, "azst") + "==",
        "azure-storage-key",
    ),
    (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey={}",
        body(43, BASE64, "sb") + "=",
        "azure-shared-access-key",
    ),
]


@pytest.mark.parametrize(("template", "value", "kind"), NOTATIONS)
def test_finds_the_value_in_every_notation(template: str, value: str, kind: str) -> None:
    text = template.format(value)
    assert find(text) == [at(text, value, kind)]


def test_uuids_and_hashes_count_only_under_a_secret_name() -> None:
    # A decision: standalone they are ids and digests; assigned to a key
    # that names a secret they are that secret (many services issue UUID or
    # hex keys, and GitHub's old tokens were 40 hex digits).
    uuid = "550e8400-e29b-41d4-a716-446655440000"
    sha = "3f1e2d4c5b6a79880716253443526170819a0b1c"
    text = f"request_id: {uuid}\ncommit: {sha}\nHEROKU_API_KEY={uuid}\nGH_TOKEN={sha}\n"
    assert find(text) == [at(text, uuid, "api-key", 1), at(text, sha, "token", 1)]


def test_reports_the_value_only_so_the_structure_stays() -> None:
    text = f'[database]\nuser = "app"\npassword = "{P}"\nport = 5432\n'
    redacted, _ = SecretRedactor().redact(text, "config.toml")
    assert redacted == '[database]\nuser = "app"\npassword = "[REDACTED:password:1]"\nport = 5432\n'


def test_finds_a_secret_in_a_real_notebook_file() -> None:
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "source": ["import client\n", f'client.api_key = "{S}"\n', "client.run()"],
            }
        ],
        "nbformat": 4,
    }
    text = json.dumps(notebook, indent=1)
    assert find(text) == [at(text, S, "api-key")]


NOT_SECRETS = [
    # References, templates and placeholders.
    'api_key = os.environ["API_KEY"]',
    'password=os.getenv("DB_PASSWORD")',
    "token = process.env.GITHUB_TOKEN",
    "password: ${DB_PASSWORD}",
    "password: {{ vault_db_password }}",
    'password = "{{ .Values.password }}"',
    "api_key: <your-key-here>",
    'API_KEY = "your_api_key"',
    "SECRET_KEY=changeme",
    'password = "xxxxxxxxxxxx"',
    'token = "dummy-token-for-tests"',
    'AUTH_TOKEN = "placeholder"',
    "password: !vault |",
    'password = f"{prefix}{suffix}"',
    "secret: '%(secret)s'",
    "DB_PASSWORD=$POSTGRES_PASSWORD",
    # Trivial passwords are a decision: left visible.
    'password = "password"',
    'password = "hunter2"',
    "PASSWORD=admin123",
    'password = "P@ssw0rd!"',
    # Code, not values.
    "password = get_password()",
    "token = self._token",
    "api_key = settings.OPENAI_API_KEY",
    "def login(self, password: str, token: Token | None = None) -> None:",
    "private_key: Ed25519PrivateKey",
    "    private_key: ed25519.Ed25519PrivateKey, data: bytes",
    "secret = secrets.token_hex(32)",
    "if token == expected_token:",
    "for key, value in items:",
    "tokenizer = AutoTokenizer.from_pretrained(name)",
    'max_tokens = 4096\ntoken_type = "bearer"',
    'TOKEN = "[TOOL_CALLS]"',
    'EOS_TOKEN = "<|im_end|>"',
    'AUTH_HEADER = "Authorization"',
    'PASSWORD_FIELD = "password_confirmation"',
    'fields = ["password", "password_confirmation"]',
    'raise ValueError("invalid token " + repr(value))',
    'log.info("refreshing token %s", token_id)',
    'getattr(settings, "SECRET_KEY", None)',
    # Names that describe a secret rather than hold it.
    'token_url = "https://auth.internal/oauth/token"',
    "password_file = /run/secrets/db_password",
    "ssl_key = /etc/ssl/private/server-2024.key",
    'api_key_id = "' + body(20, ALNUM, "keyid") + '"',
    'public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI' + body(43, BASE64, "pub") + '"',
    "publishable_key = pk_live_" + body(24, ALNUM, "pk"),
    # A bare key name is not a secret name.
    'cache_key = "' + body(24, ALNUM, "cache") + '"',
    'key = "' + body(24, ALNUM, "plainkey") + '"',
    # Not secrets at all.
    'id = "550e8400-e29b-41d4-a716-446655440000"',
    "commit: 3f1e2d4c5b6a79880716253443526170819a0b1c",
    '"integrity": "sha512-' + body(86, BASE64, "npm") + '=="',
    "requests==2.32.3 --hash=sha256:" + body(64, HEX, "hash"),
    "image: registry/app@sha256:" + body(64, HEX, "digest"),
    '<img src="data:image/png;base64,' + body(400, BASE64, "png") + '">',
    "The password is stored in the vault; the token: rotate it monthly.",
]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_leaves_non_secrets_alone(text: str) -> None:
    assert find(text) == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("DB_PASSWORD", "password"),
        ("PGPASSWORD", "password"),
        ("dbPass", "password"),
        ("passphrase", "password"),
        ("client_secret", "secret"),
        ("secret_id", "secret"),
        ("apiKey", "api-key"),
        ("X-API-KEY", "api-key"),
        ("privateKey", "api-key"),
        ("GITHUB_TOKEN", "github-token"),
        ("csrftoken", "token"),
        ("Authorization", "credential"),
        ("credentials", "credential"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-access-key"),
        ("AccountKey", "azure-storage-key"),
        ("public_key", None),
        ("publishable_key", None),
        ("token_url", None),
        ("password_file", None),
        ("api_key_id", None),
        ("max_tokens", None),
        ("tokenizer", None),
        ("author", None),
        ("keyboard", None),
        ("key", None),
        ("cache_key", None),
        ("bypass", None),
    ],
)
def test_classify_key(name: str, kind: str | None) -> None:
    assert classify_key(name) == kind


@pytest.mark.parametrize(
    ("value", "kind", "plausible"),
    [
        (P, "password", True),
        ("Summer2024", "password", True),
        ("admin123", "password", False),
        ("short1", "password", False),
        (S, "token", True),
        (body(40, HEX, "hex"), "secret", True),
        ("access_token", "token", False),
        ("https://x:y@host", "secret", False),
        ("./secrets/token.txt", "token", False),
        ("${TOKEN}", "token", False),
    ],
)
def test_is_plausible_value(value: str, kind: str, plausible: bool) -> None:
    assert is_plausible_value(value, kind) is plausible
