"""The audit log's hash chain: every row carries the digest of the row before it, so an edited,
removed or reordered row shows when the chain is verified.

A row's digest is SHA-256 over its canonical form: the sorted-key, compact JSON (UTF-8, no
ASCII escaping) of `seq`, `ts` (UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`), `actor_kind`, `actor_id`,
`action`, `target_kind`, `target_id`, `detail` and `prev_sha256`. The first row follows
`GENESIS`; once retention removed the chain's oldest rows (`prune_before`), the chain's first row
then carries the digest it followed, kept in `audit_anchors` and confirmed by the `audit.prune`
row that the removal appended.

Appends: `server/audit.py` queues rows on the session; when the transaction commits they take
the next positions under a lock on the one-row `audit_chain_head` (`SELECT ... FOR UPDATE` on
PostgreSQL, where several threads and processes write; SQLite's write transaction is the lock),
so concurrent writers chain one after the other. The head also makes a removed tail show.

The database refuses UPDATE and DELETE of chained rows (triggers made by `install` at start-up;
on PostgreSQL TRUNCATE too): the application only appends. Someone with the database's keys can
drop a trigger; the chain is what shows what they did then.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from sqlalchemy import delete, event, func, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from server.tables import AuditAnchor, AuditChainHead, AuditLog, utcnow

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
HEAD_ID = 1
# The audit log is kept at least this long (the EU AI Act asks for >= 6 months).
MIN_KEEP = timedelta(days=183)
_PENDING = "candor_audit_pending"
_PG_INSTALL_LOCK = 0x43616E646F72  # pg_advisory_xact_lock key: one process installs at a time
_PAGE = 1000


# --- the canonical form ----------------------------------------------------------------------

def iso_utc(value: datetime) -> str:
    """The chain's form of a time: UTC, microseconds, `Z` (a time without zone is UTC)."""
    utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: AuditLog) -> bytes:
    body = {"seq": row.seq, "ts": iso_utc(row.ts), "actor_kind": row.actor_kind, "actor_id": row.actor_id,
            "action": row.action, "target_kind": row.target_kind, "target_id": row.target_id,
            "detail": row.detail, "prev_sha256": row.prev_sha256}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(row: AuditLog) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


# --- appending -------------------------------------------------------------------------------

def queue(db: Session, row: AuditLog) -> None:
    """Chain `row` when `db`'s transaction commits (dropped if it rolls back)."""
    db.info.setdefault(_PENDING, []).append(row)


def _lock_head(db: Session) -> AuditChainHead:
    """The chain's head, locked until the transaction ends."""
    if db.get_bind().dialect.name == "sqlite":
        # A write first: it takes SQLite's write lock (waiting for another process's) before
        # anything is read, so the head read is the latest.
        db.connection().execute(text("UPDATE audit_chain_head SET seq = seq WHERE id = :id"), {"id": HEAD_ID})
    query = (select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).with_for_update()
             .execution_options(populate_existing=True))
    head = db.exec(query).first()
    if head is None:  # made by install(); this keeps a database set up another way working
        last = db.exec(select(AuditLog).where(AuditLog.sha256 != "").order_by(col(AuditLog.seq).desc())).first()
        head = AuditChainHead(id=HEAD_ID, seq=last.seq if last else 0, sha256=last.sha256 if last else GENESIS)
        db.add(head)
    return head


def _chain(db: Session, head: AuditChainHead, rows: list[AuditLog]) -> None:
    for row in rows:
        row.seq = head.seq + 1
        row.prev_sha256 = head.sha256 or GENESIS
        row.sha256 = digest(row)
        head.seq, head.sha256 = row.seq, row.sha256
        db.add(row)
    db.add(head)
    db.flush()


@event.listens_for(OrmSession, "before_commit")
def _append_queued(session: OrmSession) -> None:
    rows = session.info.pop(_PENDING, None)
    if rows:
        db = session if isinstance(session, Session) else Session(bind=session.connection())
        _chain(db, _lock_head(db), rows)


@event.listens_for(OrmSession, "after_soft_rollback")
def _forget_queued(session: OrmSession, _previous: Any) -> None:
    session.info.pop(_PENDING, None)


# --- start-up: head, old rows, triggers ------------------------------------------------------

_SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log WHEN OLD.sha256 <> '' "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
)
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION candor_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.sha256 = '' THEN
        RETURN NEW;  -- sealing a row written before the chain existed
    END IF;
    IF TG_OP = 'DELETE' AND current_setting('candor.audit_prune', true) = 'on' THEN
        RETURN OLD;  -- retention removing the chain's oldest rows (audit_chain.prune_before)
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END $$"""
_PG_TRIGGERS = {
    "audit_log_append_only": "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                             "FOR EACH ROW EXECUTE FUNCTION candor_audit_log_append_only()",
    "audit_log_no_truncate": "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                             "FOR EACH STATEMENT EXECUTE FUNCTION candor_audit_log_append_only()",
}


def _create_triggers(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for ddl in _SQLITE_TRIGGERS:
            conn.execute(text(ddl))
        return
    conn.execute(text(_PG_FUNCTION))
    have = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass")).scalars())
    for name, ddl in _PG_TRIGGERS.items():
        if name not in have:
            conn.execute(text(ddl))


def install(engine: Engine) -> int:
    """Run at start-up (server/store.py create_schema): make the chain's head, chain the rows a
    version before the chain wrote (once: "seal existing rows"), make seq unique and create the
    append-only triggers. The number of rows sealed."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_INSTALL_LOCK})
        db = Session(bind=conn)
        head = _lock_head(db)
        old = list(db.exec(select(AuditLog).where(AuditLog.sha256 == "").order_by(col(AuditLog.id))))
        if old:
            _chain(db, head, old)  # an UPDATE of rows without digest: the triggers let it through
            logger.warning("audit log: %d rows written before the hash chain are now chained", len(old))
        else:
            db.flush()
        conn.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ix_audit_log_seq ON audit_log (seq)"))
        _create_triggers(conn)
    return len(old)


# --- verifying -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Problem:
    """The first row where the chain breaks (`id` None: a row that is missing altogether)."""

    id: int | None
    seq: int
    problem: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "seq": self.seq, "problem": self.problem}


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rows: int  # rows checked
    head_seq: int
    head_sha256: str
    first_bad: Problem | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "rows": self.rows,
                               "head": {"seq": self.head_seq, "sha256": self.head_sha256}}
        if self.first_bad is not None:
            out["first_bad"] = self.first_bad.to_json()
        return out


def latest_anchor(db: Session) -> AuditAnchor | None:
    return db.exec(select(AuditAnchor).order_by(col(AuditAnchor.up_to_seq).desc())).first()


def _rows_by_seq(db: Session) -> Iterator[AuditLog]:
    after = -1
    while True:
        page = db.exec(select(AuditLog).where(AuditLog.seq > after).order_by(col(AuditLog.seq)).limit(_PAGE)).all()
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].seq


def _check(row: AuditLog, expect_seq: int, prev: str, prev_id: int) -> str | None:
    """What is wrong with `row` following a row at `expect_seq - 1` with digest `prev`."""
    if not row.sha256:
        return "unsealed: the row has no digest (written outside the chain)"
    if row.seq > expect_seq:
        return (f"removed: the sequence jumps from {expect_seq - 1} to {row.seq} "
                f"({row.seq - expect_seq} row(s) missing before this one)")
    if row.seq < expect_seq:
        return f"reordered: seq {row.seq} where {expect_seq} was expected"
    if digest(row) != row.sha256:
        return "edited: the row's content does not match its digest"
    if row.prev_sha256 != prev:
        return ("prev digest mismatch: the digest it carries is not the previous row's "
                "(a row before it was removed, replaced or reordered)")
    if row.id is not None and row.id <= prev_id:
        return "reordered: its id comes before the previous row's"
    return None


def verify(db: Session) -> Verdict:
    """Walk the whole chain from its start (the genesis or the retention anchor) to its head."""
    anchor = latest_anchor(db)
    expect_seq, prev = (anchor.up_to_seq + 1, anchor.sha256) if anchor else (1, GENESIS)
    anchor_confirmed = anchor is None
    head = db.get(AuditChainHead, HEAD_ID)
    head_seq, head_sha = (head.seq, head.sha256) if head else (0, GENESIS)
    rows, prev_id = 0, 0

    def bad(row_id: int | None, seq: int, problem: str) -> Verdict:
        return Verdict(False, rows, head_seq, head_sha, Problem(row_id, seq, problem))

    for row in _rows_by_seq(db):
        problem = _check(row, expect_seq, prev, prev_id)
        if problem is not None:
            return bad(row.id, row.seq, problem)
        if (anchor is not None and row.action == "audit.prune" and row.detail.get("up_to_seq") == anchor.up_to_seq
                and row.detail.get("anchor_sha256") == anchor.sha256):
            anchor_confirmed = True
        rows += 1
        expect_seq, prev, prev_id = row.seq + 1, row.sha256, row.id or prev_id
    if head_seq != expect_seq - 1 or (rows and head_sha != prev):
        return bad(None, head_seq, f"removed: the chain's head is seq {head_seq} but its last row is "
                                   f"seq {expect_seq - 1} (rows at its end are missing)")
    if not anchor_confirmed:
        assert anchor is not None
        return bad(None, anchor.up_to_seq, f"removed: the chain starts after seq {anchor.up_to_seq} but no "
                                           "audit.prune row records that removal")
    return Verdict(True, rows, head_seq, head_sha)


# --- retention -------------------------------------------------------------------------------

class PruneRefused(ValueError):
    """Pruning would remove rows kept less than MIN_KEEP, or the chain does not verify."""


@dataclass(frozen=True, slots=True)
class Pruned:
    rows_removed: int
    up_to_seq: int  # the last removed row's position (0: nothing removed)
    anchor_sha256: str


def prune_before(db: Session, cutoff: datetime, actor_kind: str = "system", actor_id: int | None = None,
                 now: datetime | None = None) -> Pruned:
    """Remove the chain's oldest rows written before `cutoff` (a prefix only: it stops at the first
    row at or after it). Refuses a cutoff less than 183 days ago and a chain that does not verify
    (pruning must not hide a break). The removed prefix's last digest becomes the anchor, and the
    removal itself is audited."""
    cutoff = cutoff.replace(tzinfo=timezone.utc) if cutoff.tzinfo is None else cutoff.astimezone(timezone.utc)
    latest = (now or utcnow()) - MIN_KEEP
    if cutoff > latest:
        raise PruneRefused(f"the audit log is kept at least {MIN_KEEP.days} days: the cutoff must be on or "
                           f"before {iso_utc(latest)}")
    head = _lock_head(db)  # appends wait until this removal commits
    verdict = verify(db)
    if not verdict.ok:
        assert verdict.first_bad is not None
        raise PruneRefused(f"the audit chain does not verify (row {verdict.first_bad.id}: "
                           f"{verdict.first_bad.problem}); nothing pruned")
    first_kept = db.exec(select(func.min(AuditLog.seq)).where(AuditLog.ts >= cutoff)).one()
    up_to = head.seq if first_kept is None else first_kept - 1
    anchor = latest_anchor(db)
    if up_to <= (anchor.up_to_seq if anchor else 0):
        return Pruned(0, 0, "")
    last = db.exec(select(AuditLog).where(AuditLog.seq == up_to)).one()
    conn = db.connection()
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))  # within this transaction only
    else:
        conn.execute(text("SELECT set_config('candor.audit_prune', 'on', true)"))
    removed = conn.execute(delete(AuditLog).where(col(AuditLog.seq) <= up_to)).rowcount
    if conn.dialect.name == "sqlite":
        conn.execute(text(_SQLITE_TRIGGERS[1]))
    else:
        conn.execute(text("SELECT set_config('candor.audit_prune', 'off', true)"))
    db.add(AuditAnchor(up_to_seq=up_to, sha256=last.sha256, rows_removed=removed, cutoff=cutoff))
    from server import audit  # (audit imports this module)

    audit.record(db, actor_kind, actor_id, "audit.prune", "audit_log", None, up_to_seq=up_to,
                 anchor_sha256=last.sha256, rows=removed, cutoff=iso_utc(cutoff))
    logger.info("audit log: removed %d rows up to seq %d (written before %s)", removed, up_to, iso_utc(cutoff))
    return Pruned(removed, up_to, last.sha256)
