"""Benchmark 0: what one wake-up costs on this machine, with no EnergyApp code at all.

A token stream at 30 tokens/s is mostly idle: the server sleeps, a packet arrives, it wakes,
does a little work and sleeps again. The CPU of a wake-up after a long idle (caches and branch
predictors cold, the scheduler's and the VM's own cost) is a floor under every "CPU per 1,000
tokens" figure at that rate, so it is measured here with a bare asyncio loop and a bare
thread, and the floor is printed for 20 wake-ups per second (one per 50 ms tick).
"""

from __future__ import annotations

import asyncio
import time

from bench.common import machine, save

INTERVALS_MS = (1, 10, 33, 50)
WAKES = 60


async def asyncio_wakes(interval: float, wakes: int) -> float:
    started = time.thread_time()
    for _ in range(wakes):
        await asyncio.sleep(interval)
    return (time.thread_time() - started) / wakes


def thread_wakes(interval: float, wakes: int) -> float:
    started = time.thread_time()
    for _ in range(wakes):
        time.sleep(interval)
    return (time.thread_time() - started) / wakes


def main() -> None:
    rows = []
    for interval_ms in INTERVALS_MS:
        interval = interval_ms / 1000
        wakes = max(WAKES, int(1.5 / interval))
        in_loop = asyncio.run(asyncio_wakes(interval, wakes))
        in_thread = thread_wakes(interval, wakes)
        rows.append(
            {
                "interval_ms": interval_ms,
                "wakes": wakes,
                "asyncio_cpu_us_per_wake": in_loop * 1e6,
                "thread_cpu_us_per_wake": in_thread * 1e6,
            }
        )
        print(
            f"every {interval_ms:>2} ms: asyncio {in_loop * 1e6:6.0f} µs CPU per wake-up, "
            f"bare thread {in_thread * 1e6:6.0f} µs",
            flush=True,
        )
    tick = next(r for r in rows if r["interval_ms"] == 50)
    seconds_per_1000_tokens_at_30 = 1000 / 30
    floor = tick["asyncio_cpu_us_per_wake"] / 1000 * 20 * seconds_per_1000_tokens_at_30
    print(
        f"floor at 30 tok/s with one wake-up per 50 ms tick: {floor:.0f} ms CPU per 1,000 "
        "tokens (one asyncio loop, nothing else)"
    )
    save("wakeup", {"machine": machine(), "rows": rows, "floor_ms_per_1000_tokens_at_30": floor})


if __name__ == "__main__":
    main()
