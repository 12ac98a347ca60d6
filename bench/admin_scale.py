"""Benchmark 4: the admin panel and the dashboard on PostgreSQL with 10,000 users, 100,000
conversations and 1,000,000 messages (generated here with COPY). Times each admin column, the
sidebar, search and reassignment through the services the UI handlers and API routes call, and
the same lists through the API (routing, auth and JSON included)."""

from __future__ import annotations

import io
import itertools
import random
import time
from collections.abc import Callable

from bench.common import fresh_database, machine, save, summary, use_database

USERS, CONVERSATIONS, MESSAGES_PER_CONVERSATION = 10_000, 100_000, 10
REPEAT = 30
WORDS = (
    "turbina mantención informe voltaje panel solar contrato cliente reunión planta "
    "seguridad inventario factura proyecto revisión energía medición horario equipo "
    "transformador red subestación batería eficiencia consumo"
).split()
SYLLABLES = "ba be ca co da de ga go la le lo ma me mi na no pa pe ra re sa se ta te to za".split()


def vocabulary(rng: random.Random, size: int = 20_000) -> tuple[list[str], list[float]]:
    """Domain words plus invented ones, with Zipf-like frequencies like real text."""
    invented = {"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(size * 2)}
    words = [
        *("de la que el en y a los se del las un por con no una su para es al lo".split()),
        *WORDS,
        *sorted(invented)[:size],
    ]
    return words, list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))


def _copy(cursor, table: str, columns: str, rows) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(row) + "\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)


def generate(db_url: str) -> dict[str, int]:
    """Bulk-load the data set; returns a few ids the timings use."""
    import bcrypt
    import psycopg2

    rng = random.Random(7)
    password_hash = bcrypt.hashpw(b"clave-bench-1", bcrypt.gensalt(4)).decode()
    started = time.perf_counter()
    connection = psycopg2.connect(db_url.replace("postgresql+psycopg2://", "postgresql://"))
    with connection, connection.cursor() as cursor:
        roles = ["admin"] * 5 + ["supervisor"] * 50 + ["trabajador"] * (USERS - 55)
        _copy(
            cursor,
            "users",
            "email, name, password_hash, role, is_active, is_demo, totp_enabled, created_at",
            (
                (
                    f"persona{n}@bench.cl",
                    f"Persona {n}",
                    password_hash,
                    roles[n],
                    "t",
                    "f",
                    "f",
                    "2026-01-01 00:00:00+00",
                )
                for n in range(USERS)
            ),
        )
        cursor.execute("SELECT min(id) FROM users")
        first_user = cursor.fetchone()[0]
        # Most people have a handful of conversations, a few heavy users thousands (Zipf-like).
        workers = list(range(first_user + 55, first_user + USERS))
        weights = [1 / (rank + 1) ** 0.8 for rank in range(len(workers))]
        owners = rng.choices(workers, weights=weights, k=CONVERSATIONS)
        _copy(
            cursor,
            "conversations",
            "owner_id, title, model, created_at, updated_at",
            (
                (
                    str(owner),
                    " ".join(rng.sample(WORDS, 4)).capitalize(),
                    "qwen2.5:3b-instruct",
                    f"2026-{1 + n % 12:02d}-01 00:00:00+00",
                    f"2026-{1 + n % 12:02d}-{1 + n % 28:02d} {n % 24:02d}:00:00+00",
                )
                for n, owner in enumerate(owners)
            ),
        )
        cursor.execute("SELECT min(id) FROM conversations")
        first_conversation = cursor.fetchone()[0]

        words, weights = vocabulary(rng)

        def messages():
            for c in range(CONVERSATIONS):
                for m in range(MESSAGES_PER_CONVERSATION):
                    text = " ".join(rng.choices(words, cum_weights=weights, k=30))
                    yield (
                        str(first_conversation + c),
                        "user" if m % 2 == 0 else "assistant",
                        text,
                        "complete",
                        "2026-06-01 00:00:00+00",
                        "2026-06-01 00:00:00+00",
                    )

        _copy(
            cursor,
            "messages",
            "conversation_id, role, content, status, created_at, updated_at",
            messages(),
        )
        cursor.execute("ANALYZE")
        cursor.execute(
            "SELECT owner_id, count(*) FROM conversations GROUP BY owner_id "
            "ORDER BY count(*) DESC LIMIT 1"
        )
        busiest, busiest_count = cursor.fetchone()
    connection.close()
    print(
        f"generated {USERS:,} users, {CONVERSATIONS:,} conversations, "
        f"{CONVERSATIONS * MESSAGES_PER_CONVERSATION:,} messages in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return {
        "admin": first_user,
        "supervisor": first_user + 5,
        "busiest": busiest,
        "busiest_count": busiest_count,
        "typical": first_user + 5000,
        "conversation": first_conversation + 500,
        "target": first_user + 6000,
    }


def timed(name: str, call: Callable[[], object], rows: list[dict]) -> None:
    call()  # warm the caches and the connection pool once
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    stats = summary(samples)
    rows.append({"operation": name, **stats})
    print(f"{name:<48} p50 {stats['p50']:7.1f} ms   p95 {stats['p95']:7.1f} ms", flush=True)


def main() -> None:
    rows: list[dict] = []
    with fresh_database("energyapp_scale") as db_url:
        use_database(db_url)
        ids = generate(db_url)
        from fastapi.testclient import TestClient

        from energyapp.api.app import create_api
        from energyapp.db.engine import session_scope
        from energyapp.db.models import User
        from energyapp.services import admin, api_tokens, conversations
        from energyapp.services.views import UserView

        with session_scope() as db:
            admin_view = UserView.of(db.get(User, ids["admin"]))
            supervisor_view = UserView.of(db.get(User, ids["supervisor"]))
            token = api_tokens.issue_pair(db, ids["admin"]).access_token
        targets = [ids["target"], ids["typical"]]

        timed(
            "admin: users column (first page)", lambda: admin.list_users(admin_view, limit=51), rows
        )
        timed(
            "admin: users column (page at offset 5,000)",
            lambda: admin.list_users(admin_view, limit=51, offset=5000),
            rows,
        )
        timed("admin: users search", lambda: admin.list_users(admin_view, search="persona77"), rows)
        timed(
            "supervisor: users column (SQL-filtered)",
            lambda: admin.list_users(supervisor_view, limit=51),
            rows,
        )
        timed(
            f"admin: conversations column (user with {ids['busiest_count']:,})",
            lambda: admin.user_conversations(admin_view, ids["busiest"], limit=51),
            rows,
        )
        timed(
            "admin: messages column (audited read)",
            lambda: admin.conversation_messages(admin_view, ids["conversation"], "bench"),
            rows,
        )
        flip = iter(range(10**9))
        timed(
            "admin: reassign a conversation",
            lambda: admin.reassign(
                admin_view, ids["conversation"], targets[next(flip) % 2], "bench"
            ),
            rows,
        )
        timed(
            "admin: audit view (first page)", lambda: admin.audit_events(admin_view, limit=51), rows
        )
        timed(
            "dashboard: sidebar (busiest user)",
            lambda: conversations.list_for_user(ids["busiest"], limit=50),
            rows,
        )
        timed(
            "dashboard: search, a common word (busiest user)",
            lambda: conversations.list_for_user(ids["busiest"], search="transformador", limit=50),
            rows,
        )
        timed(
            "dashboard: search, a rare phrase (busiest user)",
            lambda: conversations.list_for_user(
                ids["busiest"], search="subestación batería", limit=50
            ),
            rows,
        )
        with TestClient(create_api(), base_url="http://localhost") as client:
            headers = {"Authorization": f"Bearer {token}"}
            timed(
                "API: GET /api/admin/users",
                lambda: client.get("/api/admin/users?limit=50", headers=headers),
                rows,
            )
            timed(
                "API: GET /api/admin/users/{busiest}/conversations",
                lambda: client.get(
                    f"/api/admin/users/{ids['busiest']}/conversations", headers=headers
                ),
                rows,
            )
    save(
        "admin_scale",
        {
            "machine": machine(),
            "users": USERS,
            "conversations": CONVERSATIONS,
            "messages": CONVERSATIONS * MESSAGES_PER_CONVERSATION,
            "repeat": REPEAT,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
