"""The plain-text call format Moat asks of models that have no tool calling.

It is the Qwen3-Coder form::

    <tool_call>
    <function=edit_file>
    <parameter=path>
    src/app.py
    </parameter>
    <parameter=new_text>
    print("it's \\"quoted\\" and C:\\\\path")
    </parameter>
    </function>
    </tool_call>

Chosen because a small model gets it right: values are written as they are,
so multi-line code with quotes and backslashes needs no JSON escaping (the
commonest way small models break JSON calls), every part has an explicit
closing tag (so a cut-off call is recognisable), and many open models were
trained on it. ``parse_tool_calls`` reads it back (as ``qwen3_coder``), typing
values by the tool's schema.

Two things cannot be said in it: a value containing ``</parameter>``
followed (after blanks) by ``<parameter=``, ``</function>`` or
``</tool_call>``; and a value that holds a line of just ``<parameter=NAME>``
but no ``</parameter>``, which reads as a model forgetting to close the
value before the next one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from moatcode.types import ToolSpec

_INSTRUCTIONS = """\
# Tools

You can call tools. To call one, write exactly this, with nothing else on those lines:

<tool_call>
<function=TOOL_NAME>
<parameter=PARAMETER_NAME>
value
</parameter>
</function>
</tool_call>

- Write one parameter block for each parameter you give.
- Write each value exactly as it should be, over as many lines as it needs: \
no quotes around it, no escaping.
- Write numbers and true/false plainly; write lists and objects as JSON, e.g. ["a", "b"].
- Leave out optional parameters you do not need.
- You may write several tool_call blocks in a row. After your last one, stop: \
the results come back in the next message, each in <tool_response> tags.
- Write a tool_call block only to call the tool: never inside a code fence, never as an example.

Available tools:"""


def render_tool_instructions(tools: Sequence[ToolSpec]) -> str:
    """The system-prompt section that teaches the format and lists the tools."""
    sections = [_INSTRUCTIONS]
    for tool in tools:
        sections.append(_render_tool(tool))
    return "\n\n".join(sections) + "\n"


def render_call(name: str, arguments: Mapping[str, Any]) -> str:
    """A call in the format, for replaying an earlier call in the conversation."""
    lines = ["<tool_call>", f"<function={name}>"]
    for key, value in arguments.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines += [f"<parameter={key}>", text, "</parameter>"]
    lines += ["</function>", "</tool_call>"]
    return "\n".join(lines)


def render_tool_result(output: str, *, ok: bool = True) -> str:
    """A tool's result, as the model is told to expect it."""
    status = "" if ok else ' status="error"'
    return f"<tool_response{status}>\n{output}\n</tool_response>"


def _render_tool(tool: ToolSpec) -> str:
    lines = [f"## {tool.name}", tool.description.strip()]
    properties = tool.parameters.get("properties")
    if isinstance(properties, Mapping) and properties:
        required = tool.parameters.get("required")
        required_names = set(required) if isinstance(required, list) else set()
        lines.append("Parameters:")
        for name, schema in properties.items():
            lines.append(_render_parameter(name, schema, name in required_names))
    else:
        lines.append("No parameters.")
    return "\n".join(lines)


def _render_parameter(name: str, schema: Any, required: bool) -> str:
    schema = schema if isinstance(schema, Mapping) else {}
    facts = [_type_name(schema)]
    if required:
        facts.append("required")
    line = f"- {name} ({', '.join(facts)})"
    description = str(schema.get("description", "")).strip()
    if description:
        line += f": {description}"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        choices = ", ".join(json.dumps(v, ensure_ascii=False) for v in enum)
        line += f" One of: {choices}."
    return line


def _type_name(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        return " or ".join(str(t) for t in declared)
    if declared == "array":
        items = schema.get("items")
        if isinstance(items, Mapping) and "type" in items:
            return f"array of {_type_name(items)}"
        return "array"
    if isinstance(declared, str):
        return declared
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        names = [_type_name(o) for o in options if isinstance(o, Mapping)]
        return " or ".join(names) if names else "any"
    return "any"
