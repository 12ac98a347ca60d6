"""A chat turn, shared by the dashboard and POST /api/chat, built so that no word is lost:

1. `start_turn` commits the user's message (and an empty "streaming" answer) before the model
   is called; a retried request id or a busy conversation never adds a second one.
2. `answer` streams from Ollama, saves the partial text every few seconds, and always ends by
   saving what arrived with a status: complete, stopped (the consumer closed it), interrupted
   (cancelled: shutdown) or error (Ollama failed, timed out or dropped the connection).
3. `sweep_stale` marks answers left "streaming" by a crash as interrupted (on start-up and
   periodically).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select, update

from energyapp.db.engine import session_scope
from energyapp.db.models import (
    Conversation,
    Message,
    MessageRole,
    MessageStatus,
    utcnow,
)
from energyapp.llm.chat import Delta, Done, LLMError, LLMFailure, stream_chat
from energyapp.logging_setup import APP_LOGGER, log_event
from energyapp.services.conversations import MessageView, owned
from energyapp.services.errors import Conflict, InvalidInput, NotFound
from energyapp.settings import Settings, get_settings

BUSY = "Ya hay una respuesta en curso en esta conversación. Espera a que termine o detenla."
MODEL_PATTERN = re.compile(r"[\w.:/-]{1,100}")
REQUEST_ID_PATTERN = re.compile(r"[\w.:-]{1,64}")
TITLE_LENGTH = 60


@dataclass(frozen=True)
class Turn:
    conversation_id: int
    title: str
    user_message: MessageView
    assistant_message_id: int
    model: str
    context: list[dict[str, str]]
    replayed: MessageView | None = None  # a retried request whose answer already exists


@dataclass(frozen=True)
class Finished:
    status: MessageStatus
    content: str
    error: LLMError | None = None
    stats: Done | None = None
    first_token_ms: int | None = None


def clean_message(text: str, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    text = (text or "").strip()
    if not text:
        raise InvalidInput("Escribe un mensaje antes de enviarlo.")
    if len(text) > settings.max_message_chars:
        raise InvalidInput(
            f"El mensaje tiene {len(text):,} caracteres y el máximo es "
            f"{settings.max_message_chars:,}. Acórtalo o divídelo en partes.".replace(",", ".")
        )
    return text


def choose_model(requested: str | None, available: list[str] | None = None) -> str:
    """The settings' model unless choice is allowed and the requested one exists in Ollama."""
    settings = get_settings()
    if not requested or requested == settings.ollama_model:
        return settings.ollama_model
    if not settings.allow_model_choice:
        raise InvalidInput("Este servidor no permite elegir otro modelo.")
    if not MODEL_PATTERN.fullmatch(requested):
        raise InvalidInput("El nombre del modelo no es válido.")
    if available is not None and requested not in available:
        raise InvalidInput(f"El modelo «{requested}» no está instalado en el servidor.")
    return requested


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _stale_before(settings: Settings):  # noqa: ANN202 - datetime
    return utcnow() - timedelta(seconds=settings.stream_stale_seconds)


def _busy(db: Session, conversation_id: int, settings: Settings) -> bool:
    return db.exec(select(Message.id).where(
        Message.conversation_id == conversation_id,
        Message.status == MessageStatus.streaming,
        col(Message.updated_at) > _stale_before(settings),
    ).limit(1)).first() is not None


def build_context(db: Session, conversation_id: int, upto_message_id: int,
                  settings: Settings) -> list[dict[str, str]]:
    """System prompt plus the latest messages up to the user's, within the budget. Answers that
    carry no text (failed before the first token) are left out."""
    rows = db.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id, col(Message.id) <= upto_message_id)
        .order_by(col(Message.id).desc())
        .limit(settings.context_max_messages)
    ).all()
    history: list[dict[str, str]] = []
    budget = settings.context_max_chars
    for row in rows:  # newest first
        if row.role == MessageRole.assistant and (not row.content or
                                                  row.status == MessageStatus.streaming):
            continue
        content = row.content
        if history and len(content) > budget:
            break
        content = content[-budget:] if not history else content  # the user's message always goes
        budget -= len(content)
        history.append({"role": row.role.value, "content": content})
    history.reverse()
    return [{"role": "system", "content": settings.system_prompt}, *history]


def _placeholder(db: Session, conversation: Conversation, model: str, *,
                 touch: bool = True) -> Message:
    """The empty answer that streams; `touch` moves an existing conversation to the top (a new
    one is already there, and touching it would cost an extra UPDATE)."""
    answer = Message(conversation_id=conversation.id, role=MessageRole.assistant, content="",
                     status=MessageStatus.streaming, model=model)
    db.add(answer)
    if touch:
        conversation.updated_at = utcnow()
    db.flush()
    return answer


def _replay(db: Session, user_id: int, request_id: str) -> Turn | None:
    """A request id seen before: its answer if finished, a conflict while it streams."""
    found = db.exec(
        select(Message, Conversation)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(Message.request_id == request_id, Conversation.owner_id == user_id,
               Message.role == MessageRole.user)
    ).first()
    if found is None:
        return None
    user_message, conversation = found
    answer = db.exec(select(Message).where(
        Message.conversation_id == conversation.id, col(Message.id) > user_message.id,
        Message.role == MessageRole.assistant).order_by(col(Message.id))).first()
    if answer is None or answer.status == MessageStatus.streaming:
        raise Conflict(BUSY, code="busy")
    assert conversation.id is not None and answer.id is not None
    return Turn(conversation_id=conversation.id, title=conversation.title,
                user_message=MessageView.of(user_message), assistant_message_id=answer.id,
                model=answer.model or conversation.model, context=[],
                replayed=MessageView.of(answer))


def start_turn(user_id: int, conversation_id: int | None, text: str, model: str,
               request_id: str | None = None) -> Turn:
    """Commit the user's message and an empty answer; the model is called after this."""
    settings = get_settings()
    text = clean_message(text, settings)
    if request_id is not None and not REQUEST_ID_PATTERN.fullmatch(request_id):
        raise InvalidInput("El identificador de la solicitud no es válido.")
    with session_scope() as db:
        if request_id and (replayed := _replay(db, user_id, request_id)) is not None:
            return replayed
        if conversation_id is None:
            conversation = Conversation(owner_id=user_id, title=title_from(text), model=model)
            db.add(conversation)
            db.flush()
        else:
            conversation = owned(db, user_id, conversation_id)
            if _busy(db, conversation_id, settings):
                raise Conflict(BUSY, code="busy")
        assert conversation.id is not None
        user_message = Message(conversation_id=conversation.id, role=MessageRole.user,
                               content=text, request_id=request_id)
        db.add(user_message)  # flushed with the placeholder: one round trip, ids in order
        answer = _placeholder(db, conversation, model, touch=conversation_id is not None)
        assert user_message.id is not None and answer.id is not None
        if conversation_id is None:  # a new conversation's history is this message alone
            context = [{"role": "system", "content": settings.system_prompt},
                       {"role": "user", "content": text[-settings.context_max_chars:]}]
        else:
            context = build_context(db, conversation.id, user_message.id, settings)
        return Turn(conversation_id=conversation.id, title=conversation.title,
                    user_message=MessageView.of(user_message),
                    assistant_message_id=answer.id, model=model, context=context)


def start_regeneration(user_id: int, conversation_id: int) -> Turn:
    """A new answer to the latest user message; earlier answers stay in the conversation."""
    settings = get_settings()
    with session_scope() as db:
        conversation = owned(db, user_id, conversation_id)
        if _busy(db, conversation_id, settings):
            raise Conflict(BUSY, code="busy")
        last_user = db.exec(select(Message).where(
            Message.conversation_id == conversation_id, Message.role == MessageRole.user,
        ).order_by(col(Message.id).desc())).first()
        if last_user is None or last_user.id is None:
            raise NotFound("No hay un mensaje para responder de nuevo.")
        model = conversation.model
        answer = _placeholder(db, conversation, model)
        assert answer.id is not None
        return Turn(conversation_id=conversation_id, title=conversation.title,
                    user_message=MessageView.of(last_user), assistant_message_id=answer.id,
                    model=model,
                    context=build_context(db, conversation_id, last_user.id, settings))


def save_progress(message_id: int, content: str) -> None:
    with session_scope() as db:
        db.exec(update(Message)
                .where(col(Message.id) == message_id, col(Message.status) == "streaming")
                .values(content=content, updated_at=utcnow()))


def finish(message_id: int, outcome: Finished) -> None:
    """Save the outcome: two UPDATEs, no reads (it runs once per answer, on the hot path)."""
    stats = outcome.stats
    now = utcnow()
    with session_scope() as db:
        conversation_id = db.exec(
            update(Message).where(col(Message.id) == message_id).values(
                content=outcome.content, status=outcome.status, updated_at=now,
                first_token_ms=outcome.first_token_ms,
                **({"prompt_tokens": stats.prompt_tokens,
                    "completion_tokens": stats.completion_tokens,
                    "total_duration_ms": stats.total_duration_ms} if stats else {}),
            ).returning(Message.conversation_id)
        ).scalar_one_or_none()
        if conversation_id is None:  # the conversation was deleted meanwhile
            return
        db.exec(update(Conversation).where(col(Conversation.id) == conversation_id)
                .values(updated_at=now))


async def answer(turn: Turn) -> AsyncIterator[Delta | Finished]:
    """Stream the model's answer for a started turn, persisting as it goes.

    Yields `Delta`s, then one `Finished`. If the consumer closes the generator early (Stop, a
    closed connection), the partial text is saved as `stopped`; if the task is cancelled
    (shutdown), as `interrupted`."""
    settings = get_settings()
    parts: list[str] = []
    started = last_save = time.monotonic()
    first_token_ms: int | None = None
    outcome: Finished | None = None
    status = MessageStatus.interrupted
    try:
        async with asyncio.timeout(settings.max_answer_seconds):
            async with aclosing(stream_chat(turn.model, turn.context)) as stream:
                async for event in stream:
                    if isinstance(event, Done):
                        outcome = Finished(MessageStatus.complete, "".join(parts), None, event,
                                           first_token_ms)
                        break
                    if first_token_ms is None:
                        first_token_ms = int((time.monotonic() - started) * 1000)
                    parts.append(event.text)
                    yield event
                    if time.monotonic() - last_save >= settings.stream_save_seconds:
                        last_save = time.monotonic()
                        await asyncio.to_thread(save_progress, turn.assistant_message_id,
                                                "".join(parts))
    except LLMError as error:
        outcome = Finished(MessageStatus.error, "".join(parts), error, None, first_token_ms)
    except TimeoutError:
        outcome = Finished(MessageStatus.error, "".join(parts), LLMError(LLMFailure.timeout),
                           None, first_token_ms)
    except GeneratorExit:
        status = MessageStatus.stopped
        raise
    finally:
        final = outcome or Finished(status, "".join(parts), None, None, first_token_ms)
        await asyncio.shield(asyncio.to_thread(finish, turn.assistant_message_id, final))
        log_event(APP_LOGGER, "answer_finished", conversation_id=turn.conversation_id,
                  message_id=turn.assistant_message_id, status=final.status.value,
                  chars=len(final.content), first_token_ms=first_token_ms,
                  error=final.error.kind.value if final.error else None)
    yield outcome


def sweep_stale(*, everything: bool = False) -> int:
    """Answers left "streaming" by a crash or restart become "interrupted". At start-up of a
    single-process server nothing can be streaming, so `everything` marks them all; with
    several workers only answers silent for `stream_stale_seconds` are touched."""
    settings = get_settings()
    statement = update(Message).where(col(Message.status) == "streaming")
    if not everything:
        statement = statement.where(col(Message.updated_at) <= _stale_before(settings))
    with session_scope() as db:
        result = db.exec(statement.values(status="interrupted", updated_at=utcnow()))
        count = result.rowcount  # type: ignore[attr-defined]
    if count:
        log_event(APP_LOGGER, "stale_answers_interrupted", count=count)
    return count
