"""Benchmarks 2 and 5: the dashboard streaming in Chromium with 1, 5 and 20 pages at once (stand-in
at 30 tokens/s, 500 tokens), and 20 pages again with two workers (UI state in Redis). Per answer:
time from Enter to the first visible token and to the full answer (measured in the page), how
long it streamed on the server, Chromium's CPU, websocket bytes received, server CPU; and the
server's memory per connected browser and per active stream."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import psutil
from playwright.sync_api import sync_playwright
from sqlmodel import col, select

from bench.common import (
    PASSWORD,
    bench_stack,
    cpu_seconds_of,
    create_users,
    machine,
    save,
    summary,
)
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

LEVELS = (1, 5, 20)
TOKENS, RATE = 500, 30

WATCH = """() => {
  window.__bench = {first: null, done: null};
  const check = () => {
    const live = document.querySelector('#live-answer');
    if (window.__bench.first === null && live && live.innerText.trim().length > 0
        && !document.querySelector('#typing-indicator')) {
      window.__bench.first = performance.now();
    }
    if (window.__bench.done === null && document.querySelector('.bubble-assistant')
        && !document.querySelector('#live-answer')) {
      window.__bench.done = performance.now();
    }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true,
                                                     characterData: true});
}"""


def open_pages(browser, server_url: str, emails: list[str]) -> list:
    pages = []
    for email in emails:
        context = browser.new_context(base_url=server_url, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.__dict__["ws_bytes"] = [0]

        def on_ws(ws, counter=page.__dict__["ws_bytes"]) -> None:
            ws.on(
                "framereceived",
                lambda payload: counter.__setitem__(
                    0, counter[0] + len(payload if isinstance(payload, bytes | str) else b"")
                ),
            )

        page.on("websocket", on_ws)
        page.goto("/login")
        page.get_by_label("Correo electrónico").fill(email)
        page.get_by_label("Contraseña").fill(PASSWORD)
        page.get_by_role("button", name="Entrar").click()
        page.wait_for_url("**/dashboard/")
        page.get_by_label("Mensaje").wait_for()
        pages.append(page)
    return pages


def chromium_processes() -> list[psutil.Process]:
    return [proc for proc in psutil.process_iter(["name"]) if "chrom" in (proc.info["name"] or "")]


def lower_browser_priority() -> None:
    """The pages share this machine's two cores with the server and the stand-in; in production
    each browser runs on its user's own machine. Chromium gets the lowest CPU priority so that
    it uses what the server leaves, not the reverse. Chromium gives each new renderer its own
    priority, so this runs once the pages of a level are open."""
    for proc in chromium_processes():
        try:
            proc.nice(19)
        except psutil.Error:
            pass


def browser_cpu_seconds() -> float:
    """CPU of every Chromium process: with 20 pages they take most of both cores, and a page
    that waits for CPU paints late although the server sent in time."""
    return cpu_seconds_of(chromium_processes())


def server_answer_seconds(since: datetime) -> list[float]:
    """How long each answer streamed on the server: its row's creation to its final save."""
    from energyapp.db.engine import session_scope
    from energyapp.db.models import Message, MessageRole

    with session_scope() as db:
        rows = db.exec(
            select(Message).where(
                Message.role == MessageRole.assistant, col(Message.created_at) >= since
            )
        ).all()
        return [(m.updated_at - m.created_at).total_seconds() for m in rows]


def run_level(browser, server, standin, emails: list[str]) -> dict:
    pages = open_pages(browser, server.url, emails)
    lower_browser_priority()
    time.sleep(1)
    rss_connected = server.rss_bytes()
    for page in pages:
        page.evaluate(WATCH)
        page.get_by_label("Mensaje").fill("Escribe un informe largo")
        page.__dict__["ws_bytes"][0] = 0
    from energyapp.db.models import utcnow

    sent_at = utcnow()
    cpu_before, browser_before, wall_before = (
        server.cpu_seconds(),
        browser_cpu_seconds(),
        time.monotonic(),
    )
    for page in pages:
        page.evaluate("window.__bench.t0 = performance.now()")
        page.get_by_label("Mensaje").press("Enter")
    time.sleep(TOKENS / RATE / 2)
    rss_streaming = server.rss_bytes()
    first, full = [], []
    deadline = time.monotonic() + TOKENS / RATE * 3 + 30
    pending = list(pages)
    while pending and time.monotonic() < deadline:
        for page in list(pending):
            marks = page.evaluate("window.__bench")
            if marks["done"] is not None:
                first.append(marks["first"] - marks["t0"])
                full.append(marks["done"] - marks["t0"])
                pending.remove(page)
        time.sleep(0.5)
    cpu_ms = (server.cpu_seconds() - cpu_before) * 1000
    browser_cores = (browser_cpu_seconds() - browser_before) / (time.monotonic() - wall_before)
    ws_bytes = [page.__dict__["ws_bytes"][0] for page in pages]
    texts_ok = all(
        len(p.locator(".bubble-assistant").first.inner_text().split()) == TOKENS
        for p in pages
        if p not in pending
    )
    for page in pages:
        page.context.close()
    answers = len(pages) - len(pending)
    return {
        "pages": len(pages),
        "completed": answers,
        "full_text_shown": texts_ok,
        "first_visible_token_ms": summary(first),
        "full_answer_ms": summary(full),
        "server_answer_s": summary(server_answer_seconds(sent_at)),
        "browser_cpu_cores": browser_cores,
        "server_cpu_ms_per_answer": cpu_ms / max(answers, 1),
        "server_cpu_ms_per_1000_tokens": cpu_ms / max(answers * TOKENS, 1) * 1000,
        "ws_bytes_per_answer": sum(ws_bytes) / max(len(ws_bytes), 1),
        "rss_connected_mb": rss_connected / 2**20,
        "rss_streaming_mb": rss_streaming / 2**20,
    }


def run_levels(levels: tuple[int, ...], workers: int) -> list[dict]:
    rows = []
    with bench_stack(workers=workers) as (standin, server):
        emails = create_users(sum(levels))
        time.sleep(2)
        rss_idle = server.rss_bytes()
        # Real answers have paragraphs; the live bubble freezes finished ones.
        standin.configure(tokens=TOKENS, tokens_per_second=RATE, paragraph_every=40)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            start = 0
            for level in levels:
                row = run_level(browser, server, standin, emails[start : start + level])
                start += level
                row["rss_idle_mb"] = rss_idle / 2**20
                row["workers"] = workers
                rows.append(row)
                print(
                    f"workers={workers} pages={level:>2} first token p50 "
                    f"{row['first_visible_token_ms']['p50']:6.0f} ms p95 "
                    f"{row['first_visible_token_ms']['p95']:6.0f} ms  full p50 "
                    f"{row['full_answer_ms']['p50'] / 1000:5.1f} s (server "
                    f"{row['server_answer_s']['p50']:4.1f} s, Chromium "
                    f"{row['browser_cpu_cores']:.1f} cores)  CPU "
                    f"{row['server_cpu_ms_per_1000_tokens']:6.1f} ms/1k tok  ws "
                    f"{row['ws_bytes_per_answer'] / 1024:6.0f} KiB/answer  RSS "
                    f"{row['rss_connected_mb']:.0f}->{row['rss_streaming_mb']:.0f} MiB",
                    flush=True,
                )
            browser.close()
    return rows


def main() -> None:
    # Several workers keep the UI state in Redis (production with GRANIAN_WORKERS > 1): every
    # flush then reads and writes it there, so the largest level is measured that way too.
    rows = run_levels(LEVELS, workers=1) + run_levels(LEVELS[-1:], workers=2)
    save("ui_stream", {"machine": machine(), "tokens": TOKENS, "rate": RATE, "rows": rows})


if __name__ == "__main__":
    asyncio.run(asyncio.sleep(0))
    main()
