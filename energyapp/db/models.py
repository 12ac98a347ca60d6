"""Database tables. Rows stay on the server: states and API responses use small view objects.

Times are aware UTC datetimes (SQLModel stores them as UTC on SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, Dialect, Index, String, Text, TypeDecorator, text
from sqlmodel import Field, SQLModel

from energyapp.db.encrypted import EncryptedString
from energyapp.domain.roles import Role

__all__ = [
    "AuditEvent",
    "AuthSession",
    "Conversation",
    "LoginTicket",
    "Message",
    "MessageRole",
    "MessageStatus",
    "RecoveryCode",
    "RefreshToken",
    "UiTab",
    "User",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class EnumAsString(TypeDecorator):
    """A StrEnum stored as a plain VARCHAR (no PostgreSQL enum type to migrate), loaded back as
    the enum."""

    impl = String(20)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class MessageRole(StrEnum):
    user = "user"
    assistant = "assistant"


class MessageStatus(StrEnum):
    complete = "complete"
    streaming = "streaming"  # being written right now
    stopped = "stopped"  # the user pressed Stop: partial text kept
    error = "error"  # Ollama failed mid-answer: partial text kept
    interrupted = "interrupted"  # the server stopped mid-answer


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    # Stored lower-cased, so the unique index makes emails unique case-insensitively.
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=120)
    password_hash: str = Field(max_length=100)
    role: Role = Field(default=Role.trabajador, sa_type=EnumAsString(Role), index=True)
    is_active: bool = Field(default=True)
    is_demo: bool = Field(default=False)
    # Encrypted at rest (energyapp.db.encrypted); services read and write the plain value.
    totp_secret: str | None = Field(default=None, sa_type=EncryptedString(255))
    totp_enabled: bool = Field(default=False)
    totp_last_step: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = Field(default=None)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_owner_updated", "owner_id", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    title: str = Field(default="Nueva conversación", max_length=200)
    model: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


STREAMING_ONLY = text("status = 'streaming'")


class Message(SQLModel, table=True):
    """The database keeps two promises: a client's request id adds one message per sender
    (`ux_messages_user_request`), and a conversation writes one answer at a time
    (`ux_messages_one_streaming`, a partial unique index over the `streaming` rows)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index("ux_messages_user_request", "user_id", "request_id", unique=True),
        Index(
            "ux_messages_one_streaming",
            "conversation_id",
            unique=True,
            sqlite_where=STREAMING_ONLY,
            postgresql_where=STREAMING_ONLY,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", ondelete="CASCADE")
    role: MessageRole = Field(sa_type=EnumAsString(MessageRole))
    content: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: MessageStatus = Field(
        default=MessageStatus.complete, sa_type=EnumAsString(MessageStatus), index=True
    )
    model: str | None = Field(default=None, max_length=100)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_duration_ms: int | None = None
    first_token_ms: int | None = None
    # A client's retry key for the user message it sent, and who sent it (set together): the
    # same key from the same user never adds a second message. The sender, not the
    # conversation's owner: a reassigned conversation keeps its messages' keys.
    request_id: str | None = Field(default=None, max_length=64)
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)  # last save of a streaming answer


class AuthSession(SQLModel, table=True):
    """A browser session; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=400)
    # "web": a browser login; "api": an API login, which also owns a refresh-token family.
    channel: str = Field(default="web", max_length=10)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class RefreshToken(SQLModel, table=True):
    """One link of a refresh-token rotation chain; reuse of a used link revokes the family."""

    __tablename__ = "refresh_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    family_id: str = Field(max_length=36, index=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    # The login that owns the family: revoking it revokes the family, and the reverse.
    session_id: int | None = Field(
        default=None, foreign_key="auth_sessions.id", index=True, ondelete="CASCADE"
    )
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class UiTab(SQLModel, table=True):
    """A browser tab whose UI state was filled under a session: when the session ends, the
    tab's server-side state is reset at once (states/tab_reset.py)."""

    __tablename__ = "ui_tabs"

    client_token: str = Field(primary_key=True, max_length=64)
    session_id: int = Field(foreign_key="auth_sessions.id", index=True, ondelete="CASCADE")
    bound_at: datetime = Field(default_factory=utcnow)


class RecoveryCode(SQLModel, table=True):
    """A one-time 2FA recovery code; only its SHA-256 is kept."""

    __tablename__ = "recovery_codes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = None


class LoginTicket(SQLModel, table=True):
    """A one-time ticket that turns a login done over the websocket into an HttpOnly cookie.

    The UI checks the credentials, then sends the browser to /api/auth/session?ticket=...,
    which creates the session and sets the cookie; page JavaScript never sees the token."""

    __tablename__ = "login_tickets"

    id: int | None = Field(default=None, primary_key=True)
    ticket_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    user_agent: str | None = Field(default=None, max_length=400)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_actor_created", "actor_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # No foreign key: rows are append-only, so deleting a user keeps the ids of what it did.
    actor_id: int | None = Field(default=None)
    action: str = Field(max_length=60, index=True)
    target_type: str | None = Field(default=None, max_length=40)
    target_id: str | None = Field(default=None, max_length=64)
    details: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    ip: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # The hash chain (services/audit.py): set when the row is appended, never by callers.
    prev_hash: str | None = Field(default=None, max_length=64, nullable=False)
    row_hash: str | None = Field(default=None, max_length=64, nullable=False)
