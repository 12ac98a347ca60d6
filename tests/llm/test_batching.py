"""`in_batches`: what arrived together is handed over together, in order; errors and early
exits reach the source."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from energyapp.llm.batching import in_batches


async def _bursts(bursts: list[list[str]], log: list[str], fail: Exception | None = None):
    try:
        for burst in bursts:
            await asyncio.sleep(0.01)  # the network: the consumer runs while we wait
            for item in burst:  # one read's worth, no waiting in between
                yield item
        if fail is not None:
            raise fail
    finally:
        log.append("source closed")


async def test_items_that_arrive_together_come_as_one_batch() -> None:
    log: list[str] = []
    batches = [b async for b in in_batches(_bursts([["a", "b", "c"], ["d"], ["e", "f"]], log))]
    assert batches == [["a", "b", "c"], ["d"], ["e", "f"]]
    assert log == ["source closed"]


async def test_the_sources_error_comes_after_the_items_before_it() -> None:
    log: list[str] = []
    received: list[list[str]] = []
    with pytest.raises(ValueError, match="cut"):
        async for batch in in_batches(_bursts([["a"], ["b", "c"]], log, ValueError("cut"))):
            received.append(batch)
    assert received == [["a"], ["b", "c"]]


async def test_closing_early_closes_the_source() -> None:
    log: list[str] = []
    async with aclosing(in_batches(_bursts([["a"], ["b"], ["c"]] * 50, log))) as batches:
        assert await anext(batches) == ["a"]
    assert log == ["source closed"]


async def test_cancelling_the_consumer_closes_the_source() -> None:
    log: list[str] = []

    async def consume() -> None:
        async for _ in in_batches(_bursts([["x"]] * 1000, log)):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["source closed"]
