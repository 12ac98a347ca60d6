"""Paced reads from Ollama: a socket is read at most once per tick of a shared clock.

At a model's pace (tens of tokens per second) every token would otherwise arrive alone and wake
the server on its own, and a wake-up costs more CPU than the token's work (docs/benchmarks.md
§0, what one wake-up after an idle spell costs). Reading once per tick lets the
tokens written meanwhile pile up in the kernel's buffer and arrive in one read, and the ticks
are aligned to one grid, so the reads of every open stream happen in the same wake-up.

A read is never delayed when the previous one is older than a tick (the first token after a
pause is passed on at once), and the first reads of each response are never delayed, so the
time to the first token is unchanged. The pacing lives under httpx (an httpcore network
backend), so the official `ollama` client parses and yields exactly what it always does.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import typing

import httpcore
import httpx

# The response headers and the first token may come in separate reads; neither is delayed.
UNPACED_READS = 2


def next_tick(last_read: float, interval: float) -> float:
    """When the next read may happen: the first grid line after the last read. A read within
    the current tick waits for the next one; after a pause the line is already past."""
    return (math.floor(last_read / interval + 1e-9) + 1) * interval  # 0.15/0.05 = 2.999…


class PacedStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, interval: float) -> None:
        self._inner = inner
        self._interval = interval
        self._reads = 0  # since the last request was written on this (kept-alive) connection
        self._last_read = 0.0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        loop = asyncio.get_running_loop()
        if self._reads >= UNPACED_READS:
            wait = next_tick(self._last_read, self._interval) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        data = await self._inner.read(max_bytes, timeout)
        self._reads += 1
        self._last_read = loop.time()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._reads = 0  # a new request: its response starts unpaced
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> PacedStream:
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return PacedStream(inner, self._interval)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class PacedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, interval: float, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._interval = interval
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, *args: typing.Any, **kwargs: typing.Any) -> PacedStream:
        return PacedStream(await self._inner.connect_tcp(*args, **kwargs), self._interval)

    async def connect_unix_socket(self, *args: typing.Any, **kwargs: typing.Any) -> PacedStream:
        stream = await self._inner.connect_unix_socket(*args, **kwargs)
        return PacedStream(stream, self._interval)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def paced_transport(interval_seconds: float) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (pooling, errors, TLS) with the paced backend underneath.

    httpx has no public hook for the network backend; the pool's attribute is set after
    construction (pinned httpcore; tests/llm/test_pacing.py fails loudly if it moves)."""
    # httpx's default limits. A streamed answer does not go back to the pool anyway (the client
    # closes it at `done`, before the response's last chunk); reading that chunk to keep the
    # connection was measured and costs more: httpcore 1.0.9 rescans every pooled connection on
    # each request and release (encode/httpcore#1035), and a 50-chat burst spent more CPU than
    # with a fresh connection per answer (docs/benchmarks.md, Targets, "Every answer opens its
    # own connection to Ollama").
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    pool = transport._pool  # see the docstring
    if not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpcore's connection pool changed: pacing cannot be installed")
    pool._network_backend = PacedBackend(interval_seconds)
    return transport
