"""Ollama client factory. Clients are created on first use in each worker process and event loop
(workers fork after import; an httpx client must not cross event loops)."""

from __future__ import annotations

import asyncio
import os

import httpx
import ollama

from energyapp.settings import Settings, get_settings

_clients: dict[tuple[int, int, str], ollama.AsyncClient] = {}


def _timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(settings.ollama_read_timeout, connect=settings.ollama_connect_timeout)


def get_client(settings: Settings | None = None) -> ollama.AsyncClient:
    settings = settings or get_settings()
    url = str(settings.ollama_url).rstrip("/")
    key = (os.getpid(), id(asyncio.get_running_loop()), url)
    client = _clients.get(key)
    if client is None:
        # trust_env=False: never route the local model through a proxy from the environment.
        client = ollama.AsyncClient(host=url, timeout=_timeout(settings), trust_env=False)
        _clients[key] = client
    return client


async def fetch_version(settings: Settings, timeout: float) -> str:
    """Ollama's `/api/version` (the official client has no call for it)."""
    url = str(settings.ollama_url).rstrip("/") + "/api/version"
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as http:
        response = await http.get(url)
        response.raise_for_status()
        return str(response.json().get("version", ""))
