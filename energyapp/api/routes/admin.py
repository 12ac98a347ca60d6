"""/api/admin: oversight and user management (session cookie or bearer token). Out-of-scope
targets answer 404, visible-but-not-allowed 403; a refusal changes nothing."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import ConfigDict, Field

from energyapp.api.contract import DAY, errors, signed_in
from energyapp.api.deps import CurrentCaller
from energyapp.api.types import Body, IdField, IdPath, IdQuery, StrictBool, Text
from energyapp.domain.roles import Role
from energyapp.services import admin, limits
from energyapp.services.admin import AuditRow, ConversationRow, UserRow
from energyapp.services.conversations import MessageView
from energyapp.services.views import SessionView

router = APIRouter(prefix="/admin", tags=["admin"])

Limit = Annotated[int, Query(ge=1, le=limits.PAGE_SIZE)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
# Days in the years the service accepts (services.validation.bounded_date).
BOUNDED_DAY = {"pattern": DAY}
READ: dict[int, list[str]] = {401: ["not_authenticated"], 403: ["totp_setup_required"]}
WRITE: dict[int, list[str]] = {**READ, 403: ["totp_setup_required", "foreign_origin"]}


class ReassignBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"to_user_id": 2}]})
    to_user_id: IdField


class UserPatch(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"is_active": True}]})
    # The service checks the role (with its Spanish message); the document lists the roles.
    role: (
        Annotated[
            Text, Field(max_length=limits.ROLE, json_schema_extra={"enum": [r.value for r in Role]})
        ]
        | None
    ) = None
    is_active: StrictBool | None = None


@router.get(
    "/users",
    summary="Usuarios visibles",
    responses=errors(401, 403, 422, codes=READ),
    openapi_extra=signed_in(),
)
def list_users(
    caller: CurrentCaller,
    q: Annotated[Text, Query(max_length=limits.SEARCH)] = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[UserRow]:
    return admin.list_users(caller.user, search=q, limit=limit, offset=offset)


@router.get(
    "/users/{user_id}/conversations",
    summary="Conversaciones de un usuario",
    responses=errors(401, 403, 404, 422, codes=READ),
    openapi_extra=signed_in(),
)
def user_conversations(
    user_id: IdPath, caller: CurrentCaller, limit: Limit = 50, offset: Offset = 0
) -> list[ConversationRow]:
    return admin.user_conversations(caller.user, user_id, limit=limit, offset=offset)


@router.get(
    "/conversations/{conversation_id}/messages",
    summary="Transcripción (queda registrada en la auditoría)",
    responses=errors(401, 403, 404, 422, codes=READ),
    openapi_extra=signed_in(),
)
def conversation_messages(conversation_id: IdPath, caller: CurrentCaller) -> list[MessageView]:
    return admin.conversation_messages(caller.user, conversation_id, caller.ip)


@router.post(
    "/conversations/{conversation_id}/reassign",
    summary="Reasignar una conversación",
    responses=errors(401, 403, 404, 422, codes={**WRITE, 403: [*WRITE[403], "inactive_target"]}),
    openapi_extra=signed_in(),
)
def reassign(conversation_id: IdPath, body: ReassignBody, caller: CurrentCaller) -> ConversationRow:
    return admin.reassign(caller.user, conversation_id, body.to_user_id, caller.ip)


@router.post(
    "/users/{user_id}/reassign-all",
    summary="Reasignar todas sus conversaciones",
    responses=errors(401, 403, 404, 422, codes={**WRITE, 403: [*WRITE[403], "inactive_target"]}),
    openapi_extra=signed_in(),
)
def reassign_all(user_id: IdPath, body: ReassignBody, caller: CurrentCaller) -> dict[str, int]:
    return {"moved": admin.reassign_all(caller.user, user_id, body.to_user_id, caller.ip)}


@router.patch(
    "/users/{user_id}",
    summary="Rol o estado (admin)",
    responses=errors(
        401,
        403,
        404,
        409,
        422,
        codes={**WRITE, 403: [*WRITE[403], "demo_account"], 409: ["last_admin"]},
    ),
    openapi_extra=signed_in(),
)
def update_user(user_id: IdPath, body: UserPatch, caller: CurrentCaller) -> UserRow:
    return admin.update_user(
        caller.user, user_id, role=body.role, is_active=body.is_active, ip=caller.ip
    )


@router.post(
    "/users/{user_id}/reset-2fa",
    status_code=204,
    summary="Reiniciar 2FA (admin)",
    responses=errors(401, 403, 404, 422, codes=WRITE),
    openapi_extra=signed_in(),
)
def reset_two_factor(user_id: IdPath, caller: CurrentCaller) -> Response:
    admin.reset_two_factor(caller.user, user_id, caller.ip)
    return Response(status_code=204)


@router.post(
    "/users/{user_id}/unlock",
    status_code=204,
    summary="Desbloquear (admin)",
    responses=errors(401, 403, 404, 422, codes=WRITE),
    openapi_extra=signed_in(),
)
def unlock(user_id: IdPath, caller: CurrentCaller) -> Response:
    admin.unlock(caller.user, user_id, caller.ip)
    return Response(status_code=204)


@router.get(
    "/users/{user_id}/sessions",
    summary="Sesiones de un usuario (admin)",
    responses=errors(401, 403, 404, 422, codes=READ),
    openapi_extra=signed_in(),
)
def user_sessions(user_id: IdPath, caller: CurrentCaller) -> list[SessionView]:
    return admin.user_sessions(caller.user, user_id)


@router.delete(
    "/users/{user_id}/sessions/{session_id}",
    status_code=204,
    summary="Cerrar una sesión de un usuario (admin)",
    responses=errors(401, 403, 404, 422, codes=WRITE),
    openapi_extra=signed_in(),
)
def revoke_user_session(user_id: IdPath, session_id: IdPath, caller: CurrentCaller) -> Response:
    admin.revoke_user_session(caller.user, user_id, session_id, caller.ip)
    return Response(status_code=204)


@router.get(
    "/audit",
    summary="Auditoría, más nuevo primero",
    responses=errors(401, 403, 422, codes=READ),
    openapi_extra=signed_in(),
)
def audit_events(
    caller: CurrentCaller,
    actor_id: IdQuery = None,
    action: Annotated[Text, Query(max_length=limits.AUDIT_ACTION)] = "",
    date_from: Annotated[date | None, Query(alias="from", json_schema_extra=BOUNDED_DAY)] = None,
    date_to: Annotated[date | None, Query(alias="to", json_schema_extra=BOUNDED_DAY)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[AuditRow]:
    """`from`/`to` are days (AAAA-MM-DD) of the configured time zone, in the years 2000..2100,
    both included."""
    return admin.audit_events(
        caller.user,
        actor_id=actor_id,
        action=action,
        date_from=date_from,
        date_to=date_to,
        limit=limit,
        offset=offset,
    )
