"""The composition root: settings in, a ready agent session out.

This is the one place that knows every concrete part: it builds the model
client behind the egress guard, the tools, the sandbox, the policy engine,
the redactor, the audit sink and the session store, and wires them to the
agent and to whatever renders events.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import platform
import queue
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from moatcode.agent.approval import Approver
from moatcode.agent.loop import Agent, AgentConfig
from moatcode.agent.prompt import Environment, load_instructions, load_system_prompt
from moatcode.audit.checkpoint import load_or_create_signer
from moatcode.audit.sink import AuditSink
from moatcode.audit.store import AuditStore
from moatcode.cli._git import GitFacts, read_facts
from moatcode.cli.clients import ClientChoice, create_client
from moatcode.config.rules import build_rule_sets
from moatcode.config.settings import Settings
from moatcode.errors import MoatError
from moatcode.events import (
    EgressDecided,
    Emit,
    Event,
    ModelRequestSent,
    Notice,
    SessionStarted,
)
from moatcode.gateway.agent_link import AuditShipper
from moatcode.guard.redact import SecretRedactor, contains_placeholder
from moatcode.guard.secret_files import is_secret_file
from moatcode.models.base import ModelClient
from moatcode.policy.engine import PolicyEngine
from moatcode.sandbox.base import Sandbox, SandboxPolicy
from moatcode.sandbox.bwrap import BwrapSandbox
from moatcode.sandbox.detect import check_bwrap
from moatcode.sandbox.local import UnconfinedSandbox
from moatcode.sandbox.proxy import ProxyDecision
from moatcode.sandbox.refusing import RefusingSandbox
from moatcode.sandbox.toolchains import find_toolchains
from moatcode.sessions.store import LoadedSession, SessionStore, SessionWriter
from moatcode.tools.base import ToolContext
from moatcode.tools.registry import ToolRegistry, create_default_tools

# Kept read-only inside the workspace: what would run code outside the sandbox later
# (git hooks and config, submodules' own), and Moat's own project settings.
READ_ONLY_IN_WORKSPACE = (".git/hooks", ".git/config", ".git/modules", ".moat")


def moat_version() -> str:
    return version("moatcode")


@dataclass
class Session:
    agent: Agent
    writer: SessionWriter
    client: ModelClient
    started: SessionStarted
    audit: AuditSink | None
    emitters: list[Emit] = field(default_factory=list)
    shipper: AuditShipper | None = None

    def emit(self, event: Event) -> None:
        for consumer in self.emitters:
            consumer(event)

    def close(self) -> None:
        self.writer.close()
        self.client.close()
        if self.audit is not None:
            self.audit.close()
            self.audit.store.close()
        if self.shipper is not None:
            self.shipper.close()  # after the sink: its closing checkpoint goes too


def create_sandbox(settings: Settings,
                   on_network: Callable[[ProxyDecision], None] | None = None) -> Sandbox:
    problem = check_bwrap()
    if problem is None:
        path_dirs = command_env(settings)["PATH"].split(os.pathsep)
        homes = (settings.home, Path("/root"), Path("/home"))
        policy = SandboxPolicy(
            writable_roots=(settings.workspace,),
            read_only_paths=tuple(Path(p) for p in READ_ONLY_IN_WORKSPACE),
            readable_paths=find_toolchains(path_dirs, homes, scratch=(Path("/tmp"),)),
            network=settings.sandbox.network,
            allowed_hosts=settings.sandbox.allowed_hosts,
            max_processes=settings.sandbox.max_processes,
            max_memory_bytes=settings.sandbox.max_memory_mb * 1024 * 1024,
        )
        return BwrapSandbox(policy, home=settings.home, on_network=on_network)
    if settings.sandbox.allow_unsandboxed:
        return UnconfinedSandbox()
    return RefusingSandbox(problem)


def create_policy(settings: Settings) -> PolicyEngine:
    return PolicyEngine(build_rule_sets(settings.permissions.rules), settings.permissions.mode,
                        workspace=settings.workspace, home=settings.home,
                        is_secret_path=is_secret_file)


def command_env(settings: Settings) -> dict[str, str]:
    """The environment commands see: nothing from the user's but the basics."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "HOME": str(settings.home),
        "USER": getpass.getuser(),
        "CI": "1",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "NO_COLOR": "1",
    }


def policy_hash(settings: Settings) -> str:
    digest = hashlib.sha256()
    for rule in settings.permissions.rules:
        digest.update(f"{rule.layer}\0{rule.kind}\0{rule.text}\0{rule.source}\n".encode())
    digest.update(f"mode={settings.permissions.mode}\n".encode())
    return digest.hexdigest()


def audit_path(settings: Settings) -> Path:
    return settings.audit.path or settings.data_dir / "audit.db"


def audit_key_path(settings: Settings) -> Path:
    return settings.audit.key_path or settings.data_dir / "audit-signing.key"


def open_audit(settings: Settings) -> tuple[AuditSink | None, str]:
    """The audit sink, or why there is none.

    Without an audit log Moat does not run, unless the managed policy allows it
    (``audit.required = false``); then the reason becomes a notice.
    """
    try:
        store = AuditStore.open(audit_path(settings), synchronous=settings.audit.sync)
        signer = load_or_create_signer(audit_key_path(settings))
    except MoatError as exc:
        if settings.audit.required:
            raise
        return None, f"Running WITHOUT an audit log, as the managed policy allows: {exc}"
    sink = AuditSink(store, store_requests=settings.audit.store_requests, signer=signer,
                     checkpoint_every=settings.audit.checkpoint_every)
    return sink, ""


def create_session(
    settings: Settings,
    *,
    approver: Approver | None,
    consumers: Iterable[Emit],
    resume: LoadedSession | None = None,
    client_factory: Callable[[Settings], ClientChoice] = create_client,
) -> Session:
    """Build every part, open the stores, and emit the session's first event."""
    audit, no_audit = open_audit(settings)
    shipper = None
    if audit is not None and settings.gateway.url and settings.gateway.token:
        shipper = AuditShipper(settings.gateway.url, settings.gateway.token, audit.store.path)
        shipper.start()
    # The proxy decides on its own threads; its decisions are recorded from the main
    # thread, before the next event (the command's result), so they keep their order.
    decisions: queue.SimpleQueue[ProxyDecision] = queue.SimpleQueue()
    sandbox = create_sandbox(settings, decisions.put)
    gate = create_policy(settings)
    choice = client_factory(settings)
    client = choice.client
    store = SessionStore(settings.data_dir, settings.workspace)
    writer = store.reopen(resume) if resume else store.create(client.model, client.endpoint)
    tools = ToolRegistry(create_default_tools())
    git = read_facts(settings.workspace)
    emitters: list[Emit] = [*([audit] if audit else []), *consumers]

    def emit(event: Event) -> None:
        while not decisions.empty():
            d = decisions.get()
            _send(EgressDecided(d.method, d.host, d.port, d.allowed, d.rule or "", d.detail))
        _send(event)

    def _send(event: Event) -> None:
        for consumer in emitters:
            consumer(event)

    ctx = ToolContext(workspace=settings.workspace, sandbox=sandbox, env=command_env(settings),
                      command_timeout_s=settings.sandbox.command_timeout_s, rg=find_rg(),
                      is_secret=is_secret_file)
    agent = Agent(
        session_id=writer.id,
        system_prompt=load_system_prompt(),
        client=client,
        tools=tools,
        tool_ctx=ctx,
        gate=gate,
        approver=approver,
        redactor=SecretRedactor(),
        has_placeholder=contains_placeholder,
        emit=emit,
        recorder=writer,
        environment=_environment(settings, git),
        instructions=load_instructions(settings.workspace),
        config=AgentConfig(
            max_turns=settings.agent.max_turns,
            max_output_tokens=settings.model.max_output_tokens,
            temperature=settings.model.temperature,
            tool_output_chars=settings.agent.tool_output_chars,
            compact_at=settings.agent.compact_at,
            context_window=settings.model.context_window,
        ),
        history=resume.messages if resume else (),
    )
    started = SessionStarted(
        session_id=writer.id, cwd=str(settings.workspace), model=client.model,
        endpoint=client.endpoint, tools=tools.names, permission_mode=settings.permissions.mode,
        resumed=resume is not None, moat_version=moat_version(), user=getpass.getuser(),
        host=socket.gethostname(), git_remote=git.remote, git_head=git.head,
        policy_hash=policy_hash(settings),
        policy_files=tuple(str(f.path) for f in settings.files), sandbox=sandbox.name)
    session = Session(agent, writer, client, started, audit, emitters, shipper)
    session.emit(started)
    no_commands = (f"Commands will be refused: {sandbox.reason}"
                   if isinstance(sandbox, RefusingSandbox) else "")
    for notice in [*choice.notices, *filter(None, [no_audit, no_commands])]:
        session.emit(Notice(notice))
    if choice.probe is not None and choice.probe.sent is not None:
        sent = choice.probe.sent
        session.emit(ModelRequestSent(
            step=0, endpoint=sent.endpoint, model=sent.model, request_bytes=len(sent.body),
            estimated_tokens=len(sent.body) // 4,
            body_sha256=hashlib.sha256(sent.body).hexdigest(), body=sent.body.decode()))
    return session


def _environment(settings: Settings, git: GitFacts) -> Environment:
    return Environment(
        cwd=str(settings.workspace),
        date=datetime.now(UTC).date().isoformat(),
        platform=f"{platform.system()} {platform.machine()}",
        git_branch=git.branch,
        git_status=git.status,
    )


def find_rg() -> str:
    local = Path(sys.executable).parent / "rg"
    return str(local) if local.exists() else "rg"
