"""Separating a model's thinking from its answer when the server left both in the content.

Thinking arrives as ``<think>...</think>`` (Qwen3, DeepSeek R1, GLM),
``<thinking>``, ``[THINK]...[/THINK]`` (Magistral), or the harmony analysis
channel (gpt-oss). When the chat template opened the block in the prompt,
only the closing tag appears.

Only blocks at the start of the content count, and a lone closing tag only
when no call markup and no opening tag come before it: a tool call that
writes a file about ``<think>`` tags must not be cut in two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"\s*(<think>|<thinking>|\[THINK\])")
_CLOSE_FOR = {"<think>": "</think>", "<thinking>": "</thinking>", "[THINK]": "[/THINK]"}
_ANY_OPEN = re.compile(r"<think>|<thinking>|\[THINK\]")
# A real end of thinking is followed by a blank or the end: "</think>\n\n".
_LONE_CLOSE = re.compile(r"(?:</think>|</thinking>|\[/THINK\])(?=\s|\Z)")
_CALL_MARKERS = re.compile(
    r"<tool_call>|<function=|\[TOOL_CALLS\]|<\|python_tag\|>|to=functions\."
    r"|tool[▁_ ]calls?[▁_ ]begin"
)
_ANALYSIS = re.compile(
    r"(?:<\|start\|>\s*assistant\s*)?<\|channel\|>\s*analysis\s*<\|message\|>"
    r"(?P<body>.*?)(?:<\|end\|>|(?=<\|start\|>)|(?=<\|channel\|>)|\Z)",
    re.DOTALL,
)


@dataclass(frozen=True)
class Split:
    answer: str
    thinking: str
    # The content ended inside the thinking (a block that never closed).
    unfinished: bool = False


def split_thinking(content: str) -> Split:
    """The content without its thinking, and the thinking (blocks joined by blank lines)."""
    thoughts: list[str] = []
    unfinished = False
    pos = 0
    while (opening := _OPEN.match(content, pos)) is not None:
        close = _CLOSE_FOR[opening.group(1)]
        end = content.find(close, opening.end())
        if end < 0:
            thoughts.append(content[opening.end() :])
            pos = len(content)
            unfinished = True
            break
        thoughts.append(content[opening.end() : end])
        pos = end + len(close)
    answer = content[pos:]
    if not thoughts:
        lone = _LONE_CLOSE.search(content)
        if (
            lone is not None
            and not _CALL_MARKERS.search(content, 0, lone.start())
            and not _ANY_OPEN.search(content, 0, lone.start())
        ):
            thoughts.append(content[: lone.start()])
            answer = content[lone.end() :]
    if "<|channel|>" in answer:
        analysis = list(_ANALYSIS.finditer(answer))
        thoughts.extend(m.group("body") for m in analysis)
        if analysis and analysis[-1].end() == len(answer) and not answer.endswith("<|end|>"):
            unfinished = True
        answer = _ANALYSIS.sub("", answer)
    thinking = "\n\n".join(t.strip() for t in thoughts if t.strip())
    return Split(answer, thinking, unfinished)
