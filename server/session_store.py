"""What an interview session keeps in the store, and how it comes back after a restart.

Blocking functions of a database session (run them through `Store.run`). Transitions made
without a live session (link expiry, HR's reopen, the restart sweep) go through the same state
machine here, so every state change, wherever it happens, is one of the table's."""
from __future__ import annotations

import logging
from typing import Any, Collection, Iterable

from sqlmodel import Session, col, select

from analyzers.speech import Word
from server import audit, webhook_events
from server.attempts import Attempt
from server.interview_machine import HOLDS_MEDIA, TEXT, Event, Facts, State, Step, handle
from server.question_signals import Segment
from server.scoring import DimensionScore
from server.tables import (
    Candidate, Intervention, Interview, QuestionSignals, Score, StateChange, TranscriptSegment, utcnow,
)

logger = logging.getLogger(__name__)


def record_transition(db: Session, interview_id: int, old: State, new: State, code: str, reason: str,
                      actor: str, actor_id: int | None, *, question_index: int, consent: bool | None,
                      used_s: float, extra_s: float, started: bool = False) -> None:
    row = db.get(Interview, interview_id)
    if row is None:
        raise LookupError(f"interview {interview_id} is gone")
    row.state = new.value
    row.question_index = question_index
    row.consent = consent
    row.question_used_s, row.question_extra_s = round(used_s, 3), round(extra_s, 3)
    if started and row.started_at is None:
        row.started_at = utcnow()
    if new == State.COMPLETED:
        row.completed_at = utcnow()
        candidate = db.get(Candidate, row.candidate_id)
        if candidate is not None and candidate.status in ("new", "invited"):
            candidate.status = "interviewed"  # until HR decides
            db.add(candidate)
    db.add(row)
    db.add(StateChange(interview_id=interview_id, from_state=old.value, to_state=new.value, code=code,
                       reason=reason[:500], actor_kind=actor, actor_id=actor_id))
    if new == State.COMPLETED and old != State.COMPLETED:  # completed is final: this runs once
        webhook_events.emit(db, webhook_events.INTERVIEW_COMPLETED, {
            **webhook_events.about_interview(db, interview_id), "completed_at": webhook_events.iso(row.completed_at),
            "ended_by": "interviewer" if actor == "hr" else actor, "code": code,
            "human_only_review": consent is False})


def checkpoint(db: Session, interview_id: int, question_index: int, used_s: float, extra_s: float) -> None:
    """The running question clock, so a restart loses at most one checkpoint interval."""
    row = db.get(Interview, interview_id)
    if row is not None and row.question_index == question_index:
        row.question_used_s, row.question_extra_s = round(used_s, 3), round(extra_s, 3)
        db.add(row)


def store_intervention(db: Session, interview_id: int, user_id: int, action: str, question_index: int,
                       seconds: float | None, note: str) -> None:
    db.add(Intervention(interview_id=interview_id, user_id=user_id, action=action, question_index=question_index,
                        seconds=seconds, note=note))
    audit.record(db, "hr", user_id, f"interview.{action}", "interview", interview_id,
                 note_sha256=audit.text_digest(note), seconds=seconds, question_index=question_index)


def store_attempt(db: Session, interview_id: int, attempt: Attempt, signals: dict[str, float],
                  frame_stats: dict[str, Any], timeline: list[dict[str, Any]],
                  per_question: Iterable[DimensionScore], overall: Iterable[DimensionScore]) -> None:
    """An answer's signals and scores, and the interview's overall scores as they now stand."""
    row = db.exec(select(QuestionSignals).where(
        QuestionSignals.interview_id == interview_id, QuestionSignals.question_index == attempt.index,
        QuestionSignals.attempt == attempt.number)).first() or QuestionSignals(
        interview_id=interview_id, question_index=attempt.index, attempt=attempt.number)
    row.signals = {**signals, **{f"frames:{k}": float(v) for k, v in frame_stats.items()}}
    row.timeline = timeline
    row.skipped, row.fault, row.paused_s = attempt.skipped, attempt.fault, attempt.paused_s
    row.superseded = attempt.superseded
    if attempt.spans:  # the answer's recording; after a restart the earlier part counts too
        start = attempt.spans[0][0] - attempt.prior_live_s
        end = max(b if b is not None else a for a, b in attempt.spans)
        row.live_start_s = start if row.live_start_s is None else min(row.live_start_s, start)
        row.live_end_s = end if row.live_end_s is None else max(row.live_end_s, end)
    row.updated_at = utcnow()
    db.add(row)
    for old in db.exec(select(Score).where(Score.interview_id == interview_id).where(
            (col(Score.question_index) == attempt.index) | (col(Score.question_index).is_(None)))):
        db.delete(old)
    db.flush()
    for s in per_question:
        db.add(Score(interview_id=interview_id, dimension_id=s.dimension_id, question_index=attempt.index,
                     score=s.score, evidence=list(s.evidence)))
    for s in overall:
        db.add(Score(interview_id=interview_id, dimension_id=s.dimension_id, question_index=None,
                     score=s.score, evidence=list(s.evidence)))
    audit.record(db, "system", None, "score.store", "interview", interview_id, question_index=attempt.index,
                 attempt=attempt.number, question={str(s.dimension_id): s.score for s in per_question},
                 overall={str(s.dimension_id): s.score for s in overall})  # every score, in the audit chain


def _segment(row: TranscriptSegment) -> Segment:
    words = tuple(Word(w["word"], w["start_s"], w["end_s"], w.get("conf", 1.0)) for w in row.words)
    return Segment(row.text, row.start_s, row.end_s, words)


def restore_attempts(db: Session, interview_id: int, question_index: int, started: bool,
                     used_s: float) -> list[Attempt]:
    """The attempts of an interview that a previous server process was running: the finished
    ones as stored (signals kept; the vision tally is not), and the current question's open
    attempt with every final transcript segment it had, so the answer continues where it
    stopped (marked as hit by a fault)."""
    stored = db.exec(select(QuestionSignals).where(QuestionSignals.interview_id == interview_id)
                     .order_by(col(QuestionSignals.question_index), col(QuestionSignals.attempt))).all()
    segments = db.exec(select(TranscriptSegment).where(TranscriptSegment.interview_id == interview_id)
                       .order_by(col(TranscriptSegment.start_s))).all()
    attempts: dict[tuple[int, int], Attempt] = {}
    for row in stored:
        attempts[(row.question_index, row.attempt)] = Attempt(
            row.question_index, row.attempt, skipped=row.skipped, superseded=row.superseded, fault=row.fault,
            paused_s=row.paused_s, by_rule=row.skipped_by_rule, closed=True, finished=True,
            stored_signals={k: v for k, v in row.signals.items() if not k.startswith("frames:")})
    numbers = [n for (q, n) in attempts if q == question_index]
    numbers += [s.attempt for s in segments if s.question_index == question_index]
    if started and numbers:
        key = (question_index, max(numbers))
        if key not in attempts:  # not finished: it continues (a finished one gets a successor later)
            attempts[key] = Attempt(*key, fault=True, prior_live_s=used_s)
    elif started:
        attempts[(question_index, 0)] = Attempt(question_index, 0, fault=True, prior_live_s=used_s)
    for seg in segments:
        attempt = attempts.get((seg.question_index, seg.attempt))
        if attempt is not None and seg.live:
            attempt.segments.append(_segment(seg))
    return sorted(attempts.values(), key=lambda a: (a.index, a.number))


def apply(db: Session, interview: Interview, event: Event, facts: Facts, actor: str,
          actor_id: int | None = None, note: str = "") -> Step:
    """A transition of an interview that no live session holds (raises Refused)."""
    old = State(interview.state)
    step = handle(old, event, facts)
    if step.to is not None:
        reason = TEXT.get(step.code or "", "") + (f": {note}" if note else "")
        assert interview.id is not None
        record_transition(db, interview.id, old, step.to, step.code or "", reason, actor, actor_id,
                          question_index=interview.question_index, consent=interview.consent,
                          used_s=interview.question_used_s, extra_s=interview.question_extra_s)
        interview.state = step.to.value
    return step


def mid_way(db: Session, skip: Collection[int] = ()) -> list[int]:
    """Interviews holding media, but for those in `skip` (held by another live process)."""
    found = db.exec(select(Interview.id).where(col(Interview.state).in_([s.value for s in HOLDS_MEDIA]))).all()
    return [i for i in found if i is not None and i not in skip]


def restart_sweep(db: Session) -> list[int]:
    """On start: interviews a previous process left holding media are interrupted now (their
    media is gone); the watchdog then abandons them on time unless the candidate comes back.
    (With several processes, server/sessions.py opens each one that no live process holds
    instead, which takes the same transition.)"""
    found = db.exec(select(Interview).where(col(Interview.state).in_([s.value for s in HOLDS_MEDIA]))).all()
    moved = []
    for interview in found:
        step = apply(db, interview, Event.RESTART, Facts(started=interview.started_at is not None), "system")
        assert interview.id is not None
        moved.append(interview.id)
        logger.info("interview %d: %s after a restart (%s)", interview.id, interview.state, step.code or "unchanged")
    return moved
