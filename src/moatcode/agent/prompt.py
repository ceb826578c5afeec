"""What the model is told: the fixed system prompt, and the first user turn.

The system prompt and the tool schemas are the same bytes for every session
of every repository, so a shared model server keeps them cached. Everything
that varies (the project's instructions file, date, branch, git status) goes
into the first user turn, after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

INSTRUCTION_FILES = ("AGENTS.md", "MOAT.md", "CLAUDE.md", "QWEN.md")
MAX_INSTRUCTIONS_CHARS = 20_000


def load_system_prompt() -> str:
    return resources.files("moatcode.agent").joinpath("prompts/system.md").read_text("utf-8")


@dataclass(frozen=True)
class Instructions:
    name: str
    text: str


def load_instructions(workspace: Path) -> Instructions | None:
    """The first instructions file found at the workspace root, in documented order."""
    for name in INSTRUCTION_FILES:
        path = workspace / name
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        if len(text) > MAX_INSTRUCTIONS_CHARS:
            text = text[:MAX_INSTRUCTIONS_CHARS] + "\n[... instructions cut here ...]"
        return Instructions(name, text)
    return None


@dataclass(frozen=True)
class Environment:
    """Facts about the session that change between sessions, for the first turn."""

    cwd: str
    date: str
    platform: str
    git_branch: str = ""
    git_status: str = ""


def format_first_turn(prompt: str, env: Environment, instructions: str | None,
                      instructions_name: str = "") -> str:
    parts = []
    if instructions:
        parts.append(f'<instructions file="{instructions_name}">\n{instructions.strip()}\n'
                     "</instructions>")
    facts = [f"Working directory: {env.cwd}", f"Platform: {env.platform}", f"Date: {env.date}"]
    if env.git_branch:
        facts.append(f"Git branch: {env.git_branch}")
    if env.git_status:
        facts.append(f"Git status:\n{env.git_status}")
    parts.append("<environment>\n" + "\n".join(facts) + "\n</environment>")
    parts.append(prompt)
    return "\n\n".join(parts)
