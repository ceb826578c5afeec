"""Tool calls from servers and models that do not return them structured."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Project, json_lines
from tests.fake_server import Call, FakeModelServer, Fault, Reply

QWEN_READ = ("I will read it.\n<tool_call>\n<function=read_file>\n<parameter=path>\n"
             "calc/ops.py\n</parameter>\n</function>\n</tool_call>")


def test_auto_probe_picks_native_and_caches_it(project: Project,
                                              fake_model: FakeModelServer) -> None:
    del project.env["MOAT_TOOL_PROTOCOL"]
    fake_model.add(Reply(tool_calls=[Call("ping", {})]), Reply(text="hi"), Reply(text="again"))
    first = project.run("-p", "hello", base_url=fake_model.url)
    assert first.returncode == 0, first.stderr
    assert "Tool calling on fake-model: native" in first.stderr
    second = project.run("-p", "hello again", base_url=fake_model.url)
    assert second.returncode == 0 and second.stdout == "again\n"
    assert "Tool calling" not in second.stderr  # cached: no second probe
    bodies = [r.json for r in fake_model.chat_requests]
    assert [b["tools"][0]["function"]["name"] for b in bodies] == ["ping", "read_file",
                                                                    "read_file"]


def test_auto_probe_falls_back_to_text_and_reads_calls_back(
        project: Project, fake_model: FakeModelServer) -> None:
    del project.env["MOAT_TOOL_PROTOCOL"]

    def text_mode(body: dict[str, Any]) -> None:
        assert "tools" not in body
        assert "<function=TOOL_NAME>" in body["messages"][0]["content"]

    def saw_result(body: dict[str, Any]) -> None:
        text_mode(body)
        assert body["messages"][2]["content"] == QWEN_READ  # replayed byte for byte
        assert body["messages"][3]["role"] == "user"
        assert "<tool_response>" in body["messages"][3]["content"]
        assert "a - b" in body["messages"][3]["content"]

    fake_model.add(
        Fault(400, body=json.dumps({"error": {"message": '"auto" tool choice requires '
                                              "--enable-auto-tool-choice", "code": 400}})),
        Reply(text=QWEN_READ, expect=text_mode),
        Reply(text="It subtracts.", expect=saw_result))
    done = project.run("-p", "what does add do?", "--output-format", "stream-json",
                       base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    assert "Tool calling on fake-model: text" in done.stderr
    lines = json_lines(done.stdout)
    assistant = lines[1]["message"]["content"]
    assert assistant[0] == {"type": "text", "text": "I will read it."}
    assert assistant[1]["name"] == "read_file" and assistant[1]["input"] == {
        "path": "calc/ops.py"}


def test_calls_left_in_content_are_recovered(project: Project,
                                            fake_model: FakeModelServer) -> None:
    hermes = ('<tool_call>\n{"name": "read_file", "arguments": {"path": "calc/ops.py"}}\n'
              '</tool_call>')

    def structured_now(body: dict[str, Any]) -> None:
        assistant = body["messages"][2]
        assert assistant["tool_calls"][0]["function"]["name"] == "read_file"
        assert body["messages"][3]["role"] == "tool"

    fake_model.add(Reply(text=hermes), Reply(text="done", expect=structured_now))
    done = project.run("-p", "read ops", base_url=fake_model.url)
    assert done.returncode == 0, done.stderr


def test_a_cut_off_call_is_never_run(project: Project, fake_model: FakeModelServer) -> None:
    cut = ('<tool_call>\n{"name": "write_file", "arguments": {"path": "calc/ops.py", '
           '"content": "def add(a, b):\\n    return')

    def told_to_repeat(body: dict[str, Any]) -> None:
        message = body["messages"][-1]["content"]
        assert message.startswith("Error: Your tool call could not be run:")
        assert "Send the call again, complete and well-formed." in message

    fake_model.add(Reply(text=cut, finish_reason="length"),
                   Reply(text="I will try again later.", expect=told_to_repeat))
    done = project.run("-p", "rewrite ops", "--mode", "accept-edits", base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    assert (project.repo / "calc/ops.py").read_text() == "def add(a, b):\n    return a - b\n"
