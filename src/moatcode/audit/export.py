"""Exporting records as JSON lines or CSV that a third party can re-verify.

Each JSON line is the whole record in canonical JSON (``record.py``), so it
is self-contained: with the documented algorithm alone, anyone can recompute
each hash and follow the ``prev_hash`` links. The CSV has the same fields, with
``data`` as its canonical JSON text.

``since`` exports from the first record at or after that time to the end, one
unbroken stretch of the chain; its first record links to a hash outside the
file, so the export verifies from there on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal, TextIO

from moatcode.audit.store import AuditStore, StoredRow
from moatcode.errors import AuditUnavailable

ExportFormat = Literal["jsonl", "csv"]

CSV_COLUMNS = ("seq", "at", "session", "kind", "data", "prev_hash", "hash", "v")

_encode_string = json.JSONEncoder(ensure_ascii=False).encode


def export_records(path: Path, fmt: ExportFormat, since: datetime | None, out: TextIO) -> int:
    """Write the store's records (from ``since`` on) to ``out``; return how many."""
    with AuditStore.open_readonly(path) as store:
        rows = store.rows(since=since)
        return write_csv(rows, out) if fmt == "csv" else write_jsonl(rows, out)


def write_jsonl(rows: Iterable[StoredRow], out: TextIO) -> int:
    count = 0
    for row in rows:
        out.write(export_line(row))
        out.write("\n")
        count += 1
    return count


def write_csv(rows: Iterable[StoredRow], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        _check_types(row)
        writer.writerow(
            (row.seq, row.at, row.session, row.kind, row.data, row.prev_hash, row.hash, row.v)
        )
        count += 1
    return count


def export_line(row: StoredRow) -> str:
    """The record as one line of canonical JSON, keys in canonical order."""
    _check_types(row)
    return "".join((
        '{"at":', _encode_string(row.at),
        ',"data":', row.data,
        ',"hash":', _encode_string(row.hash),
        ',"kind":', _encode_string(row.kind),
        ',"prev_hash":', _encode_string(row.prev_hash),
        ',"seq":', str(row.seq),
        ',"session":', _encode_string(row.session),
        ',"v":', str(row.v),
        "}",
    ))


def _check_types(row: StoredRow) -> None:
    texts = (row.at, row.data, row.hash, row.kind, row.prev_hash, row.session)
    if type(row.seq) is not int or type(row.v) is not int or not all(
        isinstance(t, str) for t in texts
    ):
        raise AuditUnavailable(
            f"The audit record at position {row.pos} was edited by hand and cannot be "
            "exported; run moat audit verify to see what changed."
        )
