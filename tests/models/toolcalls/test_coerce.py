"""Typing XML parameter text: by the schema when known, only the unmistakable otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from moatcode.models.toolcalls._coerce import coerce, parameter_schema


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("0.25", 0.25),
        ("1e3", 1000.0),
        (" 42\n", 42),
        ("true", True),
        ("false", False),
        ("null", None),
        ('["a", 1]', ["a", 1]),
        ('{"k": [true]}', {"k": [True]}),
        ("007", "007"),
        ("+1", "+1"),
        ("1_000", "1_000"),
        ("True", "True"),
        ("NaN", "NaN"),
        ("[draft]", "[draft]"),
        ("{not json}", "{not json}"),
        ("[NaN]", "[NaN]"),
        ("src/app.py", "src/app.py"),
        ("", ""),
    ],
)
def test_without_a_schema_only_json_literals_are_converted(raw: str, value: Any) -> None:
    assert coerce(raw, None) == value
    assert type(coerce(raw, None)) is type(value)


@pytest.mark.parametrize(
    ("raw", "schema", "value"),
    [
        ("123", {"type": "string"}, "123"),
        ("true", {"type": "string"}, "true"),
        (" padded \n", {"type": "string"}, " padded \n"),
        ("12", {"type": ["string", "integer"]}, "12"),
        ("12", {"anyOf": [{"type": "integer"}, {"type": "null"}]}, 12),
        ("null", {"type": ["integer", "null"]}, None),
        ("3", {"type": "number"}, 3),
        ("3.5", {"type": "integer"}, "3.5"),
        ("True", {"type": "boolean"}, True),
        ("FALSE", {"type": "boolean"}, False),
        ("yes", {"type": "boolean"}, "yes"),
        ("['a', 'b',]", {"type": "array"}, ["a", "b"]),
        ('{"a": 1}', {"type": "array"}, '{"a": 1}'),
        ("{'deep': True}", {"type": "object"}, {"deep": True}),
        ("fast", {"enum": ["fast", "slow"]}, "fast"),
        ("2", {"enum": [1, 2, 3]}, 2),
        ("42", {"description": "no type given"}, 42),
    ],
)
def test_the_schema_decides(raw: str, schema: Mapping[str, Any], value: Any) -> None:
    assert coerce(raw, schema) == value
    assert type(coerce(raw, schema)) is type(value)


def test_parameter_schema_is_found_by_tool_and_name() -> None:
    schemas = {"read_file": {"type": "object", "properties": {"path": {"type": "string"}}}}

    assert parameter_schema(schemas, "read_file", "path") == {"type": "string"}
    assert parameter_schema(schemas, "read_file", "offset") is None
    assert parameter_schema(schemas, "grep", "path") is None
    assert parameter_schema({"odd": {"properties": []}}, "odd", "x") is None
