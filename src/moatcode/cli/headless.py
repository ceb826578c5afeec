"""``moat -p``: one run with no one to ask, printed as text, JSON or stream-JSON.

Headless runs have no approver, so an action that policy would ask about is
denied and listed in ``permission_denials``. Exit codes (also in the README):
0 success, 1 an unexpected failure, 2 bad usage or settings, 3 the model server
failed, 4 the workspace cannot be confined, 5 no audit log, 6 max turns reached,
130 interrupted. Where bubblewrap cannot run, the session still starts and every
command is refused with the reason (unless the managed policy allows them unconfined).
"""

from __future__ import annotations

import sys
from typing import TextIO

import click

from moatcode.cli.compose import create_session
from moatcode.config.settings import Settings
from moatcode.errors import Cancelled, MaxTurnsReached, MoatError
from moatcode.events import Emit, ErrorOccurred, Event, ModelRetry, Notice
from moatcode.sessions.store import LoadedSession, SessionStore
from moatcode.ui.stream_json import StreamJsonPrinter


def run_headless(settings: Settings, prompt: str, output_format: str, *,
                 continue_: bool = False, resume_id: str | None = None,
                 out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    resume = _resume(settings, continue_, resume_id)
    consumers: list[Emit] = [_StderrNotices(err)]
    if output_format in ("json", "stream-json"):
        consumers.append(StreamJsonPrinter(out, only_result=output_format == "json"))
    session = create_session(settings, approver=None, consumers=consumers, resume=resume)
    session.writer.prompt(prompt)
    # A bug that escapes below still closes the session as a failure.
    code, subtype, text = 1, "error_during_execution", "Moat failed unexpectedly."
    try:
        text = session.agent.run(prompt).text
        code, subtype = 0, "success"
    except MaxTurnsReached as exc:
        code, subtype, text = exc.exit_code, "error_max_turns", str(exc)
    except Cancelled as exc:
        code, subtype, text = exc.exit_code, "cancelled", str(exc)
    except MoatError as exc:
        session.emit(ErrorOccurred(str(exc), type(exc).__name__))
        code, subtype, text = exc.exit_code, "error_during_execution", str(exc)
    finally:
        session.agent.close(subtype, text)
        session.close()
    if output_format == "text" and code == 0:
        out.write(text.rstrip("\n") + "\n")
        out.flush()
    if code:
        click.echo(f"moat: error: {text}", err=True)
    return code


def _resume(settings: Settings, continue_: bool, resume_id: str | None) -> LoadedSession | None:
    store = SessionStore(settings.data_dir, settings.workspace)
    if resume_id:
        return store.load(resume_id)
    if continue_:
        return store.latest()
    return None


class _StderrNotices:
    """Notices and retries to stderr, so stdout stays clean for scripts."""

    def __init__(self, err: TextIO) -> None:
        self._err = err

    def __call__(self, event: Event) -> None:
        if isinstance(event, Notice):
            self._err.write(f"moat: {event.message}\n")
        elif isinstance(event, ModelRetry):
            self._err.write(f"moat: model request failed ({event.reason}); retry "
                            f"{event.attempt} in {event.delay_s:.1f}s\n")
        else:
            return
        self._err.flush()
