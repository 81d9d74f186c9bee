"""Erasure: everything held about one candidate (or, for a retention purge, about some of their
interviews) leaves the database and the data directory, and a deletion certificate remains.

What is erased is found from the schema, not from a list kept by hand: starting from the
candidate (or the interviews and their invitations), every row of every table whose foreign key
reaches an erased row is erased too, transitively. So tables other modules add later (consent
records, self-identification...) are covered the day they reference an interview. Rows that
name the candidate without a foreign key are found by what they hold: outbox messages to their
address, webhook deliveries whose payload names them or their interviews. The audit log is never
touched (append-only, hash-chained; it holds ids only), nor are the certificates.

Files: each erased interview's recording directory (audio, video and the rendered clips cached
in it) and the candidate's ``resumes/<candidate id>/`` directory, removed whole; nothing there is
opened.

SQLite keeps deleted bytes in free pages and in the write-ahead log, so the erasure runs with
`secure_delete` (freed space is zeroed) and is followed by `scrub_sqlite`: a checkpoint, VACUUM
(rewrites the file, dropping old versions of rows changed before) and a checkpoint that empties
the log. PostgreSQL keeps dead tuples until its own VACUUM: see the operator's docs.

The certificate: id, the former candidate id, a salted sha256 of the email (so a later request
can be matched without keeping the email), scope, interview ids, reason, time, who, counts per
table and of files and bytes, and a sha256 over its canonical JSON (`canonical`), which anyone
can recompute from `GET /api/erasures/{id}`."""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal

from sqlalchemy import ColumnElement, Table, delete, func, or_, select as sa_select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from server import audit
from server.errors import Conflict, NotFound
from server.interview_machine import HOLDS_MEDIA
from server.recording import recording_dir, recordings_root
from server.tables import Candidate, DeletionCertificate, Interview, Invitation, utcnow

logger = logging.getLogger(__name__)

Reason = Literal["request", "retention"]
# Never erased from: the append-only audit log (and its chain), and the certificates themselves.
KEPT_TABLES = frozenset({"audit_log", "audit_chain_head", "audit_anchors", "deletion_certificates"})
# A candidate in one of these is in an interview right now: erasing would pull the floor from
# under them (and the session would write again after the rows are gone).
BUSY_STATES = frozenset(s.value for s in HOLDS_MEDIA)
RESUMES_DIR = "resumes"


@dataclass(frozen=True, slots=True)
class Target:
    """One table's rows to erase: the condition and how many rows it matches."""

    table: Table
    where: ColumnElement[bool]
    rows: int


@dataclass(slots=True)
class Plan:
    """What an erasure removes (computed in the transaction that removes it, and for the
    confirmation page)."""

    candidate_id: int
    scope: Literal["candidate", "interviews"]
    interview_ids: list[int]
    targets: list[Target] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)

    @property
    def rows(self) -> dict[str, int]:
        return {t.table.name: t.rows for t in self.targets}

    def files(self) -> tuple[int, int]:
        """(files, bytes) in the recording directories."""
        count = size = 0
        for d in self.directories:
            for p in d.rglob("*") if d.is_dir() else ():
                if p.is_file():
                    count += 1
                    size += p.stat().st_size
        return count, size


def email_ref(email: str, salt: str) -> str:
    """The salted sha256 a certificate keeps of the email (trimmed, lower-case)."""
    return hashlib.sha256((salt + email.strip().lower()).encode()).hexdigest()


# --- finding what to erase ------------------------------------------------------------------


def _referenced() -> set[tuple[str, str]]:
    """(table, column) pairs some foreign key points at."""
    return {(fk.column.table.name, fk.column.name)
            for table in SQLModel.metadata.sorted_tables for fk in table.foreign_keys}


def _deliveries_naming(db: Session, candidate_ids: set[int], email: str | None, interview_ids: set[int],
                       invitation_ids: set[int]) -> list[int]:
    """Webhook deliveries whose payload names the candidate or one of the interviews (the payload
    is JSON: matched here rather than in SQL, the same on SQLite and PostgreSQL)."""
    table = SQLModel.metadata.tables["webhook_deliveries"]
    found = []
    needle = email.strip().lower() if email else None
    for row_id, payload in db.execute(sa_select(table.c.id, table.c.payload)):
        if not isinstance(payload, dict):
            continue
        if (payload.get("interview_id") in interview_ids or payload.get("invitation_id") in invitation_ids
                or payload.get("candidate_id") in candidate_ids
                or needle is not None and needle in _strings(payload)):
            found.append(row_id)
    return found


def _strings(value: Any) -> set[str]:
    """Every string in a JSON value, lower-case (an exact address, not a substring: erasing
    bo@example.com must not touch jimbo@example.com's deliveries)."""
    if isinstance(value, str):
        return {value.strip().lower()}
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


def _targets(db: Session, seeds: dict[str, set[int]], candidate_ids: set[int], email: str | None) -> list[Target]:
    """Every table's rows reached from `seeds` ({table: ids}) through foreign keys, parents
    first (so deleting in reverse order never breaks a foreign key)."""
    referenced = _referenced()
    doomed: dict[tuple[str, str], set[Any]] = {}
    interview_ids = seeds.get("interviews", set())
    invitation_ids = seeds.get("invitations", set())
    out = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in KEPT_TABLES:
            continue
        clauses: list[ColumnElement[bool]] = []
        if seeds.get(table.name):
            clauses.append(table.c.id.in_(sorted(seeds[table.name])))
        for fk in table.foreign_keys:
            values = doomed.get((fk.column.table.name, fk.column.name))
            if values:
                clauses.append(fk.parent.in_(sorted(values)))
        if table.name == "outbound_mail" and email:
            clauses.append(func.lower(table.c.to_addr) == email.strip().lower())
        if table.name == "webhook_deliveries":
            ids = _deliveries_naming(db, candidate_ids, email, interview_ids | doomed.get(("interviews", "id"), set()),
                                     invitation_ids | doomed.get(("invitations", "id"), set()))
            if ids:
                clauses.append(table.c.id.in_(ids))
        if not clauses:
            continue
        where = or_(*clauses)
        rows = db.execute(sa_select(func.count()).select_from(table).where(where)).scalar_one()
        if not rows:
            continue
        for column in table.columns:
            if (table.name, column.name) in referenced:
                doomed[(table.name, column.name)] = set(db.execute(sa_select(column).where(where)).scalars())
        out.append(Target(table, where, int(rows)))
    return out


def plan_candidate(db: Session, candidate: Candidate, data_dir: Path) -> Plan:
    cid = int(candidate.id)  # type: ignore[arg-type]
    interviews = db.exec(select(Interview).where(Interview.candidate_id == cid)).all()
    plan = Plan(cid, "candidate", sorted(int(i.id) for i in interviews))  # type: ignore[arg-type]
    plan.targets = _targets(db, {"candidates": {cid}}, {cid}, candidate.email)
    plan.directories = [recording_dir(recordings_root(data_dir), i) for i in plan.interview_ids]
    # Uploaded resume files, where server/recording_crypto.py's seal_file puts them
    # (``resumes/<candidate id>/...``); none are stored yet (resumes are text in the row).
    plan.directories.append(Path(data_dir) / RESUMES_DIR / str(cid))
    return plan


def plan_interviews(db: Session, candidate: Candidate, interview_ids: Iterable[int], data_dir: Path) -> Plan:
    """Some of a candidate's interviews (the candidate and their other interviews stay)."""
    cid = int(candidate.id)  # type: ignore[arg-type]
    interviews = db.exec(select(Interview).where(col(Interview.id).in_(list(interview_ids)),
                                                 Interview.candidate_id == cid)).all()
    ids = sorted(int(i.id) for i in interviews)  # type: ignore[arg-type]
    plan = Plan(cid, "interviews", ids)
    seeds = {"interviews": set(ids), "invitations": {i.invitation_id for i in interviews}}
    plan.targets = _targets(db, seeds, set(), None)
    plan.directories = [recording_dir(recordings_root(data_dir), i) for i in ids]
    return plan


def busy_interviews(db: Session, interview_ids: Iterable[int]) -> list[int]:
    ids = list(interview_ids)
    if not ids:
        return []
    return [int(i) for i in db.exec(select(Interview.id).where(col(Interview.id).in_(ids),  # type: ignore[arg-type]
                                                                col(Interview.state).in_(BUSY_STATES)))]


# --- the certificate ------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def certificate_body(cert: DeletionCertificate) -> dict[str, Any]:
    """Everything the digest covers."""
    return {
        "certificate_id": cert.id,
        "candidate_id": cert.candidate_id,
        "candidate_ref": cert.candidate_ref,
        "ref_salt": cert.ref_salt,
        "scope": cert.scope,
        "interview_ids": list(cert.interview_ids),
        "reason": cert.reason,
        "erased_at": _iso(cert.erased_at),
        "erased_by": {"kind": cert.erased_by_kind, "id": cert.erased_by},
        "counts": cert.counts,
    }


def canonical(cert: DeletionCertificate) -> str:
    """The certificate's canonical JSON: sorted keys, no spaces, UTF-8. `digest` is its sha256."""
    return json.dumps(certificate_body(cert), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(cert: DeletionCertificate) -> str:
    return hashlib.sha256(canonical(cert).encode()).hexdigest()


def certificate_out(cert: DeletionCertificate) -> dict[str, Any]:
    return {"id": cert.id, **certificate_body(cert), "digest": cert.digest, "canonical": canonical(cert),
            "verified": digest_of(cert) == cert.digest}


def get_certificate(db: Session, certificate_id: int) -> DeletionCertificate:
    cert = db.get(DeletionCertificate, certificate_id)
    if cert is None:
        raise NotFound(f"erasure certificate {certificate_id} not found")
    return cert


def list_certificates(db: Session, limit: int = 200, offset: int = 0) -> tuple[int, list[DeletionCertificate]]:
    total = db.execute(sa_select(func.count()).select_from(DeletionCertificate)).scalar_one()
    rows = db.exec(select(DeletionCertificate).order_by(col(DeletionCertificate.id).desc())
                   .limit(limit).offset(offset)).all()
    return int(total), list(rows)


def certificates_for_email(db: Session, email: str) -> list[DeletionCertificate]:
    """Certificates of erasures of this email's candidate (each has its own salt)."""
    rows = db.exec(select(DeletionCertificate).order_by(col(DeletionCertificate.id))).all()
    return [c for c in rows if secrets.compare_digest(c.candidate_ref, email_ref(email, c.ref_salt))]


# --- erasing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # hr | system | cli
    id: int | None = None


def erase_rows(db: Session, plan: Plan, email: str, reason: Reason, actor: Actor,
               files: tuple[int, int]) -> DeletionCertificate:
    """Delete the plan's rows (children first), write the certificate and an audit row (ids and
    the digest only). The caller removes the directories after the commit."""
    if db.get_bind().dialect.name == "sqlite":
        # Freed space is zeroed, so the deleted bytes do not linger in the file's pages.
        db.execute(text("PRAGMA secure_delete=ON"))
    for target in reversed(plan.targets):
        db.execute(delete(target.table).where(target.where))
    salt = secrets.token_hex(16)
    cert = DeletionCertificate(
        candidate_id=plan.candidate_id, candidate_ref=email_ref(email, salt), ref_salt=salt, scope=plan.scope,
        interview_ids=plan.interview_ids, reason=reason, erased_at=utcnow().replace(microsecond=0),
        erased_by_kind=actor.kind, erased_by=actor.id,
        counts={"rows": plan.rows, "files": files[0], "bytes": files[1]}, digest="",
    )
    db.add(cert)
    db.flush()
    cert.digest = digest_of(cert)
    db.add(cert)
    action = "candidate.erase" if plan.scope == "candidate" else "interview.erase"
    audit.record(db, actor.kind, actor.id, action, "candidate", plan.candidate_id,
                 certificate_id=cert.id, digest=cert.digest, reason=reason, interview_ids=plan.interview_ids)
    return cert


def remove_directories(directories: Iterable[Path]) -> None:
    for d in directories:
        if d.exists():
            shutil.rmtree(d)


def scrub_sqlite(engine: Engine) -> None:
    """Rewrite the SQLite file so no erased byte survives in free pages or the write-ahead log.
    Blocking (seconds on a large database): run it off the event loop."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("VACUUM")
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        if busy is not None and busy[0]:
            logger.warning("erasure: the database log could not be emptied (a reader held it); "
                           "the next erasure or checkpoint will")


def check_erasable(db: Session, plan: Plan) -> None:
    busy = busy_interviews(db, plan.interview_ids)
    if busy:
        raise Conflict(f"interview {', '.join(map(str, busy))} is in progress: erase after it has finished "
                       "(or end it first)")


def erase_candidate_sync(db: Session, candidate_id: int, data_dir: Path, reason: Reason,
                         actor: Actor) -> tuple[DeletionCertificate, list[Path]]:
    """The database part of erasing one candidate, in the caller's transaction: 404 unknown,
    409 while one of their interviews is in progress."""
    candidate = db.get(Candidate, candidate_id)
    if candidate is None:
        raise NotFound(f"candidate {candidate_id} not found")
    plan = plan_candidate(db, candidate, data_dir)
    check_erasable(db, plan)
    cert = erase_rows(db, plan, candidate.email, reason, actor, plan.files())
    return cert, plan.directories


def erase_interviews_sync(db: Session, candidate_id: int, interview_ids: list[int], data_dir: Path,
                          reason: Reason, actor: Actor) -> tuple[DeletionCertificate, list[Path]]:
    candidate = db.get(Candidate, candidate_id)
    if candidate is None:
        raise NotFound(f"candidate {candidate_id} not found")
    plan = plan_interviews(db, candidate, interview_ids, data_dir)
    check_erasable(db, plan)
    cert = erase_rows(db, plan, candidate.email, reason, actor, plan.files())
    return cert, plan.directories


def preview(db: Session, candidate_id: int, data_dir: Path) -> dict[str, Any]:
    """What erasing the candidate would remove (for the confirmation form)."""
    candidate = db.get(Candidate, candidate_id)
    if candidate is None:
        raise NotFound(f"candidate {candidate_id} not found")
    plan = plan_candidate(db, candidate, data_dir)
    files, size = plan.files()
    return {"candidate_id": candidate_id, "interview_ids": plan.interview_ids, "rows": plan.rows,
            "files": files, "bytes": size, "busy": busy_interviews(db, plan.interview_ids)}


def invitation_ids_of(db: Session, candidate_id: int) -> list[int]:
    return [int(i) for i in db.exec(select(Invitation.id).where(Invitation.candidate_id == candidate_id))]  # type: ignore[arg-type]


async def finish_erasure(store: Any, sessions: Any | None, cert: DeletionCertificate, directories: list[Path]) -> None:
    """After the rows are gone: sessions of this process that held the interviews (invited,
    not begun) leave memory, the recordings go, and the database file is scrubbed."""
    if sessions is not None:
        for interview_id in cert.interview_ids:
            try:
                await sessions.forget(interview_id)
            except Exception:  # the rows are gone either way; never fail the erasure over a session
                logger.exception("erasure: could not close interview %d's session", interview_id)
    await asyncio.to_thread(remove_directories, directories)
    await asyncio.to_thread(scrub_sqlite, store.engine)
    logger.info("erasure certificate %s: candidate %d (%s), %d interview(s)", cert.id, cert.candidate_id,
                cert.reason, len(cert.interview_ids))
