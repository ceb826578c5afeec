"""Files that are secrets as a whole, recognised by name.

Redaction masks secrets inside ordinary text; some files are nothing but
credentials (a private key, a ``.netrc``, a kubeconfig with its client key),
and reading them at all is the leak. ``is_secret_file`` names them so that
policy can deny reading them by default. It looks at the path only, never
the content, so it is cheap enough to ask for every path a tool touches.

The list, by final path component (compared in lower case):

    environment files   .env, .env.* and *.env, except templates: a name with
                        a part example, sample, template, dist or defaults
                        (.env.example, .env.local.sample, example.env)
    keys, keystores     *.pem *.key *.p8 *.p12 *.pfx *.jks *.keystore *.ppk
                        *.keytab *.kdbx (KeePass); SSH private keys
                        id_rsa*, id_dsa*, id_ecdsa*, id_ed25519* but not *.pub
    login files         .netrc _netrc .pgpass .my.cnf .git-credentials
                        .htpasswd .vault-token
    package registries  .npmrc .pypirc .yarnrc.yml .gem/credentials
                        .docker/config.json .dockercfg
    cloud credentials   credentials (the AWS and gem files), credentials.json,
                        application_default_credentials.json,
                        client_secret*.json, service-account*.json,
                        service_account*.json, *-sa-key.json
    cluster access      kubeconfig, *.kubeconfig, .kube/config
    secret stores       secrets.{yml,yaml,json,toml,env,ini}, *.tfstate and
                        *.tfstate.backup (Terraform state holds every
                        resource's secrets in clear)

Certificates (``*.crt``, ``*.cer``) and public keys (``*.pub``) are public by
design and not listed.
"""

from __future__ import annotations

from pathlib import PurePath, PurePosixPath

_EXACT_NAMES = frozenset(
    {
        ".netrc", "_netrc", ".pgpass", ".my.cnf", ".git-credentials", ".htpasswd",
        ".vault-token", ".npmrc", ".pypirc", ".yarnrc.yml", ".dockercfg", "credentials",
        "credentials.json", "application_default_credentials.json", "kubeconfig",
    }
)
# A dot-separated part of an environment file's name that makes it a template.
_TEMPLATE_PARTS = frozenset({"example", "sample", "template", "dist", "defaults"})
_SUFFIXES = (
    ".pem", ".key", ".p8", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".keytab", ".kdbx",
    ".kubeconfig", ".tfstate", ".tfstate.backup", "-sa-key.json",
)
_SSH_KEY_PREFIXES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
_JSON_PREFIXES = ("client_secret", "service-account", "service_account")
_SECRETS_EXTENSIONS = frozenset({".yml", ".yaml", ".json", ".toml", ".env", ".ini"})
# (parent directory, file name) pairs whose name alone says too little.
_IN_DIRECTORY = frozenset({(".kube", "config"), (".docker", "config.json")})


def is_secret_file(path: str | PurePath) -> bool:
    """Whether the file at ``path`` is, by its name, a credential as a whole."""
    pure = PurePosixPath(str(path).replace("\\", "/"))
    name = pure.name.lower()
    if not name:
        return False
    if (pure.parent.name.lower(), name) in _IN_DIRECTORY or name in _EXACT_NAMES:
        return True
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        return not _TEMPLATE_PARTS.intersection(name.split("."))
    if name.endswith(_SUFFIXES):
        return True
    if name.startswith(_SSH_KEY_PREFIXES):
        return not name.endswith(".pub")
    if name.endswith(".json") and name.startswith(_JSON_PREFIXES):
        return True
    stem, dot, extension = name.rpartition(".")
    return stem == "secrets" and bool(dot) and f".{extension}" in _SECRETS_EXTENSIONS
