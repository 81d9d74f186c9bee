"""Jobs, their competency dimensions and scoring rules, and who may see them."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from server import audit, jurisdictions
from server.auth import Principal
from server.errors import Invalid, NotFound
from server.schemas import JobIn
from server.store import stored_id
from server.tables import Dimension, Job, JobAccess, JobVersion, ScoringRule, User


def create_job(db: Session, who: Principal, body: JobIn, default_language: str,
               speech_languages: frozenset[str] | None = None) -> Job:
    """`speech_languages`: languages with an installed speech model; a job in another language
    is refused, since its interviews could not be transcribed (None: not checked)."""
    language = body.language or default_language
    if speech_languages is not None and language not in speech_languages:
        have = ", ".join(sorted(speech_languages)) or "none"
        raise Invalid(f"no speech model is installed for language {language!r} (installed: {have}); "
                      f"the operator can add one with `python run.py models add PATH --language {language}`")
    names = [d.name.lower() for d in body.dimensions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise Invalid(f"dimension names must be unique within a job: {', '.join(duplicates)}")
    analyses = allowed_analyses(body)
    job = Job(
        title=body.title,
        language=language,
        created_by=who.id,
        jurisdiction=body.jurisdiction,
        family=body.family.strip(),
        analyze_expression=analyses["expression"],
        analyze_eye_contact=analyses["eye_contact"],
        analyze_posture=analyses["posture"],
    )
    db.add(job)
    db.flush()
    for position, dim_in in enumerate(body.dimensions):
        dim = Dimension(
            job_id=stored_id(job),
            position=position,
            name=dim_in.name,
            description=dim_in.description,
            keywords=list(dim_in.keywords),
            weight=dim_in.weight,
        )
        db.add(dim)
        db.flush()
        for rule_pos, rule in enumerate(dim_in.rules):
            db.add(
                ScoringRule(
                    dimension_id=stored_id(dim),
                    position=rule_pos,
                    signal=rule.signal,
                    op=rule.op,
                    value=rule.value,
                    points=rule.points,
                    scope=rule.scope,
                )
            )
    db.flush()
    save_job_version(db, job, who.id)
    audit.record(db, "hr", who.id, "job.create", "job", job.id, title=job.title, jurisdiction=job.jurisdiction,
                 version=job.version)
    return job


def job_snapshot(db: Session, job: Job) -> dict[str, Any]:
    """The job as its newest version holds it (what a JobVersion row keeps): the live rows,
    retired dimensions left out."""
    detail = job_detail(db, job)
    data = {key: detail[key] for key in SNAPSHOT_KEYS}
    # Numbers as the database gives them back (a weight sent as 2 reads 2.0), so a version reads
    # the same before and after it is stored.
    data["dimensions"] = [
        {**d, "weight": float(d["weight"]), "keywords": list(d["keywords"]),
         "rules": [{**r, "value": float(r["value"]), "points": float(r["points"])} for r in d["rules"]]}
        for d in data["dimensions"]
    ]
    return data


SNAPSHOT_KEYS = ("title", "language", "jurisdiction", "analyze_expression", "analyze_eye_contact",
                 "analyze_posture", "dimensions")


def save_job_version(db: Session, job: Job, user_id: int | None, note: str = "") -> JobVersion:
    """Keep the job's live rows as version `job.version` (called at creation and by each edit)."""
    row = JobVersion(job_id=stored_id(job), version=job.version, data=job_snapshot(db, job), note=note,
                     created_by=user_id if user_id is not None else job.created_by)
    db.add(row)
    db.flush()
    return row


def allowed_analyses(body: JobIn) -> dict[str, bool]:
    """The job's analysis switches under its jurisdiction profile, or 422: an unknown profile,
    a rule on a signal the profile forbids, or a forbidden analysis asked for explicitly. A
    forbidden analysis left at its default is switched off: the profile, not a checkbox,
    decides (the vision pipeline never computes what is off)."""
    if not jurisdictions.known(body.jurisdiction):
        raise Invalid(f"unknown jurisdiction {body.jurisdiction!r}; one of: {jurisdictions.ids_text()}")
    profile = jurisdictions.profile(body.jurisdiction)
    signals = [rule.signal for dim in body.dimensions for rule in dim.rules]
    forbidden = jurisdictions.forbidden_rule_signals(profile, signals)
    if forbidden:
        raise Invalid(f"the {profile.name} profile forbids rules on {', '.join(forbidden)} (affect or emotion "
                      f"signals are never computed for its jobs); remove those rules or choose another profile")
    switches = {"expression": body.analyze_expression, "eye_contact": body.analyze_eye_contact,
                "posture": body.analyze_posture}
    for name in sorted(profile.forbidden_analyses):
        if switches[name] and f"analyze_{name}" in body.model_fields_set:
            raise Invalid(f"the {profile.name} profile forbids {name.replace('_', ' ')} analysis: "
                          f"analyze_{name} must be false (or left out)")
        switches[name] = False
    return switches


def visible_jobs_query(who: Principal) -> Any:
    query = select(Job)
    if not who.is_admin:
        granted = select(JobAccess.job_id).where(JobAccess.user_id == who.id)
        query = query.where(or_(Job.created_by == who.id, col(Job.id).in_(granted)))
    return query


def list_jobs(db: Session, who: Principal) -> list[Job]:
    query: SelectOfScalar[Job] = visible_jobs_query(who)
    return list(db.exec(query.order_by(col(Job.id).desc())))


def can_see_job(db: Session, who: Principal, job: Job) -> bool:
    if who.is_admin or job.created_by == who.id:
        return True
    return db.get(JobAccess, (job.id, who.id)) is not None


def get_job(db: Session, who: Principal, job_id: int) -> Job:
    """The job, or 404 when it does not exist or this user may not see it (no existence leak)."""
    job = db.get(Job, job_id)
    if job is None or not can_see_job(db, who, job):
        raise NotFound(f"job {job_id} not found")
    return job


def dimensions_of(db: Session, job_id: int, include_retired: bool = False) -> list[Dimension]:
    """The job's dimensions in the newest version (with `include_retired`, also those an edit
    retired, which older interviews were scored on)."""
    query = select(Dimension).where(Dimension.job_id == job_id)
    if not include_retired:
        query = query.where(Dimension.retired == False)  # noqa: E712
    return list(db.exec(query.order_by(col(Dimension.position))))


def rules_of(db: Session, dimension_ids: list[int]) -> dict[int, list[ScoringRule]]:
    out: dict[int, list[ScoringRule]] = {d: [] for d in dimension_ids}
    if dimension_ids:
        query = (
            select(ScoringRule)
            .where(col(ScoringRule.dimension_id).in_(dimension_ids))
            .order_by(col(ScoringRule.position))
        )
        for rule in db.exec(query):
            out[rule.dimension_id].append(rule)
    return out


def job_detail(db: Session, job: Job) -> dict[str, Any]:
    dims = dimensions_of(db, stored_id(job))
    rules = rules_of(db, [stored_id(d) for d in dims])
    return {
        "id": job.id,
        "title": job.title,
        "language": job.language,
        "created_by": job.created_by,
        "created_at": job.created_at,
        "jurisdiction": job.jurisdiction,
        "analyze_expression": job.analyze_expression,
        "analyze_eye_contact": job.analyze_eye_contact,
        "analyze_posture": job.analyze_posture,
        "version": job.version,
        "archived_at": job.archived_at,
        "family": job.family,
        "dimensions": [
            {
                "id": d.id,
                "name": d.name,
                "description": d.description,
                "keywords": d.keywords,
                "weight": d.weight,
                "rules": [
                    {"signal": r.signal, "op": r.op, "value": r.value, "points": r.points, "scope": r.scope}
                    for r in rules[stored_id(d)]
                ],
            }
            for d in dims
        ],
    }


def grant_access(db: Session, who: Principal, job: Job, email: str) -> User:
    if not who.is_admin and job.created_by != who.id:
        raise NotFound(f"job {job.id} not found")
    user = db.exec(select(User).where(User.email == email)).first()
    if user is None:
        raise NotFound(f"no HR user with email {email}")
    if db.get(JobAccess, (job.id, user.id)) is None and user.id != job.created_by:
        db.add(JobAccess(job_id=stored_id(job), user_id=stored_id(user), granted_by=who.id))
        audit.record(db, "hr", who.id, "job.grant", "job", job.id, user_id=user.id)
    return user
