"""``moat gateway serve`` as a real process: JSON logs, health, metrics, graceful shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from moatcode.gateway import db
from moatcode.gateway.central_audit import verify_central
from moatcode.gateway.config import load_gateway_config
from moatcode.gateway.identity import IdentityStore, Team, load_key
from moatcode.gateway.policy_doc import load_signing_key
from moatcode.types import Usage
from tests.fake_server import FakeModelServer, Reply, SlowStream
from tests.gateway.conftest import free_port, model_section, write_config

SERVE = "import sys; from moatcode.gateway.commands import gateway; gateway(sys.argv[1:])"


def test_serve_logs_json_and_finishes_streams_on_sigterm(
    tmp_path: Path, fake_model: FakeModelServer
) -> None:
    port = free_port()
    path = write_config(tmp_path, {
        "server": {"port": port, "access_log": True},
        "models": {"fake": model_section(fake_model.url)},
    })
    config = load_gateway_config(path, {})
    engine = db.create_db_engine(config.database_url)
    db.ensure_schema(engine)
    identity = IdentityStore(engine, load_key(config.token_hash_key))
    identity.add_team(Team("eng", ("*",)))
    identity.add_user("alice", "eng")
    _, token = identity.create_token("alice")
    fake_model.add(Reply(text="quick", usage=Usage(4, 2)),
                   SlowStream(Reply(text="a slow answer that takes a while"), delay_s=0.1))
    log = tmp_path / "gateway.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "--config", str(path), "serve"],
            stderr=err, stdout=subprocess.DEVNULL, env={**os.environ})
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_up(base)
        headers = {"authorization": f"Bearer {token}"}
        body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            assert client.post("/v1/chat/completions", json=body).status_code == 200
            assert client.get("/health").json()["status"] == "ok"
            metrics = client.get("/metrics").text
        assert 'moat_gateway_requests_total{model="fake",route="/v1/chat/completions",' \
               'status="200"} 1.0' in metrics
        assert 'moat_gateway_tokens_total{kind="prompt",model="fake"} 4.0' in metrics
        received: list[str] = []
        first_event = threading.Event()

        def stream() -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=10) as client, \
                    client.stream("POST", "/v1/chat/completions",
                                  json={**body, "stream": True}) as answer:
                for text in answer.iter_text():
                    received.append(text)
                    first_event.set()

        reader = threading.Thread(target=stream)
        reader.start()
        assert first_event.wait(10)
        process.send_signal(signal.SIGTERM)
        reader.join(20)
        assert "".join(received).endswith("data: [DONE]\n\n")  # the stream was finished
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    logs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    access = [e for e in logs if e["logger"] == "moatcode.gateway.access"]
    assert [(e["user"], e["status"], e["stream"]) for e in access] == [
        ("alice", 200, False), ("alice", 200, True)]
    assert token not in json.dumps(logs)
    verdicts = verify_central(engine, load_signing_key(config.signing_key).public_key())
    assert [(v.chain, v.ok, v.open_tail, v.summary.records) for v in verdicts] == [
        ("gateway", True, False, 3)]  # two requests and the checkpoint written at exit
    engine.dispose()


def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("the gateway did not come up")




def test_a_stream_still_running_at_the_deadline_is_cut_and_recorded(
    start: Any, fake_model: FakeModelServer
) -> None:
    gw = start({"server": {"graceful_timeout_s": 1},
                "models": {"fake": model_section(fake_model.url)}})
    token = gw.add_user("alice", "eng")
    fake_model.add(SlowStream(Reply(text="x" * 400), delay_s=0.1))
    started = threading.Event()

    cut: list[Exception] = []

    def stream() -> None:
        with gw.client(token) as client, client.stream(
                "POST", "/v1/chat/completions",
                json={"model": "fake", "messages": [{"role": "user", "content": "hi"}],
                      "stream": True}) as answer:
            try:
                for _ in answer.iter_text():
                    started.set()
            except httpx.RemoteProtocolError as exc:
                cut.append(exc)

    reader = threading.Thread(target=stream)
    reader.start()
    assert started.wait(10)
    gw.server.stop()  # the deadline (1 s) passes long before the 5 s stream ends
    reader.join(10)
    assert len(cut) == 1  # the client sees the stream end early
    [record] = [r["data"] for r in gw.records() if r["kind"] == "gateway_request"]
    assert (record["outcome"], record["reason"]) == ("cancelled", "shutdown")


def test_serving_freezes_the_start_up_heap_and_collects_young_objects_less_often() -> None:
    # In a child process: the collector's settings are global to the interpreter.
    script = ("import gc; from moatcode.gateway.server import tune_gc; before = gc.get_threshold();"
              " tune_gc(); print(before[0], gc.get_threshold()[0], gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    before, after, frozen = map(int, out)
    assert before == 700 and after == 50_000
    assert frozen > 10_000  # the modules and objects start-up made
