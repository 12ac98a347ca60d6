"""Paced reads from Ollama: at most one socket read per tick of a shared grid, the first token
never delayed, every token still delivered, in order."""

from __future__ import annotations

import asyncio
import time

import httpcore
import pytest

from energyapp.llm import client as llm_client
from energyapp.llm.chat import Delta, Done, stream_chat
from energyapp.llm.pacing import PacedBackend, PacedStream, next_tick, paced_transport
from tests.conftest import apply_env
from tests.ollama_standin import DEFAULT_MODEL

MESSAGES = [{"role": "user", "content": "hola"}]


class _InstantStream(httpcore.AsyncNetworkStream):
    """A socket that always has data."""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return b"x"

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        pass

    async def aclose(self) -> None:
        pass


def test_the_next_read_waits_for_the_next_line_of_the_grid() -> None:
    assert next_tick(0.12, 0.05) == pytest.approx(0.15)
    assert next_tick(0.15, 0.05) == pytest.approx(0.20)  # a read on a line: the next one


async def test_reads_after_the_first_two_happen_once_per_tick_on_the_grid() -> None:
    loop = asyncio.get_running_loop()
    interval = 0.05
    stream = PacedStream(_InstantStream(), interval)
    await stream.write(b"request")
    times = []
    for _ in range(6):
        await stream.read(65536)
        times.append(loop.time())
    assert times[1] - times[0] < interval / 2  # headers and first token: not delayed
    ticks = [round(t / interval) for t in times[2:]]
    assert ticks == list(range(ticks[0], ticks[0] + 4))  # one read per tick, no tick skipped
    for t in times[2:]:  # on the shared grid (timers fire a little late, never early)
        assert 0 <= t - round(t / interval) * interval < interval / 2


async def test_a_new_request_on_a_kept_alive_connection_starts_unpaced() -> None:
    stream = PacedStream(_InstantStream(), 0.2)
    await stream.write(b"first request")
    for _ in range(3):
        await stream.read(65536)
    await stream.write(b"second request")
    started = time.monotonic()
    await stream.read(65536)
    await stream.read(65536)
    assert time.monotonic() - started < 0.1


def test_the_ollama_client_reads_through_the_paced_backend(app_env) -> None:
    transport = paced_transport(0.05)
    assert isinstance(transport._pool._network_backend, PacedBackend)


async def test_every_token_arrives_in_fewer_larger_deltas(app_env, monkeypatch, standin) -> None:
    apply_env(monkeypatch, ollama_url=standin.url, stream_flush_ms="100")
    llm_client._clients.clear()
    standin.configure(tokens=40, tokens_per_second=200)  # 0.2 s of tokens
    events = [e async for e in stream_chat(DEFAULT_MODEL, MESSAGES)]
    deltas = [e.text for e in events if isinstance(e, Delta)]
    assert isinstance(events[-1], Done)
    assert "".join(deltas) == "".join(standin.behavior.answer_tokens())
    assert len(deltas) <= 8  # about one per 100 ms tick, not 40


async def test_the_first_token_is_not_held_back(app_env, monkeypatch, standin) -> None:
    apply_env(monkeypatch, ollama_url=standin.url, stream_flush_ms="500")
    llm_client._clients.clear()
    standin.configure(tokens=5, tokens_per_second=10)
    for _ in range(2):  # also on the second request over the same connection
        started = time.monotonic()
        async for event in stream_chat(DEFAULT_MODEL, MESSAGES):
            if isinstance(event, Delta):
                assert time.monotonic() - started < 0.25  # a tick is 0.5 s
                break
