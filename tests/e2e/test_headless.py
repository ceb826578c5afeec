"""`moat -p` end to end: the real command, a real git project, the scripted model over HTTP."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.e2e.conftest import Project, json_lines, types_of
from tests.fake_server import Call, CutStream, FakeModelServer, Fault, Garbage, Reply

FIX_ARGS = ("--mode", "accept-edits", "--allow", "Bash(python -m pytest *)")


def bug_fix_script(fake: FakeModelServer) -> None:
    def saw_failing_test(body: dict[str, Any]) -> None:
        assert "1 failed" in body["messages"][-1]["content"]

    def saw_passing_test(body: dict[str, Any]) -> None:
        assert "1 passed" in body["messages"][-1]["content"]

    fake.add(
        Reply(text="Let me run the tests first.",
              tool_calls=[Call("bash", {"command": "python -m pytest -q"})]),
        Reply(tool_calls=[Call("read_file", {"path": "calc/ops.py"})], expect=saw_failing_test),
        Reply(tool_calls=[Call("edit_file", {"path": "calc/ops.py", "old_string": "a - b",
                                             "new_string": "a + b"})]),
        Reply(tool_calls=[Call("bash", {"command": "python -m pytest -q"})]),
        Reply(text="Fixed: add() subtracted instead of adding. The test passes now.",
              expect=saw_passing_test),
    )


def test_bug_fix_stream_json(project: Project, fake_model: FakeModelServer) -> None:
    bug_fix_script(fake_model)
    done = project.run("-p", "test_ops.py fails; fix it", "--output-format", "stream-json",
                       *FIX_ARGS, base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    assert (project.repo / "calc/ops.py").read_text() == "def add(a, b):\n    return a + b\n"
    lines = json_lines(done.stdout)
    assert types_of(lines) == ["system", "assistant", "user", "assistant", "user", "assistant",
                               "user", "assistant", "user", "assistant", "result"]
    init, result = lines[0], lines[-1]
    assert init["subtype"] == "init"
    assert init["cwd"] == str(project.repo)
    assert init["model"] == "fake-model"
    assert init["permissionMode"] == "accept-edits"
    assert init["tools"] == ["read_file", "edit_file", "write_file", "list_files", "glob",
                             "grep", "bash", "todo"]
    tool_use = lines[1]["message"]["content"][1]
    assert tool_use == {"type": "tool_use", "id": "call_1", "name": "bash",
                        "input": {"command": "python -m pytest -q"}}
    first_result = lines[2]["message"]["content"][0]
    assert first_result["tool_use_id"] == "call_1" and first_result["is_error"] is True
    assert "1 failed" in first_result["content"]
    assert lines[8]["message"]["content"][0]["is_error"] is False
    assert {k: result[k] for k in ("subtype", "is_error", "num_turns", "result",
                                   "permission_denials", "session_id")} == {
        "subtype": "success", "is_error": False, "num_turns": 5,
        "result": "Fixed: add() subtracted instead of adding. The test passes now.",
        "permission_denials": [], "session_id": init["session_id"]}
    assert result["usage"]["input_tokens"] > 0


def test_bug_fix_json_prints_only_the_result(project: Project,
                                            fake_model: FakeModelServer) -> None:
    bug_fix_script(fake_model)
    done = project.run("-p", "fix it", "--output-format", "json", *FIX_ARGS,
                       base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    [result] = json_lines(done.stdout)
    assert (result["type"], result["subtype"], result["num_turns"]) == ("result", "success", 5)
    assert (project.repo / "calc/ops.py").read_text().endswith("a + b\n")


def test_bug_fix_text_prints_the_answer(project: Project, fake_model: FakeModelServer) -> None:
    bug_fix_script(fake_model)
    done = project.run("-p", "fix it", *FIX_ARGS, base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Fixed: add() subtracted instead of adding. The test passes now.\n"


def test_headless_ask_becomes_a_denial(project: Project, fake_model: FakeModelServer) -> None:
    def told_why(body: dict[str, Any]) -> None:
        assert "no one can approve in this run" in body["messages"][-1]["content"]

    fake_model.add(
        Reply(tool_calls=[Call("edit_file", {"path": "calc/ops.py", "old_string": "a - b",
                                             "new_string": "a + b"})]),
        Reply(text="I may not edit files here.", expect=told_why))
    done = project.run("-p", "fix it", "--output-format", "json", base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    [result] = json_lines(done.stdout)
    assert result["permission_denials"] == [{
        "tool_name": "edit_file", "tool_use_id": "call_1",
        "tool_input": {"path": "calc/ops.py", "old_string": "a - b", "new_string": "a + b"}}]
    assert (project.repo / "calc/ops.py").read_text().endswith("a - b\n")


def test_bad_tool_calls_go_back_to_the_model(project: Project,
                                            fake_model: FakeModelServer) -> None:
    def errors(body: dict[str, Any]) -> list[str]:
        return [m["content"] for m in body["messages"] if m["role"] == "tool"]

    def saw_errors(body: dict[str, Any]) -> None:
        assert errors(body) == [
            "Error: There is no tool named 'web_fetch'. Available tools: read_file, edit_file, "
            "write_file, list_files, glob, grep, bash, todo.",
            "Error: The arguments for read_file are not valid JSON (Expecting ',' delimiter at "
            "position 16); send them again as one JSON object.",
            "Error: Invalid arguments for read_file: missing required parameter 'path'.",
        ]

    fake_model.add(
        Reply(tool_calls=[Call("web_fetch", {"url": "http://example.com"}),
                          Call("read_file", '{"path": "a.py" "offset": 1}'),
                          Call("read_file", {"offset": 3})]),
        Reply(text="Sorry.", expect=saw_errors))
    done = project.run("-p", "look around", base_url=fake_model.url)
    assert done.returncode == 0, done.stderr


def test_max_turns(project: Project, fake_model: FakeModelServer) -> None:
    fake_model.add(*[Reply(tool_calls=[Call("list_files", {})]) for _ in range(2)])
    done = project.run("-p", "loop", "--max-turns", "2", "--output-format", "json",
                       base_url=fake_model.url)
    assert done.returncode == 6
    [result] = json_lines(done.stdout)
    assert (result["subtype"], result["is_error"], result["num_turns"]) == (
        "error_max_turns", True, 2)


def test_garbage_ends_with_a_clear_error_and_a_resumable_session(
        project: Project, fake_model: FakeModelServer) -> None:
    fake_model.add(Reply(tool_calls=[Call("list_files", {})]), Garbage())
    done = project.run("-p", "look", base_url=fake_model.url)
    assert done.returncode == 3
    assert done.stderr.startswith("moat: error: The model server at ")
    assert "check that it is an OpenAI-compatible server." in done.stderr
    fake_model.add(Reply(text="Resumed.", expect=lambda body: _resumed(body)))
    again = project.run("-p", "go on", "--continue", base_url=fake_model.url)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Resumed.\n"


def _resumed(body: dict[str, Any]) -> None:
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert body["messages"][-1]["content"] == "go on"


def test_dropped_streams_are_retried_then_fail(project: Project,
                                              fake_model: FakeModelServer) -> None:
    fake_model.add(CutStream(), Fault(500), Reply(text="ok after retries"))
    done = project.run("-p", "hi", base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok after retries\n"
    assert "retry 1" in done.stderr and "retry 2" in done.stderr


def test_nothing_listening(project: Project) -> None:
    done = project.run("-p", "hi", "--model", "m", base_url="http://127.0.0.1:9/v1")
    assert done.returncode == 3
    assert done.stderr.startswith("moat: error: No model server answers at "
                                  "http://127.0.0.1:9/v1")


def test_sessions_are_listed(project: Project, fake_model: FakeModelServer) -> None:
    fake_model.add(Reply(text="hello"))
    assert project.run("-p", "say hello please", base_url=fake_model.url).returncode == 0
    listing = project.run("sessions")
    assert listing.returncode == 0
    assert "  1 turns  say hello please" in listing.stdout


def test_prompt_prefix_is_append_only(project: Project, fake_model: FakeModelServer) -> None:
    bug_fix_script(fake_model)
    assert project.run("-p", "fix it", *FIX_ARGS, base_url=fake_model.url).returncode == 0
    bodies = [r.body for r in fake_model.chat_requests]
    for previous, current in itertools.pairwise(bodies):
        assert current.startswith(previous[:-2])  # less the closing "]}"
    first = json.loads(bodies[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "Run the tests with" in first["messages"][1]["content"]


@pytest.mark.parametrize("flag", ["--resume", "--continue"])
def test_resume_errors(project: Project, flag: str) -> None:
    args = ("-p", "x", flag, "nope") if flag == "--resume" else ("-p", "x", flag)
    done = project.run(*args, "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert done.returncode == 2
    assert done.stderr.startswith("moat: error: ")


def test_ctrl_c_saves_the_session(project: Project, fake_model: FakeModelServer) -> None:
    import signal
    import subprocess
    import time

    from tests.e2e.conftest import MOAT
    from tests.fake_server import SlowStream

    fake_model.add(Reply(tool_calls=[Call("list_files", {})]),
                   SlowStream(Reply(text="a very slow answer " * 20), delay_s=0.5))
    env = dict(project.env, MOAT_BASE_URL=fake_model.url)
    proc = subprocess.Popen([MOAT, "-p", "look around"], cwd=project.repo, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(fake_model.chat_requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "the session is saved, resume it with --continue" in err
    fake_model.add(Reply(text="back", expect=lambda body: _saw_listing(body)))
    again = project.run("-p", "continue please", "--continue", base_url=fake_model.url)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "back\n"


def _saw_listing(body: dict[str, Any]) -> None:
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool",
                                                     "user"]
    assert body["messages"][3]["content"].startswith("./ (")


def test_an_ollama_endpoint_gets_its_own_api_and_num_ctx(project: Project) -> None:
    with FakeModelServer(flavor="ollama", context_window=16_384) as fake:
        fake.add(Reply(tool_calls=[Call("list_files", {})]), Reply(text="seen it"))
        done = project.run("-p", "look", base_url=fake.url)
        paths = [r.path for r in fake.chat_requests]
        options = [r.json["options"]["num_ctx"] for r in fake.chat_requests]
    assert done.returncode == 0, done.stderr
    assert done.stdout == "seen it\n"
    assert paths == ["/api/chat", "/api/chat"]
    assert options == [16_384, 16_384]
