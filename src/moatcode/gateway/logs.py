"""Structured JSON logs for the gateway: one object per line, no secrets.

Only ``serve`` installs the handler. Fields come from the log call's
``extra`` and only names on ``FIELDS`` are written, so a token or a request
body cannot reach the log by accident: nothing in the gateway logs them, and
nothing outside this list would be printed if it did.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import TextIO

FIELDS = ("request_id", "user", "team", "token_id", "model", "upstream", "status", "outcome",
          "reason", "latency_ms", "ttfb_ms", "stream", "request_bytes", "response_bytes",
          "prompt_tokens", "completion_tokens", "client", "route")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_json_logging(
    level: int = logging.INFO, stream: TextIO | None = None, interval_s: float = 0.1
) -> BatchingHandler:
    """Send every log record, uvicorn's included, to ``stream`` as JSON lines.

    Records are formatted and written by a thread of their own every
    ``interval_s``, so a slow log pipe never stalls the event loop and a
    request never pays for waking a thread. ``close()`` the returned handler
    at exit to write what is left.
    """
    handler = BatchingHandler(stream or sys.stderr, interval_s)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    return handler


class BatchingHandler(logging.Handler):
    """Collects records in a deque; a thread writes them in batches."""

    def __init__(self, stream: TextIO, interval_s: float) -> None:
        super().__init__()
        self._stream = stream
        self._interval_s = interval_s
        self._records: deque[logging.LogRecord] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="moat-gateway-log", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(record)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._write()

    def _write(self) -> None:
        lines = []
        records = self._records
        while records:
            record = records.popleft()
            try:
                lines.append(self.format(record))
            except Exception:  # a bad log call must not stop the logging thread
                self.handleError(record)
            if len(lines) % 16 == 0:
                time.sleep(0)  # let the event loop's thread have the GIL
        if lines:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._write()
        super().close()
