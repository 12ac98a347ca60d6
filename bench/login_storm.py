"""Benchmark 6: a login storm next to people at work. 200 clients log in to one account at the
same time, again and again (one in four with the right password), while 5 users browse their
conversation lists (GET /api/conversations in a loop) and 5 chats stream from the stand-in at a
steady 30 tokens/s. Browsing latency p50/p95 quiet and during the storm, every status code per
endpoint (the only 5xx allowed: 503 with Retry-After, on logins), and the streams' gaps between
tokens against the configured rhythm.

The server keeps the configured bcrypt cost; its per-account and per-IP failure limits are
lifted, so every attempt costs a hash: the worst case for the CPU (with the default limits the
account locks after 5 failures and later attempts are cheap 429s). The storm clients run in
their own process and honour Retry-After (capped at 5 s) on 503 and 429, as a client should;
on 200 and 401 they try again at once. Loopback only; about a minute and a half in all.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import ssl
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import httpx
import psutil

from bench.common import (
    PASSWORD,
    Server,
    Standin,
    bearer_tokens,
    bench_stack,
    cpu_seconds_of,
    create_users,
    machine,
    save,
    summary,
)

STORM_CLIENTS = 200
RIGHT_EVERY = 4  # one storm client in four types the right password
BROWSERS = 5
BROWSE_PAUSE = 0.1  # seconds between one user's page loads
CONVERSATIONS_EACH = 30
CHATS = 5
RATE = 30  # tokens per second from the stand-in
QUIET_SECONDS = 6.0
STORM_SECONDS = 25.0
RETRY_AFTER_CAP = 5.0
TARGET_BROWSE_P95_MS = 300
STORM_EMAIL = "tormenta@bench.cl"
NO_LIMITS = "1000000"
LONG_GAP = 0.2  # a gap between tokens this long is listed with its moment


# --- the storm, in its own process -------------------------------------------------------------
async def _storm(url: str, seconds: float) -> dict:
    """Each storm client has its own connection: one shared httpx pool of 200 connections
    rescans them all on every request and release (encode/httpcore#1035), and that client-side
    cost showed as seconds of "latency" for answers the server gave in milliseconds."""
    statuses: Counter[str] = Counter()
    latencies: dict[str, list[float]] = {}
    busy_without_retry_after = 0
    tls = ssl.create_default_context()  # one CA bundle load, not 200
    clients = [
        httpx.AsyncClient(base_url=url, timeout=60, verify=tls) for _ in range(STORM_CLIENTS)
    ]
    deadline = time.monotonic() + seconds

    async def one_client(number: int, client: httpx.AsyncClient) -> None:
        nonlocal busy_without_retry_after
        password = PASSWORD if number % RIGHT_EVERY == 0 else "clave-equivocada"
        async with client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/auth/login", json={"email": STORM_EMAIL, "password": password}
                    )
                except httpx.HTTPError as error:
                    statuses[type(error).__name__] += 1
                    continue
                latencies.setdefault(str(response.status_code), []).append(
                    (time.perf_counter() - started) * 1000
                )
                statuses[str(response.status_code)] += 1
                if response.status_code in (429, 503):
                    retry_after = response.headers.get("Retry-After")
                    if retry_after is None:
                        busy_without_retry_after += 1
                    wait = min(float(retry_after or 1), RETRY_AFTER_CAP)
                    await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))

    await asyncio.gather(*(one_client(n, c) for n, c in enumerate(clients)))
    return {
        "statuses": dict(statuses),
        "latency_ms": {code: summary(values) for code, values in sorted(latencies.items())},
        "without_retry_after": busy_without_retry_after,
    }


def run_storm(url: str, seconds: float) -> dict:
    return asyncio.run(_storm(url, seconds))


# --- the people at work, in this process ---------------------------------------------------------
class Timeline:
    """Which phase a moment belongs to: "quiet" until the storm starts, then "storm"."""

    def __init__(self) -> None:
        self.storm_from = float("inf")
        self.storm_until = float("inf")
        self.long_gaps: list[tuple[float, int]] = []  # (seconds into the storm, gap ms)

    def phase(self, moment: float) -> str | None:
        if moment < self.storm_from:
            return "quiet"
        return "storm" if moment < self.storm_until else None


async def browse(
    client: httpx.AsyncClient,
    token: str,
    until: float,
    timeline: Timeline,
    latencies: dict[str, list[float]],
    statuses: Counter[str],
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < until:
        started = time.monotonic()
        response = await client.get("/api/conversations", headers=headers)
        phase = timeline.phase(started)
        statuses[str(response.status_code)] += 1
        if phase and response.status_code == 200:
            latencies[phase].append(time.monotonic() - started)
        await asyncio.sleep(BROWSE_PAUSE)


async def probe_health(client: httpx.AsyncClient, until: float, statuses: Counter[str]) -> None:
    while time.monotonic() < until:
        response = await client.get("/api/health")
        statuses[str(response.status_code)] += 1
        await asyncio.sleep(1)


async def stream(
    url: str, token: str, timeline: Timeline, gaps: dict[str, list[float]], statuses: Counter[str]
) -> dict:
    tokens, last, ended = 0, None, None
    async with (
        httpx.AsyncClient(base_url=url, timeout=120) as client,
        client.stream(
            "POST",
            "/api/chat",
            json={"message": "hola"},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        statuses[str(response.status_code)] += 1
        async for line in response.aiter_lines():
            event = json.loads(line)
            if event["type"] != "delta":
                ended = event["type"]
                continue
            now = time.monotonic()
            tokens += len(event["text"].split())
            phase = timeline.phase(now)
            if last is not None and phase:
                gaps[phase].append(now - last)
                if phase == "storm" and now - last > LONG_GAP:
                    timeline.long_gaps.append(
                        (round(now - timeline.storm_from, 2), round((now - last) * 1000))
                    )
            last = now
    return {"tokens": tokens, "ended": ended}


async def workday(url: str, browse_tokens: list[str], chat_tokens: list[str]) -> dict:
    timeline = Timeline()
    browse_ms: dict[str, list[float]] = {"quiet": [], "storm": []}
    gaps: dict[str, list[float]] = {"quiet": [], "storm": []}
    statuses = {
        "GET /api/conversations": Counter(),
        "POST /api/chat": Counter(),
        "GET /api/health": Counter(),
    }
    until = time.monotonic() + QUIET_SECONDS + STORM_SECONDS + 1
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        streams = [
            asyncio.create_task(stream(url, t, timeline, gaps, statuses["POST /api/chat"]))
            for t in chat_tokens
        ]
        people = [
            asyncio.create_task(
                browse(client, t, until, timeline, browse_ms, statuses["GET /api/conversations"])
            )
            for t in browse_tokens
        ]
        health = asyncio.create_task(probe_health(client, until, statuses["GET /api/health"]))
        await asyncio.sleep(QUIET_SECONDS)
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            warm = loop.run_in_executor(pool, time.sleep, 0)  # the child starts before the clock
            await warm
            timeline.storm_from = time.monotonic()
            timeline.storm_until = timeline.storm_from + STORM_SECONDS
            storm = await loop.run_in_executor(pool, run_storm, url, STORM_SECONDS)
        await asyncio.gather(*people, health)
        ended = await asyncio.gather(*streams)
    return {
        "browse_ms": {k: [v * 1000 for v in vs] for k, vs in browse_ms.items()},
        "gaps_ms": {k: [v * 1000 for v in vs] for k, vs in gaps.items()},
        "statuses": {k: dict(v) for k, v in statuses.items()},
        "streams": ended,
        "storm": storm,
        "long_gaps": timeline.long_gaps,
    }


def postgres_cpu() -> dict[int, float]:
    """CPU so far of each PostgreSQL process (the server's queries run in its backends)."""
    found = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres":
            found[proc.pid] = cpu_seconds_of([proc])
    return found


def cpu_split(server: Server, standin: Standin) -> tuple[float, dict[int, float]]:
    """(CPU the machine spent outside the benchmark's own processes, PostgreSQL's per process).
    The rest of the machine should be idle: other work on a shared machine skews every figure."""
    busy = psutil.cpu_times()
    total = busy.user + busy.nice + busy.system + busy.irq + busy.softirq
    own = os.times()
    mine = own.user + own.system + own.children_user + own.children_system
    standin_cpu = cpu_seconds_of([psutil.Process(standin.process.pid)])
    return total - mine - server.cpu_seconds() - standin_cpu, postgres_cpu()


def seed(rounds: int) -> tuple[list[str], list[str]]:
    """The storm's account at the real bcrypt cost; readers with conversations; chatters."""
    from sqlmodel import select

    from energyapp.auth.passwords import hash_password
    from energyapp.db.engine import session_scope
    from energyapp.db.models import Conversation, User

    with session_scope() as db:
        db.add(
            User(
                email=STORM_EMAIL,
                name="Cuenta Tormenta",
                password_hash=hash_password(PASSWORD, rounds),
            )
        )
    readers = create_users(BROWSERS, prefix="lector")
    chatters = create_users(CHATS, prefix="charla")
    with session_scope() as db:
        for email in readers:
            owner = db.exec(select(User).where(User.email == email)).one()
            db.add_all(
                Conversation(
                    owner_id=owner.id, title=f"Conversación {n}", model="qwen2.5:3b-instruct"
                )
                for n in range(CONVERSATIONS_EACH)
            )
    return readers, chatters


def main() -> None:
    from energyapp.settings import get_settings

    with bench_stack(
        login_max_failures_per_account=NO_LIMITS, login_max_failures_per_ip=NO_LIMITS
    ) as (standin, server):
        settings = get_settings()
        readers, chatters = seed(settings.bcrypt_rounds)
        browse_tokens = asyncio.run(bearer_tokens(server.url, readers))
        chat_tokens = asyncio.run(bearer_tokens(server.url, chatters))
        tokens = int(RATE * (QUIET_SECONDS + STORM_SECONDS + 3))
        standin.configure(tokens=tokens, tokens_per_second=RATE)
        started_cpu, (started_rest, started_pg) = server.cpu_seconds(), cpu_split(server, standin)
        data = asyncio.run(workday(server.url, browse_tokens, chat_tokens))
        cpu = server.cpu_seconds() - started_cpu
        rest, pg = cpu_split(server, standin)
        pg_cpu = sum(seconds - started_pg.get(pid, 0.0) for pid, seconds in pg.items())
        others = rest - started_rest - pg_cpu
        hash_queue = settings.password_hash_queue
    statuses = {"POST /api/auth/login": data["storm"]["statuses"], **data["statuses"]}
    unexpected_5xx = {
        endpoint: {
            code: n
            for code, n in codes.items()
            if not code.isdigit()
            or (code.startswith("5") and not (endpoint == "POST /api/auth/login" and code == "503"))
        }
        for endpoint, codes in statuses.items()
    }
    unexpected_5xx = {k: v for k, v in unexpected_5xx.items() if v}
    quiet, storm = summary(data["browse_ms"]["quiet"]), summary(data["browse_ms"]["storm"])
    gap_quiet, gap_storm = summary(data["gaps_ms"]["quiet"]), summary(data["gaps_ms"]["storm"])
    result = {
        "machine": machine(),
        "bcrypt_rounds": settings.bcrypt_rounds,
        "password_hash_queue": hash_queue,
        "storm_clients": STORM_CLIENTS,
        "right_every": RIGHT_EVERY,
        "browsers": BROWSERS,
        "browse_pause_ms": BROWSE_PAUSE * 1000,
        "conversations_each": CONVERSATIONS_EACH,
        "chats": CHATS,
        "rate": RATE,
        "quiet_seconds": QUIET_SECONDS,
        "storm_seconds": STORM_SECONDS,
        "browse_quiet_ms": quiet,
        "browse_storm_ms": storm,
        "browse_storm_max_ms": max(data["browse_ms"]["storm"], default=float("nan")),
        "gap_quiet_ms": {**gap_quiet, "max": max(data["gaps_ms"]["quiet"], default=0)},
        "gap_storm_ms": {**gap_storm, "max": max(data["gaps_ms"]["storm"], default=0)},
        "long_gaps_storm": data["long_gaps"],
        "rhythm_ms": 1000 / RATE,
        "stream_tick_ms": settings.stream_flush_ms,
        "streams": data["streams"],
        "expected_tokens": tokens,
        "statuses": statuses,
        "unexpected_5xx": unexpected_5xx,
        "busy_without_retry_after": data["storm"]["without_retry_after"],
        "login_latency_ms": data["storm"]["latency_ms"],  # by status code
        "logins_answered_per_second": sum(
            n for code, n in data["storm"]["statuses"].items() if code in ("200", "401")
        )
        / STORM_SECONDS,
        "server_cpu_seconds": cpu,
        "window_seconds": QUIET_SECONDS + STORM_SECONDS,
        "postgres_cpu_seconds": pg_cpu,
        "other_processes_cpu_seconds": others,  # not the benchmark's: should be near 0
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    save("login_storm", result)


if __name__ == "__main__":
    main()
