"""Ask a server how large the model's context window is.

Each server family says it in its own place: vLLM as ``max_model_len`` in
``/v1/models``; LM Studio as ``max_context_length``/``loaded_context_length``;
the llama.cpp server as ``n_ctx`` in ``/props``; Ollama in the model info of
``/api/show``. Every probe is best effort: a server that does not know the
answer leaves the window to the settings.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)

_MODEL_FIELDS = ("max_model_len", "loaded_context_length", "max_context_length",
                 "context_length", "context_window")


def probe_context_window(http: httpx.Client, base_url: str, model: str) -> int | None:
    root = base_url.rstrip("/").removesuffix("/v1")
    for probe in (_from_models, _from_llamacpp_props, _from_ollama):
        try:
            window = probe(http, base_url.rstrip("/"), root, model)
        except (httpx.HTTPError, ValueError, TypeError, AttributeError) as exc:
            log.debug("context probe %s failed: %s", probe.__name__, exc)
            continue
        if window:
            return window
    return None


def _get_json(http: httpx.Client, url: str) -> Any:
    response = http.get(url)
    if response.status_code != 200:
        return None
    return response.json()


def _from_models(http: httpx.Client, base: str, root: str, model: str) -> int | None:
    data = _get_json(http, f"{base}/models")
    if not isinstance(data, dict):
        return None
    for entry in data.get("data") or []:
        if not isinstance(entry, dict) or entry.get("id") != model:
            continue
        for field in _MODEL_FIELDS:
            if isinstance(entry.get(field), int) and entry[field] > 0:
                return int(entry[field])
    return None


def _from_llamacpp_props(http: httpx.Client, base: str, root: str, model: str) -> int | None:
    data = _get_json(http, f"{root}/props")
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings") or {}
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    return int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None


def _from_ollama(http: httpx.Client, base: str, root: str, model: str) -> int | None:
    response = http.post(f"{root}/api/show", json={"model": model})
    if response.status_code != 200:
        return None
    info = response.json().get("model_info") or {}
    for key, value in info.items():
        if key.endswith(".context_length") and isinstance(value, int):
            return value
    return None
