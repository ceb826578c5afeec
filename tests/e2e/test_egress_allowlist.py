"""A host policy names is reachable from a command, through Moat's proxy, and on record."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Project
from tests.fake_server import Call, FakeModelServer, Reply

FETCH = ("python -c \"import urllib.request as u; "
         "print(u.urlopen('http://127.0.0.1:{port}/pkg', timeout=5).read().decode())\"")


class _Mirror(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"package index"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_allowed_host_reached_other_refused_both_recorded(
        project: Project, fake_model: FakeModelServer, mirror: int) -> None:
    config = project.home / ".config" / "moat" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[sandbox]\nnetwork = "allowlist"\nallowed_hosts = ["127.0.0.1:{mirror}"]\n')

    def fetched(body: dict[str, Any]) -> None:
        assert "package index" in body["messages"][-1]["content"]

    def refused(body: dict[str, Any]) -> None:
        assert "package index" not in body["messages"][-1]["content"]
        assert "[exit code 1]" in body["messages"][-1]["content"]

    fake_model.add(
        Reply(tool_calls=[Call("bash", {"command": FETCH.format(port=mirror)})]),
        Reply(tool_calls=[Call("bash", {"command": FETCH.format(port=mirror + 1)})],
              expect=fetched),
        Reply(text="done", expect=refused))
    done = project.run("-p", "fetch the index", "--allow", "Bash(python -c *)",
                       base_url=fake_model.url)
    assert done.returncode == 0, done.stderr
    log = project.run("audit", "log", "--kind", "egress", "--json")
    rows = [json.loads(line) for line in log.stdout.splitlines()]
    assert len(rows) == 2
    records = project.run("audit", "export")
    egress = [json.loads(line)["data"] for line in records.stdout.splitlines()
              if json.loads(line)["kind"] == "egress"]
    assert [(e["host"], e["port"], e["allowed"]) for e in egress] == [
        ("127.0.0.1", mirror, True), ("127.0.0.1", mirror + 1, False)]
