"""Consent records: what a candidate was shown and answered, stored before any analysis, and
their withdrawal. Blocking functions of a database session (run them through `Store.run`).

A record holds the notice's profile, version, language and the sha256 of the exact words (so
the text can be proved later even after a newer version replaced it), the answer and the time.
The audit log gets ids and answers only, never the candidate's personal data.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from server import audit, jurisdictions
from server.tables import ConsentRecord, Interview, Job, StateChange, utcnow

logger = logging.getLogger(__name__)

WITHDRAWN_CODE = "consent_withdrawn"
WITHDRAWN_TEXT = "the candidate withdrew their consent: no more analysis, human-only review"


class UnknownNotice(ValueError):
    """The page says it showed a notice version its job's profile does not have."""


@dataclass(frozen=True, slots=True)
class Terms:
    """What a live session may analyse beyond the candidate's main answer: `vision` is False
    when a separate biometric consent was refused (speech is still analysed); the profile's
    forbidden analyses are enforced on every sample."""

    vision: bool = True
    forbidden_analyses: frozenset[str] = frozenset()
    withdrawn: bool = False  # consent was given, then withdrawn (a restarted session reads it)


def _job_of(db: Session, interview_id: int) -> tuple[Interview, Job] | None:
    interview = db.get(Interview, interview_id)
    job = db.get(Job, interview.job_id) if interview is not None else None
    return (interview, job) if interview is not None and job is not None else None


def records_of(db: Session, interview_id: int) -> list[ConsentRecord]:
    return list(db.exec(select(ConsentRecord).where(ConsentRecord.interview_id == interview_id)
                        .order_by(col(ConsentRecord.id))))


def terms(db: Session, interview_id: int) -> Terms:
    """The terms as stored (a session made again after a restart reads them here)."""
    found = _job_of(db, interview_id)
    if found is None:
        return Terms()
    profile = jurisdictions.profile(found[1].jurisdiction)
    records = records_of(db, interview_id)
    refused = any(r.kind == "biometric" and (not r.answer or r.withdrawn_at is not None) for r in records)
    return Terms(vision=not refused, forbidden_analyses=profile.forbidden_analyses,
                 withdrawn=any(r.withdrawn_at is not None for r in records))


def record_start(db: Session, interview_id: int, answer: bool, biometric: bool | None,
                 notice_version: str | None, language: str | None = None) -> Terms:
    """The candidate's first `start`: one record per consent question of the job's profile
    (raises UnknownNotice for a version the profile never had). `notice_version` None: the
    current one (the version the page shows now); `language` None: the page's language.
    Idempotent: a second call records nothing."""
    found = _job_of(db, interview_id)
    if found is None:
        raise LookupError(f"interview {interview_id} is gone")
    interview, job = found
    shown = jurisdictions.shown(job.jurisdiction, language or jurisdictions.PAGE_LANGUAGE, notice_version)
    if shown is None:
        raise UnknownNotice(f"notice version {notice_version!r} is not one of the "
                            f"{jurisdictions.profile(job.jurisdiction).name} profile's; reload the page")
    if records_of(db, interview_id):
        return terms(db, interview_id)
    answers = {"ai_analysis": answer}
    if "biometric" in shown.questions and answer:
        # Separate consent: only an explicit yes counts (a page that did not ask gets a no).
        answers["biometric"] = biometric is True
    now = utcnow()
    for kind, given in answers.items():
        db.add(ConsentRecord(interview_id=interview_id, kind=kind, notice_id=shown.profile.id,
                             notice_version=shown.notice.version, language=shown.language,
                             text_sha256=shown.text.sha256(kind), answer=given, ts=now))
    audit.record(db, "candidate", None, "interview.consent", "interview", interview_id,
                 notice=shown.profile.id, version=shown.notice.version, **answers)
    return Terms(vision=answers.get("biometric", True), forbidden_analyses=shown.profile.forbidden_analyses)


def withdraw(db: Session, interview_id: int, state: str, when: datetime | None = None) -> datetime:
    """The candidate withdrew their consent to analysis: every given consent is marked, the
    interview becomes human-only, and the change is a state-change row (same state, its own
    code) and an audit row."""
    when = when or utcnow()
    interview = db.get(Interview, interview_id)
    if interview is None:
        raise LookupError(f"interview {interview_id} is gone")
    for record in records_of(db, interview_id):
        if record.answer and record.withdrawn_at is None:
            record.withdrawn_at = when
            db.add(record)
    interview.consent = False
    db.add(interview)
    db.add(StateChange(interview_id=interview_id, ts=when, from_state=state, to_state=state, code=WITHDRAWN_CODE,
                       reason=WITHDRAWN_TEXT, actor_kind="candidate"))
    audit.record(db, "candidate", None, "interview.consent_withdrawn", "interview", interview_id)
    return when


def records_json(db: Session, interview_id: int) -> list[dict[str, Any]]:
    return [{"kind": r.kind, "notice_id": r.notice_id, "notice_version": r.notice_version, "language": r.language,
             "text_sha256": r.text_sha256, "answer": r.answer, "ts": r.ts, "withdrawn_at": r.withdrawn_at}
            for r in records_of(db, interview_id)]
