"""AI providers behind one small interface; one implementation speaks any OpenAI-compatible HTTP API.

That covers OpenAI, Gemini's OpenAI-compatible endpoint, Ollama and vLLM: POST
`{base_url}/chat/completions`, with `stream: true` answered as Server-Sent Events
(`data: {json chunk}` lines, ending with `data: [DONE]`).
"""

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

# Upstream error text kept for the logs (never returned to clients).
_ERROR_TEXT_CHARS = 300


class ProviderError(Exception):
    """The provider failed: unreachable, an error status, a malformed answer, or an error mid-stream."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class ProviderTimeout(ProviderError):
    """The provider did not connect or send the next bytes in time."""


class ProviderNotConfigured(Exception):
    """No provider is configured (AI_BASE_URL is empty)."""


@dataclass(frozen=True)
class Completion:
    content: str
    model: str


class ReplyStream(Protocol):
    """Text pieces of a reply as they arrive; close() ends the upstream request (safe to call twice)."""

    def __iter__(self) -> Iterator[str]: ...

    def __next__(self) -> str: ...

    def close(self) -> None: ...


class Provider(Protocol):
    """What the chat services need from a model provider."""

    def complete(self, *, model: str, messages: list[dict]) -> Completion: ...

    def stream(self, *, model: str, messages: list[dict]) -> ReplyStream: ...


@dataclass(frozen=True)
class AiSettings:
    base_url: str
    api_key: str
    default_model: str
    models: tuple[str, ...]
    timeout: float

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.default_model)

    def __repr__(self) -> str:
        # The key never reaches a log line or a traceback's locals through repr().
        return f"AiSettings(base_url={self.base_url!r}, default_model={self.default_model!r}, models={self.models!r})"


def ai_settings() -> AiSettings:
    """The AI settings in force: the allowed models always include the default one."""
    models = tuple(m.strip() for m in settings.AI_MODELS if m.strip())
    default = (settings.AI_MODEL or "").strip() or (models[0] if models else "")
    if default and default not in models:
        models = (default, *models)
    return AiSettings(
        base_url=(settings.AI_BASE_URL or "").strip().rstrip("/"),
        api_key=settings.AI_API_KEY or "",
        default_model=default,
        models=models,
        timeout=float(settings.AI_TIMEOUT_SECONDS),
    )


def provider_get(config: AiSettings | None = None) -> Provider:
    """The configured provider; ProviderNotConfigured when AI is switched off."""
    config = config or ai_settings()
    if not config.configured:
        raise ProviderNotConfigured("Set AI_BASE_URL and AI_MODEL to enable AI chat.")
    return OpenAICompatibleProvider(base_url=config.base_url, api_key=config.api_key, timeout=config.timeout)


class OpenAICompatibleProvider:
    """Chat completions from any server speaking OpenAI's `/chat/completions` (streamed or not)."""

    def __init__(self, *, base_url: str, api_key: str = "", timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OpenAICompatibleProvider(base_url={self.base_url!r})"

    def _client(self) -> httpx.Client:
        headers = {"Accept": "application/json"}
        if self._api_key:
            # Local servers (Ollama, vLLM) need no key: send none rather than an empty Bearer.
            headers["Authorization"] = f"Bearer {self._api_key}"
        # One timeout for connect, each read, write and pool wait: a stream may run long, but
        # never sit silent for longer than this.
        return httpx.Client(base_url=self.base_url + "/", headers=headers, timeout=httpx.Timeout(self.timeout))

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _status_error(self, status: int, body: bytes) -> ProviderError:
        text = self._redact(body[:_ERROR_TEXT_CHARS].decode("utf-8", "replace"))
        logger.warning("AI provider answered %s: %s", status, text)
        return ProviderError(f"The AI provider answered HTTP {status}.", status=status)

    def _transport_error(self, exc: httpx.HTTPError) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException):
            logger.warning("AI provider timed out (%s)", type(exc).__name__)
            return ProviderTimeout("The AI provider did not answer in time.")
        logger.warning("AI provider unreachable: %s", self._redact(str(exc)))
        return ProviderError("The AI provider could not be reached.")

    def complete(self, *, model: str, messages: list[dict]) -> Completion:
        """One whole reply."""
        with self._client() as client:
            try:
                response = client.post("chat/completions", json={"model": model, "messages": messages, "stream": False})
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from exc
            if response.status_code >= 400:
                raise self._status_error(response.status_code, response.content)
            try:
                body = response.json()
                content = body["choices"][0]["message"].get("content") or ""
                if not isinstance(content, str):
                    raise TypeError("content is not text")
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                logger.warning("AI provider sent a malformed completion: %s", self._redact(response.text[:_ERROR_TEXT_CHARS]))
                raise ProviderError("The AI provider sent a malformed answer.") from exc
            return Completion(content=content, model=str(body.get("model") or model))

    def stream(self, *, model: str, messages: list[dict]) -> "SSEReplyStream":
        """Open a streamed reply: errors before the first byte of the body raise here, later ones while iterating."""
        client = self._client()
        try:
            request = client.build_request(
                "POST",
                "chat/completions",
                json={"model": model, "messages": messages, "stream": True},
                headers={"Accept": "text/event-stream"},
            )
            response = client.send(request, stream=True)
        except httpx.HTTPError as exc:
            client.close()
            raise self._transport_error(exc) from exc
        if response.status_code >= 400:
            try:
                body = response.read()
            except httpx.HTTPError:
                body = b""
            response.close()
            client.close()
            raise self._status_error(response.status_code, body)
        return SSEReplyStream(provider=self, client=client, response=response)


class SSEReplyStream:
    """The text pieces of an OpenAI-style SSE stream (`choices[0].delta.content`), until `[DONE]`."""

    def __init__(self, *, provider: OpenAICompatibleProvider, client: httpx.Client, response: httpx.Response):
        self._provider = provider
        self._client = client
        self._response = response
        self._pieces = self._read()
        self._finished = False  # a finish_reason was seen
        self.closed = False

    def __iter__(self) -> "SSEReplyStream":
        return self

    def __next__(self) -> str:
        try:
            return next(self._pieces)
        except BaseException:
            # Exhausted or failed: hand the connection back at once.
            self.close()
            raise

    def close(self) -> None:
        """End the upstream request (the server sees the connection close) and free the client."""
        if self.closed:
            return
        self.closed = True
        self._pieces.close()
        self._response.close()
        self._client.close()

    def _read(self) -> Iterator[str]:
        data: list[str] = []
        try:
            for line in self._response.iter_lines():
                if line == "":
                    if data:
                        payload, data = "\n".join(data), []
                        if payload.strip() == "[DONE]":
                            return
                        yield from self._pieces_of(payload)
                    continue
                if line.startswith(":"):
                    continue  # an SSE comment (keep-alive)
                field, _, value = line.partition(":")
                if field == "data":
                    data.append(value[1:] if value.startswith(" ") else value)
            # A server that closes without a blank line after its last event.
            if data:
                if "\n".join(data).strip() == "[DONE]":
                    return
                yield from self._pieces_of("\n".join(data))
        except httpx.HTTPError as exc:
            raise self._provider._transport_error(exc) from exc
        if not self._finished:
            # Neither [DONE] nor a finish_reason: the connection dropped half way.
            logger.warning("AI provider stream ended before it finished")
            raise ProviderError("The AI provider's stream ended before the reply was finished.")

    def _pieces_of(self, payload: str) -> Iterator[str]:
        try:
            chunk = json.loads(payload)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            logger.warning("AI provider sent a malformed stream chunk: %s", self._provider._redact(payload[:_ERROR_TEXT_CHARS]))
            raise ProviderError("The AI provider sent a malformed stream chunk.")
        if chunk.get("error"):
            error = chunk["error"]
            text = error.get("message") if isinstance(error, dict) else str(error)
            logger.warning("AI provider reported an error mid-stream: %s", self._provider._redact(str(text)[:_ERROR_TEXT_CHARS]))
            raise ProviderError("The AI provider failed while answering.")
        # A chunk without choices (e.g. a final usage-only chunk) carries no text.
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self._finished = True
            delta = choice.get("delta") if isinstance(choice, dict) else None
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                yield content
