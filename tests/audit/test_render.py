from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from moatcode.audit.chain import Problem
from moatcode.audit.render import render_report
from moatcode.audit.report import Report, build_report
from moatcode.audit.sink import AuditSink
from moatcode.audit.store import AuditStore
from tests.audit.conftest import SteppingClock
from tests.audit.test_report import DIFF, FAKE_SECRET, HOSTILE, SESSION


@pytest.fixture
def report(tmp_path: Path, clock: SteppingClock) -> Report:
    path = tmp_path / "audit.db"
    with AuditStore.open(path) as store:
        sink = AuditSink(store, clock=clock)
        for event in SESSION:
            sink(event)
    return build_report(path)


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []
        self.meta: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        if tag == "meta":
            self.meta.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_no_secret_in_any_format(report: Report, fmt: str) -> None:
    assert FAKE_SECRET not in render_report(report, fmt)  # type: ignore[arg-type]


def test_markdown(report: Report) -> None:
    text = render_report(report, "md")
    lines = text.splitlines()
    assert lines[0] == "# Data-flow report: session sess-r"
    assert "| Chain | intact: 22 records, seq 1 to 22, head " in text
    assert lines.count("## Model requests (3)") == 1
    assert (
        "| 2025-03-01T09:00:12.000000Z | 2 | http://127.0.0.1:8000/v1 | qwen2.5-coder | 2000 | "
        "\\~500 est., 1800 in, 40 out |"
    ) in lines
    assert "- file tests/test\\_app.py:1-25" in lines
    assert "- command output of call\\_3" in lines
    assert (
        "- aws-secret-access-key in src/app.py line 3 as "
        "\\[REDACTED:aws-secret-access-key:1\\]"
    ) in lines
    assert (
        "| 2025-03-01T09:00:14.000000Z | call\\_3 | bash | {\"command\": \"pytest -q\"} | allow | "
        "dev (session, after 3.2 s) | Bash(pytest \\*) | session | failed, exit 1, bwrap |"
    ) in lines
    # The hostile argument is inert text, and the diff's own ``` cannot end its block.
    assert "\\<img src=x onerror=alert(1)\\>" in text and HOSTILE not in text
    assert "````diff\n" + DIFF + "````\n" in text


def test_html_is_self_contained_and_escaped(report: Report) -> None:
    page = render_report(report, "html")
    parsed = Collect()
    parsed.feed(page)
    assert parsed.tags.isdisjoint({"script", "img", "link", "iframe", "object", "embed", "a"})
    assert parsed.attributes <= {"lang", "charset", "http-equiv", "content", "class"}
    assert {"http-equiv": "Content-Security-Policy",
            "content": "default-src 'none'; style-src 'unsafe-inline'"} in parsed.meta
    assert HOSTILE not in page
    text = "".join(parsed.text)
    assert HOSTILE in text  # shown, as text
    assert "dev (session, after 3.2 s)" in text and "failed, exit 1, bwrap" in text
    assert '<span class="add">+def add(a, b): return a + b</span>' in page


def test_html_marks_a_broken_chain(report: Report) -> None:
    broken = dataclasses.replace(
        report, chain=dataclasses.replace(
            report.chain, problem=Problem("deleted", 5, 5, "record 5 is missing.")
        )
    )
    assert (
        '<td class="bad">NOT INTACT: deleted at record 5: record 5 is missing.</td>'
        in render_report(broken, "html")
    )


def test_json_is_the_whole_report(report: Report) -> None:
    data = json.loads(render_report(report, "json"))
    expected = json.loads(json.dumps(dataclasses.asdict(report)))
    expected["chain"]["ok"] = True
    assert data == expected
