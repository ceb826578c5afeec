"""Files that are credentials as a whole, known by their names."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

import pytest

from moatcode.guard.secret_files import is_secret_file


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "app/.env",
        ".env.local",
        ".env.production",
        "prod.env",
        "certs/server.pem",
        "config/master.key",
        "AuthKey_ABC123.p8",
        "client.p12",
        "cert.PFX",
        "release.keystore",
        "app.jks",
        "putty.ppk",
        "passwords.kdbx",
        "service.keytab",
        "/home/me/.ssh/id_rsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_dsa.old",
        "/home/me/.netrc",
        "_netrc",
        ".pgpass",
        ".my.cnf",
        ".git-credentials",
        ".htpasswd",
        ".vault-token",
        ".npmrc",
        ".pypirc",
        ".yarnrc.yml",
        "/home/me/.aws/credentials",
        "/home/me/.gem/credentials",
        "credentials.json",
        "application_default_credentials.json",
        "client_secret_1234.apps.googleusercontent.com.json",
        "service-account.json",
        "service_account_prod.json",
        "deployer-sa-key.json",
        "/home/me/.kube/config",
        "kubeconfig",
        "prod.kubeconfig",
        "/home/me/.docker/config.json",
        ".dockercfg",
        "secrets.yaml",
        "config/secrets.json",
        "terraform.tfstate",
        "terraform.tfstate.backup",
    ],
)
def test_secret_files(path: str) -> None:
    assert is_secret_file(path)
    assert is_secret_file(PurePosixPath(path))


@pytest.mark.parametrize(
    "path",
    [
        ".env.example",
        ".env.sample",
        ".env.template",
        ".env.dist",
        ".env.local.example",
        "example.env",
        "id_rsa.pub",
        "id_ed25519-cert.pub",
        "server.crt",
        "ca.cer",
        "keys.py",
        "secrets.py",
        "src/moatcode/guard/secrets.py",
        "secret_files.py",
        "config.json",
        "config",
        "environment.yml",
        "README.md",
        "monkey.txt",
        ".envrc.md",
        "",
        "/",
    ],
)
def test_ordinary_files(path: str) -> None:
    assert not is_secret_file(path)


def test_windows_paths() -> None:
    assert is_secret_file(PureWindowsPath(r"C:\Users\me\.ssh\id_rsa"))
    assert is_secret_file(r"C:\Users\me\.kube\config")
    assert not is_secret_file(PureWindowsPath(r"C:\Users\me\.ssh\id_rsa.pub"))
