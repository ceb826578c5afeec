"""The central store: hash chains the agent's verifier accepts, tamper detection, report."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moatcode.audit.verify import verify_jsonl
from moatcode.gateway.central_audit import (
    build_usage_report,
    export_chain,
    render_usage_report,
    verify_central,
)
from moatcode.types import Usage
from tests.fake_server import FakeModelServer, Reply
from tests.gateway.conftest import GatewayHarness, model_section
from tests.gateway.test_proxy import chat


def run_requests(start: Any, fake_model: FakeModelServer, count: int,
                 **settings: Any) -> GatewayHarness:
    gw: GatewayHarness = start({"models": {"fake": model_section(fake_model.url)},
                                **settings})
    token = gw.add_user("alice", "eng", ("fake",))
    fake_model.add(*[Reply(text=f"answer {i}", usage=Usage(10, 2)) for i in range(count)])
    with gw.client(token) as client:
        for _ in range(count):
            assert chat(client).status_code == 200
        assert chat(client, "nope").status_code == 404
    gw.records(at_least=count + 1)
    return gw


def test_chain_verifies_with_checkpoints_and_exports_for_the_agent_verifier(
    start: Any, fake_model: FakeModelServer
) -> None:
    gw = run_requests(start, fake_model, 7, audit={"checkpoint_every": 3,
                                                   "flush_interval_ms": 1})
    gw.server.stop()  # shutting down signs the head
    key = gw.runtime.signing_key.public_key()
    [verdict] = verify_central(gw.runtime.engine, key)
    summary = verdict.summary
    assert (verdict.chain, verdict.ok, verdict.open_tail, summary.problem) == (
        "gateway", True, False, None)
    assert summary.checkpoints >= 2 and summary.signatures_checked
    out = io.StringIO()
    count = export_chain(gw.runtime.engine, "gateway", "jsonl", None, out)
    exported = verify_jsonl(out.getvalue().splitlines(), name="export")
    assert (exported.ok, exported.records, exported.head_hash) == (True, count,
                                                                   summary.head_hash)
    other = Ed25519PrivateKey.generate().public_key()
    [forged] = verify_central(gw.runtime.engine, other)
    assert forged.summary.problem is not None
    assert forged.summary.problem.kind == "forged_checkpoint"


def test_an_edited_record_is_found(start: Any, fake_model: FakeModelServer,
                                   tmp_path: Path) -> None:
    gw = run_requests(start, fake_model, 3)
    gw.server.stop()
    db = sqlite3.connect(tmp_path / "gateway.db")
    row = db.execute("SELECT pos, data FROM records WHERE seq = 2").fetchone()
    data = json.loads(row[1])
    data["user"] = "mallory"
    db.execute("UPDATE records SET data = ? WHERE pos = ?",
               (json.dumps(data, sort_keys=True, separators=(",", ":")), row[0]))
    db.commit()
    db.close()
    [verdict] = verify_central(gw.runtime.engine, gw.runtime.signing_key.public_key())
    assert not verdict.ok
    assert verdict.summary.problem is not None
    assert (verdict.summary.problem.kind, verdict.summary.problem.seq) == ("edited", 2)


def test_usage_report(start: Any, fake_model: FakeModelServer) -> None:
    gw = run_requests(start, fake_model, 2)
    report = build_usage_report(gw.runtime.engine)
    assert report.by_user["alice"].__dict__ == {
        "requests": 3, "refused": 1, "errors": 0, "prompt_tokens": 20,
        "completion_tokens": 4, "request_bytes": report.by_user["alice"].request_bytes,
        "response_bytes": report.by_user["alice"].response_bytes,
    }
    assert dict(report.refusals) == {"unknown_model": 1}
    markdown = render_usage_report(report, "md")
    assert "| alice | 3 | 1 | 0 | 20 | 4 |" in markdown
    as_json = json.loads(render_usage_report(report, "json"))
    assert as_json["by_model"]["fake"]["requests"] == 2


def test_bodies_are_not_stored_when_configured(start: Any,
                                               fake_model: FakeModelServer) -> None:
    gw = run_requests(start, fake_model, 1, audit={"store_bodies": False})
    record = gw.records()[0]["data"]
    assert "request_body" not in record and "response_body" not in record
    assert len(record["request_sha256"]) == 64 and len(record["response_sha256"]) == 64
