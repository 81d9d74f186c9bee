"""What predictive validity is computed from, per job: every scored interview (live, or imported
from a previous system) with its dimension scores, overall, decision and, for the hired, what
came after (mean performance rating after the hire, departure).

One query set per job; the analysis (server/validity_stats.py, server/validity.py) and the
recalibration (server/recalibration.py) both read `job_people`, so they agree on who counts.

Who counts:
- live interviews that completed with AI analysis (consent not withdrawn) and an overall;
- past interviews imported with `POST /api/imports/history`;
- a person's performance is the mean of their ratings whose period ended after the hire;
- an early leaver left within EARLY_LEAVE_DAYS of starting (the start date, else the hire);
  a hire still employed but not yet that long is neither (`early_leaver` None)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

from sqlmodel import Session, col, func, select

from server.auth import Principal
from server.jobs import dimensions_of, get_job, visible_jobs_query
from server.reports import Thresholds
from server.results import job_results
from server.scoring import overall_score
from server.store import stored_id
from server.tables import Dimension, Employee, Job, PastInterview, PerformanceReview, utcnow

EARLY_LEAVE_DAYS = 183  # "early leavers (< 6 months)"


@dataclass(slots=True)
class Person:
    """One scored interview of the job and, when hired, what followed."""

    candidate_id: int
    source: str  # interview | history
    interview_id: int | None  # the live interview, or None
    past_interview_id: int | None
    scores: dict[int, float | None]  # dimension id -> 0-100 (None: asked, not assessed)
    overall: float | None
    decision: str | None
    employee_id: int | None = None
    hired_at: datetime | None = None
    mean_rating: float | None = None  # mean performance rating after the hire
    ratings: int = 0
    left_at: datetime | None = None
    left_voluntary: bool | None = None
    early_leaver: bool | None = None

    @property
    def hired(self) -> bool:
        return self.employee_id is not None


@dataclass(slots=True)
class JobPeople:
    job_id: int
    dimensions: list[Dimension]  # the job's current (not retired) dimensions, in order
    weights: dict[int, float]  # their current weights
    people: list[Person] = field(default_factory=list)

    @property
    def hires(self) -> list[Person]:
        return [p for p in self.people if p.hired]

    @property
    def rated_hires(self) -> list[Person]:
        return [p for p in self.people if p.hired and p.mean_rating is not None]


def job_people(db: Session, who: Principal, job_id: int, thresholds: Thresholds = Thresholds(),
               now: datetime | None = None) -> JobPeople:
    """Every scored interview of the job (access checked: 404 for a job this user cannot see)."""
    get_job(db, who, job_id)
    now = now or utcnow()
    dims = dimensions_of(db, job_id)
    every = dimensions_of(db, job_id, include_retired=True)
    by_name = {d.name: stored_id(d) for d in every}
    out = JobPeople(job_id, dims, {stored_id(d): d.weight for d in dims})
    rows, _ = job_results(db, who, job_id, thresholds)
    live: dict[int, Person] = {}
    for row in rows:
        if row.state != "completed" or row.consent is False or row.overall is None:
            continue
        live[row.interview_id] = Person(
            row.candidate_id, "interview", row.interview_id, None,
            {by_name[n]: s for n, s in row.dimensions.items() if n in by_name}, row.overall, row.decision)
    past: dict[int, Person] = {}
    for p in db.exec(select(PastInterview).where(PastInterview.job_id == job_id)).all():
        past[stored_id(p)] = Person(p.candidate_id, "history", None, stored_id(p),
                                    {int(k): (None if v is None else float(v)) for k, v in p.scores.items()},
                                    p.overall, p.decision)
    employees = db.exec(select(Employee).where(Employee.job_id == job_id)).all()
    ratings: dict[int, list[float]] = {}
    if employees:
        hired_at = {stored_id(e): e.hired_at for e in employees}
        for review in db.exec(select(PerformanceReview).where(
                col(PerformanceReview.employee_id).in_(list(hired_at)))).all():
            if review.period_end > hired_at[review.employee_id]:
                ratings.setdefault(review.employee_id, []).append(review.rating)
    for employee in employees:
        person = (live.get(employee.interview_id) if employee.interview_id is not None
                  else past.get(employee.past_interview_id) if employee.past_interview_id is not None else None)
        if person is None:
            continue  # hired after an interview that is not scored (human-only): nothing to compare
        eid = stored_id(employee)
        person.employee_id, person.hired_at = eid, employee.hired_at
        person.left_at, person.left_voluntary = employee.left_at, employee.left_voluntary
        mine = ratings.get(eid, [])
        person.ratings = len(mine)
        person.mean_rating = sum(mine) / len(mine) if mine else None
        person.early_leaver = early_leaver(employee, now)
    out.people = [*live.values(), *past.values()]
    return out


def early_leaver(employee: Employee, now: datetime) -> bool | None:
    started = employee.start_date or employee.hired_at
    limit = started + timedelta(days=EARLY_LEAVE_DAYS)
    if employee.left_at is not None:
        return employee.left_at < limit
    return False if now >= limit else None


def overall_under(scores: Mapping[int, float | None], weights: Mapping[int, float]) -> float | None:
    """The overall a person would have under other dimension weights (the job's dimensions only;
    resume boosts are left out: they belong to the interview, not to the weights)."""
    kept = {d: s for d, s in scores.items() if d in weights}
    return overall_score(kept, weights).score


@dataclass(slots=True)
class FamilyPeople:
    """The scored people of every job of one family the user sees, pooled; dimensions matched by
    name across the jobs (a person's scores keyed by the position of the name in `names`, from 1;
    each overall stays under its own job's weights)."""

    family: str
    job_ids: list[int]
    names: list[str]
    people: list[Person] = field(default_factory=list)


def family_people(db: Session, who: Principal, family: str, thresholds: Thresholds = Thresholds(),
                  now: datetime | None = None) -> FamilyPeople:
    wanted = family.strip().lower()
    jobs = list(db.exec(visible_jobs_query(who).where(func.lower(Job.family) == wanted)
                        .order_by(col(Job.id)))) if wanted else []
    out = FamilyPeople(family.strip(), [stored_id(j) for j in jobs], [])
    position: dict[str, int] = {}
    for job in jobs:
        jp = job_people(db, who, stored_id(job), thresholds, now)
        name_of = {stored_id(d): d.name for d in dimensions_of(db, stored_id(job), include_retired=True)}
        for d in jp.dimensions:
            position.setdefault(d.name.strip().lower(), len(position) + 1)
            if len(out.names) < len(position):
                out.names.append(d.name)
        for person in jp.people:
            person.scores = {position[name_of[d].strip().lower()]: s for d, s in person.scores.items()
                             if d in name_of and name_of[d].strip().lower() in position}
            out.people.append(person)
    return out
