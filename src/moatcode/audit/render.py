"""Rendering the data-flow report as Markdown, one self-contained HTML file, or JSON.

The HTML has its CSS inline and no scripts, images or links, and a content
security policy that forbids fetching anything, so it opens in a browser on
a machine with no network. Every value is escaped: file paths, arguments and
diffs come from an untrusted repository and an untrusted model.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from typing import Any, Literal

from moatcode.audit.report import ActionRow, FileRow, Report, RequestRow
from moatcode.audit.verify import VerifyResult
from moatcode.types import Redaction, Source

ReportFormat = Literal["md", "html", "json"]


def render_report(report: Report, fmt: ReportFormat) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        return render_html(report)
    return render_markdown(report)


# -- shared wording ------------------------------------------------------------


def describe_source(source: Source) -> str:
    lines = ""
    if source.start_line is not None:
        start, end = source.start_line, source.end_line
        lines = f":{start}" if end is None or end == start else f":{start}-{end}"
    if source.kind == "file":
        return f"file {source.ref}{lines}"
    if source.kind == "command":
        return f"command output of {source.ref}"
    if source.kind == "instructions":
        return f"instructions {source.ref}"
    if source.kind == "tool":
        return f"tool result {source.ref}"
    return "user prompt" if not source.ref else f"prompt {source.ref}"


def describe_redaction(redaction: Redaction) -> str:
    line = f" line {redaction.line}" if redaction.line is not None else ""
    return f"{redaction.kind} in {redaction.location}{line} as {redaction.placeholder}"


def describe_tokens(row: RequestRow) -> str:
    if row.prompt_tokens is None:
        return f"~{row.estimated_tokens} (no answer)"
    return f"~{row.estimated_tokens} est., {row.prompt_tokens} in, {row.completion_tokens} out"


def describe_decider(row: ActionRow) -> str:
    if not row.decision:
        return "no verdict recorded"
    if row.decided_by == "user":
        after = f", after {row.wait_ms / 1000:.1f} s" if row.wait_ms else ""
        return f"{row.who or 'the user'} ({row.scope or 'once'}{after})"
    if row.decided_by == "headless":
        return "no one to ask (headless)"
    return "policy"


def describe_result(row: ActionRow) -> str:
    if row.ok is None:
        return "did not run" if row.decision == "deny" else "not finished"
    status = "ok" if row.ok else "failed"
    code = f", exit {row.exit_code}" if row.exit_code is not None else ""
    sandbox = f", {row.sandbox}" if row.sandbox else ""
    return status + code + sandbox


def describe_chain(chain: VerifyResult) -> str:
    if chain.problem is not None:
        p = chain.problem
        where = f"record {p.seq}" if p.seq is not None else f"position {p.position}"
        return f"NOT INTACT: {p.kind} at {where}: {p.detail}"
    signed = (
        f"; {chain.checkpoints} checkpoints verified with key {chain.signed_by}"
        if chain.signed_by
        else f"; {chain.checkpoints} checkpoints (signatures not checked: no key given)"
    )
    return (
        f"intact: {chain.records} records, seq {chain.first_seq} to {chain.last_seq}, "
        f"head {chain.head_hash}{signed}"
    )


def _session_rows(report: Report) -> list[tuple[str, str]]:
    s = report.session
    return [
        ("Session", s.session_id),
        ("Started", s.started_at),
        ("Ended", s.ended_at or "not closed"),
        ("Outcome", s.outcome),
        ("User", f"{s.user}@{s.host}" if s.host else s.user),
        ("Working directory", s.cwd),
        ("Git", f"{s.git_remote} {s.git_head}".strip()),
        ("Model", f"{s.model} at {s.endpoint}"),
        ("Tokens", f"{s.usage.prompt_tokens} in, {s.usage.completion_tokens} out"),
        ("Permission mode", s.permission_mode),
        ("Sandbox", s.sandbox),
        ("Policy hash", s.policy_hash),
        ("Moat version", s.moat_version),
        ("Audit store", report.store),
        ("Chain", describe_chain(report.chain)),
    ]


def _request_cells(row: RequestRow) -> list[str]:
    return [
        row.at, str(row.step), row.endpoint, row.model, str(row.request_bytes),
        describe_tokens(row),
    ]


def _action_cells(row: ActionRow) -> list[str]:
    return [
        row.at, row.call_id, row.tool, row.arguments, row.decision or "—",
        describe_decider(row), row.rule, row.layer, describe_result(row),
    ]


_REQUEST_HEAD = ["Time", "Step", "Endpoint", "Model", "Bytes", "Tokens"]
_ACTION_HEAD = [
    "Time", "Call", "Tool", "Arguments", "Verdict", "Allowed by", "Rule", "Layer", "Result"
]


# -- JSON ----------------------------------------------------------------------


def render_json(report: Report) -> str:
    data: dict[str, Any] = dataclasses.asdict(report)
    data["chain"]["ok"] = report.chain.ok
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# -- Markdown ------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def _md(text: str) -> str:
    """Text safe in a Markdown table cell: specials escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def _md_fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(report: Report) -> str:
    out = [f"# Data-flow report: session {_md(report.session.session_id)}", ""]
    out += _md_table(["Item", "Value"], [list(pair) for pair in _session_rows(report)])
    out += ["", f"## Model requests ({len(report.requests)})", ""]
    for row in report.requests:
        out += [f"### Request at {_md(row.at)}, step {row.step}", ""]
        out += _md_table(_REQUEST_HEAD, [_request_cells(row)])
        out += ["", "Sources:"]
        out += [f"- {_md(describe_source(s))}" for s in row.sources] or ["- none recorded"]
        out += ["", "Redactions:"]
        out += [f"- {_md(describe_redaction(r))}" for r in row.redactions] or ["- none"]
        out.append("")
    out += [f"## Actions ({len(report.actions)})", ""]
    out += _md_table(_ACTION_HEAD, [_action_cells(row) for row in report.actions])
    out += ["", f"## Files changed ({len(report.files)})", ""]
    for file in report.files:
        out += _md_file(file)
    if report.masked:
        out += [f"## Secrets masked ({len(report.masked)})", ""]
        for masked in report.masked:
            out += [f"- {_md(describe_redaction(r))}" for r in masked.redactions]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _md_file(file: FileRow) -> list[str]:
    fence = _md_fence(file.diff)
    return [
        f"### {_md(file.path)}",
        "",
        f"{_md(file.at)}, call {_md(file.call_id)}: "
        f"{_md(file.before_sha256 or 'new file')} → {_md(file.after_sha256 or 'deleted')}",
        "",
        fence + "diff",
        file.diff.rstrip("\n"),
        fence,
        "",
    ]


# -- HTML ----------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left;
         vertical-align: top; overflow-wrap: anywhere; }
th { background: #f2f2f2; }
code, pre { font: 12px/1.4 ui-monospace, monospace; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: .5em; overflow-x: auto; }
.add { color: #116329; } .del { color: #b31d28; } .hunk { color: #6639ba; }
.bad { color: #b31d28; font-weight: bold; }
ul { margin: .25em 0; }
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    header = "".join(f"<th>{_h(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _html_list(items: list[str], empty: str) -> str:
    if not items:
        return f"<p>{_h(empty)}</p>"
    return "<ul>" + "".join(f"<li>{_h(item)}</li>" for item in items) + "</ul>"


def _html_diff(diff: str) -> str:
    lines = []
    for line in diff.splitlines():
        css = (
            "hunk" if line.startswith("@@")
            else "add" if line.startswith("+") and not line.startswith("+++")
            else "del" if line.startswith("-") and not line.startswith("---")
            else ""
        )
        lines.append(f'<span class="{css}">{_h(line)}</span>' if css else _h(line))
    return "<pre>" + "\n".join(lines) + "</pre>"


def render_html(report: Report) -> str:
    title = f"Data-flow report: session {report.session.session_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>{_h(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_h(title)}</h1>",
    ]
    bad = ' class="bad"'
    session_rows = "".join(
        f"<tr><th>{_h(k)}</th><td{bad if k == 'Chain' and not report.chain.ok else ''}>"
        f"{_h(v)}</td></tr>"
        for k, v in _session_rows(report)
    )
    parts.append(f"<table><tbody>{session_rows}</tbody></table>")
    parts.append(f"<h2>Model requests ({len(report.requests)})</h2>")
    for row in report.requests:
        parts.append(f"<h3>Request at {_h(row.at)}, step {row.step}</h3>")
        parts.append(_html_table(_REQUEST_HEAD, [_request_cells(row)]))
        parts.append("<p>Sources:</p>")
        parts.append(_html_list([describe_source(s) for s in row.sources], "none recorded"))
        parts.append("<p>Redactions:</p>")
        parts.append(_html_list([describe_redaction(r) for r in row.redactions], "none"))
    parts.append(f"<h2>Actions ({len(report.actions)})</h2>")
    parts.append(_html_table(_ACTION_HEAD, [_action_cells(row) for row in report.actions]))
    parts.append(f"<h2>Files changed ({len(report.files)})</h2>")
    for file in report.files:
        parts.append(f"<h3>{_h(file.path)}</h3>")
        parts.append(
            f"<p>{_h(file.at)}, call {_h(file.call_id)}: "
            f"<code>{_h(file.before_sha256 or 'new file')}</code> → "
            f"<code>{_h(file.after_sha256 or 'deleted')}</code></p>"
        )
        parts.append(_html_diff(file.diff))
    if report.masked:
        parts.append(f"<h2>Secrets masked ({len(report.masked)})</h2>")
        items = [describe_redaction(r) for m in report.masked for r in m.redactions]
        parts.append(_html_list(items, "none"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
