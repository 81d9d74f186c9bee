"""Each invitation's delivery as the API and pages show it: the state of its latest message.
`queued` (waiting, or being sent), `sent` (the mail server accepted it), `failed` (with `error`;
`retry_at` when another attempt is planned, null once the outbox gave up)."""
from __future__ import annotations

from typing import Any, Sequence

from sqlmodel import Session, col, func, select

from server.tables import OutboundMail


def delivery_of(db: Session, invitation_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The latest message of each invitation, as the API and pages show it."""
    if not invitation_ids:
        return {}
    latest = (select(func.max(OutboundMail.id)).where(col(OutboundMail.invitation_id).in_(invitation_ids))
              .group_by(col(OutboundMail.invitation_id)))
    rows = db.exec(select(OutboundMail).where(col(OutboundMail.id).in_(latest))).all()
    return {row.invitation_id: delivery_view(row) for row in rows if row.invitation_id is not None}


def delivery_view(row: OutboundMail) -> dict[str, Any]:
    state = {"sending": "queued", "cancelled": "failed"}.get(row.state, row.state)
    view: dict[str, Any] = {"state": state, "kind": row.kind, "to": row.to_addr, "attempts": row.attempts,
                            "queued_at": row.created_at, "sent_at": row.sent_at}
    if state == "failed":
        view["error"] = row.last_error
        view["retry_at"] = row.next_attempt_at
    return view
