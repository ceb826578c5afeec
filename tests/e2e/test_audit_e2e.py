"""The audit log of real sessions: a data-flow report, and a session killed mid-way."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from tests.e2e.conftest import MOAT, Project
from tests.fake_server import Call, FakeModelServer, Reply, SlowStream

SECRET = "ghp_" + "R8d2Kx7Lm4Qp9Tz3Wv6Yb1Nc5Hj0Fs2Ga8E"


def test_report_lists_sources_and_hides_the_secret(project: Project,
                                                   fake_model: FakeModelServer) -> None:
    (project.repo / "config.py").write_text(f'GITHUB_TOKEN = "{SECRET}"\n')
    fake_model.add(
        Reply(tool_calls=[Call("read_file", {"path": "calc/ops.py"}),
                          Call("read_file", {"path": "config.py", "offset": 1, "limit": 1})]),
        Reply(tool_calls=[Call("bash", {"command": "python -m pytest -q"})]),
        Reply(text="The add function subtracts."))
    done = project.run("-p", "why does the test fail?", "--allow", "Bash(python -m pytest *)",
                       base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    assert all(SECRET.encode() not in r.body for r in fake_model.chat_requests)
    report = project.run("audit", "report", "--format", "json")
    assert report.returncode == 0, report.stderr
    assert SECRET not in report.stdout
    data = json.loads(report.stdout)
    last = data["requests"][-1]
    assert {(s["kind"], s["ref"], s.get("start_line"), s.get("end_line"))
            for s in last["sources"]} >= {("file", "calc/ops.py", 1, 2),
                                          ("file", "config.py", 1, 1),
                                          ("command", "call_3", None, None)}
    assert [r["kind"] for r in last["redactions"]] == ["github-token"]
    assert [a["tool"] for a in data["actions"]] == ["read_file", "read_file", "bash"]
    # Every byte sent is in the log: each request's body comes back exactly, and the later
    # ones are stored as what they add to the one before.
    export = project.run("audit", "export")
    assert export.returncode == 0, export.stderr
    requests = [r for line in export.stdout.splitlines()
                if (r := json.loads(line))["kind"] == "model_request"]
    probe = len(fake_model.chat_requests) - len(requests)  # a tool-protocol probe, if any
    assert len(requests) == 3 and probe >= 0
    assert "body" in requests[0]["data"] and "body_rest" in requests[-1]["data"]
    for record, sent in zip(requests, fake_model.chat_requests[probe:], strict=True):
        body = project.run("audit", "body", str(record["seq"]))
        assert body.returncode == 0, body.stderr
        assert body.stdout.encode() == sent.body
    html = project.run("audit", "report", "--format", "html")
    assert html.returncode == 0 and SECRET not in html.stdout
    assert "<script" not in html.stdout and "http://" not in html.stdout.replace(
        fake_model.url, "")


def test_sigkill_mid_session_loses_nothing_before_it(project: Project,
                                                    fake_model: FakeModelServer) -> None:
    fake_model.add(Reply(text="first session"))
    assert project.run("-p", "hello", base_url=fake_model.url).returncode == 0
    assert project.run("audit", "verify").returncode == 0
    fake_model.add(Reply(tool_calls=[Call("list_files", {})]),
                   SlowStream(Reply(text="never finished " * 50), delay_s=0.5))
    env = dict(project.env, MOAT_BASE_URL=fake_model.url)
    proc = subprocess.Popen([MOAT, "-p", "look"], cwd=project.repo, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(fake_model.chat_requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    killed = project.run("audit", "verify")
    assert killed.returncode == 3, killed.stdout
    assert "FAILED" in killed.stdout and "truncated" in killed.stdout
    assert "was killed before it closed" in killed.stdout
    log = project.run("audit", "log", "--json")
    kinds = [json.loads(line)["kind"] for line in log.stdout.splitlines()]
    assert kinds.count("tool_result") == 1 and kinds[-1] != "session_ended"
    fake_model.add(Reply(text="next session"))
    assert project.run("-p", "again", base_url=fake_model.url).returncode == 0
    healed = project.run("audit", "verify")
    assert healed.returncode == 0, healed.stdout
    assert healed.stdout.startswith("OK: ")


def test_no_audit_no_session(project: Project, fake_model: FakeModelServer) -> None:
    store = project.data_dir / "audit.db"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"this is not a database, it was damaged\n" * 100)
    done = project.run("-p", "hello", base_url=fake_model.url)
    assert done.returncode == 5
    assert done.stderr.startswith("moat: error: ") and str(store) in done.stderr
    assert fake_model.chat_requests == []  # no unaudited work
    managed = project.root / "no-managed.toml"
    managed.write_text("[audit]\nrequired = false\n")
    fake_model.add(Reply(text="unaudited, as allowed"))
    allowed = project.run("-p", "hello", base_url=fake_model.url)
    assert allowed.returncode == 0, allowed.stderr
    assert "Running WITHOUT an audit log, as the managed policy allows" in allowed.stderr
