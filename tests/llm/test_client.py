"""The HTTP stack under the Ollama client stays cheap per request."""

from __future__ import annotations

from importlib.machinery import PathFinder
from unittest.mock import patch

from httpcore._synchronization import current_async_library


async def test_httpcore_finds_the_event_loop_without_searching_the_disk_each_time() -> None:
    # httpcore asks for sniffio on every lock, event and shield; when it is missing each ask is
    # a failed import that scans sys.path (encode/httpcore#1103), hence sniffio is pinned.
    current_async_library()
    with patch.object(PathFinder, "find_spec", wraps=PathFinder.find_spec) as finder:
        for _ in range(20):
            assert current_async_library() == "asyncio"
    assert finder.call_count == 0
