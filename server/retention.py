"""Retention: a candidate not hired is erased a set number of days after their interview ended.

Per interview, the clock starts at the decision (any decision but `hire`), or without one when
the interview finished: completed, expired or abandoned (the last state change), or its deadline
for an interview never begun. An interview in progress, or whose link still works, is never due.
The period is the job's jurisdiction profile's `retention_days` (server/jurisdictions.py); for
jobs on the default profile CANDOR_RETENTION_DAYS overrides it when set.

A candidate who was hired (status `hired`, any `hire` decision, or an employee record) is kept whole: they move to an
employee record. Otherwise, when every interview of the candidate is due, the candidate is erased
completely (server/erasure.py, reason `retention`); when only some are, just those interviews are
(the candidate and the rest stay). Candidates never invited are not touched here. Each erasure
leaves its certificate and audit row.

Runs once a day in every server process (`retention_ctx`; a candidate erased by one process is
simply gone for the next) and on demand: `python run.py purge [--dry-run]`."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator

from aiohttp import web
from sqlmodel import Session, col, select

from server import erasure
from server.errors import ApiError
from server.interview_machine import FINISHED
from server.jurisdictions import DEFAULT, profile
from server.settings import Settings
from server.tables import Candidate, Decision, Employee, Interview, Invitation, Job, StateChange, utcnow
from server.web import settings_key, store_key

logger = logging.getLogger(__name__)
FIRST_RUN_AFTER_S = 300.0  # after start-up, so a restart loop does not purge at every start
EVERY_S = 24 * 3600.0
FINISHED_STATES = frozenset(s.value for s in FINISHED)
NOT_BEGUN = ("invited", "consented")
SYSTEM = erasure.Actor("system")  # the scheduled purge


@dataclass(frozen=True, slots=True)
class Due:
    """A candidate with interviews past their retention: all of them (`whole`) or some."""

    candidate_id: int
    interview_ids: tuple[int, ...]
    whole: bool


@dataclass(frozen=True, slots=True)
class Purged:
    due: Due
    certificate_id: int | None  # None: dry run, or skipped (see `skipped`)
    digest: str = ""
    skipped: str = ""


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def retention_days(settings: Settings, job: Job) -> int:
    jurisdiction = getattr(job, "jurisdiction", DEFAULT) or DEFAULT
    if jurisdiction == DEFAULT and settings.retention_days is not None:
        return settings.retention_days
    return profile(jurisdiction).retention_days


def _ended_at(db: Session, interview: Interview, invitation: Invitation | None,
              decision: Decision | None, now: datetime) -> datetime | None:
    """When the interview's retention clock started; None while it can still be taken."""
    if decision is not None:
        return _aware(decision.created_at)
    if interview.state == "completed" and interview.completed_at is not None:
        return _aware(interview.completed_at)
    if interview.state in FINISHED_STATES:
        last = db.exec(select(StateChange.ts).where(StateChange.interview_id == interview.id)
                       .order_by(col(StateChange.id).desc())).first()
        if last is not None:
            return _aware(last)
        return _aware(invitation.deadline) if invitation is not None else _aware(interview.created_at)
    if interview.state in NOT_BEGUN and invitation is not None and _aware(invitation.deadline) <= now:
        return _aware(invitation.deadline)
    return None


def find_due(db: Session, settings: Settings, now: datetime, candidate_id: int | None = None) -> list[Due]:
    stmt = select(Interview).order_by(col(Interview.candidate_id), col(Interview.id))
    if candidate_id is not None:
        stmt = stmt.where(Interview.candidate_id == candidate_id)
    by_candidate: dict[int, list[Interview]] = {}
    for interview in db.exec(stmt):
        by_candidate.setdefault(interview.candidate_id, []).append(interview)
    jobs: dict[int, Job | None] = {}
    out = []
    for cid, interviews in by_candidate.items():
        candidate = db.get(Candidate, cid)
        if candidate is None or candidate.status == "hired":
            continue
        ids = [int(i.id) for i in interviews]  # type: ignore[arg-type]
        decisions = {d.interview_id: d for d in db.exec(select(Decision).where(col(Decision.interview_id).in_(ids)))}
        if any(d.decision == "hire" for d in decisions.values()):
            continue
        if db.exec(select(Employee.id).where(Employee.candidate_id == cid)).first() is not None:
            continue  # an employee (e.g. hired through an imported past interview): kept whole
        due = []
        for interview in interviews:
            ended = _ended_at(db, interview, db.get(Invitation, interview.invitation_id),
                              decisions.get(int(interview.id)), now)  # type: ignore[arg-type]
            if ended is None:
                continue
            if interview.job_id not in jobs:
                jobs[interview.job_id] = db.get(Job, interview.job_id)
            job = jobs[interview.job_id]
            if job is not None and ended + timedelta(days=retention_days(settings, job)) <= now:
                due.append(int(interview.id))  # type: ignore[arg-type]
        if due:
            out.append(Due(cid, tuple(due), whole=len(due) == len(ids)))
    return out


async def purge(store: Any, settings: Settings, *, now: datetime | None = None, dry_run: bool = False,
                sessions: Any | None = None, actor: erasure.Actor = SYSTEM) -> list[Purged]:
    """Erase what is past its retention (each candidate in its own transaction); what was
    erased, or with `dry_run` what would be."""
    now = now or utcnow()
    found = await store.run(lambda db: find_due(db, settings, now))
    if dry_run:
        return [Purged(d, None) for d in found]
    done: list[Purged] = []
    for due in found:
        def work(db: Session, cid: int = due.candidate_id) -> tuple[Due, Any, list[Any]] | None:
            again = find_due(db, settings, now, cid)  # a decision may have changed meanwhile
            if not again:
                return None
            d = again[0]
            if d.whole:
                cert, dirs = erasure.erase_candidate_sync(db, cid, settings.data_dir, "retention", actor)
            else:
                cert, dirs = erasure.erase_interviews_sync(db, cid, list(d.interview_ids), settings.data_dir,
                                                           "retention", actor)
            return d, cert, dirs

        try:
            result = await store.run(work)
        except ApiError as exc:  # e.g. an interview began meanwhile (409): next time
            logger.warning("retention: candidate %d not erased: %s", due.candidate_id, exc.message)
            done.append(Purged(due, None, skipped=exc.message))
            continue
        if result is None:
            continue
        d, cert, dirs = result
        if sessions is not None:
            for interview_id in cert.interview_ids:
                await sessions.forget(interview_id)
        await asyncio.to_thread(erasure.remove_directories, dirs)
        done.append(Purged(d, int(cert.id), cert.digest))
    if any(p.certificate_id is not None for p in done):
        await asyncio.to_thread(erasure.scrub_sqlite, store.engine)
    erased = [p for p in done if p.certificate_id is not None]
    if erased:
        logger.info("retention: erased %d candidate(s) or interview sets: %s", len(erased),
                    ", ".join(f"candidate {p.due.candidate_id} (certificate {p.certificate_id})" for p in erased))
    return done


async def _daily(app: web.Application) -> None:
    from server.sessions import sessions_key

    await asyncio.sleep(FIRST_RUN_AFTER_S)
    while True:
        try:
            await purge(app[store_key], app[settings_key], sessions=app[sessions_key])
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("retention: the purge failed; trying again tomorrow")
        await asyncio.sleep(EVERY_S)


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_daily(app), name="retention-purge")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
