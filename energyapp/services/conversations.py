"""A user's own conversations: list and search, read, rename, delete, export.

Another user's conversation is "not found", whatever the path (admins read others' through the
admin services, which apply the visibility policy and audit the access)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import Session, col, delete, select, update

from energyapp.db.engine import session_scope
from energyapp.db.models import Conversation, Message, utcnow
from energyapp.domain.errors import InvalidInput, NotFound
from energyapp.services import limits
from energyapp.services.validation import clean_text, one_line
from energyapp.services.views import iso
from energyapp.settings import Settings, get_settings

NOT_FOUND = "La conversación no existe."
MAX_TITLE = limits.TITLE
MAX_SEARCH = limits.SEARCH


@dataclass(frozen=True)
class ConversationView:
    id: int
    title: str
    model: str
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, row: Conversation) -> ConversationView:
        assert row.id is not None
        return cls(
            id=row.id,
            title=row.title,
            model=row.model,
            created_at=iso(row.created_at) or "",
            updated_at=iso(row.updated_at) or "",
        )


@dataclass(frozen=True)
class MessageView:
    id: int
    role: str
    content: str
    status: str
    model: str | None
    created_at: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_duration_ms: int | None = None

    @classmethod
    def of(cls, row: Message) -> MessageView:
        assert row.id is not None
        return cls(
            id=row.id,
            role=row.role.value,
            content=row.content,
            status=row.status.value,
            model=row.model,
            created_at=iso(row.created_at) or "",
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            total_duration_ms=row.total_duration_ms,
        )


def owned(db: Session, user_id: int, conversation_id: int) -> Conversation:
    row = db.get(Conversation, conversation_id)
    if row is None or row.owner_id != user_id:
        raise NotFound(NOT_FOUND)
    return row


def like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_for_user(
    user_id: int, *, search: str = "", limit: int = 50, offset: int = 0
) -> list[ConversationView]:
    """Newest first; `search` matches the title or any message's text."""
    term = one_line(search or "")[:MAX_SEARCH]
    statement = select(Conversation).where(Conversation.owner_id == user_id)
    if term:
        pattern = like_pattern(term)
        # OFFSET 0 keeps the check per conversation (walked newest first, stopping at the
        # page size) instead of PostgreSQL hashing every matching message of every user, which
        # a common word made slow on a million messages (docs/benchmarks.md §4, the dashboard
        # search rows).
        in_messages = (
            select(Message.id)
            .where(
                Message.conversation_id == Conversation.id,
                col(Message.content).ilike(pattern, escape="\\"),
            )
            .offset(0)
            .exists()
        )
        statement = statement.where(
            or_(col(Conversation.title).ilike(pattern, escape="\\"), in_messages)
        )
    statement = statement.order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc())
    with session_scope() as db:
        rows = db.exec(statement.offset(max(0, offset)).limit(max(1, min(limit, 500)))).all()
        return [ConversationView.of(r) for r in rows]


def count_for_user(user_id: int) -> int:
    with session_scope() as db:
        return db.exec(
            select(func.count()).select_from(Conversation).where(Conversation.owner_id == user_id)
        ).one()


def messages_of(db: Session, conversation_id: int) -> list[MessageView]:
    rows = db.exec(
        select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.id))
    ).all()
    return [MessageView.of(r) for r in rows]


def silent_answer_seconds(settings: Settings) -> float:
    """A live answer with text is saved every `stream_save_seconds` while tokens arrive; one
    with text not saved for this long has lost its process (killed, or its host is down)."""
    return max(5.0, 4 * settings.stream_save_seconds)


def abandoned_answer(settings: Settings | None = None) -> ColumnElement[bool]:
    """A `streaming` answer no process is writing any more: one with text silent for
    `silent_answer_seconds`, or any silent for `stream_stale_seconds` (one without text may
    still be waiting for its first token while the model loads). Decided from the row alone,
    so any app host sees it the same way."""
    settings = settings or get_settings()
    now = utcnow()
    quiet = now - timedelta(seconds=silent_answer_seconds(settings))
    stale = now - timedelta(seconds=settings.stream_stale_seconds)
    return and_(
        col(Message.status) == "streaming",
        or_(
            col(Message.updated_at) <= stale,
            and_(col(Message.content) != "", col(Message.updated_at) <= quiet),
        ),
    )


def interrupt_abandoned(
    db: Session, conversation_id: int | None = None, settings: Settings | None = None
) -> int:
    """Mark abandoned answers (of one conversation, or all) `interrupted`; how many."""
    statement = update(Message).where(abandoned_answer(settings))
    if conversation_id is not None:
        statement = statement.where(col(Message.conversation_id) == conversation_id)
    result = db.exec(statement.values(status="interrupted", updated_at=utcnow()))
    return result.rowcount


def get_with_messages(
    user_id: int, conversation_id: int
) -> tuple[ConversationView, list[MessageView]]:
    """An answer whose process died (another app host, killed) reads as interrupted at once,
    not only after the periodic sweep."""
    with session_scope() as db:
        row = owned(db, user_id, conversation_id)
        interrupt_abandoned(db, conversation_id)
        return ConversationView.of(row), messages_of(db, conversation_id)


def clean_title(title: str) -> str:
    """One line: no NUL or other control character (newlines and tabs become spaces)."""
    title = clean_text(title or "", field="título", single_line=True)
    if not title:
        raise InvalidInput("El título no puede quedar vacío.")
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"El título admite hasta {MAX_TITLE} caracteres.")
    return title


def rename(user_id: int, conversation_id: int, title: str) -> ConversationView:
    title = clean_title(title)
    with session_scope() as db:
        row = owned(db, user_id, conversation_id)
        row.title = title
        row.updated_at = utcnow()
        return ConversationView.of(row)


def delete_conversation(user_id: int, conversation_id: int) -> None:
    with session_scope() as db:
        row = owned(db, user_id, conversation_id)
        db.exec(delete(Message).where(col(Message.conversation_id) == conversation_id))
        db.delete(row)


STATUS_NOTES = {
    "stopped": "respuesta detenida",
    "error": "respuesta incompleta por un error",
    "interrupted": "respuesta interrumpida",
    "streaming": "respuesta en curso",
}


def export(user_id: int, conversation_id: int, fmt: str) -> tuple[str, str, str]:
    """(body, media type, file name) for `md` or `json`."""
    if fmt not in ("md", "json"):
        raise InvalidInput("Formato no soportado: usa md o json.")
    conversation, messages = get_with_messages(user_id, conversation_id)
    name = f"conversacion-{conversation.id}.{fmt}"
    if fmt == "json":
        body = json.dumps(
            {"conversation": asdict(conversation), "messages": [asdict(m) for m in messages]},
            ensure_ascii=False,
            indent=2,
        )
        return body, "application/json", name
    lines = [
        f"# {conversation.title}",
        "",
        f"_Modelo: {conversation.model} · creada {conversation.created_at}_",
        "",
    ]
    for message in messages:
        who = "Tú" if message.role == "user" else "Asistente"
        note = STATUS_NOTES.get(message.status)
        lines += [
            f"## {who} · {message.created_at}" + (f" ({note})" if note else ""),
            "",
            message.content,
            "",
        ]
    return "\n".join(lines), "text/markdown; charset=utf-8", name
