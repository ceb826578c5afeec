"""``moat doctor``: check everything Moat needs here, with a fix for each failure.

Settings and policy files, the model endpoint (or the embedded model), the
models it lists, the context window, tool calling (one probe request), the
sandbox, the audit store and ripgrep. Exit code 1 when anything is broken.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import click

from moatcode.cli._load import load, workspace_for
from moatcode.config.settings import Settings
from moatcode.errors import MoatError

# compose and clients are imported where used: `moat` builds every command's
# parser at start, and the interactive prompt should not wait for them.

Status = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@click.command("doctor")
@click.option("--cwd", type=click.Path(file_okay=False), help="The project (default: here).")
@click.option("--no-probe", is_flag=True, help="Do not send the tool-calling probe request.")
def doctor_command(cwd: str | None, no_probe: bool) -> None:
    """Check the model endpoint, sandbox, policy and audit store; print a fix for each failure."""
    checks: list[Check] = []
    try:
        settings = load(workspace_for(cwd))
    except MoatError as exc:
        checks.append(Check("settings and policy files", "FAIL", str(exc),
                            "fix the file the message names"))
        _print(checks)
        raise SystemExit(1) from None
    files = ", ".join(str(f.path) for f in settings.files) or "none (built-in defaults)"
    checks.append(Check("settings files", "ok", files))
    for step in (_policy, _model, _sandbox, _audit, _ripgrep):
        checks.extend(step(settings, no_probe))
    _print(checks)
    raise SystemExit(1 if any(c.status == "FAIL" for c in checks) else 0)


def _guard(name: str, fix: str, body: Callable[[], list[Check]]) -> list[Check]:
    try:
        return body()
    except MoatError as exc:
        return [Check(name, "FAIL", str(exc), fix)]


def _policy(settings: Settings, no_probe: bool) -> list[Check]:
    from moatcode.cli.compose import create_policy

    def body() -> list[Check]:
        engine = create_policy(settings)
        rules = len(engine.describe())
        trust = "trusted" if settings.project_trusted else "not trusted: only its deny/ask count"
        out = [Check("policy rules", "ok", f"{rules} effective rules, mode "
                     f"{settings.permissions.mode}; project folder {trust}")]
        out += [Check("settings notice", "warn", notice) for notice in settings.notices]
        return out

    return _guard("policy rules", "fix the rule the message names", body)


def _model(settings: Settings, no_probe: bool) -> list[Check]:
    base_url = settings.gateway.url or settings.model.base_url
    if not base_url:
        return _guard("embedded model", "install the local extra, or set MOAT_BASE_URL",
                      lambda: _embedded(settings))
    return _guard("model endpoint", "start the server, or fix MOAT_BASE_URL / --base-url",
                  lambda: _remote(settings, base_url, no_probe))


def _embedded(settings: Settings) -> list[Check]:
    from moatcode.models.embedded import find_default_model
    from moatcode.models.gguf import read_gguf_info

    path = Path(settings.model.model_file) if settings.model.model_file else find_default_model()
    info = read_gguf_info(path)
    out = [Check("model endpoint", "warn", f"none configured: the embedded model {path.name} "
                 "runs in process (fine for a demo, too small for real work)",
                 "set MOAT_BASE_URL to your model server for real work"),
           Check("context window", "ok", f"{info.context_length or '?'} tokens (from the GGUF)"),
           Check("tool calling", "ok", "Moat's text protocol (embedded models)")]
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        out.append(Check("llama-cpp-python", "FAIL", "not installed",
                         "pip install 'moatcode[local]' (make demo installs it)"))
    return out


def _remote(settings: Settings, base_url: str, no_probe: bool) -> list[Check]:
    from moatcode.cli.clients import PROBE_CACHE
    from moatcode.guard.egress import create_http_client
    from moatcode.models.openai_compat import OpenAICompatClient
    from moatcode.models.probe import probe_tool_protocol, save_cached

    api_key = settings.gateway.token if settings.gateway.url else settings.model.api_key
    with create_http_client([base_url], 30, api_key) as http:
        models = OpenAICompatClient(base_url, "", http).list_models()
        out = [Check("model endpoint", "ok", f"{base_url} answers")]
        if not models:
            out.append(Check("models", "FAIL", "the server lists no models",
                             "load a model on the server"))
            return out
        name = settings.model.name or (models[0] if len(models) == 1 else "")
        if not name:
            out.append(Check("models", "FAIL", f"several served ({', '.join(models)}) and none "
                             "chosen", "set MOAT_MODEL or --model"))
            return out
        if name not in models:
            out.append(Check("models", "FAIL", f"{name!r} is not served (it has "
                             f"{', '.join(models)})", "set MOAT_MODEL to one it serves"))
            return out
        out.append(Check("models", "ok", f"{name} (of {', '.join(models)})"))
        client = OpenAICompatClient(base_url, name, http, max_retries=1,
                                    context_window=settings.model.context_window)
        window = client.context_window()
        out.append(Check("context window", "ok" if window else "warn",
                         f"{window} tokens" if window else "the server does not say",
                         "" if window else "set model.context_window"))
        if no_probe:
            return out
        result = probe_tool_protocol(client)
        save_cached(settings.data_dir / PROBE_CACHE, client.endpoint, name, result)
        status: Status = "ok" if result.protocol == "native" else "warn"
        fix = "" if status == "ok" else ("start the server with tool calling (vLLM: "
                                         "--enable-auto-tool-choice --tool-call-parser ...); "
                                         "Moat uses its text protocol meanwhile")
        out.append(Check("tool calling", status, f"{result.protocol}: {result.reason}", fix))
        return out


def _sandbox(settings: Settings, no_probe: bool) -> list[Check]:
    from moatcode.sandbox.detect import check_bwrap

    problem = check_bwrap()
    if problem is None:
        return [Check("sandbox", "ok", "bubblewrap works: commands run with no network")]
    if settings.sandbox.allow_unsandboxed:
        return [Check("sandbox", "warn", f"{problem} (the managed policy allows unsandboxed "
                      "commands)", "install bubblewrap")]
    return [Check("sandbox", "FAIL", problem, "install the bubblewrap package")]


def _audit(settings: Settings, no_probe: bool) -> list[Check]:
    from moatcode.audit.store import AuditStore
    from moatcode.audit.verify import verify_store
    from moatcode.cli.compose import audit_path

    path = audit_path(settings)

    def body() -> list[Check]:
        if not path.exists():
            AuditStore.open(path).close()
            return [Check("audit store", "ok", f"{path} created")]
        result = verify_store(path)
        if not result.ok and result.problem is not None:
            problem = result.problem
            if problem.kind != "truncated":
                return [Check("audit store", "FAIL", f"{path}: {problem.kind} at seq "
                              f"{problem.seq}: {problem.detail}",
                              "keep the file as evidence; set audit.path to start a new store")]
        with AuditStore.open(path):
            pass
        return [Check("audit store", "ok", f"{path}: {result.records} records, chain intact")]

    return _guard("audit store", "fix the file the message names, or set audit.path", body)


def _ripgrep(settings: Settings, no_probe: bool) -> list[Check]:
    from moatcode.cli.compose import find_rg

    rg = find_rg()
    if Path(rg).exists() or shutil.which(rg):
        return [Check("ripgrep", "ok", rg)]
    return [Check("ripgrep", "FAIL", "the rg binary is missing",
                  "reinstall Moat (the ripgrep package ships it)")]


def _print(checks: list[Check]) -> None:
    width = max(len(c.name) for c in checks)
    for check in checks:
        click.echo(f"{check.status:<5} {check.name:<{width}}  {check.detail}")
        if check.fix and check.status != "ok":
            click.echo(f"{'':<5} {'':<{width}}  fix: {check.fix}")
