"""Benchmark 1: POST /api/chat streams at 1, 10 and 50 concurrent users, the stand-in at 30
tokens/s and at full speed, 500 tokens per answer. The direct `ollama` client against the same
stand-in is the zero-overhead baseline. Prints and saves: TTFT added over the baseline (p50/p95),
tokens delivered per second, server CPU ms per 1,000 tokens, and whether every token arrived and
was saved."""

from __future__ import annotations

import asyncio
import json
import ssl
import time

import httpx
import ollama
import psutil
from sqlmodel import select

from bench.common import (
    bearer_tokens,
    bench_stack,
    create_users,
    machine,
    save,
    summary,
)

TOKENS = 500
MODEL = "qwen2.5:3b-instruct"
LEVELS = (1, 10, 50)
RATES = (30, 0)  # tokens per second; 0 = as fast as the stand-in can
# Besides all users starting in the same instant, 50 users arriving one after another over this
# long: each new stream starts while the earlier ones are streaming.
ARRIVALS_OVER = 2.0


# One TLS context for every baseline client. A new client otherwise loads the CA bundle, CPU
# that would count as its streaming cost (docs/benchmarks.md, Targets, "API at full speed");
# the server builds its client once per worker.
BASELINE_TLS = ssl.create_default_context()


async def direct_run(url: str, users: int, spread: float = 0.0) -> list[float]:
    client = ollama.AsyncClient(host=url, timeout=120, verify=BASELINE_TLS)

    async def one(n: int) -> float:
        await asyncio.sleep(n * spread / users)
        started = time.perf_counter()
        first = None
        async for part in await client.chat(
            MODEL, [{"role": "user", "content": "hola"}], stream=True
        ):
            if first is None and part.message.content:
                first = time.perf_counter() - started
        return first or 0.0

    return list(await asyncio.gather(*(one(n) for n in range(users))))


async def app_run(
    url: str,
    tokens: list[str],
    spread: float = 0.0,
) -> tuple[list[float], list[str | None], float]:
    """Each user streams one answer (user n starts n × spread / users seconds in); per user the
    time to the first token and the text received (None when the stream did not end with
    "done")."""
    async with httpx.AsyncClient(
        base_url=url, timeout=300, limits=httpx.Limits(max_connections=200)
    ) as client:

        async def one(n: int, token: str) -> tuple[float, str | None]:
            await asyncio.sleep(n * spread / len(tokens))
            started = time.perf_counter()
            first, parts, done = None, [], False
            async with client.stream(
                "POST",
                "/api/chat",
                json={"message": "hola"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                async for line in response.aiter_lines():
                    event = json.loads(line)
                    if event["type"] == "delta":
                        parts.append(event["text"])
                        if first is None:
                            first = time.perf_counter() - started
                    elif event["type"] == "done":
                        done = True
            return (first or 0.0), ("".join(parts) if done else None)

        started = time.perf_counter()
        results = await asyncio.gather(*(one(n, t) for n, t in enumerate(tokens)))
        elapsed = time.perf_counter() - started
    return [r[0] for r in results], [r[1] for r in results], elapsed


def saved_complete(expected_text: str) -> tuple[int, int]:
    from energyapp.db.engine import session_scope
    from energyapp.db.models import Message

    with session_scope() as db:
        answers = db.exec(select(Message).where(Message.role == "assistant")).all()
        good = sum(1 for m in answers if m.status == "complete" and m.content == expected_text)
        return good, len(answers)


def measure(
    standin,
    server,
    tokens: list[str],
    expected: str,
    rate: int,
    users: int,
    spread: float = 0.0,
    workers: int = 1,
) -> dict:
    """One row: the direct client, then the app, with the same users, rate and arrivals. At
    full speed a few users are measured over several rounds: one 500-token answer is over too
    soon for the CPU clock's ticks (docs/benchmarks.md §1, the max tok/s rows)."""
    from energyapp.db.engine import session_scope
    from energyapp.db.models import Conversation, Message

    rounds = max(1, 10 // users) if rate == 0 else 1
    standin.configure(tokens=TOKENS, tokens_per_second=rate)
    client_cpu = psutil.Process().cpu_times()
    direct = [t for _ in range(rounds) for t in asyncio.run(direct_run(standin.url, users, spread))]
    after = psutil.Process().cpu_times()
    direct_cpu_ms = ((after.user + after.system) - (client_cpu.user + client_cpu.system)) * 1000
    with session_scope() as db:  # each level counts only its own answers
        db.exec(Message.__table__.delete())
        db.exec(Conversation.__table__.delete())
    ttft, texts, elapsed = [], [], 0.0
    cpu_before = server.cpu_seconds()
    for _ in range(rounds):
        round_ttft, round_texts, round_elapsed = asyncio.run(
            app_run(server.url, tokens[:users], spread)
        )
        ttft, texts, elapsed = ttft + round_ttft, texts + round_texts, elapsed + round_elapsed
    cpu_ms = (server.cpu_seconds() - cpu_before) * 1000
    delivered = TOKENS * sum(1 for text in texts if text == expected)
    good, total = saved_complete(expected)
    app, base = summary(ttft), summary(direct)
    row = {
        "rate": rate or "max",
        "users": users,
        "arrivals_over_s": spread,
        "workers": workers,
        "rounds": rounds,
        "ttft_app_ms": {k: v * 1000 for k, v in app.items() if k != "n"},
        "ttft_direct_ms": {k: v * 1000 for k, v in base.items() if k != "n"},
        "added_ttft_ms": {
            "p50": (app["p50"] - base["p50"]) * 1000,
            "p95": (app["p95"] - base["p95"]) * 1000,
        },
        "tokens_per_second": delivered / elapsed,
        "cpu_ms_per_1000_tokens": cpu_ms / max(delivered, 1) * 1000,
        "direct_client_cpu_ms_per_1000_tokens": direct_cpu_ms / (users * rounds * TOKENS) * 1000,
        "all_tokens_arrived": all(text == expected for text in texts),
        "all_saved": good == total == users * rounds,
    }
    print(
        f"workers={workers} rate={row['rate']:>3} users={users:>2} over {spread:.0f} s  "
        f"added TTFT p50 {row['added_ttft_ms']['p50']:6.1f} ms p95 "
        f"{row['added_ttft_ms']['p95']:6.1f} ms  "
        f"{row['tokens_per_second']:8.0f} tok/s  "
        f"CPU {row['cpu_ms_per_1000_tokens']:6.1f} ms/1k tok (direct client "
        f"{row['direct_client_cpu_ms_per_1000_tokens']:5.1f})  "
        f"arrived={row['all_tokens_arrived']} saved={row['all_saved']}",
        flush=True,
    )
    return row


def prepare(standin, server, users: int) -> tuple[list[str], str]:
    """Users with bearer tokens, the expected answer, and a warmed-up server."""
    from tests.ollama_standin import Behavior

    emails = create_users(users)
    tokens = asyncio.run(bearer_tokens(server.url, emails))
    standin.configure(tokens=50, tokens_per_second=0)  # warm the workers up first
    asyncio.run(app_run(server.url, tokens[:10]))
    return tokens, "".join(Behavior(tokens=TOKENS).answer_tokens())


def main() -> None:
    rows = []
    with bench_stack() as (standin, server):
        tokens, expected = prepare(standin, server, max(LEVELS))
        # Added TTFT of one stream, from 30 sequential short requests each way.
        standin.configure(tokens=5, tokens_per_second=0)
        direct_single, app_single = [], []
        for _ in range(30):
            direct_single += asyncio.run(direct_run(standin.url, 1))
            app_single += asyncio.run(app_run(server.url, tokens[:1]))[0]
        single = {
            "direct_ms": summary([t * 1000 for t in direct_single]),
            "app_ms": summary([t * 1000 for t in app_single]),
        }
        single["added_p50_ms"] = single["app_ms"]["p50"] - single["direct_ms"]["p50"]
        single["added_p95_ms"] = single["app_ms"]["p95"] - single["direct_ms"]["p95"]
        print(
            f"one stream, 30 requests: added TTFT p50 {single['added_p50_ms']:.1f} ms "
            f"p95 {single['added_p95_ms']:.1f} ms",
            flush=True,
        )
        for rate in RATES:
            for users in LEVELS:
                rows.append(measure(standin, server, tokens, expected, rate, users))
        rows.append(measure(standin, server, tokens, expected, 30, max(LEVELS), ARRIVALS_OVER))
    # The production shape for a burst: two workers (one per core) sharing state through Redis.
    with bench_stack(workers=2) as (standin, server):
        tokens, expected = prepare(standin, server, max(LEVELS))
        for spread in (0.0, ARRIVALS_OVER):
            rows.append(
                measure(standin, server, tokens, expected, 30, max(LEVELS), spread, workers=2)
            )
    save(
        "chat_api",
        {
            "machine": machine(),
            "tokens_per_answer": TOKENS,
            "rows": rows,
            "single_stream_ttft": single,
        },
    )


if __name__ == "__main__":
    main()
