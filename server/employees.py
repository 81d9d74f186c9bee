"""The employee archive: a `hire` decision makes the employee, and the interview as it was
(report with scores, key clips and the AI recommendation, HR's notes, the decision) becomes the
employee's recruitment record, frozen as JSON so later edits of the job or its weights never
change it. Performance reviews, training, job-specific outcomes and the departure follow the
employee (by API, page or import, server/imports.py).

Who sees an employee: whoever sees the employee's job (server/jobs.py); anyone else gets 404.

A decision changed away from `hire` removes the employee when nothing was recorded about them
yet (no review, training, outcome or departure: the hire was a mistake, it must not count in the
job's validity); once something was recorded the employee is kept, since the person did work
there. Changing back to `hire` makes a new employee from the interview as it is then.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any, Iterable, Mapping

from sqlmodel import Session, col, select

from server import audit
from server.auth import Principal
from server.errors import Conflict, Invalid, NotFound
from server.jobs import get_job, visible_jobs_query
from server.store import stored_id
from server.tables import (
    Candidate, Employee, Interview, Job, OutcomeRecord, PerformanceReview,
    RecruitmentRecord, ReviewNote, TrainingRecord, User, utcnow,
)
from server.web import dumps

logger = logging.getLogger(__name__)

MAX_METRIC = 64
MAX_COURSE = 200


# --- values as HR writes them -----------------------------------------------------------------

def parse_when(raw: str, what: str) -> datetime:
    """An ISO date (`2025-03-31`, read as midnight UTC) or date and time (a time without zone is
    UTC); Invalid naming `what` otherwise."""
    text = raw.strip()
    if not text:
        raise Invalid(f"{what} is empty: give a date as YYYY-MM-DD")
    try:
        if len(text) == 10:
            value = datetime.combine(date.fromisoformat(text), time(), timezone.utc)
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{what} {text[:40]!r} is not a date: write it as YYYY-MM-DD") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    if not 1900 <= value.year <= 2200:
        raise Invalid(f"{what} {text[:40]!r} is not a plausible date")
    return value.astimezone(timezone.utc)


def parse_start_date(value: Any) -> Any:
    """For request bodies (a pydantic BeforeValidator): a string becomes a datetime; a bad one is
    a ValueError (422 with the reason)."""
    if isinstance(value, str):
        try:
            return parse_when(value, "start_date")
        except Invalid as exc:
            raise ValueError(exc.message) from None
    return value


def parse_rating(raw: str, what: str = "rating") -> float:
    """A 0-100 number."""
    try:
        value = float(raw.strip())
    except ValueError:
        raise Invalid(f"{what} {raw.strip()[:40]!r} is not a number (0-100)") from None
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise Invalid(f"{what} {raw.strip()[:40]} is outside 0-100")
    return value


def parse_number(raw: str, what: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise Invalid(f"{what} {raw.strip()[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise Invalid(f"{what} must be a finite number")
    return value


TRUE_WORDS = {"true": True, "yes": True, "1": True, "y": True, "false": False, "no": False, "0": False, "n": False}


def parse_bool(raw: str, what: str) -> bool:
    value = TRUE_WORDS.get(raw.strip().lower())
    if value is None:
        raise Invalid(f"{what} {raw.strip()[:40]!r} is not true/false (or yes/no, 1/0)")
    return value


def plain(value: Any) -> Any:
    """JSON as it reads back from a JSON column (datetimes as ISO strings)."""
    return json.loads(dumps(value))


# --- the hire ---------------------------------------------------------------------------------

def interview_record(db: Session, interview: Interview, report: Mapping[str, Any], decision: str, note: str,
                     decided_by: int) -> dict[str, Any]:
    """The recruitment record of a live interview: the report as built for the decision, the
    notes (with their authors' emails) and the decision."""
    iid = stored_id(interview)
    notes = db.exec(select(ReviewNote, User).join(User, col(User.id) == ReviewNote.user_id)
                    .where(ReviewNote.interview_id == iid).order_by(col(ReviewNote.id))).all()
    user = db.get(User, decided_by)
    return plain({
        "source": "interview",
        "interview_id": iid,
        "job": report.get("job"),
        "template": report.get("template"),
        "report": report,
        "notes": [{"author": u.email, "text": n.text, "created_at": n.created_at} for n, u in notes],
        "decision": {"decision": decision, "note": note, "by": user.email if user else None, "at": utcnow()},
        "frozen_at": utcnow(),
    })


def on_hire(db: Session, who: Principal, interview: Interview, report: Mapping[str, Any], note: str,
            start_date: datetime | None) -> Employee:
    """The employee and its frozen recruitment record, made in the decision's transaction.
    Conflict when the candidate already is an employee from another hire (one per person)."""
    existing = db.exec(select(Employee).where(Employee.candidate_id == interview.candidate_id)).first()
    if existing is not None and existing.interview_id == interview.id:
        return existing  # hired, changed away with records kept, hired again: the same employee
    if existing is not None:
        raise Conflict(f"this candidate already is an employee (employee {existing.id}, job {existing.job_id}): "
                       f"record the departure or correct that hire first")
    employee = Employee(candidate_id=interview.candidate_id, job_id=interview.job_id, interview_id=interview.id,
                        hired_at=utcnow(), start_date=start_date, source="interview")
    db.add(employee)
    db.flush()
    db.add(RecruitmentRecord(employee_id=stored_id(employee),
                             data=interview_record(db, interview, report, "hire", note, who.id)))
    audit.record(db, "hr", who.id, "employee.hire", "employee", employee.id, interview_id=interview.id,
                 job_id=interview.job_id, start_date=start_date)
    logger.info("interview %s: hired, employee %s", interview.id, employee.id)
    return employee


def on_unhire(db: Session, who: Principal, interview: Interview) -> bool:
    """A decision changed away from `hire`: the employee goes when nothing was recorded about them
    yet; True when removed."""
    employee = db.exec(select(Employee).where(Employee.interview_id == interview.id)).first()
    if employee is None:
        return False
    eid = stored_id(employee)
    recorded = (employee.left_at is not None
                or any(db.exec(select(t.id).where(t.employee_id == eid).limit(1)).first() is not None
                       for t in (PerformanceReview, TrainingRecord, OutcomeRecord)))
    if recorded:
        audit.record(db, "hr", who.id, "employee.keep", "employee", eid, interview_id=interview.id,
                     why="records exist after the hire")
        return False
    record = db.get(RecruitmentRecord, eid)
    if record is not None:
        db.delete(record)
        db.flush()
    db.delete(employee)
    db.flush()
    audit.record(db, "hr", who.id, "employee.remove", "employee", eid, interview_id=interview.id)
    return True


# --- reading ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ratings:
    mean: float | None
    count: int


def ratings_after_hire(db: Session, employees: Iterable[Employee]) -> dict[int, Ratings]:
    """Per employee the mean performance rating whose period ended after the hire (the rule of
    server/validity_data.py, so the list and the analysis agree)."""
    hired = {stored_id(e): e.hired_at for e in employees}
    found: dict[int, list[float]] = {}
    if hired:
        for review in db.exec(select(PerformanceReview).where(col(PerformanceReview.employee_id).in_(list(hired)))):
            if review.period_end > hired[review.employee_id]:
                found.setdefault(review.employee_id, []).append(review.rating)
    return {e: Ratings(round(sum(r) / len(r), 2) if (r := found.get(e)) else None, len(found.get(e, [])))
            for e in hired}


def visible_job_ids(db: Session, who: Principal) -> dict[int, str]:
    """The jobs this user sees: id -> title."""
    return {stored_id(j): j.title for j in db.exec(visible_jobs_query(who))}


def employee_summary(employee: Employee, candidate: Candidate, job_title: str, ratings: Ratings) -> dict[str, Any]:
    return {"id": employee.id, "candidate_id": employee.candidate_id, "name": candidate.name,
            "email": candidate.email, "job_id": employee.job_id, "job_title": job_title,
            "hired_at": employee.hired_at, "start_date": employee.start_date, "left_at": employee.left_at,
            "left_voluntary": employee.left_voluntary, "source": employee.source, "interview_id": employee.interview_id,
            "mean_rating": ratings.mean, "ratings": ratings.count}


def list_employees(db: Session, who: Principal, job_id: int | None = None) -> list[dict[str, Any]]:
    """The employees of the jobs this user sees (of one job: 404 when it is not visible), the
    newest hire first."""
    if job_id is not None:
        titles = {job_id: get_job(db, who, job_id).title}
    else:
        titles = visible_job_ids(db, who)
    if not titles:
        return []
    rows = db.exec(select(Employee, Candidate).join(Candidate, col(Candidate.id) == Employee.candidate_id)
                   .where(col(Employee.job_id).in_(list(titles)))
                   .order_by(col(Employee.hired_at).desc(), col(Employee.id).desc())).all()
    ratings = ratings_after_hire(db, [e for e, _ in rows])
    return [employee_summary(e, c, titles[e.job_id], ratings[stored_id(e)]) for e, c in rows]


def visible_employee(db: Session, who: Principal, employee_id: int) -> Employee:
    """The employee, or 404 when unknown or its job is not visible to this user."""
    employee = db.get(Employee, employee_id)
    if employee is None:
        raise NotFound(f"employee {employee_id} not found")
    try:
        get_job(db, who, employee.job_id)
    except NotFound:
        raise NotFound(f"employee {employee_id} not found") from None
    return employee


def employee_detail(db: Session, who: Principal, employee_id: int) -> dict[str, Any]:
    """One employee: the summary, the recruitment record as frozen, and what followed."""
    employee = visible_employee(db, who, employee_id)
    eid = stored_id(employee)
    candidate = db.get(Candidate, employee.candidate_id)
    job = db.get(Job, employee.job_id)
    assert candidate is not None and job is not None, "foreign keys"
    record = db.get(RecruitmentRecord, eid)
    out = employee_summary(employee, candidate, job.title, ratings_after_hire(db, [employee])[eid])
    out["recruitment_record"] = record.data if record is not None else None
    out["performance"] = [
        {"id": r.id, "period_end": r.period_end, "rating": r.rating, "competencies": r.competencies,
         "source": r.source} for r in db.exec(select(PerformanceReview).where(PerformanceReview.employee_id == eid)
                                               .order_by(col(PerformanceReview.period_end)))]
    out["training"] = [
        {"id": t.id, "course": t.course, "completed_at": t.completed_at, "result": t.result, "source": t.source}
        for t in db.exec(select(TrainingRecord).where(TrainingRecord.employee_id == eid)
                         .order_by(col(TrainingRecord.completed_at), col(TrainingRecord.id)))]
    out["outcomes"] = [
        {"id": o.id, "metric": o.metric, "period_end": o.period_end, "value": o.value, "source": o.source}
        for o in db.exec(select(OutcomeRecord).where(OutcomeRecord.employee_id == eid)
                         .order_by(col(OutcomeRecord.metric), col(OutcomeRecord.period_end)))]
    return out


def record_clip(db: Session, who: Principal, employee_id: int, clip_id: str) -> tuple[int, dict[str, Any]]:
    """A key clip of the employee's recruitment record, as frozen: (interview id, clip)."""
    employee = visible_employee(db, who, employee_id)
    record = db.get(RecruitmentRecord, stored_id(employee))
    clips = (record.data.get("report") or {}).get("clips", []) if record is not None else []
    clip = next((c for c in clips if c.get("id") == clip_id), None)
    if clip is None or employee.interview_id is None:
        raise NotFound(f"clip {clip_id[:60]} not found in this employee's recruitment record")
    return employee.interview_id, clip


# --- what follows the hire (API and page) -----------------------------------------------------

def _not_before_hire(employee: Employee, when: datetime, what: str) -> None:
    if when.date() < employee.hired_at.date():
        raise Invalid(f"{what} {when.date().isoformat()} is before the hire ({employee.hired_at.date().isoformat()})")


def add_performance(db: Session, who: Principal, employee_id: int, period_end: datetime, rating: float,
                    competencies: Mapping[str, float], source: str) -> tuple[PerformanceReview, bool]:
    """A review for a period (one per period: the same period again corrects it). (row, updated)"""
    employee = visible_employee(db, who, employee_id)
    eid = stored_id(employee)
    row = db.exec(select(PerformanceReview).where(PerformanceReview.employee_id == eid,
                                                  PerformanceReview.period_end == period_end)).first()
    updated = row is not None
    row = row or PerformanceReview(employee_id=eid, period_end=period_end, rating=rating)
    row.rating, row.competencies, row.source = rating, dict(competencies), source
    db.add(row)
    db.flush()
    audit.record(db, "hr", who.id, "employee.performance", "employee", eid, review_id=row.id, updated=updated,
                 via=source)
    return row, updated


def add_training(db: Session, who: Principal, employee_id: int, course: str, completed_at: datetime,
                 result: float | None, source: str) -> tuple[TrainingRecord, bool]:
    employee = visible_employee(db, who, employee_id)
    eid = stored_id(employee)
    course = course.strip()
    if not course or len(course) > MAX_COURSE:
        raise Invalid(f"course must be 1-{MAX_COURSE} characters")
    row = db.exec(select(TrainingRecord).where(TrainingRecord.employee_id == eid, TrainingRecord.course == course,
                                               TrainingRecord.completed_at == completed_at)).first()
    updated = row is not None
    row = row or TrainingRecord(employee_id=eid, course=course, completed_at=completed_at)
    row.result, row.source = result, source
    db.add(row)
    db.flush()
    audit.record(db, "hr", who.id, "employee.training", "employee", eid, training_id=row.id, updated=updated,
                 via=source)
    return row, updated


def add_outcome(db: Session, who: Principal, employee_id: int, metric: str, period_end: datetime, value: float,
                source: str) -> tuple[OutcomeRecord, bool]:
    employee = visible_employee(db, who, employee_id)
    eid = stored_id(employee)
    metric = metric.strip()
    if not metric or len(metric) > MAX_METRIC:
        raise Invalid(f"metric must be 1-{MAX_METRIC} characters")
    row = db.exec(select(OutcomeRecord).where(OutcomeRecord.employee_id == eid, OutcomeRecord.metric == metric,
                                              OutcomeRecord.period_end == period_end)).first()
    updated = row is not None
    row = row or OutcomeRecord(employee_id=eid, metric=metric, period_end=period_end, value=value)
    row.value, row.source = value, source
    db.add(row)
    db.flush()
    audit.record(db, "hr", who.id, "employee.outcome", "employee", eid, outcome_id=row.id, metric=metric,
                 updated=updated, via=source)
    return row, updated


def set_departure(db: Session, who: Principal, employee_id: int, left_at: datetime, voluntary: bool,
                  source: str) -> Employee:
    employee = visible_employee(db, who, employee_id)
    _not_before_hire(employee, left_at, "left_at")
    employee.left_at, employee.left_voluntary = left_at, voluntary
    db.add(employee)
    db.flush()
    audit.record(db, "hr", who.id, "employee.departure", "employee", employee.id, voluntary=voluntary, via=source)
    return employee
