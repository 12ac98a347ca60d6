"""Concurrent duplicates: the database decides (migration 0007). However many requests race, a
request id adds one message per user, and a conversation writes one answer at a time; the
losers get the same turn back (replayed) or a 409 in Spanish, never a second message and never
a 500. On SQLite and PostgreSQL, through the services, the API and the UI's handler."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from alembic import command
from energyapp.db.engine import session_scope
from energyapp.db.migrate import alembic_config
from energyapp.db.models import Conversation, Message, MessageStatus, utcnow
from energyapp.domain.errors import Conflict
from energyapp.services import chat
from energyapp.services.chat import BUSY, Finished, Turn
from tests.conftest import api_login

PARALLEL = 20
BUSY_START = "Ya hay una respuesta en curso en esta conversación."
MODEL = "qwen2.5:3b-instruct"


def in_parallel(count: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in `count` threads released at once; each result or the exception."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - the test inspects every outcome
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def rows() -> tuple[list[Conversation], list[Message]]:
    with session_scope() as db:
        return (
            list(db.exec(select(Conversation).order_by(Conversation.id)).all()),
            list(db.exec(select(Message).order_by(Message.id)).all()),
        )


def streaming_count(conversation_id: int) -> int:
    return sum(
        1 for m in rows()[1] if m.conversation_id == conversation_id and m.status == "streaming"
    )


def finish(turn: Turn) -> None:
    chat.finish(turn.assistant_message_id, Finished(MessageStatus.complete, "Listo."))


def busy(outcome: object) -> bool:
    return isinstance(outcome, Conflict) and outcome.code == "busy" and outcome.message == BUSY


@pytest.fixture
def ana(make_user):
    return make_user("ana@empresa.cl")


# --- the services -------------------------------------------------------------------------------
def test_one_request_id_adds_one_message_however_many_race(ana) -> None:
    outcomes = in_parallel(
        PARALLEL, lambda _i: chat.start_turn(ana.id, None, "Hola", MODEL, request_id="req-1")
    )
    won = [o for o in outcomes if isinstance(o, Turn) and o.replayed is None]
    assert len(won) == 1, outcomes
    # The others found it streaming: a 409 "busy" (a finished one is replayed, below).
    assert all(busy(o) for o in outcomes if o is not won[0]), outcomes
    conversations, messages = rows()
    assert len(conversations) == 1 and [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].request_id == "req-1" and messages[0].user_id == ana.id

    finish(won[0])
    again = in_parallel(
        PARALLEL, lambda _i: chat.start_turn(ana.id, None, "Hola", MODEL, request_id="req-1")
    )
    assert all(
        isinstance(o, Turn)
        and o.replayed is not None
        and o.assistant_message_id == won[0].assistant_message_id
        for o in again
    ), again
    assert len(rows()[1]) == 2


def test_the_same_request_id_of_another_user_is_another_message(ana, make_user) -> None:
    bea = make_user("bea@empresa.cl")
    outcomes = in_parallel(
        PARALLEL,
        lambda i: chat.start_turn((ana, bea)[i % 2].id, None, "Hola", MODEL, request_id="req-1"),
    )
    assert sum(isinstance(o, Turn) for o in outcomes) == 2
    conversations, messages = rows()
    assert sorted(c.owner_id for c in conversations) == sorted([ana.id, bea.id])
    assert len(messages) == 4


def test_one_answer_at_a_time_per_conversation(ana) -> None:
    first = chat.start_turn(ana.id, None, "Primera", MODEL)
    finish(first)
    conversation = first.conversation_id
    outcomes = in_parallel(
        PARALLEL,
        lambda i: chat.start_turn(ana.id, conversation, f"Mensaje {i}", MODEL, request_id=f"r-{i}"),
    )
    assert sum(isinstance(o, Turn) for o in outcomes) == 1, outcomes
    assert sum(busy(o) for o in outcomes) == PARALLEL - 1, outcomes
    assert streaming_count(conversation) == 1
    assert sum(1 for m in rows()[1] if m.role == "user") == 2  # the first and the winner


def test_regenerations_and_sends_race_for_one_stream(ana) -> None:
    first = chat.start_turn(ana.id, None, "Primera", MODEL)
    finish(first)
    conversation = first.conversation_id

    def work(i: int) -> Turn:
        if i % 2:
            return chat.start_regeneration(ana.id, conversation)
        return chat.start_turn(ana.id, conversation, f"Mensaje {i}", MODEL)

    outcomes = in_parallel(PARALLEL, work)
    assert sum(isinstance(o, Turn) for o in outcomes) == 1, outcomes
    assert sum(busy(o) for o in outcomes) == PARALLEL - 1, outcomes
    assert streaming_count(conversation) == 1


def test_a_stream_left_by_a_crash_does_not_block_the_conversation(ana) -> None:
    first = chat.start_turn(ana.id, None, "Primera", MODEL)  # never finished: a crash
    with session_scope() as db:
        db.get(Message, first.assistant_message_id).updated_at = utcnow() - timedelta(hours=1)
    second = chat.start_turn(ana.id, first.conversation_id, "Otra", MODEL)
    by_id = {m.id: m for m in rows()[1]}
    assert by_id[first.assistant_message_id].status == "interrupted"
    assert by_id[second.assistant_message_id].status == "streaming"


def test_the_database_itself_refuses_a_second_stream_and_a_reused_request_id(ana) -> None:
    turn = chat.start_turn(ana.id, None, "Hola", MODEL, request_id="req-db")
    with pytest.raises(IntegrityError), session_scope() as db:
        db.add(Message(conversation_id=turn.conversation_id, role="assistant", status="streaming"))
    with pytest.raises(IntegrityError), session_scope() as db:
        db.add(
            Message(
                conversation_id=turn.conversation_id,
                role="user",
                content="x",
                request_id="req-db",
                user_id=ana.id,
            )
        )


def test_a_request_id_of_a_conversation_handed_to_someone_else(ana, make_user) -> None:
    bea = make_user("bea@empresa.cl")
    turn = chat.start_turn(ana.id, None, "Hola", MODEL, request_id="req-x")
    finish(turn)
    with session_scope() as db:
        db.get(Conversation, turn.conversation_id).owner_id = bea.id
    with pytest.raises(Conflict) as refused:
        chat.start_turn(ana.id, None, "Hola", MODEL, request_id="req-x")
    assert refused.value.code == "request_id_used"
    assert chat.start_turn(bea.id, None, "Hola", MODEL, request_id="req-x").replayed is None


# --- the API: 20 parallel POST /api/chat ----------------------------------------------------------
@pytest.fixture
def client(api, ana):
    tokens = api_login(api, "ana@empresa.cl", "clave-segura-1").json()
    api.cookies.clear()
    api.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    return api


def test_api_parallel_posts_with_one_request_id(client, standin) -> None:
    responses = in_parallel(
        PARALLEL,
        lambda _i: client.post("/api/chat", json={"message": "Hola", "request_id": "req-api"}),
    )
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 409}, codes
    fresh = [r for r in responses if r.status_code == 200 and '"replayed"' not in r.text]
    assert len(fresh) == 1
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["detail"].startswith(BUSY_START)
    conversations, messages = rows()
    assert len(conversations) == 1 and len(messages) == 2 and len(standin.chat_requests) == 1


def test_api_parallel_posts_to_one_conversation(client, standin) -> None:
    first = client.post("/api/chat", json={"message": "Primera"})
    conversation = json.loads(first.text.splitlines()[0])["conversation_id"]
    standin.configure(tokens=20, tokens_per_second=20)  # the winner streams for a second
    responses = in_parallel(
        PARALLEL,
        lambda i: client.post(
            "/api/chat", json={"message": f"Mensaje {i}", "conversation_id": conversation}
        ),
    )
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 1 and codes.count(409) == PARALLEL - 1, codes
    for refused in (r for r in responses if r.status_code == 409):
        body = refused.json()
        assert body["code"] == "busy" and body["detail"].startswith(BUSY_START)
    assert sum(1 for m in rows()[1] if m.role == "user") == 2
    assert streaming_count(conversation) == 0  # the winner finished and saved


# --- the UI: two tabs of one user send at once ----------------------------------------------------
def test_ui_two_tabs_sending_at_once(app_env, ana, standin) -> None:
    from reflex_base.event import Event

    from energyapp.db.models import User
    from energyapp.services import sessions
    from energyapp.states.chat import ChatState
    from energyapp.states.gate import SessionGate
    from tests.states.test_gate import Persona, app_handlers, tab

    first = chat.start_turn(ana.id, None, "Primera", MODEL)
    finish(first)
    standin.configure(tokens=20, tokens_per_second=40)
    send = next(n for n, s, h in app_handlers() if s == "ChatState" and h == "send_message")

    async def one_tab(index: int) -> ChatState:
        with session_scope() as db:
            login = sessions.create_session(db, db.get(User, ana.id), "10.0.0.1", "pytest")
        root = tab(Persona("ana", login.token, login.session_id), sid=f"socket-{index}")
        root.router_data = root._update_router_vars(
            {**root.router_data, "token": f"tab-{index}"}, root.router_data
        )
        form = {"draft": f"Desde la pestaña {index}"}
        assert (
            await SessionGate().preprocess(
                app=None, state=root, event=Event(name=send, payload={"form": form})
            )
            is None
        )
        state = await root.get_state(ChatState)
        state.active_id = first.conversation_id  # both tabs show the same conversation
        await ChatState.send_message.fn(state, form)  # what the background task runs
        return state

    async def both() -> list[ChatState]:
        return list(await asyncio.gather(one_tab(1), one_tab(2)))

    tabs = asyncio.run(both())
    assert sorted(bool(t.error) for t in tabs) == [False, True]
    loser = next(t for t in tabs if t.error)
    assert loser.error == BUSY and not loser.sending
    assert loser.draft.startswith("Desde la pestaña")  # kept for another try
    winner = next(t for t in tabs if not t.error)
    assert [m["role"] for m in winner.messages] == ["user", "assistant"]
    users = [m.content for m in rows()[1] if m.role == "user"]
    assert len(users) == 2 and users[0] == "Primera"


# --- the migration cleans what earlier races left ---------------------------------------------
def test_migration_0007_cleans_duplicates_first(app_env, db_url: str, make_user) -> None:
    ana_id, bea_id = make_user("ana@empresa.cl").id, make_user("bea@empresa.cl").id
    config = alembic_config(db_url)
    command.downgrade(config, "0006")
    engine = create_engine(db_url)
    now = utcnow().isoformat(sep=" ")
    with engine.begin() as conn:

        def insert_conversation(owner: int) -> int:
            conn.execute(
                text(
                    "INSERT INTO conversations (owner_id, title, model, created_at, "
                    "updated_at) VALUES (:o, 't', 'm', :n, :n)"
                ),
                {"o": owner, "n": now},
            )
            return conn.execute(text("SELECT MAX(id) FROM conversations")).scalar_one()

        def insert_message(
            conversation: int, role: str, status: str, request_id: str | None = None
        ) -> int:
            conn.execute(
                text(
                    "INSERT INTO messages (conversation_id, role, content, status, request_id, "
                    "created_at, updated_at) VALUES (:c, :r, 'x', :s, :q, :n, :n)"
                ),
                {"c": conversation, "r": role, "s": status, "q": request_id, "n": now},
            )
            return conn.execute(text("SELECT MAX(id) FROM messages")).scalar_one()

        c1, c2, c3 = (
            insert_conversation(ana_id),
            insert_conversation(ana_id),
            insert_conversation(bea_id),
        )
        keep = insert_message(c1, "user", "complete", "dup")
        lost = insert_message(c2, "user", "complete", "dup")  # ana's same id, twice
        other = insert_message(c3, "user", "complete", "dup")  # bea's: another user
        old_stream = insert_message(c1, "assistant", "streaming")
        new_stream = insert_message(c1, "assistant", "streaming")
        lone_stream = insert_message(c2, "assistant", "streaming")
    command.upgrade(config, "0007")
    with engine.connect() as conn:
        found = {
            row.id: row
            for row in conn.execute(text("SELECT id, status, request_id, user_id FROM messages"))
        }
    assert (found[keep].request_id, found[keep].user_id) == ("dup", ana_id)
    assert (found[lost].request_id, found[lost].user_id) == (None, None)
    assert (found[other].request_id, found[other].user_id) == ("dup", bea_id)
    assert found[old_stream].status == "interrupted"
    assert found[new_stream].status == found[lone_stream].status == "streaming"
    indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("messages")}
    assert indexes["ux_messages_user_request"]["unique"]
    assert indexes["ux_messages_one_streaming"]["unique"]
    assert "ix_messages_request_id" not in indexes
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text("UPDATE messages SET status = 'streaming' WHERE id = :i"), {"i": old_stream}
        )
    engine.dispose()
    command.upgrade(config, "head")
