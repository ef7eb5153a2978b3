"""An OpenAI-compatible chat-completions client that streams (Moonshot/Kimi, OpenAI, DeepSeek,
llama.cpp, vLLM, Ollama): the one module that talks to the model, and the one that translates httpx's
exceptions (into :class:`~core.errors.LlmError`).

The wire format is server-sent events: ``data: {json}`` lines whose ``choices[0].delta.content`` is
the next piece of the answer, optionally a last chunk with ``usage`` (asked for with
``stream_options.include_usage``), then ``data: [DONE]``. A stream that ends without ``[DONE]`` or a
``finish_reason`` was cut: that is an error worth retrying, as are 429 (its ``Retry-After`` is passed
on) and 5xx. The API key goes into the Authorization header and nowhere else: never into a message or
a log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import LlmError

__all__ = ["ChatClient", "Chunk", "parse_retry_after"]

_LOGGER = logging.getLogger(__name__)
RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
MAX_ERROR_BODY = 2048


@dataclass(frozen=True)
class Chunk:
    """A piece of the answer (``text``) or, once, the token counts (``usage``)."""

    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (only the delta-seconds form; model APIs send no dates)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _error_text(body: bytes) -> str:
    """The ``error.message`` of an OpenAI-style error body, else its first line."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip().splitlines()[0][:300] if body.strip() else ""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return str(err["message"])[:300]
    if isinstance(err, str):
        return err[:300]
    return ""


class ChatClient:
    """``stream(messages)`` yields :class:`Chunk` s as the model writes them."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        *,
        timeout_s: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.include_usage = True  # off after the endpoint refuses stream_options (older servers do)
        headers = {"Accept": "text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[Chunk]:
        """The answer's pieces, then (when the endpoint counts) one chunk with the token counts."""
        if self.include_usage:
            try:
                async for chunk in self._stream(messages, usage=True):
                    yield chunk
                return
            except LlmError as exc:  # refused before any piece: an endpoint without stream_options
                if exc.status not in (400, 422) or "stream_options" not in str(exc):
                    raise
                self.include_usage = False
                _LOGGER.info("%s does not take stream_options: asking without token counts", self.base_url)
        async for chunk in self._stream(messages, usage=False):
            yield chunk

    async def _stream(self, messages: list[dict[str, str]], *, usage: bool) -> AsyncIterator[Chunk]:
        url = f"{self.base_url}/chat/completions"
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True, "temperature": 0.3}
        if usage:
            body["stream_options"] = {"include_usage": True}
        try:
            async with self._client.stream("POST", url, json=body) as resp:
                if resp.status_code != 200:
                    raw = b""
                    async for part in resp.aiter_bytes():
                        raw += part
                        if len(raw) >= MAX_ERROR_BODY:
                            break
                    detail = _error_text(raw[:MAX_ERROR_BODY])
                    raise LlmError(
                        f"the model's endpoint answered HTTP {resp.status_code}"
                        + (f": {detail}" if detail else ""),
                        status=resp.status_code,
                        retryable=resp.status_code in RETRYABLE,
                        retry_after=parse_retry_after(resp.headers.get("retry-after")),
                    )
                finished = False
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # comments (": keep-alive"), event names, blank separators
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    chunk, done = _parse(data)
                    finished = finished or done
                    if chunk is not None:
                        yield chunk
                if not finished:
                    raise LlmError("the model's stream ended before the answer did", retryable=True)
        except httpx.TimeoutException as exc:
            raise LlmError(f"the model's endpoint timed out ({exc.__class__.__name__})",
                           retryable=True) from exc
        except httpx.ConnectError as exc:
            raise LlmError(f"the model's endpoint {self.base_url} cannot be reached: {exc}",
                           retryable=True) from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise LlmError(f"the model's stream broke ({exc.__class__.__name__})", retryable=True) from exc
        except httpx.HTTPError as exc:
            raise LlmError(f"the model's endpoint: {exc.__class__.__name__}: {exc}") from exc


def _parse(data: str) -> tuple[Chunk | None, bool]:
    """One ``data:`` payload as (chunk or None, whether a choice finished); LlmError for an error event."""
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise LlmError(f"the model sent an unreadable event: {data[:80]!r}", retryable=True) from exc
    if not isinstance(obj, dict):
        return None, False
    if "error" in obj:
        err = obj["error"]
        msg = err.get("message") if isinstance(err, dict) else str(err)
        raise LlmError(f"the model's stream reported an error: {str(msg)[:300]}", retryable=True)
    finished = False
    text = ""
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            text = delta["content"]
        finished = bool(choices[0].get("finish_reason"))
    usage = obj.get("usage")
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        return Chunk(
            text,
            prompt if isinstance(prompt, int) else None,
            completion if isinstance(completion, int) else None,
        ), finished
    return (Chunk(text) if text else None), finished
