"""Bytes and tokens of the fixed prompt: the system prompt and the tool schemas.

Prints the size of each part of the first request as Moat sends it, so the
cost of every prompt token (prefill time on self-hosted hardware) stays in
view. Run: .venv/bin/python bench/prompt_overhead.py
"""

from __future__ import annotations

import json

from _common import Tokenizer

from moatcode.agent.prompt import load_system_prompt
from moatcode.models._body import tool_to_json
from moatcode.tools.registry import ToolRegistry, create_default_tools

TARGET_TOKENS = 1500


def main() -> None:
    tokenizer = Tokenizer()
    system = load_system_prompt()
    specs = ToolRegistry(create_default_tools()).specs()
    tools_json = json.dumps([tool_to_json(s) for s in specs], ensure_ascii=False,
                            separators=(",", ":"))
    rows = [("system prompt", system), ("tool schemas (all)", tools_json)]
    rows += [(f"  {s.name}", json.dumps(tool_to_json(s), separators=(",", ":"))) for s in specs]
    print(f"tokenizer: {tokenizer.name}")
    print(f"{'part':<24}{'bytes':>8}{'tokens':>8}")
    for name, text in rows:
        print(f"{name:<24}{len(text.encode()):>8}{tokenizer.count(text):>8}")
    total_bytes = len(system.encode()) + len(tools_json.encode())
    total_tokens = tokenizer.count(system) + tokenizer.count(tools_json)
    print(f"{'total (system + tools)':<24}{total_bytes:>8}{total_tokens:>8}")
    print(f"target: under {TARGET_TOKENS} tokens -> {total_tokens / TARGET_TOKENS:.0%} of budget")


if __name__ == "__main__":
    main()
