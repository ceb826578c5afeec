from __future__ import annotations

import itertools

import pytest

from moatcode.agent.approval import Approval, ApprovalRequest
from moatcode.agent.loop import AgentConfig
from moatcode.agent.prompt import Instructions
from moatcode.errors import Cancelled, MaxTurnsReached
from moatcode.events import (
    ContextCompacted,
    ModelRequestSent,
    Notice,
    PermissionDecided,
    SecretsRedacted,
    StepCancelled,
    ToolCallFinished,
)
from moatcode.models.base import ModelRequest, ModelTurn
from moatcode.types import Message, Redaction, Source, Usage
from tests.agent.conftest import Harness
from tests.scripted_model import call

AWS_ID = "AKIA" + "Q3EGJ7WXMZP2RT5N"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzQ8vT2kLmN4pR7sX"


def test_tool_results_are_fed_back_in_order(harness: Harness) -> None:
    (harness.workspace / "a.py").write_text("x = 1\n")
    harness.model.add([call("read_file", path="a.py"), call("glob", pattern="*.py")], "Done.")
    result = harness.make().run("look at a.py")
    assert (result.text, result.num_turns) == ("Done.", 2)
    second = harness.model.requests[1].messages
    assert [m.role for m in second] == ["system", "user", "assistant", "tool", "tool"]
    assert second[3] == Message("tool", "     1\tx = 1", tool_call_id="call_1")
    assert second[4] == Message("tool", "a.py", tool_call_id="call_2")
    assert harness.kinds() == [
        "user_prompt", "model_request", "model_response",
        "tool_call", "permission", "tool_result", "tool_call", "permission", "tool_result",
        "model_request", "model_response"]
    assert harness.recorder.messages == [*list(second), Message("assistant", "Done.")]
    harness.model.check()


def test_first_turn_carries_instructions_and_environment(harness: Harness) -> None:
    harness.model.add("ok")
    harness.make(instructions=Instructions("AGENTS.md", "Use tabs.")).run("hello")
    first = harness.model.requests[0].messages[1].content
    assert first == ('<instructions file="AGENTS.md">\nUse tabs.\n</instructions>\n\n'
                     "<environment>\nWorking directory: /ws\nPlatform: Linux x86_64\n"
                     "Date: 2026-11-22\nGit branch: main\nGit status:\nclean\n</environment>"
                     "\n\nhello")
    sent = next(e for e in harness.events if isinstance(e, ModelRequestSent))
    assert sent.sources == (Source("prompt", "turn 1"), Source("instructions", "AGENTS.md"))


def test_secrets_in_tool_output_are_redacted_before_the_prompt(harness: Harness) -> None:
    (harness.workspace / "deploy.sh").write_text(
        f"export AWS_ACCESS_KEY_ID={AWS_ID}\nexport AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n")
    harness.model.add([call("read_file", path="deploy.sh")], "Seen.")
    harness.make().run("read deploy.sh")
    tool_text = harness.model.requests[1].messages[-1].content
    assert AWS_ID not in tool_text and AWS_SECRET not in tool_text
    assert "[REDACTED:aws-access-key-id:1]" in tool_text
    assert all(AWS_SECRET not in body.decode() for body in harness.model.bodies)
    redacted = [e for e in harness.events if isinstance(e, SecretsRedacted)]
    assert [r.kind for r in redacted[0].redactions] == ["aws-access-key-id",
                                                        "aws-secret-access-key"]
    last_request = [e for e in harness.events if isinstance(e, ModelRequestSent)][-1]
    assert last_request.redactions == redacted[0].redactions
    assert Redaction("aws-access-key-id", "[REDACTED:aws-access-key-id:1]", "tool:call_1", 1) \
        in last_request.redactions


def test_an_edit_writing_a_placeholder_is_refused(harness: Harness) -> None:
    (harness.workspace / ".env.example").write_text("KEY=x\n")
    harness.model.add([call("edit_file", path=".env.example", old_string="KEY=x",
                            new_string="KEY=[REDACTED:generic-secret:1]")], "ok")
    harness.make(mode="accept-edits").run("fix")
    answer = harness.model.requests[1].messages[-1].content
    assert answer.startswith("Error: Refused: the text contains a redaction placeholder")
    assert (harness.workspace / ".env.example").read_text() == "KEY=x\n"


def test_headless_ask_is_denied_and_recorded(harness: Harness) -> None:
    harness.model.add([call("bash", command="touch x")], "ok")
    agent = harness.make()
    agent.run("make x")
    decided = [e for e in harness.events if isinstance(e, PermissionDecided)]
    assert [(d.decision, d.decided_by, d.layer) for d in decided] == [("deny", "headless", "mode")]
    assert not (harness.workspace / "x").exists()
    assert [d.tool_name for d in agent.totals.denials] == ["bash"]


def test_the_wait_for_a_person_is_recorded_apart_from_the_tools_time(harness: Harness) -> None:
    now = [100.0]

    class SlowPerson:
        def approve(self, request: ApprovalRequest) -> Approval:
            now[0] += 42.5  # the person reads the diff for 42.5 s
            return Approval(True, "once", who="dev")

    harness.model.add([call("write_file", path="notes.txt", content="hi\n")], "ok")
    harness.make(approver=SlowPerson(), clock=lambda: now[0]).run("write notes")
    decided = next(e for e in harness.events if isinstance(e, PermissionDecided))
    finished = next(e for e in harness.events if isinstance(e, ToolCallFinished))
    assert (decided.decided_by, decided.who, decided.wait_ms) == ("user", "dev", 42500.0)
    assert finished.ok and finished.duration_ms == 0.0


def test_allow_rule_runs_the_command(harness: Harness) -> None:
    harness.model.add([call("bash", command="touch x")], "ok")
    harness.make(allow=["Bash(touch *)"]).run("make x")
    assert (harness.workspace / "x").exists()
    finished = [e for e in harness.events if isinstance(e, ToolCallFinished)]
    assert (finished[0].ok, finished[0].exit_code, finished[0].sandbox) == (True, 0, "none")


def test_long_output_is_cut_with_a_hint(harness: Harness) -> None:
    (harness.workspace / "big.txt").write_text("".join(f"line {i}\n" for i in range(3000)))
    harness.model.add([call("read_file", path="big.txt")], "ok")
    harness.make(config=AgentConfig(tool_output_chars=2000)).run("read")
    content = harness.model.requests[1].messages[-1].content
    assert len(content) < 2300
    assert "characters" in content and "cut from the middle of this output" in content
    finished = next(e for e in harness.events if isinstance(e, ToolCallFinished))
    assert finished.truncated and finished.output_bytes > 20_000


def test_max_turns(harness: Harness) -> None:
    harness.model.add([call("list_files")], [call("list_files")])
    with pytest.raises(MaxTurnsReached):
        harness.make(config=AgentConfig(max_turns=2)).run("loop")


def test_compaction_near_the_window(harness: Harness) -> None:
    (harness.workspace / "f.txt").write_text(("word " * 20 + "\n") * 100)
    # Three reads pass 80% of the window: the fourth request is the summary.
    harness.model.add(*[[call("read_file", path="f.txt")] for _ in range(3)])
    harness.model.add("Summary: read f.txt three times.", "Done.")
    config = AgentConfig(context_window=11_000, max_output_tokens=1000, compact_at=0.8)
    agent = harness.make(config=config)
    agent.run("read it a lot")
    compactions = [e for e in harness.events if isinstance(e, ContextCompacted)]
    assert len(compactions) == 1
    assert compactions[0].summary == "Summary: read f.txt three times."
    assert compactions[0].tokens_after < compactions[0].tokens_before
    summary_request: ModelRequest = harness.model.requests[3]
    assert "The conversation is about to be shortened" in summary_request.messages[-1].content
    after = harness.model.requests[4].messages
    assert after[0] == harness.model.requests[0].messages[0]  # the system prompt is kept
    assert "<summary-of-earlier-work>\nSummary: read f.txt three times.\n" in after[1].content
    assert after[2].role == "assistant"
    assert harness.recorder.replaced == 1


def test_prompts_are_append_only_between_steps(harness: Harness) -> None:
    (harness.workspace / "a.py").write_text("x = 1\n")
    harness.model.add([call("read_file", path="a.py")], [call("grep", pattern="x")], "ok")
    harness.make().run("go")
    bodies = harness.model.bodies
    for previous, current in itertools.pairwise(bodies):
        assert current.startswith(previous[:-2])


def test_ctrl_c_cancels_the_step_and_keeps_a_valid_conversation(harness: Harness) -> None:
    harness.model.add([call("bash", command="sleep 30")])
    agent = harness.make(allow=["Bash(sleep *)"])
    original = agent._ctx.sandbox

    class InterruptedSandbox:
        name = "none"

        def run(self, *args: object, **kwargs: object) -> object:
            raise KeyboardInterrupt

    agent._ctx.sandbox = InterruptedSandbox()  # type: ignore[assignment]
    with pytest.raises(Cancelled):
        agent.run("wait")
    agent._ctx.sandbox = original
    assert isinstance(harness.events[-1], StepCancelled)
    assert harness.recorder.messages[-1] == Message(
        "tool", "Cancelled by the user before it finished.", tool_call_id="call_1")
    assert harness.recorder.flushes >= 1


def test_an_endless_answer_is_cut_with_a_note(harness: Harness) -> None:
    harness.model.add(ModelTurn("blah " * 50, (), Usage(10, 64), "length"))
    result = harness.make(config=AgentConfig(max_output_tokens=64)).run("talk")
    assert result.text.startswith("blah")
    notes = [e.message for e in harness.events if isinstance(e, Notice)]
    assert notes == ["The answer reached the output limit (64 tokens) and was cut off there."]
