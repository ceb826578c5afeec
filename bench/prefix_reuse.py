"""How much of each request repeats the previous one as an exact prefix.

Runs the real `moat -p` on a scratch repository against the scripted fake
model server (real HTTP on 127.0.0.1) for a 10-step session, and prints, per
request, the share of the previous request (less its closing ``]}``) that the
new request begins with byte for byte: 1.0 means the server's prefix cache
can reuse everything it computed for the previous step. With ``--sessions 2``
it runs a second session after a new commit and prints how much of the first
request the two sessions share, against the size of the system prompt and
tool schemas (what every session of every developer should share).

Run: .venv/bin/python bench/prefix_reuse.py --sessions 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, make_repo
from tests.fake_server import Call, FakeModelServer, Reply
from tests.sample_project import git

STEPS = [
    Call("list_files", {}),
    Call("glob", {"pattern": "**/*.py"}),
    Call("read_file", {"path": "calc/ops.py"}),
    Call("grep", {"pattern": "def "}),
    Call("read_file", {"path": "test_ops.py"}),
    Call("bash", {"command": "python -m pytest -q"}),
    Call("edit_file", {"path": "calc/ops.py", "old_string": "a - b", "new_string": "a + b"}),
    Call("bash", {"command": "python -m pytest -q"}),
    Call("todo", {"items": [{"content": "fix add", "status": "completed"}]}),
]


def run_session(repo: Path, home: Path, prompt: str) -> list[bytes]:
    with FakeModelServer(context_window=32_768) as fake:
        fake.add(*[Reply(tool_calls=[call]) for call in STEPS], Reply(text="Done."))
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home), "MOAT_BASE_URL": fake.url, "MOAT_TOOL_PROTOCOL": "native",
            "MOAT_MANAGED_CONFIG": str(home / "none.toml"),
            "MOAT_CLAUDE_MANAGED_SETTINGS": str(home / "none.json"),
        }
        done = subprocess.run(
            [str(Path(sys.executable).parent / "moat"), "-p", prompt, "--mode", "accept-edits",
             "--allow", "Bash(python -m pytest *)"],
            cwd=repo, env=env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise SystemExit(f"moat failed: {done.stderr}")
        return [r.body for r in fake.chat_requests]


def common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def fixed_prefix_bytes(body: bytes) -> int:
    """Bytes of the first request up to the end of the system message (tools come before)."""
    data = json.loads(body)
    system = json.dumps(data["messages"][0], ensure_ascii=False, separators=(",", ":"))
    index = body.find(system.encode())
    return index + len(system.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, choices=(1, 2), default=1)
    args = parser.parse_args()
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp) / "repo")
        home = Path(tmp) / "home"
        home.mkdir()
        bodies = run_session(repo, home, "test_ops.py fails; fix it")
        print(f"session 1: {len(bodies)} requests")
        print(f"{'request':>8}{'bytes':>9}{'prefix of previous reused':>28}")
        shares = []
        for index, body in enumerate(bodies):
            if index == 0:
                print(f"{1:>8}{len(body):>9}{'(first)':>28}")
                continue
            previous = bodies[index - 1][:-2]  # less the closing "]}"
            share = common_prefix(previous, body) / len(previous)
            shares.append(share)
            print(f"{index + 1:>8}{len(body):>9}{share:>28.4f}")
        print(f"minimum over the session: {min(shares):.4f} (1.0 = every request extends the "
              "previous one byte for byte)")
        if args.sessions == 2:
            (repo / "NOTES.md").write_text("a new commit between the sessions\n")
            git(repo, "add", ".")
            git(repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit",
                "-qm", "notes")
            second = run_session(repo, home, "add a docstring to add()")
            shared = common_prefix(bodies[0], second[0])
            fixed = fixed_prefix_bytes(bodies[0])
            print(f"\nsession 2 (after a new commit): first requests share {shared} bytes "
                  f"= {shared / len(bodies[0]):.1%} of the first request "
                  f"({len(bodies[0])} bytes)")
            print(f"system prompt + tool schemas end at byte {fixed}: shared in full: "
                  f"{'yes' if shared >= fixed else 'NO'} (ratio {shared / fixed:.2f})")


if __name__ == "__main__":
    main()
