"""The LLM seam: a one-method client protocol and its OpenAI-compatible implementation.

:class:`OpenAIClient` talks to any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp's
server) through the ``openai`` SDK in async mode. The SDK's own retries are switched off and
replaced by :class:`RetryPolicy`, so every retry is counted and its reason recorded: 408, 409, 429
and 5xx answers, timeouts and connection errors are retried with exponential backoff and full
jitter, waiting at least what ``Retry-After`` (or ``retry-after-ms``) asks. Other errors fail the
item at once. The API key is read from the environment by the SDK and never stored or logged here.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429}


@dataclass(frozen=True)
class LLMRequest:
    """One generation request.

    Either ``messages`` (chat completion) or ``prompt`` (text completion, for few-shot prompting) is set.
    """

    messages: tuple[dict[str, str], ...] | None = None
    prompt: str | None = None
    max_tokens: int = 256
    temperature: float = 0.7
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class LLMResponse:
    text: str
    finish_reason: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    refusal: str | None = None


class LLMError(Exception):
    """A request that failed for good; ``reason`` is a short slug recorded with the failed item."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class LLMClient(Protocol):
    """Anything that turns an :class:`LLMRequest` into an :class:`LLMResponse` (or raises :class:`LLMError`)."""

    model: str

    async def complete(self, request: LLMRequest) -> LLMResponse: ...


@dataclass
class Usage:
    """Requests, retries and tokens of a run, for the summary."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: Counter = field(default_factory=Counter)

    def add(self, response: LLMResponse) -> None:
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After``.

    Args:
        max_retries: Retries after the first attempt.
        base: First backoff ceiling in seconds; doubles per retry.
        cap: Largest backoff ceiling.
        max_retry_after: Longest ``Retry-After`` honoured; a longer one fails the item instead of stalling the run.
    """

    max_retries: int = 5
    base: float = 0.5
    cap: float = 20.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = rng.uniform(0, min(self.cap, self.base * 2**attempt))
        if retry_after is None:
            return backoff
        # The server's wait is a floor; a little jitter on top keeps clients that were told the same from colliding.
        return retry_after + rng.uniform(0, min(1.0, 0.1 * retry_after + 0.05))


def retry_after_seconds(headers) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or an HTTP date); ``None`` if absent or bad."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIClient:
    """Async client for an OpenAI-compatible endpoint with counted, jittered retries.

    Args:
        model: Model name sent with each request (``--llm-model``).
        base_url: Endpoint, e.g. ``http://127.0.0.1:8080/v1``; ``None`` uses ``OPENAI_BASE_URL`` or OpenAI.
        timeout: Seconds before one request counts as timed out (and is retried).
        retry: Retry policy.
        seed: Seed of the jitter.
        api_key: Key sent to the endpoint; ``None`` reads ``OPENAI_API_KEY`` (a placeholder when unset,
            for servers that need none). Never stored by domainemb or written anywhere.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        seed: int = 0,
        api_key: str | None = None,
    ) -> None:
        import os

        import openai

        self.model = model
        self.retry = retry or RetryPolicy()
        self.usage = Usage()
        self._rng = random.Random(seed)
        key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
            timeout=timeout,
            max_retries=0,  # retries are ours, counted and jittered
        )
        self._openai = openai

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Send one request, retrying transient failures.

        Raises:
            LLMError: with reason ``http-<status>``, ``timeout``, ``connection`` or ``bad-response``
                once retries are exhausted or the error is not transient.
        """
        attempt = 0
        while True:
            self.usage.requests += 1
            try:
                response = await self._send(request)
            except _Transient as exc:
                if attempt >= self.retry.max_retries:
                    raise LLMError(exc.reason, f"gave up after {attempt + 1} attempts: {exc.detail}") from None
                if exc.retry_after is not None and exc.retry_after > self.retry.max_retry_after:
                    raise LLMError(exc.reason, f"server asked to wait {exc.retry_after:.0f}s") from None
                wait = self.retry.delay(attempt, exc.retry_after, self._rng)
                self.usage.retries[exc.reason] += 1
                log.debug("retrying after %s in %.2fs (attempt %d)", exc.reason, wait, attempt + 1)
                attempt += 1
                await asyncio.sleep(wait)
                continue
            self.usage.add(response)
            return response

    async def _send(self, request: LLMRequest) -> LLMResponse:
        openai = self._openai
        chat = request.messages is not None
        body: dict = {"model": self.model, "max_tokens": request.max_tokens, "temperature": request.temperature}
        if chat:
            body["messages"] = list(request.messages)
        else:
            body["prompt"] = request.prompt or ""
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        try:
            # The SDK's generic `post` sends the body as built here: `create()` would first walk it against
            # the parameter types, which costs more CPU than the rest of a request at high concurrency.
            raw = await self._client.post(
                "/chat/completions" if chat else "/completions",
                body=body,
                cast_to=openai.types.chat.ChatCompletion if chat else openai.types.Completion,
            )
        except openai.APITimeoutError:
            raise _Transient("timeout", "no answer within the timeout") from None
        except openai.APIConnectionError as exc:
            raise _Transient("connection", type(exc.__cause__ or exc).__name__) from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            reason = f"http-{status}"
            if status in RETRY_STATUS or status >= 500:
                raise _Transient(reason, _short(exc.message), retry_after_seconds(exc.response.headers)) from None
            raise LLMError(reason, _short(exc.message)) from None
        except openai.APIResponseValidationError as exc:
            raise LLMError("bad-response", _short(str(exc))) from None
        except (ValueError, RecursionError) as exc:  # the SDK decodes the body: empty, not JSON, 5000 digits, deep
            raise LLMError("bad-response", f"the body is no JSON the SDK can decode: {_short(str(exc))}") from None
        return _response(raw, chat=chat)


class _Transient(Exception):
    def __init__(self, reason: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.detail, self.retry_after = reason, detail, retry_after


def _response(raw, chat: bool) -> LLMResponse:
    """The answer of a completion, or ``LLMError("bad-response")`` for any body that is not one.

    The SDK builds its response objects without validating them, so a server that answers 200 with
    ``{"choices": "nope"}`` gets here as is: every field is checked for its type.
    """
    choices = getattr(raw, "choices", None)
    if not choices:
        raise LLMError("bad-response", "no choices in the answer")
    if not isinstance(choices, list):
        raise LLMError("bad-response", f"choices is a {type(choices).__name__}, not a list")
    choice = choices[0]
    if chat:
        message = getattr(choice, "message", None)
        if message is None:
            raise LLMError("bad-response", "the first choice has no message")
        text, refusal = getattr(message, "content", None) or "", getattr(message, "refusal", None)
    else:
        text, refusal = getattr(choice, "text", None) or "", None
    finish_reason = getattr(choice, "finish_reason", None)
    if not isinstance(text, str) or not isinstance(refusal, str | None) or not isinstance(finish_reason, str | None):
        raise LLMError("bad-response", "the first choice is not a completion (text, refusal or finish_reason)")
    usage = getattr(raw, "usage", None)
    return LLMResponse(
        text=text,
        finish_reason=finish_reason,
        prompt_tokens=_token_count(getattr(usage, "prompt_tokens", 0)),
        completion_tokens=_token_count(getattr(usage, "completion_tokens", 0)),
        refusal=refusal,
    )


def _token_count(value: object) -> int:
    """A usage count as the server gave it; anything that is not a whole number counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        return 0
    return int(value)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
