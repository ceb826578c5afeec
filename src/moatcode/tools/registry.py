"""The tools Moat offers, and the checks every call passes before it runs.

``ToolRegistry.prepare`` turns a model's raw call into validated arguments or a
message for the model saying exactly what was wrong: an unknown tool, arguments
that are not a JSON object, a missing or mistyped parameter.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from moatcode.tools.base import Tool
from moatcode.types import ToolCall, ToolSpec

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


@dataclass(frozen=True)
class Prepared:
    tool: Tool
    args: dict[str, Any]


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(ToolSpec(t.name, t.description, dict(t.parameters))
                     for t in self._tools.values())

    def prepare(self, call: ToolCall) -> Prepared | str:
        """Validated arguments, or a sentence telling the model what to fix."""
        if call.invalid:
            return (f"Your tool call could not be run: {call.invalid}. Send the call again, "
                    "complete and well-formed.")
        tool = self._tools.get(call.name)
        if tool is None:
            return (f"There is no tool named {call.name!r}. Available tools: "
                    f"{', '.join(self._tools)}.")
        raw = call.arguments.strip() or "{}"
        try:
            args = json.loads(raw)
        except json.JSONDecodeError as exc:
            return (f"The arguments for {call.name} are not valid JSON ({exc.msg} at "
                    f"position {exc.pos}); send them again as one JSON object.")
        if isinstance(args, str):
            # Some models double-encode the arguments as a JSON string.
            with contextlib.suppress(ValueError):
                args = json.loads(args)
        if not isinstance(args, dict):
            kind = type(args).__name__
            return f"The arguments for {call.name} must be a JSON object, not {kind}."
        problem = check_arguments(tool.parameters, args)
        if problem:
            return f"Invalid arguments for {call.name}: {problem}."
        return Prepared(tool, args)


def check_arguments(schema: Mapping[str, Any], args: Mapping[str, Any]) -> str:
    """The first way ``args`` breaks the tool's schema, or an empty string."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    missing = [name for name in schema.get("required", []) if name not in args]
    if missing:
        return f"missing required parameter {', '.join(repr(m) for m in missing)}"
    unknown = [name for name in args if name not in properties]
    if unknown:
        return (f"unknown parameter {', '.join(repr(u) for u in unknown)} (expected: "
                f"{', '.join(properties)})")
    for name, value in args.items():
        expected = properties[name].get("type")
        if expected is None or (value is None and name not in schema.get("required", [])):
            continue
        types = _JSON_TYPES.get(expected, (object,))
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            return f"parameter {name!r} must be a {expected}, not {type(value).__name__}"
        enum = properties[name].get("enum")
        if enum and value not in enum:
            return f"parameter {name!r} must be one of {', '.join(map(str, enum))}"
        minimum = properties[name].get("minimum")
        if minimum is not None and isinstance(value, int | float) and value < minimum:
            return f"parameter {name!r} must be at least {minimum}"
        maximum = properties[name].get("maximum")
        if maximum is not None and isinstance(value, int | float) and value > maximum:
            return f"parameter {name!r} must be at most {maximum}"
    return ""


def create_default_tools() -> list[Tool]:
    from moatcode.tools.bash import BashTool
    from moatcode.tools.edit_file import EditFileTool
    from moatcode.tools.glob import GlobTool
    from moatcode.tools.grep import GrepTool
    from moatcode.tools.list_files import ListFilesTool
    from moatcode.tools.read_file import ReadFileTool
    from moatcode.tools.todo import TodoTool
    from moatcode.tools.write_file import WriteFileTool

    return [ReadFileTool(), EditFileTool(), WriteFileTool(), ListFilesTool(), GlobTool(),
            GrepTool(), BashTool(), TodoTool()]
