"""Benchmark 3: logins at the configured bcrypt cost. 20 clients logging in back to back
(closed loop) and a steady arrival rate (open loop); latency p50/p95, logins per second, and
what the login storm does to a chat stream running at the same time."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from bench.common import (
    PASSWORD,
    bearer_tokens,
    bench_stack,
    create_users,
    machine,
    save,
    summary,
)

CLIENTS = 20
DURATION = 15.0
OPEN_LOOP_RATE = 4.0  # logins per second


async def stream_gaps(url: str, token: str) -> dict[str, float]:
    """One chat stream at 30 tokens/s: time to first token and the longest gaps."""
    gaps, first, last = [], None, None
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(base_url=url, timeout=120) as client,
        client.stream(
            "POST",
            "/api/chat",
            json={"message": "hola"},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        async for line in response.aiter_lines():
            if json.loads(line)["type"] != "delta":
                continue
            now = time.perf_counter()
            if first is None:
                first = now - started
            elif last is not None:
                gaps.append(now - last)
            last = now
    gap = summary(gaps)
    return {
        "ttft_ms": (first or 0) * 1000,
        "gap_p50_ms": gap["p50"] * 1000,
        "gap_p95_ms": gap["p95"] * 1000,
        "gap_max_ms": max(gaps) * 1000,
    }


async def closed_loop(client: httpx.AsyncClient, emails: list[str]) -> tuple[list[float], float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + DURATION

    async def client_loop(email: str) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.post(
                "/api/auth/login", json={"email": email, "password": PASSWORD}
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(e) for e in emails))
    return latencies, time.perf_counter() - started


async def open_loop(url: str, emails: list[str]) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(email: str) -> None:
            started = time.perf_counter()
            (
                await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            ).raise_for_status()
            latencies.append(time.perf_counter() - started)

        tasks = []
        for n in range(int(DURATION * OPEN_LOOP_RATE)):
            tasks.append(asyncio.create_task(one(emails[n % len(emails)])))
            await asyncio.sleep(1 / OPEN_LOOP_RATE)
        await asyncio.gather(*tasks)
    return latencies


async def with_stream(url: str, token: str, emails: list[str]) -> tuple[dict, object]:
    """The login storm with a chat stream running. The clients' connection pool is made before
    the stream starts: building an httpx client loads the CA bundle (docs/benchmarks.md,
    Targets, "API at full speed"), and 20 of them would stall this process's own loop, which
    reads the stream (a gap that would be the benchmark's, not the server's)."""
    async with httpx.AsyncClient(
        base_url=url, timeout=60, limits=httpx.Limits(max_connections=len(emails))
    ) as client:
        stream = asyncio.create_task(stream_gaps(url, token))
        await asyncio.sleep(0.5)
        result = await closed_loop(client, emails)
        return await stream, result


def main() -> None:
    from energyapp.settings import get_settings

    with bench_stack() as (standin, server):
        rounds = get_settings().bcrypt_rounds
        emails = create_users(CLIENTS, rounds=rounds)  # the real cost: this is what we measure
        chatter = create_users(1, prefix="charla")
        standin.configure(tokens=300, tokens_per_second=30)
        token = asyncio.run(bearer_tokens(server.url, chatter))[0]
        quiet = asyncio.run(stream_gaps(server.url, token))
        started_cpu = server.cpu_seconds()
        loaded, (latencies, elapsed) = asyncio.run(with_stream(server.url, token, emails))
        cpu = server.cpu_seconds() - started_cpu
        steady = asyncio.run(open_loop(server.url, emails))
    closed, opened = summary(latencies), summary(steady)
    result = {
        "machine": machine(),
        "bcrypt_rounds": rounds,
        "clients": CLIENTS,
        "closed_loop": {
            "p50_ms": closed["p50"] * 1000,
            "p95_ms": closed["p95"] * 1000,
            "logins": closed["n"],
            "logins_per_second": closed["n"] / elapsed,
            "server_cpu_ms_per_login": cpu * 1000 / max(closed["n"], 1),
        },
        "open_loop": {
            "rate": OPEN_LOOP_RATE,
            "p50_ms": opened["p50"] * 1000,
            "p95_ms": opened["p95"] * 1000,
            "logins": opened["n"],
        },
        "chat_stream_quiet": quiet,
        "chat_stream_during_logins": loaded,
    }
    print(json.dumps(result, indent=2))
    save("login", result)


if __name__ == "__main__":
    main()
