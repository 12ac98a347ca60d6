"""POST /api/chat (NDJSON stream) and the caller's own conversations."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from energyapp.api.deps import CurrentCaller
from energyapp.api.types import IdField, IdPath, Text
from energyapp.db.failures import database_unavailable, log_unavailable
from energyapp.llm.chat import Delta, LLMError, list_models
from energyapp.logging_setup import APP_LOGGER
from energyapp.services import chat, conversations
from energyapp.services.chat import Finished, Turn
from energyapp.services.conversations import ConversationView, MessageView
from energyapp.services.errors import DATABASE_UNAVAILABLE, ServiceError
from energyapp.settings import get_settings

router = APIRouter(tags=["chat"])
log = logging.getLogger(APP_LOGGER)
INTERNAL_ERROR = "Error interno del servidor. Inténtalo de nuevo más tarde."


class ChatBody(BaseModel):
    conversation_id: IdField | None = None
    message: Annotated[Text, Field(max_length=100_000)]
    model: Annotated[Text, Field(max_length=100)] | None = None
    request_id: Annotated[Text, Field(max_length=64)] | None = None


class RenameBody(BaseModel):
    title: Annotated[Text, Field(max_length=1000)]


class ConversationPage(BaseModel):
    items: list[ConversationView]
    limit: int
    offset: int
    total: int


@dataclass(frozen=True)
class ConversationDetail(ConversationView):
    messages: list[MessageView]


def _line(payload: dict) -> bytes:
    return (json.dumps(payload, ensure_ascii=False) + "\n").encode()


def _start_event(turn: Turn) -> bytes:
    return _line(
        {
            "type": "start",
            "conversation_id": turn.conversation_id,
            "title": turn.title,
            "user_message_id": turn.user_message.id,
            "message_id": turn.assistant_message_id,
            "model": turn.model,
        }
    )


def _end_event(outcome: Finished) -> bytes:
    if outcome.error is not None:
        return _line(
            {
                "type": "error",
                "code": outcome.error.kind.value,
                "message": outcome.error.message,
                "partial": outcome.content,
            }
        )
    stats = outcome.stats
    return _line(
        {
            "type": "done",
            "status": outcome.status.value,
            "stats": {
                "prompt_tokens": stats.prompt_tokens if stats else None,
                "completion_tokens": stats.completion_tokens if stats else None,
                "total_duration_ms": stats.total_duration_ms if stats else None,
                "first_token_ms": outcome.first_token_ms,
            },
        }
    )


async def _events(turn: Turn) -> AsyncIterator[bytes]:
    yield _start_event(turn)
    if turn.replayed is not None:  # a retried request: send the saved answer again
        if turn.replayed.content:
            yield _line({"type": "delta", "text": turn.replayed.content})
        yield _line(
            {
                "type": "done",
                "status": turn.replayed.status,
                "replayed": True,
                "stats": {"completion_tokens": turn.replayed.completion_tokens},
            }
        )
        return
    sent: list[str] = []
    try:
        async for event in chat.answer(turn):
            if isinstance(event, Delta):
                sent.append(event.text)
                yield _line({"type": "delta", "text": event.text})
            else:
                yield _end_event(event)
    except Exception as error:  # the status is sent already: end with an error line
        # `chat.answer` saved (or queued) what arrived; the client still learns how it ended.
        if database_unavailable(error):
            log_unavailable("chat_stream", error)
            yield _line(
                {
                    "type": "error",
                    "code": "database_unavailable",
                    "message": DATABASE_UNAVAILABLE,
                    "partial": "".join(sent),
                }
            )
        else:
            log.exception("chat_stream_failed message_id=%s", turn.assistant_message_id)
            yield _line(
                {
                    "type": "error",
                    "code": "internal_error",
                    "message": INTERNAL_ERROR,
                    "partial": "".join(sent),
                }
            )


@router.post(
    "/chat",
    summary="Enviar un mensaje y recibir la respuesta en streaming (NDJSON)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}},
            "description": "Eventos start, delta…, y done o error, uno por línea",
        }
    },
)
async def chat_route(
    body: ChatBody,
    caller: CurrentCaller,
    idempotency_key: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """The user's message is saved before the model is called. A retried call with the same
    `request_id` (or `Idempotency-Key` header) never adds a second message."""
    settings = get_settings()
    available = None
    if body.model and body.model != settings.ollama_model:
        try:
            available = await list_models()
        except LLMError as error:
            raise ServiceError(error.message, code=error.kind.value) from None
    model = chat.choose_model(body.model, available)
    turn = await asyncio.to_thread(
        chat.start_turn,
        caller.user.id,
        body.conversation_id,
        body.message,
        model,
        body.request_id or idempotency_key,
    )
    return StreamingResponse(
        _events(turn),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/conversations", summary="Mis conversaciones")
def list_conversations(
    caller: CurrentCaller,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    q: Annotated[Text, Query(max_length=200)] = "",
) -> ConversationPage:
    items = conversations.list_for_user(caller.user.id, search=q, limit=limit, offset=offset)
    return ConversationPage(
        items=items, limit=limit, offset=offset, total=conversations.count_for_user(caller.user.id)
    )


@router.get("/conversations/{conversation_id}", summary="Una conversación con sus mensajes")
def get_conversation(conversation_id: IdPath, caller: CurrentCaller) -> ConversationDetail:
    conversation, messages = conversations.get_with_messages(caller.user.id, conversation_id)
    return ConversationDetail(**asdict(conversation), messages=messages)


@router.patch("/conversations/{conversation_id}", summary="Renombrar")
def rename_conversation(
    conversation_id: IdPath, body: RenameBody, caller: CurrentCaller
) -> ConversationView:
    return conversations.rename(caller.user.id, conversation_id, body.title)


@router.delete("/conversations/{conversation_id}", status_code=204, summary="Eliminar")
def delete_conversation(conversation_id: IdPath, caller: CurrentCaller) -> Response:
    conversations.delete_conversation(caller.user.id, conversation_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/export", summary="Exportar (md o json)")
def export_conversation(
    conversation_id: IdPath,
    caller: CurrentCaller,
    format: Annotated[Literal["md", "json"], Query()] = "md",
) -> Response:
    body, media_type, name = conversations.export(caller.user.id, conversation_id, format)
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
