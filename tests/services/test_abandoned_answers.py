"""An answer whose process died (an app host killed mid-answer) reads as interrupted within a
few `stream_save_seconds`, on any host, without waiting for the periodic sweep; one still
waiting for its first token is left alone until `stream_stale_seconds`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import Conversation, Message, MessageRole, utcnow
from energyapp.services import chat, conversations
from energyapp.settings import get_settings


@pytest.fixture
def owner(make_user) -> int:
    return make_user("ana@inacapmail.cl").id


def _answer(owner: int, *, content: str, silent_for: float) -> tuple[int, int]:
    """A conversation whose answer is `streaming`, last saved `silent_for` seconds ago."""
    with session_scope() as db:
        conversation = Conversation(owner_id=owner, title="t", model="m")
        db.add(conversation)
        db.flush()
        db.add(Message(conversation_id=conversation.id, role=MessageRole.user, content="hola"))
        answer = Message(
            conversation_id=conversation.id,
            role=MessageRole.assistant,
            content=content,
            status="streaming",
            model="m",
            updated_at=utcnow() - timedelta(seconds=silent_for),
        )
        db.add(answer)
        db.flush()
        return conversation.id, answer.id


def _status(message_id: int) -> str:
    with session_scope() as db:
        return db.exec(select(Message.status).where(Message.id == message_id)).one()


def test_the_bound_follows_stream_save_seconds(app_env) -> None:
    settings = get_settings()
    assert conversations.silent_answer_seconds(settings) == max(
        5.0, 4 * settings.stream_save_seconds
    )
    assert conversations.silent_answer_seconds(settings) < settings.stream_stale_seconds


def test_a_silent_answer_with_text_reads_as_interrupted(owner: int) -> None:
    silent = conversations.silent_answer_seconds(get_settings()) + 1
    conversation_id, answer_id = _answer(owner, content="Una respuesta a medias", silent_for=silent)
    _view, messages = conversations.get_with_messages(owner, conversation_id)
    assert [m.status for m in messages] == ["complete", "interrupted"]
    assert messages[-1].content == "Una respuesta a medias"  # the last save is kept
    assert _status(answer_id) == "interrupted"  # saved: every host and the retry agree


def test_a_live_answer_stays_streaming(owner: int) -> None:
    conversation_id, answer_id = _answer(owner, content="Va bien", silent_for=0.5)
    _view, messages = conversations.get_with_messages(owner, conversation_id)
    assert messages[-1].status == "streaming"
    assert chat.sweep_stale() == 0
    assert _status(answer_id) == "streaming"


def test_an_answer_waiting_for_its_first_token_waits_for_the_stale_bound(owner: int) -> None:
    settings = get_settings()
    quiet = conversations.silent_answer_seconds(settings) + 1
    conversation_id, answer_id = _answer(owner, content="", silent_for=quiet)
    assert conversations.get_with_messages(owner, conversation_id)[1][-1].status == "streaming"
    _cid, old_id = _answer(owner, content="", silent_for=settings.stream_stale_seconds + 1)
    assert chat.sweep_stale() == 1
    assert (_status(answer_id), _status(old_id)) == ("streaming", "interrupted")


def test_the_sweep_and_a_new_turn_use_the_same_rule(owner: int) -> None:
    silent = conversations.silent_answer_seconds(get_settings()) + 1
    _cid, swept = _answer(owner, content="texto", silent_for=silent)
    assert chat.sweep_stale() == 1 and _status(swept) == "interrupted"
    conversation_id, answer_id = _answer(owner, content="texto", silent_for=silent)
    turn = chat.start_turn(owner, conversation_id, "¿sigues?", get_settings().ollama_model)
    assert turn.conversation_id == conversation_id  # not busy: the dead answer is interrupted
    assert _status(answer_id) == "interrupted"
