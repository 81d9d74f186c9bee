"""Reading the audit log out: filters, and rows as JSON or CSV with their digests, so an auditor
can recompute every digest (server/audit_chain.py says how) and follow the chain."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from sqlmodel import Session, col, func, select

from server import audit
from server.audit_chain import iso_utc
from server.tables import AuditLog

COLUMNS = ("id", "seq", "ts", "actor_kind", "actor_id", "action", "target_kind", "target_id", "detail",
           "prev_sha256", "sha256")
FORMATS = ("json", "csv")
DEFAULT_LIMIT = {"json": 1000, "csv": 100_000}
MAX_LIMIT = 100_000


class BadQuery(ValueError):
    """A filter that is not well-formed (the API answers 400 or 422, the CLI exits 2)."""

    def __init__(self, message: str, malformed: bool = False) -> None:
        super().__init__(message)
        self.malformed = malformed


def parse_time(raw: str, name: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BadQuery(f"{name} must be an ISO 8601 date or time (e.g. 2026-06-01 or 2026-06-01T12:00:00Z), "
                       f"got {raw[:40]!r}", malformed=True) from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _count(raw: str | None, name: str, default: int, most: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise BadQuery(f"{name} must be a whole number", malformed=True)
    value = int(raw[:12])
    if value > most:
        raise BadQuery(f"{name} must be at most {most}")
    return value


@dataclass(frozen=True, slots=True)
class AuditQuery:
    format: str = "json"
    since: datetime | None = None  # from this time on
    until: datetime | None = None  # before this time
    action: str | None = None  # exact, or a prefix ending in ".*" (e.g. "review.*")
    limit: int = DEFAULT_LIMIT["json"]
    offset: int = 0

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> AuditQuery:
        fmt = query.get("format") or "json"
        if fmt not in FORMATS:
            raise BadQuery("format must be json or csv", malformed=True)
        since = parse_time(query["since"], "since") if query.get("since") else None
        until = parse_time(query["until"], "until") if query.get("until") else None
        if since and until and until <= since:
            raise BadQuery("until must be after since")
        action = query.get("action") or None
        if action is not None and len(action) > 64:
            raise BadQuery("action is at most 64 characters")
        return cls(fmt, since, until, action, _count(query.get("limit"), "limit", DEFAULT_LIMIT[fmt], MAX_LIMIT),
                   _count(query.get("offset"), "offset", 0, 10**9))


def _where(statement: Any, q: AuditQuery) -> Any:
    if q.since is not None:
        statement = statement.where(AuditLog.ts >= q.since)
    if q.until is not None:
        statement = statement.where(AuditLog.ts < q.until)
    if q.action is not None:
        if q.action.endswith(".*"):
            statement = statement.where(col(AuditLog.action).startswith(q.action[:-1], autoescape=True))
        else:
            statement = statement.where(AuditLog.action == q.action)
    return statement


def select_rows(db: Session, q: AuditQuery) -> tuple[int, list[AuditLog]]:
    """The matching rows' count, and the page asked for in chain order."""
    total = db.exec(_where(select(func.count()).select_from(AuditLog), q)).one()
    rows = db.exec(_where(select(AuditLog), q).order_by(col(AuditLog.seq)).offset(q.offset).limit(q.limit)).all()
    return int(total), list(rows)


def row_json(row: AuditLog) -> dict[str, Any]:
    return {"id": row.id, "seq": row.seq, "ts": iso_utc(row.ts), "actor_kind": row.actor_kind,
            "actor_id": row.actor_id, "action": row.action, "target_kind": row.target_kind,
            "target_id": row.target_id, "detail": row.detail, "prev_sha256": row.prev_sha256,
            "sha256": row.sha256}


def csv_text(rows: list[AuditLog]) -> str:
    """One line a row; `detail` as compact sorted-key JSON (as it goes into the digest)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        data = row_json(row)
        data["detail"] = json.dumps(row.detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        writer.writerow(["" if data[c] is None else data[c] for c in COLUMNS])
    return out.getvalue()


def export(db: Session, q: AuditQuery, actor_kind: str, actor_id: int | None) -> tuple[int, list[AuditLog]]:
    """`select_rows`, with the export itself audited (it follows the rows it exports)."""
    total, rows = select_rows(db, q)
    audit.record(db, actor_kind, actor_id, "audit.export", "audit_log", None, format=q.format, rows=len(rows),
                 since=iso_utc(q.since) if q.since else None, until=iso_utc(q.until) if q.until else None,
                 action_filter=q.action, offset=q.offset)
    return total, rows
