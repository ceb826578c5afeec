"""Reading a decoded JSON value as a call: which keys name the tool and its arguments.

Models spell a call many ways: ``{"name", "arguments"}`` (Hermes, Mistral),
``{"name", "parameters"}`` (Llama 3), ``{"tool", "args"}`` (home-grown
prompts), the OpenAI ``{"type": "function", "function": {...}}`` wrapper, and
``arguments`` given as a JSON *string* holding the object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from moatcode.models.toolcalls._json import JSONError, decode

_NAME_KEYS = ("name", "tool", "tool_name", "function")
_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input")
# Keys a bare call object may carry besides the name and arguments. In strict
# mode anything else means the object is data that merely has a "name" field.
_OTHER_KEYS = frozenset({"id", "type", "call_id", "tool_call_id"})

_CALL_START = re.compile(
    r"""\s*\[?\s*\{\s*(?:["']?(?:name|tool|tool_name|function)["']?\s*(?::|\Z)"""
    r"""|["']type["']\s*:\s*["']function["'])"""
)


_NAME_VALUE = re.compile(
    r"""["']?(?:name|tool|tool_name|function)["']?\s*:\s*["']([^"'\\\n]{1,200})["']"""
)


@dataclass(frozen=True)
class Shape:
    """A call read from an object; ``arguments`` is None when they are unusable."""

    name: str | None
    arguments: dict[str, Any] | None
    reason: str = ""


def looks_like_call(text: str, start: int = 0) -> bool:
    """Whether JSON text at ``start`` opens like a call, for text cut off before it closes."""
    return _CALL_START.match(text, start) is not None


def guess_name(text: str) -> str | None:
    """The tool name in JSON text that could not be read whole, for the error message."""
    match = _NAME_VALUE.search(text)
    return match.group(1).strip() if match else None


def read_call(value: Any, *, strict: bool) -> Shape | None:
    """Read one call object, or None when ``value`` is not shaped like a call.

    ``strict`` is for JSON found loose in prose or a code fence: there the
    object must name its arguments and carry no unrelated keys, so that data
    such as ``{"name": "Ada", "age": 36}`` is never taken for a call.
    """
    if not isinstance(value, dict):
        return None
    inner = value.get("function")
    if isinstance(inner, dict):
        if strict and not set(value) <= _OTHER_KEYS | {"function"}:
            return None
        return read_call(inner, strict=strict)
    name_key = next((key for key in _NAME_KEYS if key in value), None)
    if name_key is None:
        return None
    args_key = next((key for key in _ARGUMENT_KEYS if key in value), None)
    if strict and (args_key is None or not set(value) <= _OTHER_KEYS | {name_key, args_key}):
        return None
    name = value[name_key]
    if not isinstance(name, str) or not name.strip():
        return Shape(None, None, "the tool name is not a non-empty string")
    name = name.strip()
    arguments, reason = _read_arguments(value.get(args_key) if args_key else None)
    return Shape(name, arguments, reason)


def read_calls(value: Any, *, strict: bool) -> list[Shape] | None:
    """Read one call or a non-empty list of them; None when it is not calls."""
    if isinstance(value, list):
        if not value:
            return None
        shapes = [read_call(item, strict=strict) for item in value]
        if any(shape is None for shape in shapes):
            return None
        return [shape for shape in shapes if shape is not None]
    shape = read_call(value, strict=strict)
    return None if shape is None else [shape]


def read_arguments_text(text: str) -> tuple[dict[str, Any] | None, str]:
    """Read arguments written as JSON text; the reason is empty on success."""
    if not text.strip():
        return {}, ""
    try:
        value = decode(text)
    except JSONError as exc:
        if exc.truncated:
            return None, "the arguments are cut off before their JSON closes"
        return None, f"the arguments are not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"the arguments are a JSON {_kind(value)}, not an object"
    return value, ""


def _read_arguments(value: Any) -> tuple[dict[str, Any] | None, str]:
    if value is None:
        return {}, ""
    if isinstance(value, dict):
        return value, ""
    if isinstance(value, str):
        return read_arguments_text(value)
    return None, f"the arguments are a JSON {_kind(value)}, not an object"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"
