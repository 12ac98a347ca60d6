"""One delta per network read instead of one per token.

Ollama's client yields a part per NDJSON line, also when one read brought many lines. Passing
each on separately costs a websocket delta or an HTTP write per token; here a task drains the
source and the consumer takes everything that arrived together as one `Delta`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Inbox(Generic[T]):
    items: list[T] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False
    error: BaseException | None = None


async def _pump(source: AsyncIterator[T], inbox: _Inbox[T]) -> None:
    try:
        async for item in source:
            inbox.items.append(item)
            inbox.ready.set()
    except asyncio.CancelledError:
        raise  # the consumer went away; the source's own cleanup has run
    except Exception as exc:  # noqa: BLE001 - handed over to the consumer, raised there
        inbox.error = exc
    finally:
        inbox.finished = True
        inbox.ready.set()


async def in_batches(source: AsyncIterator[T]) -> AsyncGenerator[list[T], None]:
    """Yield lists of the items that arrived while the consumer was busy (in arrival order);
    the source's exception is raised here after the items before it. Closing or cancelling this
    generator cancels the source, which closes its HTTP response."""
    inbox: _Inbox[T] = _Inbox()
    pump = asyncio.create_task(_pump(source, inbox))
    try:
        while True:
            await inbox.ready.wait()
            inbox.ready.clear()
            batch, inbox.items = inbox.items, []
            if batch:
                yield batch
            if inbox.finished and not inbox.items:
                if inbox.error is not None:
                    raise inbox.error
                return
    finally:
        if not pump.done():
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
