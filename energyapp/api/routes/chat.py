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
from pydantic import BaseModel, ConfigDict, Field

from energyapp.api.contract import (
    NOT_BLANK,
    ONE_LINE,
    REQUEST_ID,
    chat_responses,
    errors,
    export_responses,
    merged,
    signed_in,
)
from energyapp.api.deps import CurrentCaller
from energyapp.api.types import Body, IdField, IdPath, Text
from energyapp.domain.errors import DATABASE_UNAVAILABLE
from energyapp.logging_setup import APP_LOGGER
from energyapp.services import chat, conversations, limits
from energyapp.services.chat import Delta, Finished, Turn
from energyapp.services.conversations import ConversationView, MessageView
from energyapp.services.outages import database_unavailable, log_unavailable

router = APIRouter(tags=["chat"])
log = logging.getLogger(APP_LOGGER)
INTERNAL_ERROR = "Error interno del servidor. Inténtalo de nuevo más tarde."


class ChatBody(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"message": "¿Cómo reduzco el consumo eléctrico de la oficina?"}]
        }
    )
    conversation_id: IdField | None = None
    # The document states the configured limit (`max_message_chars`, set in contract.py);
    # up to MESSAGE_API characters reach the service, which explains the limit in Spanish.
    message: Annotated[
        Text, Field(max_length=limits.MESSAGE_API, json_schema_extra={"pattern": NOT_BLANK})
    ]
    model: Annotated[Text, Field(max_length=limits.MODEL)] | None = None
    # `pattern` is checked here (and by the service); `json_schema_extra` states it in the
    # document, where Text's own pattern (no NUL) would otherwise stand.
    request_id: (
        Annotated[
            Text,
            Field(
                max_length=limits.REQUEST_ID,
                pattern=REQUEST_ID,
                json_schema_extra={"pattern": REQUEST_ID},
            ),
        ]
        | None
    ) = None


class RenameBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Consumo de la oficina"}]})
    # Documented as what the service accepts (one non-blank line of at most TITLE characters);
    # up to TITLE_INPUT reach it, so a longer title gets its Spanish explanation.
    title: Annotated[
        Text,
        Field(
            max_length=limits.TITLE_INPUT,
            json_schema_extra={"maxLength": limits.TITLE, "pattern": ONE_LINE},
        ),
    ]


READ: dict[int, list[str]] = {401: ["not_authenticated"], 403: ["totp_setup_required"]}
WRITE: dict[int, list[str]] = {**READ, 403: ["totp_setup_required", "foreign_origin"]}


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
    responses=merged(
        chat_responses(),
        errors(
            400,
            401,
            403,
            404,
            409,
            422,
            codes={
                400: ["unavailable", "model_missing", "model_error", "timeout", "dropped"],
                **WRITE,
                409: ["busy", "request_id_used"],
            },
        ),
    ),
    openapi_extra=signed_in(),
)
async def chat_route(
    body: ChatBody,
    caller: CurrentCaller,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=limits.REQUEST_ID, pattern=REQUEST_ID),
    ] = None,
) -> StreamingResponse:
    """The user's message is saved before the model is called. A retried call with the same
    `request_id` (or `Idempotency-Key` header) never adds a second message."""
    model = await chat.resolve_model(body.model)
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


@router.get(
    "/conversations",
    summary="Mis conversaciones",
    responses=errors(401, 403, 422, codes=READ),
    openapi_extra=signed_in(),
)
def list_conversations(
    caller: CurrentCaller,
    limit: Annotated[int, Query(ge=1, le=limits.PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    q: Annotated[Text, Query(max_length=limits.SEARCH)] = "",
) -> ConversationPage:
    items = conversations.list_for_user(caller.user.id, search=q, limit=limit, offset=offset)
    return ConversationPage(
        items=items, limit=limit, offset=offset, total=conversations.count_for_user(caller.user.id)
    )


@router.get(
    "/conversations/{conversation_id}",
    summary="Una conversación con sus mensajes",
    responses=errors(401, 403, 404, 422, codes=READ),
    openapi_extra=signed_in(),
)
def get_conversation(conversation_id: IdPath, caller: CurrentCaller) -> ConversationDetail:
    conversation, messages = conversations.get_with_messages(caller.user.id, conversation_id)
    return ConversationDetail(**asdict(conversation), messages=messages)


@router.patch(
    "/conversations/{conversation_id}",
    summary="Renombrar",
    responses=errors(401, 403, 404, 422, codes=WRITE),
    openapi_extra=signed_in(),
)
def rename_conversation(
    conversation_id: IdPath, body: RenameBody, caller: CurrentCaller
) -> ConversationView:
    return conversations.rename(caller.user.id, conversation_id, body.title)


@router.delete(
    "/conversations/{conversation_id}",
    status_code=204,
    summary="Eliminar",
    responses=errors(401, 403, 404, 422, codes=WRITE),
    openapi_extra=signed_in(),
)
def delete_conversation(conversation_id: IdPath, caller: CurrentCaller) -> Response:
    conversations.delete_conversation(caller.user.id, conversation_id)
    return Response(status_code=204)


@router.get(
    "/conversations/{conversation_id}/export",
    summary="Exportar (md o json)",
    response_class=Response,
    responses=merged(export_responses(), errors(401, 403, 404, 422, codes=READ)),
    openapi_extra=signed_in(),
)
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
