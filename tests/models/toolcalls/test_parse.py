"""The entry point against the corpus: whole results, cut-off calls, look-alikes, speed."""

from __future__ import annotations

import time

import pytest

from moatcode.models.toolcalls._thinking import split_thinking
from moatcode.models.toolcalls.parse import MalformedCall, ParsedCall, ParseResult, parse_tool_calls
from tests.models.toolcalls.corpus import CASES, CUTS, READ_A, Case, Cut


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corpus_case(case: Case) -> None:
    result = parse_tool_calls(case.content, case.reasoning, case.offered, case.schemas)

    assert result == ParseResult(case.calls, case.malformed, case.text, case.fmt)


PREFIX_STABLE = [case for case in CASES if case.prefix_stable]


@pytest.mark.parametrize("case", PREFIX_STABLE, ids=[case.id for case in PREFIX_STABLE])
def test_every_prefix_reads_only_calls_the_whole_text_has(case: Case) -> None:
    # A stream can stop anywhere; whatever was read from the part that came
    # must be the leading calls of the whole message, never a changed one.
    # (Cut inside thinking, a call the model drafted there stands on its own:
    # the thinking rules decide, see the tests below.)
    for cut in range(len(case.content)):
        prefix = case.content[:cut]
        if split_thinking(prefix).unfinished:
            continue
        result = parse_tool_calls(prefix, case.reasoning, case.offered, case.schemas)
        assert result.calls == case.calls[: len(result.calls)], (cut, prefix)


def test_a_call_in_closed_thinking_counts_until_one_outside_arrives() -> None:
    # The one corpus case whose prefixes may read another call than the whole text:
    # cut right after the thinking, the drafted call is all there is. Such an answer
    # ended at the output limit, and TextToolCalls never runs calls from those.
    [case] = [case for case in CASES if not case.prefix_stable]
    thinking_end = case.content.index("</think>") + len("</think>")
    cut = parse_tool_calls(case.content[:thinking_end], case.reasoning, case.offered)
    assert [c.arguments for c in cut.calls] != [c.arguments for c in case.calls]
    assert parse_tool_calls(case.content, case.reasoning, case.offered).calls == case.calls


@pytest.mark.parametrize("cut", CUTS, ids=[cut.id for cut in CUTS])
def test_a_call_cut_off_anywhere_is_malformed_never_parsed(cut: Cut) -> None:
    opened = cut.content.index(cut.opens) + len(cut.opens)
    closed = cut.content.rindex(cut.closes) + len(cut.closes)
    for end in range(opened, closed):
        prefix = cut.content[:end]
        result = _parse(cut, prefix)
        assert result.calls == (), (end, prefix)
        assert len(result.malformed) == 1, (end, prefix)
        assert result.malformed[0].raw in prefix
        assert result.malformed[0].reason


@pytest.mark.parametrize("cut", CUTS, ids=[cut.id for cut in CUTS])
def test_a_cut_call_is_read_once_it_closes(cut: Cut) -> None:
    closed = cut.content.rindex(cut.closes) + len(cut.closes)

    assert _parse(cut, cut.content[:closed]).calls == (cut.call,)
    assert _parse(cut, cut.content).calls == (cut.call,)


def _parse(cut: Cut, text: str) -> ParseResult:
    if cut.in_reasoning:
        return parse_tool_calls("", text)
    return parse_tool_calls(text)


def test_corpus_covers_every_family() -> None:
    families = {case.family for case in CASES} | {cut.family for cut in CUTS}

    assert families >= {
        "hermes",
        "qwen3_coder",
        "glm",
        "llama3",
        "mistral",
        "deepseek",
        "harmony",
        "fenced",
        "none",
        "mixed",
    }
    assert {cut.family for cut in CUTS} == families - {"none", "mixed"}


def test_a_second_call_cut_off_keeps_the_first() -> None:
    first = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>\n'
    second = '<tool_call>\n{"name": "write_file", "arguments": {"path": "b.py", "content": "x'

    result = parse_tool_calls(first + second)

    assert result == ParseResult(
        (READ_A,),
        (MalformedCall("write_file", second, "cut off before </tool_call>"),),
        "",
        "hermes",
    )


def test_a_draft_in_closed_thinking_is_ignored_but_a_cut_at_the_end_is_reported() -> None:
    draft = '<think>I could <tool_call>\n{"name": "read_file"</think>\n\nDone.'
    cut = '<think>Reading.\n<tool_call>\n{"name": "read_file", "arguments": {"pa'

    assert parse_tool_calls(draft) == ParseResult((), (), "Done.", None)
    assert parse_tool_calls(cut) == ParseResult(
        (),
        (
            MalformedCall(
                "read_file",
                '<tool_call>\n{"name": "read_file", "arguments": {"pa',
                "cut off before </tool_call>",
            ),
        ),
        "",
        "hermes",
    )


def test_reasoning_is_searched_only_when_the_content_has_no_call() -> None:
    content = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'
    reasoning = '<tool_call>\n{"name": "grep", "arguments": {"pattern": "x"}}\n</tool_call>'

    assert parse_tool_calls(content, reasoning).calls == (READ_A,)


def test_offered_tools_accept_the_name_exactly() -> None:
    content = '<tool_call>\n{"name": "Read_File", "arguments": {"path": "a.py"}}\n</tool_call>'

    result = parse_tool_calls(content, offered={"read_file"})

    assert result.calls == ()
    assert result.malformed == (
        MalformedCall(
            "Read_File", content, "'Read_File' is not one of the tools offered here (read_file)"
        ),
    )


def test_text_without_calls_is_returned_exactly() -> None:
    content = '  Two spaces, then code:\n\n```json\n{"a": 1}\n```\n\n\n'

    assert parse_tool_calls(content) == ParseResult((), (), content, None)


def test_a_large_message_parses_in_milliseconds() -> None:
    code = "".join(
        f'    x{i} = {{"k": "{i}\\\\n", "v": [1, 2, 3]}}  # <tool_call> {i}\n' for i in range(1500)
    )
    prose = "Here is the plan. " * 300
    content = (
        f"<think>{prose}</think>\n{prose}\n"
        "<tool_call>\n<function=write_file>\n<parameter=path>\nbig.py\n</parameter>\n"
        f"<parameter=content>\n{code}\n</parameter>\n</function>\n</tool_call>"
    )
    assert len(content) > 100_000

    started = time.perf_counter()
    result = parse_tool_calls(content)
    elapsed = time.perf_counter() - started

    assert result.calls == (ParsedCall("write_file", {"path": "big.py", "content": code}),)
    # Measured at a few milliseconds; the bound leaves room for a busy machine.
    assert elapsed < 0.25


@pytest.mark.parametrize(
    "content",
    [
        "{" * 5000,
        "[" * 100_000,
        '{"name": "x", "arguments": ' + "[" * 50_000,
        "<tool_call>\n" + "{" * 50_000,
        "\n".join(f"{{ not json at all, line {i}" for i in range(5000)),
        "```json\n" + '{"name": "a", "arguments": {"k": "' + "x" * 100_000,
        "<tool_call>" * 20_000,
        "[TOOL_CALLS]" * 10_000,
        "to=functions.x <|channel|>" * 5000,
    ],
    ids=[
        "braces",
        "brackets",
        "deep-call",
        "tag-deep",
        "js-lines",
        "long-string",
        "tags",
        "mistral",
        "harmony",
    ],
)
def test_hostile_text_is_fast_and_never_a_call(content: str) -> None:
    started = time.perf_counter()
    result = parse_tool_calls(content)
    elapsed = time.perf_counter() - started

    assert result.calls == ()
    assert elapsed < 1.0
