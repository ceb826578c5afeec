"""Separating thinking from the answer when both arrive in the content."""

from __future__ import annotations

import pytest

from moatcode.models.toolcalls._thinking import Split, split_thinking


@pytest.mark.parametrize(
    ("content", "split"),
    [
        ("Just an answer.", Split("Just an answer.", "")),
        ("<think>\nplan\n</think>\n\nanswer", Split("\n\nanswer", "plan")),
        ("  <thinking>a</thinking><think>b</think>answer", Split("answer", "a\n\nb")),
        ("[THINK]plan[/THINK]answer", Split("answer", "plan")),
        ("<think>still going", Split("", "still going", unfinished=True)),
        ("opened by the template</think>\nanswer", Split("\nanswer", "opened by the template")),
        (
            "<|channel|>analysis<|message|>plan<|end|><|start|>assistant<|channel|>final"
            "<|message|>answer<|return|>",
            Split("<|start|>assistant<|channel|>final<|message|>answer<|return|>", "plan"),
        ),
        ("<|channel|>analysis<|message|>cut", Split("", "cut", unfinished=True)),
    ],
    ids=[
        "none",
        "think",
        "several-blocks",
        "magistral",
        "unclosed",
        "lone-close",
        "harmony-analysis",
        "harmony-unfinished",
    ],
)
def test_thinking_is_split_off(content: str, split: Split) -> None:
    assert split_thinking(content) == split


def test_a_think_tag_later_in_the_answer_is_text() -> None:
    content = "Use <think>tags</think> like this."

    assert split_thinking(content) == Split(content, "")


def test_a_lone_close_after_call_markup_is_part_of_the_call() -> None:
    content = '<tool_call>\n<function=write_file>\n<parameter=content>\nx = "</think>"\n'

    assert split_thinking(content) == Split(content, "")


def test_a_lone_close_glued_to_more_text_is_text() -> None:
    content = '{"name": "write_file", "parameters": {"text": "</think>"}}'

    assert split_thinking(content) == Split(content, "")
