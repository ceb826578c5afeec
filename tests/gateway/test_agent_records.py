"""Agents shipping their audit records: resumption, and forged or missing records caught."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from moatcode.audit.bodies import BodyUnavailable
from moatcode.audit.record import hash_record_dict
from moatcode.audit.sink import AuditSink
from moatcode.audit.store import AuditStore
from moatcode.events import ModelRequestSent, SessionStarted
from moatcode.gateway.agent_link import AuditShipper
from moatcode.gateway.central_audit import agent_request_body, verify_central
from moatcode.gateway.commands import gateway
from tests.gateway.conftest import GatewayHarness, free_port, start_gateway

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def append(store_path: Path, count: int, session: str = "s1") -> None:
    # Each test's store is its own chain: the first record names its directory.
    session = f"{session}-{store_path.parent.name}"
    with AuditStore.open(store_path) as store:
        start = (store.head() or (0, ""))[0]
        for i in range(count):
            store.append(session=session, kind="user_prompt",
                         data={"text": f"prompt {start + i + 1}", "n": 1.5},
                         at=T0 + timedelta(seconds=start + i))


def local_records(store_path: Path) -> list[dict[str, Any]]:
    with AuditStore.open_readonly(store_path) as store:
        return [r.to_dict() for r in store.records()]


@pytest.fixture(scope="module")
def shared_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHarness]:
    harness = start_gateway(tmp_path_factory.mktemp("gw"), {})
    harness.add_user("alice", "eng")
    harness.add_user("bob", "eng")
    yield harness
    harness.server.stop()
    harness.identity.engine.dispose()


@pytest.fixture
def gw(shared_gw: GatewayHarness) -> GatewayHarness:
    return shared_gw.begin()


def shipper(gw: GatewayHarness, store: Path, user: str = "alice") -> AuditShipper:
    return AuditShipper(gw.url + "/v1", gw.tokens[user], store, interval_s=0.05)


def post(gw: GatewayHarness, chain: str, records: list[dict[str, Any]],
         user: str = "alice") -> Any:
    with gw.client(gw.tokens[user]) as client:
        return client.post("/v1/audit/records", json={"chain": chain, "records": records})


def agent_checks(gw: GatewayHarness, user: str = "alice", at_least: int = 1) -> list[Any]:
    return [(r["data"]["record"]["seq"], r["data"]["check"])
            for r in gw.records(f"user:{user}", at_least) if r["kind"] == "agent_record"]


def test_shipper_sends_everything_then_resumes_from_the_gateway_head(
    gw: GatewayHarness, tmp_path: Path
) -> None:
    store = tmp_path / "audit.db"
    append(store, 5)
    first = shipper(gw, store)
    result = first.flush()
    first.close()
    assert (result.sent, result.head_seq, result.problems, result.error) == (5, 5, (), "")
    append(store, 3, session="s2")
    second = shipper(gw, store)  # a new session: it knows nothing, the gateway does
    assert second.flush().sent == 3
    assert second.flush().sent == 0
    second.close()
    assert agent_checks(gw, at_least=8) == [(n, "ok") for n in range(1, 9)]
    shipped = [r["data"]["record"] for r in gw.records("user:alice")]
    assert shipped == local_records(store)
    verdicts = verify_central(gw.runtime.engine, gw.runtime.signing_key.public_key(),
                              "user:alice")
    assert [(v.chain, v.ok, v.summary.records) for v in verdicts] == [("user:alice", True, 8)]


def test_background_thread_and_close_ship_everything(gw: GatewayHarness,
                                                    tmp_path: Path) -> None:
    store = tmp_path / "audit.db"
    append(store, 2)
    link = shipper(gw, store)
    link.start()
    append(store, 4)
    result = link.close()
    assert result.error == ""
    assert agent_checks(gw, at_least=6) == [(n, "ok") for n in range(1, 7)]


def test_gateway_down_is_not_an_error_and_the_next_flush_catches_up(
    gw: GatewayHarness, tmp_path: Path
) -> None:
    store = tmp_path / "audit.db"
    append(store, 3)
    offline = AuditShipper(f"http://127.0.0.1:{free_port()}/v1", "token", store)
    failed = offline.close()
    assert failed.sent == 0 and failed.error
    assert shipper(gw, store).close().sent == 3


def test_a_missing_record_is_flagged_as_a_gap(gw: GatewayHarness, tmp_path: Path) -> None:
    store = tmp_path / "audit.db"
    append(store, 5)
    records = local_records(store)
    chain = records[0]["hash"]
    answer = post(gw, chain, [records[0], records[1], records[3], records[4]]).json()
    assert [(p["seq"], p["kind"]) for p in answer["problems"]] == [(4, "gap")]
    assert answer["head"]["seq"] == 5
    assert agent_checks(gw, at_least=4) == [(1, "ok"), (2, "ok"), (4, "gap"), (5, "ok")]


def test_a_forged_record_is_flagged_as_edited(gw: GatewayHarness, tmp_path: Path) -> None:
    store = tmp_path / "audit.db"
    append(store, 3)
    records = local_records(store)
    forged = dict(records[2], data={"text": "nothing to see here", "n": 1.5})
    answer = post(gw, records[0]["hash"], [records[0], records[1], forged]).json()
    assert [(p["seq"], p["kind"]) for p in answer["problems"]] == [(3, "edited")]
    kept = gw.records("user:alice", 3)[-1]["data"]
    assert (kept["check"], kept["record"]) == ("edited", forged)


def test_rewritten_history_is_flagged_as_a_fork(gw: GatewayHarness, tmp_path: Path) -> None:
    store = tmp_path / "audit.db"
    append(store, 4)
    records = local_records(store)
    chain = records[0]["hash"]
    assert post(gw, chain, records[:3]).json()["problems"] == []
    # Someone rewrites record 3 after it was shipped, re-hashing it so it looks valid.
    rewritten = dict(records[2], data={"text": "rewritten", "n": 1.5})
    rewritten["hash"] = hash_record_dict(rewritten)
    resent = post(gw, chain, [rewritten]).json()
    # And the record after it links to the rewritten one, not to what was received.
    following = dict(records[3], prev_hash=rewritten["hash"])
    following["hash"] = hash_record_dict(following)
    after = post(gw, chain, [following]).json()
    assert [(p["seq"], p["kind"]) for p in resent["problems"] + after["problems"]] == [
        (3, "fork"), (4, "fork")]


def test_resending_is_idempotent(gw: GatewayHarness, tmp_path: Path) -> None:
    store = tmp_path / "audit.db"
    append(store, 3)
    records = local_records(store)
    assert post(gw, records[0]["hash"], records).json()["accepted"] == 3
    again = post(gw, records[0]["hash"], records).json()
    assert (again["accepted"], again["duplicates"], again["problems"]) == (0, 3, [])


def test_another_users_chain_is_forbidden(gw: GatewayHarness, tmp_path: Path) -> None:
    store = tmp_path / "audit.db"
    append(store, 2)
    records = local_records(store)
    assert post(gw, records[0]["hash"], records[:1]).status_code == 200
    assert post(gw, records[0]["hash"], records[1:], user="bob").status_code == 403
    with gw.client(gw.tokens["bob"]) as client:
        head = client.get("/v1/audit/head", params={"chain": records[0]["hash"]})
    assert head.status_code == 403


@pytest.mark.parametrize("change", [
    {"extra": 1},
    {"hash": "XYZ"},
    {"seq": "1"},
    {"data": [1, 2]},
])
def test_malformed_batches_are_400(gw: GatewayHarness, tmp_path: Path,
                                   change: dict[str, Any]) -> None:
    store = tmp_path / "audit.db"
    append(store, 1)
    record = {**local_records(store)[0], **change}
    answer = post(gw, "a" * 64, [record])
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("Invalid audit batch")


def test_out_of_order_and_non_canonical_batches_are_400(gw: GatewayHarness,
                                                        tmp_path: Path) -> None:
    store = tmp_path / "audit.db"
    append(store, 2)
    records = local_records(store)
    assert post(gw, "a" * 64, records[::-1]).status_code == 400
    body = json.dumps({"chain": "a" * 64, "records": [records[0]]}).replace(
        '"n": 1.5', '"n": NaN')
    with gw.client(gw.tokens["alice"]) as client:
        answer = client.post("/v1/audit/records", content=body,
                             headers={"content-type": "application/json"})
    assert answer.status_code == 400


def test_a_shipped_request_body_is_given_back_exactly(gw: GatewayHarness, tmp_path: Path) -> None:
    # The agent keeps each body as what it adds to the one before; the central copy can
    # still give every one back, checked against its hash.
    store = tmp_path / "audit.db"
    bodies = [json.dumps({"model": "m", "messages": [
        {"role": "system", "content": "You are Moat. " * 40},
        *({"role": "user", "content": f"turn {i}"} for i in range(n))]}) for n in (1, 2, 3)]
    with AuditStore.open(store) as opened:
        sink = AuditSink(opened, clock=lambda: T0)
        sink(SessionStarted(f"s-{tmp_path.name}", "/w", "m", "http://127.0.0.1:1/v1", (),
                            "default"))
        for step, text in enumerate(bodies, 1):
            raw = text.encode()
            sink(ModelRequestSent(step, "http://127.0.0.1:1/v1", "m", len(raw), len(raw) // 4,
                                  hashlib.sha256(raw).hexdigest(), text))
        seqs = [r.seq for r in opened.records() if r.kind == "model_request"]
        assert "body_rest" in next(r for r in opened.records() if r.seq == seqs[-1]).data
        chain_id = next(opened.records()).hash  # an agent's chain is named by its first record
    link = shipper(gw, store)
    assert link.flush().error == ""
    link.close()
    gw.records("user:alice", at_least=4)
    for seq, text in zip(seqs, bodies, strict=True):
        assert agent_request_body(gw.runtime.engine, "alice", seq, chain_id) == text
    other = tmp_path / "laptop" / "audit.db"  # the same user, a second machine
    append(other, 1)
    second = shipper(gw, other)
    assert second.flush().error == ""
    second.close()
    with pytest.raises(BodyUnavailable, match="name one with --agent-chain"):
        agent_request_body(gw.runtime.engine, "alice", seqs[-1])
    config = gw.config.token_hash_key.parent / "gateway.toml"
    shown = CliRunner().invoke(gateway, ["--config", str(config), "audit", "body",
                                         str(seqs[-1]), "--user", "alice",
                                         "--agent-chain", chain_id])
    assert shown.exit_code == 0, shown.output
    assert shown.output == bodies[-1]
