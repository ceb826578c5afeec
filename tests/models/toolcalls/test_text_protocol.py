"""Moat's own text protocol: the instructions, and calls that read back as written."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from moatcode.models.toolcalls.parse import ParsedCall, ParseResult, parse_tool_calls
from moatcode.models.toolcalls.text_protocol import (
    render_call,
    render_tool_instructions,
    render_tool_result,
)
from moatcode.types import ToolSpec

READ = ToolSpec(
    "read_file",
    "Read a text file.",
    {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Relative to the workspace."},
            "offset": {"type": "integer"},
            "mode": {"type": "string", "enum": ["text", "hex"]},
            "globs": {"type": "array", "items": {"type": "string"}},
            "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
        "required": ["path"],
    },
)
TODOS = ToolSpec("list_todos", "Show the todo list.", {"type": "object", "properties": {}})


def test_instructions_teach_the_format_and_list_every_tool() -> None:
    text = render_tool_instructions([READ, TODOS])

    tools_part = text[text.index("Available tools:") :]
    assert tools_part == (
        "Available tools:\n\n"
        "## read_file\n"
        "Read a text file.\n"
        "Parameters:\n"
        "- path (string, required): Relative to the workspace.\n"
        "- offset (integer)\n"
        '- mode (string) One of: "text", "hex".\n'
        "- globs (array of string)\n"
        "- limit (integer or null)\n\n"
        "## list_todos\n"
        "Show the todo list.\n"
        "No parameters.\n"
    )
    # The example in the instructions is itself a call in the format.
    example = text[text.index("<tool_call>") : text.index("</tool_call>") + len("</tool_call>")]
    assert parse_tool_calls(example).calls == (
        ParsedCall("TOOL_NAME", {"PARAMETER_NAME": "value"}),
    )


def test_a_rendered_call_reads_back_with_its_types() -> None:
    arguments = {"path": "123", "offset": 40, "mode": "hex", "globs": ["*.py"], "limit": None}
    schemas = {"read_file": READ.parameters}

    result = parse_tool_calls(render_call("read_file", arguments), schemas=schemas)

    assert result == ParseResult((ParsedCall("read_file", arguments),), (), "", "qwen3_coder")


# Pieces of other calls and of this format, to build values that quote them.
_FRAGMENTS = (
    "<tool_call>",
    "</tool_call>",
    "<function=x>",
    "</function>",
    "<parameter=y>",
    "</parameter>",
    "\n",
    " ",
    '"',
    "\\",
    "[TOOL_CALLS]x[ARGS]{}",
    "<think>",
    "</think>",
    "```json\n",
    '{"name": "x", "arguments": {}}',
    "<|channel|>commentary to=functions.x <|message|>{}",
    "<｜tool▁call▁begin｜>",
    "<|python_tag|>",
    "<arg_key>",
)
_TEXT = st.lists(
    st.sampled_from(_FRAGMENTS) | st.text(st.characters(codec="utf-8"), max_size=4),
    max_size=12,
).map("".join)


def _sayable(value: str) -> bool:
    """What the format cannot say (see text_protocol's docstring)."""
    ends_early = re.search(r"</parameter>\s*(<parameter=|</function>|</tool_call>)", value)
    lines = f"\n{value}\n"
    drops_close = "</parameter>" not in value and re.search(r"\n<parameter=[^>\n]*>\n", lines)
    return not ends_early and not drops_close


_PLAIN = st.none() | st.booleans() | st.integers() | st.lists(st.integers(), max_size=3)
_KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)


@given(st.dictionaries(_KEYS, _TEXT, max_size=4), st.dictionaries(_KEYS, _PLAIN, max_size=3))
def test_any_text_survives_the_round_trip(texts: dict[str, str], plain: dict[str, Any]) -> None:
    assume(all(_sayable(text) for text in texts.values()))
    arguments = {**plain, **texts}
    schema = {"properties": {key: {"type": "string"} for key in texts}}

    result = parse_tool_calls(render_call("tool", arguments), schemas={"tool": schema})

    assert result.calls == (ParsedCall("tool", arguments),)
    assert result.malformed == ()


def test_a_result_is_wrapped_for_the_model() -> None:
    assert render_tool_result("3 files") == "<tool_response>\n3 files\n</tool_response>"
    assert render_tool_result("no such file", ok=False) == (
        '<tool_response status="error">\nno such file\n</tool_response>'
    )
