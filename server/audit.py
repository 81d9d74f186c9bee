"""The audit log: who did what to which record.

Rows are appended to a hash chain when the caller's transaction commits (server/audit_chain.py),
so `record` takes part in that transaction: a rolled-back request leaves no audit row. Details
hold ids and codes only, never a candidate's name, email, resume or transcript: the log is
append-only and erasure cannot remove anything from it.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session

from server import audit_chain
from server.tables import AuditLog, utcnow


def text_digest(text: str) -> str | None:
    """What the log keeps of HR's free text (a note, a reason), which may name the candidate:
    its sha256, which proves what was written without holding it (the text itself lives in a row
    that erasure removes). None for no text."""
    text = text.strip()
    return hashlib.sha256(text.encode()).hexdigest() if text else None


def record(
    db: Session,
    actor_kind: str,
    actor_id: int | None,
    action: str,
    target_kind: str = "",
    target_id: int | None = None,
    **detail: Any,
) -> AuditLog:
    """Queue one audit row; it gets its place in the chain (seq, digests, id) at commit."""
    # The detail as it reads back from the JSON column, so its digest is the stored one's.
    plain = json.loads(json.dumps(detail, default=str))
    row = AuditLog(actor_kind=actor_kind, actor_id=actor_id, action=action, target_kind=target_kind,
                   target_id=target_id, detail=plain, ts=utcnow())
    audit_chain.queue(db, row)
    return row
