"""The corpus: model output in every family's format, and what must be read from it.

Written by hand from the families' chat templates and tool-parser docs, with
the habits real models add (thinking first, prose around the call, Python
literals, code with quotes and backslashes). ``CASES`` give the whole expected
``ParseResult``; ``CUTS`` are single calls used to check that every cut-off
prefix is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moatcode.models.toolcalls.parse import MalformedCall, ParsedCall

DS_CALLS = "<｜tool▁calls▁begin｜>"
DS_CALL = "<｜tool▁call▁begin｜>"
DS_SEP = "<｜tool▁sep｜>"
DS_END = "<｜tool▁call▁end｜>"
DS_CALLS_END = "<｜tool▁calls▁end｜>"

READ_A = ParsedCall("read_file", {"path": "a.py"})
READ_B = ParsedCall("read_file", {"path": "b.py"})
GREP = ParsedCall("grep", {"pattern": r"def \w+\(", "path": "src"})

# Code with everything JSON makes hard: quotes, backslashes, a tab, a blank line.
CODE = (
    'import re\n\nPATTERN = re.compile(r"\\d+\\.\\d+")\n'
    'print("it\'s \\"done\\"")\n\tpath = "C:\\\\tmp"\n'
)

SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "write_file": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
    },
    "read_file": {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "offset": {"type": "integer"},
            "limit": {"type": ["integer", "null"]},
        },
    },
    "grep": {
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "globs": {"type": "array", "items": {"type": "string"}},
            "ignore_case": {"type": "boolean"},
        },
    },
}


@dataclass(frozen=True)
class Case:
    id: str
    content: str
    fmt: str | None
    calls: tuple[ParsedCall, ...] = ()
    malformed: tuple[MalformedCall, ...] = ()
    text: str = ""
    reasoning: str = ""
    offered: tuple[str, ...] = ()
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # False when a prefix may rightly read a call the whole text does not:
    # a call in closed thinking counts until a call outside it arrives.
    prefix_stable: bool = True

    @property
    def family(self) -> str:
        return self.id.split("/")[0]


def _qwen(name: str, **params: str) -> str:
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


_EXPLANATION = (
    'The config looks like this:\n```json\n{"name": "moat", "version": "0.1.0"}\n```\n'
    "and a schema:\n```json\n"
    '{"type": "object", "properties": {"name": {"type": "string"}}}\n```'
)
_PYTHON_EXAMPLE = (
    "A test for the parser:\n```python\ndef test_call():\n    call = (\n"
    '{"name": "read_file", "arguments": {"path": "a.py"}}\n    )\n```'
)
_HERMES_READ_A = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'
_HERMES_READ_B = '<tool_call>\n{"name": "read_file", "arguments": {"path": "b.py"}}\n</tool_call>'

CASES: tuple[Case, ...] = (
    # ---- Hermes / Qwen2.5: <tool_call>{json}</tool_call>
    Case("hermes/single", _HERMES_READ_A, "hermes", (READ_A,)),
    Case("hermes/two-calls", _HERMES_READ_A + "\n" + _HERMES_READ_B, "hermes", (READ_A, READ_B)),
    Case(
        "hermes/prose-around",
        "I'll read it first.\n\n" + _HERMES_READ_A + "\n\nThen I'll fix the bug.",
        "hermes",
        (READ_A,),
        text="I'll read it first.\n\nThen I'll fix the bug.",
    ),
    Case(
        "hermes/python-literals-single-quotes-trailing-commas",
        "<tool_call>\n{'name': 'read_file', 'arguments': {'path': 'a.py', 'all': True,"
        " 'limit': None, 'raw': False,},}\n</tool_call>",
        "hermes",
        (ParsedCall("read_file", {"path": "a.py", "all": True, "limit": None, "raw": False}),),
    ),
    Case(
        "hermes/arguments-as-json-string",
        '<tool_call>\n{"name": "grep", "arguments": "{\\"pattern\\": \\"def \\\\\\\\w+\\\\\\\\(\\",'
        ' \\"path\\": \\"src\\"}"}\n</tool_call>',
        "hermes",
        (GREP,),
    ),
    Case(
        "hermes/parameters-key",
        '<tool_call>\n{"name": "read_file", "parameters": {"path": "a.py"}}\n</tool_call>',
        "hermes",
        (READ_A,),
    ),
    Case(
        "hermes/openai-function-wrapper",
        '<tool_call>\n{"type": "function", "function": {"name": "read_file",'
        ' "arguments": "{\\"path\\": \\"a.py\\"}"}}\n</tool_call>',
        "hermes",
        (READ_A,),
    ),
    Case(
        "hermes/list-in-one-tag",
        '<tool_call>\n[{"name": "read_file", "arguments": {"path": "a.py"}},'
        ' {"name": "read_file", "arguments": {"path": "b.py"}}]\n</tool_call>',
        "hermes",
        (READ_A, READ_B),
    ),
    Case(
        "hermes/two-objects-in-one-tag",
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n'
        '{"name": "read_file", "arguments": {"path": "b.py"}}\n</tool_call>',
        "hermes",
        (READ_A, READ_B),
    ),
    Case(
        "hermes/multiline-code-escapes",
        '<tool_call>\n{"name": "write_file", "arguments": {"path": "m.py", "content": '
        '"import re\\n\\nPATTERN = re.compile(r\\"\\\\d+\\\\.\\\\d+\\")\\nprint(\\"it\'s '
        '\\\\\\"done\\\\\\"\\")\\n\\tpath = \\"C:\\\\\\\\tmp\\"\\n"}}\n</tool_call>',
        "hermes",
        (ParsedCall("write_file", {"path": "m.py", "content": CODE}),),
    ),
    Case(
        "hermes/raw-newlines-and-bad-escapes",
        '<tool_call>\n{"name": "grep", "arguments": {"pattern": "def \\w+\\(", '
        '"path": "src"}}\n</tool_call>',
        "hermes",
        (GREP,),
    ),
    Case(
        "hermes/unicode",
        '<tool_call>\n{"name": "write_file", "arguments": {"path": "注意.md",'
        ' "content": "Grüße 🌍 \\u00e9\\ud83d\\ude00"}}\n</tool_call>',
        "hermes",
        (ParsedCall("write_file", {"path": "注意.md", "content": "Grüße 🌍 é😀"}),),
    ),
    Case(
        "hermes/think-before",
        "<think>\nThe user wants a.py. I'll read it.\n</think>\n\n" + _HERMES_READ_A,
        "hermes",
        (READ_A,),
    ),
    Case(
        "hermes/inside-think-only",
        "<think>\nI'll read it.\n" + _HERMES_READ_A + "\n</think>\n\nReading a.py now.",
        "hermes",
        (READ_A,),
        text="Reading a.py now.",
    ),
    Case(
        "hermes/outside-wins-over-think",
        "<think>Maybe " + _HERMES_READ_B + " first?</think>\n" + _HERMES_READ_A,
        "hermes",
        (READ_A,),
        prefix_stable=False,
    ),
    Case(
        "hermes/lone-close-think",
        "The template opened the think block.\n</think>\n\n" + _HERMES_READ_A,
        "hermes",
        (READ_A,),
    ),
    Case(
        "hermes/in-reasoning-field",
        "",
        "hermes",
        (READ_A,),
        reasoning="I need the file.\n" + _HERMES_READ_A,
    ),
    Case(
        "hermes/in-reasoning-with-answer-text",
        "Let me check the file.",
        "hermes",
        (READ_A,),
        text="Let me check the file.",
        reasoning="Plan: " + _HERMES_READ_A,
    ),
    Case(
        "hermes/not-offered",
        '<tool_call>\n{"name": "delete_repo", "arguments": {}}\n</tool_call>',
        "hermes",
        malformed=(
            MalformedCall(
                "delete_repo",
                '<tool_call>\n{"name": "delete_repo", "arguments": {}}\n</tool_call>',
                "'delete_repo' is not one of the tools offered here (grep, read_file)",
            ),
        ),
        offered=("read_file", "grep"),
    ),
    Case(
        "hermes/offered-and-not",
        _HERMES_READ_A + '\n<tool_call>\n{"name": "rm", "arguments": {"path": "/"}}\n</tool_call>',
        "hermes",
        (READ_A,),
        (
            MalformedCall(
                "rm",
                '<tool_call>\n{"name": "rm", "arguments": {"path": "/"}}\n</tool_call>',
                "'rm' is not one of the tools offered here (read_file)",
            ),
        ),
        offered=("read_file",),
    ),
    Case(
        "hermes/invalid-json-closed",
        '<tool_call>\n{"name": "read_file", "arguments": {"path": a.py}}\n</tool_call>',
        "hermes",
        malformed=(
            MalformedCall(
                "read_file",
                '<tool_call>\n{"name": "read_file", "arguments": {"path": a.py}}\n</tool_call>',
                "the call is not valid JSON: expected a value, found 'a' at line 1 column 45",
            ),
        ),
    ),
    Case(
        "hermes/complete-json-no-close-tag",
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}',
        "hermes",
        malformed=(
            MalformedCall(
                "read_file",
                '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}',
                "cut off before </tool_call>",
            ),
        ),
    ),
    Case(
        "hermes/arguments-not-object",
        '<tool_call>\n{"name": "read_file", "arguments": ["a.py"]}\n</tool_call>',
        "hermes",
        malformed=(
            MalformedCall(
                "read_file",
                '<tool_call>\n{"name": "read_file", "arguments": ["a.py"]}\n</tool_call>',
                "the arguments are a JSON array, not an object",
            ),
        ),
    ),
    Case(
        "hermes/no-arguments-key",
        '<tool_call>\n{"name": "list_todos"}\n</tool_call>',
        "hermes",
        (ParsedCall("list_todos", {}),),
    ),
    # ---- Qwen3-Coder (and Moat's text protocol): XML parameters
    Case(
        "qwen3_coder/single",
        _qwen("read_file", path="a.py"),
        "qwen3_coder",
        (READ_A,),
    ),
    Case(
        "qwen3_coder/multiline-code-verbatim",
        "Writing the module.\n" + _qwen("write_file", path="m.py", content=CODE),
        "qwen3_coder",
        (ParsedCall("write_file", {"path": "m.py", "content": CODE}),),
        text="Writing the module.",
    ),
    Case(
        "qwen3_coder/strips-exactly-one-newline",
        "<tool_call>\n<function=write_file>\n<parameter=content>\n\n  indented\n\n</parameter>\n"
        "</function>\n</tool_call>",
        "qwen3_coder",
        (ParsedCall("write_file", {"content": "\n  indented\n"}),),
    ),
    Case(
        "qwen3_coder/coerce-without-schema",
        _qwen(
            "search",
            query="needle",
            limit="20",
            ratio="0.5",
            exact="true",
            tags='["a", "b"]',
            opts='{"deep": false}',
            zip="007",
            label="[draft]",
            nothing="null",
        ),
        "qwen3_coder",
        (
            ParsedCall(
                "search",
                {
                    "query": "needle",
                    "limit": 20,
                    "ratio": 0.5,
                    "exact": True,
                    "tags": ["a", "b"],
                    "opts": {"deep": False},
                    "zip": "007",
                    "label": "[draft]",
                    "nothing": None,
                },
            ),
        ),
    ),
    Case(
        "qwen3_coder/coerce-with-schema",
        _qwen("write_file", path="n.txt", content="123")
        + _qwen("read_file", path="true", offset="10", limit="null")
        + _qwen("grep", pattern="42", globs="['*.py', '*.md']", ignore_case="True"),
        "qwen3_coder",
        (
            ParsedCall("write_file", {"path": "n.txt", "content": "123"}),
            ParsedCall("read_file", {"path": "true", "offset": 10, "limit": None}),
            ParsedCall("grep", {"pattern": "42", "globs": ["*.py", "*.md"], "ignore_case": True}),
        ),
        schemas=SCHEMAS,
    ),
    Case(
        "qwen3_coder/schema-mismatch-stays-text",
        _qwen("read_file", path="a.py", offset="ten"),
        "qwen3_coder",
        (ParsedCall("read_file", {"path": "a.py", "offset": "ten"}),),
        schemas=SCHEMAS,
    ),
    Case(
        "qwen3_coder/value-contains-closing-tag",
        _qwen("write_file", path="doc.md", content="Close with </parameter> like so."),
        "qwen3_coder",
        (
            ParsedCall(
                "write_file", {"path": "doc.md", "content": "Close with </parameter> like so."}
            ),
        ),
    ),
    Case(
        "qwen3_coder/value-contains-whole-call",
        _qwen("write_file", path="ex.md", content=_HERMES_READ_B + "\n[TOOL_CALLS]x[ARGS]{}"),
        "qwen3_coder",
        (
            ParsedCall(
                "write_file",
                {"path": "ex.md", "content": _HERMES_READ_B + "\n[TOOL_CALLS]x[ARGS]{}"},
            ),
        ),
    ),
    Case(
        "qwen3_coder/missing-parameter-close",
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n<parameter=offset>\n5\n"
        "</parameter>\n</function>\n</tool_call>",
        "qwen3_coder",
        (ParsedCall("read_file", {"path": "a.py", "offset": 5}),),
    ),
    Case(
        "qwen3_coder/missing-function-close",
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n</parameter>\n</tool_call>",
        "qwen3_coder",
        (READ_A,),
    ),
    Case(
        "qwen3_coder/no-wrapper",
        "Let me look.\n<function=read_file>\n<parameter=path>\na.py\n</parameter>\n</function>",
        "qwen3_coder",
        (READ_A,),
        text="Let me look.",
    ),
    Case(
        "qwen3_coder/no-parameters",
        "<tool_call>\n<function=list_todos>\n</function>\n</tool_call>",
        "qwen3_coder",
        (ParsedCall("list_todos", {}),),
    ),
    Case(
        "qwen3_coder/two-calls-after-think",
        "<think>\nTwo files.\n</think>\n\n"
        + _qwen("read_file", path="a.py")
        + "\n"
        + _qwen("read_file", path="b.py"),
        "qwen3_coder",
        (READ_A, READ_B),
    ),
    Case(
        "qwen3_coder/not-offered",
        _qwen("shell", command="rm -rf /"),
        "qwen3_coder",
        malformed=(
            MalformedCall(
                "shell",
                _qwen("shell", command="rm -rf /"),
                "'shell' is not one of the tools offered here (read_file)",
            ),
        ),
        offered=("read_file",),
    ),
    # ---- GLM-4.5 / 4.6 / 4.7: <tool_call>NAME<arg_key>..</arg_key><arg_value>..</arg_value>
    Case(
        "glm/glm45-newlines",
        "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>a.py</arg_value>\n</tool_call>",
        "glm",
        (READ_A,),
    ),
    Case(
        "glm/glm47-compact",
        "<tool_call>grep<arg_key>pattern</arg_key><arg_value>def \\w+\\(</arg_value>"
        "<arg_key>path</arg_key><arg_value>src</arg_value></tool_call>",
        "glm",
        (GREP,),
    ),
    Case(
        "glm/json-values-and-code",
        "<think>Need to write.</think>\nWriting.\n<tool_call>write_file\n"
        "<arg_key>path</arg_key>\n<arg_value>m.py</arg_value>\n"
        f"<arg_key>content</arg_key>\n<arg_value>{CODE}</arg_value>\n"
        "<arg_key>mode</arg_key>\n<arg_value>420</arg_value>\n"
        '<arg_key>tags</arg_key>\n<arg_value>["x", "y"]</arg_value>\n</tool_call>',
        "glm",
        (
            ParsedCall(
                "write_file", {"path": "m.py", "content": CODE, "mode": 420, "tags": ["x", "y"]}
            ),
        ),
        text="Writing.",
    ),
    Case(
        "glm/schema-keeps-string",
        "<tool_call>write_file\n<arg_key>path</arg_key>\n<arg_value>n.txt</arg_value>\n"
        "<arg_key>content</arg_key>\n<arg_value>123</arg_value>\n</tool_call>",
        "glm",
        (ParsedCall("write_file", {"path": "n.txt", "content": "123"}),),
        schemas=SCHEMAS,
    ),
    Case(
        "glm/no-arguments",
        "<tool_call>list_todos\n</tool_call>",
        "glm",
        (ParsedCall("list_todos", {}),),
    ),
    Case(
        "glm/two-calls",
        "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>a.py</arg_value>\n</tool_call>\n"
        "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>b.py</arg_value>\n</tool_call>",
        "glm",
        (READ_A, READ_B),
    ),
    Case(
        "glm/broken-pairs",
        "<tool_call>read_file\n<arg_key>path</arg_key>\na.py\n</tool_call>",
        "glm",
        malformed=(
            MalformedCall(
                "read_file",
                "<tool_call>read_file\n<arg_key>path</arg_key>\na.py\n</tool_call>",
                "expected <arg_key>KEY</arg_key><arg_value>VALUE</arg_value> pairs",
            ),
        ),
    ),
    # ---- Llama 3.x: bare JSON and <|python_tag|>
    Case(
        "llama3/bare-json",
        '{"name": "read_file", "parameters": {"path": "a.py"}}',
        "llama3",
        (READ_A,),
    ),
    Case(
        "llama3/bare-json-type-function",
        '{"type": "function", "name": "read_file", "parameters": {"path": "a.py"}}',
        "llama3",
        (READ_A,),
    ),
    Case(
        "llama3/semicolon-separated",
        '{"name": "read_file", "parameters": {"path": "a.py"}}; '
        '{"name": "read_file", "parameters": {"path": "b.py"}}',
        "llama3",
        (READ_A, READ_B),
    ),
    Case(
        "llama3/prose-then-json-line",
        'I will open the file.\n{"name": "read_file", "parameters": {"path": "a.py"}}',
        "llama3",
        (READ_A,),
        text="I will open the file.",
    ),
    Case(
        "llama3/python-tag-json",
        '<|python_tag|>{"name": "read_file", "parameters": {"path": "a.py"}}<|eom_id|>',
        "llama3",
        (READ_A,),
    ),
    Case(
        "llama3/python-tag-builtin",
        '<|python_tag|>brave_search.call(query="moat agent", count=3)<|eom_id|>',
        "llama3",
        (ParsedCall("brave_search", {"query": "moat agent", "count": 3}),),
    ),
    Case(
        "llama3/python-tag-code",
        "<|python_tag|>import os\nos.remove('x')<|eom_id|>",
        "llama3",
        malformed=(
            MalformedCall(
                None,
                "<|python_tag|>import os\nos.remove('x')<|eom_id|>",
                "only function calls can follow <|python_tag|>; code is not run",
            ),
        ),
    ),
    Case(
        "llama3/stringified-parameters",
        '{"name": "read_file", "parameters": "{\\"path\\": \\"a.py\\"}"}',
        "llama3",
        (READ_A,),
    ),
    # ---- Mistral: [TOOL_CALLS]
    Case(
        "mistral/v3-list",
        '[TOOL_CALLS] [{"name": "read_file", "arguments": {"path": "a.py"}, "id": "a1b2c3d4e"}]',
        "mistral",
        (READ_A,),
    ),
    Case(
        "mistral/v3-list-two",
        'Reading both.[TOOL_CALLS][{"name": "read_file", "arguments": {"path": "a.py"}},'
        ' {"name": "read_file", "arguments": {"path": "b.py"}}]</s>',
        "mistral",
        (READ_A, READ_B),
        text="Reading both.",
    ),
    Case(
        "mistral/v11-single",
        '[TOOL_CALLS]read_file[ARGS]{"path": "a.py"}',
        "mistral",
        (READ_A,),
    ),
    Case(
        "mistral/v11-two-with-call-id",
        '[TOOL_CALLS]read_file[CALL_ID]abc123def[ARGS]{"path": "a.py"}'
        '[TOOL_CALLS]grep[ARGS]{"pattern": "def \\\\w+\\\\(", "path": "src"}',
        "mistral",
        (READ_A, GREP),
    ),
    Case(
        "mistral/v11-args-token-stripped",
        'Checking.\n[TOOL_CALLS]read_file{"path": "a.py"}',
        "mistral",
        (READ_A,),
        text="Checking.",
    ),
    Case(
        "mistral/magistral-think",
        '[THINK]Which file? a.py.[/THINK][TOOL_CALLS]read_file[ARGS]{"path": "a.py"}',
        "mistral",
        (READ_A,),
    ),
    # ---- DeepSeek V3 / R1 / V3.1
    Case(
        "deepseek/v3-single",
        f"{DS_CALLS}{DS_CALL}function{DS_SEP}read_file\n```json\n"
        f'{{"path": "a.py"}}\n```{DS_END}{DS_CALLS_END}',
        "deepseek",
        (READ_A,),
    ),
    Case(
        "deepseek/v3-two",
        f"Let me look.\n\n{DS_CALLS}{DS_CALL}function{DS_SEP}read_file\n```json\n"
        f'{{"path": "a.py"}}\n```{DS_END}\n{DS_CALL}function{DS_SEP}read_file\n```json\n'
        f'{{"path": "b.py"}}\n```{DS_END}{DS_CALLS_END}',
        "deepseek",
        (READ_A, READ_B),
        text="Let me look.",
    ),
    Case(
        "deepseek/r1-think-no-fence",
        f"<think>\nNeed a.py.\n</think>\n\n{DS_CALLS}{DS_CALL}function{DS_SEP}read_file\n"
        f'{{"path": "a.py"}}{DS_END}{DS_CALLS_END}',
        "deepseek",
        (READ_A,),
    ),
    Case(
        "deepseek/v31-single",
        f'{DS_CALLS}{DS_CALL}read_file{DS_SEP}{{"path": "a.py"}}{DS_END}{DS_CALLS_END}',
        "deepseek",
        (READ_A,),
    ),
    Case(
        "deepseek/v31-two",
        f'{DS_CALLS}{DS_CALL}read_file{DS_SEP}{{"path": "a.py"}}{DS_END}'
        f'{DS_CALL}grep{DS_SEP}{{"pattern": "def \\\\w+\\\\(", "path": "src"}}{DS_END}'
        f"{DS_CALLS_END}",
        "deepseek",
        (READ_A, GREP),
    ),
    Case(
        "deepseek/ascii-tokens",
        '<|tool_calls_begin|><|tool_call_begin|>read_file<|tool_sep|>{"path": "a.py"}'
        "<|tool_call_end|><|tool_calls_end|>",
        "deepseek",
        (READ_A,),
    ),
    # ---- gpt-oss harmony
    Case(
        "harmony/full",
        "<|channel|>analysis<|message|>Need to read a.py.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.read_file <|constrain|>json"
        '<|message|>{"path":"a.py"}<|call|>',
        "harmony",
        (READ_A,),
    ),
    Case(
        "harmony/no-start-token",
        '<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{"path":"a.py"}',
        "harmony",
        (READ_A,),
    ),
    Case(
        "harmony/recipient-in-header",
        "<|start|>assistant to=functions.read_file<|channel|>commentary json"
        '<|message|>{"path": "a.py"}<|call|>',
        "harmony",
        (READ_A,),
    ),
    Case(
        "harmony/tokens-stripped",
        'analysis Need the file. commentary to=functions.read_file json{"path": "a.py"}',
        "harmony",
        (READ_A,),
        text="analysis Need the file.",
    ),
    Case(
        "harmony/preamble-then-call",
        "<|channel|>commentary<|message|>Reading the file first.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.read_file <|constrain|>json"
        '<|message|>{"path": "a.py"}<|call|>',
        "harmony",
        (READ_A,),
        text="Reading the file first.",
    ),
    Case(
        "harmony/final-only",
        "<|channel|>analysis<|message|>Simple.<|end|><|start|>assistant<|channel|>final"
        "<|message|>The answer is 4.<|return|>",
        None,
        text="The answer is 4.",
    ),
    Case(
        "harmony/invalid-json",
        "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>"
        "{path: a.py}<|call|>",
        "harmony",
        malformed=(
            MalformedCall(
                "read_file",
                "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>"
                "{path: a.py}<|call|>",
                "the arguments are not valid JSON: expected a value, found 'a' at line 1 column 8",
            ),
        ),
    ),
    # ---- JSON in code fences
    Case(
        "fenced/name-arguments",
        'Let me look.\n```json\n{"name": "read_file", "arguments": {"path": "a.py"}}\n```\n',
        "fenced",
        (READ_A,),
        text="Let me look.",
    ),
    Case(
        "fenced/tool-args-no-language",
        '```\n{"tool": "grep", "args": {"pattern": "def \\\\w+\\\\(", "path": "src"}}\n```',
        "fenced",
        (GREP,),
    ),
    Case(
        "fenced/list",
        '```json\n[\n  {"name": "read_file", "arguments": {"path": "a.py"}},\n'
        '  {"name": "read_file", "arguments": {"path": "b.py"}},\n]\n```',
        "fenced",
        (READ_A, READ_B),
    ),
    Case(
        "fenced/function-wrapper-tool-call-language",
        '```tool_call\n{"type": "function", "function": {"name": "read_file",'
        ' "arguments": {"path": "a.py"}}}\n```',
        "fenced",
        (READ_A,),
    ),
    Case(
        "fenced/invalid-json",
        '```json\n{"name": "read_file", "arguments": {"path": "a.py"\n```',
        "fenced",
        malformed=(
            MalformedCall(
                "read_file",
                '```json\n{"name": "read_file", "arguments": {"path": "a.py"\n```',
                "the call is not valid JSON: the text ended inside the value",
            ),
        ),
    ),
    # ---- Prose and look-alikes: nothing is a call
    Case("none/empty", "", None),
    Case(
        "none/plain",
        "The tests pass now.\n\nNothing else to do.\n",
        None,
        text="The tests pass now.\n\nNothing else to do.\n",
    ),
    Case(
        "none/mentions-tags",
        "Qwen wraps each call in <tool_call> tags; Mistral uses [TOOL_CALLS] and GLM "
        "<arg_key>. Write `<tool_call>` and <function=NAME> literally.",
        None,
        text="Qwen wraps each call in <tool_call> tags; Mistral uses [TOOL_CALLS] and GLM "
        "<arg_key>. Write `<tool_call>` and <function=NAME> literally.",
    ),
    Case(
        "none/tag-then-prose",
        "<tool_call>\nis how the template starts a call.",
        None,
        text="<tool_call>\nis how the template starts a call.",
    ),
    Case(
        "none/json-example-not-call-shape",
        _EXPLANATION,
        None,
        text=_EXPLANATION,
    ),
    Case(
        "none/dict-without-name",
        '```python\nCALL = {"tool": None}\nargs = {"path": "a.py", "arguments": []}\n```\n'
        '{"path": "a.py", "arguments": {}}',
        None,
        text='```python\nCALL = {"tool": None}\nargs = {"path": "a.py", "arguments": []}\n```\n'
        '{"path": "a.py", "arguments": {}}',
    ),
    Case(
        "none/call-shaped-dict-in-python-fence",
        _PYTHON_EXAMPLE,
        None,
        text=_PYTHON_EXAMPLE,
    ),
    Case(
        "none/inline-json-in-prose",
        'Return {"name": "read_file", "arguments": {}} to call it, as an example.',
        None,
        text='Return {"name": "read_file", "arguments": {}} to call it, as an example.',
    ),
    Case(
        "none/data-record-line",
        'Users:\n{"name": "Ada", "parameters": {"x": 1}, "age": 36}',
        None,
        text='Users:\n{"name": "Ada", "parameters": {"x": 1}, "age": 36}',
    ),
    Case(
        "none/prose-recipient",
        "Harmony routes a call with to=functions.read_file in the header.",
        None,
        text="Harmony routes a call with to=functions.read_file in the header.",
    ),
    Case(
        "none/think-with-drafts",
        '<think>Maybe <tool_call>\n{"name": "read_file", "arg</think>\n\nNo tool needed: 4.',
        None,
        text="No tool needed: 4.",
    ),
    # ---- One family's markup inside another's arguments
    Case(
        "mixed/hermes-arguments-quote-other-formats",
        '<tool_call>\n{"name": "write_file", "arguments": {"path": "n.md", "content": '
        '"[TOOL_CALLS]x[ARGS]{} and <function=y></function> and to=functions.z {}"}}\n</tool_call>',
        "hermes",
        (
            ParsedCall(
                "write_file",
                {
                    "path": "n.md",
                    "content": "[TOOL_CALLS]x[ARGS]{} and <function=y></function> and "
                    "to=functions.z {}",
                },
            ),
        ),
    ),
    Case(
        "mixed/mistral-arguments-quote-tool-call",
        '[TOOL_CALLS]write_file[ARGS]{"path": "n.md", "content": '
        '"<tool_call>\\n{\\"name\\": \\"x\\", \\"arguments\\": {}}\\n</tool_call>"}',
        "mistral",
        (
            ParsedCall(
                "write_file",
                {
                    "path": "n.md",
                    "content": '<tool_call>\n{"name": "x", "arguments": {}}\n</tool_call>',
                },
            ),
        ),
    ),
    Case(
        "mixed/prose-mentions-then-real-call",
        "Mistral would write [TOOL_CALLS] here, but I use:\n" + _HERMES_READ_A,
        "hermes",
        (READ_A,),
        text="Mistral would write [TOOL_CALLS] here, but I use:",
    ),
)


@dataclass(frozen=True)
class Cut:
    """One call; every prefix cut between ``opens`` and the end of ``closes`` is refused."""

    id: str
    content: str
    opens: str
    closes: str
    call: ParsedCall
    in_reasoning: bool = False

    @property
    def family(self) -> str:
        return self.id.split("/")[0]


CUTS: tuple[Cut, ...] = (
    Cut("hermes/json", "Sure.\n" + _HERMES_READ_A, "<tool_call>", "</tool_call>", READ_A),
    Cut(
        "hermes/in-unclosed-think",
        "<think>\nI will call it.\n" + _HERMES_READ_A,
        "<tool_call>",
        "</tool_call>",
        READ_A,
    ),
    Cut("hermes/in-reasoning", _HERMES_READ_A, "<tool_call>", "</tool_call>", READ_A, True),
    Cut(
        "qwen3_coder/xml",
        _qwen("write_file", path="m.py", content=CODE),
        "<tool_call>",
        "</tool_call>",
        ParsedCall("write_file", {"path": "m.py", "content": CODE}),
    ),
    Cut(
        "qwen3_coder/no-wrapper",
        "<function=read_file>\n<parameter=path>\na.py\n</parameter>\n<parameter=offset>\n120\n"
        "</parameter>\n</function>",
        "<function=",
        "</function>",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "glm/newlines",
        "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>a.py</arg_value>\n"
        "<arg_key>offset</arg_key>\n<arg_value>120</arg_value>\n</tool_call>",
        "<tool_call>",
        "</tool_call>",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "llama3/bare-json",
        '{"name": "read_file", "parameters": {"path": "a.py", "offset": 120}}',
        '{"name"',
        "}}",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "llama3/python-tag-json",
        '<|python_tag|>{"name": "read_file", "parameters": {"path": "a.py", "offset": 120}}',
        "<|python_tag|>",
        "}}",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "llama3/python-tag-builtin",
        '<|python_tag|>brave_search.call(query="moat", count=120)',
        "<|python_tag|>",
        ")",
        ParsedCall("brave_search", {"query": "moat", "count": 120}),
    ),
    Cut(
        "mistral/v3-list",
        '[TOOL_CALLS][{"name": "read_file", "arguments": {"path": "a.py", "offset": 120}}]',
        "[TOOL_CALLS]",
        "]",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "mistral/v11",
        '[TOOL_CALLS]read_file[ARGS]{"path": "a.py", "offset": 120}',
        "[TOOL_CALLS]",
        "}",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "deepseek/v3",
        f"{DS_CALLS}{DS_CALL}function{DS_SEP}read_file\n```json\n"
        f'{{"path": "a.py", "offset": 120}}\n```{DS_END}{DS_CALLS_END}',
        DS_CALLS,
        DS_END,
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "deepseek/v31",
        f'{DS_CALLS}{DS_CALL}read_file{DS_SEP}{{"path": "a.py", "offset": 120}}{DS_END}',
        DS_CALLS,
        DS_END,
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "harmony/commentary",
        "<|start|>assistant<|channel|>commentary to=functions.read_file <|constrain|>json"
        '<|message|>{"path": "a.py", "offset": 120}<|call|>',
        "to=functions.",
        "}",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "fenced/json",
        'Let me look.\n```json\n{"name": "read_file", "arguments": {"path": "a.py", "offset": 120}}'
        "\n```",
        '```json\n{"name"',
        "\n```",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "qwen3_coder/in-reasoning",
        _qwen("read_file", path="a.py", offset="120"),
        "<tool_call>",
        "</tool_call>",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
        in_reasoning=True,
    ),
    Cut(
        "glm/compact",
        "<tool_call>read_file<arg_key>path</arg_key><arg_value>a.py</arg_value>"
        "<arg_key>offset</arg_key><arg_value>120</arg_value></tool_call>",
        "<tool_call>",
        "</tool_call>",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "mistral/v11-call-id",
        'On it.[TOOL_CALLS]read_file[CALL_ID]a1b2c3d4e[ARGS]{"path": "a.py", "offset": 120}',
        "[TOOL_CALLS]",
        "}",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "deepseek/r1-no-fence",
        f"<think>\nok\n</think>\n\n{DS_CALLS}{DS_CALL}function{DS_SEP}read_file\n"
        f'{{"path": "a.py", "offset": 120}}{DS_END}{DS_CALLS_END}',
        DS_CALLS,
        DS_END,
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "harmony/recipient-in-header",
        "<|start|>assistant to=functions.read_file<|channel|>commentary json"
        '<|message|>{"path": "a.py", "offset": 120}<|call|>',
        "to=functions.",
        "}",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
    Cut(
        "fenced/no-language-tool-args",
        '```\n{"tool": "read_file", "args": {"path": "a.py", "offset": 120}}\n```',
        '```\n{"tool"',
        "\n```",
        ParsedCall("read_file", {"path": "a.py", "offset": 120}),
    ),
)
