"""A chat turn, shared by the dashboard and POST /api/chat, built so that no word is lost:

1. `start_turn` commits the user's message (and an empty "streaming" answer) before the model
   is called; a retried request id or a busy conversation never adds a second one.
2. `answer` streams from Ollama, saves the partial text every few seconds, and always ends by
   saving what arrived with a status: complete, stopped (the consumer closed it), interrupted
   (cancelled: shutdown) or error (Ollama failed, timed out or dropped the connection).
   If the database goes away meanwhile, the answer ends with a `database_unavailable` error and
   its text is saved from memory once the database is back (`repairs`).
3. `sweep_stale` marks answers left "streaming" by a crash as interrupted (on start-up and
   periodically).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from energyapp.db.engine import session_scope
from energyapp.db.failures import database_unavailable, log_unavailable
from energyapp.db.models import (
    Conversation,
    Message,
    MessageRole,
    MessageStatus,
    utcnow,
)
from energyapp.domain.errors import (
    DATABASE_UNAVAILABLE,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
)
from energyapp.llm.chat import Delta as Delta  # re-exported: what `answer` yields
from energyapp.llm.chat import Done, LLMError, LLMFailure, list_models, stream_chat
from energyapp.logging_setup import APP_LOGGER, log_event
from energyapp.services.conversations import (
    MessageView,
    abandoned_answer,
    interrupt_abandoned,
    owned,
)
from energyapp.services.validation import one_line, refuse_nul
from energyapp.services.views import iso
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
    error: LLMError | DatabaseFailure | None = None
    stats: Done | None = None
    first_token_ms: int | None = None


def clean_message(text: str, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    text = refuse_nul(text or "").strip()
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


async def resolve_model(requested: str | None) -> str:
    """The model a new turn uses (`choose_model`), asking Ollama which models it has only when
    another than the settings' one is requested and choice is allowed. Ollama unreachable:
    ServiceError with its Spanish message."""
    settings = get_settings()
    if not requested or requested == settings.ollama_model or not settings.allow_model_choice:
        return choose_model(requested or None)  # no need to ask Ollama
    try:
        available = await list_models()
    except LLMError as error:
        raise ServiceError(error.message, code=error.kind.value) from None
    return choose_model(requested, available)


async def model_choices() -> list[str]:
    """The models the composer offers: none unless choice is allowed; the settings' model alone
    when Ollama cannot tell."""
    settings = get_settings()
    if not settings.allow_model_choice:
        return []
    try:
        return await list_models()
    except LLMError:
        return [settings.ollama_model]


def title_from(text: str) -> str:
    line = one_line(text)  # no control character reaches a title
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _busy(db: Session, conversation_id: int, settings: Settings) -> bool:
    """An answer is streaming in the conversation now. One left `streaming` by a crash
    (`conversations.abandoned_answer`) is marked interrupted instead: the database admits a
    single streaming answer per conversation (`ux_messages_one_streaming`)."""
    interrupt_abandoned(db, conversation_id, settings)  # also a host killed mid-answer
    return (
        db.exec(
            select(Message.id)
            .where(
                Message.conversation_id == conversation_id,
                Message.status == MessageStatus.streaming,
            )
            .limit(1)
        ).first()
        is not None
    )  # the index admits one


def build_context(
    db: Session, conversation_id: int, upto_message_id: int, settings: Settings
) -> list[dict[str, str]]:
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
        if row.role == MessageRole.assistant and (
            not row.content or row.status == MessageStatus.streaming
        ):
            continue
        content = row.content
        if history and len(content) > budget:
            break
        content = content[-budget:] if not history else content  # the user's message always goes
        budget -= len(content)
        history.append({"role": row.role.value, "content": content})
    history.reverse()
    return [{"role": "system", "content": settings.system_prompt}, *history]


def _placeholder(
    db: Session, conversation: Conversation, model: str, *, touch: bool = True
) -> Message:
    """The empty answer that streams; `touch` moves an existing conversation to the top (a new
    one is already there, and touching it would cost an extra UPDATE)."""
    assert conversation.id is not None
    answer = Message(
        conversation_id=conversation.id,
        role=MessageRole.assistant,
        content="",
        status=MessageStatus.streaming,
        model=model,
    )
    db.add(answer)
    if touch:
        conversation.updated_at = utcnow()
    db.flush()
    return answer


def _replay(db: Session, user_id: int, request_id: str) -> Turn | None:
    """A request id this user sent before: its answer if finished, a conflict while it
    streams (or when the conversation was handed to someone else meanwhile)."""
    found = db.exec(
        select(Message, Conversation)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(Message.user_id == user_id, Message.request_id == request_id)
    ).first()
    if found is None:
        return None
    user_message, conversation = found
    if conversation.owner_id != user_id:
        raise Conflict("Ese identificador de solicitud ya se usó.", code="request_id_used")
    answer = db.exec(
        select(Message)
        .where(
            Message.conversation_id == conversation.id,
            col(Message.id) > user_message.id,
            Message.role == MessageRole.assistant,
        )
        .order_by(col(Message.id))
    ).first()
    if answer is None or answer.status == MessageStatus.streaming:
        raise Conflict(BUSY, code="busy")
    assert conversation.id is not None and answer.id is not None
    return Turn(
        conversation_id=conversation.id,
        title=conversation.title,
        user_message=MessageView.of(user_message),
        assistant_message_id=answer.id,
        model=answer.model or conversation.model,
        context=[],
        replayed=MessageView.of(answer),
    )


def _lost_race(user_id: int, conversation_id: int | None, request_id: str | None) -> Turn:
    """A concurrent request committed first (a unique index refused this one): the same
    request id replays that turn, anything else is a busy conversation."""
    with session_scope() as db:
        if request_id and (replayed := _replay(db, user_id, request_id)) is not None:
            return replayed
        if conversation_id is not None:
            owned(db, user_id, conversation_id)  # deleted meanwhile: not found
    raise Conflict(BUSY, code="busy")


def start_turn(
    user_id: int, conversation_id: int | None, text: str, model: str, request_id: str | None = None
) -> Turn:
    """Commit the user's message and an empty answer; the model is called after this. The
    database decides races: one message per request id and user, one streaming answer per
    conversation (migration 0007)."""
    settings = get_settings()
    text = clean_message(text, settings)
    if request_id is not None and not REQUEST_ID_PATTERN.fullmatch(request_id):
        raise InvalidInput("El identificador de la solicitud no es válido.")
    try:
        return _start_turn(user_id, conversation_id, text, model, request_id, settings)
    except IntegrityError:
        return _lost_race(user_id, conversation_id, request_id)


def _start_turn(
    user_id: int,
    conversation_id: int | None,
    text: str,
    model: str,
    request_id: str | None,
    settings: Settings,
) -> Turn:
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
        user_message = Message(
            conversation_id=conversation.id,
            role=MessageRole.user,
            content=text,
            request_id=request_id,
            user_id=user_id if request_id else None,
        )
        db.add(user_message)  # flushed with the placeholder: one round trip, ids in order
        answer = _placeholder(db, conversation, model, touch=conversation_id is not None)
        assert user_message.id is not None and answer.id is not None
        if conversation_id is None:  # a new conversation's history is this message alone
            context = [
                {"role": "system", "content": settings.system_prompt},
                {"role": "user", "content": text[-settings.context_max_chars :]},
            ]
        else:
            context = build_context(db, conversation.id, user_message.id, settings)
        return Turn(
            conversation_id=conversation.id,
            title=conversation.title,
            user_message=MessageView.of(user_message),
            assistant_message_id=answer.id,
            model=model,
            context=context,
        )


def start_regeneration(user_id: int, conversation_id: int) -> Turn:
    """A new answer to the latest user message; earlier answers stay in the conversation."""
    try:
        return _start_regeneration(user_id, conversation_id, get_settings())
    except IntegrityError:  # another answer started meanwhile (ux_messages_one_streaming)
        return _lost_race(user_id, conversation_id, None)


def _start_regeneration(user_id: int, conversation_id: int, settings: Settings) -> Turn:
    with session_scope() as db:
        conversation = owned(db, user_id, conversation_id)
        if _busy(db, conversation_id, settings):
            raise Conflict(BUSY, code="busy")
        last_user = db.exec(
            select(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.role == MessageRole.user,
            )
            .order_by(col(Message.id).desc())
        ).first()
        if last_user is None or last_user.id is None:
            raise NotFound("No hay un mensaje para responder de nuevo.")
        model = conversation.model
        answer = _placeholder(db, conversation, model)
        assert answer.id is not None
        return Turn(
            conversation_id=conversation_id,
            title=conversation.title,
            user_message=MessageView.of(last_user),
            assistant_message_id=answer.id,
            model=model,
            context=build_context(db, conversation_id, last_user.id, settings),
        )


def save_progress(message_id: int, content: str) -> None:
    with session_scope() as db:
        db.exec(
            update(Message)
            .where(col(Message.id) == message_id, col(Message.status) == "streaming")
            .values(content=content, updated_at=utcnow())
        )


def finish(message_id: int, outcome: Finished) -> None:
    """Save the outcome: two UPDATEs, no reads (it runs once per answer, on the hot path)."""
    stats = outcome.stats
    now = utcnow()
    with session_scope() as db:
        conversation_id = db.exec(
            update(Message)
            .where(col(Message.id) == message_id)
            .values(
                content=outcome.content,
                status=outcome.status,
                updated_at=now,
                first_token_ms=outcome.first_token_ms,
                **(
                    {
                        "prompt_tokens": stats.prompt_tokens,
                        "completion_tokens": stats.completion_tokens,
                        "total_duration_ms": stats.total_duration_ms,
                    }
                    if stats
                    else {}
                ),
            )
            .returning(col(Message.conversation_id))
        ).scalar_one_or_none()
        if conversation_id is None:  # the conversation was deleted meanwhile
            return
        db.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id)
            .values(updated_at=now)
        )


class StorageFailure(StrEnum):
    database_unavailable = "database_unavailable"


@dataclass(frozen=True)
class DatabaseFailure:
    """Why an answer ended when the database, not the model, failed: shaped like `LLMError`
    (`kind`, `message`) for the API's error line and the UI's note."""

    kind: StorageFailure = StorageFailure.database_unavailable

    @property
    def message(self) -> str:
        return DATABASE_UNAVAILABLE


DATABASE_DOWN = DatabaseFailure()


def unsaved(outcome: Finished | None) -> bool:
    """The answer ended because the database was unavailable: not saved yet (`repairs`)."""
    return outcome is not None and isinstance(outcome.error, DatabaseFailure)


def unsaved_view(turn: Turn, outcome: Finished | None, text: str = "") -> MessageView:
    """The answer as it stands in memory, for a UI that cannot read it back now."""
    return MessageView(
        id=turn.assistant_message_id,
        role=MessageRole.assistant.value,
        content=outcome.content if outcome is not None else text,
        status=(outcome.status if outcome is not None else MessageStatus.stopped).value,
        model=turn.model,
        created_at=iso(utcnow()) or "",
    )


def save_outcome(message_id: int, outcome: Finished) -> bool:
    """`finish`, or, when the database is unavailable, hand the outcome to `repairs` (saved
    in the background once it is back) and return False. Runs in a worker thread: even when
    its awaiting task is cancelled, the outcome is saved or queued."""
    try:
        finish(message_id, outcome)
    except Exception as error:
        if not database_unavailable(error):
            raise
        log_unavailable("answer_final_save", error)
        repairs.add(message_id, outcome)
        return False
    return True


async def _save_progress(message_id: int, content: str) -> bool:
    """The periodic save of a streaming answer; False when the database is unavailable."""
    try:
        await asyncio.to_thread(save_progress, message_id, content)
    except Exception as error:
        if not database_unavailable(error):
            raise
        log_unavailable("answer_progress_save", error)
        return False
    return True


def _log_finished(turn: Turn, final: Finished, *, saved: bool) -> None:
    log_event(
        APP_LOGGER,
        "answer_finished",
        conversation_id=turn.conversation_id,
        message_id=turn.assistant_message_id,
        status=final.status.value,
        chars=len(final.content),
        first_token_ms=final.first_token_ms,
        error=final.error.kind.value if final.error else None,
        saved=None if saved else "later",  # None: left out of the line
    )


async def answer(turn: Turn) -> AsyncGenerator[Delta | Finished, None]:
    """Stream the model's answer for a started turn, persisting as it goes.

    Yields `Delta`s, then one `Finished`. If the consumer closes the generator early (Stop, a
    closed connection), the partial text is saved as `stopped`; if the task is cancelled
    (shutdown), as `interrupted`.

    When the database goes away mid-answer (a periodic save fails), the model is stopped and
    the answer ends with a `DatabaseFailure` error; when only the final save fails, the answer
    ends the same way. Either way the text so far stays in memory and `repairs` saves it
    (`interrupted`, or as it ended) once the database is back; no exception reaches the
    consumer for an unavailable database."""
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
                        outcome = Finished(
                            MessageStatus.complete, "".join(parts), None, event, first_token_ms
                        )
                        break
                    if first_token_ms is None:
                        first_token_ms = int((time.monotonic() - started) * 1000)
                    parts.append(event.text)
                    yield event
                    if time.monotonic() - last_save >= settings.stream_save_seconds:
                        if not await _save_progress(turn.assistant_message_id, "".join(parts)):
                            outcome = Finished(
                                MessageStatus.interrupted,
                                "".join(parts),
                                DATABASE_DOWN,
                                None,
                                first_token_ms,
                            )
                            break  # closes the model's stream: nothing more can be saved
                        last_save = time.monotonic()
                else:  # the stream ended without its final line
                    outcome = Finished(
                        MessageStatus.interrupted, "".join(parts), None, None, first_token_ms
                    )
    except LLMError as error:
        outcome = Finished(MessageStatus.error, "".join(parts), error, None, first_token_ms)
    except TimeoutError:
        outcome = Finished(
            MessageStatus.error, "".join(parts), LLMError(LLMFailure.timeout), None, first_token_ms
        )
    except GeneratorExit:
        status = MessageStatus.stopped
        raise
    finally:
        if outcome is None:  # closed early, cancelled, or failed: save what arrived
            final = Finished(status, "".join(parts), None, None, first_token_ms)
            saved = await asyncio.shield(
                asyncio.to_thread(save_outcome, turn.assistant_message_id, final)
            )
            _log_finished(turn, final, saved=saved)
    if outcome.error is DATABASE_DOWN:  # it just failed: no need to wait for another failure
        repairs.add(turn.assistant_message_id, outcome)
        saved = False
    else:
        saved = await asyncio.shield(
            asyncio.to_thread(save_outcome, turn.assistant_message_id, outcome)
        )
    _log_finished(turn, outcome, saved=saved)
    yield outcome if saved else replace(outcome, error=DATABASE_DOWN)


class AnswerRepairs:
    """Answers whose final save failed because the database was unavailable: their outcome
    (text, status, stats) stays in memory and one background thread saves them again, with
    backoff up to `db_retry_after_seconds`, until the database is back or
    `answer_repair_seconds` pass. After that (or after a restart) `sweep_stale` marks what was
    left `streaming` as interrupted, with the text of its last periodic save."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Finished, float]] = {}
        self._thread: threading.Thread | None = None

    def add(self, message_id: int, outcome: Finished) -> None:
        deadline = time.monotonic() + get_settings().answer_repair_seconds
        with self._lock:
            self._pending[message_id] = (outcome, deadline)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="energyapp-answer-repair", daemon=True
                )
                self._thread.start()
        log_event(
            APP_LOGGER,
            "answer_save_deferred",
            logging.WARNING,
            message_id=message_id,
            status=outcome.status.value,
            chars=len(outcome.content),
        )

    def pending(self) -> list[int]:
        with self._lock:
            return sorted(self._pending)

    def _run(self) -> None:
        delay = 0.25
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                items = list(self._pending.items())
            now = time.monotonic()
            for message_id, (outcome, deadline) in items:
                if now >= deadline:
                    self._drop(message_id, outcome, "answer_save_abandoned", logging.ERROR)
                    continue
                try:
                    finish(message_id, outcome)
                except Exception as error:  # noqa: BLE001 - a thread: log, never die
                    if database_unavailable(error):  # still down: all of them wait
                        time.sleep(delay)
                        delay = min(delay * 2, get_settings().db_retry_after_seconds)
                        break
                    self._drop(
                        message_id,
                        outcome,
                        "answer_save_abandoned",
                        logging.ERROR,
                        type(error).__name__,
                    )
                else:
                    self._drop(message_id, outcome, "answer_saved_late", logging.INFO)
                    delay = 0.25

    def _drop(
        self, message_id: int, outcome: Finished, event: str, level: int, error: str | None = None
    ) -> None:
        with self._lock:
            if self._pending.get(message_id, (None,))[0] is outcome:
                del self._pending[message_id]
        log_event(
            APP_LOGGER,
            event,
            level,
            message_id=message_id,
            status=outcome.status.value,
            chars=len(outcome.content),
            error=error,  # None: left out of the line
        )


repairs = AnswerRepairs()


def sweep_stale(*, everything: bool = False) -> int:
    """Answers left "streaming" by a crash or restart become "interrupted". At start-up of a
    single-process server nothing can be streaming, so `everything` marks them all; with
    several workers or hosts only abandoned ones (`conversations.abandoned_answer`)."""
    settings = get_settings()
    statement = update(Message).where(col(Message.status) == "streaming")
    if not everything:
        statement = statement.where(abandoned_answer(settings))
    with session_scope() as db:
        result = db.exec(statement.values(status="interrupted", updated_at=utcnow()))
        count = result.rowcount
    if count:
        log_event(APP_LOGGER, "stale_answers_interrupted", count=count)
    return count
