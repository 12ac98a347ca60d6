"""Streaming chat with Ollama, with every failure mapped to one `LLMError` kind.

The official client raises `ResponseError` for an HTTP error or an `{"error"}` line, raw httpx
errors for connection problems, and a JSON error for a cut line; callers see only `LLMError`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

import httpx
import ollama

from energyapp.llm.batching import in_batches
from energyapp.llm.client import endpoints_in_order, get_client, mark_down, mark_up


class LLMFailure(StrEnum):
    unavailable = "unavailable"  # nothing answers at the configured URL
    model_missing = "model_missing"  # Ollama does not have the model
    model_error = "model_error"  # Ollama answered with an error
    timeout = "timeout"
    dropped = "dropped"  # the connection broke mid-answer


SPANISH = {
    LLMFailure.unavailable: "El servicio del modelo no está disponible. Inténtalo más tarde.",
    LLMFailure.model_missing: "El modelo configurado no está instalado en el servidor.",
    LLMFailure.model_error: "El modelo respondió con un error.",
    LLMFailure.timeout: "El modelo tardó demasiado en responder.",
    LLMFailure.dropped: "Se interrumpió la conexión con el modelo.",
}


class LLMError(Exception):
    def __init__(self, kind: LLMFailure, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail

    @property
    def message(self) -> str:
        return SPANISH[self.kind]


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Done:
    prompt_tokens: int | None
    completion_tokens: int | None
    total_duration_ms: int | None


def _classify(exc: BaseException) -> LLMError:
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404:
            return LLMError(LLMFailure.model_missing, str(exc.error)[:200])
        return LLMError(LLMFailure.model_error, f"{exc.status_code} {str(exc.error)[:200]}")
    if isinstance(exc, httpx.TimeoutException):
        return LLMError(LLMFailure.timeout, type(exc).__name__)
    if isinstance(exc, httpx.ConnectError | ConnectionError):
        return LLMError(LLMFailure.unavailable, type(exc).__name__)
    if isinstance(exc, httpx.TransportError | json.JSONDecodeError):
        return LLMError(LLMFailure.dropped, type(exc).__name__)
    return LLMError(LLMFailure.model_error, type(exc).__name__)


async def _open(
    model: str, messages: list[dict[str, str]]
) -> tuple[AsyncGenerator[ollama.ChatResponse, None], ollama.ChatResponse]:
    """Start the stream on the first endpoint that answers; a refused connection moves on to
    the next one (nothing was generated yet, so nothing is repeated)."""
    last: BaseException | None = None
    for url in endpoints_in_order():
        try:
            # The client types the stream as an AsyncIterator; it is an async generator, and
            # its aclose() is what ends the HTTP response.
            stream = cast(
                "AsyncGenerator[ollama.ChatResponse, None]",
                await get_client(url=url).chat(model=model, messages=messages, stream=True),
            )
            first = await anext(stream)
        except (httpx.ConnectError, ConnectionError) as exc:
            mark_down(url)
            last = exc
            continue
        mark_up(url)
        return stream, first
    raise _classify(last or ConnectionError("no endpoint"))


async def stream_chat(
    model: str, messages: list[dict[str, str]]
) -> AsyncGenerator[Delta | Done, None]:
    """Yield `Delta`s as Ollama writes (one per network read: the tokens that arrived
    together), then one `Done`; raise `LLMError` on any failure."""
    async with aclosing(in_batches(_parts(model, messages))) as batches:
        async for batch in batches:
            text = "".join(event.text for event in batch if isinstance(event, Delta))
            if text:
                yield Delta(text)
            for event in batch:
                if isinstance(event, Done):
                    yield event


async def _parts(model: str, messages: list[dict[str, str]]) -> AsyncGenerator[Delta | Done, None]:
    """A `Delta` per part the client yields, then one `Done`."""
    stream = None
    try:
        stream, part = await _open(model, messages)
        while True:
            text = part.message.content if part.message else ""
            if text:
                yield Delta(text)
            if part.done:
                done = Done(
                    prompt_tokens=part.prompt_eval_count,
                    completion_tokens=part.eval_count,
                    total_duration_ms=(
                        part.total_duration // 1_000_000 if part.total_duration else None
                    ),
                )
                # Release the connection before anyone sees Done: the consumer stops at Done
                # and cancels this generator's task, and a close cut short by that cancel
                # would leave the connection checked out of the pool for good. (Closed before
                # the response's last chunk, the connection is dropped, not reused: cheaper
                # here, see `paced_transport`.)
                await stream.aclose()
                stream = None
                yield done
                return
            try:
                part = await anext(stream)
            except StopAsyncIteration:
                raise LLMError(LLMFailure.dropped, "stream ended without done") from None
    except LLMError:
        raise
    except (
        ollama.ResponseError,
        httpx.HTTPError,
        json.JSONDecodeError,
        ConnectionError,
        ValueError,
        StopAsyncIteration,
    ) as exc:
        raise _classify(exc) from exc
    finally:
        if stream is not None:
            await stream.aclose()  # closes the HTTP response: Ollama stops generating


async def list_models() -> list[str]:
    last: BaseException | None = None
    for url in endpoints_in_order():
        try:
            return sorted(m.model for m in (await get_client(url=url).list()).models if m.model)
        except (ollama.ResponseError, httpx.HTTPError, ValueError, ConnectionError) as exc:
            last = exc
    raise _classify(last or ConnectionError("no endpoint"))
