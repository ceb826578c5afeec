"""``moat gateway ...`` admin commands, run through click against a real database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from moatcode.audit.verify import verify_jsonl
from moatcode.errors import UsageError
from moatcode.gateway.commands import gateway, parse_duration
from tests.fake_server import FakeModelServer, Reply
from tests.gateway.conftest import model_section
from tests.gateway.test_proxy import chat


def invoke(config: Path, *args: str) -> Any:
    return CliRunner().invoke(gateway, ["--config", str(config), *args], catch_exceptions=True)


def test_init_then_administer_users_teams_and_tokens(tmp_path: Path) -> None:
    config = tmp_path / "gw" / "gateway.toml"
    first = invoke(config, "init")
    assert first.exit_code == 0, first.output
    assert "Wrote a starter config" in first.output
    assert 'policy_pubkey = "ed25519:' in first.output
    assert (config.parent / "token-hash.key").stat().st_mode & 0o777 == 0o600
    assert (config.parent / "signing.key").stat().st_mode & 0o777 == 0o600
    assert "Created" not in invoke(config, "init").output  # idempotent: keys are kept

    assert invoke(config, "team", "add", "eng", "--model", "qwen", "--user-tpm", "1000"
                  ).exit_code == 0
    assert invoke(config, "team", "set", "eng", "--all-models", "--user-tpm", "0",
                  "--team-tpd", "500").output == "Team eng: models *; team_tpd 500.\n"
    assert invoke(config, "team", "list").output == "eng: models *; team_tpd 500\n"
    assert invoke(config, "user", "add", "alice", "--team", "eng").exit_code == 0
    missing_team = invoke(config, "user", "add", "bob", "--team", "nope")
    assert isinstance(missing_team.exception, UsageError)

    created = invoke(config, "token", "create", "alice", "--expires-in", "30d",
                     "--label", "laptop")
    token = created.stdout.strip()
    assert token.startswith("moat_") and len(token) == 5 + 12 + 1 + 43
    assert "shown only now" in created.stderr
    listed = invoke(config, "token", "list").output
    token_id = token[5:17]
    assert token_id in listed and "laptop" in listed and "expires" in listed
    assert token[18:] not in listed
    assert token[18:] not in (config.parent / "gateway.db").read_bytes().decode("latin-1")
    assert invoke(config, "token", "revoke", token_id).output == (
        f"Revoked token {token_id} of alice.\n")
    assert "revoked" in invoke(config, "token", "list", "--user", "alice").output

    assert invoke(config, "user", "disable", "alice").exit_code == 0
    assert "(disabled)" in invoke(config, "user", "list").output
    assert invoke(config, "user", "enable", "alice").exit_code == 0
    assert invoke(config, "pubkey").output.startswith("ed25519:")


def test_audit_verify_export_report(start: Any, fake_model: FakeModelServer,
                                    tmp_path: Path) -> None:
    gw = start({"models": {"fake": model_section(fake_model.url)}})
    token = gw.add_user("alice", "eng")
    fake_model.add(Reply(text="one"), Reply(text="two"))
    with gw.client(token) as client:
        chat(client)
        chat(client)
        chat(client, "missing")
    gw.records(at_least=3)
    gw.server.stop()
    config = tmp_path / "gateway.toml"
    verified = invoke(config, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("gateway: intact, 4 records")  # 3 + the closing checkpoint
    exported = invoke(config, "audit", "export", "--chain", "gateway")
    lines = exported.output.splitlines()
    assert verify_jsonl(lines, name="export").ok and len(lines) == 4
    out = tmp_path / "export.csv"
    assert invoke(config, "audit", "export", "--format", "csv", "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("seq,at,session,kind,data,prev_hash,hash,v\n")
    report = json.loads(invoke(config, "audit", "report", "--format", "json").output)
    assert report["by_user"]["alice"]["requests"] == 3
    assert report["refusals"] == {"unknown_model": 1}
    assert "## By user" in invoke(config, "audit", "report").output


def test_audit_verify_fails_on_tampering(start: Any, tmp_path: Path) -> None:
    import sqlite3

    gw = start()
    token = gw.add_user("alice", "eng")
    with gw.client(token) as client:
        client.get("/v1/models")
        client.get("/v1/models")
    gw.records(at_least=2)
    gw.server.stop()
    db = sqlite3.connect(tmp_path / "gateway.db")
    db.execute("DELETE FROM records WHERE seq = 1")
    db.commit()
    db.close()
    result = invoke(tmp_path / "gateway.toml", "audit", "verify")
    assert result.exit_code == 1
    assert "NOT INTACT: deleted" in result.output


def test_durations() -> None:
    assert [parse_duration(t).total_seconds() for t in ("90d", "12h", "30m")] == [
        90 * 86400, 12 * 3600, 1800]
