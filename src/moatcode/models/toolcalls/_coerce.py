"""Typing the values of XML-style calls, where every value arrives as text.

Qwen3-Coder and GLM write ``<parameter=count>3</parameter>``: the text "3"
may be the number 3 or the file content "3". The tool's JSON schema decides
when we have it; without it, only text that is unmistakably a JSON number,
boolean, null, array or object is converted, and everything else stays text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from moatcode.models.toolcalls._json import JSONError, decode

_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def parameter_schema(
    schemas: Mapping[str, Mapping[str, Any]], tool: str, parameter: str
) -> Mapping[str, Any] | None:
    """The schema of one parameter of one tool, or None when it is not known."""
    tool_schema = schemas.get(tool)
    if not isinstance(tool_schema, Mapping):
        return None
    properties = tool_schema.get("properties")
    if not isinstance(properties, Mapping):
        return None
    schema = properties.get(parameter)
    return schema if isinstance(schema, Mapping) else None


def coerce(raw: str, schema: Mapping[str, Any] | None) -> Any:
    """Turn the text of one XML parameter into the value the tool expects."""
    types = _schema_types(schema) if schema is not None else set()
    if not types:
        return _guess(raw)
    if "string" in types:
        return raw
    text = raw.strip()
    if "null" in types and text == "null":
        return None
    if "boolean" in types and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "integer" in types and _INTEGER.fullmatch(text):
        return int(text)
    if "number" in types and _NUMBER.fullmatch(text):
        return _number(text)
    if types & {"array", "object"} and text[:1] in ("[", "{"):
        try:
            value = decode(text)
        except JSONError:
            return raw
        if ("array" in types and isinstance(value, list)) or (
            "object" in types and isinstance(value, dict)
        ):
            return value
    # Left as text: the tool's argument check then names the real problem.
    return raw


def _guess(raw: str) -> Any:
    text = raw.strip()
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _NUMBER.fullmatch(text):
        return _number(text)
    if text[:1] in ("[", "{"):
        try:
            # Strict JSON only: with no schema to say so, "[draft]" stays text.
            return json.loads(text, parse_constant=_refuse_constant)
        except ValueError:
            return raw
    return raw


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _number(text: str) -> int | float:
    if _INTEGER.fullmatch(text):
        return int(text)
    return float(text)


def _schema_types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {t for t in declared if isinstance(t, str)}
    types: set[str] = set()
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            for option in options:
                if isinstance(option, Mapping):
                    types |= _schema_types(option)
    for value in schema.get("enum", ()) if isinstance(schema.get("enum"), list) else ():
        types.add(_json_type(value))
    return types


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"
