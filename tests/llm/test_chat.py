"""Every answer gives its connection back to the pool, however the consumer stops reading:
a leaked connection would hang the server once the pool (100 connections) is used up."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from energyapp.llm import client as llm_client
from energyapp.llm.chat import Delta, stream_chat
from tests.conftest import apply_env
from tests.ollama_standin import DEFAULT_MODEL

MESSAGES = [{"role": "user", "content": "hola"}]


def _connections_in_use(url: str) -> int:
    pool = llm_client.get_client(url=url)._client._transport._pool
    return sum(1 for connection in pool.connections if not connection.is_idle())


async def _read(stop_after_deltas: int | None) -> None:
    """Read like the services do: stop at the first non-delta, or after some deltas (Stop)."""
    seen = 0
    async with aclosing(stream_chat(DEFAULT_MODEL, MESSAGES)) as stream:
        async for event in stream:
            if not isinstance(event, Delta):
                break
            seen += 1
            if stop_after_deltas is not None and seen >= stop_after_deltas:
                break


async def test_answers_read_to_the_end_release_their_connections(
    app_env, monkeypatch, standin
) -> None:
    apply_env(monkeypatch, ollama_url=standin.url)
    llm_client._clients.clear()
    standin.configure(tokens=5, tokens_per_second=0)
    await asyncio.gather(*(_read(None) for _ in range(20)))
    assert _connections_in_use(standin.url) == 0


async def test_answers_stopped_midway_release_their_connections(
    app_env, monkeypatch, standin
) -> None:
    apply_env(monkeypatch, ollama_url=standin.url)
    llm_client._clients.clear()
    standin.configure(tokens=200, tokens_per_second=100)
    await asyncio.gather(*(_read(1) for _ in range(10)))
    assert _connections_in_use(standin.url) == 0
