"""`make demo`: Moat's main job, start to finish, on a sample repository.

Copies examples/calc (a small project with a failing test) to a scratch git
repository and runs `moat -p` on it: against MOAT_BASE_URL when it is set,
otherwise against the small embedded model, with no network at all. Then it
prints the session as it went, verifies the audit chain, and prints the
session's data-flow report. Nothing is written outside the scratch directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOAT = str(Path(sys.executable).parent / "moat")
TASK = "test_ops.py fails. Find the bug in calc/ops.py, fix it, and run the tests."


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="moat-demo-"))
    repo = scratch / "calc"
    shutil.copytree(ROOT / "examples" / "calc", repo)
    for args in (["init", "-q"], ["add", "."],
                 ["-c", "user.name=demo", "-c", "user.email=demo@localhost", "commit", "-qm",
                  "sample project"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    env = dict(os.environ)
    env.setdefault("MOAT_DATA_DIR", str(scratch / "moat-data"))
    # Keep the demo within a few minutes on a small CPU-only machine.
    env.setdefault("MOAT_MAX_OUTPUT_TOKENS", "300")
    where = env.get("MOAT_BASE_URL") or "the embedded SmolLM2-135M model (no server, no network)"
    print(f"== Moat demo: {repo}\n== model: {where}\n== task: {TASK}\n")
    run = subprocess.run(
        [MOAT, "-p", TASK, "--output-format", "stream-json", "--max-turns", "6",
         "--mode", "accept-edits", "--allow", "Bash(python -m pytest *)"],
        cwd=repo, env=env, capture_output=True, text=True, check=False)
    session = ""
    for line in run.stdout.splitlines():
        event = json.loads(line)
        session = event.get("session_id", session)
        print(describe(event))
    if run.stderr.strip():
        print("\n" + textwrap.indent(run.stderr.strip(), "  stderr: "))
    print(f"\n== exit code {run.returncode}; the sample file now reads:")
    print(textwrap.indent((repo / "calc" / "ops.py").read_text(), "    "))
    print("== moat audit verify")
    subprocess.run([MOAT, "audit", "verify"], cwd=repo, env=env, check=False)
    print("\n== moat audit report (the data-flow report of this session)")
    subprocess.run([MOAT, "audit", "report", "--session", session], cwd=repo, env=env,
                   check=False)
    print(f"\nEverything is kept in {scratch}.")
    return 0


def describe(event: dict[str, object]) -> str:
    kind = event.get("type")
    if kind == "system":
        return f"[session {event['session_id']}] model {event['model']}, mode " \
               f"{event['permissionMode']}"
    if kind == "assistant":
        parts = []
        for block in event["message"]["content"]:  # type: ignore[index]
            if block["type"] == "text":
                parts.append("assistant: " + shorten(block["text"]))
            else:
                parts.append(f"  -> {block['name']} {shorten(json.dumps(block['input']))}")
        return "\n".join(parts) or "assistant: (nothing)"
    if kind == "user":
        block = event["message"]["content"][0]  # type: ignore[index]
        mark = "error" if block["is_error"] else "ok"
        return f"  <- {mark}: {shorten(block['content'])}"
    if kind == "result":
        return (f"[result] {event['subtype']} after {event['num_turns']} turns, "
                f"{event['duration_ms']} ms; denials: {len(event['permission_denials'])}")  # type: ignore[arg-type]
    return json.dumps(event)


def shorten(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
