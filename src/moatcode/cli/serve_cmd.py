"""``moat serve-model``: share one GGUF model as an OpenAI-compatible endpoint."""

from __future__ import annotations

import ipaddress
import os
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from moatcode.errors import UsageError


@click.command("serve-model")
@click.option("--model-file", type=click.Path(dir_okay=False),
              help="The GGUF file (default: the embedded SmolLM2-135M).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback must be given explicitly.")
@click.option("--port", type=click.IntRange(0, 65535), default=8088, show_default=True)
@click.option("--context-window", type=click.IntRange(min=256), help="Tokens (default: the "
              "model's, up to 32768).")
@click.option("--api-key-env", metavar="NAME",
              help="Require `Authorization: Bearer <key>` with the key in this variable.")
def serve_model_command(model_file: str | None, host: str, port: int,
                        context_window: int | None, api_key_env: str | None) -> None:
    """Serve a GGUF model at http://HOST:PORT/v1 for Moat or any OpenAI client."""
    from moatcode.models.embedded import LlamaCppClient, find_default_model
    from moatcode.models.text_tools import TextToolCalls
    from moatcode.serve.model_server import ModelServer

    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise UsageError(f"{api_key_env} is not set; export the key there, or drop "
                             "--api-key-env.")
    if not _is_loopback(host) and api_key is None:
        click.echo(f"moat: warning: serving on {host} without an API key: anyone who can "
                   "reach this port can use the model.", err=True)
    path = Path(model_file).expanduser() if model_file else find_default_model()
    embedded = LlamaCppClient(path, context_window=context_window)
    click.echo(f"Loading {path} ...", err=True)
    embedded.load()
    try:
        server = ModelServer(TextToolCalls(embedded, "text"), host, port, api_key)
    except OSError as exc:
        raise UsageError(f"Cannot listen on {host}:{port} ({exc.strerror}); choose another "
                         "--port.") from exc
    click.echo(f"Serving {embedded.model} (context {embedded.context_window()} tokens) at "
               f"{server.url}; Ctrl-C stops.", err=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    server.shutdown()
    embedded.close()
    click.echo("Stopped.", err=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
