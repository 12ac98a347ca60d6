"""Ollama clients and endpoint choice.

Clients are created on first use in each worker process and event loop (workers fork after
import; an httpx client must not cross event loops). With several base URLs configured,
requests go round-robin to the endpoints not marked down; one that refuses a connection rests
for `ollama_retry_dead_seconds`."""

from __future__ import annotations

import asyncio
import itertools
import os
import time

import httpx
import ollama

from energyapp.llm.pacing import paced_transport
from energyapp.settings import Settings, get_settings

_clients: dict[tuple[int, int, str], ollama.AsyncClient] = {}
_version_clients: dict[tuple[int, int, str], httpx.AsyncClient] = {}
_down_until: dict[str, float] = {}
_turn = itertools.count()


def _timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(settings.ollama_read_timeout, connect=settings.ollama_connect_timeout)


def _key(url: str) -> tuple[int, int, str]:
    return os.getpid(), id(asyncio.get_running_loop()), url


def get_client(settings: Settings | None = None, url: str | None = None) -> ollama.AsyncClient:
    settings = settings or get_settings()
    url = (url or settings.ollama_endpoints()[0]).rstrip("/")
    key = _key(url)
    client = _clients.get(key)
    if client is None:
        # trust_env=False: never route the local model through a proxy from the environment.
        client = ollama.AsyncClient(
            host=url,
            timeout=_timeout(settings),
            trust_env=False,
            transport=paced_transport(settings.stream_flush_ms / 1000),
        )
        _clients[key] = client
    return client


def endpoints_in_order(settings: Settings | None = None) -> list[str]:
    """Healthy endpoints first, rotated so consecutive requests spread; resting ones last
    (still tried if nothing else answers)."""
    settings = settings or get_settings()
    urls = settings.ollama_endpoints()
    start = next(_turn) % len(urls)
    rotated = urls[start:] + urls[:start]
    now = time.monotonic()
    return [u for u in rotated if _down_until.get(u, 0) <= now] + [
        u for u in rotated if _down_until.get(u, 0) > now
    ]


def mark_down(url: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    _down_until[url] = time.monotonic() + settings.ollama_retry_dead_seconds


def mark_up(url: str) -> None:
    _down_until.pop(url, None)


async def fetch_version(url: str, timeout: float) -> str:
    """Ollama's `/api/version` (the official client has no call for it). The HTTP client is
    kept like the Ollama clients: a new one loads the CA bundle for its TLS context, which made
    every `/api/health` cost several times more CPU (docs/benchmarks.md, Targets, "Fixed this
    run")."""
    key = _key(url)
    http = _version_clients.get(key)
    if http is None:
        http = _version_clients[key] = httpx.AsyncClient(trust_env=False)
    response = await http.get(url.rstrip("/") + "/api/version", timeout=timeout)
    response.raise_for_status()
    return str(response.json().get("version", ""))
