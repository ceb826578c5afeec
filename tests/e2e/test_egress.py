"""Nothing leaves: a whole session makes no connection but to the model server.

The real `moat` runs with a Python audit hook (installed by a sitecustomize
module) that records every socket connect and name lookup the process makes.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from tests.e2e.conftest import Project
from tests.e2e.test_headless import FIX_ARGS, bug_fix_script
from tests.fake_server import FakeModelServer

HOOK = """
import json, os, sys

_log = open(os.environ["MOAT_TEST_SOCKET_LOG"], "a", buffering=1)


def _hook(event, args):
    if event == "socket.connect":
        _log.write(json.dumps({"event": event, "address": repr(args[1])}) + "\\n")
    elif event == "socket.getaddrinfo":
        _log.write(json.dumps({"event": event, "host": repr(args[0])}) + "\\n")


sys.addaudithook(_hook)
"""


def test_a_whole_session_connects_only_to_the_model_server(
        project: Project, fake_model: FakeModelServer, tmp_path: Path) -> None:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    log = tmp_path / "sockets.jsonl"
    project.env.update(PYTHONPATH=str(hook_dir), MOAT_TEST_SOCKET_LOG=str(log))
    bug_fix_script(fake_model)
    done = project.run("-p", "fix it", *FIX_ARGS, base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    port = urlsplit(fake_model.url).port
    connects = {e["address"] for e in events if e["event"] == "socket.connect"}
    lookups = {e["host"] for e in events if e["event"] == "socket.getaddrinfo"}
    assert connects == {f"('127.0.0.1', {port})"}
    assert lookups <= {"'127.0.0.1'", "b'127.0.0.1'"}
    assert len([e for e in events if e["event"] == "socket.connect"]) >= 1
