"""Audit trail: a row in `audit_events` and a line in audit.log for each event."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from energyapp.db.models import AuditEvent
from energyapp.logging_setup import AUDIT_LOGGER, log_event


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None = None,
    target_type: str | None = None,
    target_id: int | str | None = None,
    ip: str | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (it commits with the change it records)."""
    details = {k: v for k, v in details.items() if v is not None}
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=json.dumps(details, ensure_ascii=False, default=str) if details else None,
        ip=ip,
    )
    session.add(event)
    log_event(AUDIT_LOGGER, action, actor_id=actor_id, target_type=target_type,
              target_id=target_id, ip=ip, **details)
    return event
