"""The audit log: who did what to which record."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session

from server.tables import AuditLog


def record(
    db: Session,
    actor_kind: str,
    actor_id: int | None,
    action: str,
    target_kind: str = "",
    target_id: int | None = None,
    **detail: Any,
) -> None:
    db.add(
        AuditLog(
            actor_kind=actor_kind,
            actor_id=actor_id,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            detail=detail,
        )
    )
