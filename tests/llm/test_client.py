"""The HTTP stack under the Ollama client stays cheap per request."""

from __future__ import annotations

import ssl
from importlib.machinery import PathFinder
from unittest.mock import patch

from httpcore._synchronization import current_async_library

from energyapp.llm.client import fetch_version
from tests.ollama_standin import StandInOllama


async def test_httpcore_finds_the_event_loop_without_searching_the_disk_each_time() -> None:
    # httpcore asks for sniffio on every lock, event and shield; when it is missing each ask is
    # a failed import that scans sys.path (encode/httpcore#1103), hence sniffio is pinned.
    current_async_library()
    with patch.object(PathFinder, "find_spec", wraps=PathFinder.find_spec) as finder:
        for _ in range(20):
            assert current_async_library() == "asyncio"
    assert finder.call_count == 0


async def test_probing_ollama_again_builds_no_new_tls_context(standin: StandInOllama) -> None:
    # A new HTTP client loads the CA bundle: what /api/health cost per call before
    # (docs/benchmarks.md, Targets, "Fixed this run").
    assert await fetch_version(standin.url, 2) == standin.behavior.version
    with patch.object(ssl.SSLContext, "load_verify_locations") as load:
        for _ in range(3):
            assert await fetch_version(standin.url, 2) == standin.behavior.version
    assert load.call_count == 0
