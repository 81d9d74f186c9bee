"""Interview templates: ordered questions, each linked to 1-3 of the job's dimensions.

A question is one of three kinds: `structured` (asked as written), `situational` (its scenario
text is shown to the candidate before the question) or `follow_up` (asked only when the answer to
the question right before it mentioned none of the keywords of the follow-up's own dimensions;
otherwise it is skipped by rule: server/follow_ups.py). A follow-up therefore needs a question
before it that is always asked or answered: it cannot come first or right after another
follow-up."""
from __future__ import annotations

from typing import Any, Sequence

from sqlmodel import Session, col, select

from server import audit
from server.auth import Principal
from server.errors import Conflict, Invalid, NotFound
from server.jobs import dimensions_of, get_job, visible_jobs_query
from server.schemas import QuestionIn, TemplateIn
from server.store import stored_id
from server.tables import Job, Question, QuestionDimension, Template, TemplateVersion


def create_template(db: Session, who: Principal, body: TemplateIn) -> Template:
    job = get_job(db, who, body.job_id)
    if job.archived_at is not None:
        raise Conflict(f"job {job.id} is archived: restore it (POST /api/jobs/{job.id}/restore) to add templates")
    job_dims = {d.id: d for d in dimensions_of(db, stored_id(job))}
    check_kinds(body.questions)
    for qi, question in enumerate(body.questions):
        seen: set[int] = set()
        for link in question.dimensions:
            if link.dimension_id not in job_dims:
                # The same answer whether the id exists elsewhere or not: another job's
                # dimensions are not this user's to discover.
                raise NotFound(f"questions.{qi}: dimension {link.dimension_id} not found in this job")
            if link.dimension_id in seen:
                raise Invalid(f"questions.{qi}: dimension {link.dimension_id} is linked twice")
            seen.add(link.dimension_id)
    template = Template(job_id=stored_id(job), name=body.name, created_by=who.id)
    db.add(template)
    db.flush()
    for position, q_in in enumerate(body.questions):
        row = Question(
            template_id=stored_id(template),
            position=position,
            text=q_in.text,
            time_limit_s=q_in.time_limit_s,
            kind=q_in.kind,
            scenario=q_in.scenario,
        )
        db.add(row)
        db.flush()
        add_links(db, row, q_in.dimensions)
    db.flush()
    save_template_version(db, template, who.id)
    audit.record(db, "hr", who.id, "template.create", "template", template.id, job_id=job.id,
                 version=template.version)
    return template


def check_kinds(questions: Sequence[QuestionIn]) -> None:
    """A follow-up follows the answer right before it: 422 when there is none to follow."""
    for n, q in enumerate(questions):
        if q.kind != "follow_up":
            continue
        if n == 0:
            raise Invalid(f"questions.{n}: a follow-up cannot be the first question (it follows the answer "
                          f"before it)")
        if questions[n - 1].kind == "follow_up":
            raise Invalid(f"questions.{n}: a follow-up cannot follow another follow-up (that one may be "
                          f"skipped, leaving no answer to follow)")


def add_links(db: Session, question: Question, links: Any) -> None:
    for link in links:
        db.add(QuestionDimension(question_id=stored_id(question), dimension_id=link.dimension_id,
                                 weight=link.weight))


def template_snapshot(db: Session, template: Template) -> dict[str, Any]:
    """The template as its newest version holds it (what a TemplateVersion row keeps)."""
    return {
        "name": template.name,
        "job_id": template.job_id,
        "questions": [
            {"id": q.id, "index": q.position, "text": q.text, "time_limit_s": int(q.time_limit_s),
             "kind": q.kind, "scenario": q.scenario,
             "dimensions": [{"dimension_id": link.dimension_id, "weight": float(link.weight)}
                            for link in links]}
            for q, links in questions_of(db, stored_id(template))
        ],
    }


def save_template_version(db: Session, template: Template, user_id: int | None,
                          note: str = "") -> TemplateVersion:
    """Keep the template's live rows as version `template.version` (creation and each edit)."""
    row = TemplateVersion(template_id=stored_id(template), version=template.version,
                          data=template_snapshot(db, template), note=note,
                          created_by=user_id if user_id is not None else template.created_by)
    db.add(row)
    db.flush()
    return row


def get_template(db: Session, who: Principal, template_id: int) -> tuple[Template, Job]:
    template = db.get(Template, template_id)
    if template is None:
        raise NotFound(f"template {template_id} not found")
    try:
        job = get_job(db, who, template.job_id)
    except NotFound:
        raise NotFound(f"template {template_id} not found") from None
    return template, job


def questions_of(db: Session, template_id: int) -> list[tuple[Question, list[QuestionDimension]]]:
    """The newest version's questions (an edit retires the ones it removed) with their links."""
    questions = list(
        db.exec(
            select(Question).where(Question.template_id == template_id, Question.retired == False)  # noqa: E712
            .order_by(col(Question.position))
        )
    )
    ids = [stored_id(q) for q in questions]
    links: dict[int, list[QuestionDimension]] = {i: [] for i in ids}
    if ids:
        for link in db.exec(
            select(QuestionDimension).where(col(QuestionDimension.question_id).in_(ids))
        ):
            links[link.question_id].append(link)
    return [(q, links[stored_id(q)]) for q in questions]


def template_detail(db: Session, template: Template) -> dict[str, Any]:
    names = {d.id: d.name for d in dimensions_of(db, template.job_id, include_retired=True)}
    return {
        "id": template.id,
        "job_id": template.job_id,
        "name": template.name,
        "created_at": template.created_at,
        "version": template.version,
        "archived_at": template.archived_at,
        "questions": [
            {
                "id": q.id,
                "index": q.position,
                "text": q.text,
                "time_limit_s": q.time_limit_s,
                "kind": q.kind,
                "scenario": q.scenario,
                # A follow-up follows the question right before it.
                "follows": q.position - 1 if q.kind == "follow_up" else None,
                "dimensions": [
                    {"dimension_id": link.dimension_id, "name": names.get(link.dimension_id), "weight": link.weight}
                    for link in links
                ],
            }
            for q, links in questions_of(db, stored_id(template))
        ],
    }


def list_templates(db: Session, who: Principal, job_id: int | None = None) -> list[Template]:
    visible = visible_jobs_query(who).with_only_columns(Job.id)
    query = select(Template).where(col(Template.job_id).in_(visible))
    if job_id is not None:
        query = query.where(Template.job_id == job_id)
    return list(db.exec(query.order_by(col(Template.id).desc())))
