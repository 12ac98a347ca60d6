"""POST /api/chat (NDJSON stream) and the caller's own conversations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from energyapp.api.deps import CurrentCaller
from energyapp.llm.chat import Delta, LLMError, list_models
from energyapp.services import chat, conversations
from energyapp.services.chat import Finished, Turn
from energyapp.services.conversations import ConversationView, MessageView
from energyapp.services.errors import ServiceError
from energyapp.settings import get_settings

router = APIRouter(tags=["chat"])


class ChatBody(BaseModel):
    conversation_id: int | None = Field(default=None, ge=1)
    message: Annotated[str, Field(max_length=100_000)]
    model: Annotated[str, Field(max_length=100)] | None = None
    request_id: Annotated[str, Field(max_length=64)] | None = None


class RenameBody(BaseModel):
    title: Annotated[str, Field(max_length=1000)]


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
    return _line({"type": "start", "conversation_id": turn.conversation_id,
                  "title": turn.title, "user_message_id": turn.user_message.id,
                  "message_id": turn.assistant_message_id, "model": turn.model})


def _end_event(outcome: Finished) -> bytes:
    if outcome.error is not None:
        return _line({"type": "error", "code": outcome.error.kind.value,
                      "message": outcome.error.message, "partial": outcome.content})
    stats = outcome.stats
    return _line({"type": "done", "status": outcome.status.value, "stats": {
        "prompt_tokens": stats.prompt_tokens if stats else None,
        "completion_tokens": stats.completion_tokens if stats else None,
        "total_duration_ms": stats.total_duration_ms if stats else None,
        "first_token_ms": outcome.first_token_ms,
    }})


async def _events(turn: Turn) -> AsyncIterator[bytes]:
    yield _start_event(turn)
    if turn.replayed is not None:  # a retried request: send the saved answer again
        if turn.replayed.content:
            yield _line({"type": "delta", "text": turn.replayed.content})
        yield _line({"type": "done", "status": turn.replayed.status, "replayed": True,
                     "stats": {"completion_tokens": turn.replayed.completion_tokens}})
        return
    async for event in chat.answer(turn):
        if isinstance(event, Delta):
            yield _line({"type": "delta", "text": event.text})
        else:
            yield _end_event(event)


@router.post(
    "/chat",
    summary="Enviar un mensaje y recibir la respuesta en streaming (NDJSON)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}},
                     "description": "Eventos start, delta…, y done o error, uno por línea"}},
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
    turn = await asyncio.to_thread(chat.start_turn, caller.user.id, body.conversation_id,
                                   body.message, model, body.request_id or idempotency_key)
    return StreamingResponse(_events(turn), media_type="application/x-ndjson",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/conversations", summary="Mis conversaciones")
def list_conversations(
    caller: CurrentCaller,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    q: Annotated[str, Query(max_length=200)] = "",
) -> ConversationPage:
    items = conversations.list_for_user(caller.user.id, search=q, limit=limit, offset=offset)
    return ConversationPage(items=items, limit=limit, offset=offset,
                            total=conversations.count_for_user(caller.user.id))


@router.get("/conversations/{conversation_id}", summary="Una conversación con sus mensajes")
def get_conversation(conversation_id: int, caller: CurrentCaller) -> ConversationDetail:
    conversation, messages = conversations.get_with_messages(caller.user.id, conversation_id)
    return ConversationDetail(**asdict(conversation), messages=messages)


@router.patch("/conversations/{conversation_id}", summary="Renombrar")
def rename_conversation(conversation_id: int, body: RenameBody,
                        caller: CurrentCaller) -> ConversationView:
    return conversations.rename(caller.user.id, conversation_id, body.title)


@router.delete("/conversations/{conversation_id}", status_code=204, summary="Eliminar")
def delete_conversation(conversation_id: int, caller: CurrentCaller) -> Response:
    conversations.delete_conversation(caller.user.id, conversation_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/export", summary="Exportar (md o json)")
def export_conversation(
    conversation_id: int,
    caller: CurrentCaller,
    format: Annotated[Literal["md", "json"], Query()] = "md",
) -> Response:
    body, media_type, name = conversations.export(caller.user.id, conversation_id, format)
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
