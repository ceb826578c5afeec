"""The gateway's HTTP API, as a FastAPI app over a ``GatewayRuntime``.

    POST /v1/chat/completions   OpenAI-compatible, streaming or not (proxy.py)
    GET  /v1/models             the models the caller's team may use
    GET  /v1/policy             the managed policy, signed with the gateway's key
    GET  /v1/audit/head         the last record held of an agent's chain
    POST /v1/audit/records      an agent's records, checked and kept
    GET  /health                200 while requests can be served and recorded
    GET  /metrics               Prometheus

Every /v1 route needs a bearer token. Bodies are read with a size limit and
parsed by hand where speed matters; the pydantic models below document them
for the OpenAPI schema (which the tests fuzz) and check the audit upload.
Every error is an OpenAI-style JSON error with a 4xx or 5xx status chosen on
purpose: bad input is 400 or 413, never a 500.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from moatcode.audit.canonical import canonical_text
from moatcode.gateway import agent_records
from moatcode.gateway.db import DatabaseUnavailable
from moatcode.gateway.exchange import Exchange, error_body
from moatcode.gateway.identity import now_text
from moatcode.gateway.policy_doc import sign_policy
from moatcode.gateway.proxy import CHAT_ROUTE, Refusal, client_of, read_body
from moatcode.gateway.runtime import GatewayRuntime

_HEX64 = r"^[0-9a-f]{64}$"
MAX_AUDIT_RECORDS = 1000


# -- documented shapes (the OpenAPI schema, and the audit upload's checks) -------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """The fields the gateway checks; every other OpenAI or vLLM field is passed on."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=0)


class AgentRecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: StrictInt = Field(ge=1, le=1000)
    seq: StrictInt = Field(ge=1, le=2**62)
    at: str = Field(max_length=40)
    session: str = Field(max_length=200)
    kind: str = Field(min_length=1, max_length=64)
    data: dict[str, Any]
    prev_hash: str = Field(pattern=_HEX64)
    hash: str = Field(pattern=_HEX64)


class AuditBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chain: str = Field(pattern=_HEX64, description="The hash of the agent store's first record.")
    records: list[AgentRecordIn] = Field(min_length=1, max_length=MAX_AUDIT_RECORDS)


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: int | str


class ErrorOut(BaseModel):
    error: ErrorDetail


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": "An OpenAI-style error."} for code in codes}


_AUTH_ERRORS = (400, 401, 503)


class GatewayAPI(FastAPI):
    """FastAPI, with the chat route answered before routing and middleware.

    The chat route is the hot path: dispatching it here skips Starlette's
    middleware stack, router and exception wrappers (each of which wraps
    every ``send`` of a stream), which was a fifth of the CPU per streamed
    request. The route is still declared below, for the OpenAPI schema.
    """

    chat: Callable[[Request], Awaitable[Response]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.chat is not None and scope["type"] == "http"
                and scope["path"] == CHAT_ROUTE and scope["method"] == "POST"):
            response = await self.chat(Request(scope, receive))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(runtime: GatewayRuntime, *, manage_runtime: bool = True) -> GatewayAPI:
    """The app; with ``manage_runtime`` its lifespan starts and stops ``runtime``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_runtime:
            await runtime.start()
        try:
            yield
        finally:
            if manage_runtime:
                await runtime.stop()

    app = GatewayAPI(title="Moat gateway", version="1", lifespan=lifespan, docs_url=None,
                     redoc_url=None)
    app.chat = runtime.proxy.handle
    gate = runtime.gate
    config = runtime.config

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"Invalid request: {where}: {first.get('msg', 'bad value')}."
        return Response(error_body(message, "invalid_request_error", 400), 400,
                        media_type="application/json")

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> Response:
        return Response(error_body(str(exc.detail), "invalid_request_error", exc.status_code),
                        exc.status_code, headers=exc.headers, media_type="application/json")

    @app.post(
        CHAT_ROUTE, summary="Create a chat completion (streamed or not)",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": ChatCompletionRequest.model_json_schema()}}}},
        responses={200: {"description": "The completion, as JSON or an event stream.",
                         "content": {"application/json": {}, "text/event-stream": {}}},
                   **_errors(*_AUTH_ERRORS, 403, 404, 413, 429, 502, 504)},
        response_class=Response,
    )
    async def chat_completions(request: Request) -> Response:
        return await runtime.proxy.handle(request)

    @app.get("/v1/models", summary="The models the caller may use",
             responses=_errors(*_AUTH_ERRORS), response_class=Response)
    async def list_models(request: Request) -> Response:
        ex = Exchange("/v1/models", client_of(request))
        try:
            principal = await gate.admit(request, ex)
        except Refusal as refusal:
            return gate.refused(ex, refusal)
        data = [{"id": route.name, "object": "model", "created": 0, "owned_by": config.name}
                for route in config.models if principal.team.allows(route.name)]
        return _json(ex, runtime, {"object": "list", "data": data})

    @app.get("/v1/policy", summary="The managed policy, signed",
             responses=_errors(*_AUTH_ERRORS, 404), response_class=Response)
    async def policy(request: Request) -> Response:
        ex = Exchange("/v1/policy", client_of(request))
        try:
            await gate.admit(request, ex)
            if runtime.policy is None:
                raise Refusal(404, "no_policy", "This gateway serves no policy; set policy.file "
                              "in its config.", kind="not_found_error")
        except Refusal as refusal:
            return gate.refused(ex, refusal)
        document = sign_policy(runtime.policy, runtime.signing_key, issuer=config.name,
                               issued_at=datetime.fromtimestamp(runtime.clock(), UTC))
        return _json(ex, runtime, document)

    @app.get("/v1/audit/head", summary="The last record the gateway holds of an agent chain",
             responses=_errors(*_AUTH_ERRORS, 403), response_class=Response)
    async def audit_head(
        request: Request,
        chain: Annotated[str, Query(pattern=_HEX64, description="The agent chain's id.")],
    ) -> Response:
        ex = Exchange("/v1/audit/head", client_of(request))
        try:
            principal = await gate.admit(request, ex)
            head = await _db(agent_records.agent_head, runtime.engine, principal.user, chain)
        except Refusal as refusal:
            return gate.refused(ex, refusal)
        return _json(ex, runtime, {"chain": chain, "seq": head.seq, "hash": head.hash,
                                   "at": head.at})

    @app.post(
        "/v1/audit/records", summary="Ship an agent's audit records",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": AuditBatchIn.model_json_schema()}}}},
        responses=_errors(*_AUTH_ERRORS, 403, 413), response_class=Response,
    )
    async def audit_records(request: Request) -> Response:
        ex = Exchange("/v1/audit/records", client_of(request))
        try:
            principal = await gate.admit(request, ex)
            body = await read_body(request, config.max_body_bytes)
            ex.request_bytes = len(body)
            batch = _parse_batch(body)
            result = await _db(
                agent_records.ingest, runtime.engine, user=principal.user,
                token_id=principal.token_id, chain_id=batch.chain,
                batch=[r.model_dump() for r in batch.records], at=now_text(),
                signer=runtime.signer, checkpoint_every=config.checkpoint_every)
        except Refusal as refusal:
            return gate.refused(ex, refusal)
        for problem in result.problems:
            runtime.metrics.agent_records.labels(problem.kind).inc()
        runtime.metrics.agent_records.labels("ok").inc(result.accepted - len(result.problems))
        return _json(ex, runtime, {
            "chain": result.chain_id, "accepted": result.accepted,
            "duplicates": result.duplicates,
            "head": {"seq": result.head.seq, "hash": result.head.hash, "at": result.head.at},
            "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail}
                         for p in result.problems],
        })

    @app.get("/health", summary="Whether this replica can serve and record requests")
    async def health() -> Response:
        database = runtime.worker.available
        upstreams = {u.spec.url: u.healthy for u in runtime.upstreams.all()}
        ok = database or config.fail_open
        body = {"status": "ok" if ok else "unavailable", "database": database,
                "audit_pending": runtime.worker.pending, "upstreams": upstreams}
        return Response(json.dumps(body).encode(), 200 if ok else 503,
                        media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        runtime.refresh_metrics()
        return Response(runtime.metrics.render(),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    _add_security_scheme(app)
    return app


def _json(ex: Exchange, runtime: GatewayRuntime, value: Any) -> Response:
    body = json.dumps(value, separators=(",", ":")).encode()
    ex.status = 200
    ex.response_bytes = len(body)
    runtime.recorder.finish(ex)
    return Response(body, 200, headers={"x-request-id": ex.request_id},
                    media_type="application/json")


def _parse_batch(body: bytes) -> AuditBatchIn:
    try:
        batch = AuditBatchIn.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Refusal(400, "bad_request", f"Invalid audit batch: {where}: {first['msg']}.") \
            from exc
    previous = 0
    for index, record in enumerate(batch.records):
        if record.seq <= previous:
            raise Refusal(400, "bad_request", f"records[{index}] is out of seq order.")
        previous = record.seq
        try:
            canonical_text(record.data)
        except (ValueError, TypeError) as exc:
            raise Refusal(400, "bad_request", f"records[{index}].data has no canonical JSON "
                          f"form ({exc}).") from exc
    return batch


async def _db(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking database call in a worker thread, mapping failures to answers."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except agent_records.ChainForbidden as exc:
        raise Refusal(403, "chain_forbidden", str(exc), kind="permission_error") from exc
    except DatabaseUnavailable as exc:
        raise Refusal(503, "database_unavailable", "The gateway's database is unreachable; "
                      "try again shortly.", kind="server_error",
                      headers={"retry-after": "5"}) from exc


def _add_security_scheme(app: GatewayAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}}
            for path, operations in schema.get("paths", {}).items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
